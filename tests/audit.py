"""The no-secrets audit: every product log line and every response body of the test session.

Access keys, connection strings and REST bearer tokens must never appear; client tokens only
in negotiate's response body (and the emulator's ``:generateToken``, which is the service's
own API for handing them out).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.azurite import ACCOUNT_KEY as AZURITE_ACCOUNT_KEY
from emulator import DEFAULT_ACCESS_KEY
from tests.support import TEST_KEY

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.(eyJ[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*")
AUDITED_LOGGERS = (
    "shared",
    "devhost",
    "emulator",
    "aiohttp",
    "azure.core",
    "azure.messaging.webpubsubservice",
    "azure.identity",
    "azure.data.tables",
    "azure.storage",
    "__app__",
)
TOKEN_ISSUING_PATHS = ("/api/negotiate", ":generatetoken")  # compared lower-cased

# Every key a test hands to the app (access keys and function keys); tests that use another one
# add it here.
KNOWN_SECRETS: set[str] = {DEFAULT_ACCESS_KEY, AZURITE_ACCOUNT_KEY, TEST_KEY}


@dataclass
class Capture:
    source: str  # "log:<logger>" or "http:<path>"
    text: str


@dataclass
class SecretAudit:
    captures: list[Capture] = field(default_factory=list)

    # -- collecting -------------------------------------------------------------------------

    def handler(self) -> logging.Handler:
        audit = self

        class Recorder(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.name == "root" or record.name.startswith(AUDITED_LOGGERS):
                    text = record.getMessage()
                    if record.exc_info:
                        text += "\n" + logging.Formatter().formatException(record.exc_info)
                    dimensions = getattr(record, "custom_dimensions", None)
                    if dimensions:
                        text += " " + json.dumps(dimensions, default=str)
                    audit.captures.append(Capture(f"log:{record.name}", text))

        return Recorder(level=logging.DEBUG)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if isinstance(response, web.Response) and response.body is not None and isinstance(response.body, bytes):
            self.captures.append(Capture(f"http:{request.path}", response.body.decode("utf-8", errors="replace")))
        return response

    # -- judging ----------------------------------------------------------------------------

    def violations(self) -> list[str]:
        found: list[str] = []
        for capture in self.captures:
            for secret in KNOWN_SECRETS:
                if secret in capture.text:
                    found.append(f"{capture.source}: a key")
            if "AccessKey=" in capture.text:
                found.append(f"{capture.source}: a connection string")
            for match in JWT.finditer(capture.text):
                audience = str(_claims(match.group(1)).get("aud", ""))
                if "/api/" in audience:
                    found.append(f"{capture.source}: a REST bearer token")
                elif "/client" in audience and not _issues_tokens(capture.source):
                    found.append(f"{capture.source}: a client token outside negotiate")
        return found


def _issues_tokens(source: str) -> bool:
    return source.startswith("http:") and source.lower().rstrip("/").endswith(TOKEN_ISSUING_PATHS)


def _claims(segment: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return {}
