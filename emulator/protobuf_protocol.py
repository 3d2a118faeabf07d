"""What a ``protobuf.webpubsub.azure.v1`` client may send: one ``UpstreamMessage`` per binary frame.

Each frame is parsed with the code generated from the service's published ``.proto`` into the
same typed request a JSON client's frame becomes (:mod:`emulator.client_protocol`), so both
protocols share every rule and limit. ``send_to_group_message``, ``event_message``,
``join_group_message``, ``leave_group_message``, ``sequence_ack_message`` and ``ping_message``
are served. A frame that is not an ``UpstreamMessage``, sets none of them, sets one the emulator
does not serve (invoke, stream and group-state messages), names an invalid group, carries
``json_data`` that is not strict JSON, or a ``send_to_group_message`` without data, declines the
client with close 1007, as malformed JSON does.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from emulator.client_protocol import (
    JoinGroup,
    LeaveGroup,
    Ping,
    Request,
    SendEvent,
    SendToGroup,
    SequenceAck,
    checked_event,
    checked_group,
    handle_request,
    malformed,
)
from emulator.messages import Frame
from emulator.model import Connection, Hub
from emulator.proto.webpubsub_v1_pb2 import MessageData, UpstreamMessage
from emulator.validation import parse_json


def handle_protobuf_request(hub: Hub, connection: Connection, data: bytes) -> Frame | None:
    return handle_request(hub, connection, parse_protobuf_request(data))


def parse_protobuf_request(data: bytes) -> Request:
    upstream = UpstreamMessage()
    try:
        upstream.ParseFromString(data)
    except DecodeError:
        raise malformed("The message is not a valid UpstreamMessage.") from None
    kind = upstream.WhichOneof("message")
    if kind == "ping_message":
        return Ping()
    if kind == "sequence_ack_message":
        return SequenceAck(upstream.sequence_ack_message.sequence_id)
    if kind == "join_group_message":
        join = upstream.join_group_message
        return JoinGroup(checked_group(join.group), _ack_id(join))
    if kind == "leave_group_message":
        leave = upstream.leave_group_message
        return LeaveGroup(checked_group(leave.group), _ack_id(leave))
    if kind == "send_to_group_message":
        send = upstream.send_to_group_message
        group = checked_group(send.group)
        if not send.HasField("data"):
            raise malformed("send_to_group_message needs data.")
        payload, data_type = _payload(send.data)
        return SendToGroup(group, payload, data_type, send.no_echo, _ack_id(send))
    if kind == "event_message":
        event = upstream.event_message
        event_data, data_type = _payload(event.data) if event.HasField("data") else (None, "binary")
        return SendEvent(checked_event(event.event), event_data, data_type, _ack_id(event))
    if kind is None:
        raise malformed("The UpstreamMessage sets no message.")
    raise malformed(f"{kind} is not supported by the emulator.")


def _ack_id(
    request: UpstreamMessage.JoinGroupMessage
    | UpstreamMessage.LeaveGroupMessage
    | UpstreamMessage.SendToGroupMessage
    | UpstreamMessage.EventMessage,
) -> int | None:
    return request.ack_id if request.HasField("ack_id") else None


def _payload(data: MessageData) -> tuple[bytes, str]:
    kind = data.WhichOneof("data")
    if kind == "text_data":
        return data.text_data.encode("utf-8"), "text"
    if kind == "binary_data":
        return data.binary_data, "binary"
    if kind == "protobuf_data":
        return data.protobuf_data.SerializeToString(), "protobuf"
    if kind == "json_data":
        try:
            parse_json(data.json_data)
        except ValueError:
            raise malformed("json_data is not valid JSON.") from None
        return data.json_data.encode("utf-8"), "json"
    raise malformed("MessageData sets no data.")
