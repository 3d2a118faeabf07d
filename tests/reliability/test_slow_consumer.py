"""A subscriber that stops reading holds up nobody, costs bounded memory, and is let go."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
import jwt
import websockets

from bench.processes import Child
from bench.receivers import upgrade_request
from emulator import DEFAULT_ACCESS_KEY
from tests.reliability.conftest import Sizes
from tests.support import process_usage

HUB = "slow"
JSON_PROTOCOL = "json.webpubsub.azure.v1"
PAYLOAD_BYTES = 2048
NORMAL_SUBSCRIBERS = 5


def stalled_subscriber(url: str) -> tuple[socket.socket, str]:
    """A JSON-protocol client that reads its `connected` message, then never reads again."""
    host, port, request = upgrade_request(url)
    request = request.replace(b"\r\n\r\n", f"\r\nSec-WebSocket-Protocol: {JSON_PROTOCOL}\r\n\r\n".encode(), 1)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)  # each read of the handshake; a silent emulator fails the test, not hangs it
    raw.connect((host, port))
    raw.sendall(request)
    data = b""
    while b"connectionId" not in data or not data.rstrip().endswith(b"}"):
        chunk = raw.recv(4096)
        if not chunk:
            raise AssertionError(f"the emulator closed the socket before the connected message: {data!r}")
        data += chunk
    connected = data[data.index(b"{") :]
    return raw, json.loads(connected)["connectionId"]


async def normal_subscriber(url: str, expected: int, latencies: list[float], ready: asyncio.Event) -> int:
    """Count messages until ``expected`` or ten quiet seconds; ``ready`` once the hub holds this client."""
    received = 0
    async with websockets.connect(url, subprotocols=[JSON_PROTOCOL], open_timeout=10) as subscriber:  # type: ignore[list-item]
        connected = json.loads(await asyncio.wait_for(subscriber.recv(), 10))
        assert connected["event"] == "connected"  # sent only after the hub added the connection
        ready.set()
        while received < expected:
            try:
                frame = await asyncio.wait_for(subscriber.recv(), 10)
            except TimeoutError:
                break
            latencies.append(time.time() - float(json.loads(frame)["data"][:20]))
            received += 1
    return received


async def connection_exists(http: aiohttp.ClientSession, port: int, connection_id: str) -> bool:
    url = f"http://127.0.0.1:{port}/api/hubs/{HUB}/connections/{connection_id}"
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 60}, DEFAULT_ACCESS_KEY)
    async with http.head(url, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status == 200


async def publish_all(port: int, count: int) -> None:
    url = f"http://127.0.0.1:{port}/api/hubs/{HUB}/:send"
    headers = {
        "Authorization": "Bearer " + jwt.encode({"aud": url, "exp": int(time.time()) + 600}, DEFAULT_ACCESS_KEY),
        "Content-Type": "text/plain",
    }
    async with aiohttp.ClientSession() as http:
        for index in range(count):
            stamp = f"{time.time():<20.6f}"
            async with http.post(url, data=stamp + "x" * (PAYLOAD_BYTES - 20), headers=headers) as response:
                assert response.status == 202
            if index % 50 == 0:
                await asyncio.sleep(0.01)  # about 2,000 messages a second, not a flood


def test_a_stalled_subscriber_is_disconnected_and_delays_nobody(sizes: Sizes, figures: dict[str, Any]) -> None:
    with Child("emulator", "--port", "0", pipe=True) as emulator:
        port = emulator.emulator_port()  # bound by the emulator itself: no port another process can take
        token = jwt.encode(
            {"aud": f"http://127.0.0.1:{port}/client/hubs/{HUB}", "exp": int(time.time()) + 600}, DEFAULT_ACCESS_KEY
        )
        url = f"ws://127.0.0.1:{port}/client/hubs/{HUB}?access_token={token}"
        rss_before = process_usage(emulator.process.pid)[1]
        stalled, stalled_id = stalled_subscriber(url)

        async def scenario() -> tuple[list[int], bool, list[float]]:
            latencies: list[float] = []
            ready = [asyncio.Event() for _ in range(NORMAL_SUBSCRIBERS)]
            readers = [
                asyncio.create_task(normal_subscriber(url, sizes.slow_consumer_messages, latencies, event))
                for event in ready
            ]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)  # all subscribed
            await publish_all(port, sizes.slow_consumer_messages)
            counts = await asyncio.gather(*readers)
            async with aiohttp.ClientSession() as http:
                deadline = time.monotonic() + 10
                while await connection_exists(http, port, stalled_id) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                still_there = await connection_exists(http, port, stalled_id)
            return counts, still_there, latencies

        counts, still_there, latencies = asyncio.run(scenario())
        rss_after = process_usage(emulator.process.pid)[1]
        stalled.close()

    latencies.sort()
    p99_ms = latencies[int(len(latencies) * 0.99) - 1] * 1000
    figures["slow consumer: others' p99 delivery latency (ms)"] = round(p99_ms, 1)
    figures["slow consumer: stalled client disconnected"] = not still_there
    figures["slow consumer: emulator RSS growth (MiB)"] = round((rss_after - rss_before) / 1024, 1)
    assert counts == [sizes.slow_consumer_messages] * NORMAL_SUBSCRIBERS  # nobody else missed anything
    assert not still_there, "the stalled client was never disconnected"
    assert rss_after - rss_before < 64 * 1024, "the emulator kept growing for a client that does not read"
    if sizes.soak:  # timing is checked only where the run is long enough to mean something
        assert p99_ms < 100
