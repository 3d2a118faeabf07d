"""Load: every accepted publish reaches every subscriber exactly once, unaltered, in order per publisher.

A share of the messages is close to the 1 MiB limit, so a body cut short anywhere on the way
counts as altered, not as delivered.

The emulator and the dev host run as separate processes (as under `make run`), so their file
descriptors and memory can be read before and after.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import websockets

from bench.stack import FUNCTION_KEY, HUB, start_stack
from emulator import DEFAULT_ACCESS_KEY
from tests.reliability.conftest import Sizes
from tests.support import process_usage

GROUP = "load"
MIB = 1024 * 1024
# The app's client pool keeps idle connections to the service for aiohttp's keep-alive time (15 s).
# Its clean-up runs every 15 s and closes those idle for 15 s, so one used just after a run closes
# at the next run but one: up to 30 s, plus the timer's rounding.
KEEPALIVE_SECONDS = 35
# A message not delivered this long after the last publish was accepted counts as lost.
DRAIN_SECONDS = 60
# Bounds that only stop a hung run (not timing assertions): the publishes of the soak size, the
# stack's start (two 20 s port waits), and the negotiates and resource checks after the load.
PUBLISH_GUARD_SECONDS = 300
SETUP_AND_CHECKS_SECONDS = 120


def pids_by_port(*ports: int) -> dict[int, int]:
    """The listening process of each port, found through /proc (no psutil needed)."""
    inodes: dict[str, int] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        port = int(fields[1].split(":")[1], 16)
        if port in ports and fields[3] == "0A":  # LISTEN
            inodes[fields[9]] = port
    found: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = fd.readlink().as_posix()
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    found[inodes[target[8:-1]]] = int(proc.name)
        except OSError:
            continue
    return found


def wait_for_baseline(pids: dict[int, int], baseline: dict[int, tuple[int, int]], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        now = {port: process_usage(pid) for port, pid in pids.items()}
        settled = all(now[port][0] <= baseline[port][0] + 2 for port in baseline)
        if settled or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def message_body(worker: int, n: int, large: bool) -> bytes:
    """The compact JSON a publisher sends; a large one is padded to just under 1 MiB with varied text."""
    head = {"w": worker, "n": n}
    if not large:
        return json.dumps(head, separators=(",", ":")).encode()
    rng = random.Random(worker * 1_000_003 + n)
    room = MIB - len(json.dumps({**head, "pad": ""}, separators=(",", ":"))) - rng.randint(0, 64)
    return json.dumps({**head, "pad": rng.randbytes(room // 2).hex()}, separators=(",", ":")).encode()


async def subscribe(url: str, count: int) -> list[Any]:
    sockets = []
    for _ in range(count):
        socket = await websockets.connect(
            url, subprotocols=["json.webpubsub.azure.v1"], max_queue=None, max_size=2 * MIB
        )
        assert json.loads(await socket.recv())["event"] == "connected"
        sockets.append(socket)
    return sockets


async def collect(socket: Any, expected: int, into: list[tuple[int, int]], sent: dict[tuple[int, int], bytes]) -> None:
    """Record each message's (worker, n), or (-1, -1) for one whose data differs from what was sent.

    Runs until ``expected`` messages arrived; the caller cancels it when the drain time is up.
    """
    while len(into) < expected:
        frame = await socket.recv()
        message = json.loads(frame)
        if message.get("type") == "message":
            data = message["data"]
            key = (data["w"], data["n"])
            intact = json.dumps(data, separators=(",", ":")).encode() == sent.get(key)
            into.append(key if intact else (-1, -1))


async def run_load(stack: Any, sizes: Sizes) -> dict[str, Any]:
    now = int(time.time())
    token = jwt.encode(
        {
            "aud": f"http://127.0.0.1:{stack.emulator_port}/client/hubs/{HUB}",
            "exp": now + 3600,
            "webpubsub.group": [GROUP],
        },
        DEFAULT_ACCESS_KEY,
    )
    sockets = await subscribe(
        f"ws://127.0.0.1:{stack.emulator_port}/client/hubs/{HUB}?access_token={token}", sizes.subscribers
    )
    received: list[list[tuple[int, int]]] = [[] for _ in sockets]
    accepted: list[tuple[int, int]] = []
    sent: dict[tuple[int, int], bytes] = {}
    large_every = max(1, sizes.publishes // max(1, sizes.large_publishes))
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    last_accepted = time.monotonic()
    share, extra = divmod(sizes.publishes, sizes.publish_concurrency)
    connector = aiohttp.TCPConnector(limit=sizes.publish_concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def publisher(worker: int) -> None:
            nonlocal last_accepted
            for n in range(share + (worker < extra)):
                large = (n * sizes.publish_concurrency + worker) % large_every == large_every // 2
                body = sent[worker, n] = message_body(worker, n, large)
                started = time.perf_counter()
                async with http.post(
                    f"{stack.host_url}/api/publish?group={GROUP}",
                    data=body,
                    headers={"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"},
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 202:
                        accepted.append((worker, n))
                        last_accepted = time.monotonic()
                latencies.append(time.perf_counter() - started)

        total = sizes.publishes
        collectors = [
            asyncio.create_task(collect(s, total, into, sent)) for s, into in zip(sockets, received, strict=True)
        ]
        await asyncio.wait_for(
            asyncio.gather(*(publisher(w) for w in range(sizes.publish_concurrency))), PUBLISH_GUARD_SECONDS
        )
        _, late = await asyncio.wait(collectors, timeout=max(0.0, last_accepted + DRAIN_SECONDS - time.monotonic()))
        for collector in late:  # what they recorded so far stays in ``received``; the rest is lost
            collector.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for collector in collectors:
            if not collector.cancelled():
                collector.result()  # a subscriber that failed fails the test
    for socket in sockets:
        await socket.close()
    latencies.sort()
    return {
        "received": received,
        "accepted": accepted,
        "statuses": statuses,
        "large": sum(1 for body in sent.values() if len(body) > MIB // 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
    }


async def concurrent_negotiates(stack: Any, count: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> None:
            async with http.get(f"{stack.host_url}/api/negotiate") as response:
                body = await response.json()
                assert "url" in body or response.status != 200
                statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(one() for _ in range(count)))
    return statuses


@pytest.mark.timeout(SETUP_AND_CHECKS_SECONDS + PUBLISH_GUARD_SECONDS + DRAIN_SECONDS + KEEPALIVE_SECONDS)
def test_exactly_once_in_order_and_resources_back_to_baseline(sizes: Sizes, figures: dict[str, Any]) -> None:
    with ExitStack() as exits:
        stack = start_stack(exits)
        pids = pids_by_port(stack.emulator_port, stack.host_port)
        asyncio.run(concurrent_negotiates(stack, 20))  # warm up: modules, client pool, caches
        baseline = {port: process_usage(pid) for port, pid in pids.items()}

        result = asyncio.run(run_load(stack, sizes))
        negotiates = asyncio.run(concurrent_negotiates(stack, sizes.negotiates))
        after = wait_for_baseline(pids, baseline, KEEPALIVE_SECONDS if sizes.soak else 1)

    accepted = result["accepted"]
    by_worker: dict[int, list[int]] = {}
    for worker, n in accepted:
        by_worker.setdefault(worker, []).append(n)
    lost = duplicates = out_of_order = altered = 0
    for received in result["received"]:
        altered += received.count((-1, -1))
        into = [item for item in received if item != (-1, -1)]
        seen = set(into)
        lost += sum(1 for item in accepted if item not in seen)
        duplicates += len(into) - len(seen)
        for worker in by_worker:
            sequence = [n for w, n in into if w == worker]
            out_of_order += sum(1 for a, b in itertools.pairwise(sequence) if b <= a)
    fd_growth = {port: after[port][0] - baseline[port][0] for port in baseline}
    rss_growth_mib = {port: round((after[port][1] - baseline[port][1]) / 1024, 1) for port in baseline}

    accepted_text = f"{len(accepted)} of {sizes.publishes} (concurrency {sizes.publish_concurrency})"
    figures["load: publishes accepted"] = accepted_text
    figures["load: subscribers"] = sizes.subscribers
    figures["load: messages near 1 MiB"] = result["large"]
    figures["load: lost / altered / duplicates / out of order"] = f"{lost} / {altered} / {duplicates} / {out_of_order}"
    figures["load: publish p99 latency (ms)"] = result["p99_ms"]
    figures["load: concurrent negotiates"] = f"{sizes.negotiates}: {negotiates}"
    figures["load: fd growth (emulator, host)"] = (fd_growth[stack.emulator_port], fd_growth[stack.host_port])
    figures["load: RSS growth MiB (emulator, host)"] = (
        rss_growth_mib[stack.emulator_port],
        rss_growth_mib[stack.host_port],
    )

    assert result["statuses"] == {202: len(accepted)}
    assert len(accepted) == sizes.publishes
    assert result["large"] >= sizes.large_publishes
    assert (lost, altered, duplicates, out_of_order) == (0, 0, 0, 0)
    assert negotiates == {200: sizes.negotiates}
    # Right after the run the only extra descriptors are the app's pooled keep-alive connections to the
    # service (and their server ends), at most one per concurrent publisher; once idle they close.
    allowed = 2 if sizes.soak else sizes.publish_concurrency + 2
    assert all(growth <= allowed for growth in fd_growth.values()), fd_growth
    assert all(growth < 64 for growth in rss_growth_mib.values()), rss_growth_mib
