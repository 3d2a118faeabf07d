"""Negotiate: decide who a browser is and what its token may do, then issue it.

The policy comes only from app settings. A caller can ask for a user id (``?userId=``) or
groups to join at connect (``?group=``); each request is granted only when a setting allows it,
and refused with 403 naming that setting otherwise. App Service Authentication headers are
believed only with ``NegotiateTrustAppServiceAuth``, because without that platform feature
anyone can send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared import settings as names
from shared.errors import BadRequest, Forbidden, Unauthorized
from shared.invocation import InvocationRecord
from shared.query import Query
from shared.responses import json_response
from shared.service import generate_client_access
from shared.settings import Settings, load_settings
from shared.tokens import CLIENT_PATHS, ClientAccess, mint_client_access
from shared.validation import validate_group, validate_identifier

PRINCIPAL_HEADERS = ("x-ms-client-principal-id", "x-ms-client-principal-name")


@dataclass(frozen=True)
class NegotiateRequest:
    hub: str
    user_id: str | None
    groups: tuple[str, ...]
    protocol: str


def parse_negotiate_request(query: Query, headers: Mapping[str, str], settings: Settings) -> NegotiateRequest:
    return NegotiateRequest(
        hub=settings.resolve_hub(query.single("hub")),
        user_id=_user_id(query, headers, settings),
        groups=_groups(query, settings),
        protocol=_protocol(query),
    )


def _user_id(query: Query, headers: Mapping[str, str], settings: Settings) -> str | None:
    requested = query.single("userId")
    if requested is not None:
        validate_identifier(requested, "user id")
        if not settings.allow_client_user_id:
            raise Forbidden(f"Choosing a userId is not allowed; see the {names.ALLOW_CLIENT_USER_ID} setting.")
    principal = _principal(headers) if settings.trust_app_service_auth else None
    if principal is not None and requested is not None and requested != principal:
        raise Forbidden("userId must match the signed-in user.")
    user_id = principal or requested
    if user_id is None and settings.require_user:
        raise Unauthorized(f"Sign-in is required; see the {names.REQUIRE_USER} setting.")
    return user_id


def _principal(headers: Mapping[str, str]) -> str | None:
    for header in PRINCIPAL_HEADERS:
        value = (headers.get(header) or "").strip()
        if value:
            return validate_identifier(value, "signed-in user id")
    return None


def _groups(query: Query, settings: Settings) -> tuple[str, ...]:
    groups = tuple(dict.fromkeys(validate_group(group) for group in query.many("group")))
    for group in groups:
        if not settings.group_allowed(group):
            raise Forbidden(f"Joining group '{group}' is not allowed; see the {names.ALLOWED_GROUPS} setting.")
    return groups


def _protocol(query: Query) -> str:
    protocol = (query.single("protocol") or "default").lower()
    if protocol not in CLIENT_PATHS:
        raise BadRequest("protocol must be 'default' or 'mqtt'.")
    return protocol


async def issue_client_access(request: NegotiateRequest, settings: Settings) -> ClientAccess:
    """Mint locally with the access key; with an identity, ask the service to sign."""
    options: dict[str, Any] = {
        "user_id": request.user_id,
        "roles": settings.roles,
        "groups": request.groups,
        "minutes": settings.token_minutes,
        "protocol": request.protocol,
    }
    service = settings.service
    if service.connection is not None:
        return mint_client_access(service.endpoint, request.hub, service.connection.access_key, **options)
    return await generate_client_access(service, request.hub, **options)


async def handle_negotiate(req: func.HttpRequest, record: InvocationRecord) -> func.HttpResponse:
    settings = load_settings()
    request = parse_negotiate_request(Query.from_url(req.url), req.headers, settings)
    record.hub = request.hub
    access = await issue_client_access(request, settings)
    return json_response(access.to_json())
