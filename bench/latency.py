"""Summaries of a load run, the same for every load generator."""

from __future__ import annotations

from typing import Any


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the values fall (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarize(latencies: list[float], elapsed: float, statuses: dict[Any, int]) -> dict[str, Any]:
    """Requests/s and p50/p99 latency (ms) of a closed-loop run."""
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": {str(status): count for status, count in statuses.items()},
    }
