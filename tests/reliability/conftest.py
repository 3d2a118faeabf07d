"""Reliability suite: fast sizes under `make test`, full sizes with `make soak` (--soak).

Each test records the figures it measured; they are printed at the end of the run and, under
`--soak`, written to tests/artifacts/reliability.json for the README.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import APP_ROOT

FIGURES: dict[str, Any] = {}


@dataclass(frozen=True)
class Sizes:
    fuzz_examples: int
    ws_fuzz_examples: int
    publishes: int
    publish_concurrency: int
    subscribers: int
    negotiates: int
    slow_consumer_messages: int
    fault_publishes: int
    large_publishes: int
    soak: bool


FAST = Sizes(
    fuzz_examples=60,
    ws_fuzz_examples=40,
    publishes=600,
    publish_concurrency=32,
    subscribers=10,
    negotiates=200,
    slow_consumer_messages=6_000,
    fault_publishes=40,
    large_publishes=4,
    soak=False,
)
SOAK = Sizes(
    fuzz_examples=1_500,
    ws_fuzz_examples=400,
    publishes=10_000,
    publish_concurrency=64,
    subscribers=100,
    negotiates=1_000,
    slow_consumer_messages=12_000,
    fault_publishes=300,
    large_publishes=20,
    soak=True,
)


@pytest.fixture(scope="session")
def sizes(request: pytest.FixtureRequest) -> Sizes:
    return SOAK if request.config.getoption("--soak") else FAST


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not FIGURES:
        return
    mode = "soak" if config.getoption("--soak") else "fast"
    terminalreporter.section(f"reliability figures ({mode})")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
    if config.getoption("--soak"):
        out = APP_ROOT / "tests" / "artifacts"
        out.mkdir(exist_ok=True)
        (out / "reliability.json").write_text(json.dumps(FIGURES, indent=2, default=str))
