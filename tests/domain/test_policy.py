"""The status policy (rules.py's module docstring), by example and by model.

* A member may always set a service's status by hand.
* An incident may only worsen a service's status along the chain.
* On resolve, each service the incident affected returns to the worst status
  its other active incidents require, else to operational.
* A running maintenance puts its services under maintenance and remembers a
  baseline; incidents meanwhile update the baseline; at the end the service
  returns to its baseline (operational if none), and nothing else: an incident
  opened before the maintenance does not re-worsen a status set by hand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from domain_support import SETUP, Harness, Step, at, random_program, run_program
from hypothesis import HealthCheck, example, given, settings

from server.domain import commands as c
from server.domain import rules
from server.domain.errors import ValidationError
from server.domain.model import (
    ACTIVE_INCIDENT,
    CHAIN,
    MAINTENANCE_RUNNING,
    SEVERITY,
    AffectedService,
    IncidentStatus,
    MaintenanceStatus,
    OrgState,
    ServiceStatus,
    worst,
)
from server.domain.schema import MISSING

OP = ServiceStatus.OPERATIONAL
DEG = ServiceStatus.DEGRADED_PERFORMANCE
PART = ServiceStatus.PARTIAL_OUTAGE
MAJ = ServiceStatus.MAJOR_OUTAGE
UM = ServiceStatus.UNDER_MAINTENANCE


class TestChainHelpers:
    def test_chain_order(self) -> None:
        assert CHAIN == (OP, DEG, PART, MAJ)
        assert [SEVERITY[s] for s in CHAIN] == [0, 1, 2, 3]
        assert UM not in SEVERITY

    def test_worst(self) -> None:
        assert worst() is OP
        assert worst(DEG, MAJ, PART) is MAJ
        assert worst(OP, OP) is OP


class TestIncidentsOnlyWorsen:
    @pytest.mark.parametrize(("current", "required"), list(itertools.product(CHAIN, CHAIN)))
    def test_every_pair_on_the_chain(
        self, org: Harness, current: ServiceStatus, required: ServiceStatus
    ) -> None:
        api = org.add_service("API", status=current.value)
        decision = org.do("incident.create", {"name": "x", "services": {"API": required.value}})
        incident = org.state.incidents[decision.result["id"]]
        expected = worst(current, required)
        assert org.status("API") is expected
        if SEVERITY[required] > SEVERITY[current]:
            assert incident.updates[0].affected == (AffectedService(api, "API", current, required),)
            # cause first: the incident, then the service it moved
            assert org.names()[:2] == ["incident.created", "service.updated"]
            event = decision.events[1]
            assert event.data["previous_status"] == current.value
            assert event.data["cause"] == incident.id
            assert event.data["service"]["status"] == required.value
        else:
            assert incident.updates[0].affected == ()
            assert "service.updated" not in org.names()

    def test_update_can_worsen_further(self, org: Harness) -> None:
        api = org.add_service("API")
        incident = org.open_incident(services={"API": "degraded_performance"})
        org.update_incident(incident, services={"API": "major_outage"}, status="identified")
        assert org.status("API") is MAJ
        last = org.state.incidents[incident].updates[-1]
        assert last.affected == (AffectedService(api, "API", DEG, MAJ),)

    def test_update_lowering_a_requirement_does_not_improve_the_service(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.update_incident(incident, services={"API": "degraded_performance"})
        assert org.status("API") is MAJ
        assert org.state.incidents[incident].updates[-1].affected == ()
        # the impact drops to minor, but the service still says critical
        assert org.names() == ["incident.updated"]
        assert org.state.incidents[incident].impact.value == "minor"
        assert org.state.status.indicator == "critical"

    def test_one_incident_many_services(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB", status="partial_outage")
        org.add_service("Web")
        incident = org.open_incident(
            services={"API": "major_outage", "DB": "degraded_performance", "Web": "partial_outage"}
        )
        assert org.statuses() == {
            "API": "major_outage",
            "DB": "partial_outage",
            "Web": "partial_outage",
        }
        affected = org.state.incidents[incident].updates[0].affected
        assert [(a.name, a.old_status, a.new_status) for a in affected] == [
            ("API", OP, MAJ),
            ("Web", OP, PART),
        ]

    @pytest.mark.parametrize("command", ["create", "update"])
    def test_under_maintenance_is_not_an_incident_status(self, org: Harness, command: str) -> None:
        org.add_service("API")
        if command == "create":
            call = lambda: org.open_incident(services={"API": "under_maintenance"})  # noqa: E731
        else:
            incident = org.open_incident()
            call = lambda: org.update_incident(incident, services={"API": "under_maintenance"})  # noqa: E731
        before = org.state
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.code == "invalid_field"
        assert info.value.field == "services"
        assert "cannot put 'API' under maintenance" in info.value.message
        assert "schedule a maintenance" in info.value.message
        assert org.state is before


class TestHandSetStatuses:
    @pytest.mark.parametrize("status", list(ServiceStatus))
    def test_a_member_may_set_any_status_during_an_incident(
        self, org: Harness, status: ServiceStatus
    ) -> None:
        org.add_service("API")
        org.open_incident(services={"API": "major_outage"})
        org.set_status("API", status.value)
        assert org.status("API") is status

    @pytest.mark.parametrize(("old", "new"), list(itertools.product(ServiceStatus, ServiceStatus)))
    def test_any_to_any(self, org: Harness, old: ServiceStatus, new: ServiceStatus) -> None:
        org.add_service("API", status=old.value)
        decision = org.set_status("API", new.value)
        assert org.status("API") is new
        assert ("service.updated" in org.names()) is (old is not new)
        if old is not new:
            assert decision.events[0].data["previous_status"] == old.value

    @pytest.mark.parametrize(
        "update",
        [
            {"status": "identified"},
            {"status": "monitoring"},
            {"body": "still on it"},
            {"name": "Renamed"},
            {"impact": "critical"},
            {"status": "investigating", "body": "back to square one"},
        ],
    )
    def test_update_without_services_does_not_reworsen(
        self, org: Harness, update: dict[str, str]
    ) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.set_status("API", "operational")
        seen = len(org.state.incidents[incident].updates)
        org.update_incident(incident, **update)
        assert org.status("API") is OP
        assert "service.updated" not in org.names()
        assert all(u.affected == () for u in org.state.incidents[incident].updates[seen:])

    def test_update_mentioning_the_service_applies_again(self, org: Harness) -> None:
        api = org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.set_status("API", "operational")
        org.update_incident(incident, services={"API": "partial_outage"})
        assert org.status("API") is PART
        assert org.state.incidents[incident].updates[-1].affected == (
            AffectedService(api, "API", OP, PART),
        )

    def test_update_mentioning_other_services_leaves_this_one(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        incident = org.open_incident(services={"API": "major_outage"})
        org.set_status("API", "degraded_performance")
        org.update_incident(incident, services={"DB": "partial_outage"})
        assert org.statuses() == {"API": "degraded_performance", "DB": "partial_outage"}


class TestResolve:
    def test_back_to_operational(self, org: Harness) -> None:
        api = org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.advance(minutes=10)
        decision = org.resolve(incident)
        assert org.status("API") is OP
        assert org.names() == ["incident.updated", "service.updated", "status.changed"]
        assert decision.events[0].data["incident"]["status"] == "resolved"
        assert decision.events[1].data["previous_status"] == "major_outage"
        assert decision.events[1].data["cause"] == incident
        assert decision.events[1].data["service"]["status"] == "operational"
        assert org.service("API").updated_at == at(minutes=10)
        assert org.state.incidents[incident].updates[-1].affected == (
            AffectedService(api, "API", MAJ, OP),
        )

    def test_to_the_worst_of_the_other_active_incidents(self, org: Harness) -> None:
        api = org.add_service("API")
        a = org.open_incident("A", {"API": "partial_outage"})
        b = org.open_incident("B", {"API": "degraded_performance"})
        c_ = org.open_incident("C", {"API": "degraded_performance"})
        assert org.status("API") is PART
        org.resolve(a)
        assert org.status("API") is DEG
        assert org.state.incidents[a].updates[-1].affected == (
            AffectedService(api, "API", PART, DEG),
        )
        org.resolve(b)
        assert org.status("API") is DEG
        assert org.state.incidents[b].updates[-1].affected == ()
        org.resolve(c_)
        assert org.status("API") is OP

    def test_resolving_the_lesser_incident_keeps_the_worse(self, org: Harness) -> None:
        org.add_service("API")
        org.open_incident("A", {"API": "major_outage"})
        b = org.open_incident("B", {"API": "degraded_performance"})
        org.resolve(b)
        assert org.status("API") is MAJ
        assert "service.updated" not in org.names()

    def test_resolved_incidents_do_not_count(self, org: Harness) -> None:
        org.add_service("API")
        org.open_incident("old", {"API": "major_outage"}, status="resolved")
        b = org.open_incident("B", {"API": "degraded_performance"})
        org.resolve(b)
        assert org.status("API") is OP

    def test_only_the_incidents_services_are_touched(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB", status="partial_outage")
        incident = org.open_incident(services={"API": "major_outage"})
        org.resolve(incident)
        assert org.statuses() == {"API": "operational", "DB": "partial_outage"}

    def test_a_hand_set_status_is_replaced_on_resolve(self, org: Harness) -> None:
        # The policy: resolve returns the incident's services to what the others require.
        org.add_service("API")
        incident = org.open_incident(services={"API": "degraded_performance"})
        org.set_status("API", "major_outage")
        org.resolve(incident)
        assert org.status("API") is OP

    def test_merged_requirements_are_restored(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        incident = org.open_incident(services={"API": "degraded_performance"})
        org.update_incident(incident, services={"DB": "major_outage"})
        org.resolve(incident)
        assert org.statuses() == {"API": "operational", "DB": "operational"}

    def test_other_incident_that_only_says_operational(self, org: Harness) -> None:
        org.add_service("API")
        a = org.open_incident("A", {"API": "major_outage"})
        org.open_incident("B", {"API": "operational"})
        org.resolve(a)
        assert org.status("API") is OP

    def test_delete_active_incident_restores(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        org.open_incident("A", {"API": "degraded_performance"})
        b = org.open_incident("B", {"API": "major_outage", "DB": "partial_outage"})
        decision = org.do("incident.delete", {"incident": b})
        assert org.names() == [
            "incident.deleted",
            "service.updated",
            "service.updated",
            "status.changed",
        ]
        assert [e.data["cause"] for e in decision.events[1:3]] == [b, b]
        assert org.statuses() == {"API": "degraded_performance", "DB": "operational"}
        assert org.state.status.indicator == "minor"


# ---------------------------------------------------------------------------
# model-based: an independent implementation of the policy, run side by side


@dataclass
class PolicyModel:
    """Services' statuses and baselines as the policy says they must be."""

    status: dict[str, ServiceStatus] = field(default_factory=dict)
    baseline: dict[str, ServiceStatus | None] = field(default_factory=dict)
    incidents: dict[str, tuple[bool, dict[str, ServiceStatus]]] = field(default_factory=dict)
    maintenances: dict[str, tuple[MaintenanceStatus, tuple[str, ...]]] = field(default_factory=dict)

    def floor(self, sid: str) -> ServiceStatus:
        return worst(
            *(reqs[sid] for active, reqs in self.incidents.values() if active and sid in reqs)
        )

    def worsen(self, reqs: dict[str, ServiceStatus]) -> None:
        for sid, required in reqs.items():
            if self.status[sid] is UM:
                self.baseline[sid] = worst(self.baseline[sid] or OP, required)
            else:
                self.status[sid] = worst(self.status[sid], required)

    def restore(self, reqs: dict[str, ServiceStatus]) -> None:
        for sid in reqs:
            if sid not in self.status:
                continue
            target = self.floor(sid)
            if self.status[sid] is UM:
                self.baseline[sid] = target
            else:
                self.status[sid] = target

    def running_elsewhere(self, sid: str, mid: str) -> bool:
        return any(
            st in MAINTENANCE_RUNNING and sid in ids
            for other, (st, ids) in self.maintenances.items()
            if other != mid
        )

    def start(self, ids: tuple[str, ...]) -> None:
        for sid in ids:
            if sid in self.status and self.status[sid] is not UM:
                self.baseline[sid] = self.status[sid]
                self.status[sid] = UM

    def end(self, mid: str, ids: tuple[str, ...]) -> None:
        for sid in ids:
            if sid not in self.status or self.running_elsewhere(sid, mid):
                continue
            if self.status[sid] is UM:
                # "returns to its baseline": incidents opened or resolved during
                # the maintenance already moved the baseline, so the incident
                # floor is not consulted again.
                self.status[sid] = self.baseline[sid] or OP
            self.baseline[sid] = None

    def maintenance_moved(
        self, mid: str, new_status: MaintenanceStatus | None, ids: tuple[str, ...]
    ) -> None:
        old_status, old_ids = self.maintenances.get(mid, (None, ids))
        was_running = old_status in MAINTENANCE_RUNNING
        if new_status is None:
            del self.maintenances[mid]
        else:
            self.maintenances[mid] = (new_status, ids)
        running = new_status in MAINTENANCE_RUNNING
        if running and not was_running:
            self.start(ids)
        elif was_running and not running:
            self.end(mid, old_ids)

    def step(self, before: OrgState, cmd: Any, decision: rules.Decision) -> None:
        result = decision.result
        if isinstance(cmd, c.CreateService):
            self.status[result["id"]] = cmd.status
            self.baseline[result["id"]] = None
        elif isinstance(cmd, c.UpdateService):
            sid = result["id"]
            if cmd.status is not MISSING and cmd.status is not self.status[sid]:
                self.baseline[sid] = self.status[sid] if cmd.status is UM else None
                self.status[sid] = cmd.status
        elif isinstance(cmd, c.DeleteService):
            del self.status[result["deleted"]]
            del self.baseline[result["deleted"]]
        elif isinstance(cmd, c.CreateIncident):
            reqs = {rules.find_service(before, ref).id: s for ref, s in cmd.services.items()}
            active = cmd.status in ACTIVE_INCIDENT
            self.incidents[result["id"]] = (active, reqs)
            if active:
                self.worsen(reqs)
        elif isinstance(cmd, c.UpdateIncident | c.ResolveIncident):
            iid = result["id"]
            was_active, reqs = self.incidents[iid]
            services = getattr(cmd, "services", MISSING)
            given = (
                {}
                if services is MISSING
                else {rules.find_service(before, r).id: s for r, s in services.items()}
            )
            merged = {**reqs, **given}
            now_active = IncidentStatus(result["status"]) in ACTIVE_INCIDENT
            self.incidents[iid] = (now_active, merged)
            if was_active and not now_active:
                self.restore(merged)
            else:
                self.worsen(given)
        elif isinstance(cmd, c.DeleteIncident):
            active, reqs = self.incidents.pop(result["deleted"])
            if active:
                self.restore(reqs)
        # maintenances move by schedule, update, cancel, delete and ticks: follow their events
        for event in decision.events:
            if event.name in ("maintenance.created", "maintenance.updated"):
                m = event.data["maintenance"]
                self.maintenance_moved(
                    m["id"], MaintenanceStatus(m["status"]), tuple(m["service_ids"])
                )
            elif event.name == "maintenance.deleted":
                _, ids = self.maintenances[event.data["id"]]
                self.maintenance_moved(event.data["id"], None, ids)


def check_invariants(step: Step) -> None:
    assert step.decision is not None
    assert step.after is not None
    before, after, cmd = step.before, step.after, step.command
    for service in after.services.values():
        # a baseline only exists under maintenance, and is on the chain
        if service.maintenance_baseline is not None:
            assert service.status is UM
            assert service.maintenance_baseline in SEVERITY
    for event in step.decision.events:
        if event.name not in ("incident.created", "incident.updated"):
            continue
        incident = event.data["incident"]
        old = before.incidents.get(incident["id"])
        new_updates = incident["updates"][len(old.updates) if old else 0 :]
        for update in new_updates:
            for a in update["affected_services"]:
                assert a["old_status"] != a["new_status"]
                if incident["status"] in ACTIVE_INCIDENT:
                    # incidents only worsen
                    assert (
                        SEVERITY[ServiceStatus(a["new_status"])]
                        > SEVERITY[ServiceStatus(a["old_status"])]
                    )
                else:
                    # resolving returns to what the other active incidents require
                    assert a["new_status"] == incident_floor(after, a["service_id"]).value
    if isinstance(cmd, c.CreateIncident | c.UpdateIncident) and all(
        i.active for i in after.incidents.values() if i.id == step.decision.result["id"]
    ):
        # an active incident's update never improves any service
        for sid, service in after.services.items():
            old_status = before.services[sid].status if sid in before.services else service.status
            if old_status in SEVERITY and service.status in SEVERITY:
                assert SEVERITY[service.status] >= SEVERITY[old_status]
            else:
                assert service.status is old_status


