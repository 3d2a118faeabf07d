"""Event handler retries: after 1, 3 and 5 s (shortened here) on 408, 5xx and network errors, at
most four attempts, the same request each time, never delaying another connection's events."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter

import pytest
from aiohttp import web

from emulator.__main__ import parse_args
from emulator.events import DEFAULT_RETRY_DELAYS
from tests.emulator.event_handler import (
    FAST_RETRIES,
    Answer,
    EventHandlerApp,
    Received,
    client_url,
    echo_upper,
    emulator_for,
    handshake_status,
    hub_settings,
    json_client,
    receive_json,
)


def failing(times: int, status: int, event: str | None = "echo") -> Answer:
    """A handler that answers ``status`` to the first ``times`` attempts of each ``event`` (each
    event when None) of each connection, and everything else as :func:`echo_upper` does."""
    attempts: Counter[str] = Counter()

    async def answer(received: Received) -> web.StreamResponse:
        key = f"{received.event}/{received.headers['ce-connectionId']}"
        if event is None or received.event == event:
            attempts[key] += 1
            if attempts[key] <= times:
                return web.Response(status=status)
        return await echo_upper(received)

    return answer


def test_the_default_delays_are_1_3_and_5_seconds() -> None:
    assert DEFAULT_RETRY_DELAYS == (1.0, 3.0, 5.0)
    assert parse_args([]).retry_delays == (1.0, 3.0, 5.0)
    assert parse_args(["--event-handler-retry-delays", "0.1,0.2"]).retry_delays == (0.1, 0.2)
    assert parse_args(["--event-handler-retry-delays", ""]).retry_delays == ()


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_a_user_event_answered_408_or_5xx_is_retried_until_it_succeeds(status: int) -> None:
    answer = failing(3, status)
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = answer
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "event", "event": "echo", "ackId": 1, "dataType": "text", "data": "hi"}))
        assert await receive_json(ws) == {"type": "ack", "ackId": 1, "success": True}
        assert (await receive_json(ws))["data"] == "HI"
        tries = handler.events("echo")
        assert len(tries) == 4  # three failures, then the fourth and last attempt
        assert len({(r.headers["ce-id"], r.body) for r in tries}) == 1  # the same event each time
        await ws.close()


async def test_four_failed_attempts_fail_the_event_with_the_delays_between_them() -> None:
    answer = failing(99, 503)
    delays = (0.1, 0.2, 0.3)
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), retry_delays=delays) as emulator:
        handler.answer = answer
        times: list[float] = []
        original = handler.answer

        async def timed(received: Received) -> web.StreamResponse:
            times.append(asyncio.get_running_loop().time())
            return await original(received)

        ws = await json_client(client_url(emulator, user_id="alice"))
        handler.answer = timed
        await ws.send(json.dumps({"type": "event", "event": "echo", "ackId": 1, "dataType": "text", "data": "x"}))
        ack = await receive_json(ws)
        assert ack["success"] is False and "503" in ack["error"]["message"]
        assert len(handler.events("echo")) == 4
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= delay for gap, delay in zip(gaps, delays, strict=True))  # at least, never sooner
        await ws.close()


@pytest.mark.parametrize("status", [400, 401, 404, 413])
async def test_other_answers_are_not_retried(status: int) -> None:
    answer = failing(1, status)
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = answer
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "event", "event": "echo", "ackId": 1, "dataType": "text", "data": "x"}))
        assert (await receive_json(ws))["success"] is False
        assert len(handler.events("echo")) == 1
        await ws.close()


async def test_a_network_error_is_retried() -> None:
    """The first two connections are cut before any answer (a handler restarting), then it answers."""
    async with EventHandlerApp() as handler:
        cuts = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal cuts
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"OPTIONS"):
                writer.write(b"HTTP/1.1 200 OK\r\nWebHook-Allowed-Origin: *\r\nContent-Length: 0\r\n\r\n")
            elif cuts < 2:
                cuts += 1
                writer.transport.abort()
                return
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = hub_settings(handler)
        entry = {"urlTemplate": f"http://127.0.0.1:{port}/{{event}}", "userEventPattern": "flaky"}
        settings["hubs"]["chat"]["eventHandlers"].insert(0, entry)
        try:
            async with emulator_for(settings) as emulator:
                ws = await json_client(client_url(emulator, user_id="alice"))
                await ws.send(json.dumps({"type": "event", "event": "flaky", "ackId": 1, "dataType": "text"}))
                assert await receive_json(ws) == {"type": "ack", "ackId": 1, "success": True}
                assert (await receive_json(ws))["data"] == "ok"
                assert cuts == 2
                await ws.close()
        finally:
            server.close()


async def test_connect_connected_and_disconnected_are_retried_too() -> None:
    answer = failing(1, 500, event=None)
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = answer
        assert await handshake_status(client_url(emulator, user_id="alice")) == 101  # connect: 500, then 204
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 2)
    assert [r.event for r in handler.events()] == ["connect"] * 2 + ["connected"] * 2 + ["disconnected"] * 2


async def test_a_retrying_event_never_delays_another_connections_events() -> None:
    """Alice's event fails and waits a long second per retry; Bob's, sent after it, is answered at once."""
    answer = failing(99, 503)
    async with (
        EventHandlerApp() as handler,
        emulator_for(hub_settings(handler), retry_delays=(5.0, 5.0, 5.0)) as emulator,
    ):
        alice = await json_client(client_url(emulator, user_id="alice"))
        bob = await json_client(client_url(emulator, user_id="bob"))

        async def only_alice_fails(received: Received) -> web.StreamResponse:
            if received.event == "echo" and received.headers.get("ce-userId") == "alice":
                return await answer(received)
            return await echo_upper(received)

        handler.answer = only_alice_fails
        await alice.send(json.dumps({"type": "event", "event": "echo", "ackId": 1, "dataType": "text", "data": "a"}))
        await handler.wait_for(lambda: len(handler.events("echo")) == 1)  # alice's first attempt failed
        await bob.send(json.dumps({"type": "event", "event": "echo", "ackId": 1, "dataType": "text", "data": "b"}))
        assert await receive_json(bob) == {"type": "ack", "ackId": 1, "success": True}
        assert (await receive_json(bob))["data"] == "B"
        assert [r.headers["ce-userId"] for r in handler.events("echo")] == ["alice", "bob"]  # alice still waits
        await alice.close()
        await bob.close()


def test_fast_retries_are_what_the_other_tests_use() -> None:
    assert len(FAST_RETRIES) == 3 and max(FAST_RETRIES) < 0.1
