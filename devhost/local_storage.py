"""The app's storage account for ``make run``: Azurite's queue and table services, with no cloud.

When ``AzureWebJobsStorage`` names no account (empty, as in the example settings, or
``UseDevelopmentStorage=true``), the stack starts Azurite (installed by ``make azurite`` into
``.tools/``, the same pinned package the tests use) and points ``AzureWebJobsStorage`` at it for
this run: the ``events`` function's queue and the idempotency keys' table live there. A setting
that names an account (a connection string for Azure, or the identity-based
``AzureWebJobsStorage__accountName``) is left alone and nothing is started. Each service takes
Azurite's own default port when it is free (queues 10001, tables 10002), so that
``make queue`` (:mod:`devtools.queue_peek`) finds the queue without being told where it is.

Starting both takes about a second each on this machine's two shared cores; they start side by
side in threads, while the servers start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from devtools.azurite import DEFAULT_PORTS, EXECUTABLE, Azurite, connection_string_for

STORAGE = "AzureWebJobsStorage"
STORAGE_ACCOUNT = "AzureWebJobsStorage__accountName"
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"


def wants_local_storage(values: Mapping[str, str]) -> bool:
    """Whether the app's settings leave the storage account to this machine."""
    storage = values.get(STORAGE, "").strip()
    return storage in ("", DEVELOPMENT_STORAGE) and not values.get(STORAGE_ACCOUNT, "").strip()


def installed() -> bool:
    return EXECUTABLE.exists()


@dataclass
class LocalStorage:
    """Azurite's queue and table services for one run; ``connection_string`` reaches both."""

    queue: Azurite
    table: Azurite

    @classmethod
    def create(cls) -> LocalStorage:
        return cls(
            Azurite("queue", preferred_port=DEFAULT_PORTS["queue"]),
            Azurite("table", preferred_port=DEFAULT_PORTS["table"]),
        )

    @property
    def connection_string(self) -> str:
        return connection_string_for(self.queue, self.table)

    @property
    def on_default_ports(self) -> bool:
        return self.queue.port == DEFAULT_PORTS["queue"]

    async def start(self) -> None:
        """Both services, side by side; if one fails, the other is stopped too."""
        results = await asyncio.gather(
            asyncio.to_thread(self.queue.start), asyncio.to_thread(self.table.start), return_exceptions=True
        )
        failure = next((result for result in results if isinstance(result, BaseException)), None)
        if failure is not None:
            await self.stop()
            raise failure

    async def stop(self) -> None:
        await asyncio.gather(asyncio.to_thread(self.queue.stop), asyncio.to_thread(self.table.stop))
