"""The no-secrets audit itself: it must notice a leak, and the app's flows must not leak."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import jwt
import pytest

from emulator import DEFAULT_ACCESS_KEY
from tests.audit import Capture, SecretAudit
from tests.conftest import Stack
from tests.support import TEST_KEY

REST_TOKEN = jwt.encode({"aud": "http://localhost:8080/api/hubs/h/:send", "exp": int(time.time()) + 60}, "k" * 44)
CLIENT_TOKEN = jwt.encode({"aud": "http://localhost:8080/client/hubs/h", "exp": int(time.time()) + 60}, "k" * 44)


def test_the_audit_notices_each_kind_of_leak() -> None:
    audit = SecretAudit(
        [
            Capture("log:shared.service", f"key {DEFAULT_ACCESS_KEY}"),
            Capture("log:devhost", "Endpoint=https://x;AccessKey=abc;Version=1.0;"),
            Capture("log:aiohttp.access", f"POST /api/publish?code={TEST_KEY}"),
            Capture("log:azure.core", f"Authorization: Bearer {REST_TOKEN}"),
            Capture("http:/api/publish", f'{{"token": "{CLIENT_TOKEN}"}}'),
            Capture("http:/api/negotiate", f'{{"token": "{CLIENT_TOKEN}"}}'),  # allowed: negotiate issues them
        ]
    )
    assert sorted(audit.violations()) == sorted(
        [
            "log:shared.service: a key",
            "log:devhost: a connection string",
            "log:aiohttp.access: a key",
            "log:azure.core: a REST bearer token",
            "http:/api/publish: a client token outside negotiate",
        ]
    )


async def test_app_flows_leak_nothing(stack: Stack) -> None:
    audit = SecretAudit()
    handler = audit.handler()
    logging.getLogger().addHandler(handler)
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/api/negotiate", "/api/negotiate?userId=u&group=lobby", "/api/negotiate?hub=bad%20hub"):
                async with http.get(stack.base_url + path) as response:
                    audit.captures.append(Capture(f"http:{response.url.path}", await response.text()))
            for headers in ({"x-functions-key": TEST_KEY}, {"x-functions-key": "wrong"}, {}):
                async with http.post(
                    f"{stack.base_url}/api/publish", data=b"x", headers={**headers, "Content-Type": "text/plain"}
                ) as response:
                    audit.captures.append(Capture("http:/api/publish", await response.text()))
    finally:
        logging.getLogger().removeHandler(handler)
    assert any(c.source.startswith("log:shared.invocation") for c in audit.captures)  # it did watch the logs
    assert audit.violations() == []


@pytest.mark.parametrize("server", ["dev host", "emulator"])
async def test_a_header_the_parser_refuses_is_not_quoted_in_the_log(
    stack: Stack, server: str, log_lines: list[str]
) -> None:
    """aiohttp's parser quotes the refused header line, bearer token and all, in its traceback."""
    port = stack.host.port if server == "dev host" else stack.emulator.port
    token = f"eyJsecret{TEST_KEY}.payload.signature"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET /api/negotiate HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\x01\r\n\r\n".encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400")
    assert any("Refused a malformed HTTP request (400 BadHttpMessage)" in line for line in log_lines)
    assert not any(token in line or "Traceback" in line for line in log_lines)
