"""Idempotency keys in Azure Table Storage, the account every function app already has.

One row per scoped key (PartitionKey = the key's SHA-256, RowKey ``"key"``: :data:`ROW_KEY`). A claim is an
insert-if-absent; an expired row is taken over with an ETag-conditional replace, and a
completion or release only happens while the row still has our claim's ETag. So two
instances never both run the same key. The answer body is kept in binary properties of at
most 64 KiB each (the service's limit); an answer too large to keep is not kept.

Table Storage has no expiry of its own: a claim now and then (at most once a minute per
instance) starts a sweep in the background that deletes up to :data:`SWEEP_ROWS` expired rows,
each only if unchanged since it was read, so the table does not grow with every key ever used.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.connection_string import normalize_endpoint
from shared.errors import ConfigurationError, StoreUnavailable
from shared.idempotency.settings import IdempotencySettings
from shared.idempotency.store import MAX_KEPT_BYTES, Claim, Outcome
from shared.per_loop import PerLoop
from shared.storage_account import WEBJOBS_STORAGE

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

logger = logging.getLogger("shared.idempotency")

CALL_DEADLINE_SECONDS = 5.0
CHUNK_BYTES = 64 * 1024
MAX_CHUNKS = -(-MAX_KEPT_BYTES // CHUNK_BYTES)  # with the other properties, well under the 1 MiB entity limit
CLAIM_ATTEMPTS = 3
SWEEP_INTERVAL_SECONDS = 60.0
SWEEP_ROWS = 1000
SWEEP_DEADLINE_SECONDS = 30.0
ROW_KEY = "key"
CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 4, "retry_total": 1}

_stores: PerLoop[TableKeyStore] = PerLoop()


def table_store(settings: IdempotencySettings) -> TableKeyStore:
    """The store for these settings on the running event loop (its client keeps a session)."""
    return _stores.get(settings, lambda: _table_store(settings))


async def close_table_stores() -> None:
    await _stores.close_all()


def _table_store(settings: IdempotencySettings) -> TableKeyStore:
    from azure.data.tables.aio import TableClient

    if settings.connection_string:
        try:
            client = TableClient.from_connection_string(settings.connection_string, settings.table, **CLIENT_OPTIONS)
        except ValueError:
            raise ConfigurationError(f"{WEBJOBS_STORAGE} is not a valid storage connection string.") from None
        _check_connection(client)
        return TableKeyStore(client)
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential()
    endpoint = settings.table_endpoint or ""
    return TableKeyStore(TableClient(endpoint, settings.table, credential=credential, **CLIENT_OPTIONS), credential)


def _check_connection(client: TableClient) -> None:
    """What the SDK accepts unchecked (a port 99999, a host with a space, a key that is not base64)
    would only fail on every call as "unreachable"; it is a setting to fix, so say which."""
    from azure.core.credentials import AzureNamedKeyCredential

    endpoint = urlsplit(client.url)._replace(query="").geturl()  # without any SAS token
    normalize_endpoint(endpoint, setting=WEBJOBS_STORAGE)
    if isinstance(client.credential, AzureNamedKeyCredential):
        try:
            base64.b64decode(client.credential.named_key.key, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{WEBJOBS_STORAGE} AccountKey is not base64.") from None


class TableKeyStore:
    def __init__(self, client: TableClient, credential: AsyncTokenCredential | None = None) -> None:
        self._client = client
        self._credential = credential
        self._table_ready = False
        self._last_sweep = time.monotonic()  # the first sweep a minute after start
        self._sweep: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    async def claim(self, key: str, fingerprint: str, lease_seconds: float) -> Claim:
        """Insert the row if absent; else judge the row that is there (take it over if expired).

        Each round either decides or finds the row changed under it (released, taken over, the
        table deleted by hand) and tries again, at most :data:`CLAIM_ATTEMPTS` times.
        """
        running = {
            "PartitionKey": key,
            "RowKey": ROW_KEY,
            "Fingerprint": fingerprint,
            "Status": 0,
            "ExpiresAt": _now() + timedelta(seconds=lease_seconds),
        }
        await self._ensure_table()
        for _ in range(CLAIM_ATTEMPTS):
            claim = await self._insert(running)
            if claim is None:
                claim = await self._judge_existing(key, fingerprint, running)
            if claim is not None:
                return claim
        return Claim(Outcome.RUNNING)  # others keep taking and releasing it: still in use

    async def _insert(self, running: dict[str, Any], *, recreate: bool = True) -> Claim | None:
        """The claim when the row was absent; None when a row is there. A table deleted by hand
        is made again once."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            created = await self._call(self._client.create_entity(running))
        except ResourceExistsError:
            return None
        except ResourceNotFoundError:  # the table itself is gone (deleted by hand)
            if not recreate:  # still missing: Azure refuses to create a table while deleting it
                raise StoreUnavailable("The idempotency table is not available yet; try again shortly.") from None
            self._table_ready = False
            await self._ensure_table()
            return await self._insert(running, recreate=False)
        self._sweep_now_and_then()
        return Claim(Outcome.PROCEED, token=created["etag"])

    async def _judge_existing(self, key: str, fingerprint: str, running: dict[str, Any]) -> Claim | None:
        """The outcome for the row that is there; None when it changed meanwhile (try again)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            row = await self._call(self._client.get_entity(key, ROW_KEY))
        except ResourceNotFoundError:
            return None  # released in between: try the insert again
        if row["ExpiresAt"] <= _now():
            try:
                taken = await self._call(
                    self._client.update_entity(
                        running,
                        mode="replace",
                        etag=row.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return None  # another instance took it over first
            return Claim(Outcome.PROCEED, token=taken["etag"])
        if row["Fingerprint"] != fingerprint:
            return Claim(Outcome.MISMATCH)
        if not row["Status"]:
            return Claim(Outcome.RUNNING)
        return Claim(Outcome.REPLAY, int(row["Status"]), _join_body(row))

    async def complete(self, key: str, token: Any, status: int, body: bytes, keep_seconds: float) -> None:
        from azure.core import MatchConditions

        chunks = [body[start : start + CHUNK_BYTES] for start in range(0, len(body), CHUNK_BYTES)]
        if len(chunks) > MAX_CHUNKS:
            raise StoreUnavailable("The answer is too large to keep for its Idempotency-Key.")
        row: dict[str, Any] = {
            "PartitionKey": key,
            "RowKey": ROW_KEY,
            "Status": status,
            "ExpiresAt": _now() + timedelta(seconds=keep_seconds),
            "Chunks": len(chunks),
            **{f"Body{index}": chunk for index, chunk in enumerate(chunks)},
        }
        # MERGE keeps the fingerprint; the ETag makes sure the row is still our claim.
        with _unless_taken_over():
            await self._call(
                self._client.update_entity(row, mode="merge", etag=token, match_condition=MatchConditions.IfNotModified)
            )

    async def release(self, key: str, token: Any) -> None:
        from azure.core import MatchConditions

        with _unless_taken_over():
            await self._call(
                self._client.delete_entity(key, ROW_KEY, etag=token, match_condition=MatchConditions.IfNotModified)
            )

    async def sweep_expired(self, limit: int = SWEEP_ROWS) -> int:
        """Delete up to ``limit`` rows whose time has passed; returns how many went."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        deleted = 0
        async with asyncio.timeout(SWEEP_DEADLINE_SECONDS):
            rows = self._client.query_entities(
                "ExpiresAt lt @now", parameters={"now": _now()}, select=["PartitionKey"], results_per_page=limit
            )
            async for row in rows:
                # Claimed again (or deleted) since it was read: it stays as it is.
                with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
                    await self._call(
                        self._client.delete_entity(
                            row["PartitionKey"],
                            ROW_KEY,
                            etag=row.metadata["etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    )
                    deleted += 1
                if deleted >= limit:
                    break
        return deleted

    def _sweep_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL_SECONDS or (self._sweep is not None and not self._sweep.done()):
            return
        self._last_sweep = now
        self._sweep = asyncio.create_task(self._sweep_quietly())

    async def _sweep_quietly(self) -> None:
        from azure.core.exceptions import AzureError

        try:
            await self.sweep_expired()
        except (AzureError, StoreUnavailable, TimeoutError) as error:
            logger.warning("Idempotency table sweep stopped: %s", type(error).__name__)

    async def _ensure_table(self) -> None:
        if self._table_ready:
            return
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self._call(self._client.create_table())
        self._table_ready = True

    async def _call(self, call: Any) -> Any:
        """One Table call within the deadline; transport and service failures are 503s."""
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            async with asyncio.timeout(CALL_DEADLINE_SECONDS):
                return await call
        except (ResourceExistsError, ResourceNotFoundError, ResourceModifiedError):
            raise
        except HttpResponseError as error:
            if error.status_code == 412:  # a lost ETag race, as ResourceModifiedError
                raise ResourceModifiedError(message="The row changed.") from None
            logger.warning("Idempotency table answered %s", error.status_code)
            raise StoreUnavailable("The idempotency key store refused the call; try again shortly.") from None
        except (TimeoutError, ServiceRequestError, ServiceResponseError) as error:
            logger.warning("Idempotency table unreachable: %s", type(error).__name__)
            raise StoreUnavailable("The idempotency key store could not be reached; try again shortly.") from None


@contextlib.contextmanager
def _unless_taken_over() -> Iterator[None]:
    """The row changed since our claim: taken over after the lease ran out (no longer ours), or an
    earlier attempt to save the answer landed although it timed out."""
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    try:
        yield
    except (ResourceModifiedError, ResourceNotFoundError):
        logger.warning("Idempotency row changed since the claim (taken over after its lease, or saved already).")


def _now() -> datetime:
    return datetime.now(UTC)


def _join_body(row: Any) -> bytes:
    return b"".join(bytes(row.get(f"Body{index}") or b"") for index in range(int(row.get("Chunks") or 0)))
