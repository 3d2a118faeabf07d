"""``Idempotency-Key`` for ``publish`` and ``actions``: run once, answer repeats from the store.

Semantics of the IETF httpapi "Idempotency-Key" draft, as Stripe uses them. The first request
with a key claims it and runs; its answer (status and body) is kept for ``IdempotencyMinutes``.
A repeat of the same request (same SHA-256 fingerprint of method, path, query, content type
and body) gets that answer again with ``Idempotent-Replayed: true``. The same key with another
request is 422; while the first still runs, 409 with ``Retry-After: 1``. Answers of 500 and
above are not kept: the key is released so that a retry runs again. An answer below 500 that
cannot be kept (too large, or the store full or failing) does not release the key: it stays
claimed until its running lease (2 minutes from the claim) lapses. Keys are scoped per function
and hub, and are stored hashed: neither keys nor bodies reach a log. In memory, each function
has a store of its own (:mod:`shared.idempotency.memory`); in Table Storage all share one table.

Keys are shared by every caller who holds a valid function key for the function: a caller who
guesses another's key gets that caller's answer. Use unguessable keys (a UUID).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import azure.functions as func

from shared.errors import AppError, BadRequest, Conflict, UnprocessableContent
from shared.idempotency.memory import memory_store
from shared.idempotency.settings import IdempotencySettings, load_idempotency_settings
from shared.idempotency.store import MAX_KEPT_BYTES, RUNNING_LEASE_SECONDS, KeyStore, Outcome
from shared.responses import Answer, LogFields, error_answer, replayed_response

logger = logging.getLogger("shared.idempotency")

HEADER = "idempotency-key"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
FUNCTION_KEY_PARAMETER = "code"  # as the Functions host reads it, in any case
STORE_RETRY_PAUSE_SECONDS = 0.2  # before the second attempt to save an answer


Respond = Callable[[], Awaitable[Answer]]


def read_key(req: func.HttpRequest) -> str:
    """The header's value; a key outside 1-255 printable ASCII is a 400."""
    key = req.headers.get(HEADER) or ""
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


def scoped_key(function: str, hub: str, key: str) -> str:
    """Per function and per hub (case-insensitive, as hubs are), hashed so no key is stored."""
    return hashlib.sha256(f"{function}\n{hub.lower()}\n{key}".encode()).hexdigest()


async def run_once(function: str, hub: str, req: func.HttpRequest, key: str, respond: Respond) -> Answer:
    """Answer a request with an ``Idempotency-Key`` at most once per key.

    Errors raised here (an unreachable store) are :class:`AppError` for the caller to answer.
    """
    scope = scoped_key(function, hub, key)
    settings = load_idempotency_settings()
    store = key_store(function, settings)
    claim = await store.claim(scope, fingerprint(req), RUNNING_LEASE_SECONDS)
    if claim.outcome is Outcome.REPLAY:
        return Answer(replayed_response(claim.status, claim.body), LogFields(idempotency="replayed"))
    if claim.outcome is Outcome.MISMATCH:
        reused = UnprocessableContent("This Idempotency-Key was used for a different request.")
        return error_answer(reused, LogFields(idempotency="mismatch"))
    if claim.outcome is Outcome.RUNNING:
        running = Conflict("A request with this Idempotency-Key is still running; retry shortly.")
        return error_answer(running, LogFields(idempotency="running"))
    try:
        answer = await respond()
    except BaseException:
        await _quietly(store.release(scope, claim.token))
        raise
    response = answer.response
    if response.status_code >= 500:
        await _quietly(store.release(scope, claim.token))
    elif not await _keep_answer(store, scope, claim.token, response, settings.minutes * 60):
        # It ran: releasing the key would let a retry run it again. The claim lapses with its
        # lease instead, and repeats meanwhile get 409.
        logger.warning("Idempotency key's answer not kept; the key stays claimed for its lease.")
    return Answer(response, answer.fields.merged(LogFields(idempotency="first")))


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


def key_store(function: str, settings: IdempotencySettings) -> KeyStore:
    """The Table Storage store when ``AzureWebJobsStorage`` is set, else this process's memory."""
    if settings.uses_table:
        from shared.idempotency.table import table_store

        return table_store(settings)
    return memory_store(function, settings.memory_keys)
