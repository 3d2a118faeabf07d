"""Where ``Idempotency-Key`` answers are kept, and for how long: read apart from
:class:`shared.settings.Settings`, only by requests that carry a key.

Table Storage when ``AzureWebJobsStorage`` names an account (a connection string, or
``__accountName``/``__tableServiceUri`` for identity-based access), else this instance's memory.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.errors import ConfigurationError
from shared.settings import read_int
from shared.storage_account import (
    WEBJOBS_STORAGE,
    WEBJOBS_STORAGE_ACCOUNT,
    WEBJOBS_STORAGE_TABLE_URI,
    storage_connection_string,
    storage_endpoint,
)

IDEMPOTENCY_MINUTES = "IdempotencyMinutes"
IDEMPOTENCY_TABLE = "IdempotencyTable"
IDEMPOTENCY_MEMORY_KEYS = "IdempotencyMemoryKeys"
DEFAULT_IDEMPOTENCY_MINUTES = 60
MAX_IDEMPOTENCY_MINUTES = 7 * 24 * 60
DEFAULT_IDEMPOTENCY_TABLE = "IdempotencyKeys"
DEFAULT_MEMORY_KEYS = 100_000
MAX_MEMORY_KEYS = 10_000_000
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
IDEMPOTENCY_SETTING_NAMES = (
    IDEMPOTENCY_MINUTES,
    IDEMPOTENCY_TABLE,
    IDEMPOTENCY_MEMORY_KEYS,
    WEBJOBS_STORAGE,
    WEBJOBS_STORAGE_ACCOUNT,
    WEBJOBS_STORAGE_TABLE_URI,
)


@dataclass(frozen=True)
class IdempotencySettings:
    """Where keys live: Table Storage when ``AzureWebJobsStorage`` names an account, else memory."""

    minutes: int = DEFAULT_IDEMPOTENCY_MINUTES
    table: str = DEFAULT_IDEMPOTENCY_TABLE
    connection_string: str | None = field(default=None, repr=False)
    table_endpoint: str | None = None  # identity-based access, with DefaultAzureCredential
    memory_keys: int = DEFAULT_MEMORY_KEYS  # the in-memory store's bound

    @property
    def uses_table(self) -> bool:
        return bool(self.connection_string or self.table_endpoint)


def load_idempotency_settings(environ: Mapping[str, str] | None = None) -> IdempotencySettings:
    env = os.environ if environ is None else environ
    return _parse_idempotency_settings(tuple(env.get(name, "") for name in IDEMPOTENCY_SETTING_NAMES))


@functools.lru_cache(maxsize=16)
def _parse_idempotency_settings(values: tuple[str, ...]) -> IdempotencySettings:
    env = dict(zip(IDEMPOTENCY_SETTING_NAMES, values, strict=True))
    table = env[IDEMPOTENCY_TABLE].strip() or DEFAULT_IDEMPOTENCY_TABLE
    if not TABLE_NAME.fullmatch(table):
        raise ConfigurationError(f"{IDEMPOTENCY_TABLE} must be 3 to 63 letters and digits, starting with a letter.")
    minutes = read_int(env, IDEMPOTENCY_MINUTES, DEFAULT_IDEMPOTENCY_MINUTES, 1, MAX_IDEMPOTENCY_MINUTES)
    connection_string = storage_connection_string(env)
    endpoint = storage_endpoint(env, "table")
    memory_keys = read_int(env, IDEMPOTENCY_MEMORY_KEYS, DEFAULT_MEMORY_KEYS, 1, MAX_MEMORY_KEYS)
    return IdempotencySettings(minutes, table, connection_string, endpoint, memory_keys)
