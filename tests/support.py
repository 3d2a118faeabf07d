"""Helpers for running the real servers in tests: in a background thread, on loopback.

Sync SDK calls block; a server on the test's own event loop would then never answer. So
servers run on their own loop in a thread, and tests talk to them over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import azure.functions as func

T = TypeVar("T")

APP_ROOT = Path(__file__).resolve().parent.parent
TEST_KEY = "test-function-key"


class BackgroundLoop:
    """An event loop in a daemon thread; ``run(coro)`` executes there and returns the result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, function: Any, *args: Any) -> Any:
        async def wrapper() -> Any:
            return function(*args)

        return self.run(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def unique_hub() -> str:
    return "hub_" + uuid.uuid4().hex[:12]


def read_lines(descriptor: int, until: str | int, timeout: float = 20) -> list[str]:
    """The lines a child process writes to a pipe, up to the first that contains ``until`` (a
    marker) or until there are ``until`` of them (a count), EOF, or ``timeout`` seconds.

    Each read waits on the descriptor with the deadline, so a child that goes quiet fails the test
    instead of hanging it (a plain ``readline`` waits for ever). The caller checks what came. Output
    after the last line returned is not kept: read a child's first lines with this, not with both.
    """
    import os
    import select
    import time

    deadline = time.monotonic() + timeout
    lines: list[str] = []
    pending = b""

    def done() -> bool:
        return len(lines) >= until if isinstance(until, int) else bool(lines) and until in lines[-1]

    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
            break
        chunk = os.read(descriptor, 65536)
        if not chunk:
            break
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            lines.append(line.decode(errors="replace").rstrip("\r"))
            if done():
                break
    return lines


def function_request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    """A request shaped as the worker shapes it: absolute URL, lower-cased headers, bytes body."""
    from urllib.parse import parse_qsl, urlsplit

    url = "http://localhost:7071" + path
    params: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=False):
        params[name] = f"{params[name]},{value}" if name in params else value
    return func.HttpRequest(
        method=method,
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        params=params,
        route_params={},
        body=body,
    )


Answer = tuple[int, Any, dict[str, str]]  # status, JSON body (None when empty), headers
Call = Callable[..., Awaitable[Answer]]


async def http_call(
    base_url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Answer:
    """One request to a function through the dev host, over loopback HTTP, as a caller sends it."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, base_url + path, data=body or None, headers=headers or {}, skip_auto_headers=("Content-Type",)
        ) as response,
    ):
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None, dict(response.headers)


def process_usage(pid: int) -> tuple[int, int]:
    """Open file descriptors and resident memory (KiB) of a process."""
    descriptors = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return descriptors, rss


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_run_arguments(**variables: int) -> list[str]:
    """What `make run VAR=value ...` passes to devhost.stack, as make itself expands it (``make -n``)."""
    assignments = [f"{name}={value}" for name, value in variables.items()]
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *assignments],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    recipe = next(line for line in dry_run.stdout.splitlines() if "-m devhost.stack" in line)
    return shlex.split(recipe.split("-m devhost.stack", 1)[1])
