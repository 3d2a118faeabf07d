"""Function keys, checked as a deployed app checks them.

The key comes in the ``x-functions-key`` header or the ``code`` query parameter, whose name
is matched in any case as on Azure (the header wins). ``function`` level accepts the function
key or the master key; ``admin`` only the master key. A failure is a 401 with an empty body, as on Azure.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The header's key, else the ``code`` query parameter, whose name Azure matches in any case."""
    code = next((value for name, value in query.items() if name.lower() == "code" and value), None)
    return headers.get("x-functions-key") or code or None


def authorized(auth_level: str, presented: str | None, function_key: str | None, master_key: str | None) -> bool:
    if auth_level == "anonymous":
        return True
    accepted = [master_key] if auth_level == "admin" else [function_key, master_key]
    if presented is None:
        return False
    # Header bytes that are not UTF-8 arrive as surrogate escapes; they match no key (401, not 500).
    offered = presented.encode("utf-8", "surrogateescape")
    return any(key is not None and hmac.compare_digest(offered, key.encode()) for key in accepted)
