"""Hostile input on the upstream path: clients that attack the handler through the emulator, and
handlers that answer badly. Nothing may crash the emulator, reach another URL, or inject headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import Emulator
from emulator.__main__ import parse_args
from emulator.events import HANDLER_CONCURRENCY, MAX_HELD_BYTES, MAX_PENDING_BYTES, MAX_PENDING_EVENTS
from emulator.hub_settings import HubSettingsError, load_hub_settings, parse_hub_settings
from tests.emulator.event_handler import (
    JSON_PROTOCOL,
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

EVENT_NAMES = [
    "../../admin",
    "a/b",
    "%2e%2e%2fadmin",
    "?code=stolen#",
    "x" * 4096,
    "événement",
    "a\r\nX-Injected: 1",
    "tab\there",
    "nul\x00byte",
    "\ud800",
    "next\x85line",  # C1: U+0085 is a line break to some header readers
    "\x9b",
    ".",
    "..",
]


async def test_hostile_event_names_stay_in_their_path_segment_and_inject_no_header(figures: dict[str, Any]) -> None:
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = echo_upper
        ws = await json_client(client_url(emulator, user_id="alice"))
        for ack_id, name in enumerate(EVENT_NAMES):
            await ws.send(
                json.dumps({"type": "event", "event": name, "ackId": ack_id, "dataType": "text", "data": "x"})
            )
        acks: dict[int, dict[str, Any]] = {}
        while len(acks) < len(EVENT_NAMES):
            reply = await receive_json(ws)
            if reply["type"] == "ack":
                acks[reply["ackId"]] = reply
        refused = {EVENT_NAMES[i] for i, ack in acks.items() if not ack["success"]}
        # control characters (C0 and C1), and the two names a URL client would resolve as dot segments
        assert refused == {
            "a\r\nX-Injected: 1",
            "tab\there",
            "nul\x00byte",
            "\ud800",
            "next\x85line",
            "\x9b",
            ".",
            "..",
        }
        for received in handler.events():
            if received.event in ("connect", "connected"):
                continue
            assert received.raw_path.startswith("/hubs/chat/events/")
            assert "/" not in received.raw_path.removeprefix("/hubs/chat/events/")
            assert "?" not in received.raw_path and "#" not in received.raw_path
            assert "X-Injected" not in received.headers
        await ws.close()
        async with aiohttp.ClientSession() as session, session.get(f"{emulator.endpoint}/api/health") as health:
            assert health.status == 200
        figures["upstream hostile event names"] = {
            "sent": len(EVENT_NAMES),
            "delivered": sum(1 for r in handler.events() if r.headers["ce-type"].startswith("azure.webpubsub.user.")),
            "refused with an error ack": sum(1 for a in acks.values() if not a["success"]),
        }


async def test_dot_segment_event_names_get_a_bad_request_ack_and_never_reach_the_parent_path() -> None:
    """Issue 19: ``..`` in ``/api/events/{event}?code=KEY`` was posted to ``/api/?code=KEY``."""
    async with EventHandlerApp() as handler:
        template = f"http://127.0.0.1:{handler.port}/api/events/{{event}}?code=KEY"
        entry = {"urlTemplate": template, "userEventPattern": "*", "systemEvents": ["connect", "connected"]}
        async with emulator_for({"hubs": {"chat": {"eventHandlers": [entry]}}}) as emulator:
            ws = await json_client(client_url(emulator, user_id="alice"))
            names = ["..", ".", "%2e%2e", ".%2E", "...", "ok"]
            for ack_id, name in enumerate(names):
                await ws.send(json.dumps({"type": "event", "event": name, "ackId": ack_id, "dataType": "text"}))
            acks = {}
            while len(acks) < len(names):
                reply = await receive_json(ws)
                if reply["type"] == "ack":
                    acks[names[reply["ackId"]]] = reply
            assert acks[".."]["error"]["name"] == acks["."]["error"]["name"] == "BadRequest"
            assert all(acks[name]["success"] for name in names[2:])
            await ws.close()
        posted = [r for r in handler.events() if r.event not in ("connect", "connected")]
        assert sorted(r.event for r in posted) == sorted(names[2:])
        assert all(r.path.startswith("/api/events/") and r.raw_path.count("/") == 3 for r in handler.received)


async def test_a_user_id_with_a_c1_control_character_never_reaches_a_ce_header() -> None:
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        assert await handshake_status(client_url(emulator, user_id="alice\x85bob")) == 500
        assert handler.events() == []  # connect was refused before it was sent


async def test_a_user_id_with_a_line_break_cannot_inject_headers_into_the_connect_event() -> None:
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        status = await handshake_status(client_url(emulator, user_id="alice\r\nX-Injected: 1"))
        assert status in (101, 500)
        assert all("X-Injected" not in r.headers for r in handler.received)


def hanging_on(event: str, release: asyncio.Event) -> Callable[[Received], Awaitable[web.StreamResponse]]:
    """A handler that holds every ``event`` until ``release`` is set and answers the rest at once."""

    async def answer(received: Received) -> web.StreamResponse:
        if received.event == event:
            await release.wait()
            return web.Response(status=204)
        return web.Response(status=204 if received.event == "connect" else 200)

    return answer


async def test_a_client_that_floods_events_gets_error_acks_past_the_bound() -> None:
    release = asyncio.Event()
    hang = hanging_on("flood", release)

    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), timeout=60) as emulator:
        handler.answer = hang
        ws = await json_client(client_url(emulator, user_id="alice"))
        sent = MAX_PENDING_EVENTS + 50
        for ack_id in range(sent):
            await ws.send(
                json.dumps({"type": "event", "event": "flood", "ackId": ack_id, "dataType": "text", "data": ""})
            )
        refused = []
        while len(refused) < sent - MAX_PENDING_EVENTS - 1:
            ack = await receive_json(ws)
            assert ack["success"] is False
            refused.append(ack["ackId"])
        release.set()
        accepted = [await receive_json(ws) for _ in range(sent - len(refused))]
        assert all(a["success"] for a in accepted)
        assert sorted(refused + [a["ackId"] for a in accepted]) == list(range(sent))
        assert [a["ackId"] for a in accepted] == sorted(a["ackId"] for a in accepted)  # in order
        await ws.close()


BAD_ANSWERS = {
    "over 1 MiB": lambda r: web.Response(body=b"x" * (1024 * 1024 + 10), content_type="text/plain"),
    "invalid JSON": lambda r: web.Response(body=b"{", content_type="application/json"),
    "redirect": lambda r: web.Response(status=307, headers={"Location": "http://127.0.0.1:1/elsewhere"}),
    "server error": lambda r: web.Response(status=503, text="busy"),
}


@pytest.mark.parametrize("bad", list(BAD_ANSWERS))
async def test_bad_handler_answers_give_error_acks_and_the_connection_lives_on(bad: str) -> None:
    async def answer(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.Response(status=204)
        if received.event == "bad":
            return BAD_ANSWERS[bad](received)
        return await echo_upper(received)

    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = answer
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "event", "event": "bad", "ackId": 1, "dataType": "text", "data": "x"}))
        ack = await receive_json(ws)
        assert ack["ackId"] == 1 and ack["success"] is False
        await ws.send(json.dumps({"type": "event", "event": "good", "ackId": 2, "dataType": "text", "data": "ok"}))
        assert await receive_json(ws) == {"type": "ack", "ackId": 2, "success": True}
        assert (await receive_json(ws))["data"] == "OK"
        await ws.close()


CONNECT_ANSWERS = {
    "groups not a list": web.json_response({"groups": "g"}),
    "invalid group": web.json_response({"groups": [""]}),
    "userId a number": web.json_response({"userId": 5}),
    "array body": web.json_response([1]),
    "subprotocol not offered": web.json_response({"subprotocol": "evil"}),
    "redirect": web.Response(status=302, headers={"Location": "http://127.0.0.1:1/"}),
}


@pytest.mark.parametrize("bad", list(CONNECT_ANSWERS))
async def test_bad_connect_answers_refuse_with_500(bad: str) -> None:
    async def answer(received: Received) -> web.StreamResponse:
        fresh = CONNECT_ANSWERS[bad]
        return web.Response(status=fresh.status, body=fresh.body, headers=fresh.headers)

    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = answer
        status = await handshake_status(client_url(emulator, user_id="alice"), subprotocols=[JSON_PROTOCOL])
        assert status == 500
        assert handler.events("connected") == []


HOSTILE_SETTINGS_FILES: dict[str, bytes] = {
    "nested 300,000 deep": b"[" * 300_000 + b"]" * 300_000,
    "over 1 MiB": b'{"hubs": {}}' + b" " * (1024 * 1024),
    "not UTF-8": b'{"hubs": {"\xff": {}}}',
    "NUL bytes": b"\x00" * 64,
    "unclosed IPv6 host": json.dumps(
        {"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://[::1/{event}"}]}}}
    ).encode(),
    "header injection in the URL": json.dumps(
        {"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/x\r\nX-Injected: 1/{event}"}]}}}
    ).encode(),
    "hub is null": b'{"hubs": {"a": null}}',
    "handler is a number": b'{"hubs": {"a": {"eventHandlers": [1e999]}}}',
}


@pytest.mark.parametrize("case", list(HOSTILE_SETTINGS_FILES))
def test_hostile_settings_files_are_refused_with_a_message_not_a_traceback(tmp_path: Path, case: str) -> None:
    path = tmp_path / "hubs.json"
    path.write_bytes(HOSTILE_SETTINGS_FILES[case])
    with pytest.raises(HubSettingsError):
        load_hub_settings(path)
    with pytest.raises(HubSettingsError):
        load_hub_settings(tmp_path)  # a directory, not a file


# headers, and whether the event fails (None: either way, as long as it is answered)
HOSTILE_STATE_ANSWERS: dict[str, tuple[dict[str, str], bool | None]] = {
    "state over the header limit": ({"ce-connectionState": "s" * 100_000}, True),
    "state with a tab": ({"ce-connectionState": "a\tb"}, True),
    "state with a C1 line break": ({"ce-connectionState": "a\x85b"}, True),
    "state not UTF-8": ({"ce-connectionState": "\udcff"}, True),
    "ten thousand headers": ({f"X-H{i}": "v" for i in range(10_000)}, None),
}


def _raw_answer(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} OK", "Content-Length: 0", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"


@pytest.mark.parametrize("case", list(HOSTILE_STATE_ANSWERS))
async def test_odd_answer_headers_fail_the_event_and_nothing_else(case: str) -> None:
    """Raw answers (no framework tidies them): each fails its event; the connection lives on."""
    async with EventHandlerApp() as handler:
        headers, fails = HOSTILE_STATE_ANSWERS[case]
        raw = _raw_answer(204, headers)
        handler.answer = echo_upper

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"OPTIONS"):
                writer.write(_raw_answer(200, {"WebHook-Allowed-Origin": "*"}))
                await writer.drain()
                writer.close()
                return
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(raw if b"ce-eventName: odd" in head else _raw_answer(204, {}))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        raw_handler = {"urlTemplate": f"http://127.0.0.1:{port}/{{event}}", "userEventPattern": "odd"}
        settings = hub_settings(handler)
        settings["hubs"]["chat"]["eventHandlers"].insert(0, raw_handler)
        try:
            async with emulator_for(settings) as emulator:
                ws = await json_client(client_url(emulator, user_id="alice"))
                await ws.send(
                    json.dumps({"type": "event", "event": "odd", "ackId": 1, "dataType": "text", "data": "x"})
                )
                ack = await receive_json(ws)
                assert ack["ackId"] == 1
                if fails is not None:
                    assert ack["success"] is not fails
                await ws.send(
                    json.dumps({"type": "event", "event": "good", "ackId": 2, "dataType": "text", "data": "k"})
                )
                assert await receive_json(ws) == {"type": "ack", "ackId": 2, "success": True}
                assert (await receive_json(ws))["data"] == "K"
                await ws.close()
        finally:
            server.close()


async def test_a_client_that_floods_big_events_is_bounded_by_bytes_too() -> None:
    """1,000 events of 1 MiB would be 1 GiB waiting for a hung handler; the byte bound stops it at 16 MiB."""
    release = asyncio.Event()
    hang = hanging_on("big", release)

    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), timeout=60) as emulator:
        handler.answer = hang
        ws = await json_client(client_url(emulator, user_id="alice"))
        data = "x" * (1024 * 1024 - 100)
        sent = MAX_PENDING_BYTES // len(data) + 10
        for ack_id in range(sent):
            await ws.send(
                json.dumps({"type": "event", "event": "big", "ackId": ack_id, "dataType": "text", "data": data})
            )
        first_refusal = await receive_json(ws)
        assert first_refusal["success"] is False
        assert first_refusal["ackId"] <= MAX_PENDING_BYTES // len(data) + 1  # one in flight, 16 MiB waiting
        release.set()
        await ws.close()


async def test_clients_that_give_up_while_connect_hangs_leave_nothing_behind(log_lines: list[str]) -> None:
    """Forty handshakes abandoned mid-connect: no connection, no connected event, no traceback."""
    release = asyncio.Event()
    handshakes_in_flight = 0

    @web.middleware
    async def count_handshakes(request: web.Request, handler: Any) -> web.StreamResponse:
        """How many client handshakes the emulator is still working on (its public middleware hook)."""
        nonlocal handshakes_in_flight
        if not request.path.startswith("/client/"):
            return await handler(request)
        handshakes_in_flight += 1
        try:
            return await handler(request)
        finally:
            handshakes_in_flight -= 1

    async def hang_connect(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            await release.wait()
            return web.Response(status=204)
        return web.Response(status=200)

    async with (
        EventHandlerApp() as handler,
        Emulator(
            port=0,
            hub_settings=parse_hub_settings(hub_settings(handler)),
            event_handler_timeout=60,
            middlewares=(count_handshakes,),
        ) as emulator,
    ):
        handler.answer = hang_connect
        url = client_url(emulator, user_id="alice")
        path = url.split(f":{emulator.port}", 1)[1]
        writers = []
        for _ in range(40):
            _, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
            writer.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: localhost:{emulator.port}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                ).encode()
            )
            writers.append(writer)
        await handler.wait_for(lambda: len(handler.events("connect")) == HANDLER_CONCURRENCY)  # the rest wait
        for writer in writers:
            writer.transport.abort()
        async with asyncio.timeout(10):  # the emulator sees the sockets go before the handler answers
            while handshakes_in_flight:
                await asyncio.sleep(0.02)
        release.set()
        assert await handshake_status(url) == 101  # the emulator still serves
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        assert len(handler.events("connected")) == 1  # only the last client's
        assert emulator.service.hub("chat").connections == {}
    assert not [line for line in log_lines if "Traceback" in line or "Error handling request" in line]


async def test_a_closed_connections_waiting_events_are_dropped_and_disconnected_goes_out_at_once() -> None:
    """Issue 19: behind a hung handler, 17 queued 1 MiB events outlived their connection and
    ``disconnected`` came 17 timeouts later; now they go with it and ``disconnected`` is at once."""
    release = asyncio.Event()
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), timeout=60) as emulator:
        handler.answer = hanging_on("slow", release)
        ws = await json_client(client_url(emulator, user_id="alice"))
        data = "x" * (1024 * 1024 - 100)
        for ack_id in range(17):
            await ws.send(
                json.dumps({"type": "event", "event": "slow", "ackId": ack_id, "dataType": "text", "data": data})
            )
        async with asyncio.timeout(10):
            while emulator.events.held_events < 17:
                await asyncio.sleep(0.01)
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)  # the handler still hangs
        assert (emulator.events.held_events, emulator.events.held_bytes) == (1, len(data))  # the one in flight
        release.set()
        async with asyncio.timeout(10):
            while emulator.events.held_events:
                await asyncio.sleep(0.01)
        assert len(handler.events("slow")) == 1
        assert emulator.events.held_bytes == 0


async def test_event_data_held_across_all_connections_is_bounded(figures: dict[str, Any]) -> None:
    """Five clients, each within its own 16 MiB, together past the 64 MiB held for every connection."""
    release = asyncio.Event()
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), timeout=60) as emulator:
        handler.answer = hanging_on("big", release)
        clients = [await json_client(client_url(emulator, user_id=f"u{i}")) for i in range(5)]
        data = "x" * (1024 * 1024 - 100)
        for ws in clients:
            for ack_id in range(15):
                await ws.send(
                    json.dumps({"type": "event", "event": "big", "ackId": ack_id, "dataType": "text", "data": data})
                )
        accepted = MAX_HELD_BYTES // len(data)
        refused = 0
        async with asyncio.timeout(20):
            while emulator.events.held_events + refused < 75:
                for ws in clients:
                    try:
                        ack = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
                    except TimeoutError:
                        continue
                    assert ack["success"] is False
                    refused += 1
        assert emulator.events.held_events == accepted and refused == 75 - accepted
        assert emulator.events.held_bytes <= MAX_HELD_BYTES
        figures["upstream events held across connections"] = {"sent": 75, "held": accepted, "refused": refused}
        release.set()
        for ws in clients:
            await ws.close()


@pytest.mark.parametrize(
    "value", ["abc", "-1", "61", "1e999", "nan", "inf", "-inf", "1;2", "0x10", ",".join(["0"] * 11), "1" * 5000]
)
def test_hostile_retry_delays_stop_the_emulator_with_usage_not_a_traceback(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--event-handler-retry-delays", value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--event-handler-retry-delays" in err and "Traceback" not in err
