"""Microsoft's own dispatcher decodes every event the emulator sends, ``connect`` to ``gp.left``.

``@azure/web-pubsub-express`` (pinned in tests/js) runs under node as the hub's event handler;
it calls ``handleConnect``, ``onConnected``, ``onGroupJoined``, ``handleUserEvent``,
``onGroupLeft`` and ``onDisconnected`` only for requests it recognises (``ce-awpsversion``,
``WebHook-Request-Origin``, a known ``ce-type``, the right ``ce-hub``), so a header the emulator
got wrong shows up here as a callback that never came. User events go in all three content types
(text, JSON, binary, from a JSON client) and as a plain client's ``message``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.emulator.event_handler import SYSTEM_EVENTS, client_url, emulator_for, json_client, receive_json
from tests.emulator.js_peers import installed_js_peers

USER_EVENTS = [("text", "hi"), ("json", {"n": [1, 2]}), ("binary", base64.b64encode(bytes([0, 1, 255])).decode())]
EVERY_EVENT = [
    "handleConnect",
    "onConnected",
    "onGroupJoined",
    "onGroupJoined",
    "handleUserEvent",
    "handleUserEvent",
    "handleUserEvent",
    "onGroupLeft",
    "onGroupLeft",
    "onDisconnected",
]


class NodeHandler:
    """The dispatcher in a node process; ``url`` is its handler URL, ``next()`` its next decoded event."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}/api/webpubsub/hubs/{{hub}}/"

    async def next(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 15)
        assert line, "the node handler stopped"
        return json.loads(line)


@pytest.fixture
async def node_handler() -> AsyncIterator[NodeHandler]:
    script = installed_js_peers() / "express_handler.mjs"
    process = await asyncio.create_subprocess_exec(
        "node", str(script), "chat", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=Path(script).parent
    )
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    assert first.startswith("listening "), first
    yield NodeHandler(process, int(first.split()[1]))
    process.terminate()
    await process.wait()


async def test_the_express_dispatcher_decodes_every_event_type_the_emulator_sends(node_handler: NodeHandler) -> None:
    handler = {
        "urlTemplate": node_handler.url,
        "userEventPattern": "*",
        "systemEvents": SYSTEM_EVENTS,
        "groupPresenceEvents": {"eventNames": ["joined", "left"]},
    }
    async with emulator_for({"hubs": {"chat": {"eventHandlers": [handler]}}}) as emulator:
        url = client_url(emulator, user_id="alice", groups=["lobby"], roles=["webpubsub.joinLeaveGroup"])
        ws = await json_client(url)
        await ws.send(json.dumps({"type": "joinGroup", "group": "room", "ackId": 1}))
        assert (await receive_json(ws))["success"] is True
        for ack_id, (data_type, data) in enumerate(USER_EVENTS, start=2):
            await ws.send(json.dumps({"type": "event", "event": f"say-{data_type}", "dataType": data_type,
                                      "data": data, "ackId": ack_id}))  # fmt: skip
            assert await receive_json(ws) == {"type": "ack", "ackId": ack_id, "success": True}  # the dispatcher's 200
        await ws.send(json.dumps({"type": "leaveGroup", "group": "room", "ackId": 9}))
        assert (await receive_json(ws))["success"] is True
        await ws.close()
        decoded = [await node_handler.next() for _ in EVERY_EVENT]
        async with websockets.connect(client_url(emulator, user_id="plain")) as plain:  # no subprotocol: raw
            await plain.send("a text frame")
            plain_events = [await node_handler.next() for _ in range(3)]
    assert [event["callback"] for event in decoded] == EVERY_EVENT  # nothing was left to "unhandled"
    connection_id = decoded[0]["context"]["connectionId"]
    names = ["connect", "connected", "joined", "joined", "say-text", "say-json", "say-binary", "left", "left"]
    for event, name in zip(decoded, [*names, "disconnected"], strict=True):
        assert event["context"] == {
            "userId": "alice",
            "hub": "chat",
            "connectionId": connection_id,
            "eventName": name,
            "origin": "localhost",
            "clientProtocol": "default",
            "signed": True,
        }
    connect, _, joined_lobby, joined_room, text, json_event, binary, left_room, left_lobby, disconnected = decoded
    assert connect["claims"]["sub"] == ["alice"]
    assert connect["subprotocols"] == ["json.webpubsub.azure.v1"]
    assert (joined_lobby["group"], joined_room["group"]) == ("lobby", "room")
    assert [(e["dataType"], e["data"]) for e in (text, json_event, binary)] == USER_EVENTS
    assert (left_room["group"], left_lobby["group"]) == ("room", "lobby")
    assert "reason" in disconnected
    assert [e["callback"] for e in plain_events] == ["handleConnect", "onConnected", "handleUserEvent"]
    message = plain_events[2]
    assert (message["context"]["eventName"], message["dataType"], message["data"]) == (
        "message",
        "text",
        "a text frame",
    )
    assert message["context"]["userId"] == "plain"
