"""Helpers shared by the reliability tests: the JSON error shape every refusal must have, and
how hypothesis runs under `make test` and `make soak`."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings

from tests.reliability.conftest import Sizes
from tests.reliability.rawhttp import RawResponse


def is_error_shape(response: RawResponse) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and set(body["error"]) == {"code", "message"}
        and all(isinstance(v, str) and v for v in body["error"].values())
    )


def fuzz_settings(sizes: Sizes, examples: int) -> Any:
    """`make test` replays the same examples every run (derandomized); `make soak` explores anew."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not sizes.soak,
    )
