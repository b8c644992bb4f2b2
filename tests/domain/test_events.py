"""Events: replay, sequence numbers, public data, and decide's purity."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from domain_support import T0, Harness, at, random_program, replay, run_program, to_command
from hypothesis import HealthCheck, given, settings

from server.domain import commands as c
from server.domain import rules
from server.domain.events import PUBLIC_EVENTS, Event, apply, public_data
from server.domain.model import OrgState
from server.errors import DomainError

INTERNAL_KEYS = frozenset(
    {
        "author",
        "manual_status",
        "impact_override",
        "auto_start",
        "auto_complete",
        "notes_room",
    }
)
MEMBERS_ONLY = frozenset({"org.created", "org.deleted"})

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strip_internal(value: Any) -> Any:
    """``value`` without the internal keys, at any depth."""
    if isinstance(value, dict):
        return {k: strip_internal(v) for k, v in value.items() if k not in INTERNAL_KEYS}
    if isinstance(value, list):
        return [strip_internal(v) for v in value]
    return value


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


def busy_org() -> Harness:
    """An org that has been through a bit of everything."""
    org = Harness()
    org.add_service("API", group="Core")
    org.add_service("DB", group="Core")
    org.add_service("Web")
    incident = org.open_incident("Outage", {"API": "major_outage", "DB": "degraded_performance"})
    org.advance(minutes=5)
    org.update_incident(incident, status="identified", services={"Web": "partial_outage"})
    org.schedule(["DB"], start=at(minutes=-1), until=at(hours=1))
    org.advance(minutes=5)
    org.resolve(incident)
    org.schedule(["API", "Web"], start=at(hours=2), until=at(hours=3), auto_complete=False)
    org.tick(at(hours=2))
    org.do("service.update", {"service": "Web", "group": "Edge"})
    org.do("org.update", {"name": "Acme"})
    return org


class TestReplay:
    def test_busy_org_replays_to_the_same_state(self) -> None:
        org = busy_org()
        rebuilt = replay(org.log)
        assert rebuilt == org.state
        assert rebuilt.to_dict() == org.state.to_dict()

    def test_replay_from_serialized_events(self) -> None:
        org = busy_org()
        stored = [Event.from_dict(json.loads(json.dumps(e.to_dict()))) for e in org.log]
        assert stored == org.log
        assert replay(stored) == org.state

    @SETTINGS
    @given(program=random_program())
    def test_random_programs_replay_to_the_same_state(self, program: list[tuple[Any, ...]]) -> None:
        h = Harness()
        for _ in run_program(h, program):
            pass
        rebuilt = replay(h.log)
        assert rebuilt.to_dict() == h.state.to_dict()
        assert rebuilt == h.state

    def test_unknown_event_is_refused(self) -> None:
        state = Harness().state.fork()
        with pytest.raises(ValueError, match=r"unknown event 'widget\.created' at version 9"):
            apply(state, Event(9, None, "widget.created", {}, T0, None))
        with pytest.raises(ValueError, match="unknown event"):
            apply(state, Event(9, None, "status.exploded", {}, T0, None))

    def test_apply_deleted_of_an_unknown_id_is_harmless(self) -> None:
        state = Harness().state.fork()
        apply(
            state, Event(2, 1, "service.deleted", {"id": "ghost", "name": "x"}, at(minutes=1), None)
        )
        assert state.services == {}
        assert (state.version, state.public_seq, state.updated_at) == (2, 1, at(minutes=1))


class TestRoundTrips:
    def test_org_state(self) -> None:
        state = busy_org().state
        assert OrgState.from_dict(json.loads(json.dumps(state.to_dict()))) == state

    @SETTINGS
    @given(program=random_program())
    def test_org_state_after_random_programs(self, program: list[tuple[Any, ...]]) -> None:
        h = Harness()
        for _ in run_program(h, program):
            pass
        data = json.loads(json.dumps(h.state.to_dict()))
        again = OrgState.from_dict(data)
        assert again == h.state
        assert again.to_dict() == data

    def test_event(self) -> None:
        for event in busy_org().log:
            data = event.to_dict()
            assert set(data) == {"version", "public_seq", "name", "data", "at", "author"}
            assert Event.from_dict(json.loads(json.dumps(data))) == event

    def test_times_are_utc_milliseconds(self) -> None:
        event = busy_org().log[-1]
        assert event.to_dict()["at"] == "2026-01-01T12:10:00.000Z"

    def test_fork_is_independent(self) -> None:
        state = busy_org().state
        fork = state.fork()
        assert fork == state
        fork.services.clear()
        fork.version += 1
        assert state.services
        assert fork != state

    def test_BUG_snapshot_equals_live_state_with_a_microsecond_clock(self) -> None:
        # Was a bug: Event.at and OrgState.updated_at kept the clock's
        # microseconds. decide and new_org now cut ctx.now to milliseconds.
        org = Harness(now=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))
        org.add_service("API")
        org.open_incident(services={"API": "major_outage"})
        org.schedule(["API"], start=at(minutes=-1), until=at(hours=1))
        assert OrgState.from_dict(org.state.to_dict()) == org.state
        stored = [Event.from_dict(json.loads(json.dumps(e.to_dict()))) for e in org.log]
        assert stored == org.log
        assert replay(stored) == org.state
        millisecond = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
        assert {e.at for e in org.log} == {millisecond}
        assert org.state.updated_at == millisecond
        assert org.state.org.created_at == millisecond
        assert org.service("API").updated_at == millisecond

    def test_the_clock_is_truncated_not_rounded(self) -> None:
        org = Harness(now=datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC))
        decision = org.do("service.create", {"name": "API"})
        moment = datetime(2026, 1, 1, 12, 0, 0, 999000, tzinfo=UTC)
        assert decision.events[0].at == moment
        assert org.service("API").created_at == moment
        assert decision.result["created_at"] == "2026-01-01T12:00:00.999Z"


class TestSequenceNumbers:
    def test_member_only_events(self) -> None:
        assert {"org.created", "org.deleted"}.isdisjoint(PUBLIC_EVENTS)
        assert {
            "org.updated",
            "service.updated",
            "incident.updated",
            "maintenance.updated",
            "status.changed",
        } <= PUBLIC_EVENTS

    @SETTINGS
    @given(program=random_program())
    def test_version_and_public_seq(self, program: list[tuple[Any, ...]]) -> None:
        h = Harness()
        for step in run_program(h, program):
            if step.decision is None:
                continue
            events = step.decision.events
            # version: one more per event, continuing from the state's
            assert [e.version for e in events] == list(
                range(step.before.version + 1, step.before.version + 1 + len(events))
            )
            # public_seq: one more per public event, None for members-only ones
            seq = step.before.public_seq
            for e in events:
                assert e.name in PUBLIC_EVENTS or e.name in MEMBERS_ONLY
                if e.name in PUBLIC_EVENTS:
                    seq += 1
                    assert e.public_seq == seq
                else:
                    assert e.public_seq is None
                assert e.at == h.now
                assert e.author == "alice"
            assert step.decision.state.public_seq == seq
            assert step.decision.state.version == step.before.version + len(events)
            if events:
                assert step.decision.state.updated_at == h.now
        assert [e.version for e in h.log] == list(range(1, len(h.log) + 1))
        assert h.state.version == len(h.log)
        assert h.state.public_seq == sum(e.name in PUBLIC_EVENTS for e in h.log)

    def test_no_events_no_version_change(self, org: Harness) -> None:
        org.add_service("API")
        before = org.state
        org.do("service.update", {"service": "API"})
        assert org.state.version == before.version
        assert org.state.public_seq == before.public_seq
        assert org.state.updated_at == before.updated_at


class TestOrder:
    @SETTINGS
    @given(program=random_program())
    def test_causes_come_first_and_status_changed_last(
        self, program: list[tuple[Any, ...]]
    ) -> None:
        h = Harness()
        for step in run_program(h, program):
            if step.decision is None:
                continue
            seen: set[str] = set()  # ids of incidents and maintenances emitted so far
            names = [e.name for e in step.decision.events]
            for e in step.decision.events:
                kind, _, what = e.name.partition(".")
                if kind in ("incident", "maintenance"):
                    seen.add(e.data["id"] if what == "deleted" else e.data[kind]["id"])
                if "cause" in e.data:
                    assert e.name == "service.updated"
                    assert e.data["cause"] in seen, names
                if "previous_status" in e.data:
                    assert e.data["previous_status"] != e.data["service"]["status"]
            if "status.changed" in names:
                assert names.index("status.changed") == len(names) - 1

    def test_incident_update_then_services(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        incident = org.open_incident(services={"API": "degraded_performance"})
        decision = org.update_incident(
            incident, status="identified", services={"API": "major_outage", "DB": "partial_outage"}
        )
        assert org.names() == [
            "incident.updated",
            "service.updated",
            "service.updated",
            "status.changed",
        ]
        assert [
            (e.data["service"]["name"], e.data["previous_status"], e.data["cause"])
            for e in decision.events[1:3]
        ] == [("API", "degraded_performance", incident), ("DB", "operational", incident)]


class TestEntitiesInEvents:
    @SETTINGS
    @given(program=random_program())
    def test_events_carry_whole_entities_as_they_end_up(
        self, program: list[tuple[Any, ...]]
    ) -> None:
        h = Harness()
        tables = {
            "service": "services",
            "incident": "incidents",
            "maintenance": "maintenances",
            "group": "groups",
        }
        for step in run_program(h, program):
            if step.decision is None:
                continue
            final: dict[tuple[str, str], Any] = {}
            for e in step.decision.events:
                kind, _, what = e.name.partition(".")
                if kind not in tables:
                    continue
                if what == "deleted":
                    final[(kind, e.data["id"])] = None
                else:
                    final[(kind, e.data[kind]["id"])] = e.data[kind]
            for (kind, entity_id), data in final.items():
                table = getattr(h.state, tables[kind])
                if data is None:
                    assert entity_id not in table
                else:
                    assert table[entity_id].to_dict() == data

    def test_results_are_json_ready(self) -> None:
        org = busy_org()
        json.dumps(org.last.result)
        json.dumps([e.to_dict() for e in org.log])


class TestPublicData:
    def test_incident_event(self, org: Harness) -> None:
        org.add_service("API")
        decision = org.do(
            "incident.create", {"name": "x", "services": {"API": "major_outage"}, "impact": "minor"}
        )
        event = next(e for e in decision.events if e.name == "incident.created")
        assert event.data["incident"]["impact_override"] is True
        assert event.data["incident"]["updates"][0]["author"] == "alice"
        public = public_data(event)
        assert "impact_override" not in public["incident"]
        assert "author" not in public["incident"]["updates"][0]
        assert public["incident"]["impact"] == "minor"
        assert public == strip_internal(event.data)

    def test_maintenance_event(self, org: Harness) -> None:
        decision = org.do(
            "maintenance.schedule",
            {
                "name": "m",
                "scheduled_for": "2026-01-02T00:00:00Z",
                "scheduled_until": "2026-01-02T01:00:00Z",
                "auto_start": False,
            },
        )
        public = public_data(decision.events[0])
        assert not {"auto_start", "auto_complete"} & set(public["maintenance"])
        assert "author" not in public["maintenance"]["updates"][0]
        assert public == strip_internal(decision.events[0].data)

    def test_service_event_keeps_its_extras(self, org: Harness) -> None:
        org.add_service("API")
        org.schedule(["API"], start=at(minutes=-1), until=at(hours=1))
        event = next(e for e in org.last.events if e.name == "service.updated")
        assert event.data["service"]["manual_status"] == "operational"
        public = public_data(event)
        assert "manual_status" not in public["service"]
        assert public["previous_status"] == "operational"
        assert public["cause"] == event.data["cause"]
        assert public["service"]["status"] == "under_maintenance"

    def test_other_events_pass_through(self, org: Harness) -> None:
        org.do("service.create", {"name": "API", "group": "Core", "status": "major_outage"})
        for event in org.last.events:
            if event.name in ("group.created", "status.changed"):
                assert public_data(event) == event.data

    @SETTINGS
    @given(program=random_program())
    def test_public_data_never_leaks_internals(self, program: list[tuple[Any, ...]]) -> None:
        h = Harness()
        for _ in run_program(h, program):
            pass
        for event in h.log:
            original = copy.deepcopy(dict(event.data))
            public = public_data(event)
            assert not keys_anywhere(public) & INTERNAL_KEYS, event.name
            assert public == strip_internal(original)
            assert event.data == original  # not changed in place


class TestPurity:
    @SETTINGS
    @given(program=random_program())
    def test_decide_never_mutates_its_input(self, program: list[tuple[Any, ...]]) -> None:
        h = Harness()
        for op in program:
            command = to_command(h, op)
            if command is None:
                continue
            state = h.state
            snapshot = copy.deepcopy(state.to_dict())
            tables = (
                dict(state.services),
                dict(state.incidents),
                dict(state.maintenances),
                dict(state.groups),
            )
            try:
                decision = rules.decide(state, command, h.ctx())
            except DomainError:
                decision = None
            assert state.to_dict() == snapshot
            assert (state.services, state.incidents, state.maintenances, state.groups) == tables
            if decision is not None:
                assert decision.state is not state
                h.state = decision.state
                h.log.extend(decision.events)

    def test_a_failing_command_leaves_everything(self, org: Harness) -> None:
        org.add_service("API")
        org.open_incident("A", {"API": "partial_outage"})
        state = org.state
        snapshot = copy.deepcopy(state.to_dict())
        # fails half-way: the first service is found, the second is not
        with pytest.raises(DomainError):
            rules.decide(
                state,
                c.parse_command(
                    "incident.create",
                    {"name": "B", "services": {"API": "major_outage", "nope": "major_outage"}},
                ),
                org.ctx(),
            )
        assert state.to_dict() == snapshot

    def test_a_refused_update_leaves_no_group_behind(self, org: Harness) -> None:
        # The update names a new group (which would be created) and a clashing name.
        org.add_service("API")
        org.add_service("DB")
        state = org.state
        snapshot = copy.deepcopy(state.to_dict())
        with pytest.raises(DomainError):
            rules.decide(
                state,
                c.parse_command("service.update", {"service": "DB", "group": "New", "name": "API"}),
                org.ctx(),
            )
        assert state.to_dict() == snapshot
        assert state.groups == {}
