"""WebSocket frames on the wire (RFC 6455 §5.2), server side: unmasked, final, uncompressed.

Building the bytes here lets a broadcast encode a message once and hand the same bytes to
every socket, as ``websockets.broadcast()`` does.
"""

from __future__ import annotations

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


def encode_frame(payload: bytes, opcode: int) -> bytes:
    length = len(payload)
    first = bytes((0x80 | opcode,))
    if length < 126:
        return first + bytes((length,)) + payload
    if length < 1 << 16:
        return first + b"\x7e" + length.to_bytes(2, "big") + payload
    return first + b"\x7f" + length.to_bytes(8, "big") + payload


def text_frame(text: str) -> bytes:
    return encode_frame(text.encode("utf-8"), OPCODE_TEXT)


def binary_frame(data: bytes) -> bytes:
    return encode_frame(data, OPCODE_BINARY)


def decode_frame(frame: bytes) -> tuple[int, bytes]:
    """The opcode and payload of one complete unmasked frame (for tests and tools)."""
    length = frame[1] & 0x7F
    start = 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10], "big"), 10
    return frame[0] & 0x0F, frame[start : start + length]
