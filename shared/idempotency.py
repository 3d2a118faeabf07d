"""``Idempotency-Key`` for ``publish`` and ``actions``: run once, answer repeats from memory.

Semantics of the IETF httpapi "Idempotency-Key" draft, as Stripe uses them. The first request
with a key claims it and runs; its answer (status and body) is kept for ``IdempotencyMinutes``.
A repeat of the same request (same SHA-256 fingerprint of method, path, query, content type
and body) gets that answer again with ``Idempotent-Replayed: true``. The same key with another
request is 422; while the first still runs, 409 with ``Retry-After: 1``. Answers of 500 and
above are not kept: the key is released so that a retry runs again. An answer below 500 that
cannot be kept (too large, or the store full or failing) does not release the key: it stays
claimed until its running lease (2 minutes from the claim) lapses. Keys are scoped per function
and hub, and are stored hashed: neither keys nor bodies reach a log.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_plus, urlsplit

import azure.functions as func

from shared.errors import AppError, BadRequest, Conflict, StoreUnavailable, UnprocessableContent
from shared.query import Query
from shared.responses import JSON_TYPE, NO_STORE
from shared.settings import (
    DEFAULT_MEMORY_KEYS,
    MAX_ACTIONS_DEADLINE_SECONDS,
    IdempotencySettings,
    load_idempotency_settings,
    load_settings,
)

logger = logging.getLogger("shared.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
# A claim whose process died frees itself after this; longer than any batch runs (its last item
# starts by the deadline and ends within the client's 5 s), so a running request keeps its key.
RUNNING_LEASE_SECONDS = MAX_ACTIONS_DEADLINE_SECONDS + 20
FUNCTION_KEY_PARAMETER = "code"  # as the Functions host reads it, in any case
MAX_KEPT_BYTES = 14 * 64 * 1024  # larger answers are not kept (a Table entity holds at most 1 MiB)
MEMORY_BUDGET_BYTES = 256 * 1024 * 1024  # answers kept in memory, all keys together
SWEEP_INTERVAL_SECONDS = 1.0  # a full store looks for expired keys at most this often
STORE_RETRY_PAUSE_SECONDS = 0.2  # before the second attempt to save an answer


class Outcome(enum.Enum):
    PROCEED = "proceed"  # the key is ours: run the request
    REPLAY = "replay"  # the same request already ran: answer as it was answered
    MISMATCH = "mismatch"  # the key was used for another request
    RUNNING = "running"  # the same key is still running elsewhere


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    status: int = 0
    body: bytes = b""
    token: Any = None  # the store's proof of ownership (an ETag, an entry)


class KeyStore(Protocol):
    """Insert-if-absent claims, completed or released only by the claim's owner."""

    async def claim(self, key: str, fingerprint: str, lease_seconds: float) -> Claim: ...

    async def complete(self, key: str, token: Any, status: int, body: bytes, keep_seconds: float) -> None: ...

    async def release(self, key: str, token: Any) -> None: ...


Respond = Callable[[], Awaitable[func.HttpResponse]]


def read_key(req: func.HttpRequest) -> str | None:
    """The header's value, or None; a key outside 1-255 printable ASCII is a 400."""
    key = req.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return key


