"""Web PubSub's CloudEvents (HTTP binding, binary mode) read into frozen dataclasses. No I/O.

The service posts each event with its attributes in ``ce-*`` headers and its data as the body
(Microsoft's ``reference-cloud-events``; ``@azure/web-pubsub-express`` 1.1.0 reads the same).
:func:`parse_event` checks everything before anything is done, and raises :class:`BadRequest`
naming what is wrong:

* required: ``ce-specversion`` (``1.0``), ``ce-type``, ``ce-source``, ``ce-id``, ``ce-hub``,
  ``ce-connectionId``; ``ce-eventName`` for system and user events;
* every ``ce-*`` value is at most :data:`MAX_ATTRIBUTE_CHARS` characters of valid text (no control
  characters; bytes that are not UTF-8 reach Python as lone surrogates and are refused);
* a repeated header reaches a function joined with ``,`` (the Functions host joins repeats), so
  attributes that never hold a comma refuse one, and the others must agree with each other:
  ``ce-source`` is ``/hubs/<ce-hub>/client/<ce-connectionId>``, and a user event's ``ce-type`` is
  ``azure.webpubsub.user.<ce-eventName>``;
* the body fits the event: a JSON object for system and group events (strict JSON), and for a
  user event its content type's data (``text/plain`` UTF-8, ``application/json`` strict JSON, or
  ``application/octet-stream``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared.errors import BadRequest
from shared.strict_json import parse_json_body
from shared.validation import NOT_TEXT, check_utf8, parse_content_type, validate_group, validate_hub, validate_text

SPEC_VERSION = "1.0"
TYPE_PREFIX = "azure.webpubsub."
SYSTEM_PREFIX = "azure.webpubsub.sys."
USER_PREFIX = "azure.webpubsub.user."
GROUP_JOINED = "azure.webpubsub.gp.joined"
GROUP_LEFT = "azure.webpubsub.gp.left"
SYSTEM_EVENTS = ("connect", "connected", "disconnected")
# The service's own values are far shorter; the state this app writes is under 300 characters.
MAX_ATTRIBUTE_CHARS = 4096
# What the service sends a user event's data as; ``application/x-protobuf`` is a protobuf client's
# ``google.protobuf.Any`` (its bytes, serialized), kept as ``protobuf``.
DATA_TYPES = {
    "text/plain": "text",
    "application/json": "json",
    "application/octet-stream": "binary",
    "application/x-protobuf": "protobuf",
}
NO_COMMA = ("ce-specversion", "ce-type", "ce-id", "ce-connectionid", "ce-time", "ce-subprotocol", "ce-eventname")
SPELLED = {
    name.lower(): name for name in ("ce-connectionId", "ce-eventName", "ce-userId", "ce-connectionState")
}  # how the service spells the attributes the messages name


@dataclass(frozen=True)
class ConnectionContext:
    """What every event says about its connection."""

    hub: str
    connection_id: str
    event_id: str
    user_id: str | None = None
    subprotocol: str | None = None
    state: str | None = None  # ce-connectionState as received, checked by shared.events.state
    time: str | None = None


@dataclass(frozen=True)
class ConnectEvent:
    """``connect`` (blocking): the client's claims, query, headers and offered subprotocols."""

    context: ConnectionContext
    claims: Mapping[str, tuple[str, ...]]
    query: Mapping[str, tuple[str, ...]]
    headers: Mapping[str, tuple[str, ...]]
    subprotocols: tuple[str, ...]


@dataclass(frozen=True)
class ConnectedEvent:
    context: ConnectionContext


@dataclass(frozen=True)
class DisconnectedEvent:
    context: ConnectionContext
    reason: str | None = None


@dataclass(frozen=True)
class GroupEvent:
    """A group presence event: the connection ``joined`` or ``left`` ``group``."""

    context: ConnectionContext
    group: str
    joined: bool


@dataclass(frozen=True)
class UserEvent:
    """A client's event: its name, ``text``/``json``/``binary``/``protobuf`` and the data byte for byte."""

    context: ConnectionContext
    name: str
    data_type: str
    data: bytes


Event = ConnectEvent | ConnectedEvent | DisconnectedEvent | GroupEvent | UserEvent


def attribute(headers: Mapping[str, str], name: str, *, required: bool = True) -> str | None:
    """One ``ce-*`` header as valid text, or None when absent and not required."""
    value = headers.get(name)
    name = SPELLED.get(name, name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"The {name} header is required.")
        return None
    if len(value) > MAX_ATTRIBUTE_CHARS:
        raise BadRequest(f"The {name} header is longer than {MAX_ATTRIBUTE_CHARS} characters.")
    if NOT_TEXT.search(value):
        raise BadRequest(f"The {name} header holds control characters or bytes that are not UTF-8.")
    if name.lower() in NO_COMMA and "," in value:
        raise BadRequest(f"The {name} header is repeated.")
    return value


