"""Hostile input on the new paths of group presence and the local loop.

* group names a client chooses travel to the handler only inside a JSON body, byte for byte, never
  in the URL or a header, and names the service refuses send nothing;
* hostile ``groupPresenceEvents`` settings stop the emulator with a message, not a traceback;
* whatever sits on the queue, ``make queue`` prints one JSON line per message, escaped, and never
  writes a control character to the developer's terminal.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from emulator.hub_settings import HubSettingsError, load_hub_settings
from tests.emulator.event_handler import (
    EventHandlerApp,
    client_url,
    emulator_for,
    json_client,
    receive_json,
    signature_valid,
)
from tests.emulator.group_presence import MAY_JOIN, presence, presence_settings
from tests.support import APP_ROOT

HOSTILE_GROUPS = [
    'quote" and \\backslash',
    '{"group": "forged"}',
    "</script><script>alert(1)</script>",
    "../../admin",
    "%2e%2e%2fadmin?code=stolen#",
    "tab\there",
    "nul\x00byte",
    "esc\x1b[2J",
    "next\x85line",
    "line\u2028separator",
    "é✓😀",
    "g" * 1024,
]


async def test_hostile_group_names_reach_the_handler_only_in_the_json_body_byte_for_byte() -> None:
    async with EventHandlerApp() as handler, emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", roles=MAY_JOIN))
        for ack_id, group in enumerate(HOSTILE_GROUPS):
            await ws.send(json.dumps({"type": "joinGroup", "group": group, "ackId": ack_id}))
            assert (await receive_json(ws))["success"] is True
        await ws.close()
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    joined = [group for event, group in presence(handler) if event == "joined"]
    left = [group for event, group in presence(handler) if event == "left"]
    assert joined == HOSTILE_GROUPS  # in order, each exactly as the client named it
    assert sorted(left) == sorted(HOSTILE_GROUPS)
    for received in handler.events():
        if received.event in ("joined", "left"):
            assert received.path == f"/hubs/chat/events/{received.event}"  # the group is never in the URL
            assert received.raw_path == received.path
            assert signature_valid(received)
            assert not any(name.lower().startswith("x-") for name in received.headers)  # nothing injected
            assert received.body.isascii()  # JSON-escaped: no raw control character or line separator


@pytest.mark.parametrize("group", ["\ud800", "line\nbreak", "", "   ", "g" * 1025])
async def test_a_group_name_the_service_refuses_sends_no_presence_event(group: str) -> None:
    async with EventHandlerApp() as handler, emulator_for(presence_settings(handler)) as emulator:
        ws = await json_client(client_url(emulator, user_id="alice", roles=MAY_JOIN, groups=["lobby"]))
        await ws.send(json.dumps({"type": "joinGroup", "group": group, "ackId": 1}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive_json(ws)
            await receive_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007  # malformed: declined
        await handler.wait_for(lambda: len(handler.events("disconnected")) == 1)
    assert presence(handler) == [("joined", "lobby"), ("left", "lobby")]  # the token's group, nothing else


HOSTILE_PRESENCE_SETTINGS = {
    "eventNames is a number": {"eventNames": 1e999},
    "eventNames holds null": {"eventNames": [None]},
    "eventNames in capitals": {"eventNames": ["Joined"]},
    "groupFilters is an object": {"eventNames": ["joined"], "groupFilters": {"a": 1}},
    "a filter over 1024 characters": {"eventNames": ["joined"], "groupFilters": ["g" * 1025]},
    "a wildcard in the middle": {"eventNames": ["joined"], "groupFilters": ["a*b*"]},
    "a filter of white space": {"eventNames": ["joined"], "groupFilters": ["\t"]},
    "an unknown field": {"eventNames": ["joined"], "auth": {"type": "ManagedIdentity"}},
    "nested deeply": {"eventNames": [[[[[["joined"]]]]]]},
    "a string": "joined,left",
}


@pytest.mark.parametrize("case", list(HOSTILE_PRESENCE_SETTINGS))
def test_hostile_group_presence_settings_are_refused_with_a_message(tmp_path: Path, case: str) -> None:
    handler = {"urlTemplate": "http://127.0.0.1:1/", "groupPresenceEvents": HOSTILE_PRESENCE_SETTINGS[case]}
    path = tmp_path / "hubs.json"
    path.write_text(json.dumps({"hubs": {"chat": {"eventHandlers": [handler]}}}))
    with pytest.raises(HubSettingsError, match=r"hubs\.chat\.eventHandlers\[0\]\.groupPresenceEvents"):
        load_hub_settings(path)
    started = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--hub-settings", str(path)],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode == 2
    assert "Traceback" not in started.stderr and "groupPresenceEvents" in started.stderr


@pytest.fixture(scope="module")
def queue_service() -> Iterator[Azurite]:
    with Azurite("queue") as running:
        yield running


HOSTILE_MESSAGES = {
    "not base64": "this is not base64 at all!",
    "base64 of bytes that are not UTF-8": base64.b64encode(b"\xff\xfe\x00").decode(),
    "base64 of text that is not JSON": base64.b64encode(b"hello").decode(),
    "an envelope with terminal escapes": base64.b64encode(
        json.dumps({"eventName": "x", "data": "\x1b[2J\x1b]0;owned\x07\r\n"}).encode()
    ).decode(),
    "the largest message": base64.b64encode(json.dumps({"data": "x" * 48_000}).encode()).decode(),
}


def test_make_queue_prints_every_hostile_message_as_one_escaped_json_line(queue_service: Azurite) -> None:
    queue = QueueClient.from_connection_string(queue_service.connection_string, "hostile")
    queue.create_queue()
    for content in HOSTILE_MESSAGES.values():
        queue.send_message(content)
    for options in ([], ["--take"]):
        printed = subprocess.run(
            [
                sys.executable,
                "-m",
                "devtools.queue_peek",
                "--connection-string",
                queue_service.connection_string,
                "--queue",
                "hostile",
                *options,
            ],
            cwd=APP_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert printed.returncode == 0, printed.stderr
        lines = printed.stdout.splitlines()
        assert len(lines) == len(HOSTILE_MESSAGES)
        assert all(character.isprintable() for line in lines for character in line)  # no escape reaches the terminal
        decoded = [json.loads(line) for line in lines]
        assert decoded[:3] == [{"undecodable": content} for content in list(HOSTILE_MESSAGES.values())[:3]]
        assert decoded[3]["data"] == "\x1b[2J\x1b]0;owned\x07\r\n"  # kept, but only as JSON escapes
        assert len(decoded[4]["data"]) == 48_000
    assert queue.peek_messages() == []  # --take removed them
    missing = subprocess.run(
        [sys.executable, "-m", "devtools.queue_peek", "--connection-string", queue_service.connection_string,
         "--queue", "never-created"],
        cwd=APP_ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert missing.returncode == 0 and "does not exist yet" in missing.stderr and missing.stdout == ""
