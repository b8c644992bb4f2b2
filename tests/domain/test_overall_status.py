"""The page's overall status (status.py's table) and the status.changed event."""

from __future__ import annotations

from typing import Any

import pytest
from domain_support import T0, Harness, at, random_program, run_program
from hypothesis import HealthCheck, given, settings

from server.domain import status as status_module
from server.domain.model import (
    ALL_OPERATIONAL,
    IMPACT_LEVEL,
    SEVERITY,
    Impact,
    Incident,
    IncidentStatus,
    Indicator,
    Maintenance,
    MaintenanceStatus,
    Org,
    OrgState,
    OverallStatus,
    Service,
    ServiceStatus,
)
from server.domain.status import overall_status

TABLE = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "minor-services-only": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


def expected_status(state: OrgState) -> OverallStatus:
    """status.py's table, written out independently."""
    by_services = max(
        (SEVERITY[s.status] for s in state.services.values() if s.status in SEVERITY), default=0
    )
    by_incidents = max(
        (IMPACT_LEVEL[i.impact] for i in state.incidents.values() if i.active), default=0
    )
    level = max(by_services, by_incidents)
    if level == 3:
        return OverallStatus(Indicator.CRITICAL, TABLE["critical"])
    if level == 2:
        return OverallStatus(Indicator.MAJOR, TABLE["major"])
    if level == 1:
        key = "minor" if by_incidents else "minor-services-only"
        return OverallStatus(Indicator.MINOR, TABLE[key])
    under = any(s.status is ServiceStatus.UNDER_MAINTENANCE for s in state.services.values())
    running = any(m.running for m in state.maintenances.values())
    if under or running:
        return OverallStatus(Indicator.MAINTENANCE, TABLE["maintenance"])
    return OverallStatus(Indicator.NONE, TABLE["none"])


def build_state(statuses: list[ServiceStatus], impacts: list[Impact], running: bool) -> OrgState:
    state = OrgState(org=Org("o", "demo", "Demo", T0, T0))
    for n, status in enumerate(statuses):
        state.services[f"s{n}"] = Service(
            f"s{n}", f"S{n}", None, None, n, status, True, False, T0, T0
        )
    for n, impact in enumerate(impacts):
        state.incidents[f"i{n}"] = Incident(
            f"i{n}", "x", IncidentStatus.INVESTIGATING, impact, True, {}, (), T0, T0, T0
        )
    # A resolved critical incident is always there, and never counts.
    state.incidents["old"] = Incident(
        "old", "x", IncidentStatus.RESOLVED, Impact.CRITICAL, True, {}, (), T0, T0, T0
    )
    state.maintenances["m"] = Maintenance(
        "m",
        "m",
        MaintenanceStatus.IN_PROGRESS if running else MaintenanceStatus.SCHEDULED,
        T0,
        at(hours=1),
        (),
        True,
        True,
        (),
        T0,
        T0,
    )
    return state


IMPACT_SETS = [
    [],
    [Impact.NONE],
    [Impact.MINOR],
    [Impact.MAJOR],
    [Impact.CRITICAL],
    [Impact.MINOR, Impact.CRITICAL, Impact.NONE],
]


class TestTable:
    @pytest.mark.parametrize("status", list(ServiceStatus))
    @pytest.mark.parametrize(
        "impacts", IMPACT_SETS, ids=lambda i: "+".join(x.value for x in i) or "no-incident"
    )
    @pytest.mark.parametrize("running", [False, True], ids=["idle", "maintenance-running"])
    def test_every_combination(
        self, status: ServiceStatus, impacts: list[Impact], running: bool
    ) -> None:
        state = build_state([ServiceStatus.OPERATIONAL, status], impacts, running)
        assert overall_status(state) == expected_status(state)

    @pytest.mark.parametrize(
        ("statuses", "impacts", "running", "indicator", "description"),
        [
            ([], [], False, "none", "All Systems Operational"),
            ([ServiceStatus.OPERATIONAL], [Impact.NONE], False, "none", "All Systems Operational"),
            (
                [ServiceStatus.DEGRADED_PERFORMANCE],
                [],
                False,
                "minor",
                "Partially Degraded Service",
            ),
            (
                [ServiceStatus.DEGRADED_PERFORMANCE],
                [Impact.NONE],
                False,
                "minor",
                "Partially Degraded Service",
            ),
            (
                [ServiceStatus.DEGRADED_PERFORMANCE],
                [Impact.MINOR],
                False,
                "minor",
                "Minor Service Outage",
            ),
            ([ServiceStatus.OPERATIONAL], [Impact.MINOR], False, "minor", "Minor Service Outage"),
            ([ServiceStatus.PARTIAL_OUTAGE], [], False, "major", "Partial System Outage"),
            (
                [ServiceStatus.PARTIAL_OUTAGE],
                [Impact.MINOR],
                False,
                "major",
                "Partial System Outage",
            ),
            ([ServiceStatus.OPERATIONAL], [Impact.MAJOR], False, "major", "Partial System Outage"),
            (
                [ServiceStatus.DEGRADED_PERFORMANCE],
                [Impact.MAJOR],
                False,
                "major",
                "Partial System Outage",
            ),
            ([ServiceStatus.MAJOR_OUTAGE], [], False, "critical", "Major System Outage"),
            (
                [ServiceStatus.OPERATIONAL],
                [Impact.CRITICAL],
                False,
                "critical",
                "Major System Outage",
            ),
            (
                [ServiceStatus.UNDER_MAINTENANCE],
                [],
                False,
                "maintenance",
                "Service Under Maintenance",
            ),
            ([], [], True, "maintenance", "Service Under Maintenance"),
            (
                [ServiceStatus.UNDER_MAINTENANCE],
                [Impact.NONE],
                True,
                "maintenance",
                "Service Under Maintenance",
            ),
            (
                [ServiceStatus.UNDER_MAINTENANCE, ServiceStatus.DEGRADED_PERFORMANCE],
                [],
                True,
                "minor",
                "Partially Degraded Service",
            ),
            (
                [ServiceStatus.UNDER_MAINTENANCE],
                [Impact.MINOR],
                True,
                "minor",
                "Minor Service Outage",
            ),
            (
                [ServiceStatus.UNDER_MAINTENANCE, ServiceStatus.MAJOR_OUTAGE],
                [],
                True,
                "critical",
                "Major System Outage",
            ),
        ],
    )
    def test_rows(
        self,
        statuses: list[ServiceStatus],
        impacts: list[Impact],
        running: bool,
        indicator: str,
        description: str,
    ) -> None:
        status = overall_status(build_state(statuses, impacts, running))
        assert status.to_dict() == {"indicator": indicator, "description": description}

    def test_all_operational_constant(self) -> None:
        assert ALL_OPERATIONAL.to_dict() == {
            "indicator": "none",
            "description": "All Systems Operational",
        }
        assert OverallStatus.from_dict(ALL_OPERATIONAL.to_dict()) == ALL_OPERATIONAL


