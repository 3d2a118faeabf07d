"""``GET|POST /api/negotiate``: decide who a browser is and what its token may do, then issue it.

Reads top-down: parse (:class:`NegotiateRequest`, no I/O) → establish the user
(:mod:`shared.identity`) → decide the grant (:mod:`shared.identity.user` for the user id,
:mod:`shared.grants` for groups and roles) → issue the client access URL (:mod:`shared.tokens`
with the access key, or the service's ``:generateToken`` with an identity) → answer.

The policy comes only from app settings. Who the user is comes, in this order, from a verified
bearer token (``NegotiateJwtIssuer``), from App Service Authentication's headers (believed only
with ``NegotiateTrustAppServiceAuth``), or from ``?userId=`` (only with
``NegotiateAllowClientUserId``). Groups to join at connect (``?group=``) are granted only when
``NegotiateAllowedGroups`` or the user's groups claim allows them; anything refused is a 403
naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import settings as names
from shared.errors import BadRequest, Forbidden, InvalidBearerToken
from shared.identity.app_service import app_service_user
from shared.identity.bearer import bearer_token, verify_bearer
from shared.identity.user import SignedInUser, decide_user_id
from shared.invocation import Incoming
from shared.query import Query
from shared.responses import Answer, json_response
from shared.service import generate_client_access
from shared.settings import Settings
from shared.tokens import CLIENT_PATHS, ClientAccess, mint_client_access
from shared.validation import validate_group, validate_identifier


@dataclass(frozen=True)
class NegotiateRequest:
    """What the caller sent, checked for form only; who it is is decided by :func:`establish_user`."""

    hub: str
    requested_user_id: str | None
    groups: tuple[str, ...]
    protocol: str
    bearer: str | None = field(default=None, repr=False)
    app_service_user: SignedInUser | None = None


@dataclass(frozen=True)
class Grant:
    """What the client token will carry."""

    user_id: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    not_after: datetime | None  # the sign-in's own expiry


def parse_negotiate_request(query: Query, headers: Mapping[str, str], hub: str, settings: Settings) -> NegotiateRequest:
    requested = query.single("userId")
    sign_in = settings.sign_in
    return NegotiateRequest(
        hub=hub,
        requested_user_id=validate_identifier(requested, "user id") if requested is not None else None,
        groups=tuple(dict.fromkeys(validate_group(group) for group in query.many("group"))),
        protocol=_protocol(query),
        bearer=bearer_token(headers) if sign_in.bearer is not None else None,
        app_service_user=app_service_user(headers, sign_in.groups_claim) if sign_in.trust_app_service_auth else None,
    )


async def establish_user(request: NegotiateRequest, settings: Settings) -> SignedInUser | None:
    """The signed-in user: bearer token first, then the App Service principal; None if neither."""
    sign_in = settings.sign_in
    if request.bearer is not None and sign_in.bearer is not None:
        return await verify_bearer(request.bearer, sign_in.bearer, sign_in.groups_claim)
    return request.app_service_user


def decide_grant(request: NegotiateRequest, signed_in: SignedInUser | None, settings: Settings) -> Grant:
    user_id = decide_user_id(request.requested_user_id, signed_in, settings.sign_in)
    claimed = signed_in.groups if signed_in is not None else ()
    for group in request.groups:
        if not settings.grants.group_allowed(group, user_id, claimed):
            raise Forbidden(f"Joining group '{group}' is not allowed; see the {names.ALLOWED_GROUPS} setting.")
    roles = settings.grants.roles_for(user_id)
    return Grant(user_id, roles, request.groups, signed_in.expires_at if signed_in else None)


def _protocol(query: Query) -> str:
    protocol = (query.single("protocol") or "default").lower()
    if protocol not in CLIENT_PATHS:
        raise BadRequest("protocol must be 'default' or 'mqtt'.")
    return protocol


async def issue_client_access(request: NegotiateRequest, grant: Grant, settings: Settings) -> ClientAccess:
    """Mint locally with the access key; with an identity, ask the service to sign."""
    options: dict[str, Any] = {
        "user_id": grant.user_id,
        "roles": grant.roles,
        "groups": grant.groups,
        "protocol": request.protocol,
    }
    service = settings.service
    if service.connection is not None:
        return mint_client_access(
            service.endpoint,
            request.hub,
            service.connection.access_key,
            minutes=settings.token_minutes,
            not_after=grant.not_after,
            **options,
        )
    minutes = _whole_minutes(settings.token_minutes, grant.not_after)
    return await generate_client_access(service, request.hub, minutes=minutes, **options)


def _whole_minutes(minutes: int, not_after: datetime | None) -> int:
    """``:generateToken`` counts whole minutes; a sign-in with less than one left must be renewed."""
    if not_after is None:
        return minutes
    left = int((not_after - datetime.now(tz=UTC)).total_seconds() // 60)
    if left < 1:
        raise InvalidBearerToken("The bearer token expires within a minute; sign in again.")
    return min(minutes, left)


async def handle_negotiate(incoming: Incoming) -> Answer:
    settings = incoming.settings
    request = parse_negotiate_request(incoming.query, incoming.req.headers, incoming.hub, settings)
    signed_in = await establish_user(request, settings)
    grant = decide_grant(request, signed_in, settings)
    access = await issue_client_access(request, grant, settings)
    return Answer(json_response(access.to_json()))
