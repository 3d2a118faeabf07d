"""Settings that point at the stack follow it to the ports it started on.

``local.settings.json`` names where the dev host listens (``Host.LocalHttpPort``) and, in URLs,
where the app and the page reach this machine: the emulator in ``WebPubSubConnectionString``,
the development identity provider in ``NegotiateJwtIssuer``, the page's origins in ``Host.CORS``.
When the stack starts on other ports (``--port``, ``--emulator-port``), :func:`follow` moves
every loopback URL of those settings that names a port the file expects to the port the stack
really uses, so the app, the page and the identity provider agree with no edit to the file. Only
origins are ever reported (``scheme://host:port``), never a whole value, which may hold a key.

Values set in the environment win over the file (as in Core Tools) and are not moved;
:func:`strays` reports every setting that still names a loopback port where the stack started
nothing, one line each.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from devhost.local_settings import SettingsError
from devhost.web_pubsub import connection_fields, endpoint_of, with_port

LOOPBACK_URL = re.compile(
    r"(?P<origin>(?P<scheme>https?|wss?)://(?:localhost|127\.0\.0\.1|\[::1\]))(?![\w.-])(?::(?P<port>\d{1,5})(?!\d))?",
    re.I,
)
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
CORS_SETTING = "Host.CORS"


@dataclass(frozen=True)
class Move:
    """One setting moved to the stack's port: its name and the origins before and after."""

    setting: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class Followed:
    values: dict[str, str]
    cors_origins: tuple[str, ...]
    moves: tuple[Move, ...]


def loopback_origins(value: str) -> list[tuple[str, int]]:
    """Each loopback ``origin`` in ``value`` with its port (the scheme's default when the URL gives
    none); for a connection string, its endpoint with its ``Port``."""
    fields = connection_fields(value)
    if "endpoint" in fields:
        try:
            endpoint = endpoint_of(fields["endpoint"], fields.get("port"), "")
        except SettingsError:  # a malformed string is the app's to report, when it reads it
            return []
        return [(endpoint.origin, endpoint.port)] if endpoint.is_loopback else []
    return [(m["origin"], int(m["port"] or DEFAULT_PORTS[m["scheme"].lower()])) for m in LOOPBACK_URL.finditer(value)]


def move_value(value: str, ports: Mapping[int, int]) -> str:
    """``value`` with each loopback port found in ``ports`` replaced by its new port."""
    if "endpoint" in connection_fields(value):
        found = loopback_origins(value)
        return with_port(value, ports[found[0][1]]) if found and found[0][1] in ports else value

    def replace(match: re.Match[str]) -> str:
        port = int(match["port"] or DEFAULT_PORTS[match["scheme"].lower()])
        return f"{match['origin']}:{ports[port]}" if port in ports else match[0]

    return LOOPBACK_URL.sub(replace, value)


def describe(value: str) -> str:
    return ", ".join(f"{origin}:{port}" for origin, port in loopback_origins(value))


def follow(
    values: Mapping[str, str], cors_origins: tuple[str, ...], ports: Mapping[int, int], fixed: Collection[str]
) -> Followed:
    """Move the file's settings from the ports it names to the stack's (``ports``: old to new).

    ``fixed`` are names set in the environment, which the app reads instead: left alone."""
    moving = {old: new for old, new in ports.items() if old != new}
    moved = dict(values)
    moves = []
    for name, value in values.items():
        if name in fixed:
            continue
        after = move_value(value, moving)
        if after != value:
            moved[name] = after
            moves.append(Move(name, describe(value), describe(after)))
    origins = tuple(move_value(origin, moving) for origin in cors_origins)
    if origins != cors_origins:
        moves.append(Move(CORS_SETTING, ", ".join(cors_origins), ", ".join(origins)))
    return Followed(moved, origins, tuple(moves))


def strays(values: Mapping[str, str], listening: Collection[int]) -> list[str]:
    """One line for each setting that names a loopback port where nothing of the stack listens."""
    lines = []
    for name, value in values.items():
        missed = [f"{origin}:{port}" for origin, port in loopback_origins(value) if port not in listening]
        if missed:
            started = ", ".join(str(port) for port in sorted(listening))
            lines.append(
                f"{name} points at {', '.join(missed)}, where this stack started nothing (it listens on {started})"
            )
    return lines
