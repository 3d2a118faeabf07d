"""Strict JSON (RFC 8259 as ``JSON.parse`` reads it), the one parser of every JSON the app takes.

Python's ``json`` is more lenient than the JavaScript clients that receive what the app sends:
it takes ``NaN`` and ``Infinity``, numbers beyond a double's range and repeated names. Each of
those is refused here, so a body is either read the same way by every party or not at all.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import BadRequest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: Web PubSub refuses it, JSON.parse makes it Infinity
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
    proxy and this app could read two different requests from one body."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a name appears twice in one object")
    return document


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: no ``NaN``/``Infinity`` (Python's ``json`` takes them, ``JSON.parse`` does not),
    no number beyond a double's range, each name once per object.

    Raises ``ValueError`` (also for bytes that are not UTF-8 and for nesting too deep to parse).
    """
    try:
        return json.loads(
            text,
            parse_float=_finite,
            parse_int=_finite_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_names,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_json_body(body: bytes) -> Any:
    """A request body that must be strict JSON (:func:`parse_json`) in UTF-8, or :class:`BadRequest`
    saying why: the first byte that is not UTF-8, the line and column of a syntax error, or the
    strict rule that was broken."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"The body is not UTF-8 text (byte {error.start} cannot be decoded).") from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"The body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except ValueError as error:  # a strict rule of ours, raised without a position
        raise BadRequest(
            f"The body is not valid JSON (RFC 8259, strictly: no NaN or Infinity, numbers within a "
            f"double's range, each name once per object): {error}."
        ) from None
