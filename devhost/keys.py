"""Function keys, checked as a deployed app checks them.

The key comes in the ``x-functions-key`` header or the ``code`` query parameter (the header
wins). ``function`` level accepts the function key or the master key; ``admin`` only the
master key. A failure is a 401 with an empty body, as on Azure.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    return headers.get("x-functions-key") or query.get("code") or None


def authorized(auth_level: str, presented: str | None, function_key: str | None, master_key: str | None) -> bool:
    if auth_level == "anonymous":
        return True
    accepted = [master_key] if auth_level == "admin" else [function_key, master_key]
    return presented is not None and any(
        key is not None and hmac.compare_digest(presented.encode(), key.encode()) for key in accepted
    )
