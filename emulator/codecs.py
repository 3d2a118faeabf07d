"""How each subprotocol spells what the emulator sends: one :class:`Codec` per protocol.

The rules (acks, ``Duplicate``, sequence ids, recovery, limits) live in :mod:`emulator.model` and
:mod:`emulator.client_protocol` once; a codec only encodes their outcome as frames. JSON
subprotocols send text frames (:mod:`emulator.messages`), protobuf subprotocols binary frames
(:mod:`emulator.protobuf_frames`); plain clients get data messages only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator import messages, protobuf_frames
from emulator.messages import JSON, PLAIN, RELIABLE, Frame, Message
from emulator.protobuf_frames import PROTOBUF, PROTOBUF_RELIABLE

# The service's subprotocols this emulator speaks, in its order of preference.
SUBPROTOCOLS = (JSON, RELIABLE, PROTOBUF, PROTOBUF_RELIABLE)
RELIABLE_PROTOCOLS = frozenset({RELIABLE, PROTOBUF_RELIABLE})
JSON_PROTOCOLS = frozenset({JSON, RELIABLE})
PROTOBUF_PROTOCOLS = frozenset({PROTOBUF, PROTOBUF_RELIABLE})


@dataclass(frozen=True)
class Codec:
    connected: Callable[[str, str | None, str | None], Frame]
    disconnected: Callable[[str], Frame]
    ack: Callable[[int, tuple[str, str] | None], Frame]
    pong: Frame
    data: Callable[[Message, int | None], Frame]  # the sequence id is given to reliable clients only


def _json_data(protocol: str) -> Callable[[Message, int | None], Frame]:
    return lambda message, sequence_id: message.frame_for(protocol, sequence_id or 0)


def _plain_only(*_: object) -> Frame:
    raise AssertionError("plain clients get data messages only")


def _codec(protocol: str) -> Codec:
    if protocol in PROTOBUF_PROTOCOLS:
        return Codec(
            protobuf_frames.connected_frame,
            protobuf_frames.disconnected_frame,
            protobuf_frames.ack_frame,
            protobuf_frames.PONG_FRAME,
            protobuf_frames.data_frame,
        )
    if protocol == PLAIN:
        return Codec(_plain_only, _plain_only, _plain_only, b"", _json_data(PLAIN))
    json = messages
    return Codec(json.connected_frame, json.disconnected_frame, json.ack_frame, json.PONG_FRAME, _json_data(protocol))


CODECS = {protocol: _codec(protocol) for protocol in (PLAIN, *SUBPROTOCOLS)}
