"""Run one function invocation: map errors to responses and log one structured line.

The line is plain ``logging`` (Application Insights collects it unchanged) and reads
``function=publish hub=chat target=group bytes=12 status=202 duration_ms=3.1 invocation_id=...``;
the same fields ride along as ``custom_dimensions``. The handler fills an
:class:`InvocationRecord` as it goes; nothing secret (keys, bodies) has a field there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import azure.functions as func

from shared.errors import AppError, UpstreamRejected
from shared.responses import error_response, internal_error_response

logger = logging.getLogger("shared.invocation")


@dataclass
class InvocationRecord:
    """What one invocation's log line says, in this order; ``None`` fields are left out."""

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


Handler = Callable[[func.HttpRequest, InvocationRecord], Awaitable[func.HttpResponse]]


async def run_invocation(
    function: str,
    req: func.HttpRequest,
    context: func.Context | None,
    handler: Handler,
    *,
    idempotent: bool = False,
) -> func.HttpResponse:
    """Call ``handler(req, record)``; with ``idempotent``, honour an ``Idempotency-Key`` header."""
    started = time.perf_counter()
    record = InvocationRecord()

    async def respond() -> func.HttpResponse:
        return await _answer(function, record, handler(req, record))

    def note(outcome: str) -> None:
        record.idempotency = outcome

    if idempotent and req.headers.get("idempotency-key") is not None:
        from shared.idempotency import run_once  # imported on first use: keeps cold starts short

        response = await _answer(function, record, run_once(function, req, respond, note))
    else:
        response = await respond()
    record.status = response.status_code
    _log(function, _invocation_id(context), record, time.perf_counter() - started)
    return response


async def _answer(function: str, record: InvocationRecord, call: Awaitable[func.HttpResponse]) -> func.HttpResponse:
    try:
        return await call
    except AppError as error:
        record.error = error.code
        if isinstance(error, UpstreamRejected):
            record.upstream_status = error.upstream_status
            record.request_id = error.request_id
        return error_response(error)
    except Exception as error:  # noqa: BLE001 - the last line of defence: answer, never crash
        # Frames only: an exception's message could quote a setting's value.
        frames = "".join(traceback.format_tb(error.__traceback__))
        logger.error("Unhandled %s in %s\n%s", type(error).__name__, function, frames)
        record.error = "InternalError"
        return internal_error_response()


def _invocation_id(context: func.Context | None) -> str:
    return getattr(context, "invocation_id", None) or str(uuid.uuid4())


def _log(function: str, invocation_id: str, record: InvocationRecord, seconds: float) -> None:
    level = logging.WARNING if (record.status or 500) >= 500 else logging.INFO
    if not logger.isEnabledFor(level):
        return
    duration_ms = round(seconds * 1000, 1)
    fields = {name: value for name, value in dataclasses.asdict(record).items() if value is not None}
    parts = [f"function={function}", *(f"{name}={value}" for name, value in fields.items())]
    parts += [f"duration_ms={duration_ms}", f"invocation_id={invocation_id}"]
    dimensions = {"function": function, **fields, "duration_ms": duration_ms, "invocation_id": invocation_id}
    logger.log(level, " ".join(parts), extra={"custom_dimensions": dimensions})
