"""The client endpoint over real sockets: handshake, token attacks and both client protocols."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from emulator import DEFAULT_ACCESS_KEY, Emulator
from tests.emulator.websocket_clients import JSON_PROTOCOL, RELIABLE_PROTOCOL, handshake_status, token_for, url_for


def _alg_none(emulator: Emulator, hub: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = json.dumps({"aud": f"{emulator.endpoint}/client/hubs/{hub}", "exp": int(time.time()) + 3600}).encode()
    return f"{header}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}."


def _tampered(emulator: Emulator, hub: str) -> str:
    header, _, signature = token_for(emulator, hub, sub="alice").split(".")
    forged = json.dumps(
        {"aud": f"{emulator.endpoint}/client/hubs/{hub}", "exp": int(time.time()) + 3600, "sub": "admin"}
    )
    return f"{header}.{base64.urlsafe_b64encode(forged.encode()).rstrip(b'=').decode()}.{signature}"


ATTACKS = {
    "missing": lambda e, h: "",
    "expired": lambda e, h: token_for(e, h, exp=datetime.now(tz=UTC) - timedelta(minutes=10)),
    "no exp": lambda e, h: token_for(e, h, exp=None),
    "not yet valid": lambda e, h: token_for(e, h, nbf=datetime.now(tz=UTC) + timedelta(minutes=10)),
    "wrong key": lambda e, h: token_for(e, h, key="X" * 44),
    "other hub": lambda e, h: token_for(e, h, aud=f"{e.endpoint}/client/hubs/other"),
    "other host": lambda e, h: token_for(e, h, aud=f"http://evil.example:{e.port}/client/hubs/{h}"),
    "no audience": lambda e, h: token_for(e, h, aud=None),
    "alg none": _alg_none,
    "tampered": _tampered,
    "64 KB": lambda e, h: token_for(e, h, padding="x" * 64 * 1024),
    "garbage": lambda e, h: "not.a.token",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_bad_tokens_get_401_at_the_handshake(emulator: Emulator, attack: str) -> None:
    token = ATTACKS[attack](emulator, "chat")
    assert await handshake_status(url_for(emulator, "chat", token)) == 401


async def test_token_in_authorization_header_and_client_query_form(emulator: Emulator) -> None:
    token = token_for(emulator, "Chat", sub="hdr")
    url = f"ws://localhost:{emulator.port}/client/?hub=chat"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, subprotocols=[JSON_PROTOCOL]
    ) as socket:
        assert socket.subprotocol == JSON_PROTOCOL
        assert json.loads(await socket.recv())["userId"] == "hdr"


@pytest.mark.parametrize("audience_scheme", ["https", "wss", "http"])
async def test_audience_scheme_is_ignored(emulator: Emulator, audience_scheme: str) -> None:
    token = token_for(emulator, "chat", aud=f"{audience_scheme}://localhost:{emulator.port}/client/hubs/CHAT")
    assert await handshake_status(url_for(emulator, "chat", token)) == 101


async def test_bad_hubs_are_refused(emulator: Emulator) -> None:
    token = token_for(emulator, "chat")
    assert await handshake_status(url_for(emulator, "9bad", token)) == 400


async def test_first_supported_subprotocol_is_chosen(emulator: Emulator) -> None:
    token = token_for(emulator, "chat")
    async with websockets.connect(
        url_for(emulator, "chat", token), subprotocols=["custom", RELIABLE_PROTOCOL, JSON_PROTOCOL]
    ) as socket:
        assert socket.subprotocol == RELIABLE_PROTOCOL
        connected = json.loads(await socket.recv())
        assert connected["reconnectionToken"]


async def test_plain_client_frames_keep_their_type(emulator: Emulator) -> None:
    token = token_for(emulator, "chat")
    async with (
        websockets.connect(url_for(emulator, "chat", token)) as plain,
        aiohttp.ClientSession() as http,
    ):
        await asyncio.sleep(0.05)
        rest_token = jwt.encode(
            {"aud": f"http://localhost:{emulator.port}/api/hubs/chat/:send", "exp": int(time.time()) + 60},
            DEFAULT_ACCESS_KEY,
            algorithm="HS256",
        )
        for body, content_type, expected in (
            (b"text", "text/plain", "text"),
            (b'{"j": 1}', "application/json", '{"j": 1}'),
            (b"\xff\x00", "application/octet-stream", b"\xff\x00"),
        ):
            async with http.post(
                f"http://localhost:{emulator.port}/api/hubs/chat/:send",
                data=body,
                headers={"Authorization": f"Bearer {rest_token}", "Content-Type": content_type},
            ) as response:
                assert response.status == 202
            assert await asyncio.wait_for(plain.recv(), 5) == expected


async def test_plain_client_sending_without_an_event_handler_is_closed_1011(emulator: Emulator) -> None:
    async with websockets.connect(url_for(emulator, "chat", token_for(emulator, "chat"))) as plain:
        await plain.send("hello?")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(plain.recv(), 5)
        assert plain.close_code == 1011


@pytest.mark.parametrize(("frame", "code"), [("{oops", 1007), (b"\x00binary", 1003)])
async def test_json_protocol_violations_close_the_socket(emulator: Emulator, frame: str | bytes, code: int) -> None:
    async with websockets.connect(
        url_for(emulator, "chat", token_for(emulator, "chat")), subprotocols=[JSON_PROTOCOL]
    ) as socket:
        await socket.recv()
        await socket.send(frame)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(socket.recv(), 5)
        assert socket.close_code == code


async def test_frames_over_1_mib_are_refused(emulator: Emulator) -> None:
    token = token_for(emulator, "chat", role=["webpubsub.sendToGroup"])
    async with websockets.connect(
        url_for(emulator, "chat", token), subprotocols=[JSON_PROTOCOL], max_size=None
    ) as socket:
        await socket.recv()
        await socket.send(
            json.dumps({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x" * (1024 * 1024)})
        )
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 5)
        assert socket.close_code == 1009


async def test_group_claims_roles_and_acks_over_sockets(emulator: Emulator) -> None:
    writer_token = token_for(
        emulator, "chat", sub="writer", role=["webpubsub.sendToGroup.room", "webpubsub.joinLeaveGroup.room"]
    )
    reader_token = token_for(emulator, "chat", sub="reader", **{"webpubsub.group": ["room"]})
    async with (
        websockets.connect(url_for(emulator, "chat", writer_token), subprotocols=[JSON_PROTOCOL]) as writer,
        websockets.connect(url_for(emulator, "chat", reader_token), subprotocols=[JSON_PROTOCOL]) as reader,
    ):
        await writer.recv()
        await reader.recv()
        await writer.send(
            json.dumps({"type": "sendToGroup", "group": "room", "ackId": 1, "dataType": "text", "data": "hi"})
        )
        assert json.loads(await writer.recv()) == {"type": "ack", "ackId": 1, "success": True}
        message = json.loads(await reader.recv())
        assert message == {
            "type": "message",
            "from": "group",
            "group": "room",
            "fromUserId": "writer",
            "dataType": "text",
            "data": "hi",
        }
        await reader.send(json.dumps({"type": "sendToGroup", "group": "room", "ackId": 9, "data": "no"}))
        assert json.loads(await reader.recv())["error"]["name"] == "Forbidden"
        await reader.send(json.dumps({"type": "ping"}))
        assert json.loads(await reader.recv()) == {"type": "pong"}
