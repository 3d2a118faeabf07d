"""``local.settings.json``: Values become environment variables, Host sets port, CORS and keys.

As Core Tools does, a variable already set in the environment is not overwritten, and an
encrypted file is refused. ``Host.FunctionKey`` and ``Host.MasterKey`` are this dev host's
own additions: Core Tools keeps keys elsewhere, Azure in the function app's key store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.jsonfile import read_json_object

logger = logging.getLogger("devhost")

DEFAULT_PORT = 7071


class SettingsError(Exception):
    pass


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    port: int = DEFAULT_PORT
    cors_origins: tuple[str, ...] = ()
    cors_credentials: bool = False
    function_key: str | None = field(default=None, repr=False)
    master_key: str | None = field(default=None, repr=False)
    source: str = "local.settings.json"  # the file they came from, for messages that say where to look


def read_local_settings(path: Path) -> LocalSettings:
    if not path.is_file():
        logger.warning("%s not found; running with the environment only.", path)
        return LocalSettings(source=str(path))
    document = read_json_object(path, SettingsError)
    if document.get("IsEncrypted") is True:
        raise SettingsError(f"{path}: IsEncrypted is true; decrypt it first (func settings decrypt).")
    values = document.get("Values", {})
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise SettingsError(f"{path}: Values must map names to strings.")
    host: dict[str, Any] = document.get("Host", {}) or {}
    port = host.get("LocalHttpPort", DEFAULT_PORT)
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise SettingsError(f"{path}: Host.LocalHttpPort must be a port number.")
    origins = tuple(o.strip() for o in str(host.get("CORS", "")).split(",") if o.strip())
    return LocalSettings(
        values=dict(values),
        port=port,
        cors_origins=origins,
        cors_credentials=bool(host.get("CORSCredentials", False)),
        function_key=host.get("FunctionKey") or None,
        master_key=host.get("MasterKey") or None,
        source=str(path),
    )


def apply_values(values: dict[str, str], environ: MutableMapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    for name, value in values.items():
        if name in env:
            logger.info("Skipping '%s' from local.settings.json: already set in the environment.", name)
            continue
        env[name] = value
