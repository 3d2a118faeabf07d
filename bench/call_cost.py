"""CPU per REST call to the service, as the items of concurrent batches make them.

``python -m bench.call_cost CONNECTION_STRING HUB CALLS`` prints one JSON line with the CPU time
(``time.process_time``) per call of this process, with 32 callers each calling one after another,
for three ways of sending the same 1 KiB ``sendToGroup``:

* ``app``: :func:`shared.service.perform`, the path every batch item takes (the official SDK);
* ``signed_each``: a bare aiohttp POST that signs a fresh token per call with PyJWT, as the SDK
  does: the least any client with per-request signing can cost;
* ``signed_once``: a bare aiohttp POST reusing one token: the cost of the HTTP exchange alone.

The three run interleaved in rounds, so that a noisy neighbour slows them alike; each keeps its
best round. The server answers on another core, so only the caller's own work is counted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import jwt

from shared.actions.vocabulary import parse_action
from shared.service import API_VERSION, close_clients, perform
from shared.settings import load_settings

ROUNDS = 5
# As in the batch benchmark: 32 batches at once, each one call after another. (One lone caller
# costs more per call: the loop sleeps and wakes for every answer.)
IN_FLIGHT = 32
GROUP = "bench"


async def cpu_per_call(call: Callable[[], Awaitable[None]], calls: int) -> float:
    """CPU per call with :data:`IN_FLIGHT` callers, each making its calls one after another."""
    remaining = calls

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(IN_FLIGHT)))
    return (time.process_time() - started) / calls


async def run(connection_string: str, hub: str, calls: int) -> dict[str, float]:
    settings = load_settings({"WebPubSubConnectionString": connection_string, "WebPubSubHub": hub})
    action = parse_action({"actionName": "sendToGroup", "group": GROUP, "data": "x" * 1024})
    connection = settings.service.connection
    assert connection is not None
    url = f"{settings.service.endpoint}/api/hubs/{hub}/groups/{GROUP}/:send?api-version={API_VERSION}"

    def token() -> str:
        return jwt.encode({"aud": url, "exp": int(time.time()) + 3600}, connection.access_key, algorithm="HS256")

    once = token()
    async with aiohttp.ClientSession() as http:

        async def bare(bearer: Callable[[], str]) -> None:
            headers = {"Authorization": f"Bearer {bearer()}", "Content-Type": "text/plain"}
            async with http.post(url, data=action.body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"the service answered {response.status}")

        async def app() -> None:
            await perform(settings.service, hub, action)

        ways: dict[str, Callable[[], Awaitable[None]]] = {
            "app": app,
            "signed_each": lambda: bare(token),
            "signed_once": lambda: bare(lambda: once),
        }
        best = dict.fromkeys(ways, float("inf"))
        for way in ways.values():  # warm up pools, caches and imports
            await cpu_per_call(way, 50)
        for _ in range(ROUNDS):
            for name, way in ways.items():
                best[name] = min(best[name], await cpu_per_call(way, max(1, calls // ROUNDS)))
    await close_clients()
    return {f"{name}_us": seconds * 1e6 for name, seconds in best.items()}


if __name__ == "__main__":
    connection_string, hub, calls = sys.argv[1:4]
    print(json.dumps(asyncio.run(run(connection_string, hub, int(calls)))), flush=True)
