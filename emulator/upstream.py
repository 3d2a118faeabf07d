"""CloudEvents webhook requests as the service sends them, and what their answers mean. No I/O.

The service calls an event handler over the CloudEvents HTTP binding in binary mode
(``reference-cloud-events`` in Microsoft's docs). This module builds those requests as plain
values (:class:`UpstreamRequest`) and turns the handler's status, headers and body into
decisions (:class:`ConnectDecision`, :class:`EventAnswer`); :mod:`emulator.events` does the
HTTP. What is built here:

* the abuse-protection check: ``OPTIONS`` with ``WebHook-Request-Origin`` and
  ``ce-awpsversion``; the handler allows delivery when it answers 2xx with
  ``WebHook-Allowed-Origin`` equal to the origin or ``*``;
* events: ``ce-specversion``, ``ce-type`` (``azure.webpubsub.sys.<event>``,
  ``azure.webpubsub.user.<event>``, or for group presence ``azure.webpubsub.gp.joined`` /
  ``azure.webpubsub.gp.left`` with the body ``{"group": "<name>"}``), ``ce-source``
  (``/hubs/<hub>/client/<connectionId>``),
  ``ce-id``, ``ce-time``, ``ce-hub``, ``ce-connectionId``, ``ce-eventName``, ``ce-awpsversion``,
  ``ce-signature`` (``sha256=<hex HMAC-SHA256(access key, connection id)>`` per key, comma
  separated), and when set ``ce-userId``, ``ce-subprotocol`` and ``ce-connectionState``. Every
  request carries ``WebHook-Request-Origin``: Microsoft's handler SDKs ignore requests without
  it (and without ``ce-awpsversion``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from multidict import MultiMapping

from emulator.hub_settings import EventHandlerSettings
from emulator.messages import DATA_TYPES
from emulator.validation import media_type, parse_json, valid_group

SPEC_VERSION = "1.0"
AWPS_VERSION = "1.0"
VALIDATE_EVENT = "validate"
SYSTEM_JSON = "application/json; charset=utf-8"
# A protobuf client's ``google.protobuf.Any`` goes as ``application/x-protobuf``, as the service sends it
# (its protobuf subprotocol reference, "Send custom events"); an answer still takes one of DATA_TYPES.
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
CONTENT_TYPES = {
    **{data_type: content_type for content_type, data_type in DATA_TYPES.items()},
    "protobuf": PROTOBUF_CONTENT_TYPE,
}
STATE_HEADER = "ce-connectionState"
MAX_ANSWER_BYTES = 1024 * 1024  # an answer is sent to a client, so it obeys the client frame limit
# A connect event carries every header but the one the token travels in, as Microsoft's emulator
# does; cookies stay, so a handler can sign in a browser client by its session cookie.
HIDDEN_CONNECT_HEADERS = frozenset({"authorization"})
DOT_SEGMENTS = frozenset({".", ".."})


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


SYSTEM = "sys"
USER = "user"
PRESENCE = "gp"  # group presence: joined, left


@dataclass(frozen=True)
class UpstreamEvent:
    """One event of one connection, before it is addressed to a handler.

    ``kind`` is the ``ce-type`` segment: :data:`SYSTEM`, :data:`USER` or :data:`PRESENCE`;
    ``group`` is the group a presence event is about.
    """

    name: str
    kind: str
    body: bytes
    content_type: str
    group: str | None = None

    @property
    def type(self) -> str:
        return f"azure.webpubsub.{self.kind}.{self.name}"

    @property
    def user(self) -> bool:
        """A client's own event: answered to it, dropped when the connection ends."""
        return self.kind == USER

    @property
    def held(self) -> bool:
        """An event a client can cause at will (its own, and joins and leaves): it counts against
        the delivery bounds of :mod:`emulator.events`."""
        return self.kind != SYSTEM


@dataclass(frozen=True)
class ConnectionFacts:
    """What every event says about its connection (the ``ce-*`` attributes)."""

    hub: str
    connection_id: str
    user_id: str | None
    subprotocol: str | None
    state: str | None = None


@dataclass(frozen=True)
class ConnectDecision:
    """The ``connect`` handler's verdict: accept (with changes) or refuse with a status."""

    status: int
    user_id: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    subprotocol: str | None = None
    state: str | None = None
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class EventAnswer:
    """A user event's outcome: data for the sender (or none), new state, or an error."""

    error: str | None = None
    data: bytes | None = None
    data_type: str = "binary"
    state: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def sign(connection_id: str, access_keys: Sequence[str]) -> str:
    """``ce-signature``: one ``sha256=<hex>`` per access key, comma separated."""
    data = connection_id.encode("utf-8")
    return ",".join("sha256=" + hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest() for key in access_keys)


