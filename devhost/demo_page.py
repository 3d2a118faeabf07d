"""The demo page and its icon, served with headers that keep other sites out of it.

The page is one static file with one inline ``<script>`` and one inline ``<style>``. Its
``Content-Security-Policy`` allows exactly those two blocks, by their SHA-256 hashes (computed
here when the host starts, so editing the page needs no second edit), and nothing else: no other
script, no inline event handler or ``style`` attribute, no plugin, no ``<base>``, no form posted
elsewhere, no framing (``frame-ancestors 'none'``, with ``X-Frame-Options`` for older browsers).
The page talks to its own origin (negotiate, the development identity provider) and to the
WebSocket URL negotiate hands out, which may be the emulator on another port or a Web PubSub
resource in Azure: hence ``connect-src 'self' ws: wss:``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

FOLDER = Path(__file__).parent / "demo"
PAGE = FOLDER / "index.html"
ICON = FOLDER / "favicon.svg"


def inline_source(page: str, tag: str) -> list[str]:
    """The CSP source expression (``'sha256-…'``) of each inline ``<tag>`` block of ``page``."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks]


def content_security_policy(page: str) -> str:
    directives = {
        "default-src": ["'none'"],
        "script-src": inline_source(page, "script"),
        "style-src": inline_source(page, "style"),
        "connect-src": ["'self'", "ws:", "wss:"],
        "img-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


def security_headers(page: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(page),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


class DemoPage:
    """``GET /`` (the page), ``GET /favicon.ico`` (its icon, an SVG) and ``GET /demo/settings.json``:
    what the page needs to know about this host (``identityProvider``: the development identity
    provider's path, or ``null``), so that it never probes for a route that is not there (a 404 in
    the browser's console on every load)."""

    def __init__(self, identity_path: str | None = None, page: Path = PAGE, icon: Path = ICON) -> None:
        self.page = page.read_bytes()
        self.icon = icon.read_bytes()
        self.headers = security_headers(self.page.decode("utf-8"))
        self.settings = {"identityProvider": identity_path}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/favicon.ico", self._icon)
        app.router.add_get("/demo/settings.json", self._settings)

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(body=self.page, content_type="text/html", charset="utf-8", headers=self.headers)

    async def _icon(self, request: web.Request) -> web.Response:
        return web.Response(body=self.icon, content_type="image/svg+xml", headers=self.headers)

    async def _settings(self, request: web.Request) -> web.Response:
        return web.json_response(self.settings, headers=self.headers)
