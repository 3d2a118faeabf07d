"""Name rules of the Web PubSub REST API (api-version 2024-12-01), as the service applies them."""

from __future__ import annotations

import json
import math
import re
from typing import Any

HUB_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}")
MAX_GROUP_LENGTH = 1024
MAX_TTL_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024
CONTENT_TYPES = ("application/json", "text/plain", "application/octet-stream")
API_VERSIONS = ("2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01")


def is_whole_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``¹`` (which ``int`` refuses) and ``٣``."""
    return text.isascii() and text.isdigit()


def valid_hub(hub: str) -> bool:
    return HUB_PATTERN.fullmatch(hub) is not None


def encodable(text: str) -> bool:
    """No lone surrogates: the text can be sent as UTF-8 (JSON escapes such as ``\\ud800`` make them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_group(group: str) -> bool:
    """1 to 1024 characters, not only white space, no line breaks (the service's ``^(?!\\s+$).+$``),
    and encodable as UTF-8."""
    return (
        0 < len(group) <= MAX_GROUP_LENGTH
        and not group.isspace()
        and "\n" not in group
        and "\r" not in group
        and encodable(group)
    )


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def parse_json(text: str) -> Any:
    """Strict JSON: ``NaN``, ``Infinity`` and numbers that overflow a double are refused, so
    whatever is forwarded re-encodes as valid JSON. ``ValueError`` when it is not."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None
