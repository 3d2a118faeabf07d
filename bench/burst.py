"""Fan-out under a burst: a handful of broadcasts sent back to back to app-like subscribers.

Where :mod:`bench.fanout` raises a steady rate step by step with raw-socket receivers, this is
the shape an app meets: :data:`BROADCASTS` REST broadcasts of 2 KiB, each POST sent as soon as
the previous one is answered, with one token, to N plain ``aiohttp`` subscribers in one process
(:mod:`bench.aiohttp_subscribers`). The rate is every delivered message over the time from the
first POST to the last delivery; latency is each message's, from its POST to its reader.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import aiohttp

from bench.fanout import cpu_seconds, endpoints, payload, server_child
from bench.latency import percentile
from bench.processes import Child, wait_for_port
from bench.stack import CLIENT_CORES, SERVER_CORES, pin

BROADCASTS = 60
DELIVERY_SECONDS = 20.0  # the longest a burst may take to arrive before what is missing counts as lost


@dataclass
class BurstResult:
    server: str
    subscribers: int
    out_per_s: float
    p50_ms: float
    p99_ms: float
    lost: int
    server_cpu_us: float  # per delivered message
    subscribers_cpu_us: float

    def to_json(self) -> dict:
        return asdict(self)


async def post_back_to_back(url: str, headers: dict[str, str], count: int) -> int:
    """POST ``count`` broadcasts, each after the previous answer; returns how many were accepted."""
    accepted = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.post(url, data=payload(), headers=headers) as response:
                accepted += response.status == 202
    return accepted


def run_burst(server: str, subscribers: int, broadcasts: int = BROADCASTS) -> BurstResult:
    """One burst against a fresh ``server`` process (``emulator`` or ``baseline``)."""
    child, http_port, ws_port = server_child(server)
    with child:
        pin(child.process.pid, SERVER_CORES)
        wait_for_port(http_port)
        wait_for_port(ws_port)
        send_url, headers, subscribe_url = endpoints(http_port, ws_port)
        with Child("bench.aiohttp_subscribers", subscribe_url, str(subscribers), pipe=True) as receivers:
            pin(receivers.process.pid, CLIENT_CORES)
            assert receivers.receive()["ready"] == subscribers
            cpu_before = cpu_seconds(child.process.pid), cpu_seconds(receivers.process.pid)
            started = time.time()
            accepted = asyncio.run(post_back_to_back(send_url, headers, broadcasts))
            expected = accepted * subscribers
            latencies: list[float] = []
            deadline = time.monotonic() + DELIVERY_SECONDS
            while True:
                receivers.send("report")
                report = receivers.receive()
                latencies += report["latencies"]
                if report["frames"] >= expected or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            cpu = cpu_seconds(child.process.pid) - cpu_before[0], cpu_seconds(receivers.process.pid) - cpu_before[1]
            receivers.send("quit")
    elapsed = max(report["last_at"] - started, 1e-9)
    return BurstResult(
        server,
        subscribers,
        round(report["frames"] / elapsed),
        round(percentile(latencies, 0.5) * 1000, 1),
        round(percentile(latencies, 0.99) * 1000, 1),
        expected - report["frames"],
        round(cpu[0] * 1e6 / max(report["frames"], 1), 2),
        round(cpu[1] * 1e6 / max(report["frames"], 1), 2),
    )


if __name__ == "__main__":
    import json
    import sys

    servers = sys.argv[1].split(",") if len(sys.argv) > 1 else ["emulator", "baseline"]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for _ in range(rounds):  # alternately, so both see the same machine load
        for server in servers:
            print(json.dumps(run_burst(server, count).to_json()), flush=True)
