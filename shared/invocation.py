"""Run one function invocation: resolve what every endpoint needs, answer errors, log one line.

Every function goes through :func:`run_invocation`: it reads the settings, the query and the hub
once (:class:`Incoming`), honours an ``Idempotency-Key`` when the function takes one, turns any
error into its response (:mod:`shared.responses`), and logs one structured line. The line is
plain ``logging`` (Application Insights collects it unchanged) and reads
``function=publish hub=chat target=group bytes=12 status=202 duration_ms=3.1 invocation_id=...``;
the same fields ride along as ``custom_dimensions``.
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

from shared.errors import AppError
from shared.query import Query
from shared.responses import Answer, LogFields, error_answer, internal_error_answer
from shared.settings import Settings, load_settings

logger = logging.getLogger("shared.invocation")

IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True)
class Incoming:
    """A request with what every endpoint reads from it, resolved once: settings, query and hub."""

    req: func.HttpRequest
    settings: Settings
    query: Query
    hub: str

    @classmethod
    def read(cls, req: func.HttpRequest, *, hub_in_query: bool = True) -> Incoming:
        """Without ``hub_in_query`` (the events function: the service names the hub in the event,
        and nothing of a request is read before the caller is proven) the query is left unread and
        the hub is the default."""
        settings = load_settings()
        if not hub_in_query:
            return cls(req, settings, Query([]), settings.hubs.default)
        query = Query.from_url(req.url)
        return cls(req, settings, query, settings.hubs.resolve(query.single("hub")))


Handler = Callable[[Incoming], Awaitable[Answer]]


async def run_invocation(
    function: str,
    req: func.HttpRequest,
    context: func.Context | None,
    handler: Handler,
    *,
    idempotent: bool = False,
    hub_in_query: bool = True,
) -> func.HttpResponse:
    """Answer ``req`` with ``handler``; with ``idempotent``, honour an ``Idempotency-Key`` header;
    with ``hub_in_query``, the hub is the query's (see :meth:`Incoming.read`)."""
    started = time.perf_counter()
    answer = await _guarded(function, _handle(function, req, handler, idempotent, hub_in_query), LogFields())
    fields = dataclasses.replace(answer.fields, status=answer.response.status_code)
    _log(function, _invocation_id(context), fields, time.perf_counter() - started)
    return answer.response


async def _handle(
    function: str, req: func.HttpRequest, handler: Handler, idempotent: bool, hub_in_query: bool
) -> Answer:
    keyed = idempotent and req.headers.get(IDEMPOTENCY_HEADER) is not None
    if keyed:  # imported on first use: keeps cold starts short
        from shared.idempotency.keys import read_key, run_once

        key = read_key(req)  # a malformed key is refused before anything else
    incoming = Incoming.read(req, hub_in_query=hub_in_query)
    known = LogFields(hub=incoming.hub if hub_in_query else None)  # else the handler names the hub

    async def respond() -> Answer:
        return await _guarded(function, handler(incoming), known)

    if not keyed:
        return await respond()
    return await _guarded(function, run_once(function, incoming.hub, req, key, respond), known)


async def _guarded(function: str, call: Awaitable[Answer], known: LogFields) -> Answer:
    """The call's answer with the fields known so far; any error becomes its response."""
    try:
        answer = await call
    except AppError as error:
        return error_answer(error, known)
    except Exception as error:  # noqa: BLE001 - the last line of defence: answer, never crash
        # Frames only: an exception's message could quote a setting's value.
        frames = "".join(traceback.format_tb(error.__traceback__))
        logger.error("Unhandled %s in %s\n%s", type(error).__name__, function, frames)
        return internal_error_answer(known)
    return Answer(answer.response, known.merged(answer.fields))


def _invocation_id(context: func.Context | None) -> str:
    return getattr(context, "invocation_id", None) or str(uuid.uuid4())


def _log(function: str, invocation_id: str, fields: LogFields, seconds: float) -> None:
    level = logging.WARNING if (fields.status or 500) >= 500 else logging.INFO
    if not logger.isEnabledFor(level):
        return
    duration_ms = round(seconds * 1000, 1)
    present = fields.present()
    parts = [f"function={function}", *(f"{name}={value}" for name, value in present.items())]
    parts += [f"duration_ms={duration_ms}", f"invocation_id={invocation_id}"]
    dimensions = {"function": function, **present, "duration_ms": duration_ms, "invocation_id": invocation_id}
    logger.log(level, " ".join(parts), extra={"custom_dimensions": dimensions})
