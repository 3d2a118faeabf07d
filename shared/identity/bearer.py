"""Sign-in with a bearer token from the app's own identity provider: read, verify, remember.

A bearer token is read only from ``Authorization: Bearer`` (a token in a URL ends up in logs and
browser history) and is believed only after full verification: the signature against the
issuer's key chosen by ``kid``, an allowed asymmetric ``alg`` that fits that key's type (so an
HS256 token "signed" with the public RSA key fails), ``iss``, ``aud``, a required ``exp``,
``nbf``, with :data:`LEEWAY_SECONDS` of clock skew. Failures raise
:class:`InvalidBearerToken` saying what failed and never quoting the token.

User ids and group names taken from claims obey the same rules as those from the query
(:mod:`shared.validation`): no control characters, no lone surrogates, no ``/`` (403).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared import settings as names
from shared.errors import BadRequest, Forbidden, InvalidBearerToken, UnaddressableName
from shared.identity.jwks import KEY_SET_MAX_AGE_SECONDS, KeySource, issuer_keys
from shared.identity.user import UNREADABLE_JSON, SignedInUser, claimed_groups
from shared.settings import BearerSettings
from shared.validation import validate_identifier

LEEWAY_SECONDS = 60
REMEMBERED_TOKENS = 4096
REMEMBER_SECONDS = KEY_SET_MAX_AGE_SECONDS
LATEST_EXPIRY = 253402300799  # 9999-12-31T23:59:59Z: an exp beyond what datetime holds is capped here
MAX_TOKEN_LENGTH = 16 * 1024
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # compact JWS: base64url parts
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}  # by the algorithm's first two letters


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>``; other schemes are not ours to judge."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise InvalidBearerToken("The bearer token is empty.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidBearerToken(f"The bearer token is longer than {MAX_TOKEN_LENGTH} characters.")
    if not JWT_SHAPE.fullmatch(token):  # also keeps odd characters away from the JWT library
        raise InvalidBearerToken("The bearer token is not a well-formed JWT.")
    return token


async def verify_bearer(token: str, bearer: BearerSettings, groups_claim: str | None) -> SignedInUser:
    """Verify the token against the issuer's keys (cached) and read the user and groups from it.

    A browser presents the same token on every reconnect for as long as it lives, so a verified
    token is remembered (by its SHA-256, with the settings it was verified under) until its ``exp``,
    at most :data:`REMEMBER_SECONDS` (as long as the keys themselves are cached): a repeat skips
    the signature check, which is most of the cost. Only successes are remembered.
    """
    remembered_as = (hashlib.sha256(token.encode()).digest(), bearer, groups_claim)
    user = _verified.recall(remembered_as)
    if user is None:
        user = await _verify(token, bearer, groups_claim)
        _verified.remember(remembered_as, user)
    return user


async def _verify(token: str, bearer: BearerSettings, groups_claim: str | None) -> SignedInUser:
    header = _unverified_header(token)
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in bearer.algorithms:
        raise InvalidBearerToken(f"The bearer token's algorithm is not accepted; see {names.JWT_ALGORITHMS}.")
    if kid is not None and not isinstance(kid, str):
        raise InvalidBearerToken("The bearer token's key id (kid) is not a string.")
    key = await issuer_keys(KeySource(bearer.issuer, bearer.jwks_url)).signing_key(kid)
    if key is None:
        raise InvalidBearerToken("No signing key of the issuer matches the bearer token's key id (kid).")
    if KEY_TYPES.get(algorithm[:2]) != key.key_type:
        raise InvalidBearerToken("The bearer token's algorithm does not fit the issuer's key.")
    claims, expires = _decode(token, key.key, algorithm, bearer)
    return SignedInUser(
        user_id=_user_id(claims.get(bearer.user_id_claim), bearer.user_id_claim),
        groups=claimed_groups(claims.get(groups_claim) if groups_claim else None, InvalidBearerToken, groups_claim),
        expires_at=datetime.fromtimestamp(min(expires, LATEST_EXPIRY), tz=UTC),
    )


class VerifiedTokens:
    """A bounded map of verified tokens to their users, each until its expiry; thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[SignedInUser, float]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: Hashable) -> SignedInUser | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.time():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def remember(self, key: Hashable, user: SignedInUser) -> None:
        until = time.time() + REMEMBER_SECONDS
        if user.expires_at is not None:
            until = min(until, user.expires_at.timestamp())
        with self._lock:
            self._entries[key] = (user, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_verified = VerifiedTokens(REMEMBERED_TOKENS)


def _unverified_header(token: str) -> dict[str, Any]:
    """The header, read only to pick the key and algorithm; ``jwt.decode`` checks it all again.

    Not ``jwt.get_unverified_header``: PyJWT's base64url check walks every character of the
    token in Python, and doing that twice per token cost about a third of negotiate's time.
    :func:`bearer_token` has already checked the alphabet with one regular expression.
    """
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except UNREADABLE_JSON:
        header = None
    if not isinstance(header, dict):
        raise InvalidBearerToken("The bearer token is not a well-formed JWT.")
    return header


def _decode(token: str, key: Any, algorithm: str, bearer: BearerSettings) -> tuple[dict[str, Any], int]:
    """The verified claims and ``exp`` as a number (PyJWT accepts any value ``int()`` takes)."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=list(bearer.audiences),
            issuer=bearer.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidBearerToken(_reason(error)) from None
    expires = int(claims["exp"])
    if expires <= time.time():  # the leeway is for clocks; a token already past exp buys no time
        raise InvalidBearerToken("The bearer token has expired.")
    return claims, expires


def _reason(error: Exception) -> str:
    import jwt

    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, "The bearer token has expired."),
        (jwt.ImmatureSignatureError, "The bearer token is not valid yet (nbf or iat is in the future)."),
        (jwt.InvalidAudienceError, f"The bearer token is for another audience; see {names.JWT_AUDIENCE}."),
        (jwt.InvalidIssuerError, f"The bearer token is from another issuer; see {names.JWT_ISSUER}."),
        (jwt.exceptions.InvalidSubjectError, "The bearer token's 'sub' claim is not a string."),
        (jwt.InvalidSignatureError, "The bearer token's signature does not verify."),
        (jwt.InvalidAlgorithmError, f"The bearer token's algorithm is not accepted; see {names.JWT_ALGORITHMS}."),
        (jwt.DecodeError, "The bearer token is not a well-formed JWT."),
    ]
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The bearer token has no '{error.claim}' claim."
    return next((text for kind, text in reasons if isinstance(error, kind)), "The bearer token is invalid.")


def _user_id(value: Any, claim: str) -> str:
    try:
        if isinstance(value, str):
            return validate_identifier(value, "user id")
    except UnaddressableName as error:
        raise Forbidden(f"The bearer token's '{claim}' claim: {error.message}") from None
    except BadRequest:
        pass
    raise InvalidBearerToken(f"The bearer token's '{claim}' claim is not a usable user id; see {names.USER_ID_CLAIM}.")
