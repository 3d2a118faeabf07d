"""Client-protocol rules of the service that the emulator follows, over real sockets.

Acks, recovery, close codes, keep-alive, the unacked buffer, malformed requests, subprotocol
negotiation, plain clients in ``sendToGroup`` mode and hostile text: each test drives the
emulator as a client would and checks what comes back on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from azure.core.exceptions import HttpResponseError
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from emulator import Emulator
from emulator.model import MAX_GROUPS_PER_CONNECTION
from tests.emulator.websocket_clients import JSON_PROTOCOL, RELIABLE_PROTOCOL, handshake_status, token_for, url_for

HUB = "rules"
BOTH_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


@pytest.fixture
async def service(emulator: Emulator) -> AsyncIterator[WebPubSubServiceClient]:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB) as client:
        yield client


def connect(emulator: Emulator, protocol: str | None = JSON_PROTOCOL, query: str = "", **claims: Any) -> Any:
    url = url_for(emulator, HUB, token_for(emulator, HUB, **claims)) + query
    return websockets.connect(url, subprotocols=[protocol] if protocol else None, max_size=None, open_timeout=5)


async def receive(socket: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def closed_with(socket: ClientConnection) -> int | None:
    """Read until the emulator closes the socket; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    return socket.close_code


async def request(socket: ClientConnection, **payload: Any) -> Any:
    await socket.send(json.dumps(payload))
    return await receive(socket)


