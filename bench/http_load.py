"""A closed-loop HTTP load generator: ``python -m bench.http_load SPEC_JSON``.

SPEC: ``{"url", "method", "requests", "concurrency", "headers", "body"}``. It keeps
``concurrency`` requests in flight over one pooled aiohttp session until ``requests`` are done,
then prints one JSON line: requests/s, p50/p99 latency in ms and the status counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import aiohttp

from bench.latency import summarize


async def run(spec: dict) -> dict:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    remaining = spec["requests"]
    body = spec.get("body", "").encode()
    connector = aiohttp.TCPConnector(limit=spec["concurrency"])
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.request(
                    spec.get("method", "GET"), spec["url"], data=body or None, headers=spec.get("headers", {})
                ) as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        elapsed = time.perf_counter() - started
    return summarize(latencies, elapsed, dict(statuses))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
