"""The emulator's aiohttp application and an :class:`Emulator` to run it in-process.

``Emulator`` starts on a port (0 picks a free one), exposes its connection string and stops
cleanly; tests and ``make run`` use the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.http_guard import HEADER_TIMEOUT_SECONDS, host_guard, install_log_filters
from devtools.listener import listen
from emulator.clients import KEEPALIVE_SECONDS, ClientEndpoint
from emulator.events import DEFAULT_RETRY_DELAYS, DEFAULT_TIMEOUT_SECONDS, EventHandlers
from emulator.hub_settings import HubSettings
from emulator.model import RECOVERY_SECONDS, Service
from emulator.rest import RestApi
from emulator.validation import MAX_BODY_BYTES

logger = logging.getLogger("emulator")

DEFAULT_ACCESS_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
DEFAULT_PORT = 8080
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0")
MAX_REQUEST_LINE = 128 * 1024  # room for a 64 KB token, which then gets a proper 401


@dataclass
class Stats:
    """What a developer may want to know about the traffic, e.g. whether callers pool connections."""

    rest_requests: int = 0
    rest_peers: set[tuple[str, int]] = field(default_factory=set)

    def to_json(self) -> dict[str, int]:
        return {"restRequests": self.rest_requests, "restConnections": len(self.rest_peers)}


def build_app(
    service: Service,
    access_key: str,
    stats: Stats,
    events: EventHandlers,
    *,
    allow_unvalidated_entra_tokens: bool = False,
    middlewares: tuple[Any, ...] = (),
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> tuple[web.Application, ClientEndpoint]:
    rest = RestApi(service, access_key, allow_unvalidated_entra_tokens=allow_unvalidated_entra_tokens)
    clients = ClientEndpoint(service, access_key, events, keepalive_seconds=keepalive_seconds)

    @web.middleware
    async def count_rest_calls(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/hubs/") and request.transport is not None:
            stats.rest_requests += 1
            stats.rest_peers.add(request.transport.get_extra_info("peername")[:2])
        return await handler(request)

    async def stats_handler(request: web.Request) -> web.Response:
        return web.json_response(stats.to_json())

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[*middlewares, host_guard, count_rest_calls])
    app.router.add_get("/_emulator/stats", stats_handler)
    app.router.add_get("/api/health", health)  # add_get also answers HEAD
    app.router.add_route("*", r"/api/{tail:[\s\S]*}", rest.handle)  # any byte, even a decoded newline
    app.router.add_get("/client/hubs/{hub}", clients.handle)
    app.router.add_get("/client/hubs/{hub}/", clients.handle)
    app.router.add_get("/client", clients.handle)
    app.router.add_get("/client/", clients.handle)
    return app, clients


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


def check_access_key(access_key: str) -> None:
    """``ValueError`` unless the key can sign tokens as the service's keys do and fits in a
    connection string (``;`` separates its fields)."""
    if len(access_key.encode("utf-8")) < 32 or ";" in access_key or access_key != access_key.strip():
        raise ValueError("The access key needs at least 32 bytes, no ';' and no edge white space.")


class Emulator:
    """A running emulator: ``await start()``, read ``connection_string``, ``await stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        access_key: str = DEFAULT_ACCESS_KEY,
        allow_unvalidated_entra_tokens: bool = False,
        middlewares: tuple[Any, ...] = (),
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
        hub_settings: dict[str, HubSettings] | None = None,
        event_handler_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        event_handler_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        """``middlewares`` are extra aiohttp middlewares, outermost first (tracing, auditing);
        ``keepalive_seconds`` is how often each client socket is pinged and ``header_timeout``
        how long a request head may take (tests shorten both); ``hub_settings`` (see
        :mod:`emulator.hub_settings`) name the hubs' event handlers, and ``event_handler_retry_delays``
        the waits before each retry of a failed event (1, 3 and 5 s, as Microsoft's emulator; tests shorten them)."""
        check_access_key(access_key)
        self.host = host
        self.port = port
        self.access_key = access_key
        self.service = Service()
        self.stats = Stats()
        self.events = EventHandlers(
            hub_settings or {},
            (access_key,),
            origin=self.public_host,
            timeout=event_handler_timeout,
            retry_delays=event_handler_retry_delays,
        )
        self.app, self.clients = build_app(
            self.service,
            access_key,
            self.stats,
            self.events,
            allow_unvalidated_entra_tokens=allow_unvalidated_entra_tokens,
            middlewares=middlewares,
            keepalive_seconds=keepalive_seconds,
        )
        self.header_timeout = header_timeout
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._janitor: asyncio.Task[None] | None = None

    @property
    def public_host(self) -> str:
        """The host name clients and event handlers see (``WebHook-Request-Origin``)."""
        return "localhost" if self.host in LOOPBACK_HOSTS else self.host

    @property
    def endpoint(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"Endpoint=http://{self.public_host};Port={self.port};AccessKey={self.access_key};Version=1.0;"

    async def start(self) -> None:
        install_log_filters()
        self._runner = web.AppRunner(self.app, handler_cancellation=True)
        await self.events.start()
        await self._runner.setup()
        try:
            self._listener = await listen(
                self._runner, self.host, self.port, header_timeout=self.header_timeout, max_line=MAX_REQUEST_LINE
            )
        except BaseException:
            await self.stop()  # the port is taken, say: leave nothing half-started
            raise
        if self.port == 0:
            self.port = self._listener.sockets[0].getsockname()[1]
        self._janitor = asyncio.create_task(self._expire_detached())

    async def stop(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        await self.clients.close_all()
        await self.events.close()
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def drop_connection(self, connection_id: str) -> bool:
        """Cut a client's socket without a close frame, as a network failure does."""
        return self.clients.drop(connection_id)

    async def _expire_detached(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, RECOVERY_SECONDS))
            self.service.expire_detached(time.monotonic())
