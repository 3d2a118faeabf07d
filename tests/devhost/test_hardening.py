"""The dev host's own answers, over real sockets: the demo page's security headers, and a request
head its parser refuses answered without quoting the request back."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from devhost import DevHost, LocalSettings
from tests.devhost.sample_app import write_sample_app

SECRET = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"  # a bearer token's shape; never echoed
DEMO_PAGE = Path(__file__).resolve().parents[2] / "devhost" / "demo" / "index.html"


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[DevHost]:
    write_sample_app(tmp_path)
    async with DevHost(tmp_path, LocalSettings(), port=0) as running:
        yield running


def inline_hashes(tag: str) -> list[str]:
    """The CSP source expression of each inline ``<tag>`` block of the demo page."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", DEMO_PAGE.read_text(encoding="utf-8"), re.DOTALL)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


async def test_the_demo_page_forbids_framing_sniffing_and_other_scripts(host: DevHost) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{host.port}/") as response:
        assert response.status == 200
        headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    policy = directives(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    # Only the page's own inline script and style run: no 'unsafe-inline', nothing from elsewhere.
    assert policy["script-src"] == inline_hashes("script")
    assert policy["style-src"] == inline_hashes("style")
    assert policy["connect-src"] == ["'self'", "ws:", "wss:"]  # the negotiated WebSocket may be anywhere


async def test_the_favicon_is_served_with_the_same_rules(host: DevHost) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{host.port}/favicon.ico") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert (await response.read()).startswith(b"<svg")


async def raw_exchange(port: int, head: bytes) -> bytes:
    """Send a request head byte for byte, return everything the server sends before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "bad_line",
    [
        f"Authorization: Bearer {SECRET}\x01".encode(),  # a control byte in a value
        f"Authorization Bearer: {SECRET}".encode(),  # a space in a header name
        f"X-Key: {SECRET}\x7f".encode(),  # DEL in a value
        f"Authorization: Bearer x\r\n {SECRET}".encode(),  # obsolete line folding
    ],
)
async def test_a_header_the_parser_refuses_is_answered_without_quoting_it(
    host: DevHost, bad_line: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    head = b"GET /api/text HTTP/1.1\r\nHost: localhost\r\n" + bad_line + b"\r\n\r\n"
    answer = await raw_exchange(host.port, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"400"
    _, _, body = rest.partition(b"\r\n\r\n")
    assert body == b""
    assert SECRET.encode() not in answer
    assert b"Bearer" not in answer
    assert SECRET not in caplog.text


@pytest.mark.parametrize(("dev_identity", "expected"), [(True, "/dev-identity"), (False, None)])
async def test_the_page_learns_whether_the_identity_provider_runs(
    tmp_path: Path, dev_identity: bool, expected: str | None
) -> None:
    """The page asks this instead of probing the provider's discovery URL, a 404 when it is off."""
    write_sample_app(tmp_path)
    async with (
        DevHost(tmp_path, LocalSettings(), port=0, dev_identity=dev_identity) as running,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{running.port}/demo/settings.json") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"identityProvider": expected}
