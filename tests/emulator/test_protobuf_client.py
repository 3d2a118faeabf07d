"""Protobuf subprotocols over real sockets, with a client built from the same published ``.proto``.

Each path the JSON client tests cover, spoken in ``UpstreamMessage``/``DownstreamMessage``:
connected, acks (``Forbidden``, ``Duplicate``, a failed request keeps its ``ackId``), group and
server messages of every data type (``google.protobuf.Any`` included) to protobuf, JSON and plain
members, ``noEcho``, ping, events with and without a handler, sequence ids, ``sequence_ack``,
recovery and its close codes, the unacked limit, malformed frames (1007), text frames (1003),
the 1 MiB frame limit, the group cap and the ``disconnected`` message before a close.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from aiohttp import web
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.struct_pb2 import Value
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from emulator import Emulator
from emulator.model import MAX_GROUPS_PER_CONNECTION
from emulator.proto.webpubsub_v1_pb2 import DownstreamMessage, MessageData, UpstreamMessage
from tests.emulator.event_handler import EventHandlerApp, Received, emulator_for, hub_settings
from tests.emulator.websocket_clients import JSON_PROTOCOL, token_for, url_for

PROTOBUF = "protobuf.webpubsub.azure.v1"
PROTOBUF_RELIABLE = "protobuf.reliable.webpubsub.azure.v1"
HUB = "proto"
BOTH_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


@pytest.fixture
async def service(emulator: Emulator) -> AsyncIterator[WebPubSubServiceClient]:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB) as client:
        yield client


def connect(emulator: Emulator, protocol: str | None = PROTOBUF, hub: str = HUB, **claims: Any) -> Any:
    url = url_for(emulator, hub, token_for(emulator, hub, **claims))
    return websockets.connect(url, subprotocols=[protocol] if protocol else None, max_size=None, open_timeout=5)


def recover(emulator: Emulator, hello: DownstreamMessage, hub: str = HUB) -> Any:
    connected = hello.system_message.connected_message
    query = f"awps_connection_id={connected.connection_id}&awps_reconnection_token={connected.reconnection_token}"
    return websockets.connect(
        f"ws://localhost:{emulator.port}/client/hubs/{hub}?{query}", subprotocols=[PROTOBUF_RELIABLE], open_timeout=5
    )


async def receive(socket: ClientConnection) -> DownstreamMessage:
    frame = await asyncio.wait_for(socket.recv(), 5)
    assert isinstance(frame, bytes), "protobuf frames are binary"
    message = DownstreamMessage()
    message.ParseFromString(frame)
    return message


async def send(socket: ClientConnection, **kind: Any) -> None:
    await socket.send(UpstreamMessage(**kind).SerializeToString())


async def request(socket: ClientConnection, **kind: Any) -> DownstreamMessage.AckMessage:
    await send(socket, **kind)
    reply = await receive(socket)
    assert reply.WhichOneof("message") == "ack_message", reply
    return reply.ack_message


async def closed_with(socket: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    return socket.close_code


def join(group: str, ack_id: int | None = None) -> dict[str, Any]:
    return {"join_group_message": UpstreamMessage.JoinGroupMessage(group=group, ack_id=ack_id)}


def send_to_group(group: str, data: MessageData, ack_id: int | None = None, no_echo: bool | None = None) -> dict:
    message = UpstreamMessage.SendToGroupMessage(group=group, data=data, ack_id=ack_id, no_echo=no_echo)
    return {"send_to_group_message": message}


def packed(value: str) -> AnyMessage:
    payload = AnyMessage()
    payload.Pack(Value(string_value=value))
    return payload


# -- connected, acks, ping -------------------------------------------------------------------------


async def test_connected_names_the_connection_and_only_reliable_clients_get_a_token(emulator: Emulator) -> None:
    async with connect(emulator, sub="ana") as plain, connect(emulator, PROTOBUF_RELIABLE, sub="ben") as reliable:
        assert plain.subprotocol == PROTOBUF and reliable.subprotocol == PROTOBUF_RELIABLE
        first, second = (await receive(plain)).system_message, (await receive(reliable)).system_message
        assert first.connected_message.user_id == "ana" and first.connected_message.connection_id
        assert not first.connected_message.HasField("reconnection_token")
        assert second.connected_message.user_id == "ben" and second.connected_message.reconnection_token


async def test_join_needs_a_role_and_a_used_ack_id_is_a_duplicate(emulator: Emulator) -> None:
    async with connect(emulator) as nobody, connect(emulator, role=BOTH_ROLES) as member:
        await receive(nobody)
        await receive(member)
        refused = await request(nobody, **join("g", ack_id=1))
        assert (refused.ack_id, refused.success, refused.error.name) == (1, False, "Forbidden")
        assert (await request(member, **join("g", ack_id=1))).success
        again = await request(member, **join("g", ack_id=1))
        assert (again.success, again.error.name) == (False, "Duplicate")
        left = await request(member, leave_group_message=UpstreamMessage.LeaveGroupMessage(group="g", ack_id=2))
        assert left.success and not left.HasField("error")


async def test_a_failed_request_does_not_use_up_its_ack_id(emulator: Emulator, service: WebPubSubServiceClient) -> None:
    async with connect(emulator, sub="late") as socket:
        connected = (await receive(socket)).system_message.connected_message
        assert (await request(socket, **join("g", ack_id=7))).error.name == "Forbidden"
        await service.grant_permission("joinLeaveGroup", connected.connection_id, target_name="g")
        assert (await request(socket, **join("g", ack_id=7))).success  # runs again
        assert (await request(socket, **join("g", ack_id=7))).error.name == "Duplicate"


async def test_ack_ids_are_64_bit(emulator: Emulator) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        assert (await request(socket, **join("g", ack_id=2**64 - 1))).ack_id == 2**64 - 1


async def test_ping_is_answered_with_pong(emulator: Emulator) -> None:
    async with connect(emulator) as socket:
        await receive(socket)
        await send(socket, ping_message=UpstreamMessage.PingMessage())
        assert (await receive(socket)).WhichOneof("message") == "pong_message"


# -- data between protocols ------------------------------------------------------------------------

PAYLOADS = {
    "text": (MessageData(text_data="héllo"), "text", "héllo"),
    "binary": (MessageData(binary_data=b"\x00\xff"), "binary", base64.b64encode(b"\x00\xff").decode()),
    "json": (MessageData(json_data='{"n":[1,2]}'), "json", {"n": [1, 2]}),
    "protobuf": (
        MessageData(protobuf_data=packed("any")),
        "protobuf",
        base64.b64encode(packed("any").SerializeToString()).decode(),
    ),
}


@pytest.mark.parametrize("kind", list(PAYLOADS))
async def test_group_messages_reach_protobuf_json_and_plain_members(emulator: Emulator, kind: str) -> None:
    data, json_type, json_data = PAYLOADS[kind]
    group = {"webpubsub.group": ["room"]}
    async with (
        connect(emulator, sub="writer", role=BOTH_ROLES, **group) as writer,
        connect(emulator, **group) as proto_reader,
        connect(emulator, JSON_PROTOCOL, **group) as json_reader,
        connect(emulator, None, **group) as plain_reader,
    ):
        for socket in (writer, proto_reader, json_reader):
            await asyncio.wait_for(socket.recv(), 5)  # connected
        assert (await request(writer, **send_to_group("room", data, ack_id=1, no_echo=True))).success
        message = (await receive(proto_reader)).data_message
        assert (getattr(message, "from"), message.group, message.data) == ("group", "room", data)
        assert not message.HasField("sequence_id")
        envelope = json.loads(await asyncio.wait_for(json_reader.recv(), 5))
        assert envelope == {
            "type": "message",
            "from": "group",
            "group": "room",
            "fromUserId": "writer",
            "dataType": json_type,
            "data": json_data,
        }
        raw = await asyncio.wait_for(plain_reader.recv(), 5)
        expected_raw = {
            "text": "héllo",
            "binary": b"\x00\xff",
            "json": '{"n":[1,2]}',
            "protobuf": packed("any").SerializeToString(),
        }
        assert raw == expected_raw[kind]  # byte for byte, as a binary frame for binary and Any payloads
        with pytest.raises(TimeoutError):  # noEcho: the writer got its ack, not its message
            await asyncio.wait_for(writer.recv(), 0.3)


async def test_any_payload_round_trips_between_protobuf_clients(emulator: Emulator) -> None:
    group = {"webpubsub.group": ["any"]}
    async with connect(emulator, role=BOTH_ROLES, **group) as writer, connect(emulator, **group) as reader:
        await receive(writer)
        await receive(reader)
        await send(writer, **send_to_group("any", MessageData(protobuf_data=packed("typed"))))
        received = (await receive(reader)).data_message.data.protobuf_data
        value = Value()
        assert received.Unpack(value) and value.string_value == "typed"
        assert received.type_url == "type.googleapis.com/google.protobuf.Value"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain", b"plain text", MessageData(text_data="plain text")),
        ("application/json", {"a": 1}, MessageData(json_data='{"a": 1}')),  # as the SDK serializes it
        ("application/octet-stream", b"\x01\x02", MessageData(binary_data=b"\x01\x02")),
    ],
)
async def test_server_messages_keep_their_type(
    emulator: Emulator, service: WebPubSubServiceClient, content_type: str, body: object, expected: MessageData
) -> None:
    async with connect(emulator, sub="srv") as socket:
        await receive(socket)
        await service.send_to_user("srv", body, content_type=content_type)
        message = (await receive(socket)).data_message
        assert (getattr(message, "from"), message.HasField("group"), message.data) == ("server", False, expected)


async def test_an_event_without_a_handler_is_an_internal_server_error_ack(emulator: Emulator) -> None:
    async with connect(emulator) as socket:
        await receive(socket)
        event = UpstreamMessage.EventMessage(event="hello", data=MessageData(text_data="x"), ack_id=3)
        ack = await request(socket, event_message=event)
        assert (ack.ack_id, ack.error.name) == (3, "InternalServerError")


async def test_an_event_reaches_the_handler_and_its_answer_comes_back() -> None:
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler, hub=HUB)) as emulator:
        async with connect(emulator, sub="ev") as socket:
            await receive(socket)
            event = UpstreamMessage.EventMessage(event="greet", data=MessageData(text_data="hi"), ack_id=1)
            ack = await request(socket, event_message=event)
            assert ack.success
            answer = (await receive(socket)).data_message  # the handler echoes the body back
            assert (getattr(answer, "from"), answer.data) == ("server", MessageData(text_data="hi"))
        received = handler.events("greet")[0]
        assert (received.body, received.headers["Content-Type"].split(";")[0]) == (b"hi", "text/plain")


async def test_a_connect_handler_may_choose_a_protobuf_protocol_and_its_events_say_so() -> None:
    """An event's ``Any`` reaches the handler as ``application/x-protobuf``, as the service sends it."""
    async with EventHandlerApp() as handler:
        default = handler.answer

        async def choose(received: Received) -> web.StreamResponse:
            if received.event == "connect":
                return web.json_response({"subprotocol": PROTOBUF_RELIABLE})
            if received.event == "typed":  # answered as bytes: the answer types are text, JSON and binary
                return web.Response(body=received.body, content_type="application/octet-stream")
            return await default(received)

        handler.answer = choose
        async with emulator_for(hub_settings(handler, hub=HUB)) as emulator:
            url = url_for(emulator, HUB, token_for(emulator, HUB, sub="picked"))
            async with websockets.connect(url, subprotocols=[JSON_PROTOCOL, PROTOBUF_RELIABLE]) as socket:
                assert socket.subprotocol == PROTOBUF_RELIABLE
                hello = (await receive(socket)).system_message.connected_message
                assert hello.reconnection_token
                payload = MessageData(protobuf_data=packed("to the handler"))
                any_bytes = payload.protobuf_data.SerializeToString()
                event = UpstreamMessage.EventMessage(event="typed", data=payload, ack_id=1)
                assert (await request(socket, event_message=event)).success
                answer = (await receive(socket)).data_message  # answered as octet-stream: binary data
                assert (answer.sequence_id, answer.data.binary_data) == (1, any_bytes)
        received = handler.events("typed")[0]
        assert received.headers["ce-subprotocol"] == PROTOBUF_RELIABLE
        assert received.headers["Content-Type"] == "application/x-protobuf"
        assert received.body == any_bytes