async def until(condition: Any, timeout: float = 10) -> bool:
    """Poll a condition (not a timing assertion: the bound only stops a hung test)."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


# -- 1. acks ----------------------------------------------------------------------------------


async def test_a_failed_request_does_not_use_up_its_ack_id(emulator: Emulator, service: WebPubSubServiceClient) -> None:
    async with connect(emulator) as socket:
        connection_id = (await receive(socket))["connectionId"]
        denied = await request(socket, type="joinGroup", group="g", ackId=1)
        assert denied["error"]["name"] == "Forbidden"
        await service.grant_permission("joinLeaveGroup", connection_id, target_name="g")
        assert await request(socket, type="joinGroup", group="g", ackId=1) == {
            "type": "ack",
            "ackId": 1,
            "success": True,
        }
        assert await service.group_exists("g")
        again = await request(socket, type="joinGroup", group="g", ackId=1)
        assert again["error"]["name"] == "Duplicate"


# -- 2, 3. recovery and close codes ------------------------------------------------------------


async def test_recovery_takes_over_a_socket_the_emulator_still_holds(
    emulator: Emulator, service: WebPubSubServiceClient
) -> None:
    async with connect(emulator, RELIABLE_PROTOCOL, **{"webpubsub.group": ["g"]}) as old:
        hello = await receive(old)
        query = f"awps_connection_id={hello['connectionId']}&awps_reconnection_token={hello['reconnectionToken']}"
        recover_url = f"ws://localhost:{emulator.port}/client/hubs/{HUB}?{query}"
        async with websockets.connect(recover_url, subprotocols=[RELIABLE_PROTOCOL], open_timeout=5) as new:
            assert await closed_with(old) is not None  # the old socket is cut
            await service.send_to_group("g", "after takeover", content_type="text/plain")
            message = await receive(new)
            assert (message["data"], message["sequenceId"]) == ("after takeover", 1)
            assert await service.connection_exists(hello["connectionId"])


@pytest.mark.parametrize(("code", "recoverable"), [(1000, False), (1001, True), (4000, True)])
async def test_only_close_code_1000_ends_a_reliable_connection(
    emulator: Emulator, service: WebPubSubServiceClient, code: int, recoverable: bool
) -> None:
    async with connect(emulator, RELIABLE_PROTOCOL, **{"webpubsub.group": ["g"]}) as socket:
        hello = await receive(socket)
        await socket.close(code=code)
    hub = emulator.service.hub(HUB)

    def seen_closed() -> bool:  # gone (1000) or detached, waiting for a recovery (the others)
        connection = hub.connections.get(hello["connectionId"])
        return connection is None or not connection.attached

    assert await until(seen_closed)  # the emulator saw the close before the recovery races it
    await service.send_to_group("g", "while away", content_type="text/plain")
    query = f"awps_connection_id={hello['connectionId']}&awps_reconnection_token={hello['reconnectionToken']}"
    url = f"ws://localhost:{emulator.port}/client/hubs/{HUB}?{query}"
    async with websockets.connect(url, subprotocols=[RELIABLE_PROTOCOL], open_timeout=5) as again:
        if recoverable:
            assert (await receive(again))["data"] == "while away"
        else:
            assert await closed_with(again) == 1008


# -- 4. keep-alive ------------------------------------------------------------------------------


async def test_keep_alive_pings_drop_a_half_open_socket() -> None:
    async with Emulator(port=0, keepalive_seconds=0.3) as emulator:
        token = token_for(emulator, HUB)
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(
            (
                f"GET /client/hubs/{HUB}?access_token={token} HTTP/1.1\r\nHost: localhost:{emulator.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        hub = emulator.service.hub(HUB)
        assert len(hub.connections) == 1
        # The client never answers a ping, as a peer behind a dead link would not.
        assert await until(lambda: not hub.connections)
        writer.close()


# -- 5. the unacked buffer ------------------------------------------------------------------------


async def test_sixteen_megabytes_unacked_closes_the_connection_for_good(
    emulator: Emulator, service: WebPubSubServiceClient
) -> None:
    async with connect(emulator, RELIABLE_PROTOCOL, **{"webpubsub.group": ["big"]}) as socket:
        hello = await receive(socket)
        # Read everything (so the socket never backs up) but never send a sequenceAck.
        reader = asyncio.ensure_future(closed_with(socket))
        for _ in range(300):  # 300 x 60 KB: 18 MB, well under 1,000 messages
            await service.send_to_group("big", "x" * 60_000, content_type="text/plain")
            if reader.done():
                break
        assert await reader == 1008
        assert socket.close_reason == "Too many unacknowledged messages."
    query = f"awps_connection_id={hello['connectionId']}&awps_reconnection_token={hello['reconnectionToken']}"
    url = f"ws://localhost:{emulator.port}/client/hubs/{HUB}?{query}"
    async with websockets.connect(url, subprotocols=[RELIABLE_PROTOCOL], open_timeout=5) as again:
        assert await closed_with(again) == 1008


# -- 6, 12. malformed requests ------------------------------------------------------------------

MALFORMED = {
    "unknown dataType": {"type": "sendToGroup", "group": "g", "dataType": "xml", "data": "x"},
    "text data not a string": {"type": "sendToGroup", "group": "g", "dataType": "text", "data": 5},
    "bad base64": {"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "***"},
    "empty group": {"type": "joinGroup", "group": ""},
    "group with a line break": {"type": "joinGroup", "group": "a\nb"},
    "group a lone surrogate": {"type": "joinGroup", "group": "\ud800"},
    "text a lone surrogate": {"type": "sendToGroup", "group": "g", "dataType": "text", "data": "\udfff"},
    "event without a name": {"type": "event", "event": ""},
}
RAW_MALFORMED = {
    "NaN": '{"type":"sendToGroup","group":"g","data":NaN}',
    "Infinity": '{"type":"sendToGroup","group":"g","data":[Infinity]}',
    "1e999": '{"type":"sendToGroup","group":"g","data":1e999}',
}


@pytest.mark.parametrize("case", [*MALFORMED, *RAW_MALFORMED])
async def test_malformed_requests_decline_the_client_with_1007(emulator: Emulator, case: str) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        text = RAW_MALFORMED.get(case) or json.dumps({**MALFORMED[case], "ackId": 1})
        await socket.send(text)
        assert await closed_with(socket) == 1007


async def test_type_is_case_insensitive_and_big_numbers_stay_json(emulator: Emulator) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        await receive(socket)
        assert (await request(socket, type="JOINGROUP", group="g", ackId=1))["success"] is True
        await socket.send('{"type":"SendToGroup","group":"g","data":{"n":1e300,"m":-0.5}}')
        message = await asyncio.wait_for(socket.recv(), 5)
        assert json.loads(message)["data"] == {"n": 1e300, "m": -0.5}  # json.loads fails on Infinity/NaN


# -- 7. subprotocols -------------------------------------------------------------------------------


async def test_subprotocols_are_matched_case_insensitively(emulator: Emulator) -> None:
    async with connect(emulator, "JSON.WebPubSub.Azure.V1") as socket:
        assert socket.subprotocol == "JSON.WebPubSub.Azure.V1"
        assert (await receive(socket))["event"] == "connected"


@pytest.mark.parametrize("offered", ["protobuf.webpubsub.azure.v2", "custom.chat"])
async def test_unknown_subprotocols_make_a_plain_client(
    emulator: Emulator, service: WebPubSubServiceClient, offered: str
) -> None:
    async with connect(emulator, offered, **{"webpubsub.group": ["g"]}) as socket:
        assert socket.subprotocol is None
        await service.send_to_group("g", "raw", content_type="text/plain")
        assert await asyncio.wait_for(socket.recv(), 5) == "raw"  # no envelope, no connected message


# -- 9. plain clients in sendToGroup mode ---------------------------------------------------------


async def test_plain_client_in_send_to_group_mode_publishes_frames_as_they_are(emulator: Emulator) -> None:
    mode = "&webpubsub_mode=sendToGroup&group=room"
    async with (
        connect(emulator, None, mode, sub="poster", role=["webpubsub.sendToGroup.room"]) as poster,
        connect(emulator, None, **{"webpubsub.group": ["room"]}) as plain,
        connect(emulator, **{"webpubsub.group": ["room"]}) as typed,
    ):
        await receive(typed)
        await poster.send("hello")
        exactly_one_mib = bytes(range(256)) * 4096
        await poster.send(exactly_one_mib)
        assert await asyncio.wait_for(plain.recv(), 5) == "hello"
        assert await asyncio.wait_for(plain.recv(), 5) == exactly_one_mib
        first, second = await receive(typed), await receive(typed)
        assert (first["dataType"], first["data"], first["fromUserId"]) == ("text", "hello", "poster")
        assert (second["dataType"], base64.b64decode(second["data"])) == ("binary", exactly_one_mib)
        await poster.send(exactly_one_mib + b"!")
        assert await closed_with(poster) == 1009


async def test_send_to_group_mode_without_permission_closes_1008(emulator: Emulator) -> None:
    async with connect(emulator, None, "&webpubsub_mode=sendToGroup&group=room") as poster:
        await poster.send("nope")
        assert await closed_with(poster) == 1008


@pytest.mark.parametrize("query", ["&webpubsub_mode=sendToGroup", "&webpubsub_mode=dance&group=g"])
async def test_bad_plain_modes_are_refused(emulator: Emulator, query: str) -> None:
    url = url_for(emulator, HUB, token_for(emulator, HUB)) + query
    assert await handshake_status(url) == 400


# -- 12. bad input is never a ghost or a crash ---------------------------------------------------


async def test_a_user_id_that_cannot_be_sent_is_refused_and_leaves_no_ghost(emulator: Emulator) -> None:
    url = url_for(emulator, HUB, token_for(emulator, HUB, sub="\ud800"))
    assert await handshake_status(url, subprotocols=[JSON_PROTOCOL]) == 400
    hub = emulator.service.hub(HUB)
    assert not hub.connections and not hub.users


async def test_a_reconnection_token_with_a_lone_surrogate_is_a_failed_recovery(emulator: Emulator) -> None:
    async with connect(emulator, RELIABLE_PROTOCOL) as socket:
        hello = await receive(socket)
        query = f"awps_connection_id={hello['connectionId']}&awps_reconnection_token=%ED%A0%80%FF"
        url = f"ws://localhost:{emulator.port}/client/hubs/{HUB}?{query}"
        async with websockets.connect(url, subprotocols=[RELIABLE_PROTOCOL], open_timeout=5) as again:
            assert await closed_with(again) == 1008


async def test_groups_per_connection_are_capped(emulator: Emulator, service: WebPubSubServiceClient) -> None:
    async with connect(emulator, role=BOTH_ROLES) as socket:
        connection_id = (await receive(socket))["connectionId"]
        for index in range(MAX_GROUPS_PER_CONNECTION):
            await socket.send(json.dumps({"type": "joinGroup", "group": f"g{index}"}))
        refused = await request(socket, type="joinGroup", group="one too many", ackId=1)
        assert refused["error"]["name"] == "BadRequest"
        with pytest.raises(HttpResponseError) as raised:
            await service.add_connection_to_group("another", connection_id)
        assert raised.value.status_code == 400
        assert len(emulator.service.hub(HUB).connections[connection_id].groups) == MAX_GROUPS_PER_CONNECTION


async def test_close_reasons_are_cut_on_a_character_boundary(
    emulator: Emulator, service: WebPubSubServiceClient
) -> None:
    async with connect(emulator) as socket:
        connection_id = (await receive(socket))["connectionId"]
        await service.close_connection(connection_id, reason="é" * 100)
        assert await closed_with(socket) == 1000
        assert socket.close_reason == "é" * 61  # 122 bytes; 123 would split a character


@pytest.mark.parametrize(
    "odata", ["userId gt 1", "tolower(1) eq 'a'", "startswith(groups,'a')", "1 in userId", "userId eq 1"]
)
async def test_filters_with_mismatched_types_are_400(service: WebPubSubServiceClient, odata: str) -> None:
    with pytest.raises(HttpResponseError) as raised:
        await service.send_to_all("x", content_type="text/plain", filter=odata)
    assert raised.value.status_code == 400


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b'{"n": 1e999}'])
async def test_rest_json_that_is_not_json_is_400(service: WebPubSubServiceClient, body: bytes) -> None:
    with pytest.raises(HttpResponseError) as raised:
        await service.send_to_all(io.BytesIO(body), content_type="application/json")
    assert raised.value.status_code == 400
