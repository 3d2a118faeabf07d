"""The one place where results and typed errors become HTTP responses.

Every error body is ``{"error": {"code": ..., "message": ...}}``, written by
:func:`error_json` alone (a batch item's error uses the same inner object). Unexpected
exceptions become a generic 500 whose details stay in the log (type only, never a secret), so
no stack trace, key or token leaves the process.

Handlers return an :class:`Answer`: the response and the fields of the invocation's log line
(:mod:`shared.invocation` writes the line), rather than filling in a record as they go.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared.errors import AppError, UpstreamRejected

JSON_TYPE = "application/json"
NO_STORE = {"Cache-Control": "no-store"}
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class LogFields:
    """What one invocation's log line says, in this order; ``None`` fields are left out.

    Nothing secret (keys, bodies, tokens) has a field here.
    """

    hub: str | None = None
    target: str | None = None
    bytes: int | None = None
    actions: int | None = None
    failed: int | None = None
    idempotency: str | None = None  # first | replayed | mismatch | running
    status: int | None = None
    error: str | None = None
    upstream_status: int | None = None
    request_id: str | None = None

    def present(self) -> dict[str, Any]:
        """The fields that are set, in order. Not ``dataclasses.asdict``: it deep-copies every
        value, and two calls of it per invocation were a tenth of an event handler's time."""
        return {name: value for name in LOG_FIELD_NAMES if (value := getattr(self, name)) is not None}

    def merged(self, later: LogFields) -> LogFields:
        """These fields, overridden by every field ``later`` sets. Built with the constructor:
        ``dataclasses.replace`` costs several times more, and it runs twice per invocation."""
        changes = later.present()
        return LogFields(**{**self.present(), **changes}) if changes else self


LOG_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(LogFields))


@dataclass(frozen=True)
class Answer:
    """What a handler did: the response, and what the log line should say about it."""

    response: func.HttpResponse
    fields: LogFields = LogFields()


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, separators=(",", ":")),
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
        mimetype=JSON_TYPE,
    )


def error_json(error: AppError) -> dict[str, str]:
    """The inner error object, ``{"code", "message"}``: of a response, or of one batch item."""
    return {"code": error.code, "message": error.message}


def error_response(error: AppError) -> func.HttpResponse:
    return json_response({"error": error_json(error)}, status=error.status, headers=dict(error.headers))


def error_answer(error: AppError, fields: LogFields = LogFields()) -> Answer:
    """The error's response, and its code (and the service's status, if it refused) for the log."""
    noted = LogFields(error=error.code)
    if isinstance(error, UpstreamRejected):
        noted = dataclasses.replace(noted, upstream_status=error.upstream_status, request_id=error.request_id)
    return Answer(error_response(error), fields.merged(noted))


def internal_error_answer(fields: LogFields = LogFields()) -> Answer:
    """A 500 that says nothing of the cause: the base :class:`AppError` is "InternalError"."""
    return error_answer(AppError("An unexpected error occurred."), fields)


def replayed_response(status: int, body: bytes) -> func.HttpResponse:
    """An answer kept for an ``Idempotency-Key``, given again as it was first given."""
    headers = {**NO_STORE, REPLAYED_HEADER: "true"}
    return func.HttpResponse(body, status_code=status, headers=headers, mimetype=JSON_TYPE)
