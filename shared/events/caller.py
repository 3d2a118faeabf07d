"""Only the Web PubSub service gets in: the ``events`` function's own check of every ``POST``.

The function is ``authLevel: anonymous`` (the service cannot send a function key in a header, and
a key in the URL template would be the only lock), so each request must prove it comes from the
service in one of the two ways the service offers:

* key-based: ``ce-signature`` lists ``sha256=<hex HMAC-SHA256(access key, ce-connectionId)>``,
  one entry per key of the resource (comma separated); an entry must match the connection
  string's key or ``EventsSecondaryAccessKey`` (the other key, during a rotation). Compared with
  :func:`hmac.compare_digest`, so timing says nothing of the key.
* identity-based: ``Authorization: Bearer`` with an Entra token that the hub's event handler
  ``auth`` (``ManagedIdentity``) obtains: signature by the issuer's keys (JWKS, cached, as
  negotiate's sign-in), issuer, audience ``EventsIdentityAudience``, expiry, and ``oid`` equal to
  ``EventsIdentityObjectId`` (the Web PubSub resource's identity, not any app of the tenant).

Anything else is :class:`Unauthorized` (401) before the body is read: nothing is done or queued.
The reason goes to the log and the answer, and never quotes a key, token or signature.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence

from shared.errors import Forbidden, InvalidBearerToken, Unauthorized
from shared.events.settings import ServiceIdentity
from shared.identity.bearer import bearer_token, verify_bearer
from shared.settings import BearerSettings

logger = logging.getLogger("shared.events")

MAX_SIGNATURE_ENTRIES = 8  # the service sends one per key: two
IDENTITY_ALGORITHMS = ("RS256",)  # what Entra ID signs access tokens with
OBJECT_ID_CLAIM = "oid"


def signature_entries(connection_id: str, keys: Sequence[str]) -> list[str]:
    """``sha256=<hex>`` for each key: what the service sends, and what a test signs with."""
    data = connection_id.encode("utf-8")
    return ["sha256=" + hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest() for key in keys]


def signature_matches(signature: str, connection_id: str, keys: Sequence[str]) -> bool:
    """Whether an entry of ``signature`` is the HMAC of ``connection_id`` with one of ``keys``.

    Header bytes that are not UTF-8 reach Python as lone surrogates: such a connection id was
    never signed by the service, and such an entry is no hex digest (neither is an error here).
    """
    try:
        expected = [wanted.encode() for wanted in signature_entries(connection_id, keys)]
    except UnicodeEncodeError:
        return False
    entries = [entry.strip().encode("utf-8", "replace") for entry in signature.split(",")][:MAX_SIGNATURE_ENTRIES]
    # Every pair is compared, so the time taken does not depend on which one matched.
    return any([hmac.compare_digest(entry, wanted) for entry in entries for wanted in expected])


async def authenticate(headers: Mapping[str, str], keys: Sequence[str], identity: ServiceIdentity | None) -> str:
    """How the caller proved it is the service (``key`` or ``identity``), or :class:`Unauthorized`."""
    signature = headers.get("ce-signature")
    connection_id = headers.get("ce-connectionid")
    if signature and connection_id and keys and signature_matches(signature, connection_id, keys):
        return "key"  # enough on its own, and cheaper than a token: checked first
    try:
        token = bearer_token(headers)
    except InvalidBearerToken as error:
        raise _refused(error.message) from None
    if token is not None and identity is not None:
        await _verify_identity(token, identity)
        return "identity"
    if token is not None:
        raise _refused(f"a bearer token was sent, but no service identity is set (see {_IDENTITY_SETTINGS}).")
    if signature:
        raise _refused("ce-signature does not match ce-connectionId with the access key.")
    raise _refused("neither ce-signature nor an Authorization bearer token was sent.")


_IDENTITY_SETTINGS = "EventsIdentityIssuer, EventsIdentityAudience, EventsIdentityObjectId"


async def _verify_identity(token: str, identity: ServiceIdentity) -> None:
    bearer = BearerSettings(
        issuer=identity.issuer,
        audiences=(identity.audience,),
        jwks_url=identity.jwks_url,
        algorithms=IDENTITY_ALGORITHMS,
        user_id_claim=OBJECT_ID_CLAIM,
    )
    try:
        caller = await verify_bearer(token, bearer, None)
    except InvalidBearerToken as error:
        raise _refused(_without_setting_hint(error.message)) from None
    except Forbidden:  # an oid no user id could be (a '/' in it): not the service's either
        raise _refused("the bearer token's 'oid' claim is not usable.") from None
    if not hmac.compare_digest(caller.user_id.encode(), identity.object_id.encode()):
        raise _refused("the bearer token was issued to another identity than the Web PubSub resource's.")


def _without_setting_hint(message: str) -> str:
    """Bearer messages point at negotiate's settings; here the settings are the events ones."""
    text = message.split("; see ")[0].rstrip(".") + "."
    return text[0].lower() + text[1:]


def _refused(reason: str) -> Unauthorized:
    logger.warning("events: refused a request not proven to come from Web PubSub: %s", reason)
    return Unauthorized(f"Only the Web PubSub service may call this function: {reason}")