# -- reliable: sequence ids, acks and recovery -----------------------------------------------------


async def test_reliable_messages_are_numbered_and_unacked_ones_replayed_after_recovery(
    emulator: Emulator, service: WebPubSubServiceClient
) -> None:
    async with connect(emulator, PROTOBUF_RELIABLE, **{"webpubsub.group": ["g"]}) as socket:
        hello = await receive(socket)
        for text in ("one", "two", "three"):
            await service.send_to_group("g", text, content_type="text/plain")
        numbered = [(await receive(socket)).data_message for _ in range(3)]
        assert [(m.sequence_id, m.data.text_data) for m in numbered] == [(1, "one"), (2, "two"), (3, "three")]
        await send(socket, sequence_ack_message=UpstreamMessage.SequenceAckMessage(sequence_id=2))
        await asyncio.sleep(0.1)  # the ack travels before the socket drops (ordering, not timing)
        assert emulator.drop_connection(hello.system_message.connected_message.connection_id)
    async with recover(emulator, hello) as again:
        replayed = (await receive(again)).data_message
        assert (replayed.sequence_id, replayed.data.text_data) == (3, "three")
        await service.send_to_group("g", "four", content_type="text/plain")
        assert (await receive(again)).data_message.sequence_id == 4


@pytest.mark.parametrize(("code", "recoverable"), [(1000, False), (1001, True)])
async def test_only_close_code_1000_ends_a_reliable_connection(
    emulator: Emulator, service: WebPubSubServiceClient, code: int, recoverable: bool
) -> None:
    async with connect(emulator, PROTOBUF_RELIABLE, **{"webpubsub.group": ["g"]}) as socket:
        hello = await receive(socket)
        await socket.close(code=code)
    connection_id = hello.system_message.connected_message.connection_id
    hub = emulator.service.hub(HUB)
    for _ in range(500):  # until the emulator has seen the close (not a timing assertion)
        connection = hub.connections.get(connection_id)
        if connection is None or not connection.attached:
            break
        await asyncio.sleep(0.02)
    await service.send_to_group("g", "while away", content_type="text/plain")
    async with recover(emulator, hello) as again:
        if recoverable:
            assert (await receive(again)).data_message.data.text_data == "while away"
        else:
            assert await closed_with(again) == 1008


