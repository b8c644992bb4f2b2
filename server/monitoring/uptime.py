"""Uptime and response times from hourly rollups.

Uptime is the share of checks that did not fail: a slow (degraded) answer is
an answer. Windows are the last 24 hours, 7, 30 and 90 days; the daily series
has one entry per UTC day, the response-time series one per hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

WINDOWS: Mapping[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def _share(checks: int, down: int) -> float | None:
    return None if checks == 0 else round(100.0 * (checks - down) / checks, 4)


def summarize(rows: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """``rows``: hourly rollups, oldest first (see server.store.monitoring.rollups)."""
    windows: dict[str, Any] = {}
    for name, span in WINDOWS.items():
        start = now - span
        picked = [r for r in rows if r["hour"] + timedelta(hours=1) > start]
        checks = sum(r["checks"] for r in picked)
        down = sum(r["down"] for r in picked)
        windows[name] = {"uptime": _share(checks, down), "checks": checks, "down": down}
    days: dict[str, list[int]] = {}
    for r in rows:
        day = r["hour"].date().isoformat()
        acc = days.setdefault(day, [0, 0])
        acc[0] += r["checks"]
        acc[1] += r["down"]
    daily = [
        {"day": day, "uptime": _share(checks, down), "checks": checks, "down": down}
        for day, (checks, down) in days.items()
    ]
    hourly = [
        {
            "hour": r["hour"],
            "avg_ms": None
            if not r["latency_count"]
            else round(r["latency_sum"] / r["latency_count"], 1),
            "max_ms": r["latency_max"],
            "checks": r["checks"],
        }
        for r in rows
        if r["hour"] + timedelta(hours=24 * 7) > now
    ]
    return {"windows": windows, "daily": daily, "response_times": hourly}
