"""Group presence events (``azure.webpubsub.gp.joined`` / ``.left``) from every kind of join and leave.

The rules without a socket first (settings, filters, the model's answer), then through the real
emulator and a real handler on loopback: joins by token, by the connect handler, by a client's
``joinGroup``, by every REST operation that adds or removes, and the leaves when a connection ends.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from aiohttp import web
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncServiceClient

from emulator import Emulator
from emulator.events import MAX_PENDING_EVENTS
from emulator.hub_settings import HubSettingsError, parse_hub_settings
from emulator.model import Connection, Hub
from emulator.upstream import presence_event
from tests.emulator.event_handler import (
    JSON_PROTOCOL,
    EventHandlerApp,
    Received,
    client_url,
    emulator_for,
    json_client,
    receive_json,
    signature_valid,
)
from tests.emulator.group_presence import EVERY_PRESENCE, MAY_JOIN, presence, presence_settings

# -- the rules, without a socket ----------------------------------------------------------------------


def test_group_presence_settings_are_read_in_the_services_shape() -> None:
    hubs = parse_hub_settings(
        {"hubs": {"chat": {"eventHandlers": [
            {"urlTemplate": "http://h/a", "groupPresenceEvents": {"eventNames": ["left"], "groupFilters": ["lobby"]}},
            {"urlTemplate": "http://h/b", "groupPresenceEvents": {"eventNames": ["joined", "left"],
                                                                  "groupFilters": ["room-*"]}},
            {"urlTemplate": "http://h/c", "systemEvents": ["connected"]},
        ]}}}
    )  # fmt: skip
    chat = hubs["chat"]
    first, second, third = chat.event_handlers
    assert chat.presence_handler_for("left", "lobby") is first
    assert chat.presence_handler_for("joined", "lobby") is None  # the first takes only left
    assert chat.presence_handler_for("joined", "room-1") is second
    assert chat.presence_handler_for("left", "room-") is second  # a prefix matches itself too
    assert chat.presence_handler_for("joined", "Room-1") is None  # group names are case-sensitive
    assert chat.presence_handler_for("joined", "lobby2") is None
    assert not third.group_presence.event_names  # no groupPresenceEvents: no presence events


@pytest.mark.parametrize(
    ("presence", "takes"),
    [
        ({"eventNames": ["joined", "left"]}, True),  # no filters: every group
        ({"eventNames": ["joined"], "groupFilters": []}, True),
        ({"eventNames": ["joined"], "groupFilters": None}, True),
        ({"eventNames": ["joined"], "groupFilters": ["*"]}, True),
        ({"eventNames": ["joined"], "groupFilters": ["a", "g*"]}, True),
        ({"eventNames": ["joined"], "groupFilters": ["other"]}, False),
        ({"eventNames": []}, False),  # no event names: no presence events
        ({"eventNames": None}, False),
        ({}, False),
    ],
)
def test_event_names_and_group_filters_choose_what_a_handler_gets(presence: dict[str, Any], takes: bool) -> None:
    handler = {"urlTemplate": "http://h/", "groupPresenceEvents": presence}
    chat = parse_hub_settings({"hubs": {"chat": {"eventHandlers": [handler]}}})["chat"]
    assert (chat.presence_handler_for("joined", "game") is not None) is takes


@pytest.mark.parametrize(
    ("presence", "message"),
    [
        ([], "groupPresenceEvents: must be an object"),
        ({"eventNames": ["joined"], "filters": []}, "unknown field 'filters'"),
        ({"eventNames": ["connected"]}, "eventNames: a list of joined, left"),
        ({"eventNames": "joined"}, "eventNames: a list of joined, left"),
        ({"eventNames": ["joined"], "groupFilters": "lobby"}, "groupFilters: a list"),
        ({"eventNames": ["joined"], "groupFilters": ["a*b"]}, "no other '*'"),
        ({"eventNames": ["joined"], "groupFilters": [" "]}, "groupFilters"),
        ({"eventNames": ["joined"], "groupFilters": [1]}, "groupFilters"),
    ],
)
def test_bad_group_presence_settings_name_the_field(presence: object, message: str) -> None:
    handler = {"urlTemplate": "http://h/", "groupPresenceEvents": presence}
    with pytest.raises(HubSettingsError, match=re.escape(message)) as refused:
        parse_hub_settings({"hubs": {"chat": {"eventHandlers": [handler]}}})
    assert "hubs.chat.eventHandlers[0].groupPresenceEvents" in str(refused.value)


def test_the_model_says_which_joins_and_leaves_changed_something() -> None:
    hub = Hub("chat")
    told: list[tuple[str, bool]] = []
    connection = Connection("c1", "chat", "alice", "json.webpubsub.azure.v1")
    connection.group_changed = lambda group, joined: told.append((group, joined))
    hub.add(connection)
    assert hub.join(connection, "a") is True
    assert hub.join(connection, "a") is False  # already a member: nothing happened
    assert hub.join(connection, "b") is True
    assert hub.leave(connection, "a") is True
    assert hub.leave(connection, "a") is False
    assert hub.leave(connection, "never") is False
    hub.remove(connection, "bye")
    assert told == [("a", True), ("b", True), ("a", False), ("b", False)]  # the end leaves what is left


def test_a_presence_event_is_the_gp_type_with_the_group_as_its_body() -> None:
    joined, left = presence_event(True, "lobby ✓"), presence_event(False, "lobby")
    assert (joined.type, joined.name, joined.content_type) == (
        "azure.webpubsub.gp.joined",
        "joined",
        "application/json; charset=utf-8",
    )
    assert json.loads(joined.body) == {"group": "lobby ✓"}
    assert (left.type, json.loads(left.body)) == ("azure.webpubsub.gp.left", {"group": "lobby"})
    assert joined.held and not joined.user  # bounded like a user event, kept when the connection ends


# -- through the emulator -----------------------------------------------------------------------------


@pytest.fixture
async def handler() -> AsyncIterator[EventHandlerApp]:
    async with EventHandlerApp() as app:
        yield app


@pytest.fixture
async def emulator(handler: EventHandlerApp) -> AsyncIterator[Emulator]:
    async with emulator_for(presence_settings(handler)) as running:
        yield running


async def request(ws: websockets.ClientConnection, ack_id: int, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({**fields, "ackId": ack_id}))
    return await receive_json(ws)


async def test_token_groups_are_joined_after_connected_and_left_before_disconnected(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    ws = await json_client(client_url(emulator, user_id="alice", groups=["lobby", "news"]))
    await handler.wait_for(lambda: len(presence(handler)) == 2)
    await ws.close()
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    names = [r.event for r in handler.events()]
    assert names == ["connect", "connected", "joined", "joined", "left", "left", "disconnected"]
    assert presence(handler)[:2] == [("joined", "lobby"), ("joined", "news")]  # in the token's order
    assert sorted(presence(handler)[2:]) == [("left", "lobby"), ("left", "news")]
    events = handler.events()
    connection_id = events[0].headers["ce-connectionId"]
    assert [int(r.headers["ce-id"]) for r in events] == list(range(7))  # one sequence per connection
    for received in events[2:6]:
        headers = received.headers
        assert headers["ce-type"] == f"azure.webpubsub.gp.{received.event}"
        assert received.path == f"/hubs/chat/events/{received.event}"
        assert headers["ce-source"] == f"/hubs/chat/client/{connection_id}"
        assert (headers["ce-connectionId"], headers["ce-userId"], headers["ce-hub"]) == (connection_id, "alice", "chat")
        assert headers["ce-subprotocol"] == JSON_PROTOCOL
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["ce-specversion"] == "1.0" and headers["ce-awpsversion"] == "1.0"
        assert signature_valid(received)


async def test_a_clients_join_and_leave_requests_are_joined_and_left(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    ws = await json_client(client_url(emulator, user_id="alice", roles=MAY_JOIN))
    assert (await request(ws, 1, type="joinGroup", group="g"))["success"] is True
    assert (await request(ws, 2, type="joinGroup", group="g"))["success"] is True  # again: no second joined
    assert (await request(ws, 3, type="leaveGroup", group="g"))["success"] is True
    assert (await request(ws, 4, type="leaveGroup", group="never-joined"))["success"] is True  # nothing to leave
    await handler.wait_for(lambda: len(presence(handler)) == 2)
    await ws.close()
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert presence(handler) == [("joined", "g"), ("left", "g")]


async def test_a_join_the_client_may_not_make_sends_nothing(handler: EventHandlerApp, emulator: Emulator) -> None:
    ws = await json_client(client_url(emulator, user_id="alice"))  # no joinLeaveGroup role
    assert (await request(ws, 1, type="joinGroup", group="g"))["success"] is False
    await ws.close()
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert presence(handler) == []


async def test_groups_from_the_connect_handler_are_joined(handler: EventHandlerApp) -> None:
    async def assign(received: Received) -> web.StreamResponse:
        if received.event == "connect":
            return web.json_response({"groups": ["from-handler"]})
        return web.Response(status=204)

    handler.answer = assign
    async with emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", groups=["from-token"]))
        await handler.wait_for(lambda: len(presence(handler)) == 2)
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert presence(handler)[:2] == [("joined", "from-token"), ("joined", "from-handler")]
    assert sorted(presence(handler)[2:]) == [("left", "from-handler"), ("left", "from-token")]


async def change_groups(service: AsyncServiceClient, operation: str, groups: list[str], odata: str) -> None:
    body = {"groups": groups, "filter": odata}
    answer = await service.send_request(
        HttpRequest("POST", f"/api/hubs/chat/{operation}?api-version=2024-12-01", json=body)
    )
    assert answer.status_code == 200


async def test_every_rest_add_and_remove_is_joined_and_left(handler: EventHandlerApp, emulator: Emulator) -> None:
    ws = await json_client(client_url(emulator, user_id="alice"))
    connection_id = handler.events("connect")[0].headers["ce-connectionId"]
    async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        await service.add_connection_to_group("by-connection", connection_id)
        await service.remove_connection_from_group("by-connection", connection_id)
        await service.add_user_to_group("by-user", "alice")
        await service.remove_user_from_group("by-user", "alice")
        # :addToGroups and :removeFromGroups: the Python SDK has no method, so its own send_request signs them
        await change_groups(service, ":addToGroups", ["by-filter-1", "by-filter-2"], "userId eq 'alice'")
        await change_groups(service, ":removeFromGroups", ["by-filter-1"], "userId eq 'alice'")
        await service.remove_connection_from_all_groups(connection_id)  # leaves by-filter-2
        await service.add_user_to_group("all-of-user", "alice")
        await service.remove_user_from_all_groups("alice")
        await handler.wait_for(lambda: len(presence(handler)) == 10)
        await service.close_connection(connection_id, reason="done")
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    await ws.close()
    assert presence(handler) == [
        ("joined", "by-connection"),
        ("left", "by-connection"),
        ("joined", "by-user"),
        ("left", "by-user"),
        ("joined", "by-filter-1"),
        ("joined", "by-filter-2"),
        ("left", "by-filter-1"),
        ("left", "by-filter-2"),
        ("joined", "all-of-user"),
        ("left", "all-of-user"),
    ]  # and the REST close found no group left to leave


async def test_a_rest_close_leaves_every_group_before_disconnected(
    handler: EventHandlerApp, emulator: Emulator
) -> None:
    ws = await json_client(client_url(emulator, user_id="alice", groups=["a", "b"]))
    connection_id = handler.events("connect")[0].headers["ce-connectionId"]
    await handler.wait_for(lambda: len(presence(handler)) == 2)
    async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        await service.close_connection(connection_id, reason="bye")
    await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    await ws.close()
    names = [r.event for r in handler.events()]
    assert names[-3:] == ["left", "left", "disconnected"]
    assert sorted(presence(handler)[2:]) == [("left", "a"), ("left", "b")]
    assert json.loads(handler.events("disconnected")[0].body) == {"reason": "bye"}


async def test_group_filters_and_event_names_decide_what_is_sent(handler: EventHandlerApp) -> None:
    only_left_of_rooms = {"eventNames": ["left"], "groupFilters": ["room-*", "lobby"]}
    async with emulator_for(presence_settings(handler, only_left_of_rooms)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", groups=["room-1", "lobby", "news", "Room-2"]))
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert sorted(presence(handler)) == [("left", "lobby"), ("left", "room-1")]


async def test_a_hub_without_group_presence_events_sends_none(handler: EventHandlerApp) -> None:
    settings = presence_settings(handler)
    del settings["hubs"]["chat"]["eventHandlers"][0]["groupPresenceEvents"]
    async with emulator_for(settings) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", groups=["lobby"]))
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert [r.event for r in handler.events()] == ["connect", "connected", "disconnected"]


async def test_presence_events_go_to_the_handler_that_takes_them(handler: EventHandlerApp) -> None:
    async with EventHandlerApp() as presence_only:
        settings = {"hubs": {"chat": {"eventHandlers": [
            {"urlTemplate": handler.url, "systemEvents": ["connect", "connected", "disconnected"]},
            {"urlTemplate": presence_only.url, "groupPresenceEvents": EVERY_PRESENCE},
        ]}}}  # fmt: skip
        async with emulator_for(settings) as emulator:
            ws = await json_client(client_url(emulator, user_id="alice", groups=["lobby"]))
            await ws.close()
            await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
            await presence_only.wait_for(lambda: len(presence(presence_only)) == 2)
    assert presence(handler) == []
    assert presence(presence_only) == [("joined", "lobby"), ("left", "lobby")]
    assert [r.event for r in presence_only.events()] == ["joined", "left"]


async def test_a_failing_presence_handler_is_retried_and_changes_nothing(handler: EventHandlerApp) -> None:
    failures = {"joined": 2}

    async def flaky(received: Received) -> web.StreamResponse:
        if received.event == "joined" and failures["joined"]:
            failures["joined"] -= 1
            return web.Response(status=503)
        return web.Response(status=204 if received.event == "connect" else 200)

    handler.answer = flaky
    async with emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", roles=[*MAY_JOIN, "webpubsub.sendToGroup"]))
        assert (await request(ws, 1, type="joinGroup", group="g"))["success"] is True  # the client never waits
        await handler.wait_for(lambda: len(handler.events("joined")) == 3)
        await ws.send(json.dumps({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "still here"}))
        assert (await receive_json(ws))["data"] == "still here"
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    joined = handler.events("joined")
    assert len({r.headers["ce-id"] for r in joined}) == 1  # the same request, tried again
    assert presence(handler)[-1] == ("left", "g")


async def test_leaves_and_disconnected_do_not_wait_behind_a_user_event_in_flight(handler: EventHandlerApp) -> None:
    release = asyncio.Event()

    async def slow_user_events(received: Received) -> web.StreamResponse:
        if received.event == "slow":
            await release.wait()
        return web.Response(status=204 if received.event in ("connect", "slow") else 200)

    handler.answer = slow_user_events
    async with emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", groups=["g"]))
        await handler.wait_for(lambda: len(presence(handler)) == 1)
        await ws.send(json.dumps({"type": "event", "event": "slow", "dataType": "text", "data": "x", "ackId": 1}))
        await handler.wait_for(lambda: len(handler.events("slow")) == 1)
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
        release.set()
    names = [r.event for r in handler.events()]
    assert names == ["connect", "connected", "joined", "slow", "left", "disconnected"]


async def test_presence_events_past_the_per_connection_bound_are_dropped_not_queued(
    handler: EventHandlerApp, log_lines: list[str]
) -> None:
    release = asyncio.Event()

    async def hung_presence(received: Received) -> web.StreamResponse:
        if received.event in ("joined", "left"):
            await release.wait()
        return web.Response(status=204 if received.event == "connect" else 200)

    handler.answer = hung_presence
    async with emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", roles=MAY_JOIN))
        for ack_id in range(1, MAX_PENDING_EVENTS + 3):  # one in flight, MAX_PENDING_EVENTS wait, one more
            await ws.send(json.dumps({"type": "joinGroup", "group": f"g{ack_id % 900}", "ackId": ack_id}))
            await ws.send(json.dumps({"type": "leaveGroup", "group": f"g{ack_id % 900}"}))
        for _ in range(MAX_PENDING_EVENTS + 2):
            assert (await receive_json(ws))["success"] is True  # the client is never held up
        assert any("dropped: too many events are waiting" in line for line in log_lines)
        release.set()
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1, timeout=30)
    # what waited (and the one in flight, if the worker took it before the queue filled); the rest was dropped
    assert MAX_PENDING_EVENTS <= len(presence(handler)) <= MAX_PENDING_EVENTS + 1 < 2 * (MAX_PENDING_EVENTS + 2)
