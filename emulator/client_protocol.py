"""What a JSON-subprotocol client may ask for, and the frames each request produces.

Handles ``joinGroup``, ``leaveGroup``, ``sendToGroup`` (with ``noEcho``), ``event``, ``ping``
and, for the reliable protocol, ``sequenceAck``. A request with an ``ackId`` is acked once;
the same ``ackId`` again is acked ``Duplicate`` and not run again. A missing role gives a
``Forbidden`` ack, not a disconnect. An ``event`` the hub's event handler takes is acked
when the handler answers (:func:`answer_event`). A frame that is not a JSON request raises
:class:`ProtocolViolation`, and the connection is closed with its code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulator.messages import PONG_FRAME, RELIABLE, Frame, Message, ack_frame, decode_client_data
from emulator.model import Connection, Hub
from emulator.upstream import EventAnswer, header_safe
from emulator.validation import valid_group

CLOSE_INVALID_PAYLOAD = 1007
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INTERNAL_ERROR = 1011

AckError = tuple[str, str]
DEFERRED: AckError = ("", "")  # the request is with an event handler, which acks it later


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def handle_json_request(hub: Hub, connection: Connection, text: str) -> Frame | None:
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolViolation(CLOSE_INVALID_PAYLOAD, "The message is not valid JSON.") from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise ProtocolViolation(CLOSE_INVALID_PAYLOAD, "The message has no 'type'.")
    kind = request["type"]
    if kind == "ping":
        return PONG_FRAME
    if kind == "sequenceAck":
        sequence_id = request.get("sequenceId")
        if connection.protocol == RELIABLE and isinstance(sequence_id, int):
            connection.acknowledge_sequence(sequence_id)
        return None
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ProtocolViolation(CLOSE_INVALID_PAYLOAD, f"Unknown message type {kind!r}.")
    ack_id = request.get("ackId")
    if ack_id is not None and (not isinstance(ack_id, int) or isinstance(ack_id, bool) or ack_id < 0):
        raise ProtocolViolation(CLOSE_INVALID_PAYLOAD, "ackId must be a non-negative integer.")
    if ack_id is not None and not connection.first_time_ack(ack_id):
        return ack_frame(ack_id, ("Duplicate", "The ackId was already used."))
    error = handler(hub, connection, request)
    if error is DEFERRED:
        return None
    return ack_frame(ack_id, error) if ack_id is not None else None


def _group_of(request: dict[str, Any]) -> str | AckError:
    group = request.get("group")
    if not isinstance(group, str) or not valid_group(group):
        return ("BadRequest", "group must be 1 to 1024 characters and not only white space.")
    return group


def _membership(joining: bool) -> Callable[[Hub, Connection, dict[str, Any]], AckError | None]:
    """``joinGroup`` and ``leaveGroup``: both need the ``joinLeaveGroup`` permission."""

    def change(hub: Hub, connection: Connection, request: dict[str, Any]) -> AckError | None:
        group = _group_of(request)
        if isinstance(group, tuple):
            return group
        if not connection.may("joinLeaveGroup", group):
            verb = "join" if joining else "leave"
            return ("Forbidden", f"The connection has no permission to {verb} group '{group}'.")
        (hub.join if joining else hub.leave)(connection, group)
        return None

    return change


def _send_to_group(hub: Hub, connection: Connection, request: dict[str, Any]) -> AckError | None:
    group = _group_of(request)
    if isinstance(group, tuple):
        return group
    if not connection.may("sendToGroup", group):
        return ("Forbidden", f"The connection has no permission to send to group '{group}'.")
    data_type = request.get("dataType", "json")
    try:
        data = decode_client_data(data_type, request.get("data"))
    except ValueError as error:
        return ("BadRequest", str(error))
    message = Message(data, data_type, group=group, from_user_id=connection.user_id)
    recipients = hub.group_members(group)
    if request.get("noEcho") is True:
        recipients = [member for member in recipients if member is not connection]
    hub.publish(message, recipients)
    return None


def _event(hub: Hub, connection: Connection, request: dict[str, Any]) -> AckError | None:
    """Goes to the hub's event handler, which acks later (:func:`answer_event`); else an error ack."""
    event = request.get("event")
    if not isinstance(event, str) or not event or not header_safe(event):
        return ("BadRequest", "event must be a non-empty string without control characters.")
    if connection.user_event is not None:
        data_type = request.get("dataType", "json")
        try:
            data = decode_client_data(data_type, request.get("data"))
        except ValueError as error:
            return ("BadRequest", str(error))
        if connection.user_event(event, data, data_type, request.get("ackId")):
            return DEFERRED
    return ("InternalServerError", "No event handler is configured in the emulator.")


def answer_event(connection: Connection, ack_id: int | None, answer: EventAnswer) -> None:
    """Give the sender the handler's answer: JSON clients the ack, then the data as a ``message``
    from ``server``; plain clients the data as a frame, or a close (1011) when the handler failed."""
    if connection.is_json:
        if ack_id is not None:
            error = None if answer.ok else ("InternalServerError", answer.error or "The event handler failed.")
            connection.send(ack_frame(ack_id, error))
    elif not answer.ok:
        connection.request_close(CLOSE_INTERNAL_ERROR, "The event handler failed.")
        return
    if answer.ok and answer.data is not None:
        connection.deliver(Message(answer.data, answer.data_type))


_HANDLERS = {
    "joinGroup": _membership(joining=True),
    "leaveGroup": _membership(joining=False),
    "sendToGroup": _send_to_group,
    "event": _event,
}