def parse_event(headers: Mapping[str, str], body: bytes) -> Event:
    """The event the request carries, every attribute and the body checked (see the module)."""
    if attribute(headers, "ce-specversion") != SPEC_VERSION:
        raise BadRequest(f"ce-specversion must be {SPEC_VERSION}.")
    event_type = attribute(headers, "ce-type") or ""
    context = _context(headers)
    if event_type in (GROUP_JOINED, GROUP_LEFT):
        group = _json_object(body, "group event").get("group")
        if not isinstance(group, str):
            raise BadRequest('A group event\'s body must be {"group": "<name>"}.')
        return GroupEvent(context, validate_group(group), event_type == GROUP_JOINED)
    name = attribute(headers, "ce-eventname") or ""
    if event_type.startswith(USER_PREFIX):
        if event_type[len(USER_PREFIX) :] != name:
            raise BadRequest("ce-type and ce-eventName name different events.")
        return _user_event(context, name, headers.get("content-type"), body)
    if event_type.startswith(SYSTEM_PREFIX) and event_type[len(SYSTEM_PREFIX) :] in SYSTEM_EVENTS:
        if event_type[len(SYSTEM_PREFIX) :] != name:
            raise BadRequest("ce-type and ce-eventName name different events.")
        return _system_event(context, name, body)
    raise BadRequest("ce-type is not a Web PubSub event this function handles.")


def _context(headers: Mapping[str, str]) -> ConnectionContext:
    hub = validate_hub(attribute(headers, "ce-hub") or "")
    connection_id = validate_text(attribute(headers, "ce-connectionid") or "", "ce-connectionId")
    if (attribute(headers, "ce-source") or "").lower() != f"/hubs/{hub}/client/{connection_id}".lower():
        raise BadRequest("ce-source does not name the hub and connection of ce-hub and ce-connectionId.")
    user_id = attribute(headers, "ce-userid", required=False)
    return ConnectionContext(
        hub=hub,
        connection_id=connection_id,
        event_id=attribute(headers, "ce-id") or "",
        user_id=validate_text(user_id, "ce-userId") if user_id is not None else None,
        subprotocol=attribute(headers, "ce-subprotocol", required=False),
        state=attribute(headers, "ce-connectionstate", required=False),
        time=attribute(headers, "ce-time", required=False),
    )


def _system_event(context: ConnectionContext, name: str, body: bytes) -> Event:
    if name == "connected":
        _json_object(body, name, empty_ok=True)
        return ConnectedEvent(context)
    if name == "disconnected":
        reason = _json_object(body, name, empty_ok=True).get("reason")
        if reason is not None and not isinstance(reason, str):
            raise BadRequest("A disconnected event's reason must be a string.")
        return DisconnectedEvent(context, reason or None)
    data = _json_object(body, name)
    subprotocols = data.get("subprotocols") or []
    if not isinstance(subprotocols, list) or not all(isinstance(item, str) for item in subprotocols):
        raise BadRequest("A connect event's subprotocols must be a list of strings.")
    return ConnectEvent(
        context,
        claims=_multi(data, "claims"),
        query=_multi(data, "query"),
        headers=_multi(data, "headers"),
        subprotocols=tuple(subprotocols),
    )


def _user_event(context: ConnectionContext, name: str, content_type: str | None, body: bytes) -> UserEvent:
    media_type = parse_content_type(content_type, accepted=tuple(DATA_TYPES))  # 415: a type the service does not send
    if media_type == "text/plain":
        check_utf8(body)
    elif media_type == "application/json":
        parse_json_body(body)
    return UserEvent(context, name, DATA_TYPES[media_type], body)


def _json_object(body: bytes, what: str, *, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not body.strip():
        return {}
    value = parse_json_body(body)
    if not isinstance(value, dict):
        raise BadRequest(f"A {what} event's body must be a JSON object.")
    return value


def _multi(data: dict[str, Any], name: str) -> dict[str, tuple[str, ...]]:
    """``{"name": ["value", ...]}``; a lone string counts as a list of one (older services)."""
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise BadRequest(f"A connect event's {name} must be an object.")
    result: dict[str, tuple[str, ...]] = {}
    for key, items in value.items():
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise BadRequest(f"A connect event's {name} must map names to lists of strings.")
        result[key] = tuple(items)
    return result


def request_headers(req: func.HttpRequest) -> dict[str, str]:
    """The headers by lower-case name (the Functions host hands them on already joined)."""
    return {name.lower(): value for name, value in req.headers.items()}
