"""The data-plane REST API (api-version 2024-12-01) over aiohttp.

Routes are matched on the raw path, segment by segment, so that ``%2F`` inside a group or
user id stays the literal text ``%2F`` as on the service (it is not a path separator there).
Status codes follow the service: sends 202, adds and grants 200, removes and closes 204,
existence checks 200/404. Errors are ``{"code", "message"}`` with ``x-ms-error-code``; an
authentication failure is an empty 401.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import jwt
from aiohttp import web

from emulator.auth import TokenRejected, verify_rest_token
from emulator.messages import DATA_TYPES, Message
from emulator.model import CLOSE_NORMAL, PERMISSIONS, Connection, Hub, Service
from emulator.odata import FilterError, compile_filter
from emulator.tokens import issue_client_token
from emulator.validation import (
    API_VERSIONS,
    CONTENT_TYPES,
    MAX_BODY_BYTES,
    MAX_TTL_SECONDS,
    is_whole_number,
    valid_group,
    valid_hub,
)

ENTRA_AUDIENCE = "https://webpubsub.azure.com"
DEFAULT_PAGE_SIZE = 200


class RestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> RestError:
    return RestError(400, "Error.BadRequest", message)


@dataclass
class Call:
    """One matched REST request: the hub, named path values and the aiohttp request."""

    request: web.Request
    hub: Hub
    values: dict[str, str]

    def query_all(self, name: str) -> list[str]:
        return self.request.query.getall(name, [])

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)


Handler = Callable[["RestApi", Call], Awaitable[web.StreamResponse]]
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, tuple(pattern.split("/")), handler))
        return handler

    return register


def _decode_segment(segment: str) -> str:
    """Percent-decode a path segment, keeping an encoded ``/`` as the literal ``%2F``."""
    placeholder = "\x00"
    return unquote(segment.replace("%2F", placeholder).replace("%2f", placeholder)).replace(placeholder, "%2F")


def _match(segments: list[str]) -> tuple[list[tuple[str, Handler]], dict[str, str]] | None:
    found: list[tuple[str, Handler]] = []
    values: dict[str, str] = {}
    for method, pattern, handler in ROUTES:
        if len(pattern) != len(segments):
            continue
        candidate: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{"):
                candidate[expected[1:-1]] = _decode_segment(actual)
            elif expected.lower() != actual.lower():
                break
        else:
            found.append((method, handler))
            values = candidate
    return (found, values) if found else None


class RestApi:
    def __init__(self, service: Service, access_key: str, *, allow_unvalidated_entra_tokens: bool = False) -> None:
        self.service = service
        self.access_key = access_key
        self.allow_unvalidated_entra_tokens = allow_unvalidated_entra_tokens

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except RestError as error:
            return error_response(error)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        segments = request.raw_path.split("?", 1)[0].split("/")[2:]  # after "/api/"
        matched = _match(segments)
        if matched is None:
            raise RestError(404, "Error.NotFound", "No such API.")
        handlers, values = matched
        handler = next((h for method, h in handlers if method == request.method), None)
        if handler is None:
            raise RestError(405, "Error.MethodNotAllowed", f"{request.method} is not allowed here.")
        version = request.query.get("api-version")
        if version is not None and version not in API_VERSIONS:
            raise bad_request(f"api-version must be one of {', '.join(API_VERSIONS)}.")
        if not self._authenticated(request):
            return web.Response(status=401)
        hub = values.pop("hub")
        if not valid_hub(hub):
            raise bad_request("Invalid hub name.")
        return await handler(self, Call(request, self.service.hub(hub), values))

    def _authenticated(self, request: web.Request) -> bool:
        authorization = request.headers.get("Authorization")
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        try:
            verify_rest_token(authorization, self.access_key, url)
            return True
        except TokenRejected:
            return self.allow_unvalidated_entra_tokens and _unvalidated_entra_token(authorization)


def _unvalidated_entra_token(authorization: str | None) -> bool:
    """Development only: accept any unexpired Entra token for Web PubSub, unverified."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False, "verify_exp": True, "require": ["exp"]})
    except jwt.PyJWTError:
        return False
    return str(claims.get("aud", "")).rstrip("/").lower() == ENTRA_AUDIENCE


