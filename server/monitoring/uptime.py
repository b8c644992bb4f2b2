"""Uptime from the verdicts; checks, each region's figures and response times
from the hourly rollups.

A monitor's uptime over a window is the share of the time its verdict was
known (``up``, ``degraded`` or ``down``) that it was not ``down``: a slow
(degraded) answer is an answer, and time before the first verdict, while
paused or undecided from the start, counts neither way. So a region whose
failures the quorum ignored lowers nothing; its own figures (the share of its
checks that did not fail) are shown beside the verdict's, per region.

Windows are the last 24 hours, 7, 30 and 90 days; the daily series has one
entry per UTC day, the response-time series one per hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

WINDOWS: Mapping[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
KNOWN = frozenset({"up", "degraded", "down"})

Span = tuple[datetime, datetime, str]  # [start, end): the verdict held


def verdict_spans(
    changes: Sequence[Mapping[str, Any]], verdict: str, since: datetime | None, now: datetime
) -> list[Span]:
    """When each verdict held, up to ``now``: ``changes`` (``{at, verdict}``,
    oldest first, the first maybe before the window), ended by the monitor's
    verdict now, held since ``since``, if they do not say it already."""
    points = [(c["at"], c["verdict"]) for c in changes]
    if not points or points[-1][1] != verdict:
        start = since or now
        if points:
            start = max(start, points[-1][0])
        points.append((start, verdict))
    ends = [at for at, _ in points[1:]] + [now]
    return [(at, min(end, now), v) for (at, v), end in zip(points, ends, strict=True) if end > at]


def measure(spans: Sequence[Span], start: datetime, end: datetime) -> tuple[float, float]:
    """Seconds of ``[start, end)`` with a known verdict, and of those, down."""
    known = down = 0.0
    for a, b, verdict in spans:
        seconds = (min(b, end) - max(a, start)).total_seconds()
        if seconds > 0 and verdict in KNOWN:
            known += seconds
            if verdict == "down":
                down += seconds
    return known, down


def share(known: float, down: float) -> float | None:
    """Uptime in percent, or None with nothing known."""
    return None if known <= 0 else round(100.0 * (known - down) / known, 4)


def _checks_share(checks: int, down: int) -> float | None:
    return None if checks == 0 else round(100.0 * (checks - down) / checks, 4)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def daily_shares(spans: Sequence[Span], first: date, now: datetime) -> dict[date, float]:
    """Each UTC day from ``first`` to today with a known verdict: its uptime (0..1)."""
    out = {}
    day = first
    while day <= now.astimezone(UTC).date():
        known, down = measure(spans, _day_start(day), _day_start(day + timedelta(days=1)))
        if known > 0:
            out[day] = (known - down) / known
        day += timedelta(days=1)
    return out


def summarize(
    spans: Sequence[Span],
    rows: Sequence[Mapping[str, Any]],
    region_rows: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """``spans``: :func:`verdict_spans`; ``rows``: hourly rollups of every region
    together, ``region_rows``: by region (server.store.monitoring), oldest first."""
    windows: dict[str, Any] = {}
    for name, span in WINDOWS.items():
        start = now - span
        known, down_seconds = measure(spans, start, now)
        picked = [r for r in rows if r["hour"] + timedelta(hours=1) > start]
        regions: dict[str, list[int]] = {}
        for r in region_rows:
            if r["hour"] + timedelta(hours=1) > start:
                acc = regions.setdefault(r["region"], [0, 0])
                acc[0] += r["checks"]
                acc[1] += r["down"]
        windows[name] = {
            "uptime": share(known, down_seconds),
            "measured_seconds": round(known, 3),
            "down_seconds": round(down_seconds, 3),
            "checks": sum(r["checks"] for r in picked),
            "down": sum(r["down"] for r in picked),
            "regions": {
                region: {"uptime": _checks_share(c, d), "checks": c, "down": d}
                for region, (c, d) in sorted(regions.items())
            },
        }
    days: dict[date, list[int]] = {}
    for r in rows:
        acc = days.setdefault(r["hour"].astimezone(UTC).date(), [0, 0])
        acc[0] += r["checks"]
        acc[1] += r["down"]
    today = now.astimezone(UTC).date()
    daily = []
    for n in range(89, -1, -1):
        day = today - timedelta(days=n)
        known, down_seconds = measure(
            spans, max(_day_start(day), now - WINDOWS["90d"]), _day_start(day + timedelta(1))
        )
        checks, failed = days.get(day, (0, 0))
        if known > 0 or checks:
            daily.append(
                {
                    "day": day.isoformat(),
                    "uptime": share(known, down_seconds),
                    "measured_seconds": round(known, 3),
                    "down_seconds": round(down_seconds, 3),
                    "checks": checks,
                    "down": failed,
                }
            )
    hourly = [hour_point(r) for r in rows if r["hour"] + timedelta(hours=24 * 7) > now]
    return {"windows": windows, "daily": daily, "response_times": hourly}


def hour_point(row: Mapping[str, Any]) -> dict[str, Any]:
    """An hourly rollup as a point of response times."""
    count = row["latency_count"]
    return {
        "hour": row["hour"],
        "avg_ms": round(row["latency_sum"] / count, 1) if count else None,
        "max_ms": row["latency_max"],
        "checks": row["checks"],
    }


#: A response-time chart's ranges, and the step its points are averaged over:
#: about a hundred and fifty points a region, whatever the range.
CHART_STEPS: Mapping[str, timedelta] = {
    "24h": timedelta(hours=1),
    "7d": timedelta(hours=1),
    "30d": timedelta(hours=4),
    "90d": timedelta(hours=12),
}


def chart_start(now: datetime, span: timedelta, step: timedelta) -> datetime:
    """Where a chart of ``span`` up to ``now`` begins: on a step's boundary
    (counted from the epoch, so that the same hour falls in the same step)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (now - span - epoch) // step * step


def response_series(
    region_rows: Sequence[Mapping[str, Any]], start: datetime, step: timedelta
) -> list[dict[str, Any]]:
    """Each region's response times from its hourly rollups (``region, hour,
    checks, down, latency_sum, latency_count, latency_max``) since ``start``,
    one point per ``step`` that had checks: the mean of its answers' times
    (None when none had one), the slowest, its checks and failures."""
    steps: dict[str, dict[datetime, list[Any]]] = {}
    for r in region_rows:
        if r["hour"] < start:
            continue
        at = start + (r["hour"] - start) // step * step
        acc = steps.setdefault(r["region"], {}).setdefault(at, [0, 0, 0.0, 0, None])
        acc[0] += r["checks"]
        acc[1] += r["down"]
        acc[2] += r["latency_sum"] or 0.0
        acc[3] += r["latency_count"] or 0
        if r["latency_max"] is not None:
            acc[4] = r["latency_max"] if acc[4] is None else max(acc[4], r["latency_max"])
    return [
        {
            "region": region,
            "points": [
                {
                    "at": at,
                    "avg_ms": round(total / count, 1) if count else None,
                    "max_ms": None if slowest is None else round(slowest, 1),
                    "checks": checks,
                    "down": down,
                }
                for at, (checks, down, total, count, slowest) in sorted(points.items())
            ],
        }
        for region, points in sorted(steps.items())
    ]
