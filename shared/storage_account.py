"""The app's own storage account, ``AzureWebJobsStorage``, read as the Functions host reads it.

One home for the rule both stores use (idempotency keys in Table Storage, client events on a
queue): a connection string (key-based), or, for identity-based access, the account name
(``AzureWebJobsStorage__accountName``) or a service's URI (``AzureWebJobsStorage__tableServiceUri``,
``__queueServiceUri``), the latter winning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.connection_string import normalize_endpoint
from shared.errors import ConfigurationError

WEBJOBS_STORAGE = "AzureWebJobsStorage"
WEBJOBS_STORAGE_ACCOUNT = "AzureWebJobsStorage__accountName"
WEBJOBS_STORAGE_TABLE_URI = "AzureWebJobsStorage__tableServiceUri"
WEBJOBS_STORAGE_QUEUE_URI = "AzureWebJobsStorage__queueServiceUri"
SERVICE_URI_SETTINGS = {"table": WEBJOBS_STORAGE_TABLE_URI, "queue": WEBJOBS_STORAGE_QUEUE_URI}
ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")


def storage_connection_string(env: Mapping[str, str]) -> str | None:
    return env.get(WEBJOBS_STORAGE, "").strip() or None


def storage_endpoint(env: Mapping[str, str], service: str) -> str | None:
    """The ``service`` (``table`` or ``queue``) endpoint for identity-based access: its URI setting,
    else one built from the account name; None when neither is set, and when a connection string
    is set (it wins, so the identity-based settings beside it are not read at all)."""
    if storage_connection_string(env) is not None:
        return None
    setting = SERVICE_URI_SETTINGS[service]
    url = env.get(setting, "").strip()
    account = env.get(WEBJOBS_STORAGE_ACCOUNT, "").strip()
    if not url and account:
        if not ACCOUNT_NAME.fullmatch(account):
            raise ConfigurationError(f"{WEBJOBS_STORAGE_ACCOUNT} must be a storage account name.")
        url = f"https://{account}.{service}.core.windows.net"
    return normalize_endpoint(url, setting=setting) if url else None
