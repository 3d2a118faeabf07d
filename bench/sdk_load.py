"""The publish baseline: the async SDK calling ``send_to_all`` directly, closed loop.

``python -m bench.sdk_load CONNECTION_STRING HUB REQUESTS CONCURRENCY BYTES`` prints one JSON
line like :mod:`bench.http_load`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from bench.latency import summarize


async def run(connection_string: str, hub: str, requests: int, concurrency: int, size: int) -> dict:
    latencies: list[float] = []
    remaining = requests
    message = "x" * size
    async with WebPubSubServiceClient.from_connection_string(connection_string, hub=hub) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await client.send_to_all(message, content_type="text/plain")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summarize(latencies, elapsed, {"202": len(latencies)})


if __name__ == "__main__":
    connection_string, hub, requests, concurrency, size = sys.argv[1:6]
    result = asyncio.run(run(connection_string, hub, int(requests), int(concurrency), int(size)))
    print(json.dumps(result), flush=True)
