"""`make bench` at its tiny size: it runs end to end and reports every scenario.

No timing is asserted here (shared, noisy machines); `make bench` reports the ratios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import APP_ROOT

EXPECTED_SCENARIOS = {"negotiate", "publish", "actions", "idempotency", "fanout", "cold start"}


def test_tiny_benchmark_runs_and_reports_every_scenario() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny"], cwd=APP_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "machine: " in result.stdout
    results_line = next(line for line in result.stdout.splitlines() if line.startswith("results: "))
    path = results_line.removeprefix("results: ").split(" (")[0]
    document = json.loads(Path(path).read_text())
    assert {row["scenario"] for row in document["rows"]} == EXPECTED_SCENARIOS
    for row in document["rows"]:
        assert row["value"] == row["value"]  # not NaN: every measurement produced a number
        if row["baseline"] is not None:
            assert row["ratio"] is not None and row["ratio"] > 0
    counts = {row["metric"]: row["value"] for row in document["rows"] if row["unit"] == "count"}
    assert counts == {"non-200 answers": 0, "non-202 answers": 0}
