"""`make run`'s whole loop with no cloud: Azurite, the emulator wired to the `events` function, presence, the queue.

The stack runs as `make run` runs it (its arguments from the Makefile, the example settings) on
free ports; two signed-in clients go through it as the demo page does, and the queue is read as
the banner says a developer reads it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import websockets.sync.client

from tests.e2e.stack_process import listening, local_loop, settings_file, stack_banner, start, stop, warnings_in
from tests.support import APP_ROOT, free_port

SUBPROTOCOL = "json.webpubsub.azure.v1"


def signed_in_url(base_url: str, user: str) -> str:
    """What the demo page does: a token from the development identity provider, then negotiate
    with the demo group and the user's own."""
    with urlopen(
        Request(f"{base_url}/dev-identity/token", data=urlencode({"username": user}).encode()), timeout=5
    ) as r:
        token = json.loads(r.read())["access_token"]
    query = urlencode([("group", "demo"), ("group", f"user-{user}")])
    request = Request(f"{base_url}/api/negotiate?{query}", headers={"Authorization": f"Bearer {token}"})
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())["url"]


def receive(ws: websockets.sync.client.ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def presence_seen(ws: websockets.sync.client.ClientConnection, event: str, user: str) -> dict[str, Any]:
    """The next presence message about ``user`` doing ``event`` (other messages are skipped)."""
    for _ in range(20):
        message = receive(ws)
        data = message.get("data")
        presence = message.get("type") == "message" and isinstance(data, dict) and data.get("type") == "presence"
        if presence and (data["event"], data["userId"]) == (event, user):
            return message
    raise AssertionError(f"no presence message: {user} {event}")


def ack(ws: websockets.sync.client.ClientConnection) -> dict[str, Any]:
    """The next ack (presence messages may come first)."""
    for _ in range(20):
        message = receive(ws)
        if message.get("type") == "ack":
            return message
    raise AssertionError("no ack")


def test_make_queue_runs_the_queue_reader() -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "queue", "TAKE=1"], cwd=APP_ROOT, capture_output=True, text=True
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.strip().splitlines()[-1].endswith("-m devtools.queue_peek --take")


def test_make_run_starts_azurite_and_wires_the_events_function_for_events_presence_and_the_queue() -> None:
    with local_loop() as loop:
        banner, base_url = loop.banner, loop.base_url
        assert listening(loop.queue_port) and listening(loop.table_port)
        assert "    AzureWebJobsStorage names no account: the app uses Azurite's, for this run" in banner
        reader = next(line for line in banner if "what your services would receive from the queue: " in line)
        if loop.queue_port == 10001:  # Azurite's default port, where make queue looks
            assert reader.endswith(": make queue")
        else:
            assert f"-m devtools.queue_peek --connection-string '{loop.queue_storage}" in reader
        assert f"Event handler: the emulator sends the events of hub pubsub to {base_url}/api/events" in banner
        assert warnings_in(banner) == []

        with websockets.sync.client.connect(signed_in_url(base_url, "bob"), subprotocols=[SUBPROTOCOL]) as bob:  # type: ignore[list-item]
            assert receive(bob)["event"] == "connected"
            presence_seen(bob, "joined", "bob")  # his own join, published to the group by the events function
            alice_url = signed_in_url(base_url, "alice")
            with websockets.sync.client.connect(alice_url, subprotocols=[SUBPROTOCOL]) as alice:  # type: ignore[list-item]
                connected = receive(alice)
                joined = presence_seen(bob, "joined", "alice")
                assert joined["group"] == "demo" and joined["dataType"] == "json"
                assert joined["data"]["group"] == "demo"
                assert joined["data"]["connectionId"] == connected["connectionId"]
                event = {"type": "event", "event": "note", "dataType": "text", "data": "hello back end", "ackId": 1}
                alice.send(json.dumps(event))
                assert ack(alice) == {"type": "ack", "ackId": 1, "success": True}  # queued before the ack
            presence_seen(bob, "left", "alice")

        peek = loop.queued()
        assert peek.returncode == 0, peek.stderr
        (envelope,) = [json.loads(line) for line in peek.stdout.splitlines()]
        assert {name: envelope[name] for name in ("hub", "eventName", "userId", "dataType", "data")} == {
            "hub": "pubsub",
            "eventName": "note",
            "userId": "alice",
            "dataType": "text",
            "data": "hello back end",
        }
        assert envelope["connectionId"] == connected["connectionId"]
        assert "1 waiting on client-events" in peek.stderr
        taken = loop.queued("--take")
        assert [json.loads(line)["id"] for line in taken.stdout.splitlines()] == [envelope["id"]]
        assert loop.queued().stdout == ""  # taken means gone, as for a back-end service


def test_a_storage_account_in_the_settings_starts_no_azurite(tmp_path: Path) -> None:
    account = "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=bm90LWEtcmVhbC1rZXk=;"
    path = settings_file(tmp_path, AzureWebJobsStorage=account)
    process = start(["-m", "devhost.stack", *stack_arguments(), "--settings", str(path)], clean=True)
    try:
        banner = stack_banner(process)
    finally:
        stop(process)
    assert not any(line.startswith("Storage: ") for line in banner)
    assert any(line.startswith("Event handler: the emulator sends the events of hub pubsub") for line in banner)
    assert "bm90LWEtcmVhbC1rZXk=" not in "\n".join(banner)


def stack_arguments() -> list[str]:
    return ["--dev-identity", "--port", str(free_port()), "--emulator-port", str(free_port())]


def test_a_hub_name_that_cannot_be_wired_stops_the_stack_with_a_settings_error(tmp_path: Path) -> None:
    path = settings_file(tmp_path, WebPubSubHub="1bad")
    process = start(["-m", "devhost.stack", *stack_arguments(), "--settings", str(path)], clean=True)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "error: WebPubSubHub / WebPubSubAllowedHubs cannot be wired to the events function: hubs.1bad" in output
    assert "Traceback" not in output


def test_the_banner_says_when_the_events_function_has_nothing_to_do(tmp_path: Path) -> None:
    path = settings_file(tmp_path, EventsPresenceGroups="", EventsQueueEvents="")
    process = start(["-m", "devhost.stack", *stack_arguments(), "--settings", str(path)], clean=True)
    try:
        banner = stack_banner(process)
    finally:
        stop(process)
    assert (
        "    EventsPresenceGroups and EventsQueueEvents are not set: the function accepts connections and does "
        "nothing else (local.settings.example.json sets both)"
    ) in banner
