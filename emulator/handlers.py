"""The 2024-12-01 data-plane operations, one handler per route, over the in-memory model.

Status codes follow the service: sends 202, adds and grants 200, removes and closes 204,
existence checks 200/404. Handlers raise :class:`~emulator.errors.RestError` (or the model's
:class:`~emulator.model.TooManyGroups`); :mod:`emulator.errors` writes them.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devtools import http_guard
from emulator.errors import RestError, invalid, not_found
from emulator.messages import DATA_TYPES, Message
from emulator.model import CLOSE_NORMAL, Connection, Hub
from emulator.odata import FilterError, compile_filter
from emulator.permissions import PERMISSIONS
from emulator.routing import Call, Router
from emulator.tokens import issue_client_token
from emulator.validation import (
    API_VERSIONS,
    CONTENT_TYPES,
    MAX_BODY_BYTES,
    MAX_TTL_SECONDS,
    is_whole_number,
    media_type,
    parse_json,
    valid_group,
)

DEFAULT_PAGE_SIZE = 200
MAX_TOP = 2**31 - 1
GROUP_NAME_RULE = "A group name has 1 to 1024 characters and is not only white space."

router = Router()
route = router.route


# -- shared request pieces --------------------------------------------------------------------


async def read_message(call: Call, group: str | None = None) -> Message:
    expires_at = message_expiry(call)
    content_type = media_type(call.request.headers.get("Content-Type"))
    if content_type not in CONTENT_TYPES:
        raise RestError(415, "Error.UnsupportedMediaType", f"Content-Type must be one of {', '.join(CONTENT_TYPES)}.")
    body = await read_body(call.request)
    if content_type == "application/json":
        read_json(body, "message")  # subscribers get the bytes as sent, so they must be valid JSON
    return Message(body, DATA_TYPES[content_type], group=group, expires_at=expires_at)


def read_json(body: bytes, parameter: str) -> Any:
    """Strict JSON (:func:`~emulator.validation.parse_json`); 400 naming ``parameter`` otherwise."""
    try:
        return parse_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise invalid(parameter, "The body is not valid JSON.") from None


async def read_body(request: web.Request) -> bytes:
    """The whole body: 413 past ``MAX_BODY_BYTES``, 408 when it trickles in too slowly.

    A single ``content.read(n)`` would return only what had arrived so far (bodies over about
    64 KiB were cut short); :func:`devtools.http_guard.read_body` reads to the end.
    """
    try:
        return await http_guard.read_body(request, MAX_BODY_BYTES)
    except http_guard.BodyTooLarge:
        raise RestError(413, "Error.PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.") from None
    except http_guard.BodyTooSlow:
        raise RestError(408, "Error.RequestTimeout", "The body arrived too slowly.") from None


def message_expiry(call: Call) -> float | None:
    """When the message expires (``time.monotonic``), from ``messageTtlSeconds``; 0 or none: never."""
    raw = call.query("messageTtlSeconds")
    if raw is None:
        return None
    if not is_whole_number(raw) or int(raw) > MAX_TTL_SECONDS:
        raise invalid("messageTtlSeconds", f"messageTtlSeconds must be an integer from 0 to {MAX_TTL_SECONDS}.")
    return time.monotonic() + int(raw) if int(raw) else None


def select(call: Call, candidates: Iterable[Connection], *, allow_excluded: bool = True) -> list[Connection]:
    """Apply ``excluded`` and the OData ``filter`` to the candidate connections."""
    excluded = set(call.query_all("excluded")) if allow_excluded else set()
    return apply_filter([c for c in candidates if c.id not in excluded], call.query("filter"))


def apply_filter(connections: list[Connection], text: str | None, target: str = "filter") -> list[Connection]:
    """The connections an OData filter selects (all of them without one); 400 for a bad filter,
    in the service's words, pointing at ``target``."""
    if not text:
        return connections
    try:
        predicate = compile_filter(text)
    except FilterError as error:
        raise invalid("filter", f"Invalid syntax for '{text}': {error}.", target=target) from None
    return [c for c in connections if predicate(c.filter_context())]


def group_value(call: Call) -> str:
    group = call.values["group"]
    if not valid_group(group):
        raise invalid("group", GROUP_NAME_RULE)
    return group


def status(code: int) -> web.Response:
    return web.Response(status=code)


def exists(found: bool) -> web.Response:
    return web.Response(status=200 if found else 404)


def close_all(hub: Hub, connections: list[Connection], reason: str | None) -> None:
    reason = reason or "Closed by the server."
    for connection in connections:
        connection.reconnection_token = None
        connection.request_close(CLOSE_NORMAL, reason)
        hub.remove(connection, reason)  # also a reliable connection waiting for recovery: it ends now


def known_connection(call: Call) -> Connection:
    connection = call.hub.connections.get(call.values["connection"])
    if connection is None:
        raise not_found("The connection does not exist.")
    return connection


