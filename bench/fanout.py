"""Emulator fan-out: REST broadcasts of 2 KiB messages to N plain WebSocket subscribers.

Method (as the service's own performance figures): raise the broadcast rate step by step and
keep the highest outbound rate whose p99 delivery latency stays under one second with nothing
lost. The same steps drive the baseline, a minimal ``websockets.broadcast()`` server, in the
same run. Servers and subscribers run in their own processes, all on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import jwt

from bench.latency import percentile
from bench.processes import Child, free_port, wait_for_port
from bench.stack import CLIENT_CORES, SERVER_CORES, pin
from emulator import DEFAULT_ACCESS_KEY

PAYLOAD_BYTES = 2048
HUB = "bench"
P99_LIMIT_SECONDS = 1.0


@dataclass
class Step:
    target_out_per_s: int
    out_per_s: float
    p50_ms: float
    p99_ms: float
    lost: int

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.p99_ms < P99_LIMIT_SECONDS * 1000


@dataclass
class FanoutResult:
    server: str
    subscribers: int
    best: Step | None
    steps: list[Step]
    cpu_us_per_message: float  # server CPU time over every step, per delivered message

    def to_json(self) -> dict:
        return asdict(self)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def payload() -> bytes:
    stamp = f"{time.time():<20.6f}".encode()
    return stamp + b"x" * (PAYLOAD_BYTES - len(stamp))


async def broadcast_at(url: str, headers: dict[str, str], rate: float, seconds: float) -> int:
    """POST broadcasts at ``rate`` per second for ``seconds``; returns how many were accepted."""
    total = max(1, int(rate * seconds))
    accepted = 0
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            nonlocal accepted
            async with limit, session.post(url, data=payload(), headers=headers) as response:
                accepted += response.status == 202

        start = time.perf_counter()
        tasks = []
        for index in range(total):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return accepted


def server_child(server: str) -> tuple[Child, int, int]:
    """The server process (``emulator`` or ``baseline``), its HTTP port and its WebSocket port."""
    http_port = free_port()
    if server == "emulator":
        return Child("emulator", "--port", str(http_port)), http_port, http_port
    ws_port = free_port()
    return Child("bench.baseline_server", str(ws_port), str(http_port)), http_port, ws_port


def endpoints(http_port: int, ws_port: int) -> tuple[str, dict[str, str], str]:
    """The broadcast URL, its headers and the subscribe URL, with tokens signed by the emulator's key."""
    now = int(time.time())
    client_token = jwt.encode(
        {"aud": f"http://127.0.0.1:{ws_port}/client/hubs/{HUB}", "exp": now + 3600},
        DEFAULT_ACCESS_KEY,
        algorithm="HS256",
    )
    send_url = f"http://127.0.0.1:{http_port}/api/hubs/{HUB}/:send"
    rest_token = jwt.encode({"aud": send_url, "exp": now + 3600}, DEFAULT_ACCESS_KEY, algorithm="HS256")
    headers = {"Authorization": f"Bearer {rest_token}", "Content-Type": "text/plain"}
    subscribe_url = f"ws://127.0.0.1:{ws_port}/client/hubs/{HUB}?access_token={client_token}"
    return send_url, headers, subscribe_url


def measure_step(
    receivers: Child, url: str, headers: dict[str, str], subscribers: int, target: int, seconds: float
) -> tuple[Step, int]:
    receivers.send("report")
    before = receivers.receive()["frames"]
    started = time.perf_counter()
    accepted = asyncio.run(broadcast_at(url, headers, target / subscribers, seconds))
    expected = accepted * subscribers
    deadline = time.perf_counter() + 5
    latencies: list[float] = []
    while True:
        receivers.send("report")
        report = receivers.receive()
        latencies += report["latencies"]
        delivered = report["frames"] - before
        if delivered >= expected or time.perf_counter() > deadline:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    step = Step(
        target_out_per_s=target,
        out_per_s=round(delivered / elapsed),
        p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        lost=expected - delivered,
    )
    return step, delivered


def run_fanout(server: str, subscribers: int, targets: list[int], seconds: float) -> FanoutResult:
    """``server`` is ``emulator`` or ``baseline``; steps stop at the first failing target."""
    child, http_port, ws_port = server_child(server)
    with child:
        pin(child.process.pid, SERVER_CORES)
        wait_for_port(http_port)
        wait_for_port(ws_port)
        send_url, headers, subscribe_url = endpoints(http_port, ws_port)
        sample_every = max(1, subscribers // 50)
        with Child("bench.receivers", subscribe_url, str(subscribers), str(sample_every), pipe=True) as receivers:
            pin(receivers.process.pid, CLIENT_CORES)
            assert receivers.receive()["ready"] == subscribers
            steps: list[Step] = []
            delivered_total = 0
            cpu_before = cpu_seconds(child.process.pid)
            for target in targets:
                step, delivered = measure_step(receivers, send_url, headers, subscribers, target, seconds)
                steps.append(step)
                delivered_total += delivered
                if not step.ok:
                    break
            cpu_used = cpu_seconds(child.process.pid) - cpu_before
    passing = [s for s in steps if s.ok]
    best = max(passing, key=lambda s: s.out_per_s) if passing else None
    return FanoutResult(server, subscribers, best, steps, cpu_used * 1e6 / max(delivered_total, 1))


if __name__ == "__main__":
    import sys

    server = sys.argv[1] if len(sys.argv) > 1 else "emulator"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(json.dumps(run_fanout(server, count, [30_000, 60_000, 90_000, 120_000, 160_000], 2.0).to_json(), indent=2))
