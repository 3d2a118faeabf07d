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
import textwrap
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


# What each scenario measures, and against which baseline of the same run (python -m bench --help).
SCENARIO_HELP = {
    "negotiate": "negotiate's requests/s and p50/p99 latency at concurrency 32 against a no-op function on the"
    " same dev host; signed in (one bearer token, verified then remembered) against ?userId=; the CPU to"
    " mint one client token against a bare jwt.encode of the same claims",
    "publish": "publishes/s of 1 KiB text through /api/publish at concurrency 32 against the async SDK's"
    " send_to_all called directly, p99 latency, and new TCP connections to the emulator per 1,000 publishes",
    "actions": "messages/s in batches of 100 sendToGroup against one publish per message, REST calls per"
    " message, and the CPU of one SDK call against a bare aiohttp POST (the per-item budget for 3x)",
    "idempotency": "publishes/s with a fresh Idempotency-Key on each, keys in memory and in Azurite (Table"
    " Storage), against publish without a key",
    "events": "client events/s (JSON clients' sendEvent with ack) through the events function, queue off,"
    " against a no-op event handler function on the same dev host; and with every event queued in Azurite",
    "fanout": "the highest outbound messages/s (2 KiB) to 100, 1,000 and 5,000 subscribers with p99 delivery"
    " under 1 s and nothing lost, against a websockets.broadcast() server; emulator CPU per delivered message",
    "coldstart": "importing negotiate and publish in a fresh interpreter (median) against importing"
    " azure.functions alone",
}


def argument_parser() -> argparse.ArgumentParser:
    scenarios = "\n".join(
        textwrap.fill(f"{name}: {SCENARIO_HELP[name]}", width=100, initial_indent="  ", subsequent_indent="    ")
        for name in SCENARIOS
    )
    result = argparse.ArgumentParser(
        prog="python -m bench",
        description=textwrap.fill(
            "Measure the app and the emulator against baselines measured in the same run on the same machine;"
            " print the table and write it as JSON under bench/results/. Servers and load generators run in"
            " separate processes, pinned to separate cores, all on loopback; every run is bounded in requests"
            " and time. Figures and targets: docs/benchmarks.md.",
            width=100,
        ),
        epilog="scenarios (each a value of --only):\n" + scenarios,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="full (default): the figures of docs/benchmarks.md, 6,000 requests per load run at concurrency 32,"
        " about 7 minutes; tiny: the smoke run make test includes, 200 requests at concurrency 8, which only"
        " checks that every scenario runs (its figures mean nothing)",
    )
    result.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        metavar="SCENARIOS",
        help="comma list of the scenarios to run (default: all): " + ", ".join(SCENARIOS),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser()
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
