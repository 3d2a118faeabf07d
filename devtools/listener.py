"""The dev servers' listening socket (dev host and emulator): aiohttp's HTTP protocol, except for one answer.

aiohttp answers a request head its parser refuses (a control byte in a header, a space in a
header name, a folded line) with a plain-text 400 that quotes the offending line, bearer token
and all. No middleware sees that request, and aiohttp has no setting for the text
(aio-libs/aiohttp#3287, #9882): the answer comes from the connection's
``RequestHandler.handle_error``. So both dev servers listen with a protocol factory of their own whose
handler answers with the status alone (an empty 400, as Kestrel, in front of the Functions host
and of Web PubSub, answers a bad request head).
What is logged is filtered elsewhere (``devtools.http_guard.WithoutRequestBytes``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class QuietRequestHandler(web.RequestHandler):
    """aiohttp's connection handler; its error answers carry a status and never the request."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        return super().handle_error(request, status, exc, None)


async def listen(
    runner: web.AppRunner, host: str, port: int, *, header_timeout: float, max_line: int
) -> asyncio.Server:
    """Serve ``runner``'s application on ``host:port``; close the result before ``runner.cleanup()``.

    Both dev servers take the same connection rules: no access log (each logs its own line), an
    idle connection closed after ``header_timeout`` (as Kestrel's head timeout), and request and
    header lines up to ``max_line`` characters (so that a URL-length rule answers, not the parser).
    """
    loop = asyncio.get_running_loop()
    server = runner.server
    assert server is not None, "runner.setup() first"
    options: dict[str, Any] = {
        "access_log": None,
        "keepalive_timeout": header_timeout,
        "max_line_size": max_line,
        "max_field_size": max_line,
    }
    return await loop.create_server(
        lambda: QuietRequestHandler(server, loop=loop, **options), host, port, reuse_address=True
    )
