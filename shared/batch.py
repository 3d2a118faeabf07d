"""Actions: a batch of 1 to 100 actions, every one checked before any runs, one result each.

Items run in array order, each after the previous one completed, so deliveries keep the
request's order; a failing item does not stop the others. The answer is 200 when every item
succeeded and 207 (Multi-Status) when any failed, with the mapped status of each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared.action_parsing import InvalidField, parse_action
from shared.actions import Action, Read
from shared.errors import AppError, BadRequest, UpstreamUnavailable
from shared.invocation import InvocationRecord
from shared.query import Query
from shared.responses import json_response
from shared.service import perform
from shared.settings import ServiceAccess, load_settings
from shared.validation import check_message_size, parse_content_type, parse_json_body

MAX_ACTIONS = 100


@dataclass(frozen=True)
class ActionsRequest:
    hub: str
    actions: tuple[Action, ...]


def parse_actions_request(content_type_header: str | None, body: bytes, hub: str) -> ActionsRequest:
    """The whole batch, or :class:`BadRequest` naming the first bad item's index and field."""
    parse_content_type(content_type_header, accepted=("application/json",))
    check_message_size(body)
    document = parse_json_body(body)
    items = document if isinstance(document, list) else [document]
    if not 1 <= len(items) <= MAX_ACTIONS:
        raise BadRequest(f"Send 1 to {MAX_ACTIONS} actions.")
    actions = []
    for index, item in enumerate(items):
        try:
            actions.append(parse_action(item))
        except InvalidField as error:
            raise BadRequest(f"Action {index}, field {error.field}: {error.message}") from None
    return ActionsRequest(hub, tuple(actions))


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
            result["error"] = {"code": self.error.code, "message": self.error.message}
        elif self.action.read is not Read.NONE:
            result["value"] = self.value
        return result


async def run_actions(access: ServiceAccess, request: ActionsRequest, deadline_seconds: float) -> list[ItemResult]:
    """Each action in turn; a failure becomes that item's result, not the request's.

    Items not started within ``deadline_seconds`` are not run, so that the batch answers before
    the platform's HTTP limit even when every call waits out the client's own deadline.
    """
    deadline = time.monotonic() + deadline_seconds
    results = []
    for index, action in enumerate(request.actions):
        try:
            if time.monotonic() > deadline:
                raise UpstreamUnavailable("Not run: the batch ran out of time (Web PubSub is slow to answer).")
            value = await perform(access, request.hub, action)
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


async def handle_actions(req: func.HttpRequest, record: InvocationRecord) -> func.HttpResponse:
    settings = load_settings()
    query = Query.from_url(req.url)
    hub = settings.resolve_hub(query.single("hub"))
    record.hub = hub
    body = req.get_body()
    request = parse_actions_request(req.headers.get("content-type"), body, hub)
    record.actions = len(request.actions)
    results = await run_actions(settings.service, request, settings.actions_deadline_seconds)
    record.failed = sum(1 for result in results if result.error is not None)
    unavailable = unavailable_when_nothing_succeeded(results)
    if unavailable is not None:
        raise unavailable
    answer = {"hub": hub, "results": [result.to_json() for result in results]}
    return json_response(answer, status=207 if record.failed else 200)
