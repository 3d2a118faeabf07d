"""What both dev servers (the emulator and the dev host) do against hostile HTTP clients.

* ``Host`` must be a host name or IP literal with an optional port 1-65535: anything else (a
  path, a query, a fragment, non-ASCII text) is an empty 400, as Kestrel answers, so no
  handler builds a URL from it.
* Request heads get :data:`HEADER_TIMEOUT_SECONDS`, as Kestrel's ``RequestHeadersTimeout``:
  aiohttp's keep-alive timer, armed when a connection opens and after each response, closes a
  connection whose next request head is not complete by then, however slowly bytes trickle in.
* Bodies must arrive at :data:`MIN_BODY_RATE` bytes per second after a grace period of
  :data:`BODY_GRACE_SECONDS`, as Kestrel's ``MinRequestBodyDataRate``; slower is a 408.
* Running out of file descriptors makes asyncio report every failed ``accept``; the reports
  are kept to one a minute (:class:`OncePerInterval`).
* aiohttp logs a request its parser refuses (a control byte in a header, say) with a traceback
  that quotes the offending line, bearer token and all; :class:`WithoutRequestBytes` keeps the
  record and drops the quote.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

HEADER_TIMEOUT_SECONDS = 30.0
MIN_BODY_RATE = 240  # bytes per second
BODY_GRACE_SECONDS = 5.0
RESOURCE_REPORT_SECONDS = 60.0

_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})?)(?::(?P<port>[0-9]{1,5}))?")


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


def valid_host(value: str) -> bool:
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    port = match.group("port")
    return port is None or 0 < int(port) < 65536


@web.middleware
async def host_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """An empty 400 for a ``Host`` header that is not ``host[:port]``."""
    host = request.headers.get("Host")
    if host is not None and not valid_host(host):
        return web.Response(status=400)
    return await handler(request)


async def read_body(
    request: web.Request,
    limit: int,
    *,
    min_rate: float = MIN_BODY_RATE,
    grace: float = BODY_GRACE_SECONDS,
) -> bytes:
    """The whole body; :class:`BodyTooLarge` past ``limit``, :class:`BodyTooSlow` under ``min_rate``.

    Each chunk must arrive before the average rate since the head falls under ``min_rate``
    (never earlier than ``grace``), so a client that trickles its body cannot hold a handler.
    """
    if (request.content_length or 0) > limit:
        raise BodyTooLarge
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks: list[bytes] = []
    total = 0
    while True:
        deadline = started + max(grace, total / min_rate)
        try:
            chunk = await asyncio.wait_for(request.content.readany(), max(deadline - loop.time(), 0.0))
        except TimeoutError:
            raise BodyTooSlow from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)


class OncePerInterval(logging.Filter):
    """Lets through the first of the asyncio records about running out of resources, then one
    per interval, so that fd exhaustion (an ``accept`` failure every retry) does not flood the log."""

    MARKERS = ("out of system resource", "Too many open files")

    def __init__(self, interval: float = RESOURCE_REPORT_SECONDS) -> None:
        super().__init__()
        self.interval = interval
        self.last = -interval

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        if not any(marker in text for marker in self.MARKERS):
            return True
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


class WithoutRequestBytes(logging.Filter):
    """Turns aiohttp's report of an unparsable request into one line naming the error's kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "Refused a malformed HTTP request (%s %s)", (error.code, type(error).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_RESOURCE_FILTER = OncePerInterval()
_REQUEST_BYTES_FILTER = WithoutRequestBytes()


def install_log_filters() -> None:
    """Install the filters once per process: asyncio's resource reports, aiohttp's parser errors."""
    for logger_name, log_filter in (("asyncio", _RESOURCE_FILTER), ("aiohttp.server", _REQUEST_BYTES_FILTER)):
        target = logging.getLogger(logger_name)
        if log_filter not in target.filters:
            target.addFilter(log_filter)
