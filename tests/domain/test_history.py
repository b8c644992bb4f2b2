"""Daily bars and incident history: what the public page shows of the past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.domain.history import Change, days_touched, page_of, recent_days, service_bar
from server.domain.model import (
    Impact,
    Incident,
    IncidentStatus,
    Maintenance,
    MaintenanceStatus,
    Service,
    ServiceStatus,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OK = ServiceStatus.OPERATIONAL
DEGRADED = ServiceStatus.DEGRADED_PERFORMANCE
PARTIAL = ServiceStatus.PARTIAL_OUTAGE
MAJOR = ServiceStatus.MAJOR_OUTAGE
MAINT = ServiceStatus.UNDER_MAINTENANCE


def service(status: ServiceStatus = OK, created: datetime = NOW - timedelta(days=400)) -> Service:
    return Service("s1", "API", None, None, 0, status, True, False, created, created)


def incident(ref: str, started: datetime, *, active: bool) -> Incident:
    status = IncidentStatus.INVESTIGATING if active else IncidentStatus.RESOLVED
    return Incident(ref, ref, status, Impact.MINOR, False, {}, (), started, started, started)


def change(at: datetime, old: ServiceStatus, new: ServiceStatus) -> Change:
    return Change(at, "s1", new, old)


def test_an_untroubled_service_is_up_every_day() -> None:
    bar = service_bar(service(), [], NOW)
    assert len(bar.days) == 90
    assert bar.days[-1].day == NOW.date()
    assert bar.days[0].day == NOW.date() - timedelta(days=89)
    assert {d.status for d in bar.days} == {OK}
    assert bar.uptime == 1.0


def test_a_day_shows_the_worst_status_it_held_and_counts_the_time() -> None:
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    changes = [
        change(start, OK, DEGRADED),
        change(start + timedelta(hours=1), DEGRADED, MAJOR),
        change(start + timedelta(hours=7), MAJOR, OK),  # six hours down
    ]
    bar = service_bar(service(), changes, NOW)
    by_day = {d.day.isoformat(): d for d in bar.days}
    day = by_day["2026-11-20"]
    assert day.status is MAJOR
    assert day.down_seconds == 6 * 3600
    assert day.uptime == 0.75
    assert by_day["2026-11-19"].status is OK and by_day["2026-11-21"].status is OK


def test_a_partial_outage_counts_for_thirty_percent() -> None:
    start = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    changes = [change(start, OK, PARTIAL), change(start + timedelta(hours=10), PARTIAL, OK)]
    day = service_bar(service(), changes, NOW).days[-2]
    assert day.status is PARTIAL
    assert abs(day.uptime - (1 - 0.3 * 10 / 24)) < 1e-9  # type: ignore[operator]


def test_an_outage_still_on_spans_the_days_since_it_began() -> None:
    began = NOW - timedelta(days=2, hours=1)
    bar = service_bar(service(MAJOR), [change(began, OK, MAJOR)], NOW)
    assert [d.status for d in bar.days[-3:]] == [MAJOR, MAJOR, MAJOR]
    assert bar.days[-2].uptime == 0.0
    assert bar.days[-4].status is OK


def test_maintenance_outranks_only_operational() -> None:
    start = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    changes = [
        change(start, OK, MAINT),
        change(start + timedelta(hours=1), MAINT, DEGRADED),
        change(start + timedelta(hours=2), DEGRADED, OK),
        change(start + timedelta(days=-1), OK, MAINT),
        change(start + timedelta(days=-1, hours=1), MAINT, OK),
    ]
    bar = service_bar(service(), changes, NOW)
    assert bar.days[-2].status is DEGRADED
    assert bar.days[-3].status is MAINT
    assert bar.days[-3].uptime == 1.0


def test_days_before_the_service_existed_have_no_data() -> None:
    created = NOW - timedelta(days=3, hours=6)
    bar = service_bar(service(created=created), [], NOW)
    assert [d.status for d in bar.days[-5:]] == [None, OK, OK, OK, OK]
    assert bar.days[-5].uptime is None
    assert bar.uptime == 1.0  # over the days with data


def test_changes_older_than_the_window_set_its_first_status() -> None:
    long_ago = NOW - timedelta(days=200)
    bar = service_bar(
        service(OK),
        [change(long_ago, OK, MAJOR), change(NOW - timedelta(days=100), MAJOR, OK)],
        NOW,
    )
    assert {d.status for d in bar.days} == {OK}


def test_recent_days_list_resolved_incidents_on_the_day_they_began() -> None:
    resolved = incident("i1", started=NOW - timedelta(days=1), active=False)
    ongoing = incident("i2", started=NOW - timedelta(hours=1), active=True)
    old = incident("i3", started=NOW - timedelta(days=30), active=False)
    days = recent_days([resolved, ongoing, old], NOW, 14)
    assert len(days) == 14
    assert days[0] == (NOW.date(), [])
    assert days[1] == (NOW.date() - timedelta(days=1), [resolved])
    assert all(items == [] for _, items in days[2:])


def test_pages_of_history() -> None:
    items = list(range(45))
    assert page_of(items, 1, 20) == (list(range(20)), True)  # type: ignore[arg-type]
    assert page_of(items, 3, 20) == (list(range(40, 45)), False)  # type: ignore[arg-type]
    assert page_of(items, 4, 20) == ([], False)  # type: ignore[arg-type]


def test_measured_uptime_replaces_the_history_s_where_there_are_checks() -> None:
    from server.domain.history import with_checks

    created = NOW - timedelta(days=2, hours=6)
    bar = service_bar(service(created=created), [], NOW)
    today, yesterday, before = (
        NOW.date(),
        NOW.date() - timedelta(days=1),
        NOW.date() - timedelta(days=5),
    )
    measured = with_checks(bar, {today: 0.75, before: 0.5})
    assert measured.days[-1].uptime == 0.75 and measured.days[-1].status is OK
    assert measured.days[-2].uptime == 1.0  # not checked that day: the history's
    assert next(d for d in measured.days if d.day == before).uptime is None  # no service yet
    assert with_checks(bar, {}) is bar
    assert yesterday == measured.days[-2].day


def test_days_touched_by_incidents_and_maintenances() -> None:
    def opened(ref: str, started: datetime, resolved: datetime | None) -> Incident:
        status = IncidentStatus.RESOLVED if resolved else IncidentStatus.IDENTIFIED
        return Incident(
            ref, ref, status, Impact.MAJOR, False, {"s1": MAJOR}, (), started, started, started,
            resolved_at=resolved,
        )  # fmt: skip

    def work(
        ref: str, status: MaintenanceStatus, started: datetime | None, ended: datetime | None
    ) -> Maintenance:
        window = datetime(2026, 11, 30, tzinfo=UTC)
        return Maintenance(
            ref, ref, status, started or window, window, ("s1", "s2"), False, False, (),
            NOW, NOW, started_at=started, completed_at=ended,
        )  # fmt: skip

    day = lambda d: datetime(2026, 11, d, 9, 30, tzinfo=UTC)  # noqa: E731
    incidents = [
        opened("over", day(19), day(20)),  # two days
        opened("open", day(21), None),  # until now
        opened("ancient", NOW - timedelta(days=200), NOW - timedelta(days=150)),
    ]
    maintenances = [
        work("done", MaintenanceStatus.COMPLETED, day(20), day(20)),
        work("running", MaintenanceStatus.IN_PROGRESS, day(22), None),
        work("planned", MaintenanceStatus.SCHEDULED, None, None),
        work("called-off", MaintenanceStatus.CANCELLED, None, None),
    ]
    touched = days_touched(incidents, maintenances, NOW)
    s1 = {d.isoformat(): ids for d, ids in touched["s1"].items()}
    assert s1 == {
        "2026-11-19": ["over"],
        "2026-11-20": ["over", "done"],
        "2026-11-21": ["open"],
        "2026-11-22": ["open", "running"],
    }
    assert {d.isoformat(): ids for d, ids in touched["s2"].items()} == {
        "2026-11-20": ["done"],
        "2026-11-22": ["running"],
    }
