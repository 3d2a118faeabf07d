"""A fault-injecting HTTP proxy on loopback, between the app and the Web PubSub emulator.

Each request meets the next fault of a seeded random schedule: pass, drop the connection,
answer 500 or 503 without forwarding, wait two seconds, or forward and *then* answer 500 (the
message was delivered, but the caller cannot know: the shape that makes retries duplicate).
The Host header is kept, so the emulator checks the SDK's signed audience as if called directly.
With ``only_methods`` or ``only_paths``, other requests always pass; after ``max_faults`` faults
(when given), every request passes.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import aiohttp
from aiohttp import web
from yarl import URL

from tests.fakes.loopback import serve_on_loopback

FAULTS = ("pass", "drop", "500", "503", "delay", "forward_then_500")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int = 7,
        weights: dict[str, int] | None = None,
        only_methods: frozenset[str] | None = None,
        only_paths: frozenset[str] | None = None,
        max_faults: int | None = None,
    ) -> None:
        self.upstream = f"http://127.0.0.1:{upstream_port}"
        self.only_methods = only_methods
        self.only_paths = only_paths
        self.max_faults = max_faults
        self.faults = 0  # requests that met a fault other than "pass"
        self.random = random.Random(seed)
        self.weights = weights or {"pass": 5, "drop": 1, "500": 1, "503": 1, "delay": 1, "forward_then_500": 1}
        self.injected: Counter[str] = Counter()
        self.forwarded: list[tuple[bytes, str]] = []  # (request body, fault) of each forwarded request, in order
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _next_fault(self) -> str:
        kinds = list(self.weights)
        return self.random.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self._chosen(request):
            return await self._forward(request)
        fault = self._next_fault()
        self.injected[fault] += 1
        self.faults += fault != "pass"
        if fault == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more is written to the dropped connection
        if fault in ("500", "503"):
            return web.Response(status=int(fault))
        if fault == "delay":
            await asyncio.sleep(2)
        response = await self._forward(request)
        self.forwarded.append((await request.read(), fault))
        if fault == "forward_then_500":
            return web.Response(status=500)
        return response

    def _chosen(self, request: web.Request) -> bool:
        """Whether ``request`` meets the schedule at all (its method and path, and faults left)."""
        return (
            (self.only_methods is None or request.method in self.only_methods)
            and (self.only_paths is None or request.path in self.only_paths)
            and (self.max_faults is None or self.faults < self.max_faults)
        )

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method,
            URL(self.upstream + request.raw_path, encoded=True),  # as sent: signatures cover the path
            headers=headers,
            data=await request.read(),
            skip_auto_headers=("Content-Type",),  # a signed request's empty Content-Type stays empty
        ) as upstream:
            body = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=body, headers=out_headers)
