"""The server's garbage-collector pauses during a benchmark, from
``GET /api/v1/runtime`` (or an in-process :class:`server.gcwatch.GcPauses`):
what a phase added to the histogram, and one line to print."""

from __future__ import annotations

from typing import Any


def added(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The pauses ``after`` holds that ``before`` did not (per generation)."""
    out: dict[str, Any] = {}
    for generation in ("0", "1", "2"):
        was, now = before[generation], after[generation]
        out[generation] = {
            "collections": now["collections"] - was["collections"],
            "pauses": {k: now["pauses"][k] - was["pauses"][k] for k in now["pauses"]},
            "longest_ms": now["longest_ms"],  # since start: a phase cannot lower it
            "total_ms": round(now["total_ms"] - was["total_ms"], 1),
            "collected": now["collected"] - was["collected"],
        }
    out["frozen_objects"] = after["frozen_objects"]
    out["frozen_added"] = after["frozen_objects"] - before["frozen_objects"]
    return out


def line(pauses: dict[str, Any]) -> str:
    """``gc: gen0 1,234 (longest 0.4 ms) gen1 ... gen2 3 (longest 12.1 ms) [<=1 ms: ...]``"""
    parts = []
    for generation in ("0", "1", "2"):
        g = pauses[generation]
        parts.append(
            f"gen{generation} {g['collections']:,} (longest {g['longest_ms']:.1f} ms,"
            f" total {g['total_ms']:,.0f} ms, {g['collected']:,} in cycles)"
        )
    worst = max(pauses[g]["longest_ms"] for g in ("0", "1", "2"))
    histogram = {}
    for generation in ("0", "1", "2"):
        for bucket, count in pauses[generation]["pauses"].items():
            histogram[bucket] = histogram.get(bucket, 0) + count
    shown = "  ".join(f"{b}: {c:,}" for b, c in histogram.items() if c)
    frozen = ""
    if "frozen_added" in pauses:
        frozen = f"; {pauses['frozen_added']:+,} frozen (long-lived, out of the scans)"
    return f"gc pauses: worst {worst:.1f} ms; " + "; ".join(parts) + f"  [{shown}]{frozen}"
