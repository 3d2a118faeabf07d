"""A lean closed-loop HTTP/1.1 load generator: ``python -m bench.http_load SPEC_JSON``.

SPEC: ``{"url", "method", "requests", "concurrency", "headers", "body"}``, and optionally
``"unique_header"``: a header whose value differs on every request (e.g. ``Idempotency-Key``). It opens
``concurrency`` keep-alive connections, each sending its next request as soon as the previous
answer is complete, until ``requests`` are done; then prints one JSON line: requests/s, p50/p99
latency in ms and the status counts. It is a raw asyncio protocol (a request is one prepared
bytes object, an answer is parsed only as far as its status and Content-Length), so that the
generator costs far less than the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

from bench.latency import summarize


class Connection(asyncio.Protocol):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.started = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def send_next(self) -> None:
        assert self.transport is not None
        request = self.run.take()
        if request is None:
            self.transport.close()
            return
        self.started = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            length = next(
                (int(line.split(":", 1)[1]) for line in head[1:] if line.lower().startswith("content-length:")), 0
            )
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.run.record(int(head[0].split(" ", 2)[1]), time.perf_counter() - self.started)
            self.send_next()


class Run:
    def __init__(self, requests: int, head: bytes, body: bytes, unique_header: str | None) -> None:
        self.remaining = requests
        self.head = head
        self.body = body
        self.unique_header = unique_header
        self.prepared = head + b"\r\n" + body
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()

    def take(self) -> bytes | None:
        """The next request's bytes, or None when all were sent."""
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        if self.unique_header is None:
            return self.prepared
        return self.head + f"{self.unique_header}: run-{id(self)}-{self.remaining}\r\n\r\n".encode() + self.body

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds)


def build_request(spec: dict) -> tuple[str, int, bytes, bytes]:
    parts = urlsplit(spec["url"])
    body = spec.get("body", "").encode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, "Content-Length": str(len(body)), **spec.get("headers", {})}
    head = f"{spec.get('method', 'GET')} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return parts.hostname or "127.0.0.1", parts.port or 80, head.encode(), body


async def run(spec: dict) -> dict:
    host, port, head, body = build_request(spec)
    state = Run(spec["requests"], head, body, spec.get("unique_header"))
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    connections = [
        (await loop.create_connection(lambda: Connection(state), host, port))[1] for _ in range(spec["concurrency"])
    ]
    await asyncio.gather(*(connection.closed for connection in connections))
    return summarize(state.latencies, time.perf_counter() - started, state.statuses)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