async def test_too_many_unacked_messages_end_the_connection_for_good(
    emulator: Emulator, service: WebPubSubServiceClient
) -> None:
    async with connect(emulator, PROTOBUF_RELIABLE, **{"webpubsub.group": ["big"]}) as socket:
        hello = await receive(socket)
        reader = asyncio.ensure_future(closed_with(socket))
        for _ in range(300):  # 300 x 60 KB: 18 MB, over the 16 MB unacked limit
            await service.send_to_group("big", "x" * 60_000, content_type="text/plain")
            if reader.done():
                break
        assert await reader == 1008
        assert socket.close_reason == "Too many unacknowledged messages."
    async with recover(emulator, hello) as again:
        assert await closed_with(again) == 1008


# -- closes and limits -----------------------------------------------------------------------------


async def test_a_closed_connection_is_told_why_first(emulator: Emulator, service: WebPubSubServiceClient) -> None:
    async with connect(emulator) as socket:
        connection_id = (await receive(socket)).system_message.connected_message.connection_id
        await service.close_connection(connection_id, reason="bye now")
        goodbye = (await receive(socket)).system_message.disconnected_message
        assert goodbye.reason == "bye now"
        assert await closed_with(socket) == 1000


def _upstream(**kind: Any) -> bytes:
    return UpstreamMessage(**kind).SerializeToString()


