"""``POST /api/actions``: a batch of 1 to 100 actions, every one checked before any runs.

Reads top-down: parse the whole batch (:mod:`shared.actions.vocabulary`), run it
(:mod:`shared.actions.batch`), answer 200 when every item succeeded and 207 (Multi-Status) when
any failed, with the mapped status of each. A batch in which nothing succeeded for want of the
service answers as one publish would (503 or 502), so that a retry with the same
``Idempotency-Key`` runs it again instead of replaying a 207 in which nothing happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.actions.batch import run_actions, unavailable_when_nothing_succeeded
from shared.actions.call import Action
from shared.actions.vocabulary import InvalidField, parse_action
from shared.errors import BadRequest
from shared.invocation import Incoming
from shared.responses import Answer, LogFields, error_answer, json_response
from shared.strict_json import parse_json_body
from shared.validation import check_message_size, parse_content_type

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


async def handle_actions(incoming: Incoming) -> Answer:
    request = parse_actions_request(incoming.req.headers.get("content-type"), incoming.req.get_body(), incoming.hub)
    settings = incoming.settings
    results = await run_actions(settings.service, request.hub, request.actions, settings.actions_deadline_seconds)
    failed = sum(1 for result in results if result.error is not None)
    fields = LogFields(actions=len(request.actions), failed=failed)
    unavailable = unavailable_when_nothing_succeeded(results)
    if unavailable is not None:
        return error_answer(unavailable, fields)
    answer = {"hub": request.hub, "results": [result.to_json() for result in results]}
    return Answer(json_response(answer, status=207 if failed else 200), fields)
