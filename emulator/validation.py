"""Input rules of the Web PubSub REST API (api-version 2024-12-01), as the service applies them:
names, content types and strict JSON.

The app (``shared/validation.py``) holds some of the same rules; the two must not import each
other, so a rule such as :func:`parse_json` is copied, and tests pin both to one corpus."""

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


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lower-cased, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: JSON.parse makes it Infinity
        raise ValueError("number out of range")
    return number


# A double's largest value has 309 digits: shorter integers never overflow, so the float check is
# left to the rare long one rather than run for every integer of every JSON body.
DOUBLE_DIGITS = 309


def _finite_int(text: str) -> int:
    if len(text.lstrip("-")) >= DOUBLE_DIGITS and not math.isfinite(float(text)):  # JSON.parse: Infinity
        raise ValueError("number out of range")
    return int(text)


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 8259 leaves duplicate names to the parser: some keep the first, Python the last, so a
    client and a handler could read two different messages from one text."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a name appears twice in one object")
    return document


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def parse_json(text: str) -> Any:
    """Strict JSON: no ``NaN``/``Infinity``, no number beyond a double's range (``1e999``, an
    integer of 309+ digits), each name once per object; so whatever is forwarded re-encodes as
    valid JSON and reads the same everywhere. ``ValueError`` when it is not (also for nesting
    too deep to parse). The same rule as the app's ``shared.validation.parse_json``."""
    try:
        return json.loads(
            text,
            parse_float=_finite,
            parse_int=_finite_int,
            parse_constant=_no_constants,
            object_pairs_hook=_unique_names,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None