def error_response(error: RestError) -> web.Response:
    return web.json_response(
        {"code": error.code, "message": error.message},
        status=error.status,
        headers={"x-ms-error-code": error.code},
    )


# -- shared request pieces --------------------------------------------------------------------


async def read_message(call: Call, group: str | None = None) -> Message:
    content_type = (call.request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise RestError(415, "Error.UnsupportedMediaType", f"Content-Type must be one of {', '.join(CONTENT_TYPES)}.")
    body = await read_body(call.request)
    if content_type == "application/json":
        try:
            json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise bad_request("The body is not valid JSON.") from None
    return Message(body, DATA_TYPES[content_type], group=group)


async def read_body(request: web.Request) -> bytes:
    """The whole body, or 413 past ``MAX_BODY_BYTES``.

    ``request.read()`` waits for the end of the body; a single ``content.read(n)`` returns only
    what has arrived so far, which cut bodies over about 64 KiB short. The app's
    ``client_max_size`` (the same limit) stops a chunked body that never ends.
    """
    too_large = RestError(413, "Error.PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def check_ttl(call: Call) -> None:
    raw = call.query("messageTtlSeconds")
    if raw is not None and (not is_whole_number(raw) or int(raw) > MAX_TTL_SECONDS):
        raise bad_request(f"messageTtlSeconds must be an integer from 0 to {MAX_TTL_SECONDS}.")


def select(call: Call, candidates: Any, *, allow_excluded: bool = True) -> list[Connection]:
    """Apply ``excluded`` and the OData ``filter`` to the candidate connections."""
    excluded = set(call.query_all("excluded")) if allow_excluded else set()
    return apply_filter([c for c in candidates if c.id not in excluded], call.query("filter"))


def apply_filter(connections: list[Connection], text: str | None) -> list[Connection]:
    """The connections an OData filter selects (all of them without one); 400 for a bad filter."""
    if not text:
        return connections
    try:
        predicate = compile_filter(text)
    except FilterError as error:
        raise bad_request(f"Invalid filter: {error}") from None
    return [c for c in connections if predicate(c.filter_context())]


def group_value(call: Call) -> str:
    group = call.values["group"]
    if not valid_group(group):
        raise bad_request("A group name has 1 to 1024 characters and is not only white space.")
    return group


def accepted() -> web.Response:
    return web.Response(status=202)


def no_content() -> web.Response:
    return web.Response(status=204)


def ok() -> web.Response:
    return web.Response(status=200)


def exists(found: bool) -> web.Response:
    return web.Response(status=200 if found else 404)


def close_all(hub: Hub, connections: list[Connection], reason: str | None) -> None:
    for connection in connections:
        connection.reconnection_token = None
        connection.request_close(CLOSE_NORMAL, reason or "Closed by the server.")
        hub.remove(connection)


# -- sends ------------------------------------------------------------------------------------


@route("POST", "hubs/{hub}/:send")
async def send_to_all(api: RestApi, call: Call) -> web.Response:
    check_ttl(call)
    message = await read_message(call)
    call.hub.publish(message, select(call, call.hub.connections.values()))
    return accepted()


@route("POST", "hubs/{hub}/groups/{group}/:send")
async def send_to_group(api: RestApi, call: Call) -> web.Response:
    check_ttl(call)
    group = group_value(call)
    message = await read_message(call, group)
    call.hub.publish(message, select(call, call.hub.group_members(group)))
    return accepted()


@route("POST", "hubs/{hub}/users/{user}/:send")
async def send_to_user(api: RestApi, call: Call) -> web.Response:
    check_ttl(call)
    message = await read_message(call)
    call.hub.publish(message, select(call, call.hub.user_connections(call.values["user"]), allow_excluded=False))
    return accepted()


@route("POST", "hubs/{hub}/connections/{connection}/:send")
async def send_to_connection(api: RestApi, call: Call) -> web.Response:
    check_ttl(call)
    message = await read_message(call)
    connection = call.hub.connections.get(call.values["connection"])
    call.hub.publish(message, [connection] if connection else [])
    return accepted()


# -- connections, users and groups ------------------------------------------------------------


@route("POST", "hubs/{hub}/:closeConnections")
async def close_hub_connections(api: RestApi, call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.connections.values()), call.query("reason"))
    return no_content()


@route("POST", "hubs/{hub}/groups/{group}/:closeConnections")
async def close_group_connections(api: RestApi, call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.group_members(group_value(call))), call.query("reason"))
    return no_content()


