"""Requests and responses, converted as the Functions host and Python worker convert them.

In: ``func.HttpRequest`` with lower-cased headers (repeats joined with ``,``), query params
joined the same way with empty values dropped, the matched route values and the body as
bytes. Out: ``None`` is 204, a ``str`` is 200 text, an ``HttpResponse`` keeps its status,
headers and body, and a missing ``Content-Type`` follows azure-functions' rule
(``<mimetype>; charset=<charset>`` for ``text/*``).
"""

from __future__ import annotations

from typing import Any

import azure.functions as func
from aiohttp import web


class BadReturnValue(TypeError):
    pass


def to_function_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if value == "":
            continue
        params[name] = f"{params[name]},{value}" if name in params else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, text=result)
    if not isinstance(result, func.HttpResponse):
        raise BadReturnValue(f"a function returned {type(result).__name__}, not HttpResponse")
    headers = dict(result.headers.items())
    if not any(name.lower() == "content-type" for name in headers):
        mimetype = result.mimetype or "text/plain"
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=result.status_code, headers=headers, body=result.get_body())