def int_query(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.query(name)
    if raw is None:
        return default
    if not is_whole_number(raw) or not low <= int(raw) <= high:
        raise invalid(name, f"{name} must be an integer from {low} to {high}.")
    return int(raw)


# -- sends ------------------------------------------------------------------------------------


@route("POST", "hubs/{hub}/:send")
async def send_to_all(call: Call) -> web.Response:
    message = await read_message(call)
    call.hub.publish(message, select(call, call.hub.connections.values()))
    return status(202)


@route("POST", "hubs/{hub}/groups/{group}/:send")
async def send_to_group(call: Call) -> web.Response:
    group = group_value(call)
    message = await read_message(call, group)
    call.hub.publish(message, select(call, call.hub.group_members(group)))
    return status(202)


@route("POST", "hubs/{hub}/users/{user}/:send")
async def send_to_user(call: Call) -> web.Response:
    message = await read_message(call)
    call.hub.publish(message, select(call, call.hub.user_connections(call.values["user"]), allow_excluded=False))
    return status(202)


@route("POST", "hubs/{hub}/connections/{connection}/:send")
async def send_to_connection(call: Call) -> web.Response:
    message = await read_message(call)
    connection = call.hub.connections.get(call.values["connection"])
    call.hub.publish(message, [connection] if connection else [])
    return status(202)


# -- connections, users and groups ------------------------------------------------------------


@route("POST", "hubs/{hub}/:closeConnections")
async def close_hub_connections(call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.connections.values()), call.query("reason"))
    return status(204)


@route("POST", "hubs/{hub}/groups/{group}/:closeConnections")
async def close_group_connections(call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.group_members(group_value(call))), call.query("reason"))
    return status(204)


@route("POST", "hubs/{hub}/users/{user}/:closeConnections")
async def close_user_connections(call: Call) -> web.Response:
    close_all(call.hub, select(call, call.hub.user_connections(call.values["user"])), call.query("reason"))
    return status(204)


@route("DELETE", "hubs/{hub}/connections/{connection}")
async def close_connection(call: Call) -> web.Response:
    connection = call.hub.connections.get(call.values["connection"])
    close_all(call.hub, [connection] if connection else [], call.query("reason"))
    return status(204)


@route("HEAD", "hubs/{hub}/connections/{connection}")
async def connection_exists(call: Call) -> web.Response:
    return exists(call.values["connection"] in call.hub.connections)


@route("HEAD", "hubs/{hub}/users/{user}")
async def user_exists(call: Call) -> web.Response:
    return exists(call.values["user"] in call.hub.users)


@route("HEAD", "hubs/{hub}/groups/{group}")
async def group_exists(call: Call) -> web.Response:
    return exists(group_value(call) in call.hub.groups)


@route("PUT", "hubs/{hub}/groups/{group}/connections/{connection}")
async def add_connection_to_group(call: Call) -> web.Response:
    group = group_value(call)
    call.hub.join(known_connection(call), group)
    return status(200)


@route("DELETE", "hubs/{hub}/groups/{group}/connections/{connection}")
async def remove_connection_from_group(call: Call) -> web.Response:
    group = group_value(call)
    connection = call.hub.connections.get(call.values["connection"])
    if connection is not None:
        call.hub.leave(connection, group)
    return status(204)


@route("DELETE", "hubs/{hub}/connections/{connection}/groups")
async def remove_connection_from_all_groups(call: Call) -> web.Response:
    connection = call.hub.connections.get(call.values["connection"])
    if connection is not None:
        for group in list(connection.groups):
            call.hub.leave(connection, group)
    return status(204)


@route("PUT", "hubs/{hub}/users/{user}/groups/{group}")
async def add_user_to_group(call: Call) -> web.Response:
    group = group_value(call)
    connections = list(call.hub.user_connections(call.values["user"]))
    if not connections:
        raise not_found("The user has no connections.")
    for connection in connections:
        call.hub.join(connection, group)
    return status(200)


@route("DELETE", "hubs/{hub}/users/{user}/groups/{group}")
async def remove_user_from_group(call: Call) -> web.Response:
    group = group_value(call)
    for connection in list(call.hub.user_connections(call.values["user"])):
        call.hub.leave(connection, group)
    return status(204)


@route("DELETE", "hubs/{hub}/users/{user}/groups")
async def remove_user_from_all_groups(call: Call) -> web.Response:
    for connection in list(call.hub.user_connections(call.values["user"])):
        for group in list(connection.groups):
            call.hub.leave(connection, group)
    return status(204)