def incident_floor(state: OrgState, sid: str) -> ServiceStatus:
    return worst(
        *(i.services[sid] for i in state.incidents.values() if i.active and sid in i.services)
    )


def _with_setup(*ops: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [*SETUP, *ops]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=random_program())
# Hand-picked sequences the random search may take long to find:
@example(
    program=_with_setup(
        ("schedule", -10, 60, [0], True, True),
        ("schedule", -5, 120, [0], True, True),
        ("advance", 61),
        ("advance", 60),
    )
)
@example(
    program=_with_setup(
        ("schedule", -10, 60, [0, 1], True, True),
        ("create_incident", "investigating", {0: "partial_outage"}, None),
        ("advance", 70),
    )
)
@example(
    program=_with_setup(
        ("create_incident", "identified", {0: "major_outage", 1: "degraded_performance"}, None),
        ("schedule", -10, 60, [0], True, True),
        ("resolve_incident", 0),
        ("advance", 70),
    )
)
@example(  # a hand-set status survives the maintenance (test_BUG_maintenance_end_reworsens_...)
    program=_with_setup(
        ("create_incident", "investigating", {0: "major_outage"}, None),
        ("set_status", 0, "operational"),
        ("schedule", -10, 60, [0], True, True),
        ("advance", 70),
    )
)
@example(
    program=_with_setup(
        ("create_incident", "investigating", {0: "partial_outage"}, None),
        ("schedule", -10, 60, [0], False, False),
        ("set_status", 0, "degraded_performance"),
        ("delete_maintenance", 0),
        ("delete_incident", 0),
    )
)
@example(
    program=_with_setup(
        ("set_status", 0, "under_maintenance"),
        ("create_incident", "monitoring", {0: "degraded_performance"}, None),
        ("schedule", -10, 60, [0], True, True),
        ("advance", 70),
        ("update_incident", 0, "resolved", None),
    )
)
@example(  # ... unless the incident names the service again during the maintenance
    program=_with_setup(
        ("create_incident", "investigating", {0: "major_outage"}, None),
        ("set_status", 0, "operational"),
        ("schedule", -10, 60, [0], True, True),
        ("update_incident", 0, None, {0: "partial_outage"}),
        ("advance", 70),
    )
)
@example(  # opened during the maintenance: shows after it; resolved during it: does not
    program=_with_setup(
        ("schedule", -10, 60, [0, 1], True, True),
        ("create_incident", "investigating", {0: "degraded_performance"}, None),
        ("create_incident", "identified", {1: "major_outage"}, None),
        ("resolve_incident", 1),
        ("advance", 70),
    )
)
@example(  # a resolved incident takes further notes, which change no service
    program=_with_setup(
        ("create_incident", "investigating", {0: "major_outage"}, None),
        ("resolve_incident", 0),
        ("set_status", 0, "partial_outage"),
        ("update_incident", 0, "resolved", None),
        ("resolve_incident", 0),
        ("update_incident", 0, "postmortem", None),
    )
)
def test_policy_matches_the_model(program: list[tuple[Any, ...]]) -> None:
    h = Harness()
    model = PolicyModel()
    for step in run_program(h, program):
        if step.error is not None:
            assert step.after is step.before
            continue
        assert step.decision is not None
        model.step(step.before, step.command, step.decision)
        state = h.state
        assert {sid: s.status for sid, s in state.services.items()} == model.status, step.command
        assert {
            sid: s.maintenance_baseline for sid, s in state.services.items()
        } == model.baseline, step.command
        check_invariants(step)


NO_HANDS = ("set_status",)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=random_program())
def test_without_hand_set_statuses_services_are_never_better_than_required(
    program: list[tuple[Any, ...]],
) -> None:
    # Remove the hand-set steps and make every service start operational.
    program = [op for op in program if op[0] not in NO_HANDS]
    program = [
        (op[0], op[1], "operational", op[3]) if op[0] == "create_service" else op for op in program
    ]
    h = Harness()
    for step in run_program(h, program):
        state = h.state
        for sid, service in state.services.items():
            floor = incident_floor(state, sid)
            shown = service.maintenance_baseline if service.status is UM else service.status
            assert shown is not None
            assert SEVERITY[shown] >= SEVERITY[floor], (step.command, service, floor)
            if service.status is UM:
                assert any(m.running and sid in m.service_ids for m in state.maintenances.values())
        for m in state.maintenances.values():
            if m.running:
                for sid in m.service_ids:
                    if sid in state.services:
                        assert state.services[sid].status is UM
