"""Which Web PubSub the app will talk to, read from its settings by the app's own rule.

The app takes ``WebPubSubConnectionString`` when it is set (access-key signing), else
``WebPubSubEndpoint`` (Microsoft Entra ID through ``DefaultAzureCredential``): with both set, the
connection string wins (``shared/settings.py``). Dev tools never import product code, so the rule
is written again here, and ``tests/e2e/test_commands.py`` holds the two together through the
servers: with both set, a publish reaches the emulator the connection string names.

A connection string whose endpoint is this machine (``localhost``, ``127.0.0.1``, ``[::1]``)
names the emulator, and ``make run`` starts one there with the string's key. Anything else is a
real resource, and ``make run`` starts no emulator. Nothing here ever returns a key in text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from devhost.local_settings import SettingsError

CONNECTION_STRING = "WebPubSubConnectionString"
ENDPOINT = "WebPubSubEndpoint"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    """``scheme://host:port`` of a Web PubSub, with the port always known."""

    scheme: str
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return self.host.lower() in LOOPBACK_HOSTS

    @property
    def origin(self) -> str:
        """``scheme://host``, with brackets around an IPv6 host, and no port."""
        return f"{self.scheme}://[{self.host}]" if ":" in self.host else f"{self.scheme}://{self.host}"

    @property
    def url(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme) == self.port
        return self.origin + ("" if default else f":{self.port}")


@dataclass(frozen=True)
class ServiceChoice:
    """The setting the app will use (``None``: neither is set) and what it names."""

    setting: str | None
    endpoint: Endpoint | None = None
    access_key: str | None = field(default=None, repr=False)
    ignored: str | None = None  # the other setting, when both are set

    @property
    def is_emulator(self) -> bool:
        """True when ``make run`` should start the emulator: nothing set, or a loopback connection string."""
        return self.setting is None or (
            self.setting == CONNECTION_STRING and self.endpoint is not None and self.endpoint.is_loopback
        )

    def credential(self) -> str:
        """How the app proves who it is to the service, in words (never the key itself)."""
        if self.setting == CONNECTION_STRING:
            return f"the AccessKey in {CONNECTION_STRING} (signs each request)"
        return (
            f"Microsoft Entra ID through DefaultAzureCredential ({ENDPOINT} has no key): locally your "
            "`az login` (or AZURE_CLIENT_ID's identity); it needs the Web PubSub Service Owner role"
        )

    def conflict(self) -> str | None:
        if self.ignored is None:
            return None
        return (
            f"both {CONNECTION_STRING} and {ENDPOINT} are set; the app uses {self.setting} and ignores {self.ignored}"
        )


def choose_service(values: Mapping[str, str]) -> ServiceChoice:
    """The app's rule over the settings it will see; :class:`SettingsError` for a string with no endpoint."""
    connection_string = values.get(CONNECTION_STRING, "").strip()
    endpoint = values.get(ENDPOINT, "").strip()
    if connection_string:
        fields = connection_fields(connection_string)
        return ServiceChoice(
            CONNECTION_STRING,
            endpoint_of(fields.get("endpoint", ""), fields.get("port"), CONNECTION_STRING),
            fields.get("accesskey") or None,
            ignored=ENDPOINT if endpoint else None,
        )
    if endpoint:
        return ServiceChoice(ENDPOINT, endpoint_of(endpoint, None, ENDPOINT))
    return ServiceChoice(None)


def connection_fields(connection_string: str) -> dict[str, str]:
    """``Key=Value`` pairs with lower-cased keys, the first of each kept (as the SDK reads them)."""
    fields: dict[str, str] = {}
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def endpoint_of(url: str, port: str | None, setting: str) -> Endpoint:
    try:
        parts = urlsplit(url)
        url_port = parts.port
    except ValueError:
        parts, url_port = None, None
    if parts is None or parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise SettingsError(
            f"{setting}: the endpoint must be an http(s) URL such as https://<name>.webpubsub.azure.com."
        )
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise SettingsError(f"{setting}: Port must be a port number.")
    chosen = int(port) if port is not None else url_port or DEFAULT_PORTS[parts.scheme]
    return Endpoint(parts.scheme, parts.hostname, chosen)


def with_port(connection_string: str, port: int) -> str:
    """The same connection string, reaching its endpoint on ``port`` (its ``Port`` field, else the URL's)."""
    parts = connection_string.split(";")
    for index, part in enumerate(parts):
        if part.partition("=")[0].strip().lower() == "port":
            parts[index] = f"Port={port}"
            return ";".join(parts)
    for index, part in enumerate(parts):
        key, _, url = part.partition("=")
        if key.strip().lower() == "endpoint":
            parsed = urlsplit(url.strip())
            host = f"[{parsed.hostname}]" if ":" in (parsed.hostname or "") else parsed.hostname
            parts[index] = f"Endpoint={parsed._replace(netloc=f'{host}:{port}').geturl()}"
    return ";".join(parts)
