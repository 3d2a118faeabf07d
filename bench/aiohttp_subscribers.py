"""Subscribers as apps write them: plain ``aiohttp`` WebSocket clients, all in one process.

Unlike :mod:`bench.receivers` (raw protocols that only parse frame headers), each subscriber
here is an ``aiohttp`` ``ws_connect`` with its own ``receive()`` loop, so a message costs the
receiving process what it costs an app. Every benchmark payload starts with its send time, and
every message's latency is kept. ``python -m bench.aiohttp_subscribers URL COUNT``: prints
``{"ready": COUNT}``, then answers each ``report`` line on stdin until ``quit``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

STAMP_BYTES = 20  # every benchmark payload starts with f"{time.time():<20.6f}"
CONNECT_BATCH = 200


class Tally:
    def __init__(self) -> None:
        self.frames = 0
        self.last_at = 0.0
        self.latencies: list[float] = []

    def count(self, data: str | bytes) -> None:
        now = time.time()
        self.frames += 1
        self.last_at = now
        self.latencies.append(now - float(data[:STAMP_BYTES]))


async def subscribe(ws: aiohttp.ClientWebSocketResponse, tally: Tally) -> None:
    async for message in ws:
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            tally.count(message.data)


async def run(url: str, count: int) -> None:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        for start in range(0, count, CONNECT_BATCH):
            batch = [session.ws_connect(url, autoping=True) for _ in range(min(CONNECT_BATCH, count - start))]
            sockets += await asyncio.gather(*batch)
        readers = [asyncio.create_task(subscribe(ws, tally)) for ws in sockets]
        print(json.dumps({"ready": len(sockets)}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if line.strip() == b"report":
                latencies, tally.latencies = tally.latencies, []
                report = {"frames": tally.frames, "last_at": tally.last_at, "latencies": latencies}
                print(json.dumps(report), flush=True)
            elif line.strip() == b"quit":
                break
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2])))