@route("POST", "hubs/{hub}/users/{user}/:closeConnections")
async def close_user_connections(api: RestApi, call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.user_connections(call.values["user"])), call.query("reason"))
    return no_content()


@route("DELETE", "hubs/{hub}/connections/{connection}")
async def close_connection(api: RestApi, call: Call) -> web.Response:
    connection = call.hub.connections.get(call.values["connection"])
    close_all(call.hub, [connection] if connection else [], call.query("reason"))
    return no_content()


@route("HEAD", "hubs/{hub}/connections/{connection}")
async def connection_exists(api: RestApi, call: Call) -> web.Response:
    return exists(call.values["connection"] in call.hub.connections)


@route("HEAD", "hubs/{hub}/users/{user}")
async def user_exists(api: RestApi, call: Call) -> web.Response:
    return exists(call.values["user"] in call.hub.users)


@route("HEAD", "hubs/{hub}/groups/{group}")
async def group_exists(api: RestApi, call: Call) -> web.Response:
    return exists(group_value(call) in call.hub.groups)


@route("PUT", "hubs/{hub}/groups/{group}/connections/{connection}")
async def add_connection_to_group(api: RestApi, call: Call) -> web.Response:
    group = group_value(call)
    connection = _known_connection(call)
    call.hub.join(connection, group)
    return ok()


@route("DELETE", "hubs/{hub}/groups/{group}/connections/{connection}")
async def remove_connection_from_group(api: RestApi, call: Call) -> web.Response:
    group = group_value(call)
    connection = call.hub.connections.get(call.values["connection"])
    if connection is not None:
        call.hub.leave(connection, group)
    return no_content()


@route("DELETE", "hubs/{hub}/connections/{connection}/groups")
async def remove_connection_from_all_groups(api: RestApi, call: Call) -> web.Response:
    connection = call.hub.connections.get(call.values["connection"])
    for group in list(connection.groups if connection else ()):
        call.hub.leave(connection, group)  # type: ignore[arg-type]
    return no_content()


@route("PUT", "hubs/{hub}/users/{user}/groups/{group}")
async def add_user_to_group(api: RestApi, call: Call) -> web.Response:
    group = group_value(call)
    connections = list(call.hub.user_connections(call.values["user"]))
    if not connections:
        raise RestError(404, "Error.NotFound", "The user has no connections.")
    for connection in connections:
        call.hub.join(connection, group)
    return ok()


@route("DELETE", "hubs/{hub}/users/{user}/groups/{group}")
async def remove_user_from_group(api: RestApi, call: Call) -> web.Response:
    group = group_value(call)
    for connection in list(call.hub.user_connections(call.values["user"])):
        call.hub.leave(connection, group)
    return no_content()


@route("DELETE", "hubs/{hub}/users/{user}/groups")
async def remove_user_from_all_groups(api: RestApi, call: Call) -> web.Response:
    for connection in list(call.hub.user_connections(call.values["user"])):
        for group in list(connection.groups):
            call.hub.leave(connection, group)
    return no_content()


@route("GET", "hubs/{hub}/groups/{group}/connections")
async def list_group_connections(api: RestApi, call: Call) -> web.Response:
    group = group_value(call)
    page_size = _int_query(call, "maxpagesize", DEFAULT_PAGE_SIZE, 1, DEFAULT_PAGE_SIZE)
    top = _int_query(call, "top", 2**31 - 1, 1, 2**31 - 1)
    start = _int_query(call, "continuationToken", 0, 0, 2**31 - 1)
    members = list(call.hub.group_members(group))[:top]
    page = members[start : start + page_size]
    body: dict[str, Any] = {"value": [{"connectionId": c.id, "userId": c.user_id} for c in page]}
    if start + page_size < len(members):
        query = (
            f"api-version={API_VERSIONS[-1]}&maxpagesize={page_size}&top={top}&continuationToken={start + page_size}"
        )
        body["nextLink"] = (
            f"/api/hubs/{quote(call.hub.name, safe='')}/groups/{quote(group, safe='')}/connections?{query}"
        )
    return web.json_response(body)


