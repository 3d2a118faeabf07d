"""The Web PubSub service client: one per hub per event loop, with bounded retries and time.

The async client of ``azure-messaging-webpubsubservice`` keeps an aiohttp session, so it
is built once and reused across invocations: a publish reuses pooled connections instead of
opening a new TCP connection. The Azure Python worker runs every ``async def`` function on
one event loop; clients are still keyed by loop, so that a second loop (tests, tools) never
touches a session bound to another.

Every call ends within :data:`CALL_DEADLINE_SECONDS`: an unreachable service becomes
:class:`UpstreamUnavailable` (503 with ``Retry-After``) instead of a hanging request.
The SDK is imported lazily, which keeps cold starts of the function modules short.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.actions.call import Action, Read, encode_query
from shared.errors import BadRequest, NotFound, UpstreamRejected, UpstreamUnavailable
from shared.per_loop import PerLoop
from shared.settings import ServiceAccess
from shared.tokens import ClientAccess, access_from_service_token

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

logger = logging.getLogger("shared.service")

API_VERSION = "2024-12-01"  # the REST API our actions and the emulator follow
CALL_DEADLINE_SECONDS = 5.0
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 2,
    "read_timeout": 4,
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 1,
}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")

_clients: PerLoop[Any] = PerLoop()  # the hubs' clients and the one credential they share


def service_client(access: ServiceAccess, hub: str) -> WebPubSubServiceClient:
    """The cached client for this hub on the running event loop."""
    client: WebPubSubServiceClient = _clients.get(_cache_key(access, hub), lambda: _build_client(access, hub))
    return client


def _cache_key(access: ServiceAccess, hub: str) -> tuple[str, ...]:
    # The key is held in memory only, as the client itself holds it.
    secret = access.connection.access_key if access.connection else ""
    return (access.endpoint, secret, hub.lower())


def _build_client(access: ServiceAccess, hub: str) -> WebPubSubServiceClient:
    from azure.core.credentials import AzureKeyCredential
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    credential: Any
    if access.connection is not None:
        credential = AzureKeyCredential(access.connection.access_key)
    else:
        credential = _shared_credential()
    return WebPubSubServiceClient(access.endpoint, hub, credential, api_version=API_VERSION, **client_options())


def client_options() -> dict[str, Any]:
    """Timeouts and retries, and whether to read proxy settings from the environment.

    When aiohttp may trust the environment it looks the proxy up in a worker thread on every
    request, which doubles the CPU cost of a publish; so it does only when a proxy is set.
    """
    return {**CLIENT_OPTIONS, "use_env_settings": any(os.environ.get(name) for name in PROXY_VARIABLES)}


def _shared_credential() -> AsyncTokenCredential:
    """``DefaultAzureCredential``: the managed identity on Azure, a developer's login locally."""
    from azure.identity.aio import DefaultAzureCredential

    credential: AsyncTokenCredential = _clients.get(("credential",), DefaultAzureCredential)
    return credential


def _call_options(access: ServiceAccess) -> dict[str, Any]:
    """Bearer tokens go only over https, except to a local emulator on http://."""
    if access.connection is None and access.endpoint.startswith("http://"):
        return {"enforce_https": False}
    return {}


async def close_clients() -> None:
    """Close the clients of the running loop (used on shutdown and between test loops)."""
    await _clients.close_all()


async def perform(access: ServiceAccess, hub: str, action: Action) -> Any:
    """Run one action; return ``None`` for a change, a bool for an exists check, or a list.

    Bodies go as they are, with their content type (the SDK's ``send_to_*`` re-encode JSON).
    """
    from azure.core.rest import HttpRequest

    client = service_client(access, hub)
    if action.read is Read.CONNECTIONS:
        return await _within_deadline(_list_connections(client, action, access))
    query = encode_query((("api-version", API_VERSION), *action.query))
    headers = {"Content-Type": action.content_type} if action.content_type else {}
    path = f"/api/hubs/{quote(hub, safe='')}/{action.path}?{query}"
    request = HttpRequest(action.method, path, headers=headers, content=action.body)
    response = await _within_deadline(client.send_request(request, **_call_options(access)))
    if action.read is Read.EXISTS and response.status_code in (200, 404):
        return response.status_code == 200
    _raise_for_upstream_status(response.status_code, response.headers)
    return None


async def _list_connections(client: WebPubSubServiceClient, action: Action, access: ServiceAccess) -> list[Any]:
    """Every page the service offers (its ``nextLink``s), up to ``top`` connections."""
    pages = client.list_connections(group=action.group or "", top=action.top, **_call_options(access))
    return [{"connectionId": member.connection_id, "userId": member.user_id} async for member in pages]


async def generate_client_access(
    access: ServiceAccess,
    hub: str,
    *,
    user_id: str | None,
    roles: Sequence[str],
    groups: Sequence[str],
    minutes: int,
    protocol: str,
) -> ClientAccess:
    """Ask the service (``:generateToken``) for a client token, for identity-based access."""
    client = service_client(access, hub)
    result = await _within_deadline(
        client.get_client_access_token(
            user_id=user_id,
            roles=list(roles),
            groups=list(groups),
            minutes_to_expire=minutes,
            client_protocol="MQTT" if protocol == "mqtt" else "Default",
            **_call_options(access),
        )
    )
    return access_from_service_token(access.endpoint, hub, result["token"], protocol)


async def _within_deadline(call: Any) -> Any:
    """Run one SDK call; map transport failures and HTTP errors to typed app errors."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        async with asyncio.timeout(CALL_DEADLINE_SECONDS):
            return await call
    except (TimeoutError, ServiceRequestError, ServiceResponseError) as error:
        logger.warning("Web PubSub unreachable: %s", type(error).__name__)
        raise UpstreamUnavailable("Web PubSub could not be reached; try again shortly.") from None
    except HttpResponseError as error:  # ClientAuthenticationError included
        response: Any = error.response  # azure-core types it without its headers
        if response is not None:
            _raise_for_upstream_status(response.status_code, response.headers)
        if isinstance(error, ClientAuthenticationError):
            logger.warning("No Entra ID token for Web PubSub: %s", type(error).__name__)
            raise UpstreamRejected("No credential for Web PubSub could be obtained (check the identity).") from None
        raise UpstreamRejected("Web PubSub rejected the call.") from None


_UNAVAILABLE_STATUSES = {429, 502, 503, 504}


def _raise_for_upstream_status(status: int, headers: Any) -> None:
    if 200 <= status < 300:
        return
    request_id = headers.get("x-ms-request-id") or headers.get("x-request-id")
    logger.warning("Web PubSub answered %s (request id %s)", status, request_id or "-")
    if status == 400:  # the caller's input (e.g. an OData filter) that only the service checks
        raise BadRequest("Web PubSub refused the request as invalid; check the filter and names.")
    if status == 404:  # e.g. adding a connection that is not connected to a group
        raise NotFound("Web PubSub found no such connection, user or group.")
    if status in _UNAVAILABLE_STATUSES:
        raise UpstreamUnavailable(f"Web PubSub is unavailable (status {status}); try again shortly.")
    reason = "the credentials were refused" if status in (401, 403) else f"status {status}"
    raise UpstreamRejected(f"Web PubSub rejected the call: {reason}.", upstream_status=status, request_id=request_id)
