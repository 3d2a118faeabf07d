"""What an ``Idempotency-Key`` store does, and the outcomes of a claim; the stores are
:mod:`shared.idempotency.memory` and :mod:`shared.idempotency.table`, the protocol that uses
them :mod:`shared.idempotency.keys`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from shared.settings import MAX_ACTIONS_DEADLINE_SECONDS

# A claim whose process died frees itself after this; longer than any batch runs (its last item
# starts by the deadline and ends within the client's 5 s), so a running request keeps its key.
RUNNING_LEASE_SECONDS = MAX_ACTIONS_DEADLINE_SECONDS + 20
MAX_KEPT_BYTES = 14 * 64 * 1024  # larger answers are not kept (a Table entity holds at most 1 MiB)


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
