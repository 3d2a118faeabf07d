"""The dev host: serves a function app's HTTP functions on aiohttp, as Azure would.

Routes are tried in the order the functions were loaded; the first whose template and
methods match wins, and anything else is a 404 (a wrong method too, as on Azure). Function
keys are enforced as on a deployed app; ``enforce_keys=False`` (``--no-auth``) skips them, as
``func start`` does by default. Sync functions run in a thread pool, ``async def`` ones on the
server's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.demo_page import DemoPage
from devhost.functions import HttpFunction, load_functions, read_host_json, route_prefix
from devhost.identity import PATH as IDENTITY_PATH
from devhost.identity import DevIdentityProvider
from devhost.keys import KeyCheck, check_key, presented_key, refusal_reason
from devhost.local_settings import LocalSettings
from devhost.mapping import to_function_request, to_web_response
from devtools import http_guard
from devtools.listener import listen

logger = logging.getLogger("devhost")

MAX_BODY_BYTES = 100 * 1024 * 1024  # Azure's HTTP request limit
MAX_URL_LENGTH = 4096  # Azure's limit; longer URLs get 414
MAX_REQUEST_LINE = 1024 * 1024
OPENAPI_FILE = "openapi.json"  # the app's contract, served when the app ships one


@dataclass(frozen=True)
class InvocationContext:
    """What the worker passes as ``context``: ids and the function's folder."""

    invocation_id: str
    function_name: str
    function_directory: str


class DevHost:
    def __init__(
        self,
        app_root: Path,
        settings: LocalSettings,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        enforce_keys: bool = True,
        serve_demo: bool = True,
        middlewares: tuple[Any, ...] = (),
        dev_identity: bool = False,
        header_timeout: float = http_guard.HEADER_TIMEOUT_SECONDS,
    ) -> None:
        self.app_root = app_root.resolve()
        self.settings = settings
        self.host = host
        self.port = settings.port if port is None else port
        self.enforce_keys = enforce_keys
        self.serve_demo = serve_demo
        self.middlewares = middlewares  # extra aiohttp middlewares, outermost first (tracing, auditing)
        self.header_timeout = header_timeout  # how long a request head may take (tests shorten it)
        # The development identity provider (devhost.identity); its issuer is set once the port is known.
        self.identity_provider = DevIdentityProvider() if dev_identity else None
        self.functions: list[HttpFunction] = []
        self.route_prefix = "api"
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{'localhost' if self.host in ('127.0.0.1', '0.0.0.0') else self.host}:{self.port}"

    def load(self) -> None:
        """Load the app; raises :class:`~devhost.functions.FunctionLoadError` on a bad app."""
        self.route_prefix = route_prefix(read_host_json(self.app_root))
        self.functions = load_functions(self.app_root, self.route_prefix)

    def build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[*self.middlewares, http_guard.host_guard, self._cors]
        )
        if self.serve_demo:
            DemoPage(IDENTITY_PATH if self.identity_provider is not None else None).add_routes(app)
        if self.identity_provider is not None:
            self.identity_provider.add_routes(app)
        if (self.app_root / OPENAPI_FILE).is_file():
            prefix = f"/{self.route_prefix.strip('/')}" if self.route_prefix.strip("/") else ""
            app.router.add_get(f"{prefix}/{OPENAPI_FILE}", self._openapi)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch)  # any byte, even a decoded newline
        return app

    async def start(self) -> None:
        if not self.functions:
            self.load()
        http_guard.install_log_filters()
        # Room for long request lines, so that the 4 KB URL rule below answers (414), not the parser.
        self._runner = web.AppRunner(self.build_app())
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
        if self.identity_provider is not None:
            self.identity_provider.issuer = self.base_url + IDENTITY_PATH

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None

    async def __aenter__(self) -> DevHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def describe(self) -> list[str]:
        """One line per function, as ``func start`` prints them."""
        lines = []
        for function in self.functions:
            methods = ",".join(sorted(function.methods)) if function.methods else "ALL"
            lines.append(f"{function.name}: [{methods}] {self.base_url}{function.route.text}")
        return lines

    # -- request handling -----------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if len(str(request.rel_url)) > MAX_URL_LENGTH:
            return web.Response(status=414)
        raw_path = request.raw_path.split("?", 1)[0]
        for function in self.functions:
            values = function.route.match(raw_path)
            if values is None or not function.allows(request.method):
                continue
            if _disabled(function.name):
                return web.Response(status=404)
            if self.enforce_keys and (refused := self._key_refusal(function, request)):
                logger.warning("401 for %s %s (Functions.%s): %s", request.method, raw_path, function.name, refused)
                return web.Response(status=401)  # empty, as on Azure: the log line says why
            return await self._invoke(function, request, values)
        return web.Response(status=404)

    def _key_refusal(self, function: HttpFunction, request: web.Request) -> str | None:
        """Why the request's key does not open ``function``, or ``None`` when it does."""
        settings = self.settings
        check = check_key(
            function.auth_level,
            presented_key(request.headers, request.query),
            settings.function_key,
            settings.master_key,
        )
        if check is KeyCheck.ACCEPTED:
            return None
        has_keys = settings.master_key is not None or (function.auth_level != "admin" and settings.function_key)
        return refusal_reason(check, function.auth_level, settings.source, bool(has_keys))

    async def _invoke(self, function: HttpFunction, request: web.Request, values: dict[str, str]) -> web.Response:
        started = time.perf_counter()
        try:
            body = await http_guard.read_body(request, MAX_BODY_BYTES)
        except http_guard.BodyTooLarge:
            return web.Response(status=413)
        except http_guard.BodyTooSlow:
            return web.Response(status=408)
        arguments: dict[str, Any] = {function.trigger_name: to_function_request(request, body, values)}
        if function.wants_context:
            arguments["context"] = InvocationContext(str(uuid.uuid4()), function.name, str(function.directory))
        try:
            if function.is_async:
                result = await function.entry(**arguments)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(None, functools.partial(function.entry, **arguments))
            response = to_web_response(result)
        except Exception:
            logger.exception("Executed 'Functions.%s' (Failed)", function.name)
            response = web.Response(status=500)
        elapsed = (time.perf_counter() - started) * 1000
        logger.info(
            "Executed 'Functions.%s' %s %s (%d, %.1f ms)",
            function.name,
            request.method,
            request.path,
            response.status,
            elapsed,
        )
        return response

    async def _openapi(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.app_root / OPENAPI_FILE, headers={"Content-Type": "application/json"})

    # -- CORS -------------------------------------------------------------------------------

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and self._origin_allowed(origin)
        if request.method == "OPTIONS" and origin and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            if allowed:
                response.headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"]
                requested_headers = request.headers.get("Access-Control-Request-Headers")
                if requested_headers:
                    response.headers["Access-Control-Allow-Headers"] = requested_headers
                response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed:
            self._allow_origin(response, origin or "")
        return response

    def _origin_allowed(self, origin: str) -> bool:
        origins = self.settings.cors_origins
        return "*" in origins or origin in origins

    def _allow_origin(self, response: web.StreamResponse, origin: str) -> None:
        wildcard = "*" in self.settings.cors_origins and not self.settings.cors_credentials
        response.headers["Access-Control-Allow-Origin"] = "*" if wildcard else origin
        if not wildcard:
            response.headers["Vary"] = "Origin"
        if self.settings.cors_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"


def _disabled(name: str) -> bool:
    return os.environ.get(f"AzureWebJobs.{name}.Disabled", "").strip().lower() in ("true", "1")
