"""The batch runner of ``POST /api/actions``: each action in turn, one result each.

Items run in array order, each after the previous one completed, so deliveries keep the
request's order; a failing item does not stop the others. Every item was checked before any
runs (:mod:`shared.actions.vocabulary`), so nothing here refuses input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shared.actions.call import Action, Read
from shared.errors import AppError, UpstreamUnavailable
from shared.responses import error_json
from shared.service import perform
from shared.settings import ServiceAccess


@dataclass(frozen=True)
class ItemResult:
    """One action's outcome: its success status and value, or the error it met."""

    index: int
    action: Action
    status: int
    value: Any = None
    error: AppError | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"index": self.index, "action": self.action.name, "status": self.status}
        if self.error is not None:
            result["error"] = error_json(self.error)
        elif self.action.read is not Read.NONE:
            result["value"] = self.value
        return result


async def run_actions(
    access: ServiceAccess, hub: str, actions: tuple[Action, ...], deadline_seconds: float
) -> list[ItemResult]:
    """Each action in turn; a failure becomes that item's result, not the request's.

    Items not started within ``deadline_seconds`` are not run, so that the batch answers before
    the platform's HTTP limit even when every call waits out the client's own deadline.
    """
    deadline = time.monotonic() + deadline_seconds
    results = []
    for index, action in enumerate(actions):
        try:
            if time.monotonic() > deadline:
                raise UpstreamUnavailable("Not run: the batch ran out of time (Web PubSub is slow to answer).")
            value = await perform(access, hub, action)
        except AppError as error:
            results.append(ItemResult(index, action, error.status, error=error))
        else:
            results.append(ItemResult(index, action, action.success_status, value))
    return results


def unavailable_when_nothing_succeeded(results: list[ItemResult]) -> AppError | None:
    """The first server-side error when no item succeeded: then the batch answers as one publish
    would (e.g. 503 with ``Retry-After``), so that a retry with the same ``Idempotency-Key`` runs
    it again instead of replaying a 207 in which nothing happened."""
    if any(result.error is None for result in results):
        return None
    return next((result.error for result in results if result.error and result.error.status >= 500), None)
