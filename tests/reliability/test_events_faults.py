"""Client events under faults: a handler that fails (a fault-injecting proxy between the emulator
and the events function) and Azurite's queue stopped and restarted mid-run. No event acked as
queued is lost; events refused meanwhile get error acks (the client may send them again)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from emulator import Emulator
from emulator.hub_settings import parse_hub_settings
from shared.events.queue import close_queue_senders
from shared.events.settings import EVENTS_SETTING_NAMES
from tests.conftest import Stack
from tests.events import support as events_fixtures
from tests.events.support import drain, hub_settings
from tests.fakes.fault_proxy import FaultProxy
from tests.reliability.conftest import Sizes
from tests.support import BackgroundLoop, unique_hub

queue_azurite = events_fixtures.queue_azurite
CLIENTS = 4


@pytest.fixture
def faulty_events(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch, queue_azurite: Azurite
) -> Iterator[tuple[Emulator, str, FaultProxy, QueueClient]]:
    """The emulator sends the hub's events to the events function through a fault-injecting proxy
    (only POSTs meet faults: abuse protection passes), and the function queues every user event."""
    hub = unique_hub()
    proxy = FaultProxy(stack.host.port, seed=23, only_methods=frozenset({"POST"}))
    background.run(proxy.start())
    settings = hub_settings(proxy.port, hub)
    settings["hubs"][hub]["eventHandlers"][0]["systemEvents"] = []  # faults for user events, not handshakes
    emulator = Emulator(port=0, hub_settings=parse_hub_settings(settings), event_handler_timeout=10)
    background.run(emulator.start())
    for name in EVENTS_SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    name = "faults-" + hub.removeprefix("hub_")
    values = {
        "WebPubSubConnectionString": emulator.connection_string,
        "WebPubSubHub": hub,
        "AzureWebJobsStorage": queue_azurite.connection_string,
        "EventsQueueName": name,
        "EventsQueueEvents": "*",
    }
    for setting, value in values.items():
        monkeypatch.setenv(setting, value)
    queue = QueueClient.from_connection_string(queue_azurite.connection_string, name)
    yield emulator, hub, proxy, queue
    queue.close()
    background.run(close_queue_senders())
    background.run(emulator.stop())
    background.run(proxy.stop())


async def send_events(url: str, client: int, count: int, acks: dict[str, bool]) -> None:
    """One JSON client: ``count`` events, each awaited; its ack's outcome kept by its data."""
    async with websockets.connect(url, subprotocols=["json.webpubsub.azure.v1"], open_timeout=20) as ws:  # type: ignore[list-item]
        json.loads(await ws.recv())
        for index in range(count):
            data = f"c{client}-{index}"
            await ws.send(
                json.dumps({"type": "event", "event": "e", "ackId": index + 1, "dataType": "text", "data": data})
            )
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if reply.get("type") == "ack" and reply.get("ackId") == index + 1:
                    break
            acks[data] = bool(reply.get("success"))


async def test_no_event_acked_as_queued_is_lost_under_handler_faults_and_a_storage_restart(
    faulty_events: tuple[Emulator, str, FaultProxy, QueueClient],
    queue_azurite: Azurite,
    sizes: Sizes,
    figures: dict[str, Any],
) -> None:
    emulator, hub, proxy, queue = faulty_events
    service = WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=hub)
    per_client = max(30, sizes.fault_publishes // 2)  # 30 events a client fast, 150 under --soak
    acks: dict[str, bool] = {}
    started = time.monotonic()

    async def restart_storage_midway() -> float:
        while len(acks) < CLIENTS * per_client // 3:
            await asyncio.sleep(0.05)
        begun = time.monotonic()
        await asyncio.to_thread(queue_azurite.restart)
        return time.monotonic() - begun

    urls = [service.get_client_access_token(user_id=f"u{i}")["url"] for i in range(CLIENTS)]
    senders = [send_events(url, i, per_client, acks) for i, url in enumerate(urls)]
    *_, restart_seconds = await asyncio.gather(*senders, restart_storage_midway())
    queued = Counter(envelope["data"] for envelope in drain(queue))
    acked = [data for data, success in acks.items() if success]
    lost = [data for data in acked if queued[data] == 0]
    figures["events under faults: handler faults injected"] = dict(proxy.injected)
    figures["events under faults: acked as queued / error acks"] = f"{len(acked)} / {len(acks) - len(acked)}"
    figures["events under faults: queued without a success ack (duplicates to expect)"] = sum(
        count for data, count in queued.items() if not acks.get(data)
    ) + sum(count - 1 for count in queued.values() if count > 1)
    figures["events under faults: Azurite restart (s)"] = round(restart_seconds, 2)
    figures["events under faults: run (s)"] = round(time.monotonic() - started, 2)
    assert len(acks) == CLIENTS * per_client
    assert acked, "no event was queued at all"
    assert len(acked) < len(acks), "no fault reached a client: the test proves nothing"
    assert not lost, f"{len(lost)} events acked as queued are not on the queue: {lost[:10]}"