MALFORMED = {
    "not protobuf": b"\xff\xff\xff",
    "no message": b"",
    "unsupported invoke": _upstream(invoke_event_message=UpstreamMessage.InvokeEventMessage(event="e")),
    "empty group": _upstream(**join("")),
    "group with a line break": _upstream(**join("a\nb")),
    "send without data": _upstream(send_to_group_message=UpstreamMessage.SendToGroupMessage(group="g")),
    "json data that is not JSON": _upstream(**send_to_group("g", MessageData(json_data="NaN"))),
    "empty message data": _upstream(**send_to_group("g", MessageData())),
    "event without a name": _upstream(event_message=UpstreamMessage.EventMessage(event="")),
    # send_to_group_message {group: "g", data {text_data: C3 28}}: a string that is not UTF-8
    "text that is not UTF-8": b"\x0a\x09" + b"\x0a\x01g" + b"\x1a\x04" + b"\x0a\x02\xc3\x28",
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_frames_decline_the_client_with_1007(emulator: Emulator, case: str) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        await socket.send(MALFORMED[case])
        assert await closed_with(socket) == 1007


async def test_a_text_frame_closes_with_1003(emulator: Emulator) -> None:
    async with connect(emulator) as socket:
        await receive(socket)
        await socket.send('{"type":"ping"}')
        assert await closed_with(socket) == 1003


async def test_frames_over_1_mib_are_refused(emulator: Emulator) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        frame = _upstream(**send_to_group("g", MessageData(binary_data=b"x" * (1024 * 1024))))
        await socket.send(frame)
        assert await closed_with(socket) == 1009


async def test_groups_per_connection_are_capped(emulator: Emulator) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        for index in range(MAX_GROUPS_PER_CONNECTION):
            await send(socket, **join(f"g{index}"))
        ack = await request(socket, **join("one too many", ack_id=1))
        assert (ack.success, ack.error.name) == (False, "BadRequest")


async def test_the_protobuf_protocol_is_echoed_as_offered_and_preferred_after_json(emulator: Emulator) -> None:
    async with connect(emulator, "Protobuf.WebPubSub.Azure.V1") as socket:
        assert socket.subprotocol == "Protobuf.WebPubSub.Azure.V1"
        assert (await receive(socket)).system_message.connected_message.connection_id
    url = url_for(emulator, HUB, token_for(emulator, HUB))
    async with websockets.connect(url, subprotocols=[PROTOBUF, JSON_PROTOCOL], open_timeout=5) as socket:
        assert socket.subprotocol == PROTOBUF  # the first one offered that the emulator speaks
