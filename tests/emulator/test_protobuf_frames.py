"""The protobuf codec without sockets: generated code matches the .proto, and frames are built once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emulator.frames import decode_frame
from emulator.model import Connection
from emulator.proto.webpubsub_v1_pb2 import DownstreamMessage
from emulator.protobuf_frames import PROTOBUF, PROTOBUF_RELIABLE, data_frame, new_message

PROTO_DIR = Path(__file__).resolve().parents[2] / "emulator" / "proto"
GENERATED = ("webpubsub_v1_pb2.py", "webpubsub_v1_pb2.pyi")


def test_the_committed_code_is_what_the_proto_generates(tmp_path: Path) -> None:
    protoc = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}"]
    subprocess.run([*protoc, f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", "webpubsub_v1.proto"], check=True)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (PROTO_DIR / name).read_bytes(), f"run `make proto`: {name} is stale"


def decoded(frame: bytes) -> DownstreamMessage:
    opcode, payload = decode_frame(frame)
    assert opcode == 0x2  # binary
    message = DownstreamMessage()
    message.ParseFromString(payload)
    return message


def test_a_message_is_encoded_once_for_every_protobuf_client() -> None:
    message = new_message(b"hi", "text", group="g")
    assert data_frame(message) is data_frame(message)
    numbered = decoded(data_frame(message, 7)).data_message
    assert (numbered.sequence_id, numbered.group, numbered.data.text_data) == (7, "g", "hi")
    assert not decoded(data_frame(message)).data_message.HasField("sequence_id")


def test_reliable_protobuf_connections_number_and_keep_what_they_are_sent() -> None:
    sent: list[bytes] = []
    connection = Connection(id="c", hub="h", user_id=None, protocol=PROTOBUF_RELIABLE)
    connection.transmit = lambda frame: sent.append(frame) or True
    assert connection.reconnection_token
    connection.deliver(new_message(b"\x01", "binary"))
    connection.deliver(new_message(b"\x02", "binary"))
    assert [decoded(frame).data_message.sequence_id for frame in sent] == [1, 2]
    connection.acknowledge_sequence(1)
    assert [sequence for sequence, _, _ in connection.unacked] == [2]


def test_a_protobuf_payload_is_base64_for_json_clients_and_bytes_for_plain_ones() -> None:
    message = new_message(b"\x0a\x03abc", "protobuf", group="g", from_user_id="u")
    assert '"dataType":"protobuf","data":"CgNhYmM="' in message.json_text
    assert decode_frame(message.plain_frame) == (0x2, b"\x0a\x03abc")
    assert Connection(id="c", hub="h", user_id=None, protocol=PROTOBUF).reconnection_token is None
