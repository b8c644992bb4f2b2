"""Read-only views: topic snapshots and list filters."""

from __future__ import annotations

from typing import Any

import pytest
from domain_support import Harness, at, stamp

from server.domain import views

INTERNAL_KEYS = {"author", "maintenance_baseline", "impact_override", "auto_start", "auto_complete"}


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


@pytest.fixture
def busy() -> Harness:
    org = Harness()
    org.add_service("b", position=2)
    org.add_service("A", position=2, group="G")
    org.add_service("c", position=1)
    org.open_incident(
        "old", {"b": "major_outage"}, status="resolved", started_at=stamp(at(hours=-5))
    )
    org.open_incident("earlier", {"b": "degraded_performance"}, started_at=stamp(at(hours=-2)))
    org.open_incident("later", {"c": "partial_outage"}, started_at=stamp(at(hours=-1)))
    org.schedule(["A"], start=at(hours=3), until=at(hours=4), name="upcoming-late")
    org.schedule(["A"], start=at(hours=1), until=at(hours=2), name="upcoming-soon")
    org.schedule(["c"], start=at(hours=-1), until=at(hours=1), name="running")
    cancelled = org.schedule(["A"], start=at(hours=5), until=at(hours=6), name="cancelled")
    org.do("maintenance.cancel", {"maintenance": cancelled})
    return org


class TestSnapshots:
    def test_public_snapshot(self, busy: Harness) -> None:
        snap = views.public_snapshot(busy.state)
        assert set(snap) == {
            "org",
            "updated_at",
            "status",
            "groups",
            "services",
            "incidents",
            "maintenances",
        }
        assert snap["org"] == {"slug": "demo", "name": "Demo", "id": "id1"}
        assert snap["updated_at"] == "2026-01-01T12:00:00.000Z"
        assert snap["status"] == busy.state.status.to_dict()
        assert [s["name"] for s in snap["services"]] == ["c", "A", "b"]  # position, then name
        assert [i["name"] for i in snap["incidents"]] == [
            "later",
            "earlier",
        ]  # active, newest first
        assert [m["name"] for m in snap["maintenances"]] == [
            "running",
            "upcoming-soon",
            "upcoming-late",
        ]
        assert [g["name"] for g in snap["groups"]] == ["G"]
        assert not keys_anywhere(snap) & INTERNAL_KEYS

    def test_member_snapshot_has_the_internals(self, busy: Harness) -> None:
        snap = views.member_snapshot(busy.state)
        assert "manual_status" in snap["services"][0]
        assert "impact_override" in snap["incidents"][0]
        assert "author" in snap["incidents"][0]["updates"][0]
        assert {"auto_start", "auto_complete"} <= set(snap["maintenances"][0])
        public = views.public_snapshot(busy.state)
        assert [s["id"] for s in snap["services"]] == [s["id"] for s in public["services"]]


class TestFilters:
    @pytest.mark.parametrize(
        ("which", "names"),
        [
            ("all", ["later", "earlier", "old"]),
            ("active", ["later", "earlier"]),
            ("resolved", ["old"]),
        ],
    )
    def test_incidents(self, busy: Harness, which: str, names: list[str]) -> None:
        assert which in views.INCIDENT_FILTERS
        assert [i.name for i in views.filter_incidents(busy.state, which)] == names

    @pytest.mark.parametrize(
        ("which", "names"),
        [
            ("all", ["cancelled", "upcoming-late", "upcoming-soon", "running"]),
            ("open", ["upcoming-late", "upcoming-soon", "running"]),
            ("upcoming", ["upcoming-late", "upcoming-soon"]),
            ("running", ["running"]),
            ("over", ["cancelled"]),
        ],
    )
    def test_maintenances(self, busy: Harness, which: str, names: list[str]) -> None:
        assert which in views.MAINTENANCE_FILTERS
        assert [m.name for m in views.filter_maintenances(busy.state, which)] == names