@route("GET", "hubs/{hub}/groups/{group}/connections")
async def list_group_connections(call: Call) -> web.Response:
    """Pages in connection-id order; the cursor names the last id served, so members that join
    or leave between pages never make a page skip or repeat anyone else."""
    group = group_value(call)
    page_size = int_query(call, "maxpagesize", DEFAULT_PAGE_SIZE, 1, DEFAULT_PAGE_SIZE)
    after, left = "", int_query(call, "top", MAX_TOP, 1, MAX_TOP)
    if call.query("continuationToken") is not None:
        after, left = _read_cursor(call.query("continuationToken") or "")
    members = sorted((c for c in call.hub.group_members(group) if c.id > after), key=lambda c: c.id)
    page = members[: min(page_size, left)]
    body: dict[str, Any] = {"value": [{"connectionId": c.id, "userId": c.user_id} for c in page]}
    if len(members) > len(page) and left > len(page):
        cursor = _write_cursor(page[-1].id, left - len(page))
        path = f"/api/hubs/{quote(call.hub.name, safe='')}/groups/{quote(group, safe='')}/connections"
        query = f"api-version={API_VERSIONS[-1]}&maxpagesize={page_size}&continuationToken={cursor}"
        body["nextLink"] = f"{call.origin}{path}?{query}"
    return web.json_response(body)


def _write_cursor(after: str, left: int) -> str:
    raw = json.dumps({"after": after, "left": left}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _read_cursor(token: str) -> tuple[str, int]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, left = value["after"], value["left"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise invalid("continuationToken", "continuationToken is not one this emulator issued.") from None
    if not isinstance(after, str) or not isinstance(left, int) or isinstance(left, bool) or not 1 <= left <= MAX_TOP:
        raise invalid("continuationToken", "continuationToken is not one this emulator issued.")
    return after, left


@route("POST", "hubs/{hub}/:addToGroups")
async def add_connections_to_groups(call: Call) -> web.Response:
    return await _change_groups(call, call.hub.join)


@route("POST", "hubs/{hub}/:removeFromGroups")
async def remove_connections_from_groups(call: Call) -> web.Response:
    return await _change_groups(call, call.hub.leave)


async def _change_groups(call: Call, change: Callable[[Connection, str], bool]) -> web.Response:
    groups, connections = await _groups_and_filter(call)
    for connection in connections:
        for group in groups:
            change(connection, group)
    return status(200)


async def _groups_and_filter(call: Call) -> tuple[list[str], list[Connection]]:
    """The body ``{"groups": [...], "filter": "..."}``: a non-empty list of valid names, an
    optional string filter and nothing else, as the service's schema says."""
    if media_type(call.request.headers.get("Content-Type")) != "application/json":
        raise RestError(415, "Error.UnsupportedMediaType", "Content-Type must be application/json.")
    body = read_json(await read_body(call.request), "body")
    if not isinstance(body, dict) or set(body) - {"groups", "filter"}:
        raise invalid("body", "The body is an object with 'groups' and an optional 'filter', nothing else.")
    groups = body.get("groups")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, str) and valid_group(g) for g in groups):
        raise invalid("groups", "groups must be a non-empty list of valid group names.", target="Groups")
    odata = body.get("filter")
    if odata is not None and not isinstance(odata, str):
        raise invalid("filter", "filter must be a string.", target="Filter")
    return groups, apply_filter(list(call.hub.connections.values()), odata, target="Filter")


# -- permissions and tokens -------------------------------------------------------------------


@route("PUT", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def grant_permission(call: Call) -> web.Response:
    permission, target = _permission(call)
    known_connection(call).granted.add((permission, target))
    return status(200)


@route("DELETE", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def revoke_permission(call: Call) -> web.Response:
    permission, target = _permission(call)
    connection = call.hub.connections.get(call.values["connection"])
    if connection is not None:
        connection.granted.discard((permission, target))
    return status(204)


@route("HEAD", "hubs/{hub}/permissions/{permission}/connections/{connection}")
async def check_permission(call: Call) -> web.Response:
    permission, target = _permission(call)
    connection = call.hub.connections.get(call.values["connection"])
    return exists(connection is not None and connection.may(permission, target))


@route("POST", "hubs/{hub}/:generateToken")
async def generate_token(call: Call) -> web.Response:
    minutes = int_query(call, "minutesToExpire", 60, 1, MAX_TOP)
    client_type = (call.query("clientType") or "Default").lower()
    if client_type not in ("default", "mqtt"):
        raise invalid("clientType", "clientType must be Default or MQTT.")
    groups = call.query_all("group")
    if not all(valid_group(g) for g in groups):
        raise invalid("group", GROUP_NAME_RULE)
    token = issue_client_token(
        call.access_key,
        call.origin,
        call.hub.name,
        user_id=call.query("userId"),
        roles=call.query_all("role"),
        groups=groups,
        minutes=minutes,
        client_type=client_type,
    )
    return web.json_response({"token": token})


def _permission(call: Call) -> tuple[str, str | None]:
    permission = call.values["permission"]
    if permission not in PERMISSIONS:
        raise invalid("permission", f"permission must be one of {', '.join(PERMISSIONS)}.")
    target = call.query("targetName")
    if target is not None and not valid_group(target):
        raise invalid("targetName", "targetName must be a valid group name.")
    return permission, target
