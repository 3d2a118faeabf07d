"""Parse ``WebPubSubConnectionString`` the way the official SDKs accept it.

``Endpoint=https://x.webpubsub.azure.com;AccessKey=...;[Port=8080;]Version=1.0;`` with
case-insensitive keys, an optional trailing ``;`` and ``http://`` allowed for local use.
Unknown keys are tolerated, as ``azure-messaging-webpubsubservice`` tolerates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.errors import ConfigurationError
from shared.validation import is_whole_number

SETTING = "WebPubSubConnectionString"
HOST_NAME = re.compile(r"[A-Za-z0-9._~%:-]+")  # DNS names, IPv4, and IPv6 without brackets


@dataclass(frozen=True)
class ConnectionInfo:
    """Where the service is and the key that signs tokens for it."""

    endpoint: str  # scheme://host[:port], no trailing slash
    access_key: str = field(repr=False)

    def __repr__(self) -> str:  # never show the key, even in a debugger or a log line
        return f"ConnectionInfo(endpoint={self.endpoint!r}, access_key='***')"


def parse_connection_string(value: str, *, setting: str = SETTING) -> ConnectionInfo:
    """Return the endpoint and key, or raise :class:`ConfigurationError` naming ``setting``."""
    fields: dict[str, str] = {}
    for segment in value.split(";"):
        segment = segment.strip()
        if not segment:
            continue
        key, sep, val = segment.partition("=")
        if not sep:
            raise ConfigurationError(f"{setting} is malformed: every part must look like Key=Value.")
        fields.setdefault(key.strip().lower(), val.strip())

    endpoint = fields.get("endpoint")
    access_key = fields.get("accesskey")
    if not endpoint:
        raise ConfigurationError(f"{setting} has no Endpoint.")
    if not access_key:
        raise ConfigurationError(f"{setting} has no AccessKey.")
    return ConnectionInfo(endpoint=normalize_endpoint(endpoint, fields.get("port"), setting), access_key=access_key)


def normalize_endpoint(endpoint: str, port: str | None = None, setting: str = SETTING) -> str:
    """Validate an ``http(s)://host`` endpoint, apply ``Port`` and drop any trailing slash."""
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or with junk
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not _valid_host(parts.hostname)
        or parts.port == 0
    ):
        raise ConfigurationError(
            f"{setting} Endpoint must be an http:// or https:// URL with a host (and port 1-65535)."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{setting} Endpoint must not carry a query or fragment.")
    if "@" in parts.netloc:  # user:password@ would reach browsers in negotiate's URLs
        raise ConfigurationError(f"{setting} Endpoint must not carry a user name or password.")
    base = f"{parts.scheme.lower()}://{parts.netloc}{parts.path}".rstrip("/")
    if port:
        if not is_whole_number(port) or not 0 < int(port) < 65536:
            raise ConfigurationError(f"{setting} Port must be a number from 1 to 65535.")
        base = f"{parts.scheme.lower()}://{_host_only(parts.netloc)}:{int(port)}{parts.path}".rstrip("/")
    return base


def _valid_host(host: str | None) -> bool:
    return bool(host) and HOST_NAME.fullmatch(host or "") is not None


def _host_only(netloc: str) -> str:
    """Strip an explicit port so that ``Port=`` wins, as the SDK appends it to the host."""
    if netloc.startswith("["):  # IPv6 literal
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc
