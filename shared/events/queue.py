"""Client events for the app's back-end services, one JSON envelope each on an Azure Storage queue.

The envelope (its JSON schema is in ``docs/events.md``)::

    {"id": "<uuid>", "hub": "chat", "eventName": "order", "userId": "alice" | null,
     "connectionId": "...", "dataType": "text" | "json" | "binary" | "protobuf",
     "data": "<the text, or base64 of the bytes for binary and protobuf>", "time": "2026-12-07T14:00:00Z"}

``id`` is a UUID derived from the hub, connection id and ``ce-id``: a retry of the same event by
the service gives the same id, so consumers drop duplicates by it (delivery is at least once).

A queue message holds at most 64 KiB; messages are base64 text (``TextBase64EncodePolicy``), as a
Functions queue trigger reads them by default, so an envelope may take :data:`MAX_ENVELOPE_BYTES`
of UTF-8 JSON. A larger event is refused (:class:`PayloadTooLarge`), never cut. The event is
acknowledged only after the queue accepted the message; a queue that cannot be reached within
:data:`CALL_DEADLINE_SECONDS` is :class:`QueueUnavailable` (503): the client is told it was not
queued (if the queue took it after all, a resend is a duplicate with its own id, never a loss).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigurationError, PayloadTooLarge, QueueUnavailable
from shared.events.cloudevents import UserEvent
from shared.events.settings import QueueTarget
from shared.per_loop import PerLoop
from shared.storage_account import WEBJOBS_STORAGE

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.queue.aio import QueueClient

logger = logging.getLogger("shared.events")

MAX_MESSAGE_CHARS = 64 * 1024
MAX_ENVELOPE_BYTES = MAX_MESSAGE_CHARS // 4 * 3  # base64 turns 3 bytes into 4 characters
CALL_DEADLINE_SECONDS = 5.0
CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 4, "retry_total": 1}
ENVELOPE_NAMESPACE = uuid.UUID("6f1c3c55-8c0f-4f7e-9a52-7d0c1f6a2b90")

_senders: PerLoop[QueueSender] = PerLoop()


def envelope(event: UserEvent, now: datetime) -> dict[str, Any]:
    context = event.context
    text = event.data_type in ("text", "json")
    return {
        "id": envelope_id(context.hub, context.connection_id, context.event_id),
        "hub": context.hub,
        "eventName": event.name,
        "userId": context.user_id,
        "connectionId": context.connection_id,
        "dataType": event.data_type,
        "data": event.data.decode("utf-8") if text else base64.b64encode(event.data).decode("ascii"),
        "time": context.time or now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def envelope_id(hub: str, connection_id: str, event_id: str) -> str:
    """The same for a retry of one event (same ``ce-id``), different for every other event."""
    return str(uuid.uuid5(ENVELOPE_NAMESPACE, f"{hub.lower()}\n{connection_id}\n{event_id}"))


def encoded_envelope(value: dict[str, Any]) -> bytes:
    """The envelope as UTF-8 JSON, or :class:`PayloadTooLarge` when no queue message can hold it."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_ENVELOPE_BYTES:
        raise PayloadTooLarge(
            f"The event is too large for the queue: its envelope is {len(encoded)} bytes, "
            f"a queue message holds {MAX_ENVELOPE_BYTES}. Nothing was queued."
        )
    return encoded


def queue_sender(target: QueueTarget) -> QueueSender:
    """The sender for ``target`` on the running event loop (its client keeps a session)."""
    return _senders.get(target, lambda: _build_sender(target))


async def close_queue_senders() -> None:
    await _senders.close_all()


def _build_sender(target: QueueTarget) -> QueueSender:
    from azure.storage.queue import TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    options = {**CLIENT_OPTIONS, "message_encode_policy": TextBase64EncodePolicy()}
    if target.connection_string:
        try:
            client = QueueClient.from_connection_string(target.connection_string, target.name, **options)
        except ValueError:
            raise ConfigurationError(f"{WEBJOBS_STORAGE} is not a valid storage connection string.") from None
        return QueueSender(client)
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential()
    return QueueSender(QueueClient(target.account_url or "", target.name, credential=credential, **options), credential)


class QueueSender:
    """Sends envelopes to one queue, creating it on first use."""

    def __init__(self, client: QueueClient, credential: AsyncTokenCredential | None = None) -> None:
        self._client = client
        self._credential = credential
        self._queue_ready = False

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    async def send(self, encoded: bytes) -> None:
        """Put one message on the queue; returns only once the queue has it."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        text = encoded.decode("utf-8")
        try:
            async with asyncio.timeout(CALL_DEADLINE_SECONDS):
                if not self._queue_ready:
                    await self._create_queue()
                try:
                    await self._client.send_message(text)
                except ResourceNotFoundError:  # deleted by hand since: make it again, once
                    await self._create_queue()
                    await self._client.send_message(text)
        except (TimeoutError, AzureError, OSError) as error:
            self._queue_ready = False
            logger.warning("events: the queue could not be reached: %s", type(error).__name__)
            raise QueueUnavailable("The queue did not confirm the event; send it again shortly.") from None

    async def _create_queue(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()
        self._queue_ready = True