class TestThroughCommands:
    def test_fresh_org(self, org: Harness) -> None:
        assert org.state.status == ALL_OPERATIONAL

    def test_degraded_service_without_incident(self, org: Harness) -> None:
        org.add_service("API")
        decision = org.set_status("API", "degraded_performance")
        assert org.names() == ["service.updated", "status.changed"]
        assert decision.events[-1].data == {
            "status": {"indicator": "minor", "description": "Partially Degraded Service"}
        }

    def test_minor_incident(self, org: Harness) -> None:
        org.add_service("API")
        org.open_incident(services={"API": "degraded_performance"})
        assert org.state.status.to_dict() == {
            "indicator": "minor",
            "description": "Minor Service Outage",
        }

    def test_an_incident_changes_the_description_not_the_indicator(self, org: Harness) -> None:
        org.add_service("API", status="degraded_performance")
        assert org.state.status.description == "Partially Degraded Service"
        incident = org.open_incident(impact="minor")
        assert org.names()[-1] == "status.changed"
        assert org.state.status.to_dict() == {
            "indicator": "minor",
            "description": "Minor Service Outage",
        }
        org.resolve(incident)
        # resolving does not touch API (not one of the incident's services)
        assert org.state.status.description == "Partially Degraded Service"

    def test_incident_impact_without_services(self, org: Harness) -> None:
        incident = org.open_incident(impact="critical")
        assert org.state.status.to_dict() == {
            "indicator": "critical",
            "description": "Major System Outage",
        }
        org.resolve(incident)
        assert org.state.status == ALL_OPERATIONAL

    def test_maintenance_only_when_nothing_worse(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        assert org.state.status.to_dict() == {
            "indicator": "maintenance",
            "description": "Service Under Maintenance",
        }
        org.set_status("DB", "degraded_performance")
        assert org.state.status.indicator == "minor"
        org.set_status("DB", "operational")
        assert org.state.status.indicator == "maintenance"

    def test_running_maintenance_without_services(self, org: Harness) -> None:
        org.schedule([], start=at(hours=-1), until=at(hours=1))
        assert org.state.status.indicator == "maintenance"
        org.tick(at(hours=1))
        assert org.state.status == ALL_OPERATIONAL

    def test_scheduled_maintenance_is_not_maintenance(self, org: Harness) -> None:
        org.add_service("API")
        org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        assert org.state.status == ALL_OPERATIONAL
        assert "status.changed" not in org.names()

    def test_under_maintenance_by_hand(self, org: Harness) -> None:
        org.add_service("API")
        org.set_status("API", "under_maintenance")
        assert org.state.status.indicator == "maintenance"

    def test_no_event_when_the_status_stays(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        org.set_status("API", "partial_outage")
        org.set_status("DB", "partial_outage")
        assert org.names() == ["service.updated"]
        org.set_status("API", "degraded_performance")
        assert org.names() == ["service.updated"]
        org.set_status("DB", "operational")
        assert org.names() == ["service.updated", "status.changed"]
        assert org.state.status.indicator == "minor"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=random_program())
def test_status_changed_exactly_when_the_status_changes(program: list[tuple[Any, ...]]) -> None:
    h = Harness()
    for step in run_program(h, program):
        if step.decision is None:
            continue
        before, after = step.before, step.after
        assert after is not None
        names = [e.name for e in step.decision.events]
        assert after.status == overall_status(after) == expected_status(after)
        changed = before.status != after.status
        assert names.count("status.changed") == int(changed)
        if changed:
            last = step.decision.events[-1]
            assert last.name == "status.changed"
            assert last.data == {"status": after.status.to_dict()}
            assert last.public_seq is not None


def test_indicator_values() -> None:
    assert [i.value for i in Indicator] == ["none", "minor", "major", "critical", "maintenance"]
    # The descriptions this file expects are the ones status.py documents.
    doc = " ".join((status_module.__doc__ or "").split())
    for description in TABLE.values():
        assert description in doc