def fingerprint(req: func.HttpRequest) -> str:
    """SHA-256 over method, path, query, content type and body, each length-prefixed.

    The function key (``?code=``) is left out: it authenticates the request rather than being
    part of it (a retry may send it as ``x-functions-key`` instead, or after a key rotation),
    and a hash of a secret has no place in the store.
    """
    url = urlsplit(req.url)
    query = "&".join(part for part in url.query.split("&") if not _is_function_key(part))
    digest = hashlib.sha256()
    for part in (req.method.upper(), url.path, query, req.headers.get("content-type") or ""):
        encoded = part.encode("utf-8", errors="surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    digest.update(req.get_body())
    return digest.hexdigest()


def _is_function_key(parameter: str) -> bool:
    return unquote_plus(parameter.partition("=")[0]).lower() == FUNCTION_KEY_PARAMETER


def scoped_key(function: str, req: func.HttpRequest, key: str) -> str:
    """Per function and per hub (case-insensitive, as hubs are), hashed so no key is stored."""
    hub = load_settings().resolve_hub(Query.from_url(req.url).single("hub"))
    return hashlib.sha256(f"{function}\n{hub.lower()}\n{key}".encode()).hexdigest()


async def run_once(
    function: str, req: func.HttpRequest, respond: Respond, note: Callable[[str], None]
) -> func.HttpResponse:
    """Answer a request with an ``Idempotency-Key`` at most once per key; ``note`` logs the outcome.

    Requests without the header go straight to ``respond``. Errors raised here (a bad key,
    409, 422, an unreachable store) are :class:`AppError` for the caller to map.
    """
    key = read_key(req)
    if key is None:
        return await respond()
    try:
        scope = scoped_key(function, req, key)
    except AppError:
        return await respond()  # an unknown hub: the answer is the same error, nothing to keep
    settings = load_idempotency_settings()
    store = key_store(function, settings)
    claim = await store.claim(scope, fingerprint(req), RUNNING_LEASE_SECONDS)
    if claim.outcome is Outcome.REPLAY:
        note("replayed")
        return stored_response(claim.status, claim.body)
    if claim.outcome is Outcome.MISMATCH:
        note("mismatch")
        raise UnprocessableContent("This Idempotency-Key was used for a different request.")
    if claim.outcome is Outcome.RUNNING:
        note("running")
        raise Conflict("A request with this Idempotency-Key is still running; retry shortly.")
    note("first")
    try:
        response = await respond()
    except BaseException:
        await _quietly(store.release(scope, claim.token))
        raise
    if response.status_code >= 500:
        await _quietly(store.release(scope, claim.token))
    elif not await _keep_answer(store, scope, claim.token, response, settings.minutes * 60):
        # It ran: releasing the key would let a retry run it again. The claim lapses with its
        # lease instead, and repeats meanwhile get 409.
        logger.warning("Idempotency key's answer not kept; the key stays claimed for its lease.")
    return response


async def _keep_answer(store: KeyStore, scope: str, token: Any, response: func.HttpResponse, seconds: int) -> bool:
    """Store the answer; one more attempt after a short pause if the store failed."""
    body = response.get_body()
    if len(body) > MAX_KEPT_BYTES:
        return False
    if await _quietly(store.complete(scope, token, response.status_code, body, seconds)):
        return True
    await asyncio.sleep(STORE_RETRY_PAUSE_SECONDS)
    return await _quietly(store.complete(scope, token, response.status_code, body, seconds))


async def _quietly(call: Awaitable[None]) -> bool:
    """After the request ran, a store failure must not change its answer; it is only logged."""
    try:
        await call
    except AppError as error:
        logger.warning("Idempotency key store: %s", error.code)
        return False
    return True


def stored_response(status: int, body: bytes) -> func.HttpResponse:
    headers = {**NO_STORE, REPLAYED_HEADER: "true"}
    return func.HttpResponse(body, status_code=status, headers=headers, mimetype=JSON_TYPE)


def key_store(function: str, settings: IdempotencySettings) -> KeyStore:
    """The Table Storage store when ``AzureWebJobsStorage`` is set, else this process's memory."""
    if settings.uses_table:
        from shared.idempotency_table import table_store

        return table_store(settings)
    return memory_store(function, settings.memory_keys)


# -- the in-memory store --------------------------------------------------------------------------


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
            if self._entries.get(key) is not token:
                return  # its lease ran out and another request took the key over
            now = self._clock()
            grown = len(body) - len(token.body)
            if self._bytes + grown > self._budget:
                self._sweep(now)
                if self._bytes + grown > self._budget:
                    raise StoreUnavailable("This instance holds too many answers to keep another.")
            token.status, token.body, token.expires_at = status, body, now + keep_seconds
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
