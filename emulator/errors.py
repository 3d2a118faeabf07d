"""The emulator's error answers: the typed error the REST handlers raise, and the one writer.

Every error the emulator answers over HTTP, REST call or client handshake, is written by
:func:`error_response`: ``{"code", "message"}`` with the code repeated in ``x-ms-error-code``, as
the service answers. An authentication failure is not an error body: it is an empty 401.
"""

from __future__ import annotations

from aiohttp import web


class RestError(Exception):
    """An HTTP error with the service's error code, e.g. ``Error.BadRequest``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> RestError:
    return RestError(400, "Error.BadRequest", message)


def not_found(message: str) -> RestError:
    return RestError(404, "Error.NotFound", message)


def error_response(error: RestError) -> web.Response:
    return web.json_response(
        {"code": error.code, "message": error.message},
        status=error.status,
        headers={"x-ms-error-code": error.code},
    )
