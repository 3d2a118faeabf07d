"""`make bench` at its tiny size: it runs end to end and reports every scenario.

No timing is asserted here (shared, noisy machines); `make bench` reports the ratios.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import APP_ROOT

EXPECTED_SCENARIOS = {"negotiate", "publish", "actions", "idempotency", "events", "fanout", "cold start"}
# About 40 s alone; the bound only stops a hung run, and it ends before pytest's own timeout (set
# above it for this test) so that the failure shows the benchmark's output, not a stack dump.
BENCH_SECONDS = 240


@pytest.mark.timeout(BENCH_SECONDS + 60)
def test_tiny_benchmark_runs_and_reports_every_scenario() -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--size", "tiny"],
        cwd=APP_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a hung run is stopped with its servers
    )
    try:
        stdout, stderr = bench.communicate(timeout=BENCH_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        stdout, stderr = bench.communicate()
        pytest.fail(
            f"`python -m bench --size tiny` ran longer than {BENCH_SECONDS} s; its output so far:\n"
            f"{stdout[-2000:]}\n{stderr[-2000:]}"
        )
    finally:
        if bench.poll() is None:  # interrupted (Ctrl-C, pytest's own timeout): stop it and its servers too
            os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 0, stderr[-2000:]
    assert "machine: " in stdout
    results_line = next(line for line in stdout.splitlines() if line.startswith("results: "))
    path = results_line.removeprefix("results: ").split(" (")[0]
    document = json.loads(Path(path).read_text())
    assert {row["scenario"] for row in document["rows"]} == EXPECTED_SCENARIOS
    for row in document["rows"]:
        assert row["value"] == row["value"]  # not NaN: every measurement produced a number
        if row["baseline"] is not None:
            assert row["ratio"] is not None and row["ratio"] > 0
    counts = {row["metric"]: row["value"] for row in document["rows"] if row["unit"] == "count"}
    assert counts == {"non-200 answers": 0, "non-202 answers": 0}
