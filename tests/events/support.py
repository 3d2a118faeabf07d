"""What the events tests share (tests/events/ and the events cases of tests/reliability/): the dev
host serving ``events``, an emulator whose hub settings point at it, Azurite's queue service, and
signed CloudEvents for posting to the function directly. The fixtures are made visible by
tests/events/conftest.py and by the reliability modules that use them."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from emulator import Emulator
from emulator.hub_settings import parse_hub_settings
from shared.events.caller import signature_entries
from shared.events.queue import close_queue_senders
from shared.events.settings import EVENTS_SETTING_NAMES
from shared.service import close_clients
from tests.audit import KNOWN_SECRETS
from tests.conftest import Stack
from tests.support import BackgroundLoop, http_call, unique_hub

EMULATOR_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"  # the emulator's public default key
ROTATION_KEY = "ROTATIONKEYROTATIONKEYROTATIONKEYROTATIONKEY"  # EventsSecondaryAccessKey in tests
KNOWN_SECRETS.add(ROTATION_KEY)


@dataclass
class EventsStack:
    """The emulator (calling the events function of the dev host) and the app's settings."""

    emulator: Emulator
    stack: Stack
    hub: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def port(self) -> int:
        return self.stack.host.port

    def set(self, **settings: str) -> None:
        for name, value in settings.items():
            self.monkeypatch.setenv(name, value)

    def client_url(self, **token: Any) -> str:
        service = WebPubSubServiceClient.from_connection_string(self.emulator.connection_string, hub=self.hub)
        return service.get_client_access_token(**token)["url"]

    async def post(self, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any, dict[str, str]]:
        return await http_call(self.base_url, "POST", "/api/events", body=body, headers=headers)


def hub_settings(port: int, hub: str, *, presence: bool = False) -> dict[str, Any]:
    """Every event of ``hub`` to the events function; with ``presence``, every group's joins and leaves too."""
    handler: dict[str, Any] = {
        "urlTemplate": f"http://localhost:{port}/api/events",
        "userEventPattern": "*",
        "systemEvents": ["connect", "connected", "disconnected"],
    }
    if presence:
        handler["groupPresenceEvents"] = {"eventNames": ["joined", "left"], "groupFilters": ["*"]}
    return {"hubs": {hub: {"eventHandlers": [handler]}}}


def running_events_stack(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch, *, presence: bool = False
) -> Iterator[EventsStack]:
    """An emulator of the test's own (in the background loop, so sync clients may block the test)
    whose hub sends every event to the dev host's ``events`` function."""
    hub = unique_hub()
    settings = hub_settings(stack.host.port, hub, presence=presence)
    emulator = Emulator(port=0, hub_settings=parse_hub_settings(settings))
    background.run(emulator.start())
    for name in EVENTS_SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WebPubSubConnectionString", emulator.connection_string)
    monkeypatch.setenv("WebPubSubHub", hub)
    yield EventsStack(emulator, stack, hub, monkeypatch)
    background.run(close_queue_senders())  # the function's cached clients live on the host's loop
    background.run(close_clients())
    background.run(emulator.stop())


@pytest.fixture
def events_stack(stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventsStack]:
    """The emulator sends connect, connected, disconnected and user events to the function."""
    yield from running_events_stack(stack, background, monkeypatch)


@pytest.fixture
def presence_stack(stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventsStack]:
    """As ``events_stack``, and the emulator sends every group's joins and leaves too (as the
    service does for a handler with ``groupPresenceEvents``)."""
    yield from running_events_stack(stack, background, monkeypatch, presence=True)


@pytest.fixture(scope="session")
def queue_azurite() -> Iterator[Azurite]:
    """Azurite's queue service for the session, its data on disk (so a restart keeps it)."""
    with tempfile.TemporaryDirectory() as folder, Azurite("queue", location=Path(folder)) as running:
        yield running


@pytest.fixture
def queue(queue_azurite: Azurite, events_stack: EventsStack) -> Iterator[QueueClient]:
    """A fresh queue for this test, the events function pointed at it."""
    name = "events-" + events_stack.hub.removeprefix("hub_").replace("_", "-")
    events_stack.set(AzureWebJobsStorage=queue_azurite.connection_string, EventsQueueName=name)
    client = QueueClient.from_connection_string(queue_azurite.connection_string, name)
    yield client
    client.close()


def drain(client: QueueClient) -> list[dict[str, Any]]:
    """Every envelope on the queue, as a consumer reads it (base64 text, as Functions writes it)."""
    envelopes = []
    while True:
        messages = list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=30))
        if not messages:
            return envelopes
        for message in messages:
            envelopes.append(json.loads(base64.b64decode(message.content)))
            client.delete_message(message)


def queued_count(client: QueueClient) -> int:
    try:
        return client.get_queue_properties().approximate_message_count or 0
    except Exception:  # the queue was never made: nothing was queued
        return 0


def cloud_event(
    hub: str,
    connection_id: str,
    ce_type: str,
    *,
    event_name: str | None = None,
    user_id: str | None = None,
    state: str | None = None,
    event_id: str = "1",
    key: str | None = EMULATOR_KEY,
    content_type: str = "application/json; charset=utf-8",
) -> dict[str, str]:
    """The headers the service sends with one event, signed with ``key`` (none when None)."""
    headers = {
        "Content-Type": content_type,
        "WebHook-Request-Origin": "localhost",
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": f"/hubs/{hub}/client/{connection_id}",
        "ce-id": event_id,
        "ce-time": "2026-12-07T14:00:00Z",
        "ce-hub": hub.lower(),
        "ce-connectionId": connection_id,
        "ce-eventName": event_name or ce_type.rsplit(".", 1)[-1],
        "ce-awpsversion": "1.0",
    }
    if key is not None:
        headers["ce-signature"] = ",".join(signature_entries(connection_id, [key]))
    if user_id is not None:
        headers["ce-userId"] = user_id
    if state is not None:
        headers["ce-connectionState"] = state
    return headers
