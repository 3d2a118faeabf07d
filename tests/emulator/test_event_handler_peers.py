"""Event handlers with real peers: the official Python client, and a function app on the dev host."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubDataType
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncServiceClient

from devhost import DevHost, LocalSettings
from emulator import DEFAULT_ACCESS_KEY, Emulator
from emulator.hub_settings import parse_hub_settings
from tests.audit import KNOWN_SECRETS
from tests.emulator.event_handler import (
    EventHandlerApp,
    client_url,
    echo_upper,
    emulator_for,
    hub_settings,
    json_client,
    receive_json,
)
from tests.emulator.js_peers import installed_js_peers
from tests.support import BackgroundLoop

UPSTREAM_APP = Path(__file__).parent / "upstream_app"
FUNCTION_KEY = "upstream-function-key"
KNOWN_SECRETS.add(FUNCTION_KEY)  # the session audit checks every log line and answer for it


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


@pytest.fixture
def echo_emulator(background: BackgroundLoop) -> Iterator[Emulator]:
    """An emulator whose hub ``chat`` sends every event to an upper-casing echo handler."""
    handler = EventHandlerApp()
    background.run(handler.__aenter__())
    handler.answer = echo_upper
    emulator = Emulator(port=0, hub_settings=parse_hub_settings(hub_settings(handler)))
    background.run(emulator.start())
    yield emulator
    background.run(emulator.stop())
    background.run(handler.__aexit__())


def test_the_python_client_send_event_gets_its_answer_through_the_handler(echo_emulator: Emulator) -> None:
    service = WebPubSubServiceClient.from_connection_string(echo_emulator.connection_string, hub="chat")
    credential = WebPubSubClientCredential(lambda: service.get_client_access_token(user_id="py")["url"])
    client = WebPubSubClient(credential=credential)
    answers: list[tuple[str, object]] = []
    lock = threading.Lock()

    def on_server_message(event: object) -> None:
        with lock:
            answers.append((event.data_type, event.data))  # type: ignore[attr-defined]

    client.subscribe(CallbackType.SERVER_MESSAGE, on_server_message)
    client.open()
    try:
        client.send_event("echo", "hello handler", WebPubSubDataType.TEXT)  # waits for the ack
        client.send_event("echo", {"n": [1, 2]}, WebPubSubDataType.JSON)
        assert wait_until(lambda: len(answers) == 2)
    finally:
        client.close()
    assert answers == [(WebPubSubDataType.TEXT, "HELLO HANDLER"), (WebPubSubDataType.JSON, {"n": [1, 2]})]


async def test_a_function_app_on_the_dev_host_is_the_event_handler(
    monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    monkeypatch.setenv("EVENT_HANDLER_ACCESS_KEY", DEFAULT_ACCESS_KEY)
    host = DevHost(UPSTREAM_APP, LocalSettings(function_key=FUNCTION_KEY), port=0, serve_demo=False)
    async with host:
        template = f"http://127.0.0.1:{host.port}/api/events/{{event}}?code={FUNCTION_KEY}"
        handler = {"urlTemplate": template, "userEventPattern": "*", "systemEvents": ["connect", "connected"]}
        async with emulator_for({"hubs": {"chat": {"eventHandlers": [handler]}}}) as emulator:
            url = client_url(emulator, user_id="alice")
            ws = await json_client(url)
            async with AsyncServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
                assert await service.user_exists("alice@functions")  # connect renamed the user
                await service.send_to_group("from-function", {"joined": "by the function"})
                message = await receive_json(ws)
            assert (message["group"], message["data"]) == ("from-function", {"joined": "by the function"})
            await ws.send(json.dumps({"type": "event", "event": "hi", "ackId": 1, "dataType": "text", "data": "ping"}))
            assert await receive_json(ws) == {"type": "ack", "ackId": 1, "success": True}
            answer = await receive_json(ws)
            assert answer == {"type": "message", "from": "server", "dataType": "text", "data": "function saw: ping"}
            await ws.close()
    assert not any(FUNCTION_KEY in line for line in log_lines)


@pytest.fixture(scope="session")
def node_client() -> Path:
    """The official JS client, installed from this project's own lock file on first use."""
    return installed_js_peers() / "send_event.mjs"


async def test_the_js_client_send_event_gets_its_answers_through_the_handler(node_client: Path) -> None:
    async with EventHandlerApp() as handler, emulator_for(hub_settings(handler)) as emulator:
        handler.answer = echo_upper
        process = await asyncio.create_subprocess_exec(
            "node", str(node_client), client_url(emulator, user_id="node"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()[-2000:]
        report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["results"] == [{"ackId": i, "isDuplicated": False} for i in (1, 2, 3)]
    assert report["answers"] == [
        {"dataType": "text", "data": "HELLO FROM NODE"},
        {"dataType": "json", "data": {"n": [1, 2]}},
        {"dataType": "binary", "data": base64.b64encode(bytes([0, 1, 255])).decode()},
    ]
    sent = [(r.headers["Content-Type"], r.body) for r in handler.events("echo")]
    assert sent == [
        ("text/plain", b"hello from node"),
        ("application/json", b'{"n":[1,2]}'),
        ("application/octet-stream", bytes([0, 1, 255])),
    ]
