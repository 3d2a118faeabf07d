"""A real HTTP event handler on loopback for the emulator's upstream tests.

It answers the abuse-protection ``OPTIONS`` the way Microsoft's handler SDKs do, records every
request it gets, checks ``ce-signature`` against the access key as a handler should, and answers
events with whatever the test scripts (``answer``), by default: ``connect`` 204, other system
events 200, user events echoed back with their content type.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import websockets
from aiohttp import web
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from multidict import CIMultiDict

from emulator import DEFAULT_ACCESS_KEY, Emulator
from emulator.hub_settings import parse_hub_settings
from tests.emulator.websocket_clients import handshake_status as websocket_handshake_status


@dataclass
class Received:
    method: str
    path: str
    raw_path: str  # as sent, before percent-decoding
    headers: CIMultiDict[str]
    body: bytes

    @property
    def event(self) -> str | None:
        return self.headers.get("ce-eventName")


Answer = Callable[[Received], Awaitable[web.StreamResponse]]


def signature_valid(received: Received, access_key: str = DEFAULT_ACCESS_KEY) -> bool:
    """As a handler checks it: one of the comma-separated ``sha256=`` values is the HMAC of the id."""
    expected = hmac.new(access_key.encode(), received.headers["ce-connectionId"].encode(), hashlib.sha256).hexdigest()
    offered = [value.strip() for value in received.headers.get("ce-signature", "").split(",")]
    return any(hmac.compare_digest(value, f"sha256={expected}") for value in offered)


async def default_answer(received: Received) -> web.StreamResponse:
    if received.event == "connect":
        return web.Response(status=204)
    if received.headers["ce-type"].startswith("azure.webpubsub.sys."):
        return web.Response(status=200)
    return web.Response(body=received.body, headers={"Content-Type": received.headers["Content-Type"]})


async def echo_upper(received: Received) -> web.StreamResponse:
    """Answers user events with their own data, text upper-cased, in the same content type."""
    if received.headers["ce-type"].startswith("azure.webpubsub.sys."):
        return web.Response(status=204 if received.event == "connect" else 200)
    body = received.body.upper() if received.headers["Content-Type"] == "text/plain" else received.body
    return web.Response(body=body, headers={"Content-Type": received.headers["Content-Type"]})


class EventHandlerApp:
    """``async with EventHandlerApp() as handler``; ``handler.url`` is the template to configure."""

    def __init__(self, allowed_origin: str | None = "*") -> None:
        self.allowed_origin = allowed_origin  # None: answer OPTIONS without WebHook-Allowed-Origin
        self.options_allowed = True  # False: OPTIONS is 404 and the validation comes as GET
        self.answer: Answer = default_answer
        self.received: list[Received] = []
        self.changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hubs/{{hub}}/events/{{event}}"

    async def __aenter__(self) -> EventHandlerApp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            request.method, request.path, request.raw_path, CIMultiDict(request.headers), await request.read()
        )
        self.received.append(received)
        self.changed.set()
        if request.method == "OPTIONS" and not self.options_allowed:
            return web.Response(status=404)
        if request.method == "OPTIONS" or (request.method == "GET" and not self.options_allowed):
            if "WebHook-Request-Origin" not in request.headers:
                return web.Response(status=400)
            headers = {"WebHook-Allowed-Origin": self.allowed_origin} if self.allowed_origin else {}
            return web.Response(status=200, headers=headers)
        if "WebHook-Request-Origin" not in request.headers or not signature_valid(received):
            return web.Response(status=401)
        return await self.answer(received)

    def events(self, name: str | None = None) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and (name is None or r.event == name)]

    def validations(self) -> list[Received]:
        return [r for r in self.received if r.method in ("OPTIONS", "GET")]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until ``condition()`` holds after some request arrived; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


# -- clients and emulators for handler tests ------------------------------------------------------

JSON_PROTOCOL = "json.webpubsub.azure.v1"
SYSTEM_EVENTS = ["connect", "connected", "disconnected"]


def hub_settings(
    app: EventHandlerApp, hub: str = "chat", entry: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """One handler for every event of ``hub``; ``entry`` changes its fields, ``overrides`` the hub's."""
    handler = {"urlTemplate": app.url, "userEventPattern": "*", "systemEvents": SYSTEM_EVENTS, **(entry or {})}
    return {"hubs": {hub: {"eventHandlers": [handler], **overrides}}}


FAST_RETRIES = (0.01, 0.02, 0.03)  # the default 1, 3 and 5 s, shortened so failing handlers cost no time


@asynccontextmanager
async def emulator_for(
    settings: dict[str, Any], timeout: float = 30.0, retry_delays: tuple[float, ...] = FAST_RETRIES
) -> AsyncIterator[Emulator]:
    emulator = Emulator(
        port=0,
        hub_settings=parse_hub_settings(settings),
        event_handler_timeout=timeout,
        event_handler_retry_delays=retry_delays,
    )
    async with emulator:
        yield emulator


def client_url(emulator: Emulator, hub: str = "chat", **token: Any) -> str:
    service = WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=hub)
    return service.get_client_access_token(**token)["url"]


async def handshake_status(url: str, **options: Any) -> int:
    """As the client endpoint tests', with time for a connect handler to answer (and be retried)."""
    return await websocket_handshake_status(url, open_timeout=10, **options)


async def receive_json(ws: websockets.ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def json_client(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, subprotocols=[JSON_PROTOCOL], open_timeout=10)  # type: ignore[list-item]
    connected = await receive_json(ws)
    assert connected["event"] == "connected"
    return ws
