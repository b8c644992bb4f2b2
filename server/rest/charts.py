"""The public page's response-time charts: for each service that shows them
(``show_response_times``), its monitors' average response time in each of the
last 24 hours, from the hourly rollups of their checks.

Only figures reach the public: no monitor's name, target or region. Heartbeat
monitors are left out (their ``ping`` is what a job says of itself, not an
answer's time). The chart is an SVG drawn from :func:`chart_view`, by the
template and, when a service starts showing one, by ``web/static/status.js``
from ``/status/{org}/response-times.json``: both only place what the view says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..domain.model import OrgState
from ..domain.monitors import MonitorKind
from ..store.monitoring import hourly_latencies
from .common import parts

CHART_HOURS = 24
WIDTH = 240  # the SVG's own units, stretched to the width of the page
HEIGHT = 60
TOP = 4  # room above the highest point, for its stroke


@dataclass(frozen=True, slots=True)
class Hour:
    """One hour of a service's checks that measured a time."""

    hour: datetime
    total_ms: float
    count: int
    max_ms: float | None

    @property
    def average(self) -> float:
        return self.total_ms / self.count


def first_hour(now: datetime) -> datetime:
    """The start of the oldest hour a chart shows (the current hour is the last)."""
    now = now.astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=CHART_HOURS - 1)


def charted_monitors(state: OrgState) -> dict[str, str]:
    """Monitor id -> service id, for the services that show response times."""
    showing = {s.id for s in state.services.values() if s.show_response_times}
    return {
        m.id: m.service_id
        for m in state.monitors.values()
        if m.service_id in showing and m.kind is not MonitorKind.HEARTBEAT
    }


def by_service(
    rows: Iterable[Mapping[str, Any]], service_of: Mapping[str, str]
) -> dict[str, list[Hour]]:
    """Rollup rows (``hourly_latencies``) as each service's hours, its monitors'
    times pooled, oldest first."""
    pooled: dict[str, dict[datetime, list[Any]]] = {}
    for row in rows:
        service = service_of.get(row["monitor"])
        if service is None or not row["latency_count"]:
            continue
        acc = pooled.setdefault(service, {}).setdefault(row["hour"], [0.0, 0, None])
        acc[0] += row["latency_sum"]
        acc[1] += row["latency_count"]
        if row["latency_max"] is not None:
            acc[2] = row["latency_max"] if acc[2] is None else max(acc[2], row["latency_max"])
    return {
        service: [Hour(h, a[0], a[1], a[2]) for h, a in sorted(hours.items())]
        for service, hours in pooled.items()
    }


async def service_hours(state: OrgState, now: datetime) -> dict[str, list[Hour]]:
    """The last day's hours of every service that shows response times (those
    with no measured hour are missing)."""
    service_of = charted_monitors(state)
    rows = await hourly_latencies(parts().store, list(service_of), first_hour(now))
    return by_service(rows, service_of)


def ms(value: float) -> str:
    return f"{value:,.0f} ms"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value``."""
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10  # not reached: factor 10 is always enough


def _point(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


def chart_view(hours: Sequence[Hour], now: datetime) -> dict[str, Any]:
    """A chart as the template and status.js draw it: the SVG's path (runs of
    measured hours; a lone hour is a dot), its scale and its words."""
    first = first_hour(now)
    slots = {int((h.hour - first).total_seconds() // 3600): h for h in hours}
    shown = {i: h for i, h in slots.items() if 0 <= i < CHART_HOURS}
    view: dict[str, Any] = {"hours": CHART_HOURS, "width": WIDTH, "height": HEIGHT, "top": TOP}
    if not shown:
        return {
            **view,
            "path": None,
            "scale": None,
            "caption": f"Last {CHART_HOURS} hours: nothing measured",
            "summary": None,
        }
    averages = [h.average for h in shown.values()]
    scale = nice_ceiling(max(averages))
    step = WIDTH / (CHART_HOURS - 1)
    parts_: list[str] = []
    for i in range(CHART_HOURS):
        hour = shown.get(i)
        if hour is None:
            continue
        point = _point(i * step, TOP + (HEIGHT - TOP) * (1 - hour.average / scale))
        if i - 1 in shown:
            parts_.append(f"L{point}")
        elif i + 1 in shown:
            parts_.append(f"M{point}")
        else:
            parts_.append(f"M{point}h0.1")  # a lone hour: a dot (round caps)
    overall = sum(h.total_ms for h in shown.values()) / sum(h.count for h in shown.values())
    low, high = min(averages), max(averages)
    spread = f"{ms(low)}" if round(low) == round(high) else f"from {ms(low)} to {ms(high)}"
    return {
        **view,
        "path": "".join(parts_),
        "scale": f"0 to {ms(scale)}",
        "caption": f"Last {CHART_HOURS} hours, {ms(overall)} on average",
        "summary": (
            f"Average response time in each of the last {CHART_HOURS} hours"
            f" ({len(shown)} measured): {spread}; {ms(overall)} on average."
        ),
    }


def chart_views(
    hours: Mapping[str, Sequence[Hour]], state: OrgState, now: datetime
) -> dict[str, Any]:
    """The chart of every service that shows response times, by service id."""
    return {
        s.id: chart_view(hours.get(s.id, ()), now)
        for s in state.services.values()
        if s.show_response_times
    }
