"""The REST routing core: a route table matched on the raw path.

Routes are matched segment by segment on the raw path, so that ``%2F`` inside a group or user
id stays the literal text ``%2F`` as on the service (it is not a path separator there).
Literal segments compare case-insensitively. Handlers take one :class:`Call` and raise
:class:`~emulator.errors.RestError`; :mod:`emulator.errors` writes it in the service's shape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from emulator.errors import RestError, not_found
from emulator.model import Hub

_ENCODED_SLASH = re.compile("%2F", re.IGNORECASE)


@dataclass(frozen=True)
class Call:
    """One matched REST request: the aiohttp request, the hub and the named path values."""

    request: web.Request
    hub: Hub
    values: dict[str, str]
    access_key: str

    def query_all(self, name: str) -> list[str]:
        return self.request.query.getall(name, [])

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` as the caller addressed the emulator."""
        return f"{self.request.scheme}://{self.request.host}"


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler


class Router:
    """Routes such as ``hubs/{hub}/groups/{group}/:send``; ``{name}`` captures one segment."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, tuple(pattern.split("/")), handler))
            return handler

        return register

    def match(self, raw_path: str, method: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path values for a raw path below ``/api/``; 404 or 405 otherwise."""
        segments = raw_path.split("?", 1)[0].split("/")[2:]  # after "/api/"
        matched = False
        for route in self.routes:
            values = _capture(route.segments, segments)
            if values is None:
                continue
            matched = True
            if route.method == method:
                return route.handler, values
        if matched:
            raise RestError(405, "Error.MethodNotAllowed", f"{method} is not allowed here.")
        raise not_found("No such API.")


def _capture(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    values: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            values[expected[1:-1]] = decode_segment(actual)
        elif expected.lower() != actual.lower():
            return None
    return values


def decode_segment(segment: str) -> str:
    """Percent-decode a path segment, keeping an encoded ``/`` as the literal ``%2F``."""
    return "%2F".join(unquote(part) for part in _ENCODED_SLASH.split(segment))
