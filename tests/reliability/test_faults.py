"""Faults: the service down, restarted, or misbehaving behind a fault-injecting proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import websockets
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from emulator import DEFAULT_ACCESS_KEY, Emulator
from tests.conftest import Stack
from tests.fakes.black_hole import start_black_hole
from tests.fakes.fault_proxy import FaultProxy
from tests.reliability.conftest import Sizes
from tests.support import TEST_KEY, BackgroundLoop, unique_hub

# The app's own deadline for a service call is 5 s; only `make soak` checks answers against this
# (a loaded shared machine can stretch any time, so the fast run checks outcomes, not seconds).
DEADLINE_SECONDS = 6
# Bounds that only stop a hung test; they are not timing assertions.
HANG_GUARD_SECONDS = 60
MARKER = "end-of-test"


def connection_string(port: int) -> str:
    return f"Endpoint=http://localhost;Port={port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"


async def publish(http: aiohttp.ClientSession, stack: Stack, body: bytes, query: str = "") -> tuple[int, dict, float]:
    """Status, JSON body and seconds of one publish; a 503 must say when to retry."""
    started = time.monotonic()
    async with (
        asyncio.timeout(HANG_GUARD_SECONDS),
        http.post(
            f"{stack.base_url}/api/publish{query}",
            data=body,
            headers={"x-functions-key": TEST_KEY, "Content-Type": "text/plain"},
        ) as response,
    ):
        payload = await response.json()
        if response.status == 503:
            assert int(response.headers["Retry-After"]) > 0
        return response.status, payload, time.monotonic() - started


@contextlib.asynccontextmanager
async def counting_subscriber(emulator: Emulator, hub: str) -> AsyncIterator[Counter[str]]:
    """A JSON-protocol subscriber of group ``g`` that counts each message's data.

    When the block ends (after its last publish and its proxies have stopped), a marker is sent
    straight to the emulator and awaited: a connection's messages arrive in order, so everything
    delivered before the marker has been counted, and nothing late can be missed.
    """
    received: Counter[str] = Counter()
    marker_arrived = asyncio.Event()
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=hub) as service:
        url = (await service.get_client_access_token(groups=["g"]))["url"]
        async with websockets.connect(url, subprotocols=["json.webpubsub.azure.v1"], open_timeout=10) as subscriber:
            assert json.loads(await asyncio.wait_for(subscriber.recv(), 10))["event"] == "connected"

            async def listen() -> None:
                async for frame in subscriber:
                    message = json.loads(frame)
                    if message.get("type") != "message":
                        continue
                    if message["data"] == MARKER:
                        marker_arrived.set()
                    else:
                        received[message["data"]] += 1

            listener = asyncio.create_task(listen())
            try:
                yield received
                await service.send_to_group("g", MARKER, content_type="text/plain")
                await asyncio.wait_for(marker_arrived.wait(), HANG_GUARD_SECONDS)
            finally:
                listener.cancel()


async def test_service_down_then_back(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch, sizes: Sizes, figures: dict[str, Any]
) -> None:
    emulator = Emulator(port=0)
    background.run(emulator.start())
    port = emulator.port
    monkeypatch.setenv("WebPubSubConnectionString", connection_string(port))
    async with aiohttp.ClientSession() as http:
        assert (await publish(http, stack, b"before"))[0] == 202

        background.run(emulator.stop())
        status, body, seconds = await publish(http, stack, b"while down")
        assert status == 503 and body["error"]["code"] == "UpstreamUnavailable"  # with Retry-After: see publish
        if sizes.soak:  # timing is checked only in the soak run, never under `make test`
            assert seconds < DEADLINE_SECONDS
        async with http.get(f"{stack.base_url}/api/negotiate") as negotiated:  # key-based: no service call
            assert negotiated.status == 200

        restarted = Emulator(port=port)
        background.run(restarted.start())
        try:
            status, _, _ = await publish(http, stack, b"after restart")
            assert status == 202  # the same dev host, no restart: the client pool recovered by itself
        finally:
            background.run(restarted.stop())
    figures["faults: publish while the service is down"] = f"503 with Retry-After in {seconds:.2f} s"


async def test_a_service_that_never_answers_is_a_503_within_the_deadline(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch, sizes: Sizes, figures: dict[str, Any]
) -> None:
    """Accepts the connection, reads the request, never answers: the worst kind of outage.

    The black hole never answers, so any 503 at all comes from the app's own deadline; without
    one the publish would hang until the hang guard fails the test.
    """

    server = background.run(start_black_hole())
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("WebPubSubConnectionString", connection_string(port))
    try:
        async with aiohttp.ClientSession() as http:
            status, body, seconds = await publish(http, stack, b"into the void")
    finally:
        server.close()
    figures["faults: publish to a service that never answers"] = f"{status} in {seconds:.2f} s"
    assert status == 503 and body["error"]["code"] == "UpstreamUnavailable"
    if sizes.soak:
        assert seconds < DEADLINE_SECONDS


async def test_fault_injecting_proxy(
    stack: Stack,
    background: BackgroundLoop,
    shared_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    sizes: Sizes,
    figures: dict[str, Any],
) -> None:
    hub = unique_hub()
    proxy = FaultProxy(shared_emulator.port, seed=11)
    background.run(proxy.start())
    monkeypatch.setenv("WebPubSubConnectionString", connection_string(proxy.port))
    monkeypatch.setenv("WebPubSubAllowedHubs", hub)
    outcomes: Counter[int] = Counter()
    accepted: list[str] = []
    slowest = 0.0
    async with counting_subscriber(shared_emulator, hub) as received:
        try:
            async with aiohttp.ClientSession() as http:

                async def one(index: int) -> None:
                    nonlocal slowest
                    body = f"m{index}".encode()
                    status, payload, seconds = await publish(http, stack, body, f"?hub={hub}&group=g")
                    slowest = max(slowest, seconds)
                    outcomes[status] += 1
                    if status == 202:
                        accepted.append(body.decode())
                    else:
                        assert status in (502, 503) and payload["error"]["code"].startswith("Upstream"), payload

                for start in range(0, sizes.fault_publishes, 8):
                    await asyncio.gather(*(one(i) for i in range(start, min(start + 8, sizes.fault_publishes))))
        finally:
            background.run(proxy.stop())  # before the subscriber's marker: no forward can follow it
    lost = [m for m in accepted if received[m] == 0]
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    figures["faults: proxy faults injected"] = dict(proxy.injected)
    figures["faults: publish outcomes"] = dict(outcomes)
    figures["faults: accepted but lost"] = len(lost)
    figures["faults: duplicate deliveries from retries"] = duplicates
    figures["faults: slowest answer (s)"] = round(slowest, 2)
    assert not lost, f"accepted but never delivered: {lost[:10]}"
    assert set(received) <= {f"m{i}" for i in range(sizes.fault_publishes)}
    if sizes.soak:
        assert slowest < DEADLINE_SECONDS
    assert outcomes[202] > 0 and sum(outcomes.values()) == sizes.fault_publishes


async def test_callers_retrying_with_an_idempotency_key_cause_no_duplicates(
    stack: Stack,
    background: BackgroundLoop,
    shared_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    sizes: Sizes,
    figures: dict[str, Any],
) -> None:
    """Faults on both hops: caller → proxy → dev host, and dev host → proxy → emulator.

    Each caller retries its publish with one key until it gets a 2xx. A message forwarded to the
    service again after a forward that was answered cleanly would be a duplicate caused by the
    caller's retry: there must be none. Re-sends after a forward whose answer was lost (the
    service delivered, then 500) are the service-hop duplicates the README explains; counted.
    """
    hub = unique_hub()
    service_side = FaultProxy(shared_emulator.port, seed=13)
    caller_side = FaultProxy(stack.host.port, seed=17, weights={"pass": 5, "drop": 1, "503": 1, "forward_then_500": 3})
    background.run(service_side.start())
    background.run(caller_side.start())
    monkeypatch.setenv("WebPubSubConnectionString", connection_string(service_side.port))
    monkeypatch.setenv("WebPubSubAllowedHubs", hub)
    monkeypatch.setenv("AzureWebJobsStorage", "")
    attempts: Counter[int] = Counter()
    replays = 0
    async with counting_subscriber(shared_emulator, hub) as received:
        try:
            async with aiohttp.ClientSession() as http:

                async def until_accepted(index: int) -> None:
                    nonlocal replays
                    headers = {
                        "x-functions-key": TEST_KEY,
                        "Content-Type": "text/plain",
                        "Idempotency-Key": f"k{index}",
                    }
                    for attempt in range(1, 31):
                        try:
                            async with http.post(
                                f"http://127.0.0.1:{caller_side.port}/api/publish?hub={hub}&group=g",
                                data=f"m{index}".encode(),
                                headers=headers,
                            ) as response:
                                if 200 <= response.status < 300:
                                    attempts[attempt] += 1
                                    replays += response.headers.get("Idempotent-Replayed") == "true"
                                    return
                                assert response.status in (409, 500, 502, 503), response.status
                        except aiohttp.ClientError:
                            pass  # the proxy dropped the connection: retry
                        await asyncio.sleep(0.05 * attempt)
                    raise AssertionError(f"m{index} never accepted")

                for start in range(0, sizes.fault_publishes, 8):
                    await asyncio.gather(
                        *(until_accepted(i) for i in range(start, min(start + 8, sizes.fault_publishes)))
                    )
        finally:
            background.run(caller_side.stop())
            background.run(service_side.stop())  # before the subscriber's marker: no forward can follow it
    history: dict[str, list[str]] = {}
    for body, fault in service_side.forwarded:
        history.setdefault(body.decode(), []).append(fault)
    after_clean = sum(
        1 for faults in history.values() for before in faults[:-1] if before in ("pass", "delay")
    )  # a re-send after an answered forward: only a caller's retry could cause it
    service_hop = sum(len(faults) - 1 for faults in history.values()) - after_clean
    figures["idempotent retries: caller-side faults injected"] = dict(caller_side.injected)
    figures["idempotent retries: answers replayed from the key store"] = replays
    figures["idempotent retries: attempts until 2xx"] = dict(sorted(attempts.items()))
    figures["idempotent retries: duplicates from callers' retries"] = after_clean
    figures["idempotent retries: service-hop duplicates (answer lost after delivery)"] = service_hop
    expected = {f"m{i}" for i in range(sizes.fault_publishes)}
    assert set(received) == expected  # every message delivered
    assert sum(received.values()) == len(service_side.forwarded)  # each forward delivered once
    assert after_clean == 0
    assert replays > 0  # the callers did retry after answers they never saw
