"""The action vocabulary of ``POST /api/actions``: JSON items checked field by field into actions.

The names and fields are those of the Functions ``webPubSub`` output binding (``sendToAll``,
``addUserToGroup``, ``grantPermission``, ...) plus the service operations the binding leaves
out (``closeUserConnections``, the exists checks, ``listConnectionsInGroup``, ...). A wrong
field raises :class:`InvalidField` naming it; a field an action does not take is refused.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.actions.call import MAX_URL_CHARACTERS, Action, Read, encode_query, segment, send_action
from shared.errors import AppError
from shared.strict_json import parse_json
from shared.validation import (
    MAX_MESSAGE_BYTES,
    MAX_TTL_SECONDS,
    check_message_size,
    validate_group,
    validate_identifier,
    validate_text,
)

PERMISSIONS = ("sendToGroup", "joinLeaveGroup")
DATA_TYPES = {"text": "text/plain", "json": "application/json", "binary": "application/octet-stream"}
MAX_FILTER_LENGTH = 4096
MAX_LIST_ITEMS = 1000
PATH_FIELDS = ("group", "userId", "connectionId", "targetName")  # the fields that go into the URL's path
# Every field any action takes. A field outside it is named as unknown before the action's own
# fields are read, so that ``user`` for ``userId`` is reported as ``user``, not as a missing userId.
FIELD_NAMES = frozenset(
    {"actionName", "data", "dataType", "ttl", "filter", "excluded", "reason", "permission", "top", "groups"}
    | set(PATH_FIELDS)
)
SHOWN_CHARACTERS = 64  # of a caller's unknown name, in an error message (JSON-escaped)
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidField(Exception):
    """A field of one action is missing or wrong; ``field`` names it for the caller."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# -- reading one item of a request ----------------------------------------------------------------


