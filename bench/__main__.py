"""``python -m bench [--size tiny|full] [--only negotiate,publish,actions,idempotency,fanout,coldstart]``.

Prints a table of every measurement next to its same-run baseline and target, and writes the
results as JSON under ``bench/results/`` (git-ignored). Servers and load generators run in
separate processes, pinned to separate cores when the machine has two, all on loopback, and
every run stops by itself within bounded time and request counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.scenarios import SCENARIOS, SIZES, Row
from bench.stack import CLIENT_CORES, SERVER_CORES, pin

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def format_table(rows: list[Row]) -> str:
    header = ("scenario", "metric", "value", "baseline", "ratio", "target", "met")
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        met = "" if row.ok is None else ("yes" if row.ok else "NO")
        baseline = f"{row.baseline:,} ({row.baseline_name})" if row.baseline is not None else ""
        lines.append((row.scenario, row.metric, f"{row.value:,} {row.unit}", baseline, ratio, row.target, met))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    rendered = [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma list of " + ", ".join(SCENARIOS))
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    driver = pin(os.getpid(), CLIENT_CORES)
    if driver == "unpinned":
        print(f"machine: {machine()['cpus']} cores; processes are not pinned", flush=True)
    else:
        print(
            f"machine: {machine()['cpus']} cores; servers on core(s) {sorted(SERVER_CORES)}, load generators and "
            f"drivers on core(s) {sorted(CLIENT_CORES)}; in publish the dev host shares the load generator's "
            "core and the emulator keeps its own",
            flush=True,
        )
    started = time.time()
    rows: list[Row] = []
    for name in chosen:
        for scenario in SCENARIOS[name]:
            print(f"running {scenario.__name__} ({size.name}) ...", flush=True)
            rows.extend(scenario(size))
    print(format_table(rows))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench-{size.name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {
        "size": size.name,
        "machine": machine(),
        "seconds": round(time.time() - started, 1),
        "rows": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2))
    print(f"results: {path} ({document['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
