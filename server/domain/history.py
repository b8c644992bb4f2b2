"""What the public page shows of the past: per-service daily bars and incident history.

A service's bar has one cell per UTC day. The cell's status is the worst one the
service held at any moment of that day; its uptime is the share of the day the
service was up, weighing a partial outage at 30 % and a major outage at 100 %
(the way Statuspage counts it). Days before the service existed have no data.

The input is the service's current status and its status *changes*, newest
last, each with the status it left (``previous``): walking them backwards from
now gives the status at every moment of the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .model import Incident, Maintenance, Service, ServiceStatus

# How much of a day in each status counts as down time.
DOWN_WEIGHT: Mapping[ServiceStatus, float] = {
    ServiceStatus.OPERATIONAL: 0.0,
    ServiceStatus.DEGRADED_PERFORMANCE: 0.0,
    ServiceStatus.UNDER_MAINTENANCE: 0.0,
    ServiceStatus.PARTIAL_OUTAGE: 0.3,
    ServiceStatus.MAJOR_OUTAGE: 1.0,
}

# Which status a day shows when it held several: the first of these it held.
# Maintenance outranks operational only (planned work is not an outage).
DAY_ORDER: tuple[ServiceStatus, ...] = (
    ServiceStatus.MAJOR_OUTAGE,
    ServiceStatus.PARTIAL_OUTAGE,
    ServiceStatus.DEGRADED_PERFORMANCE,
    ServiceStatus.UNDER_MAINTENANCE,
    ServiceStatus.OPERATIONAL,
)


@dataclass(frozen=True, slots=True)
class Change:
    """A service's status moved from ``previous`` to ``status`` at ``at``."""

    at: datetime
    service_id: str
    status: ServiceStatus
    previous: ServiceStatus


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    status: ServiceStatus | None  # None: the service did not exist yet
    uptime: float | None  # 0..1; None with no data
    down_seconds: float  # weighted, as for uptime


@dataclass(frozen=True, slots=True)
class Bar:
    service_id: str
    days: tuple[Day, ...]  # oldest first, today last

    @property
    def uptime(self) -> float | None:
        """Uptime over the days with data."""
        known = [d for d in self.days if d.uptime is not None]
        if not known:
            return None
        return sum(d.uptime for d in known if d.uptime is not None) / len(known)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def service_bar(service: Service, changes: Sequence[Change], now: datetime, days: int = 90) -> Bar:
    """One service's bar of ``days`` cells ending today (UTC).

    ``changes`` are this service's, in any order; earlier ones than the window
    are harmless.
    """
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    window_start = _day_start(first)
    # Intervals (start, end, status) covering [max(created, window), now].
    intervals: list[tuple[datetime, datetime, ServiceStatus]] = []
    end = now
    status = service.status
    for change in reversed(sorted(changes, key=lambda c: c.at)):
        if change.at >= end:
            status = change.previous
            continue
        intervals.append((max(change.at, window_start), end, status))
        end = change.at
        status = change.previous
        if end <= window_start:
            break
    if end > window_start:
        intervals.append((window_start, end, status))
    born = max(service.created_at, window_start)
    cells: list[Day] = []
    for n in range(days):
        d = first + timedelta(days=n)
        start = max(_day_start(d), born)
        stop = min(_day_start(d + timedelta(days=1)), now)
        if stop <= start:
            cells.append(Day(d, None, None, 0.0))
            continue
        held: set[ServiceStatus] = set()
        down = 0.0
        for a, b, s in intervals:
            lo, hi = max(a, start), min(b, stop)
            if hi > lo:
                held.add(s)
                down += (hi - lo).total_seconds() * DOWN_WEIGHT[s]
        span = (stop - start).total_seconds()
        shown = next((s for s in DAY_ORDER if s in held), service.status)
        cells.append(Day(d, shown, max(0.0, 1.0 - down / span), down))
    return Bar(service.id, tuple(cells))


def bars(
    services: Iterable[Service], changes: Iterable[Change], now: datetime, days: int = 90
) -> dict[str, Bar]:
    by_service: dict[str, list[Change]] = {}
    for change in changes:
        by_service.setdefault(change.service_id, []).append(change)
    return {s.id: service_bar(s, by_service.get(s.id, ()), now, days) for s in services}


def with_checks(bar: Bar, uptimes: Mapping[date, float]) -> Bar:
    """The bar with each day's uptime measured by the service's monitors where
    they checked it (their worst, when it has several); the status history
    keeps the colours, and the days nobody checked keep its uptime."""
    if not uptimes:
        return bar
    days = tuple(
        Day(d.day, d.status, uptimes[d.day], d.down_seconds)
        if d.day in uptimes and d.status is not None
        else d
        for d in bar.days
    )
    return Bar(bar.service_id, days)


# ---------------------------------------------------------------------------
# what happened on each day of the bars


def days_touched(
    incidents: Iterable[Incident],
    maintenances: Iterable[Maintenance],
    now: datetime,
    days: int = 90,
) -> dict[str, dict[date, list[str]]]:
    """For each service, the UTC days of the last ``days`` on which an incident
    that names it was open or a maintenance that covers it ran: the ids of
    those, in the order they began. An incident is open from its start to its
    resolution (or now); a maintenance runs from its actual start to its end
    (or now): one scheduled, or cancelled before it began, touches no day."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    spans: list[tuple[datetime, str, datetime, Iterable[str]]] = []
    for incident in incidents:
        end = now if incident.active else ended_at(incident)
        spans.append((incident.started_at, incident.id, end, incident.services))
    for m in maintenances:
        if m.started_at is None:
            continue
        end = now if m.running else ended_at(m)
        spans.append((m.started_at, m.id, end, m.service_ids))
    out: dict[str, dict[date, list[str]]] = {}
    for start, item, end, services in sorted(spans, key=lambda span: (span[0], span[1])):
        day = max(start.astimezone(UTC).date(), first)
        last = min(max(end, start).astimezone(UTC).date(), today)
        while day <= last:
            for service in services:
                out.setdefault(service, {}).setdefault(day, []).append(item)
            day += timedelta(days=1)
    return out


# ---------------------------------------------------------------------------
# incident history


def ended_at(item: Incident | Maintenance) -> datetime:
    if isinstance(item, Incident):
        return item.resolved_at or item.updated_at
    return item.completed_at or item.updated_at


def past_incidents(incidents: Iterable[Incident]) -> list[Incident]:
    """Resolved incidents (postmortems included), most recently started first."""
    return sorted((i for i in incidents if not i.active), key=lambda i: i.started_at, reverse=True)


def recent_days(
    incidents: Iterable[Incident], now: datetime, days: int = 14
) -> list[tuple[date, list[Incident]]]:
    """The last ``days`` UTC days, today first, each with the incidents started
    that day and no longer active."""
    today = now.astimezone(UTC).date()
    by_day: dict[date, list[Incident]] = {}
    for incident in past_incidents(incidents):
        by_day.setdefault(incident.started_at.astimezone(UTC).date(), []).append(incident)
    return [(d, by_day.get(d, [])) for d in (today - timedelta(days=n) for n in range(days))]


def page_of(items: Sequence[Incident], page: int, size: int) -> tuple[list[Incident], bool]:
    """Page ``page`` (from 1) of ``items``, and whether another follows."""
    start = (page - 1) * size
    return list(items[start : start + size]), len(items) > start + size
