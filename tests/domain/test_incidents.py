"""Incident lifecycle, timeline and impact."""

from __future__ import annotations

import itertools

import pytest
from domain_support import T0, Harness, at, stamp

from server.domain import commands as c
from server.domain.model import (
    ACTIVE_INCIDENT,
    DEFAULT_BODIES,
    INCIDENT_MOVES,
    Impact,
    IncidentStatus,
    ServiceStatus,
    check_incident_move,
)
from server.errors import InvalidTransition, ValidationError

S = IncidentStatus
ALL_PAIRS = list(itertools.product(IncidentStatus, IncidentStatus))


def incident_in(org: Harness, status: IncidentStatus) -> str:
    """An incident that has reached ``status`` the ordinary way."""
    if status in ACTIVE_INCIDENT:
        return org.open_incident(status=status.value)
    incident = org.open_incident()
    org.resolve(incident)
    if status is S.POSTMORTEM:
        org.update_incident(incident, status="postmortem", body="What happened")
    return incident


class TestMoves:
    def test_the_table(self) -> None:
        active = {S.INVESTIGATING, S.IDENTIFIED, S.MONITORING}
        assert active == ACTIVE_INCIDENT
        assert dict(INCIDENT_MOVES) == {
            S.INVESTIGATING: active | {S.RESOLVED},
            S.IDENTIFIED: active | {S.RESOLVED},
            S.MONITORING: active | {S.RESOLVED},
            S.RESOLVED: {S.RESOLVED, S.POSTMORTEM},
            S.POSTMORTEM: {S.POSTMORTEM},
        }

    @pytest.mark.parametrize(("old", "new"), ALL_PAIRS)
    def test_check_incident_move(self, old: IncidentStatus, new: IncidentStatus) -> None:
        if new in INCIDENT_MOVES[old]:
            check_incident_move(old, new)
            return
        with pytest.raises(InvalidTransition) as info:
            check_incident_move(old, new)
        assert info.value.code == "invalid_transition"
        assert info.value.message.startswith(f"incident status {old} -> {new} is not allowed: ")
        if new in ACTIVE_INCIDENT:
            # only a finished incident refuses an active status
            assert old in (S.RESOLVED, S.POSTMORTEM)
            assert info.value.message.endswith(
                "a resolved incident is never reopened; open a new incident instead"
            )
        elif old is S.POSTMORTEM:
            assert new is S.RESOLVED
            assert info.value.message.endswith(
                "after the postmortem, only the postmortem can be revised"
            )
        else:
            assert (old in ACTIVE_INCIDENT, new) == (True, S.POSTMORTEM)
            assert info.value.message.endswith(
                "an incident reaches postmortem only after it is resolved"
            )

    def test_refused_moves_are_exactly_these(self) -> None:
        refused = {(old, new) for old, new in ALL_PAIRS if new not in INCIDENT_MOVES[old]}
        assert refused == (
            {(old, S.POSTMORTEM) for old in ACTIVE_INCIDENT}
            | {(old, new) for old in (S.RESOLVED, S.POSTMORTEM) for new in ACTIVE_INCIDENT}
            | {(S.POSTMORTEM, S.RESOLVED)}
        )

    @pytest.mark.parametrize(("old", "new"), ALL_PAIRS)
    def test_every_pair_through_incident_update(
        self, org: Harness, old: IncidentStatus, new: IncidentStatus
    ) -> None:
        incident = incident_in(org, old)
        assert org.state.incidents[incident].status is old
        org.advance(minutes=1)
        before = org.state
        if new in INCIDENT_MOVES[old] and new is old:
            # Restating the current status says nothing: no entry, no event.
            decision = org.update_incident(incident, status=new.value)
            assert org.names() == []
            assert org.state.incidents[incident] == before.incidents[incident]
            assert decision.result == before.incidents[incident].to_dict()
        elif new in INCIDENT_MOVES[old] and new is S.POSTMORTEM:
            # A postmortem needs its text: no standard sentence stands in for it.
            with pytest.raises(ValidationError) as refused:
                org.update_incident(incident, status=new.value)
            assert refused.value.field == "body"
            assert org.state is before
        elif new in INCIDENT_MOVES[old]:
            decision = org.update_incident(incident, status=new.value)
            assert org.names() == ["incident.updated"]
            after = org.state.incidents[incident]
            assert after.status is new
            assert after.updates[-1].status == new.value
            assert after.updates[-1].body == DEFAULT_BODIES[new.value]
            assert after.updated_at == at(minutes=1)
            assert decision.result == after.to_dict()
        else:
            with pytest.raises(InvalidTransition) as info:
                org.update_incident(incident, status=new.value)
            assert info.value.code == "invalid_transition"
            assert f"{old} -> {new}" in info.value.message
            assert org.state is before

    @pytest.mark.parametrize("finished", [S.RESOLVED, S.POSTMORTEM])
    def test_a_finished_incident_is_never_reopened(
        self, org: Harness, finished: IncidentStatus
    ) -> None:
        incident = incident_in(org, finished)
        before = org.state
        for status in ACTIVE_INCIDENT:
            with pytest.raises(InvalidTransition) as info:
                org.update_incident(incident, status=status.value, body="back again")
            assert info.value.message == (
                f"incident status {finished} -> {status} is not allowed: "
                "a resolved incident is never reopened; open a new incident instead"
            )
            assert org.state is before

    def test_after_the_postmortem_it_cannot_go_back_to_resolved(self, org: Harness) -> None:
        org.add_service("API")
        incident = incident_in(org, S.POSTMORTEM)
        before = org.state
        for attempt in (org.resolve, lambda i: org.update_incident(i, status="resolved")):
            with pytest.raises(InvalidTransition) as info:
                attempt(incident)
            assert info.value.code == "invalid_transition"
            assert info.value.message == (
                "incident status postmortem -> resolved is not allowed: "
                "after the postmortem, only the postmortem can be revised"
            )
            assert org.state is before

    def test_resolving_again_adds_a_note_and_restores_nothing(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.advance(minutes=10)
        org.resolve(incident)
        assert org.status("API") is ServiceStatus.OPERATIONAL
        # a member sets the service by hand after the incident is over
        org.set_status("API", "partial_outage")
        org.advance(minutes=10)
        decision = org.resolve(incident, body="Root cause: a bad deploy")
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert after.status is S.RESOLVED
        assert after.resolved_at == at(minutes=10)  # the first resolve's time is kept
        assert after.updated_at == at(minutes=20)
        assert [(u.status, u.body, u.created_at, u.affected) for u in after.updates[1:]] == [
            ("resolved", DEFAULT_BODIES["resolved"], at(minutes=10), after.updates[1].affected),
            ("resolved", "Root cause: a bad deploy", at(minutes=20), ()),
        ]
        assert len(after.updates[1].affected) == 1  # the first resolve did restore API
        assert decision.result == after.to_dict()
        assert org.status("API") is ServiceStatus.PARTIAL_OUTAGE  # left alone

    def test_postmortem_only_after_resolved(self, org: Harness) -> None:
        incident = org.open_incident()
        with pytest.raises(InvalidTransition, match="postmortem only after it is resolved"):
            org.update_incident(incident, status="postmortem")
        org.resolve(incident)
        org.update_incident(incident, status="postmortem", body="What happened")
        assert org.state.incidents[incident].status is S.POSTMORTEM
        # a postmortem can be revised
        org.update_incident(incident, body="What happened, revised")
        assert [u.status for u in org.state.incidents[incident].updates] == [
            "investigating",
            "resolved",
            "postmortem",
            "postmortem",
        ]

    def test_a_resolved_incident_takes_a_plain_note(self, org: Harness) -> None:
        # A body-only update keeps the status: resolved -> resolved is allowed.
        incident = incident_in(org, S.RESOLVED)
        resolved_at = org.state.incidents[incident].resolved_at
        org.advance(minutes=5)
        org.update_incident(incident, body="one more thing")
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert after.status is S.RESOLVED
        assert after.resolved_at == resolved_at
        assert [(u.status, u.body) for u in after.updates] == [
            ("investigating", DEFAULT_BODIES["investigating"]),
            ("resolved", DEFAULT_BODIES["resolved"]),
            ("resolved", "one more thing"),
        ]
        assert (after.updates[-1].created_at, after.updated_at) == (at(minutes=5), at(minutes=5))
        # ... and can still go on to the postmortem
        org.update_incident(incident, status="postmortem", body="What happened")
        assert org.state.incidents[incident].status is S.POSTMORTEM

    def test_a_resolved_incident_can_be_renamed_without_a_timeline_entry(
        self, org: Harness
    ) -> None:
        incident = incident_in(org, S.RESOLVED)
        org.update_incident(incident, name="Renamed")
        after = org.state.incidents[incident]
        assert after.name == "Renamed"
        assert len(after.updates) == 2

    @pytest.mark.parametrize(
        ("status", "move"),
        [
            (S.RESOLVED, None),
            (S.RESOLVED, "resolved"),
            (S.RESOLVED, "postmortem"),
            (S.POSTMORTEM, None),
            (S.POSTMORTEM, "postmortem"),
        ],
    )
    def test_services_of_a_finished_incident_do_not_change(
        self, org: Harness, status: IncidentStatus, move: str | None
    ) -> None:
        # The moves are allowed; naming services on a finished incident is not.
        org.add_service("API")
        incident = incident_in(org, status)
        before = org.state
        fields = {} if move is None else {"status": move}
        with pytest.raises(InvalidTransition) as info:
            org.update_incident(incident, services={"API": "major_outage"}, **fields)
        assert info.value.field == "services"
        assert info.value.message == f"incident 'Outage' is {status}; its services no longer change"
        assert org.status("API") is ServiceStatus.OPERATIONAL
        assert org.state is before


class TestCreate:
    def test_result_and_event(self, org: Harness) -> None:
        org.add_service("API")
        decision = org.do(
            "incident.create",
            {"name": "API down", "services": {"API": "major_outage"}, "body": "Looking into it"},
        )
        # cause first: the incident, then the service it worsened, then the page
        assert org.names() == ["incident.created", "service.updated", "status.changed"]
        incident = org.state.incidents[decision.result["id"]]
        assert decision.result == incident.to_dict()
        assert decision.events[0].data == {"incident": decision.result}
        service_event = decision.events[1]
        assert service_event.data == {
            "service": org.service("API").to_dict(),
            "cause": incident.id,
            "previous_status": "operational",
        }
        assert service_event.data["service"]["status"] == "major_outage"
        assert incident.name == "API down"
        assert incident.status is S.INVESTIGATING
        assert incident.impact is Impact.CRITICAL
        assert incident.impact_override is False
        assert incident.services == {"id2": ServiceStatus.MAJOR_OUTAGE}
        assert (incident.created_at, incident.updated_at, incident.started_at) == (T0, T0, T0)
        assert (incident.monitoring_at, incident.resolved_at) == (None, None)
        (update,) = incident.updates
        assert (update.status, update.body, update.created_at, update.author) == (
            "investigating",
            "Looking into it",
            T0,
            "alice",
        )

    @pytest.mark.parametrize("status", [S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED])
    def test_default_first_body(self, org: Harness, status: IncidentStatus) -> None:
        incident = org.open_incident(status=status.value)
        assert org.state.incidents[incident].updates[0].body == DEFAULT_BODIES[status.value]

    def test_default_bodies_text(self) -> None:
        assert DEFAULT_BODIES["investigating"] == "We are investigating this issue."
        assert DEFAULT_BODIES["resolved"] == "This incident has been resolved."
        assert set(DEFAULT_BODIES) == {s.value for s in IncidentStatus} | {
            "scheduled",
            "in_progress",
            "verifying",
            "completed",
            "cancelled",
        }

    def test_created_in_postmortem_is_refused(self, org: Harness) -> None:
        before = org.state
        with pytest.raises(InvalidTransition) as info:
            org.do("incident.create", {"name": "x", "status": "postmortem"})
        assert info.value.code == "invalid_transition"
        assert info.value.message == (
            "an incident cannot start in postmortem; create it resolved, then add the postmortem"
        )
        assert org.state is before

    def test_created_in_monitoring_sets_monitoring_at(self, org: Harness) -> None:
        incident = org.open_incident(status="monitoring")
        assert org.state.incidents[incident].monitoring_at == T0

    def test_backfilled_resolved_incident_changes_no_service(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB", status="degraded_performance")
        before = org.statuses()
        decision = org.do(
            "incident.create",
            {
                "name": "Last night",
                "status": "resolved",
                "services": {"API": "major_outage", "DB": "partial_outage"},
                "started_at": stamp(at(hours=-10)),
            },
        )
        assert org.names() == ["incident.created"]
        assert org.statuses() == before
        incident = org.state.incidents[decision.result["id"]]
        assert incident.status is S.RESOLVED
        assert incident.resolved_at == T0
        assert incident.started_at == at(hours=-10)
        assert incident.services == {
            "id2": ServiceStatus.MAJOR_OUTAGE,
            "id3": ServiceStatus.PARTIAL_OUTAGE,
        }
        assert incident.impact is Impact.CRITICAL
        assert incident.updates[0].affected == ()
        assert org.state.status.description == "Partially Degraded Service"

    def test_started_at_in_the_future_is_refused(self, org: Harness) -> None:
        before = org.state
        with pytest.raises(ValidationError) as info:
            org.do("incident.create", {"name": "x", "started_at": stamp(at(seconds=1))})
        assert info.value.field == "started_at"
        assert info.value.message == "started_at cannot be in the future"
        assert org.state is before

    @pytest.mark.parametrize("started", [at(), at(minutes=-30), at(days=-400)])
    def test_started_at_now_or_past(self, org: Harness, started: object) -> None:
        incident = org.open_incident(started_at=stamp(started))  # type: ignore[arg-type]
        assert org.state.incidents[incident].started_at == started
        assert org.state.incidents[incident].created_at == T0

    def test_started_at_defaults_to_now(self, org: Harness) -> None:
        org.advance(minutes=3)
        incident = org.open_incident()
        assert org.state.incidents[incident].started_at == at(minutes=3)

    def test_under_maintenance_cannot_be_required(self, org: Harness) -> None:
        org.add_service("API")
        with pytest.raises(ValidationError) as info:
            org.open_incident(services={"API": "under_maintenance"})
        assert info.value.field == "services"
        assert (
            info.value.message
            == "an incident cannot put 'API' under maintenance; schedule a maintenance"
        )

    def test_services_by_name_are_stored_by_id(self, org: Harness) -> None:
        api = org.add_service("API")
        incident = org.open_incident(services={"api": "partial_outage"})
        assert org.state.incidents[incident].services == {api: ServiceStatus.PARTIAL_OUTAGE}


class TestTimeline:
    def test_updates_oldest_first_with_their_own_ids_and_times(self, org: Harness) -> None:
        incident = org.open_incident()
        org.advance(minutes=5)
        org.update_incident(incident, status="identified", body="Found it")
        org.advance(minutes=5)
        org.update_incident(incident, status="monitoring")
        org.advance(minutes=5)
        org.update_incident(incident, body="Still watching")
        org.advance(minutes=5)
        org.resolve(incident, body="All good")
        updates = org.state.incidents[incident].updates
        assert [(u.status, u.body, u.created_at) for u in updates] == [
            ("investigating", DEFAULT_BODIES["investigating"], T0),
            ("identified", "Found it", at(minutes=5)),
            ("monitoring", DEFAULT_BODIES["monitoring"], at(minutes=10)),
            ("monitoring", "Still watching", at(minutes=15)),
            ("resolved", "All good", at(minutes=20)),
        ]
        assert len({u.id for u in updates}) == 5
        assert all(u.author == "alice" for u in updates)

    def test_empty_body_gets_the_default(self, org: Harness) -> None:
        incident = org.open_incident()
        org.update_incident(incident, status="identified", body="")
        assert org.state.incidents[incident].updates[-1].body == DEFAULT_BODIES["identified"]

    def test_services_only_update_is_a_timeline_entry(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident()
        org.update_incident(incident, services={"API": "degraded_performance"})
        last = org.state.incidents[incident].updates[-1]
        assert (last.status, last.body) == ("investigating", DEFAULT_BODIES["investigating"])
        assert len(last.affected) == 1

    def test_rename_and_impact_are_not_timeline_entries(self, org: Harness) -> None:
        incident = org.open_incident()
        org.update_incident(incident, name="Renamed", impact="major")
        after = org.state.incidents[incident]
        assert (after.name, after.impact, len(after.updates)) == ("Renamed", Impact.MAJOR, 1)

    def test_author_recorded(self, make_org: type[Harness]) -> None:
        org = make_org(author="bob")
        incident = org.open_incident()
        assert org.state.incidents[incident].updates[0].author == "bob"
        assert org.last.events[0].author == "bob"

    def test_monitoring_at_is_set_once(self, org: Harness) -> None:
        incident = org.open_incident()
        org.advance(minutes=1)
        org.update_incident(incident, status="monitoring")
        assert org.state.incidents[incident].monitoring_at == at(minutes=1)
        org.advance(minutes=1)
        org.update_incident(incident, status="investigating")
        assert org.state.incidents[incident].monitoring_at == at(minutes=1)
        org.advance(minutes=1)
        org.update_incident(incident, status="monitoring")
        assert org.state.incidents[incident].monitoring_at == at(minutes=1)

    def test_resolved_at(self, org: Harness) -> None:
        incident = org.open_incident()
        org.advance(hours=2)
        org.resolve(incident)
        assert org.state.incidents[incident].resolved_at == at(hours=2)
        assert org.state.incidents[incident].monitoring_at is None
        org.advance(hours=2)
        org.update_incident(incident, status="postmortem", body="What happened")
        assert org.state.incidents[incident].resolved_at == at(hours=2)


class TestImpact:
    @pytest.mark.parametrize(
        ("services", "impact"),
        [
            ({}, Impact.NONE),
            ({"API": "operational"}, Impact.NONE),
            ({"API": "degraded_performance"}, Impact.MINOR),
            ({"API": "partial_outage"}, Impact.MAJOR),
            ({"API": "major_outage"}, Impact.CRITICAL),
            ({"API": "degraded_performance", "DB": "partial_outage"}, Impact.MAJOR),
            ({"API": "major_outage", "DB": "degraded_performance"}, Impact.CRITICAL),
        ],
    )
    def test_derived_from_the_worst_service(
        self, org: Harness, services: dict[str, str], impact: Impact
    ) -> None:
        org.add_service("API")
        org.add_service("DB")
        incident = org.open_incident(services=services)
        assert org.state.incidents[incident].impact is impact
        assert org.state.incidents[incident].impact_override is False

    def test_derived_impact_follows_later_updates(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        incident = org.open_incident(services={"API": "degraded_performance"})
        assert org.state.incidents[incident].impact is Impact.MINOR
        org.update_incident(incident, services={"DB": "major_outage"})
        assert org.state.incidents[incident].impact is Impact.CRITICAL
        # requirements merge: lowering DB's requirement lowers the impact again
        org.update_incident(incident, services={"DB": "partial_outage"})
        assert org.state.incidents[incident].services == {
            "id2": ServiceStatus.DEGRADED_PERFORMANCE,
            "id3": ServiceStatus.PARTIAL_OUTAGE,
        }
        assert org.state.incidents[incident].impact is Impact.MAJOR

    def test_impact_set_at_creation_sticks(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "degraded_performance"}, impact="critical")
        assert org.state.incidents[incident].impact is Impact.CRITICAL
        assert org.state.incidents[incident].impact_override is True
        org.update_incident(incident, services={"API": "major_outage"})
        org.update_incident(incident, services={"API": "operational"})
        assert org.state.incidents[incident].impact is Impact.CRITICAL

    def test_impact_set_by_update_sticks(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.update_incident(incident, impact="minor")
        assert (
            org.state.incidents[incident].impact,
            org.state.incidents[incident].impact_override,
        ) == (
            Impact.MINOR,
            True,
        )
        org.update_incident(incident, services={"API": "major_outage"}, status="identified")
        assert org.state.incidents[incident].impact is Impact.MINOR

    def test_impact_none_by_hand_is_an_override(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"}, impact="none")
        assert org.state.incidents[incident].impact is Impact.NONE
        assert org.state.incidents[incident].impact_override is True


class TestDelete:
    def test_delete(self, org: Harness) -> None:
        incident = org.open_incident()
        decision = org.do("incident.delete", {"incident": incident})
        assert org.names() == ["incident.deleted"]
        assert decision.events[0].data == {"id": incident}
        assert decision.result == {"deleted": incident}
        assert org.state.incidents == {}

    def test_delete_resolved_changes_no_service(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        org.resolve(incident)
        org.set_status("API", "partial_outage")
        org.do("incident.delete", {"incident": incident})
        assert org.names() == ["incident.deleted"]
        assert org.status("API") is ServiceStatus.PARTIAL_OUTAGE


class TestUpdateNoOp:
    def test_empty_update_at_the_same_instant_emits_nothing(self, org: Harness) -> None:
        incident = org.open_incident()
        before = org.state.incidents[incident]
        # Same instant: nothing at all changes, so no event.
        decision = org.decide(c.UpdateIncident(incident=incident))
        assert decision.events == []
        assert decision.result == before.to_dict()

    @pytest.mark.parametrize(
        "fields",
        [{}, {"name": "Outage"}, {"impact": "major"}, {"name": "Outage", "impact": "major"}],
    )
    @pytest.mark.parametrize("status", list(IncidentStatus))
    def test_an_update_that_changes_nothing_emits_nothing(
        self, org: Harness, status: IncidentStatus, fields: dict[str, str]
    ) -> None:
        # The impact was already set by hand to "major", the name is "Outage".
        incident = incident_in(org, status)
        org.update_incident(incident, impact="major")
        before = org.state
        org.advance(minutes=7)
        decision = org.update_incident(incident, **fields)
        assert decision.events == []
        assert decision.result == before.incidents[incident].to_dict()
        assert org.state.incidents[incident] == before.incidents[incident]
        assert org.state.incidents[incident].updated_at == before.incidents[incident].updated_at
        assert (org.state.version, org.state.updated_at) == (before.version, before.updated_at)

    @pytest.mark.parametrize(
        ("fields", "changed"),
        [
            ({"name": "Renamed"}, "name"),
            ({"name": "outage"}, "name"),  # names compare exactly
            ({"impact": "major", "name": "Renamed"}, "name"),
        ],
    )
    def test_one_differing_field_is_an_update(
        self, org: Harness, fields: dict[str, str], changed: str
    ) -> None:
        incident = org.open_incident(impact="major")
        org.advance(minutes=7)
        decision = org.update_incident(incident, **fields)
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert getattr(after, changed) == fields[changed]
        assert after.updated_at == at(minutes=7)
        assert len(after.updates) == 1  # not a timeline entry
        assert decision.result == after.to_dict()

    def test_setting_the_derived_impact_by_hand_is_a_change(self, org: Harness) -> None:
        # Same impact, but it now sticks: impact_override differs.
        org.add_service("API")
        incident = org.open_incident(services={"API": "major_outage"})
        assert org.state.incidents[incident].impact is Impact.CRITICAL
        org.advance(minutes=1)
        org.update_incident(incident, impact="critical")
        assert org.names() == ["incident.updated"]
        after = org.state.incidents[incident]
        assert (after.impact, after.impact_override, after.updated_at) == (
            Impact.CRITICAL,
            True,
            at(minutes=1),
        )


def test_a_retried_resolve_changes_nothing(org: Harness) -> None:
    api = org.add_service("API")
    incident = org.open_incident("Down", services={api: "major_outage"})
    org.resolve(incident)
    resolved = org.state.incidents[incident]
    org.advance(minutes=5)
    org.resolve(incident)  # a client retrying after a timeout
    assert org.names() == []
    assert org.state.incidents[incident] == resolved
    org.resolve(incident, body="Root cause: a full disk.")  # a note is still welcome
    assert org.names() == ["incident.updated"]
    assert org.state.incidents[incident].updates[-1].body == "Root cause: a full disk."
    assert org.state.incidents[incident].resolved_at == resolved.resolved_at
