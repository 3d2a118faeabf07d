"""What an event handler answers the service, typed, and the one place they become HTTP responses.

The service reads (Microsoft's ``reference-cloud-events``):

* to ``connect``: 200 with ``{"userId", "groups", "roles", "subprotocol"}`` (each optional) or
  204 accepts; a 4xx refuses the client's handshake with that status;
* to a user event: 200 with a body answers the sender (``text/plain``, ``application/json`` or
  ``application/octet-stream``), 204 answers nothing; anything else gives a JSON client an
  error ack (a plain WebSocket client is closed);
* on both, a ``ce-connectionState`` header replaces the connection's state for its later events.

A refusal carries a typed error (:mod:`shared.errors`), so its body is the app's one error shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import azure.functions as func

from shared.errors import RequestError, RetryLater
from shared.responses import NO_STORE, error_response, json_response

STATE_HEADER = "ce-connectionState"
CONTENT_TYPES = {"text": "text/plain; charset=utf-8", "json": "application/json", "binary": "application/octet-stream"}


@dataclass(frozen=True)
class Accept:
    """Accept a connection (with changes) or an event; ``state`` replaces the connection state."""

    user_id: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    subprotocol: str | None = None
    state: str | None = None

    @property
    def changes(self) -> dict[str, object]:
        fields = {"userId": self.user_id, "subprotocol": self.subprotocol}
        lists = {"groups": list(self.groups), "roles": list(self.roles)}
        return {name: value for name, value in {**fields, **lists}.items() if value}


@dataclass(frozen=True)
class Refuse:
    """Refuse the connection or event with the error's status and message."""

    error: RequestError | RetryLater


@dataclass(frozen=True)
class Reply:
    """Answer a user event's sender with data (``text``, ``json`` or ``binary``)."""

    data: bytes
    data_type: str = "text"
    state: str | None = None


EventAnswer = Accept | Refuse | Reply


def render(answer: EventAnswer) -> func.HttpResponse:
    if isinstance(answer, Refuse):
        return error_response(answer.error)
    state = {STATE_HEADER: answer.state} if answer.state else {}
    if isinstance(answer, Reply):
        headers = {**NO_STORE, **state, "Content-Type": CONTENT_TYPES[answer.data_type]}
        return func.HttpResponse(answer.data, status_code=200, headers=headers)
    if answer.changes:
        return json_response(answer.changes, headers=state)
    return func.HttpResponse(status_code=204, headers={**NO_STORE, **state})
