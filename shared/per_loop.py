"""SDK clients kept across invocations, one per key on each event loop, closed per loop.

An async Azure SDK client keeps an aiohttp session, which belongs to the event loop it was made
on: reusing it saves a TCP (and TLS) connection per call, using it from another loop fails. The
Azure Python worker runs every ``async def`` function on one loop; tests and tools run others. So
the service clients, the idempotency table stores and the events queue senders all live here,
keyed by loop (weakly: a finished loop's entries go with it) and then by what configures them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Closeable(Protocol):
    async def close(self) -> None: ...


T = TypeVar("T", bound=Closeable)


class PerLoop(Generic[T]):
    """``get(key, build)`` gives the running loop's object for ``key``, building it the first time."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, T]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        held = self._loops.setdefault(asyncio.get_running_loop(), {})
        found = held.get(key)
        if found is None:
            found = held[key] = build()
        return found

    async def close_all(self) -> None:
        """Close and forget the running loop's objects (on shutdown, and between test loops)."""
        for held in self._loops.pop(asyncio.get_running_loop(), {}).values():
            await held.close()
