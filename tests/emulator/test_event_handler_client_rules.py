"""Event handlers under the client-protocol rules: acks, recovery, close codes, keep-alive, 1007
declines, the group cap and wildcard roles, each with a real HTTP handler on loopback.

The ``disconnected`` checks lean on two properties of the emulator: a connection's events go out
in order, and ``disconnected`` is sent at most once. So a ``disconnected`` fired too early (at a
drop that is later recovered) would be the one the handler sees, with the wrong reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from aiohttp import web
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncServiceClient

from emulator import Emulator
from emulator.hub_settings import parse_hub_settings
from emulator.model import MAX_GROUPS_PER_CONNECTION, NOT_RECOVERED, RECOVERY_SECONDS
from tests.emulator.event_handler import (
    JSON_PROTOCOL,
    EventHandlerApp,
    Received,
    client_url,
    emulator_for,
    handshake_status,
    hub_settings,
    json_client,
    receive_json,
)

RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"


@pytest.fixture
async def handler() -> AsyncIterator[EventHandlerApp]:
    async with EventHandlerApp() as app:
        yield app


def reasons(handler: EventHandlerApp) -> list[str]:
    return [json.loads(r.body)["reason"] for r in handler.events("disconnected")]


def lifecycle(handler: EventHandlerApp) -> list[str | None]:
    return [r.event for r in handler.events() if r.event in ("connect", "connected", "disconnected")]


async def reliable_client(emulator: Emulator) -> tuple[websockets.ClientConnection, dict[str, Any]]:
    ws = await websockets.connect(
        client_url(emulator, user_id="alice"),
        subprotocols=[RELIABLE_PROTOCOL],  # type: ignore[list-item]
        open_timeout=10,
    )
    return ws, await receive_json(ws)


def recovery_url(emulator: Emulator, hello: dict[str, Any]) -> str:
    query = f"awps_connection_id={hello['connectionId']}&awps_reconnection_token={hello['reconnectionToken']}"
    return f"ws://localhost:{emulator.port}/client/hubs/chat?{query}"


def recover(emulator: Emulator, hello: dict[str, Any]) -> Any:
    return websockets.connect(recovery_url(emulator, hello), subprotocols=[RELIABLE_PROTOCOL], open_timeout=10)  # type: ignore[list-item]


async def detached(emulator: Emulator, connection_id: str) -> None:
    """Wait until the emulator has seen the socket go and keeps the connection for recovery."""
    connection = emulator.service.hub("chat").connections[connection_id]
    async with asyncio.timeout(10):
        while connection.attached:
            await asyncio.sleep(0.02)


# -- acks -------------------------------------------------------------------------------------------


async def test_an_event_the_handler_fails_keeps_its_ack_id_and_one_it_answers_uses_it_up(
    handler: EventHandlerApp,
) -> None:
    calls = 0

    async def fails_once(received: Received) -> web.StreamResponse:
        nonlocal calls
        if received.event != "flaky":
            return web.Response(status=204 if received.event == "connect" else 200)
        calls += 1
        if calls == 1:
            return web.Response(status=400)  # an answer, not retried (a 503 would be)
        return web.Response(text=f"call {calls}")

    handler.answer = fails_once
    async with emulator_for(hub_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice"))
        request = json.dumps({"type": "event", "event": "flaky", "ackId": 7, "dataType": "text", "data": "x"})
        await ws.send(request)
        failed = await receive_json(ws)
        assert (failed["ackId"], failed["success"], failed["error"]["name"]) == (7, False, "InternalServerError")
        await ws.send(request)  # the resend runs: the failure did not use the ackId up
        assert await receive_json(ws) == {"type": "ack", "ackId": 7, "success": True}
        assert await receive_json(ws) == {"type": "message", "from": "server", "dataType": "text", "data": "call 2"}
        await ws.send(request)  # now it is used up: a duplicate, and the handler is not called again
        duplicate = await receive_json(ws)
        assert (duplicate["ackId"], duplicate["error"]["name"]) == (7, "Duplicate")
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert calls == 2


# -- recovery and close codes vs connected / disconnected ---------------------------------------------


async def test_a_recovered_connection_sends_connected_and_disconnected_once(handler: EventHandlerApp) -> None:
    async with emulator_for(hub_settings(handler)) as emulator:
        ws, hello = await reliable_client(emulator)
        connection_id = hello["connectionId"]
        await ws.close(code=1001)  # going away: recoverable
        await detached(emulator, connection_id)
        ws = await recover(emulator, hello)
        emulator.drop_connection(connection_id)  # the network fails: recoverable again
        await detached(emulator, connection_id)
        # a recovery while the old socket is still open takes the connection over
        async with recover(emulator, hello) as old, recover(emulator, hello) as new:
            await asyncio.wait_for(old.wait_closed(), 10)
            await new.send(json.dumps({"type": "event", "event": "still-here", "dataType": "text", "data": "x"}))
            await handler.wait_for(lambda: len(handler.events("still-here")) == 1)
            await new.close(code=1000)
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert lifecycle(handler) == ["connect", "connected", "disconnected"]
    assert reasons(handler) == ["The client closed the connection."]
    assert {r.headers["ce-connectionId"] for r in handler.events()} == {connection_id}


async def test_a_reliable_connection_closed_1001_is_disconnected_when_its_window_expires(
    handler: EventHandlerApp,
) -> None:
    async with emulator_for(hub_settings(handler)) as emulator:
        ws, hello = await reliable_client(emulator)
        await ws.close(code=1001)
        await detached(emulator, hello["connectionId"])
        # What the janitor runs every few seconds, at a moment past the 30 s window.
        emulator.service.expire_detached(time.monotonic() + RECOVERY_SECONDS + 1)
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert reasons(handler) == [NOT_RECOVERED]  # not "lost" at the close, then nothing
        assert await handshake_status(recovery_url(emulator, hello)) == 101  # accepted, then closed 1008
    assert lifecycle(handler) == ["connect", "connected", "disconnected"]


async def test_closing_a_connection_that_waits_for_recovery_sends_disconnected_with_the_reason(
    handler: EventHandlerApp,
) -> None:
    async with emulator_for(hub_settings(handler)) as emulator:
        ws, hello = await reliable_client(emulator)
        emulator.drop_connection(hello["connectionId"])
        await detached(emulator, hello["connectionId"])
        async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
            await service.close_connection(hello["connectionId"], reason="kicked")
            assert not await service.connection_exists(hello["connectionId"])
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert reasons(handler) == ["kicked"]
        async with recover(emulator, hello) as again:
            await asyncio.wait_for(again.wait_closed(), 10)
            assert again.close_code == 1008  # closed by REST: not recoverable
        await ws.close()


async def test_a_socket_that_misses_keep_alives_is_disconnected_as_lost(handler: EventHandlerApp) -> None:
    emulator = Emulator(port=0, hub_settings=parse_hub_settings(hub_settings(handler)), keepalive_seconds=0.3)
    async with emulator:
        url = client_url(emulator, user_id="alice")
        path = url.split(f":{emulator.port}", 1)[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: localhost:{emulator.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {JSON_PROTOCOL}\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        # The client never answers a ping, as a peer behind a dead link would not.
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert reasons(handler) == ["The connection was lost."]
        writer.close()


# -- 1007 declines ---------------------------------------------------------------------------------


async def test_a_malformed_event_request_declines_the_client_and_never_reaches_the_handler(
    handler: EventHandlerApp,
) -> None:
    async with emulator_for(hub_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(
            json.dumps({"type": "event", "event": "e", "dataType": "binary", "data": "not base64!", "ackId": 1})
        )
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1007
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert handler.events("e") == []
        assert reasons(handler) == [ws.close_reason]


# -- what the connect handler may set -------------------------------------------------------------------


async def test_connect_groups_obey_the_per_connection_cap(handler: EventHandlerApp) -> None:
    count = MAX_GROUPS_PER_CONNECTION

    async def groups(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.json_response({"groups": [f"g{i}" for i in range(count)]})
        return web.Response(status=200)

    handler.answer = groups
    async with emulator_for(hub_settings(handler)) as emulator:
        hub = emulator.service.hub("chat")
        assert await handshake_status(client_url(emulator, user_id="alice", groups=["token-group"])) == 500
        assert hub.connections == {} and hub.groups == {}  # refused before anything was registered
        assert handler.events("connected") == []
        ws = await json_client(client_url(emulator, user_id="alice"))
        (connection,) = hub.connections.values()
        assert len(connection.groups) == MAX_GROUPS_PER_CONNECTION
        await ws.close()


async def test_wildcard_roles_from_connect_grant_by_pattern(handler: EventHandlerApp) -> None:
    async def roles(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.json_response({"roles": ["webpubsub.joinLeaveGroups.room.*"]})
        return web.Response(status=200)

    handler.answer = roles
    async with emulator_for(hub_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "joinGroup", "group": "room.a", "ackId": 1}))
        assert await receive_json(ws) == {"type": "ack", "ackId": 1, "success": True}
        await ws.send(json.dumps({"type": "joinGroup", "group": "room.a.b", "ackId": 2}))
        assert (await receive_json(ws))["error"]["name"] == "Forbidden"  # `*` stops at a dot
        await ws.close()


async def test_the_handler_may_pick_the_plain_json_protocol_over_the_reliable_one(handler: EventHandlerApp) -> None:
    async def pick(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.json_response({"subprotocol": JSON_PROTOCOL})
        return web.Response(status=200)

    handler.answer = pick
    async with emulator_for(hub_settings(handler)) as emulator:
        async with websockets.connect(
            client_url(emulator, user_id="alice"),
            subprotocols=[RELIABLE_PROTOCOL, JSON_PROTOCOL],  # type: ignore[list-item]
            open_timeout=10,
        ) as ws:
            assert ws.subprotocol == JSON_PROTOCOL
            hello = await receive_json(ws)
            assert "reconnectionToken" not in hello
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert handler.events("connected")[0].headers["ce-subprotocol"] == JSON_PROTOCOL