class Fields:
    """The fields of one action item; each read marks the field as known, the rest are refused."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self._item = item
        self._known = {"actionName"}

    def _take(self, name: str) -> Any:
        """The field's value, or None when it is absent; ``null`` is refused, not taken as absent
        (no field of an action is nullable, and a ``null`` filter or ttl would silently widen a send)."""
        if name not in FIELD_NAMES:  # a parser reading a field the vocabulary does not list
            raise KeyError(name)
        self._known.add(name)
        value = self._item.get(name)
        if value is None and name in self._item:
            raise InvalidField(name, f"{name} must not be null; leave it out instead.")
        return value

    def unknown(self) -> list[str]:
        return [name for name in self._item if name not in self._known]

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self._take(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise InvalidField(name, f"{name} is required and must be a string.")
        if LONE_SURROGATE.search(value):  # JSON allows "\ud800"; no UTF-8 encoder does
            raise InvalidField(name, f"{name} must be valid Unicode text (it holds a lone surrogate).")
        return value

    def identifier(self, name: str, what: str, *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        return value if value is None else _checked(name, validate_identifier, value, what)

    def group(self, name: str = "group", *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        return value if value is None else _checked(name, validate_group, value)

    def connection_ids(self, name: str = "excluded") -> tuple[str, ...]:
        values = self._list(name, required=False)
        return tuple(_checked(name, validate_identifier, value, "connection id") for value in values)

    def groups(self, name: str = "groups") -> tuple[str, ...]:
        values = self._list(name, required=True)
        if not values:
            raise InvalidField(name, f"{name} must name at least one group.")
        return tuple(_checked(name, validate_group, value) for value in values)

    def _list(self, name: str, *, required: bool) -> list[str]:
        value = self._take(name)
        if value is None and not required:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidField(name, f"{name} must be a list of strings.")
        if len(value) > MAX_LIST_ITEMS:
            raise InvalidField(name, f"{name} has more than {MAX_LIST_ITEMS} entries.")
        return value

    def whole_number(self, name: str, low: int, high: int) -> int | None:
        value = self._take(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidField(name, f"{name} must be a whole number from {low} to {high}.")
        return value

    def odata_filter(self) -> str | None:
        value = self.text("filter", required=False)
        if value is not None and not 0 < len(value) <= MAX_FILTER_LENGTH:
            raise InvalidField("filter", f"filter has 1 to {MAX_FILTER_LENGTH} characters.")
        return value

    def permission(self) -> str:
        value = self.text("permission")
        if value not in PERMISSIONS:
            raise InvalidField("permission", "permission must be sendToGroup or joinLeaveGroup.")
        return value

    def data(self) -> tuple[bytes, str]:
        """The message bytes and content type, from ``data`` and ``dataType`` (default text)."""
        data_type = self._take("dataType")
        if data_type is None:
            data_type = "text"
        if not isinstance(data_type, str) or data_type.lower() not in DATA_TYPES:
            raise InvalidField("dataType", "dataType must be text, json or binary.")
        data_type = data_type.lower()
        text = self.text("data") or ""
        if data_type == "binary":
            body = _base64(text)
        else:
            body = text.encode("utf-8")  # text() has refused lone surrogates
            if data_type == "json":
                try:
                    parse_json(text)
                except ValueError:
                    raise InvalidField("data", "data of dataType json must be RFC 8259 JSON text.") from None
        try:
            check_message_size(body)
        except AppError:
            raise InvalidField("data", f"data must be 1 to {MAX_MESSAGE_BYTES} bytes (1 MiB).") from None
        return body, DATA_TYPES[data_type]


def _base64(text: str) -> bytes:
    """Canonical base64 only: ``b64decode`` also takes extra padding (``QUJD====``) and stray bits (``QR==``)."""
    try:
        body = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        body = None
    if body is None or base64.b64encode(body).decode("ascii") != text:
        raise InvalidField("data", "data of dataType binary must be base64 (RFC 4648, padded).")
    return body


def _checked(field: str, rule: Callable[..., str], value: str, *args: str) -> str:
    try:
        return rule(value, *args)
    except AppError as error:
        raise InvalidField(field, error.message) from None


def _reason(fields: Fields) -> tuple[tuple[str, str], ...]:
    reason = fields.text("reason", required=False)
    if reason is not None:
        _checked("reason", validate_text, reason, "reason")
    return (("reason", reason),) if reason is not None else ()


def _excluded(fields: Fields) -> tuple[tuple[str, str], ...]:
    return tuple(("excluded", connection_id) for connection_id in fields.connection_ids())


def _send(kind: str, name_field: str | None) -> Callable[[Fields], Action]:
    def parse(fields: Fields) -> Action:
        name = None
        if name_field == "group":
            name = fields.group()
        elif name_field is not None:
            name = fields.identifier(name_field, "user id" if kind == "user" else "connection id")
        body, content_type = fields.data()
        excluded = fields.connection_ids() if kind in ("all", "group") else ()
        odata_filter = fields.odata_filter() if kind != "connection" else None
        ttl = fields.whole_number("ttl", 0, MAX_TTL_SECONDS)
        return send_action(
            kind, name, body, content_type, excluded=excluded, odata_filter=odata_filter, ttl_seconds=ttl
        )

    return parse


def _user(fields: Fields) -> str:
    return segment(fields.identifier("userId", "user id") or "")


def _connection(fields: Fields) -> str:
    return segment(fields.identifier("connectionId", "connection id") or "")


def _group(fields: Fields) -> str:
    return segment(fields.group() or "")


def _permission_call(method: str, read: Read = Read.NONE) -> Callable[[Fields], Action]:
    def parse(fields: Fields) -> Action:
        connection, permission = _connection(fields), fields.permission()
        target = fields.group("targetName", required=False)
        query = (("targetName", target),) if target is not None else ()
        return Action("", method, f"permissions/{permission}/connections/{connection}", query, read=read)

    return parse


def _groups_change(operation: str) -> Callable[[Fields], Action]:
    def parse(fields: Fields) -> Action:
        payload: dict[str, Any] = {"groups": list(fields.groups())}
        odata_filter = fields.odata_filter()
        if odata_filter is not None:
            payload["filter"] = odata_filter
        body = json.dumps(payload).encode()
        if len(body) > MAX_MESSAGE_BYTES:
            raise InvalidField(
                "groups",
                f"The action's groups make its request body larger than {MAX_MESSAGE_BYTES} bytes (1 MiB) once "
                "written as JSON (non-ASCII characters are sent as 6- or 12-byte escapes); split it into "
                "several actions.",
            )
        return Action("", "POST", operation, body=body, content_type="application/json")

    return parse


def _list_connections(fields: Fields) -> Action:
    group = fields.group()
    top = fields.whole_number("top", 1, 2**31 - 1)
    return Action("", "GET", f"groups/{segment(group or '')}/connections", read=Read.CONNECTIONS, group=group, top=top)


PARSERS: dict[str, Callable[[Fields], Action]] = {
    "sendToAll": _send("all", None),
    "sendToGroup": _send("group", "group"),
    "sendToUser": _send("user", "userId"),
    "sendToConnection": _send("connection", "connectionId"),
    "addUserToGroup": lambda f: Action("", "PUT", f"users/{_user(f)}/groups/{_group(f)}"),
    "removeUserFromGroup": lambda f: Action("", "DELETE", f"users/{_user(f)}/groups/{_group(f)}"),
    "removeUserFromAllGroups": lambda f: Action("", "DELETE", f"users/{_user(f)}/groups"),
    "addConnectionToGroup": lambda f: Action("", "PUT", f"groups/{_group(f)}/connections/{_connection(f)}"),
    "removeConnectionFromGroup": lambda f: Action("", "DELETE", f"groups/{_group(f)}/connections/{_connection(f)}"),
    "removeConnectionFromAllGroups": lambda f: Action("", "DELETE", f"connections/{_connection(f)}/groups"),
    "addConnectionsToGroups": _groups_change(":addToGroups"),
    "removeConnectionsFromGroups": _groups_change(":removeFromGroups"),
    "closeAllConnections": lambda f: Action("", "POST", ":closeConnections", _excluded(f) + _reason(f)),
    "closeClientConnection": lambda f: Action("", "DELETE", f"connections/{_connection(f)}", _reason(f)),
    "closeGroupConnections": lambda f: Action(
        "", "POST", f"groups/{_group(f)}/:closeConnections", _excluded(f) + _reason(f)
    ),
    "closeUserConnections": lambda f: Action(
        "", "POST", f"users/{_user(f)}/:closeConnections", _excluded(f) + _reason(f)
    ),
    "grantPermission": _permission_call("PUT"),
    "revokePermission": _permission_call("DELETE"),
    "checkPermission": _permission_call("HEAD", Read.EXISTS),
    "connectionExists": lambda f: Action("", "HEAD", f"connections/{_connection(f)}", read=Read.EXISTS),
    "userExists": lambda f: Action("", "HEAD", f"users/{_user(f)}", read=Read.EXISTS),
    "groupExists": lambda f: Action("", "HEAD", f"groups/{_group(f)}", read=Read.EXISTS),
    "listConnectionsInGroup": _list_connections,
}
CANONICAL_NAMES = {name.lower(): name for name in PARSERS}


def parse_action(item: Any) -> Action:
    """One action item of a request, checked field by field; raises :class:`InvalidField`."""
    if not isinstance(item, dict):
        raise InvalidField("actionName", "Each action is a JSON object with an actionName.")
    name = _action_name(item.get("actionName"))
    stray = [field for field in item if field not in FIELD_NAMES]
    if stray:
        raise _unknown_field(name, stray[0])
    fields = Fields(item)
    action = PARSERS[name](fields)
    unknown = fields.unknown()
    if unknown:
        raise _unknown_field(name, unknown[0])
    _check_url_length(action, item)
    return dataclasses.replace(action, name=name)


def _action_name(raw: Any) -> str:
    """The canonical name; matched ASCII case-insensitively only (``str.lower()`` maps the Kelvin
    sign, U+212A, to "k")."""
    if raw is None:
        raise InvalidField("actionName", "actionName is missing.")
    if not isinstance(raw, str):
        raise InvalidField("actionName", "actionName must be a string.")
    name = CANONICAL_NAMES.get(raw.lower()) if raw.isascii() else None
    if name is None:
        raise InvalidField("actionName", f"{_shown(raw)} is not a known action.")
    return name


def _unknown_field(action: str, field: str) -> InvalidField:
    return InvalidField(field[:SHOWN_CHARACTERS], f"{action} takes no field named {_shown(field)}.")


def _shown(text: str) -> str:
    """A caller's name as it may appear in a message: cut short, and JSON-escaped (control
    characters and lone surrogates included), so that it can neither flood nor forge a log line."""
    return json.dumps(text[:SHOWN_CHARACTERS])


def _check_url_length(action: Action, item: Mapping[str, Any]) -> None:
    """Names, lists and filters travel in the URL: one too long for the service is refused here,
    before any item runs, rather than by the service after the items before this one ran."""
    if len(action.path) + len(encode_query(action.query)) <= MAX_URL_CHARACTERS:
        return
    sizes: dict[str, int] = {}
    for name, value in action.query:
        sizes[name] = sizes.get(name, 0) + len(encode_query(((name, value),)))
    for name in PATH_FIELDS:
        if isinstance(item.get(name), str):
            sizes[name] = len(segment(item[name]))
    largest = max(sizes, key=sizes.__getitem__)
    raise InvalidField(
        largest,
        f"The action's {largest} makes its service URL too long (over {MAX_URL_CHARACTERS} characters once "
        "percent-encoded); use shorter names or split it into several actions.",
    )
