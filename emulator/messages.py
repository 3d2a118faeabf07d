"""Outbound messages, encoded once per protocol however many connections receive them.

A REST send or a client ``sendToGroup`` becomes one :class:`Message`. Each protocol's frame
is built on first use and cached, so a broadcast to 5,000 connections encodes the payload
once for plain clients and once for JSON clients. Reliable clients need their own
``sequenceId``; it is spliced in front of the cached JSON text rather than re-encoding.

Frames are complete WebSocket frames as bytes (:mod:`emulator.frames`), ready for the socket.
"""

from __future__ import annotations

import base64
import json
from functools import cached_property
from typing import Any

from emulator.frames import binary_frame, text_frame

PLAIN = "plain"
JSON = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"

DATA_TYPES = {"text/plain": "text", "application/json": "json", "application/octet-stream": "binary"}

Frame = bytes


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Message:
    """One data message: its bytes, their type, where it came from, and until when it may wait
    in a connection's send queue (``expires_at``, on the ``time.monotonic`` clock; None: forever)."""

    def __init__(
        self,
        data: bytes,
        data_type: str,
        *,
        group: str | None = None,
        from_user_id: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.data = data
        self.data_type = data_type  # "text" | "json" | "binary"
        self.group = group  # set for messages published to a group by a client
        self.from_user_id = from_user_id
        self.expires_at = expires_at

    @cached_property
    def plain_frame(self) -> Frame:
        """Plain clients get the bytes as sent: text and JSON as text frames, binary as binary."""
        if self.data_type == "binary":
            return binary_frame(self.data)
        return text_frame(self.data.decode("utf-8", errors="replace"))

    @cached_property
    def json_frame(self) -> Frame:
        return text_frame(self.json_text)

    @cached_property
    def json_text(self) -> str:
        envelope = '{"type":"message",'
        if self.group is not None:
            envelope += '"from":"group","group":' + dumps(self.group) + ","
            if self.from_user_id is not None:
                envelope += '"fromUserId":' + dumps(self.from_user_id) + ","
        else:
            envelope += '"from":"server",'
        return envelope + '"dataType":"' + self.data_type + '","data":' + self._json_data + "}"

    @property
    def _json_data(self) -> str:
        if self.data_type == "json":
            return self.data.decode("utf-8")  # validated JSON text, embedded as sent
        if self.data_type == "binary":
            return '"' + base64.b64encode(self.data).decode("ascii") + '"'
        return dumps(self.data.decode("utf-8", errors="replace"))

    def frame_for(self, protocol: str, sequence_id: int = 0) -> Frame:
        if protocol == PLAIN:
            return self.plain_frame
        if protocol == RELIABLE:
            return text_frame('{"sequenceId":' + str(sequence_id) + "," + self.json_text[1:])
        return self.json_frame


def connected_frame(connection_id: str, user_id: str | None, reconnection_token: str | None) -> Frame:
    payload: dict[str, Any] = {"type": "system", "event": "connected", "userId": user_id, "connectionId": connection_id}
    if reconnection_token is not None:
        payload["reconnectionToken"] = reconnection_token
    return text_frame(dumps(payload))


def disconnected_frame(reason: str) -> Frame:
    return text_frame(dumps({"type": "system", "event": "disconnected", "message": reason}))


def ack_frame(ack_id: int, error: tuple[str, str] | None = None) -> Frame:
    if error is None:
        return text_frame(dumps({"type": "ack", "ackId": ack_id, "success": True}))
    name, message = error
    failure = {"type": "ack", "ackId": ack_id, "success": False, "error": {"name": name, "message": message}}
    return text_frame(dumps(failure))


PONG_FRAME = text_frame(dumps({"type": "pong"}))


def decode_client_data(data_type: str, data: Any) -> bytes:
    """The bytes a client's ``sendToGroup``/``event`` carries; ``ValueError`` when malformed."""
    if data_type == "json":
        if data is None:
            raise ValueError("json data must not be null")
        return dumps(data).encode("utf-8")
    if data_type == "text":
        if not isinstance(data, str):
            raise ValueError("text data must be a string")
        return data.encode("utf-8")
    if data_type == "binary":
        if not isinstance(data, str):
            raise ValueError("binary data must be base64 text")
        return base64.b64decode(data, validate=True)
    raise ValueError(f"unknown dataType {data_type!r}")
