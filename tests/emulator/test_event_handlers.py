"""Upstream event handlers over real sockets: the emulator calls a real HTTP handler on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator

import pytest
import websockets
from aiohttp import web
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncServiceClient

from emulator import Emulator
from emulator.events import HANDLER_CONCURRENCY
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
    signature_valid,
)


@pytest.fixture
async def handler() -> AsyncIterator[EventHandlerApp]:
    async with EventHandlerApp() as app:
        yield app


@pytest.fixture
async def emulator(handler: EventHandlerApp) -> AsyncIterator[Emulator]:
    async with emulator_for(hub_settings(handler)) as running:
        yield running


# -- abuse protection -------------------------------------------------------------------------------


async def test_abuse_protection_is_checked_at_start_with_the_webhook_headers(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    await handler.wait_for(lambda: len(handler.validations()) == 1)
    check = handler.validations()[0]
    assert check.path == "/hubs/chat/events/validate"
    assert check.headers["WebHook-Request-Origin"] == "localhost"
    assert check.headers["ce-awpsversion"] == "1.0"
    assert await handshake_status(client_url(emulator, user_id="alice")) == 101


async def test_a_handler_that_does_not_allow_the_origin_gets_no_events_until_it_does(
    log_lines: list[str],
) -> None:
    refusing = EventHandlerApp(allowed_origin="other.webpubsub.azure.com")
    async with refusing as handler, emulator_for(hub_settings(refusing)) as emulator:
        await handler.wait_for(lambda: len(handler.validations()) == 1)
        assert await handshake_status(client_url(emulator, user_id="alice")) == 500
        assert handler.events() == []  # the connect event was never sent
        assert any("failed abuse protection" in line and "localhost" in line for line in log_lines)
        handler.allowed_origin = "localhost"
        await asyncio.sleep(1.1)  # a failed handler is checked again on use, at most once a second
        assert await handshake_status(client_url(emulator, user_id="alice")) == 101
        assert len(handler.validations()) >= 2
        assert [r.event for r in handler.events()][:1] == ["connect"]


async def test_a_handler_without_options_is_validated_with_get() -> None:
    async with EventHandlerApp() as handler:
        handler.options_allowed = False  # OPTIONS answers 404, as a framework without the route does
        async with emulator_for(hub_settings(handler)) as emulator:
            assert await handshake_status(client_url(emulator, user_id="alice")) == 101
            assert [r.method for r in handler.validations()] == ["OPTIONS", "GET"]
            assert handler.validations()[1].headers["WebHook-Request-Origin"] == "localhost"
            assert handler.events("connect")


# -- CloudEvents headers and bodies -----------------------------------------------------------------


async def test_connect_carries_every_ce_header_the_signature_and_the_documented_body(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    url = client_url(emulator, "Chat", user_id="alice", roles=["webpubsub.joinLeaveGroup"])
    url += "&color=blue&color=red&ACCESS_TOKEN=also-a-token"
    async with websockets.connect(
        url,
        subprotocols=[JSON_PROTOCOL],
        additional_headers={"X-Custom": "yes", "Cookie": "session=s1"},
        open_timeout=10,
    ) as ws:
        connected = await receive_json(ws)
    (connect,) = handler.events("connect")
    connection_id = connected["connectionId"]
    headers = connect.headers
    assert connect.path == "/hubs/chat/events/connect"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "azure.webpubsub.sys.connect"
    assert headers["ce-source"] == f"/hubs/chat/client/{connection_id}"
    assert headers["ce-id"] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["ce-time"])
    assert headers["ce-hub"] == "chat"
    assert headers["ce-connectionId"] == connection_id
    assert headers["ce-userId"] == "alice"
    assert headers["ce-eventName"] == "connect"
    assert headers["ce-awpsversion"] == "1.0"
    assert headers["WebHook-Request-Origin"] == "localhost"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert "ce-subprotocol" not in headers  # nothing is selected before connect decides
    assert signature_valid(connect)
    assert not signature_valid(connect, access_key="X" * 44)
    body = json.loads(connect.body)
    assert set(body) == {"claims", "query", "headers", "subprotocols", "clientCertificates"}
    assert body["claims"]["sub"] == ["alice"]
    assert body["claims"]["role"] == ["webpubsub.joinLeaveGroup"]
    assert body["query"] == {"color": ["blue", "red"]}  # the access token stays out
    assert body["headers"]["X-Custom"] == ["yes"]
    assert body["headers"]["Cookie"] == ["session=s1"]  # a handler may sign the client in by its cookie
    assert not any(name.lower() == "authorization" for name in body["headers"])
    assert body["subprotocols"] == [JSON_PROTOCOL]
    assert body["clientCertificates"] == []
    assert "access_token" not in connect.body.decode()


async def test_connected_and_disconnected_are_delivered_with_their_bodies(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    ws = await json_client(client_url(emulator, user_id="alice"))
    await ws.close()
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    connect, connected, disconnected = handler.events()
    assert (connected.event, disconnected.event) == ("connected", "disconnected")
    assert connected.headers["ce-type"] == "azure.webpubsub.sys.connected"
    assert json.loads(connected.body) == {}
    assert connected.headers["ce-subprotocol"] == JSON_PROTOCOL
    assert disconnected.headers["ce-type"] == "azure.webpubsub.sys.disconnected"
    assert set(json.loads(disconnected.body)) == {"reason"}
    assert [int(r.headers["ce-id"]) for r in (connect, connected, disconnected)] == [0, 1, 2]
    assert all(signature_valid(r) for r in (connected, disconnected))


async def test_failing_connected_and_disconnected_change_nothing(handler: EventHandlerApp, emulator: Emulator) -> None:
    async def fail_notifications(received: Received) -> web.StreamResponse:
        if received.event in ("connected", "disconnected"):
            return web.Response(status=500)
        return web.Response(status=204 if received.event == "connect" else 200, body=None)

    handler.answer = fail_notifications
    ws = await json_client(client_url(emulator, user_id="alice", roles=["webpubsub.joinLeaveGroup"]))
    await handler.wait_for(lambda: len(handler.events("connected")) == 1)
    await ws.send(json.dumps({"type": "joinGroup", "group": "g", "ackId": 1}))
    assert (await receive_json(ws))["success"] is True
    await ws.close()
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)


# -- connect decisions ------------------------------------------------------------------------------


async def test_connect_sets_user_groups_and_roles(handler: EventHandlerApp, emulator: Emulator) -> None:
    async def assign(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            body = {"userId": "bob", "groups": ["news"], "roles": ["webpubsub.sendToGroup.news"]}
            return web.json_response(body)
        return web.Response(status=204)

    handler.answer = assign
    ws = await json_client(client_url(emulator))  # no user in the token
    async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        await service.send_to_group("news", "from the server", content_type="text/plain")
        message = await receive_json(ws)
        assert (message["group"], message["data"]) == ("news", "from the server")  # joined without joinGroup
        await ws.send(
            json.dumps({"type": "sendToGroup", "group": "news", "dataType": "text", "data": "hi", "ackId": 1})
        )
        replies = [await receive_json(ws), await receive_json(ws)]
        assert {"type": "ack", "ackId": 1, "success": True} in replies  # the role came from the handler
        assert any(r.get("fromUserId") == "bob" for r in replies)
        assert await service.user_exists("bob")
    await ws.send(json.dumps({"type": "event", "event": "hello", "dataType": "text", "data": "x"}))
    await handler.wait_for(lambda: len(handler.events("hello")) == 1)
    assert handler.events("hello")[0].headers["ce-userId"] == "bob"
    await ws.close()


@pytest.mark.parametrize(("answer", "expected"), [(401, 401), (403, 403), (400, 400), (500, 500), (302, 500)])
async def test_connect_refusals_become_the_handshake_status(
    handler: EventHandlerApp, emulator: Emulator, answer: int, expected: int
) -> None:
    async def refuse(received: Received) -> web.StreamResponse:
        return web.Response(status=answer, headers={"Location": "http://127.0.0.1:1/"} if answer == 302 else None)

    handler.answer = refuse
    assert await handshake_status(client_url(emulator, user_id="alice")) == expected
    assert handler.events("connected") == []


async def test_a_connect_handler_that_hangs_refuses_with_500_after_the_timeout() -> None:
    release = asyncio.Event()

    async def hang(received: Received) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=204)

    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler), timeout=0.5) as emulator:
        handler.answer = hang
        assert await handshake_status(client_url(emulator, user_id="alice")) == 500
        release.set()


async def test_a_connect_handler_that_is_down_refuses_with_500(unused_tcp_port: int) -> None:
    settings = {"hubs": {"chat": {"eventHandlers": [{"urlTemplate": f"http://127.0.0.1:{unused_tcp_port}/{{event}}",
                                                     "systemEvents": ["connect"]}]}}}  # fmt: skip
    async with emulator_for(settings) as emulator:
        assert await handshake_status(client_url(emulator, user_id="alice")) == 500


async def test_anonymous_connect_is_decided_by_the_handler(handler: EventHandlerApp) -> None:
    async def decide(received: Received) -> web.StreamResponse:
        if received.event != "connect":
            return web.Response(status=200)
        if json.loads(received.body)["query"].get("name") == ["guest"]:
            return web.json_response({"userId": "guest-1"})
        return web.Response(status=401)

    handler.answer = decide
    async with emulator_for(hub_settings(handler, anonymousConnectPolicy="allow")) as emulator:
        base = f"ws://localhost:{emulator.port}/client/hubs/chat"
        ws = await websockets.connect(f"{base}?name=guest", subprotocols=[JSON_PROTOCOL])  # type: ignore[list-item]
        connected = await receive_json(ws)
        assert connected["userId"] == "guest-1"
        await ws.close()
        assert await handshake_status(f"{base}?name=stranger") == 401
        connect = handler.events("connect")[0]
        assert json.loads(connect.body)["claims"] == {}
        assert "ce-userId" not in connect.headers
    async with emulator_for(hub_settings(handler)) as emulator:  # "deny" (the default): a token is required
        before = len(handler.events("connect"))
        assert await handshake_status(f"ws://localhost:{emulator.port}/client/hubs/chat?name=guest") == 401
        assert len(handler.events("connect")) == before


async def test_the_handler_may_choose_a_subprotocol_the_emulator_does_not_speak(handler: EventHandlerApp) -> None:
    async def choose(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.json_response({"subprotocol": "chat.v2"})
        return await echo_upper(received)

    handler.answer = choose
    async with emulator_for(hub_settings(handler)) as emulator:
        url = client_url(emulator, user_id="alice")
        async with websockets.connect(url, subprotocols=["chat.v1", "chat.v2"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "chat.v2"
            await ws.send("plain text")  # a plain client: the frame is a `message` event
            assert await asyncio.wait_for(ws.recv(), 10) == "PLAIN TEXT"
        assert handler.events("message")[0].headers["ce-subprotocol"] == "chat.v2"


# -- user events ------------------------------------------------------------------------------------


async def test_plain_client_frames_are_message_events_answered_in_order(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    handler.answer = echo_upper
    async with websockets.connect(client_url(emulator, user_id="alice")) as ws:
        sent: list[str | bytes] = [f"text {i}" if i % 2 == 0 else bytes([0, 255, i]) for i in range(10)]
        for frame in sent:
            await ws.send(frame)
        answers = [await asyncio.wait_for(ws.recv(), 10) for _ in sent]
    assert answers == [frame.upper() if isinstance(frame, str) else frame for frame in sent]
    messages = handler.events("message")
    assert [m.body for m in messages] == [f.encode() if isinstance(f, str) else f for f in sent]
    assert [m.headers["Content-Type"] for m in messages[:2]] == ["text/plain", "application/octet-stream"]
    assert messages[0].headers["ce-type"] == "azure.webpubsub.user.message"
    assert "ce-subprotocol" not in messages[0].headers
    assert [int(m.headers["ce-id"]) for m in messages] == list(range(2, 12))  # after connect (0), connected (1)


async def test_json_client_events_get_the_ack_then_the_answer_from_server(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    handler.answer = echo_upper
    ws = await json_client(client_url(emulator, user_id="alice"))
    requests = [
        ("text", "hello", "text/plain", b"hello"),
        (
            "json",
            {"a": [1, "é"]},
            "application/json",
            json.dumps({"a": [1, "é"]}, separators=(",", ":"), ensure_ascii=False).encode(),
        ),
        ("binary", base64.b64encode(b"\x00\x01\xff").decode(), "application/octet-stream", b"\x00\x01\xff"),
    ]
    for ack_id, (data_type, data, _, _) in enumerate(requests, start=1):
        await ws.send(
            json.dumps({"type": "event", "event": "echo", "ackId": ack_id, "dataType": data_type, "data": data})
        )
    replies = [await receive_json(ws) for _ in range(2 * len(requests))]
    for index, (data_type, data, _, _) in enumerate(requests):
        ack, message = replies[2 * index], replies[2 * index + 1]
        assert ack == {"type": "ack", "ackId": index + 1, "success": True}
        assert message == {
            "type": "message",
            "from": "server",
            "dataType": data_type,
            "data": data.upper() if data_type == "text" else data,
        }
    events = handler.events("echo")
    assert [(e.headers["Content-Type"], e.body) for e in events] == [(r[2], r[3]) for r in requests]
    assert events[0].headers["ce-type"] == "azure.webpubsub.user.echo"
    assert events[0].headers["ce-subprotocol"] == JSON_PROTOCOL
    await ws.close()


async def test_no_content_acks_only_and_an_error_gives_an_error_ack(
    handler: EventHandlerApp, emulator: Emulator, log_lines: list[str]
) -> None:
    async def by_name(received: Received) -> web.StreamResponse:
        if received.event == "quiet":
            return web.Response(status=204)
        if received.event == "broken":
            return web.Response(status=500, text="boom")
        return await echo_upper(received)

    handler.answer = by_name
    ws = await json_client(client_url(emulator, user_id="alice"))
    await ws.send(json.dumps({"type": "event", "event": "quiet", "ackId": 1, "dataType": "text", "data": "x"}))
    await ws.send(json.dumps({"type": "event", "event": "broken", "ackId": 2, "dataType": "text", "data": "x"}))
    await ws.send(json.dumps({"type": "event", "event": "loud", "ackId": 3, "dataType": "text", "data": "x"}))
    replies = [await receive_json(ws) for _ in range(4)]
    assert replies[0] == {"type": "ack", "ackId": 1, "success": True}
    assert replies[1]["ackId"] == 2 and replies[1]["success"] is False
    assert replies[1]["error"]["name"] == "InternalServerError"
    assert replies[2:] == [
        {"type": "ack", "ackId": 3, "success": True},
        {"type": "message", "from": "server", "dataType": "text", "data": "X"},
    ]
    assert any("broken event" in line and "500" in line for line in log_lines)
    await ws.close()


async def test_events_without_a_matching_handler_keep_the_old_rules(handler: EventHandlerApp) -> None:
    settings = hub_settings(handler, entry={"userEventPattern": "chat, typing", "systemEvents": []})
    async with emulator_for(settings) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "event", "event": "TYPING", "ackId": 1, "dataType": "text", "data": "x"}))
        await ws.send(json.dumps({"type": "event", "event": "other", "ackId": 2, "dataType": "text", "data": "x"}))
        acks = {ack["ackId"]: ack for ack in [await receive_json(ws), await receive_json(ws)]}
        assert acks[1] == {"type": "ack", "ackId": 1, "success": True}  # the pattern matches case-insensitively
        assert acks[2]["success"] is False and acks[2]["error"]["name"] == "InternalServerError"
        assert [e.event for e in handler.events()] == ["TYPING"]
        await ws.close()
        async with websockets.connect(client_url(emulator, user_id="bob")) as plain:
            await plain.send("no handler for message")
            await asyncio.wait_for(plain.wait_closed(), 10)
            assert plain.close_code == 1011


async def test_a_plain_client_whose_event_fails_is_closed(handler: EventHandlerApp, emulator: Emulator) -> None:
    async def fail(received: Received) -> web.StreamResponse:
        if received.event == "message":
            return web.Response(status=500)
        return web.Response(status=204 if received.event == "connect" else 200)

    handler.answer = fail
    async with websockets.connect(client_url(emulator, user_id="alice")) as ws:
        await ws.send("hello")
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1011
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)


async def test_connection_state_round_trips_through_the_handler(handler: EventHandlerApp, emulator: Emulator) -> None:
    async def stateful(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.Response(status=204, headers={"ce-connectionState": "s0"})
        if received.event == "message":
            state = received.headers.get("ce-connectionState", "")
            body = b"done" if state == "s0++" else b""  # the last one answers, so the client knows
            return web.Response(status=200, body=body, headers={"ce-connectionState": state + "+"})
        return web.Response(status=200, headers={"ce-connectionState": "ignored"})

    handler.answer = stateful
    async with websockets.connect(client_url(emulator, user_id="alice")) as ws:
        for _ in range(3):
            await ws.send("tick")
        assert await asyncio.wait_for(ws.recv(), 10) == b"done"  # a close would drop events still waiting
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    states = [(r.event, r.headers.get("ce-connectionState")) for r in handler.events()[1:]]
    assert states == [
        ("connected", "s0"),
        ("message", "s0"),
        ("message", "s0+"),
        ("message", "s0++"),
        ("disconnected", "s0+++"),  # connected's own header changed nothing: only blocking events set state
    ]


# -- bounds -----------------------------------------------------------------------------------------


async def test_a_hanging_handler_does_not_delay_deliveries_to_other_clients(handler: EventHandlerApp) -> None:
    release = asyncio.Event()

    async def hang_on_events(received: Received) -> web.StreamResponse:
        if received.headers["ce-type"].startswith("azure.webpubsub.user."):
            await release.wait()
        return web.Response(status=204 if received.event == "connect" else 200)

    handler.answer = hang_on_events
    async with emulator_for(hub_settings(handler), timeout=60) as emulator:
        sender = await json_client(client_url(emulator, user_id="sender"))
        others = [await json_client(client_url(emulator, user_id=f"u{i}")) for i in range(3)]
        for i in range(40):  # more than one handler's worth of concurrent requests
            await sender.send(
                json.dumps({"type": "event", "event": "slow", "ackId": i, "dataType": "text", "data": "x"})
            )
        await handler.wait_for(lambda: len(handler.events("slow")) >= 1)
        async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
            started = time.perf_counter()
            await service.send_to_all("still flowing", content_type="text/plain")
            for ws in [*others, sender]:
                assert (await receive_json(ws))["data"] == "still flowing"
            latency_ms = (time.perf_counter() - started) * 1000
        assert not release.is_set()  # every delivery happened while the handler still hung
        assert len(handler.events("slow")) == 1  # one connection's events go out one at a time, in order
        print(f"broadcast to 4 clients while the handler hung: {latency_ms:.1f} ms")
        release.set()
        acks = [await receive_json(sender) for _ in range(40)]
        assert [a["ackId"] for a in acks] == list(range(40))
        for ws in [sender, *others]:
            await ws.close()


async def test_a_user_event_that_times_out_gets_an_error_ack() -> None:
    release = asyncio.Event()

    async def hang(received: Received) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=200)

    async with (
        EventHandlerApp() as handler,
        # no system events: the short timeout then applies only to the user event that must run out of
        # it, never to a connect that a loaded machine happens to answer slowly
        emulator_for(hub_settings(handler, entry={"systemEvents": []}), timeout=0.5) as emulator,
    ):
        handler.answer = hang
        ws = await json_client(client_url(emulator, user_id="alice"))
        await ws.send(json.dumps({"type": "event", "event": "slow", "ackId": 7, "dataType": "text", "data": "x"}))
        ack = await receive_json(ws)
        assert ack["ackId"] == 7 and ack["success"] is False
        assert "did not answer" in ack["error"]["message"]
        release.set()
        await ws.close()


async def test_each_handler_has_at_most_its_concurrency_in_flight(handler: EventHandlerApp) -> None:
    release = asyncio.Event()
    in_flight = 0
    peak = 0

    async def hang(received: Received) -> web.StreamResponse:
        nonlocal in_flight, peak
        if received.event != "slow":
            return web.Response(status=204 if received.event == "connect" else 200)
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return web.Response(status=204)

    handler.answer = hang
    async with emulator_for(hub_settings(handler, entry={"systemEvents": []}), timeout=60) as emulator:
        clients = [await json_client(client_url(emulator, user_id=f"u{i}")) for i in range(HANDLER_CONCURRENCY + 8)]
        for ws in clients:
            await ws.send(json.dumps({"type": "event", "event": "slow", "ackId": 1, "dataType": "text", "data": ""}))
        await handler.wait_for(lambda: in_flight == HANDLER_CONCURRENCY)
        await asyncio.sleep(0.2)  # room for any request past the bound to show up
        assert peak == HANDLER_CONCURRENCY
        release.set()
        for ws in clients:
            assert await receive_json(ws) == {"type": "ack", "ackId": 1, "success": True}
            await ws.close()
        assert len(handler.events("slow")) == len(clients)


async def test_a_handler_that_is_down_fails_its_events_and_nothing_else(unused_tcp_port: int) -> None:
    down = {"urlTemplate": f"http://127.0.0.1:{unused_tcp_port}/{{event}}", "userEventPattern": "*"}
    async with emulator_for({"hubs": {"chat": {"eventHandlers": [down]}}}) as emulator:
        sender = await json_client(client_url(emulator, user_id="sender"))
        other = await json_client(client_url(emulator, user_id="other"))
        await sender.send(json.dumps({"type": "event", "event": "e", "ackId": 1, "dataType": "text", "data": "x"}))
        async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
            await service.send_to_all("still flowing", content_type="text/plain")
        assert (await receive_json(other))["data"] == "still flowing"
        replies = [await receive_json(sender), await receive_json(sender)]
        ack = next(r for r in replies if r["type"] == "ack")
        assert ack["success"] is False and "abuse protection" in ack["error"]["message"]
        assert any(r.get("data") == "still flowing" for r in replies)
        for ws in (sender, other):
            await ws.close()