def validation_request(handler: EventHandlerSettings, hub: str, origin: str) -> UpstreamRequest:
    headers = {"WebHook-Request-Origin": origin, "ce-awpsversion": AWPS_VERSION}
    return UpstreamRequest("OPTIONS", handler.url(hub, VALIDATE_EVENT), headers)


def validation_allows(status: int, allowed_origins: Sequence[str], origin: str) -> bool:
    """True when the answer allows ``origin``; several headers or a comma list are both read."""
    if not 200 <= status < 300:
        return False
    values = [value.strip().lower() for header in allowed_origins for value in header.split(",")]
    return "*" in values or origin.lower() in values


def event_request(
    handler: EventHandlerSettings,
    event: UpstreamEvent,
    facts: ConnectionFacts,
    *,
    event_id: int,
    origin: str,
    access_keys: Sequence[str],
    now: datetime | None = None,
) -> UpstreamRequest:
    moment = (now or datetime.now(tz=UTC)).astimezone(UTC)
    headers = {
        "WebHook-Request-Origin": origin,
        "Content-Type": event.content_type,
        "ce-specversion": SPEC_VERSION,
        "ce-type": event.type,
        "ce-source": f"/hubs/{facts.hub}/client/{facts.connection_id}",
        "ce-id": str(event_id),
        "ce-time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ce-signature": sign(facts.connection_id, access_keys),
        "ce-connectionId": facts.connection_id,
        "ce-hub": facts.hub,
        "ce-eventName": event.name,
        "ce-awpsversion": AWPS_VERSION,
    }
    optional = {"ce-userId": facts.user_id, "ce-subprotocol": facts.subprotocol, STATE_HEADER: facts.state}
    headers.update({name: value for name, value in optional.items() if value})
    for name, value in headers.items():
        if not header_safe(value):
            raise ValueError(f"{name} cannot be sent in an HTTP header")
    return UpstreamRequest("POST", handler.url(facts.hub, event.name), headers, event.body)


def header_safe(value: str) -> bool:
    """Whether ``value`` can be a ``ce-*`` header: valid UTF-8 and no control character, C0
    (``\r\n`` would start a header of its own), DEL or C1 (U+0080 to U+009F: ``U+0085`` is a line
    break to some readers)."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_event_name(name: str) -> bool:
    """Whether a client's event name can reach a handler as one path segment and one header.

    Percent-encoding keeps ``/``, ``?`` and ``#`` inside the ``{event}`` segment, but not ``.`` and
    ``..``: URL clients remove dot segments (RFC 3986 section 5.2.4), ``%2E`` included, so an event
    named ``..`` would be posted to the handler URL's parent path. Those two are refused, as are
    names that cannot be a ``ce-eventName`` header (:func:`header_safe`).
    """
    return bool(name) and name not in DOT_SEGMENTS and header_safe(name)


# -- events --------------------------------------------------------------------------------------


def connect_event(
    claims: Mapping[str, Any],
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    subprotocols: Sequence[str],
) -> UpstreamEvent:
    """``connect``: claims, query and headers as name → list of strings; the token stays out."""
    body = {
        "claims": {name: _strings(value) for name, value in claims.items()},
        "query": _multi((name, value) for name, value in query if name.lower() != "access_token"),
        "headers": _multi((name, value) for name, value in headers if name.lower() not in HIDDEN_CONNECT_HEADERS),
        "subprotocols": list(subprotocols),
        "clientCertificates": [],
    }
    return _system("connect", body)


def connected_event() -> UpstreamEvent:
    return _system("connected", {})


def disconnected_event(reason: str) -> UpstreamEvent:
    return _system("disconnected", {"reason": reason})


def user_event(name: str, data: bytes, data_type: str) -> UpstreamEvent:
    """A client's data with the content type of its ``dataType`` (plain text frames are ``text``,
    a protobuf client's ``Any`` is ``protobuf``)."""
    return UpstreamEvent(name, USER, data, CONTENT_TYPES[data_type])


