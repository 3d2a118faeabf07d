"""Client events through the ``events`` function: JSON clients' ``sendEvent`` with acks.

One dev host serves both the app's ``events`` function and a no-op event handler (it allows the
abuse-protection check and answers every event 204), and one emulator sends each hub's user
events to one of them: hub ``bench`` to ``events``, hub ``benchnoop`` to the no-op. So the two
runs share the host, the emulator and the clients, and differ only in the handler. The queue is
off in that comparison; a second stack with Azurite's queue service (on the server core) reports
the rate with every event queued.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from azure.messaging.webpubsubservice import WebPubSubServiceClient

from bench.processes import ROOT, Child, free_port
from bench.stack import CLIENT_CORES, HUB, SERVER_CORES, make_app, pin
from devtools.azurite import Azurite
from emulator import DEFAULT_ACCESS_KEY

NOOP_HUB = "benchnoop"
NOOP_HANDLER = """import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "OPTIONS":
        return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": "*"})
    return func.HttpResponse(status_code=204)
"""
NOOP_HANDLER_JSON = {
    "scriptFile": "__init__.py",
    "bindings": [
        {
            "type": "httpTrigger",
            "direction": "in",
            "name": "req",
            "authLevel": "anonymous",
            "methods": ["options", "post"],
            "route": "noop-events",
        },
        {"type": "http", "direction": "out", "name": "$return"},
    ],
}


def start_events_stack(exits: ExitStack, values: dict[str, str] | None = None) -> str:
    """Emulator and dev host as above; returns the emulator's connection string."""
    host_port = free_port()
    folder = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-events-")))
    handlers = {
        HUB: f"http://localhost:{host_port}/api/events",
        NOOP_HUB: f"http://localhost:{host_port}/api/noop-events",
    }
    entries = {hub: {"eventHandlers": [{"urlTemplate": url, "userEventPattern": "*"}]} for hub, url in handlers.items()}
    settings = {"hubs": entries}
    (folder / "hub-settings.json").write_text(json.dumps(settings))
    emulator = exits.enter_context(
        Child("emulator", "--port", "0", "--hub-settings", str(folder / "hub-settings.json"), pipe=True)
    )
    # "localhost", as the emulator names itself in WebHook-Request-Origin: the events function
    # allows only the host of the connection string.
    connection = (
        f"Endpoint=http://localhost;Port={emulator.emulator_port()};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
    )
    app = folder / "app"
    app.mkdir()
    make_app(app, connection, values)
    (app / "events").symlink_to(ROOT / "events")
    (app / "noop-events").mkdir()
    (app / "noop-events" / "__init__.py").write_text(NOOP_HANDLER)
    (app / "noop-events" / "function.json").write_text(json.dumps(NOOP_HANDLER_JSON))
    unset = ("WebPubSubConnectionString", "WebPubSubEndpoint", "WebPubSubHub", "AzureWebJobsStorage")
    host = exits.enter_context(Child("devhost", str(app), "--port", str(host_port), unset=unset, pipe=True))
    host.wait_for_line("Functions (dev host on ")
    pin(emulator.process.pid, SERVER_CORES)
    pin(host.process.pid, SERVER_CORES)
    return connection


def events_load(connection: str, hub: str, events: int, concurrency: int) -> dict[str, Any]:
    url = WebPubSubServiceClient.from_connection_string(connection, hub=hub).get_client_access_token(
        user_id="bench", minutes_to_expire=60
    )["url"]
    spec = {"url": url, "events": events, "concurrency": concurrency, "data": "x" * 256}
    with Child("bench.events_load", json.dumps(spec), pipe=True) as child:
        pin(child.process.pid, CLIENT_CORES)
        return child.receive()


def client_events(size: Any) -> list[Any]:
    from bench.scenarios import Row

    events, concurrency = size.http_requests, size.concurrency
    warm = min(200, events)
    with ExitStack() as exits:
        connection = start_events_stack(exits)
        events_load(connection, NOOP_HUB, warm, concurrency)
        events_load(connection, HUB, warm, concurrency)
        # Interleaved, best of two: the least disturbed run of each on a shared machine.
        runs = [(hub, events_load(connection, hub, events, concurrency)) for hub in (NOOP_HUB, HUB) * 2]
        noop = max((run for hub, run in runs if hub == NOOP_HUB), key=lambda run: run["rps"])
        through_app = max((run for hub, run in runs if hub == HUB), key=lambda run: run["rps"])
    with ExitStack() as exits:
        azurite = exits.enter_context(Azurite("queue"))
        pin(azurite.pid, SERVER_CORES)
        connection = start_events_stack(
            exits, {"AzureWebJobsStorage": azurite.connection_string, "EventsQueueEvents": "*"}
        )
        events_load(connection, HUB, warm, concurrency)
        queued = events_load(connection, HUB, events, concurrency)
    ratio = through_app["rps"] / noop["rps"]
    failed = sum(count for _, run in runs for name, count in run["statuses"].items() if name != "success")
    failed_queued = sum(count for name, count in queued["statuses"].items() if name != "success")
    return [
        Row(
            "events",
            f"events/s, sendEvent with ack, queue off, {concurrency} clients",
            round(through_app["rps"]),
            "events/s",
            round(noop["rps"]),
            "no-op event handler function, same host",
            ">= 0.8x",
            ratio >= 0.8,
        ),
        Row("events", "p99 latency", round(through_app["p99_ms"], 2), "ms", round(noop["p99_ms"], 2), "no-op handler"),
        Row(
            "events",
            f"events/s, every event queued in Azurite, {concurrency} clients",
            round(queued["rps"]),
            "events/s",
            round(noop["rps"]),
            "no-op event handler function (first stack)",
            "reported",
        ),
        Row("events", "p99 latency, queued in Azurite", round(queued["p99_ms"], 2), "ms"),
        Row("events", "error acks", failed + failed_queued, "count", target="0", ok=failed + failed_queued == 0),
    ]
