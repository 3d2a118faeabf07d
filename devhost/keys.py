"""Function keys, checked as a deployed app checks them.

The key comes in the ``x-functions-key`` header or the ``code`` query parameter, whose name
is matched in any case as on Azure (the header wins). ``function`` level accepts the function
key or the master key; ``admin`` only the master key. A failure is a 401 with an empty body, as
on Azure; the dev host says why in its log (:func:`refusal_reason`), which Azure does not.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping


class KeyCheck(enum.Enum):
    ACCEPTED = "accepted"
    MISSING = "missing"  # no key in the header or the query
    WRONG = "wrong"  # a key that is not one this level accepts


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The header's key, else the ``code`` query parameter, whose name Azure matches in any case."""
    code = next((value for name, value in query.items() if name.lower() == "code" and value), None)
    return headers.get("x-functions-key") or code or None


def check_key(auth_level: str, presented: str | None, function_key: str | None, master_key: str | None) -> KeyCheck:
    if auth_level == "anonymous":
        return KeyCheck.ACCEPTED
    if presented is None:
        return KeyCheck.MISSING
    accepted = [master_key] if auth_level == "admin" else [function_key, master_key]
    # Header bytes that are not UTF-8 arrive as surrogate escapes; they match no key (401, not 500).
    offered = presented.encode("utf-8", "surrogateescape")
    if any(key is not None and hmac.compare_digest(offered, key.encode()) for key in accepted):
        return KeyCheck.ACCEPTED
    return KeyCheck.WRONG


def refusal_reason(check: KeyCheck, auth_level: str, settings_file: str, has_keys: bool) -> str:
    """Why a request got its 401, and where the right key is: never a key's value."""
    setting = "Host.MasterKey" if auth_level == "admin" else "Host.FunctionKey (or Host.MasterKey)"
    if not has_keys:
        where = f"no key is set: add {setting.split(' ')[0]} to {settings_file}, or start with --no-auth"
    else:
        where = f"the right key is {setting} in {settings_file}"
    if check is KeyCheck.MISSING:
        return f"no function key was sent (x-functions-key header or ?code=); {where}"
    return f"the function key sent is wrong for authLevel {auth_level}; {where}"