def presence_event(joined: bool, group: str) -> UpstreamEvent:
    """``joined`` or ``left``: body ``{"group": "<name>"}``, as ``@azure/web-pubsub-express`` 1.1.0
    reads it (``onGroupJoined``/``onGroupLeft`` get the parsed body with the connection context)."""
    return UpstreamEvent(presence_name(joined), PRESENCE, _json({"group": group}), SYSTEM_JSON, group)


def presence_name(joined: bool) -> str:
    return "joined" if joined else "left"


def _system(name: str, body: dict[str, Any]) -> UpstreamEvent:
    return UpstreamEvent(name, SYSTEM, _json(body), SYSTEM_JSON)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item) for item in values]


def _multi(pairs: Any) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


# -- answers -------------------------------------------------------------------------------------


def connect_decision(status: int, headers: MultiMapping[str], body: bytes) -> ConnectDecision:
    """200 may set ``userId``, ``groups``, ``roles``, ``subprotocol``; 204 accepts; 4xx refuses
    with that status; anything else (or a 200 body that is not the documented JSON) is a 500."""
    if 400 <= status < 500:
        return ConnectDecision(status, reason=f"The connect event handler refused the connection ({status}).")
    if not 200 <= status < 300:
        return connect_failure(f"The connect event handler answered {status}.")
    try:
        state = _state(headers)
    except ValueError as error:
        return connect_failure(f"The connect event handler's answer is not valid: {error}.")
    if status != 200 or not body.strip():
        return ConnectDecision(status, state=state)
    try:
        answer = json.loads(body.decode("utf-8"))
        if not isinstance(answer, dict):
            raise ValueError("not an object")
        user_id = _optional_string(answer, "userId")
        subprotocol = _optional_string(answer, "subprotocol")
        groups = _string_list(answer, "groups")
        roles = _string_list(answer, "roles")
    except (ValueError, RecursionError) as error:
        return connect_failure(f"The connect event handler's answer is not valid: {error}.")
    if not all(valid_group(group) for group in groups):
        return connect_failure("The connect event handler named an invalid group.")
    if user_id and not header_safe(user_id):
        return connect_failure("The connect event handler named a user id that cannot be sent in ce-userId.")
    return ConnectDecision(200, user_id or None, groups, roles, subprotocol or None, state)


def _state(headers: MultiMapping[str]) -> str | None:
    """The answer's ``ce-connectionState``. The service allows one; when a handler repeats it, the
    last one counts, as in Microsoft's emulator (a repeat does not fail the event)."""
    values = headers.getall(STATE_HEADER, [])
    if not values:
        return None
    if not header_safe(values[-1]):  # it goes back in the next event's headers, so it must fit one
        raise ValueError("its ce-connectionState has control characters or is not UTF-8")
    return values[-1]


def connect_failure(reason: str) -> ConnectDecision:
    return ConnectDecision(500, reason=reason)


def event_answer(status: int, headers: MultiMapping[str], body: bytes) -> EventAnswer:
    """A 200 with a body answers the sender in the body's content type (``text/plain``,
    ``application/json`` or ``application/octet-stream``; none is text, others are an error);
    204 (or an empty body) answers nothing; any other status is an error."""
    if not 200 <= status < 300:
        return EventAnswer(error=f"The event handler answered {status}.")
    try:
        state = _state(headers)
    except ValueError as error:
        return EventAnswer(error=f"The event handler's answer is not valid: {error}.")
    if status == 204 or not body:
        return EventAnswer(state=state)
    if len(body) > MAX_ANSWER_BYTES:
        return EventAnswer(error="The event handler's answer is over 1 MiB.")
    # As Microsoft's emulator: no Content-Type is text; a type that is none of the three is an error.
    answered_type = media_type(headers.get("Content-Type", "text/plain"))
    data_type = DATA_TYPES.get(answered_type)
    if data_type is None:
        return EventAnswer(error=f"The event handler answered an unsupported content type {answered_type[:100]!r}.")
    if data_type == "json":
        try:
            parse_json(body.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            return EventAnswer(error="The event handler answered application/json that is not valid JSON.")
    return EventAnswer(data=body, data_type=data_type, state=state)


def event_failure(reason: str) -> EventAnswer:
    return EventAnswer(error=reason)


def _optional_string(answer: dict[str, Any], name: str) -> str | None:
    value = answer.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _string_list(answer: dict[str, Any], name: str) -> tuple[str, ...]:
    value = answer.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings")
    return tuple(value)
