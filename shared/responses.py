"""The one place where results and typed errors become HTTP responses.

Every error body is ``{"error": {"code": ..., "message": ...}}``. Unexpected exceptions
become a generic 500 whose details stay in the log (type only, never a secret), so no stack
trace, key or token leaves the process.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared.errors import AppError

JSON_TYPE = "application/json"
NO_STORE = {"Cache-Control": "no-store"}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, separators=(",", ":")),
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
        mimetype=JSON_TYPE,
    )


def error_response(error: AppError) -> func.HttpResponse:
    body = {"error": {"code": error.code, "message": error.message}}
    return json_response(body, status=error.status, headers=error.headers)


def internal_error_response() -> func.HttpResponse:
    body = {"error": {"code": "InternalError", "message": "An unexpected error occurred."}}
    return json_response(body, status=500)
