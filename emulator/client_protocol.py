"""What a client of the service's subprotocols may ask for, and the frames each request produces.

A JSON frame (:func:`parse_json_request`) or a protobuf frame (:mod:`emulator.protobuf_protocol`)
becomes one typed request; :func:`handle_request` applies the same rules to both, and the
connection's codec (:mod:`emulator.codecs`) spells the reply. Requests are ``joinGroup``,
``leaveGroup``, ``sendToGroup`` (with ``noEcho``), ``event``, ``ping`` and, for the reliable
protocols, ``sequenceAck``; a JSON ``type`` is matched case-insensitively. A request with an
``ackId`` is acked; an ``ackId`` is used up only when its request succeeded, so a resend after a
``Forbidden`` runs again, while a resend after a success is acked ``Duplicate`` and not run again.
A missing role gives a ``Forbidden`` ack, not a disconnect. A malformed request (not JSON or not
an ``UpstreamMessage``, ``NaN``/``Infinity`` or a number out of range, unknown ``type`` or
``dataType``, ``data`` that does not fit its ``dataType``, an invalid group) raises
:class:`ProtocolViolation`: the service declines the client, and the connection is closed with
1007. An ``event`` the hub's event handler takes is acked when the handler answers
(:func:`answer_event`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.codecs import SUBPROTOCOLS
from emulator.messages import PLAIN, Frame, Message, decode_client_data
from emulator.model import CLOSE_POLICY, Connection, Hub, TooManyGroups
from emulator.protobuf_frames import new_message
from emulator.upstream import EventAnswer, valid_event_name
from emulator.validation import parse_json, valid_group

CLOSE_INVALID_PAYLOAD = 1007
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INTERNAL_ERROR = 1011

AckError = tuple[str, str]
DEFERRED: AckError = ("", "")  # the request is with an event handler, which acks it later
GROUP_RULE = "group must be 1 to 1024 characters and not only white space."


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def malformed(reason: str) -> ProtocolViolation:
    return ProtocolViolation(CLOSE_INVALID_PAYLOAD, reason)


# -- requests, whatever their wire format --------------------------------------------------------


@dataclass(frozen=True)
class JoinGroup:
    group: str
    ack_id: int | None = None


@dataclass(frozen=True)
class LeaveGroup:
    group: str
    ack_id: int | None = None


@dataclass(frozen=True)
class SendToGroup:
    group: str
    data: bytes
    data_type: str  # "text" | "json" | "binary" | "protobuf"
    no_echo: bool = False
    ack_id: int | None = None


@dataclass(frozen=True)
class SendEvent:
    event: str
    data: bytes | None
    data_type: str
    ack_id: int | None = None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class SequenceAck:
    sequence_id: int


Request = JoinGroup | LeaveGroup | SendToGroup | SendEvent | Ping | SequenceAck


def checked_group(group: object) -> str:
    if not isinstance(group, str) or not valid_group(group):
        raise malformed(GROUP_RULE)
    return group


def checked_event(event: object) -> str:
    if not isinstance(event, str) or not event:
        raise malformed("event must be a non-empty string.")
    return event


def negotiate(offered: list[str]) -> tuple[str, str | None]:
    """The protocol for the offered subprotocols and the name to echo (as the client spelt it).

    Names are compared case-insensitively and the first known one wins; a client offering only
    names the emulator does not speak is a plain (simple) WebSocket client with none selected.
    """
    for name in offered:
        for protocol in SUBPROTOCOLS:
            if name.lower() == protocol:
                return protocol, name
    return PLAIN, None


def handle_json_request(hub: Hub, connection: Connection, text: str) -> Frame | None:
    return handle_request(hub, connection, parse_json_request(text))


def parse_json_request(text: str) -> Request:
    try:
        request = parse_json(text)
    except ValueError:
        raise malformed("The message is not valid JSON.") from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise malformed("The message has no 'type'.")
    kind = request["type"].lower()
    if kind == "ping":
        return Ping()
    if kind == "sequenceack":
        sequence_id = request.get("sequenceId")
        return SequenceAck(sequence_id if isinstance(sequence_id, int) and not isinstance(sequence_id, bool) else -1)
    if kind not in ("joingroup", "leavegroup", "sendtogroup", "event"):
        raise malformed(f"Unknown message type {request['type']!r}.")
    ack_id = request.get("ackId")
    if ack_id is not None and (not isinstance(ack_id, int) or isinstance(ack_id, bool) or ack_id < 0):
        raise malformed("ackId must be a non-negative integer.")
    if kind == "joingroup":
        return JoinGroup(checked_group(request.get("group")), ack_id)
    if kind == "leavegroup":
        return LeaveGroup(checked_group(request.get("group")), ack_id)
    if kind == "sendtogroup":
        group = checked_group(request.get("group"))
        data, data_type = _json_data_of(request)
        return SendToGroup(group, data, data_type, request.get("noEcho") is True, ack_id)
    event = checked_event(request.get("event"))
    event_data, data_type = _json_data_of(request) if "data" in request else (None, "binary")
    return SendEvent(event, event_data, data_type, ack_id)


def _json_data_of(request: dict[str, Any]) -> tuple[bytes, str]:
    data_type = request.get("dataType", "json")
    try:
        return decode_client_data(data_type, request.get("data")), data_type
    except ValueError as error:
        raise malformed(str(error)) from None


def handle_request(hub: Hub, connection: Connection, request: Request) -> Frame | None:
    """Apply a request; the reply frame for the sender, if any (acks, pongs)."""
    if isinstance(request, Ping):
        return connection.codec.pong
    if isinstance(request, SequenceAck):
        if connection.is_reliable and request.sequence_id >= 0:
            connection.acknowledge_sequence(request.sequence_id)
        return None
    ack_id = request.ack_id
    if ack_id is not None and connection.ack_done(ack_id):
        return connection.codec.ack(ack_id, ("Duplicate", "The ackId was already used."))
    error = _PERFORM[type(request)](hub, connection, request)
    if ack_id is None or error is DEFERRED:
        return None
    if error is None:
        connection.remember_ack(ack_id)
    return connection.codec.ack(ack_id, error)


def handle_plain_frame(hub: Hub, connection: Connection, data: str | bytes) -> None:
    """A frame from a plain client: published to its group in ``sendToGroup`` mode.

    In the default ``sendEvent`` mode it is a ``message`` event for the hub's event handler; with
    no handler for it the client is closed with 1011. Without the permission to send, with 1008.
    """
    group = connection.send_to_group
    if group is None:
        body, data_type = (data.encode("utf-8"), "text") if isinstance(data, str) else (data, "binary")
        if connection.user_event is None or not connection.user_event("message", body, data_type, None):
            raise ProtocolViolation(CLOSE_INTERNAL_ERROR, "No event handler is configured in the emulator.")
        return
    if not connection.may("sendToGroup", group):
        raise ProtocolViolation(CLOSE_POLICY, f"The connection has no permission to send to group '{group}'.")
    if isinstance(data, str):
        message = Message(data.encode("utf-8"), "text", group=group, from_user_id=connection.user_id)
    else:
        message = Message(data, "binary", group=group, from_user_id=connection.user_id)
    recipients = hub.group_members(group)
    if connection.no_echo:
        recipients = [member for member in recipients if member is not connection]
    hub.publish(message, recipients)


def _membership(joining: bool) -> Callable[[Hub, Connection, Any], AckError | None]:
    """``joinGroup`` and ``leaveGroup``: both need the ``joinLeaveGroup`` permission."""

    def change(hub: Hub, connection: Connection, request: JoinGroup | LeaveGroup) -> AckError | None:
        group = request.group
        if not connection.may("joinLeaveGroup", group):
            verb = "join" if joining else "leave"
            return ("Forbidden", f"The connection has no permission to {verb} group '{group}'.")
        try:
            (hub.join if joining else hub.leave)(connection, group)
        except TooManyGroups as error:
            return ("BadRequest", str(error))
        return None

    return change


def _send_to_group(hub: Hub, connection: Connection, request: SendToGroup) -> AckError | None:
    group = request.group
    if not connection.may("sendToGroup", group):
        return ("Forbidden", f"The connection has no permission to send to group '{group}'.")
    message = new_message(request.data, request.data_type, group=group, from_user_id=connection.user_id)
    recipients = hub.group_members(group)
    if request.no_echo:
        recipients = [member for member in recipients if member is not connection]
    hub.publish(message, recipients)
    return None


def _event(hub: Hub, connection: Connection, request: SendEvent) -> AckError | None:
    """Goes to the hub's event handler, which acks later (:func:`answer_event`); else an error ack.

    A ``protobuf`` payload reaches the handler as ``application/x-protobuf`` (the bytes of its
    ``google.protobuf.Any``), as the service sends it.
    """
    if connection.user_event is not None:
        if not valid_event_name(request.event):
            return ("BadRequest", "The event name is '.' or '..' or has control characters; it cannot reach a handler.")
        if connection.user_event(request.event, request.data or b"", request.data_type, request.ack_id):
            return DEFERRED
    return ("InternalServerError", "No event handler is configured in the emulator.")


def answer_event(connection: Connection, ack_id: int | None, answer: EventAnswer) -> None:
    """Give the sender the handler's answer: subprotocol clients the ack, then the data as a
    message from ``server``; plain clients the data as a frame, or a close (1011) when the handler
    failed."""
    if connection.is_pubsub:
        if ack_id is not None:
            error = None if answer.ok else ("InternalServerError", answer.error or "The event handler failed.")
            if error is None:
                connection.remember_ack(ack_id)
            connection.send(connection.codec.ack(ack_id, error))
    elif not answer.ok:
        connection.request_close(CLOSE_INTERNAL_ERROR, "The event handler failed.")
        return
    if answer.ok and answer.data is not None:
        connection.deliver(Message(answer.data, answer.data_type))


_PERFORM: dict[type, Callable[[Hub, Connection, Any], AckError | None]] = {
    JoinGroup: _membership(joining=True),
    LeaveGroup: _membership(joining=False),
    SendToGroup: _send_to_group,
    SendEvent: _event,
}
