"""The events function through real servers on loopback: the emulator calls it as the service
does, official clients connect and send, presence reaches the right groups, and user events
arrive on Azurite's queue byte for byte."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import websockets
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, SendMessageError, WebPubSubDataType
from azure.storage.queue import QueueClient
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.struct_pb2 import Value
from websockets.exceptions import InvalidStatus

from emulator.proto.webpubsub_v1_pb2 import DownstreamMessage, MessageData, UpstreamMessage
from shared.events.queue import MAX_ENVELOPE_BYTES
from tests.events.support import EventsStack, cloud_event, drain, queued_count
from tests.support import http_call

JSON_PROTOCOL = "json.webpubsub.azure.v1"
PROTOBUF_PROTOCOL = "protobuf.webpubsub.azure.v1"


async def json_client(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, subprotocols=[JSON_PROTOCOL], open_timeout=10)  # type: ignore[list-item]
    connected = await receive(ws)
    assert connected["event"] == "connected"
    return ws


async def receive(ws: websockets.ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_arrives(ws: websockets.ClientConnection, wait: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


async def send_event(ws: websockets.ClientConnection, ack_id: int, name: str, data_type: str, data: Any) -> dict:
    frame = {"type": "event", "event": name, "ackId": ack_id, "dataType": data_type, "data": data}
    await ws.send(json.dumps(frame))
    reply = await receive(ws)
    assert reply["type"] == "ack" and reply["ackId"] == ack_id, reply
    return reply


# -- abuse protection ---------------------------------------------------------------------------


async def test_abuse_protection_allows_only_the_configured_web_pubsub_host(events_stack: EventsStack) -> None:
    ok = await http_call(
        events_stack.base_url, "OPTIONS", "/api/events", headers={"WebHook-Request-Origin": "localhost"}
    )
    assert ok[0] == 200 and ok[2]["WebHook-Allowed-Origin"] == "localhost"
    other = await http_call(
        events_stack.base_url, "OPTIONS", "/api/events", headers={"WebHook-Request-Origin": "evil.example"}
    )
    assert other[0] == 403 and other[1]["error"]["code"] == "Forbidden"
    assert "WebHook-Allowed-Origin" not in other[2]


# -- connect --------------------------------------------------------------------------------------


async def test_the_function_answers_connect_for_the_official_python_client(events_stack: EventsStack) -> None:
    events_stack.set(EventsRequireUser="true")
    # Refused by the function (no user id), so the emulator really asked it:
    try:
        await websockets.connect(events_stack.client_url(), open_timeout=10)
        raise AssertionError("a client without a user id was accepted")
    except InvalidStatus as error:
        assert error.response.status_code == 401

    client = WebPubSubClient(WebPubSubClientCredential(events_stack.client_url(user_id="py")))
    connected: list[str] = []
    client.subscribe(CallbackType.CONNECTED, lambda event: connected.append(event.user_id))
    await asyncio.to_thread(client.open)
    try:
        for _ in range(100):  # the callback runs on the client's own thread
            if connected:
                break
            await asyncio.sleep(0.05)
        assert connected == ["py"]
        await asyncio.to_thread(client.send_event, "hello", "from python", WebPubSubDataType.TEXT)
    finally:
        await asyncio.to_thread(client.close)


async def test_the_official_js_client_connects_and_its_events_are_queued(
    events_stack: EventsStack, queue: QueueClient
) -> None:
    from tests.emulator.js_peers import installed_js_peers

    script = installed_js_peers() / "events_client.mjs"
    events_stack.set(EventsQueueEvents="order*")
    process = await asyncio.create_subprocess_exec(
        "node", str(script), events_stack.client_url(user_id="node"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert [result["ok"] for result in report] == [True, True, True]
    envelopes = drain(queue)
    assert [(e["eventName"], e["dataType"], e["data"], e["userId"]) for e in envelopes] == [
        ("order", "text", "hello from node", "node"),
        ("order", "json", '{"n":[1,2]}', "node"),
        ("order", "binary", base64.b64encode(bytes([0, 1, 255])).decode(), "node"),
    ]


# -- presence -------------------------------------------------------------------------------------


async def test_presence_posted_as_the_service_posts_it_reaches_the_group_that_was_joined_and_no_other(
    events_stack: EventsStack,
) -> None:
    events_stack.set(EventsPresenceGroups="lobby*,user-{userId}")
    lobby = await json_client(events_stack.client_url(user_id="watcher", groups=["lobby-1"]))
    other = await json_client(events_stack.client_url(user_id="other", groups=["kitchen", "lobby-2"]))
    hub = events_stack.hub
    for ce_type, group in (("azure.webpubsub.gp.joined", "lobby-1"), ("azure.webpubsub.gp.left", "lobby-1")):
        headers = cloud_event(hub, "conn-a", ce_type, user_id="alice")
        status, _, _ = await events_stack.post(headers, json.dumps({"group": group}).encode())
        assert status == 204
    joined, left = await receive(lobby), await receive(lobby)
    for message, event in ((joined, "joined"), (left, "left")):
        assert message["group"] == "lobby-1" and message["dataType"] == "json"
        assert message["data"] == {
            "type": "presence",
            "event": event,
            "group": "lobby-1",
            "userId": "alice",
            "connectionId": "conn-a",
            "time": "2026-12-07T14:00:00Z",
        }
    # A group outside the setting: answered, not announced. A per-user group of another user: neither.
    for group, user in (("kitchen", "alice"), ("user-bob", "alice")):
        headers = cloud_event(hub, "conn-a", "azure.webpubsub.gp.joined", user_id=user)
        assert (await events_stack.post(headers, json.dumps({"group": group}).encode()))[0] == 204
    assert await nothing_arrives(other)
    assert await nothing_arrives(lobby)
    await lobby.close()
    await other.close()


async def test_presence_is_off_without_its_setting(events_stack: EventsStack) -> None:
    lobby = await json_client(events_stack.client_url(user_id="watcher", groups=["lobby"]))
    headers = cloud_event(events_stack.hub, "conn-a", "azure.webpubsub.gp.joined", user_id="alice")
    assert (await events_stack.post(headers, b'{"group": "lobby"}'))[0] == 204
    assert await nothing_arrives(lobby)
    await lobby.close()


# -- user events to the queue -------------------------------------------------------------------


async def test_user_events_arrive_on_the_queue_byte_for_byte(events_stack: EventsStack, queue: QueueClient) -> None:
    events_stack.set(EventsQueueEvents="order,audit*")
    ws = await json_client(events_stack.client_url(user_id="alice"))
    text = "héllo \u2603 \U0001f600"
    document = {"items": [1, 2.5, "x"], "nested": {"a": None}}
    binary = bytes(range(256))
    assert (await send_event(ws, 1, "order", "text", text))["success"] is True
    assert (await send_event(ws, 2, "audit-log", "json", document))["success"] is True
    assert (await send_event(ws, 3, "order", "binary", base64.b64encode(binary).decode()))["success"] is True
    assert (await send_event(ws, 4, "chatter", "text", "not for the queue"))["success"] is True
    envelopes = drain(queue)
    assert [e["eventName"] for e in envelopes] == ["order", "audit-log", "order"]
    assert envelopes[0]["data"].encode() == text.encode()
    assert json.loads(envelopes[1]["data"]) == document
    assert base64.b64decode(envelopes[2]["data"]) == binary
    for envelope in envelopes:
        assert envelope["hub"].lower() == events_stack.hub.lower()
        assert envelope["userId"] == "alice" and envelope["connectionId"]
    assert len({e["id"] for e in envelopes}) == 3
    await ws.close()


async def test_the_largest_event_a_queue_message_holds_is_queued_and_one_byte_more_is_refused(
    events_stack: EventsStack, queue: QueueClient
) -> None:
    events_stack.set(EventsQueueEvents="big")
    ws = await json_client(events_stack.client_url(user_id="alice"))
    # The envelope around an empty text event tells how much room the data has.
    assert (await send_event(ws, 1, "big", "text", ""))["success"] is True
    [empty] = drain(queue)
    room = MAX_ENVELOPE_BYTES - len(json.dumps(empty, separators=(",", ":"), ensure_ascii=False).encode())
    room -= len(str(2)) - len(str(1))  # ce-id does not change the envelope's size; the data does
    largest = "x" * room
    assert (await send_event(ws, 2, "big", "text", largest))["success"] is True
    [queued] = drain(queue)
    assert queued["data"] == largest
    refused = await send_event(ws, 3, "big", "text", largest + "x")
    assert refused["success"] is False
    assert queued_count(queue) == 0
    await ws.close()


async def test_limits_refuse_with_an_error_ack_and_queue_nothing(events_stack: EventsStack, queue: QueueClient) -> None:
    events_stack.set(EventsQueueEvents="*", EventsPerMinute="3", EventsMaxBytes="10")
    ws = await json_client(events_stack.client_url(user_id="alice"))
    assert (await send_event(ws, 1, "e", "text", "x" * 11))["success"] is False  # over the size limit
    results = [(await send_event(ws, 10 + i, "e", "text", str(i)))["success"] for i in range(5)]
    assert results == [True, True, True, False, False]
    assert [e["data"] for e in drain(queue)] == ["0", "1", "2"]
    await ws.close()


async def test_a_python_client_event_error_ack_says_it_was_not_queued(
    events_stack: EventsStack, queue: QueueClient
) -> None:
    events_stack.set(EventsQueueEvents="*", EventsMaxBytes="4")
    client = WebPubSubClient(WebPubSubClientCredential(events_stack.client_url(user_id="py")))
    await asyncio.to_thread(client.open)
    try:
        await asyncio.to_thread(client.send_event, "e", "fits", WebPubSubDataType.TEXT)
        try:
            await asyncio.to_thread(client.send_event, "e", "too long", WebPubSubDataType.TEXT)
            raise AssertionError("an event over the limit was acked as queued")
        except SendMessageError:
            pass
    finally:
        await asyncio.to_thread(client.close)
    assert [e["data"] for e in drain(queue)] == ["fits"]


async def test_a_protobuf_clients_any_and_binary_events_are_queued_byte_for_byte(
    events_stack: EventsStack, queue: QueueClient
) -> None:
    """The emulator sends an ``Any`` as ``application/x-protobuf``, as the service does; the function
    queues it as ``protobuf``, the serialized ``Any`` in base64, beside a binary event."""
    events_stack.set(EventsQueueEvents="*")
    url = events_stack.client_url(user_id="proto")
    async with websockets.connect(url, subprotocols=[PROTOBUF_PROTOCOL], open_timeout=10) as ws:  # type: ignore[list-item]
        assert (await receive_protobuf(ws)).system_message.connected_message.connection_id
        payload = AnyMessage()
        payload.Pack(Value(string_value="typed"))
        acks = []
        for ack_id, data in enumerate((MessageData(protobuf_data=payload), MessageData(binary_data=b"\x00\xff")), 1):
            event = UpstreamMessage.EventMessage(event="e", data=data, ack_id=ack_id)
            await ws.send(UpstreamMessage(event_message=event).SerializeToString())
            acks.append((await receive_protobuf(ws)).ack_message)
    assert [(ack.ack_id, ack.success) for ack in acks] == [(1, True), (2, True)]
    queued = [(e["dataType"], base64.b64decode(e["data"])) for e in drain(queue)]
    assert queued == [("protobuf", payload.SerializeToString()), ("binary", b"\x00\xff")]


async def receive_protobuf(ws: websockets.ClientConnection) -> DownstreamMessage:
    message = DownstreamMessage()
    message.ParseFromString(await asyncio.wait_for(ws.recv(), 10))
    return message


# -- presence through the emulator (it sends group presence events as the service does) -----------


async def next_presence(ws: websockets.ClientConnection, event: str, user: str) -> dict[str, Any]:
    """The next presence message about ``user`` doing ``event``; other presence messages are skipped."""
    for _ in range(20):
        message = await receive(ws)
        data = message.get("data")
        presence = message.get("type") == "message" and isinstance(data, dict) and data.get("type") == "presence"
        if presence and (data["event"], data["userId"]) == (event, user):
            return message
    raise AssertionError(f"no presence message: {user} {event}")


async def presence_messages(ws: websockets.ClientConnection, wait: float = 0.5) -> list[dict[str, Any]]:
    """Every presence message that arrives within ``wait`` seconds of quiet."""
    found = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), wait))
        except TimeoutError:
            return found
        if isinstance(message.get("data"), dict) and message["data"].get("type") == "presence":
            found.append(message["data"])


async def test_presence_through_the_emulator_joins_by_token_client_and_rest_and_leaves_on_disconnect(
    presence_stack: EventsStack,
) -> None:
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    stack = presence_stack
    stack.set(EventsPresenceGroups="lobby*")
    lobby = "lobby-1"
    watcher = await json_client(stack.client_url(user_id="watcher", groups=[lobby]))
    elsewhere = await json_client(stack.client_url(user_id="elsewhere", groups=["lobby-2", "kitchen"]))
    await next_presence(watcher, "joined", "watcher")  # its own join, by token
    # By token:
    alice = await json_client(stack.client_url(user_id="alice", groups=[lobby]))
    joined = await next_presence(watcher, "joined", "alice")
    assert joined["group"] == lobby and joined["from"] == "group"
    assert joined["data"]["group"] == lobby and joined["data"]["connectionId"]
    # By the client's own request, and its leave:
    carol = await json_client(stack.client_url(user_id="carol", roles=[f"webpubsub.joinLeaveGroup.{lobby}"]))
    await carol.send(json.dumps({"type": "joinGroup", "group": lobby, "ackId": 1}))
    await next_presence(watcher, "joined", "carol")
    await carol.send(json.dumps({"type": "leaveGroup", "group": lobby, "ackId": 2}))
    await next_presence(watcher, "left", "carol")
    # By REST (the official service SDK), for a user:
    dave = await json_client(stack.client_url(user_id="dave"))
    service = WebPubSubServiceClient.from_connection_string(stack.emulator.connection_string, hub=stack.hub)
    await asyncio.to_thread(service.add_user_to_group, lobby, "dave")
    await next_presence(watcher, "joined", "dave")
    # Leaves when a connection ends:
    await alice.close()
    await next_presence(watcher, "left", "alice")
    await dave.close()
    await next_presence(watcher, "left", "dave")
    # The other lobby heard only its own member's join; the kitchen is not announced at all.
    heard = await presence_messages(elsewhere)
    assert [(p["event"], p["group"], p["userId"]) for p in heard] == [("joined", "lobby-2", "elsewhere")]
    for ws in (watcher, elsewhere, carol):
        await ws.close()
