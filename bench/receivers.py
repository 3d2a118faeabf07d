"""A lean WebSocket subscriber swarm, so that the load generator is not what gets measured.

Each subscriber is a raw asyncio protocol: it sends the upgrade request, then only parses
frame headers (server frames are unmasked) and reads the send timestamp that every benchmark
message starts with. Thousands of them fit in one process at tens of thousands of frames/s.
Run as ``python -m bench.receivers URL COUNT`` in its own process; it reports over stdout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from urllib.parse import urlsplit

STAMP_BYTES = 20  # every benchmark payload starts with f"{time.time():<20.6f}"


class Subscriber(asyncio.Protocol):
    def __init__(self, request: bytes, stats: Stats) -> None:
        self.request = request
        self.stats = stats
        self.buffer = bytearray()
        self.upgraded = False
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.ready.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded = True
            self.ready.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer, stats = self.buffer, self.stats
        offset = 0
        now = time.time()
        while len(buffer) - offset >= 2:
            length = buffer[offset + 1] & 0x7F
            header = 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                header = 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                header = 10
            if len(buffer) - offset < header + length:
                break
            if buffer[offset] & 0x0F in (1, 2):  # text or binary data frame
                stats.frames += 1
                stats.bytes += length
                if stats.frames % stats.sample_every == 0:
                    stamp = bytes(buffer[offset + header : offset + header + STAMP_BYTES])
                    with contextlib.suppress(ValueError):  # a payload without a timestamp
                        stats.latencies.append(now - float(stamp))
            offset += header + length
        del buffer[:offset]


class Stats:
    def __init__(self, sample_every: int) -> None:
        self.frames = 0
        self.bytes = 0
        self.closed = 0
        self.sample_every = sample_every
        self.latencies: list[float] = []


def upgrade_request(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return parts.hostname or "127.0.0.1", parts.port or 80, request


async def run(url: str, count: int, sample_every: int) -> None:
    """Connect ``count`` subscribers, print ``ready``, then report stats on each ``report`` line."""
    loop = asyncio.get_running_loop()
    stats = Stats(sample_every)
    host, port, request = upgrade_request(url)
    transports = []
    for start in range(0, count, 200):  # connect in batches, as a real crowd does
        batch = [
            loop.create_connection(lambda: Subscriber(request, stats), host, port)
            for _ in range(min(200, count - start))
        ]
        for transport, protocol in await asyncio.gather(*batch):
            await protocol.ready
            transports.append(transport)
    print(json.dumps({"ready": len(transports)}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.decode().strip()
        if command == "report":
            latencies, stats.latencies = stats.latencies, []
            print(
                json.dumps(
                    {"frames": stats.frames, "bytes": stats.bytes, "closed": stats.closed, "latencies": latencies}
                ),
                flush=True,
            )
        elif command == "quit":
            break
    for transport in transports:
        transport.close()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1))
