"""Writes small function apps into a folder, for dev host tests."""

from __future__ import annotations

import json
from pathlib import Path

HTTP_OUT = {"type": "http", "direction": "out", "name": "$return"}


def trigger(**options: object) -> dict:
    return {"type": "httpTrigger", "direction": "in", "name": "req", **options}


def write_function(root: Path, name: str, code: str, bindings: list | None = None, config: dict | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    document = {"scriptFile": "__init__.py", "bindings": bindings if bindings is not None else [trigger(), HTTP_OUT]}
    document.update(config or {})
    (folder / "function.json").write_text(json.dumps(document))
    (folder / "__init__.py").write_text(code)


def write_host(root: Path, route_prefix: str | None = None) -> None:
    host: dict = {"version": "2.0"}
    if route_prefix is not None:
        host["extensions"] = {"http": {"routePrefix": route_prefix}}
    (root / "host.json").write_text(json.dumps(host))


ECHO = """
import json
import azure.functions as func
from helper_lib import GREETING


def main(req: func.HttpRequest, context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({
            "method": req.method,
            "url": req.url,
            "headers": dict(req.headers),
            "params": dict(req.params),
            "route": dict(req.route_params),
            "body": req.get_body().decode("latin-1"),
            "greeting": GREETING,
            "function": context.function_name,
            "invocation": bool(context.invocation_id),
        }),
        mimetype="application/json",
        headers={"X-Custom": "yes"},
    )
"""

ASYNC_TEXT = """
import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("plain text", status_code=201)
"""

RETURNS_NONE = """
def main(req):
    return None
"""

RETURNS_STR = """
def main(req):
    return "a string"
"""

RAISES = """
def main(req):
    raise RuntimeError("boom: secret detail")
"""

RETURNS_INT = """
def main(req):
    return 42
"""


def write_sample_app(root: Path) -> None:
    write_host(root)
    (root / "helper_lib").mkdir()
    (root / "helper_lib" / "__init__.py").write_text('GREETING = "hello from the app root"\n')
    write_function(root, "echo", ECHO, [trigger(authLevel="anonymous", route="echo/{name?}"), HTTP_OUT])
    write_function(root, "keyed", ASYNC_TEXT, [trigger(methods=["post"]), HTTP_OUT])
    write_function(root, "admin_only", ASYNC_TEXT, [trigger(authLevel="admin", route="privileged"), HTTP_OUT])
    write_function(root, "nothing", RETURNS_NONE, [trigger(authLevel="anonymous"), HTTP_OUT])
    write_function(root, "text", RETURNS_STR, [trigger(authLevel="anonymous"), HTTP_OUT])
    write_function(root, "broken", RAISES, [trigger(authLevel="anonymous"), HTTP_OUT])
    write_function(root, "wrongtype", RETURNS_INT, [trigger(authLevel="anonymous"), HTTP_OUT])