@route("POST", "hubs/{hub}/:addToGroups")
async def add_connections_to_groups(api: RestApi, call: Call) -> web.Response:
    return await _change_groups(call, call.hub.join)


@route("POST", "hubs/{hub}/:removeFromGroups")
async def remove_connections_from_groups(api: RestApi, call: Call) -> web.Response:
    return await _change_groups(call, call.hub.leave)


async def _change_groups(call: Call, change: Callable[[Connection, str], None]) -> web.Response:
    groups, connections = await _groups_and_filter(call)
    for connection in connections:
        for group in groups:
            change(connection, group)
    return ok()


# -- permissions and tokens -------------------------------------------------------------------


@route("PUT", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def grant_permission(api: RestApi, call: Call) -> web.Response:
    permission, target = _permission(call)
    _known_connection(call).granted.add((permission, target))
    return ok()


@route("DELETE", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def revoke_permission(api: RestApi, call: Call) -> web.Response:
    permission, target = _permission(call)
    connection = call.hub.connections.get(call.values["connection"])
    if connection is not None:
        connection.granted.discard((permission, target))
    return no_content()


@route("HEAD", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def check_permission(api: RestApi, call: Call) -> web.Response:
    permission, target = _permission(call)
    connection = call.hub.connections.get(call.values["connection"])
    if connection is None:
        return exists(False)
    if target is None:
        return exists((permission, None) in connection.granted or f"webpubsub.{permission}" in connection.roles)
    return exists(connection.may(permission, target))


@route("POST", "hubs/{hub}/:generateToken")
async def generate_token(api: RestApi, call: Call) -> web.Response:
    minutes = _int_query(call, "minutesToExpire", 60, 1, 2**31 - 1)
    client_type = (call.query("clientType") or "Default").lower()
    if client_type not in ("default", "mqtt"):
        raise bad_request("clientType must be Default or MQTT.")
    groups = call.query_all("group")
    if not all(valid_group(g) for g in groups):
        raise bad_request("A group name has 1 to 1024 characters and is not only white space.")
    token = issue_client_token(
        api.access_key,
        f"{call.request.scheme}://{call.request.host}",
        call.hub.name,
        user_id=call.query("userId"),
        roles=call.query_all("role"),
        groups=groups,
        minutes=minutes,
        client_type=client_type,
    )
    return web.json_response({"token": token})


# -- helpers ----------------------------------------------------------------------------------


def _known_connection(call: Call) -> Connection:
    connection = call.hub.connections.get(call.values["connection"])
    if connection is None:
        raise RestError(404, "Error.NotFound", "The connection does not exist.")
    return connection


def _permission(call: Call) -> tuple[str, str | None]:
    permission = call.values["permission"]
    if permission not in PERMISSIONS:
        raise bad_request(f"permission must be one of {', '.join(PERMISSIONS)}.")
    target = call.query("targetName")
    if target is not None and not valid_group(target):
        raise bad_request("targetName must be a valid group name.")
    return permission, target


def _int_query(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.query(name)
    if raw is None:
        return default
    if not is_whole_number(raw) or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}.")
    return int(raw)


async def _groups_and_filter(call: Call) -> tuple[list[str], list[Connection]]:
    try:
        body = json.loads((await read_body(call.request)).decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("The body is not valid JSON.") from None
    groups = body.get("groups") if isinstance(body, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, str) and valid_group(g) for g in groups):
        raise bad_request("groups must be a list of valid group names.")
    odata = body.get("filter")
    return groups, apply_filter(list(call.hub.connections.values()), str(odata) if odata else None)
