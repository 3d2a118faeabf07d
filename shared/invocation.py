"""Run one function invocation: map errors to responses and log one structured line.

The line is plain ``logging`` (Application Insights collects it unchanged) and reads
``function=publish hub=chat target=group bytes=12 status=202 duration_ms=3.1 invocation_id=...``;
the same fields ride along as ``custom_dimensions``. Nothing secret is ever a field.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.errors import AppError, UpstreamRejected
from shared.responses import error_response, internal_error_response

logger = logging.getLogger("shared.invocation")

LOG_FIELDS = ("hub", "target", "bytes", "status", "error", "upstream_status", "request_id")

Handler = Callable[[func.HttpRequest, dict[str, Any]], Awaitable[func.HttpResponse]]


async def run_invocation(
    function: str, req: func.HttpRequest, context: func.Context | None, handler: Handler
) -> func.HttpResponse:
    """Call ``handler(req, fields)``; it may add log fields (hub, target, bytes) as it goes."""
    started = time.perf_counter()
    fields: dict[str, Any] = {}
    try:
        response = await handler(req, fields)
    except AppError as error:
        fields["error"] = error.code
        if isinstance(error, UpstreamRejected):
            fields["upstream_status"] = error.upstream_status
            fields["request_id"] = error.request_id
        response = error_response(error)
    except Exception as error:  # noqa: BLE001 - the last line of defence: answer, never crash
        # Frames only: an exception's message could quote a setting's value.
        frames = "".join(traceback.format_tb(error.__traceback__))
        logger.error("Unhandled %s in %s\n%s", type(error).__name__, function, frames)
        fields["error"] = "InternalError"
        response = internal_error_response()
    fields["status"] = response.status_code
    _log(function, _invocation_id(context), fields, time.perf_counter() - started)
    return response


def _invocation_id(context: func.Context | None) -> str:
    return getattr(context, "invocation_id", None) or str(uuid.uuid4())


def _log(function: str, invocation_id: str, fields: dict[str, Any], seconds: float) -> None:
    level = logging.WARNING if fields.get("status", 500) >= 500 else logging.INFO
    if not logger.isEnabledFor(level):
        return
    duration_ms = round(seconds * 1000, 1)
    parts = [f"function={function}"]
    parts += [f"{name}={fields[name]}" for name in LOG_FIELDS if fields.get(name) is not None]
    parts += [f"duration_ms={duration_ms}", f"invocation_id={invocation_id}"]
    dimensions = {"function": function, **fields, "duration_ms": duration_ms, "invocation_id": invocation_id}
    logger.log(level, " ".join(parts), extra={"custom_dimensions": dimensions})
