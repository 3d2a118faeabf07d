"""The two help texts a newcomer asks for: `make help` and `python -m bench --help`."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.scenarios import SCENARIOS
from tests.support import APP_ROOT

MAKEFILE = (APP_ROOT / "Makefile").read_text()


def phony_targets() -> list[str]:
    line = next(line for line in MAKEFILE.splitlines() if line.startswith(".PHONY:"))
    return line.removeprefix(".PHONY:").split()


def test_make_help_lists_every_target_with_its_comment() -> None:
    comments = dict(re.findall(r"^## ([a-z][a-z-]*): (.+)$", MAKEFILE, re.MULTILINE))
    targets = phony_targets()
    assert set(targets) == set(comments), "every .PHONY target has one '## target: what it does' comment"
    for target in targets:
        assert re.search(rf"^## {target}: .+\n{target}:", MAKEFILE, re.MULTILINE), f"{target}'s comment is above it"

    result = subprocess.run(["make", "--no-print-directory", "help"], cwd=APP_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  make (\S+) +(.+)$", result.stdout, re.MULTILINE))
    assert listed == comments


def test_bench_help_says_what_each_option_and_scenario_measures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=APP_ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option, meaning in (("--size", "tiny: the smoke run"), ("--only", "comma list of the scenarios")):
        assert re.search(rf"{option} \S+ .*?{meaning}", text), option
    described = text.split("scenarios (each a value of --only):")[1]
    for scenario, following in zip(SCENARIOS, [*list(SCENARIOS)[1:], None], strict=True):
        start = described.index(f"{scenario}: ")
        end = described.index(f" {following}: ", start) if following else len(described)
        assert " against " in described[start:end], f"{scenario}: no baseline named"
