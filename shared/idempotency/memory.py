"""Idempotency keys in this instance's memory: the store when ``AzureWebJobsStorage`` is empty."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import StoreUnavailable
from shared.idempotency.settings import DEFAULT_MEMORY_KEYS
from shared.idempotency.store import Claim, Outcome

logger = logging.getLogger("shared.idempotency")

MEMORY_BUDGET_BYTES = 256 * 1024 * 1024  # answers kept in memory, all keys of one function together
SWEEP_INTERVAL_SECONDS = 1.0  # a full store looks for expired keys at most this often


@dataclass
class _Entry:
    fingerprint: str
    expires_at: float
    status: int = 0
    body: bytes = b""


class MemoryKeyStore:
    """Keys of this process only, with expiry, at most ``capacity`` keys and ``budget`` answer bytes.

    A full store forgets only expired keys: forgetting a live one would let its retry run a
    second time (or run beside the first), so a new key that does not fit is a 503 instead,
    and an answer that does not fit is not kept (the key stays claimed until its lease lapses).
    """

    def __init__(
        self,
        capacity: int = DEFAULT_MEMORY_KEYS,
        budget: int = MEMORY_BUDGET_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: dict[str, _Entry] = {}
        self._capacity = capacity
        self._budget = budget
        self._bytes = 0
        self._clock = clock
        self._last_sweep = -SWEEP_INTERVAL_SECONDS
        self._lock = threading.Lock()

    async def claim(self, key: str, fingerprint: str, lease_seconds: float) -> Claim:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.expires_at <= now:
                if entry is None and not self._has_room(now):
                    raise StoreUnavailable("This instance holds too many Idempotency-Keys; try again later.")
                self._forget(key)
                entry = self._entries[key] = _Entry(fingerprint, now + lease_seconds)
                return Claim(Outcome.PROCEED, token=entry)
        if entry.fingerprint != fingerprint:
            return Claim(Outcome.MISMATCH)
        if not entry.status:
            return Claim(Outcome.RUNNING)
        return Claim(Outcome.REPLAY, entry.status, entry.body)

    async def complete(self, key: str, token: Any, status: int, body: bytes, keep_seconds: float) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry is not token:
                return  # its lease ran out and another request took the key over
            now = self._clock()
            grown = len(body) - len(entry.body)
            if self._bytes + grown > self._budget:
                self._sweep(now)
                if self._bytes + grown > self._budget:
                    raise StoreUnavailable("This instance holds too many answers to keep another.")
            entry.status, entry.body, entry.expires_at = status, body, now + keep_seconds
            self._bytes += grown

    async def release(self, key: str, token: Any) -> None:
        with self._lock:
            if self._entries.get(key) is token:
                self._forget(key)

    def _has_room(self, now: float) -> bool:
        if len(self._entries) >= self._capacity:
            self._sweep(now)
        return len(self._entries) < self._capacity

    def _sweep(self, now: float) -> None:
        """Drop expired keys; a full pass over the store, so at most once a second."""
        if now - self._last_sweep < SWEEP_INTERVAL_SECONDS:
            return
        self._last_sweep = now
        for key in [key for key, entry in self._entries.items() if entry.expires_at <= now]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)


_memory: dict[str, tuple[int, MemoryKeyStore]] = {}


def memory_store(function: str, capacity: int) -> MemoryKeyStore:
    """This process's store of ``function``'s keys, at most ``IdempotencyMemoryKeys`` of them.

    Each function has a store of its own, so a caller who holds only one function's key cannot
    fill the store that another function's callers need. A changed bound starts a new, empty
    store (on Azure a changed app setting restarts the app), also when it changes back.
    """
    held = _memory.get(function)
    if held is None or held[0] != capacity:
        if not _memory:
            logger.info("Idempotency keys are kept in this instance's memory only (AzureWebJobsStorage is empty).")
        held = _memory[function] = (capacity, MemoryKeyStore(capacity))
    return held[1]
