"""A closed-loop client-event load generator: ``python -m bench.events_load SPEC_JSON``.

SPEC: ``{"url", "events", "concurrency", "data"}``. It opens ``concurrency`` WebSocket clients
of the JSON subprotocol (``json.webpubsub.azure.v1``, as the official clients speak it) at the
client access ``url``; each sends an ``event`` with an ``ackId`` and waits for its ack before
sending the next, until ``events`` are acked. It prints one JSON line: acked events/s, p50/p99
latency in ms, and the acks counted by outcome (``success`` or the error's name).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import websockets

from bench.latency import summarize

PROTOCOL = "json.webpubsub.azure.v1"


async def client(url: str, data: str, quota: list[int], latencies: list[float], outcomes: Counter[str]) -> None:
    async with websockets.connect(url, subprotocols=[PROTOCOL], open_timeout=30) as ws:  # type: ignore[list-item]
        json.loads(await ws.recv())  # connected
        ack_id = 0
        while quota[0] > 0:
            quota[0] -= 1
            ack_id += 1
            started = time.perf_counter()
            frame = {"type": "event", "event": "bench", "ackId": ack_id, "dataType": "text", "data": data}
            await ws.send(json.dumps(frame))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("type") == "ack" and reply.get("ackId") == ack_id:
                    break
            latencies.append(time.perf_counter() - started)
            outcomes["success" if reply.get("success") else str(reply.get("error", {}).get("name"))] += 1


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    quota, latencies, outcomes = [int(spec["events"])], [], Counter()  # type: ignore[var-annotated]
    started = time.perf_counter()
    data = spec.get("data", "x")
    await asyncio.gather(*(client(spec["url"], data, quota, latencies, outcomes) for _ in range(spec["concurrency"])))
    return summarize(latencies, time.perf_counter() - started, outcomes)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
