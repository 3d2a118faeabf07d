"""The emulator's error answers: the typed error the REST handlers raise, and the one writer.

Every error the emulator answers over HTTP, REST call or client handshake, is written by
:func:`error_response`, in one of the two shapes the service uses, both with the code repeated
in ``x-ms-error-code``:

* a parameter that fails validation (:func:`invalid`: a malformed OData ``filter``, a name, a
  number or a body out of its rules) is a ``400`` with ``Content-Type: application/problem+json;
  charset=utf-8`` and ASP.NET Core's validation-problem body, keys in the service's order::

      {"code":"Error.BadRequest","message":"<message> (Parameter '<name>')","target":"<target>",
       "errors":{"<target>":["<message> (Parameter '<name>')"]},"type":null,
       "title":"One or more validation errors occurred.","status":400,"detail":null,
       "instance":null,"extensions":{}}

  as recorded by Microsoft's JS SDK tests (an invalid ``filter`` on ``:send``; ``target`` is
  ``Filter`` for ``:addToGroups``, whose filter is in the body). ``@azure/core-client`` parses an
  error body only when it is ``application/json``, so a JS app sees this text as its
  ``RestError.message``, as it does against the service;
* every other error is ``{"code", "message"}`` as ``application/json``.

An authentication failure is not an error body: it is an empty 401.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"
VALIDATION_TITLE = "One or more validation errors occurred."


class RestError(Exception):
    """An HTTP error with the service's error code, e.g. ``Error.BadRequest``; ``target`` names
    the parameter that failed validation (see :func:`invalid`)."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


def bad_request(message: str) -> RestError:
    return RestError(400, "Error.BadRequest", message)


def invalid(parameter: str, message: str, *, target: str | None = None) -> RestError:
    """A parameter that fails validation, worded as .NET's ``ArgumentException``:
    ``<message> (Parameter '<parameter>')``; ``target`` is where the service points (its model
    property, e.g. ``Filter`` in a JSON body), by default the parameter itself."""
    return RestError(400, "Error.BadRequest", f"{message} (Parameter '{parameter}')", target or parameter)


def not_found(message: str) -> RestError:
    return RestError(404, "Error.NotFound", message)


def error_response(error: RestError) -> web.Response:
    headers = {"x-ms-error-code": error.code}
    if error.target is None:
        return web.json_response({"code": error.code, "message": error.message}, status=error.status, headers=headers)
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "target": error.target,
        "errors": {error.target: [error.message]},
        "type": None,
        "title": VALIDATION_TITLE,
        "status": error.status,
        "detail": None,
        "instance": None,
        "extensions": {},
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return web.Response(
        body=text.encode("utf-8"), status=error.status, headers={**headers, "Content-Type": PROBLEM_CONTENT_TYPE}
    )
