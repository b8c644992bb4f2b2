"""Scheduled maintenance: lifecycle, windows, timers and what it does to services."""

from __future__ import annotations

import itertools

import pytest
from domain_support import T0, Harness, at, stamp

from server.domain.model import (
    DEFAULT_BODIES,
    MAINTENANCE_MOVES,
    MAINTENANCE_OVER,
    MAINTENANCE_RUNNING,
    MaintenanceStatus,
    ServiceStatus,
    check_maintenance_move,
)
from server.errors import InvalidTransition, ValidationError

M = MaintenanceStatus
OP = ServiceStatus.OPERATIONAL
DEG = ServiceStatus.DEGRADED_PERFORMANCE
PART = ServiceStatus.PARTIAL_OUTAGE
MAJ = ServiceStatus.MAJOR_OUTAGE
UM = ServiceStatus.UNDER_MAINTENANCE
ALL_PAIRS = list(itertools.product(MaintenanceStatus, MaintenanceStatus))


def move(org: Harness, maintenance: str, status: str, **fields: object) -> None:
    org.do("maintenance.update", {"maintenance": maintenance, "status": status, **fields})


def maintenance_in(org: Harness, status: MaintenanceStatus) -> str:
    """A maintenance (over API, 1h from now to 3h from now) that reached ``status``."""
    maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=3))
    path = {
        M.SCHEDULED: [],
        M.IN_PROGRESS: ["in_progress"],
        M.VERIFYING: ["in_progress", "verifying"],
        M.COMPLETED: ["in_progress", "completed"],
        M.CANCELLED: ["cancelled"],
    }[status]
    for step in path:
        move(org, maintenance, step)
    return maintenance


@pytest.fixture
def api(org: Harness) -> Harness:
    org.add_service("API")
    return org


class TestMoves:
    def test_the_table(self) -> None:
        assert {M.IN_PROGRESS, M.VERIFYING} == MAINTENANCE_RUNNING
        assert {M.COMPLETED, M.CANCELLED} == MAINTENANCE_OVER
        assert dict(MAINTENANCE_MOVES) == {
            M.SCHEDULED: {M.SCHEDULED, M.IN_PROGRESS, M.CANCELLED},
            M.IN_PROGRESS: {M.IN_PROGRESS, M.VERIFYING, M.COMPLETED},
            M.VERIFYING: {M.VERIFYING, M.IN_PROGRESS, M.COMPLETED},
            M.COMPLETED: set(),
            M.CANCELLED: set(),
        }

    @pytest.mark.parametrize(("old", "new"), ALL_PAIRS)
    def test_check_maintenance_move(self, old: MaintenanceStatus, new: MaintenanceStatus) -> None:
        if new in MAINTENANCE_MOVES[old]:
            check_maintenance_move(old, new)
            return
        with pytest.raises(InvalidTransition) as info:
            check_maintenance_move(old, new)
        assert info.value.code == "invalid_transition"
        message = info.value.message
        assert message.startswith(f"maintenance status {old} -> {new} is not allowed: ")
        if old in MAINTENANCE_OVER:
            assert message.endswith(f"a {old} maintenance is over and cannot change")
        elif new is M.CANCELLED:
            assert message.endswith(
                "only a maintenance that has not started can be cancelled; complete it instead"
            )
        else:
            assert message.endswith(
                "maintenance runs scheduled -> in_progress -> verifying -> completed"
            )

    @pytest.mark.parametrize(("old", "new"), ALL_PAIRS)
    def test_every_pair_through_maintenance_update(
        self, api: Harness, old: MaintenanceStatus, new: MaintenanceStatus
    ) -> None:
        org = api
        maintenance = maintenance_in(org, old)
        assert org.maintenance_status(maintenance) is old
        before = org.state
        if new in MAINTENANCE_MOVES[old]:
            move(org, maintenance, new.value)
            after = org.state.maintenances[maintenance]
            assert after.status is new
            if new is old:
                assert org.last.events == []  # nothing to say, nothing said
            else:
                assert after.updates[-1].status == new.value
                assert after.updates[-1].body == DEFAULT_BODIES[new.value]
            assert (org.status("API") is UM) is (new in MAINTENANCE_RUNNING)
        else:
            with pytest.raises(InvalidTransition) as info:
                move(org, maintenance, new.value)
            assert info.value.code == "invalid_transition"
            if old in MAINTENANCE_OVER:
                assert info.value.message == f"maintenance 'Upgrade' is {old} and cannot change"
            else:
                assert f"{old} -> {new}" in info.value.message
            assert org.state is before

    @pytest.mark.parametrize("old", [M.IN_PROGRESS, M.VERIFYING, M.COMPLETED, M.CANCELLED])
    def test_cancel_only_from_scheduled(self, api: Harness, old: MaintenanceStatus) -> None:
        org = api
        maintenance = maintenance_in(org, old)
        before = org.state
        with pytest.raises(InvalidTransition) as info:
            org.do("maintenance.cancel", {"maintenance": maintenance})
        assert info.value.code == "invalid_transition"
        if old in MAINTENANCE_OVER:
            assert info.value.message == f"maintenance 'Upgrade' is {old} and cannot change"
        else:
            assert info.value.message == (
                f"maintenance status {old} -> cancelled is not allowed: "
                "only a maintenance that has not started can be cancelled; complete it instead"
            )
        assert org.state is before

    def test_cancel_a_scheduled_maintenance(self, api: Harness) -> None:
        org = api
        maintenance = maintenance_in(org, M.SCHEDULED)
        org.advance(minutes=5)
        decision = org.do("maintenance.cancel", {"maintenance": maintenance, "body": "Not needed"})
        assert org.names() == ["maintenance.updated"]
        after = org.state.maintenances[maintenance]
        assert after.status is M.CANCELLED
        assert [(u.status, u.body) for u in after.updates] == [
            ("scheduled", DEFAULT_BODIES["scheduled"]),
            ("cancelled", "Not needed"),
        ]
        assert after.completed_at is None
        assert after.started_at is None
        assert after.updated_at == at(minutes=5)
        assert decision.result == after.to_dict()
        assert org.status("API") is OP
        assert after.next_due() is None

    def test_BUG_a_cancelled_maintenance_cannot_be_cancelled_again(self, api: Harness) -> None:
        # Was a bug (a second cancel succeeded, emitted maintenance.updated and
        # appended a timeline entry); now refused like any change to a maintenance that is over.
        org = api
        maintenance = maintenance_in(org, M.CANCELLED)
        org.advance(minutes=1)
        before = org.state
        with pytest.raises(InvalidTransition) as info:
            org.do("maintenance.cancel", {"maintenance": maintenance, "body": "cancelled again"})
        assert info.value.message == "maintenance 'Upgrade' is cancelled and cannot change"
        assert org.state is before
        assert [u.body for u in org.state.maintenances[maintenance].updates] == [
            DEFAULT_BODIES["scheduled"],
            DEFAULT_BODIES["cancelled"],
        ]


class TestSchedule:
    def test_result_and_events(self, api: Harness) -> None:
        org = api
        decision = org.do(
            "maintenance.schedule",
            {
                "name": "DB upgrade",
                "scheduled_for": stamp(at(hours=1)),
                "scheduled_until": stamp(at(hours=2)),
                "services": ["api", "API", "id2"],
                "body": "We will upgrade the database",
            },
        )
        assert org.names() == ["maintenance.created"]
        maintenance = org.state.maintenances[decision.result["id"]]
        assert decision.result == maintenance.to_dict()
        # Its services by name beside it: what notifications tell.
        assert decision.events[0].data == {
            "maintenance": decision.result,
            "services": [{"id": "id2", "name": "API"}],
        }
        assert maintenance.service_ids == ("id2",)  # duplicates collapse
        assert (maintenance.status, maintenance.scheduled_for, maintenance.scheduled_until) == (
            M.SCHEDULED,
            at(hours=1),
            at(hours=2),
        )
        assert (maintenance.auto_start, maintenance.auto_complete) == (True, True)
        assert (maintenance.created_at, maintenance.updated_at) == (T0, T0)
        assert (maintenance.started_at, maintenance.completed_at) == (None, None)
        (update,) = maintenance.updates
        assert (update.status, update.body, update.author, update.created_at) == (
            "scheduled",
            "We will upgrade the database",
            "alice",
            T0,
        )
        assert org.status("API") is OP

    def test_default_body(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=at(hours=1), until=at(hours=2))
        assert (
            api.state.maintenances[maintenance].updates[0].body == "This maintenance is scheduled."
        )

    @pytest.mark.parametrize("until", [at(hours=1), at(minutes=59)])
    def test_until_must_be_after_for(self, api: Harness, until: object) -> None:
        before = api.state
        with pytest.raises(ValidationError) as info:
            api.schedule(["API"], start=at(hours=1), until=until)  # type: ignore[arg-type]
        assert info.value.field == "scheduled_until"
        assert info.value.message == "scheduled_until must be after scheduled_for"
        assert api.state is before

    @pytest.mark.parametrize("until", [T0, at(minutes=-1)])
    def test_until_must_be_in_the_future(self, api: Harness, until: object) -> None:
        with pytest.raises(ValidationError) as info:
            api.schedule(["API"], start=at(hours=-2), until=until)  # type: ignore[arg-type]
        assert info.value.field == "scheduled_until"
        assert (
            info.value.message
            == "scheduled_until is already past; a maintenance must end in the future"
        )

    def test_starting_in_the_past_starts_it_now(self, api: Harness) -> None:
        org = api
        org.set_status("API", "degraded_performance")
        decision = org.do(
            "maintenance.schedule",
            {
                "name": "Late",
                "scheduled_for": stamp(at(minutes=-30)),
                "scheduled_until": stamp(at(hours=1)),
                "services": ["API"],
            },
        )
        assert org.names() == [
            "maintenance.created",
            "maintenance.updated",
            "service.updated",
            "status.changed",
        ]
        maintenance = org.state.maintenances[decision.result["id"]]
        assert decision.result["status"] == "in_progress"
        assert maintenance.status is M.IN_PROGRESS
        assert maintenance.started_at == T0
        assert [u.status for u in maintenance.updates] == ["scheduled", "in_progress"]
        service = org.service("API")
        assert (service.status, service.manual) == (UM, DEG)
        # The update that started it records the move, as an incident's would.
        (moved,) = maintenance.updates[-1].affected
        assert (moved.name, moved.old_status, moved.new_status) == ("API", DEG, UM)
        assert decision.events[2].data["cause"] == maintenance.id
        assert decision.events[2].data["previous_status"] == "degraded_performance"
        assert org.state.status.indicator == "maintenance"

    def test_starting_exactly_now_starts_it(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=T0, until=at(hours=1))
        assert api.maintenance_status(maintenance) is M.IN_PROGRESS

    def test_past_start_without_auto_start_stays_scheduled(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=at(hours=-1), until=at(hours=1), auto_start=False)
        assert api.maintenance_status(maintenance) is M.SCHEDULED
        assert api.status("API") is OP
        assert api.state.maintenances[maintenance].next_due() is None


class TestTicks:
    def test_tick_before_time_does_nothing(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        decision = org.tick(at(minutes=59, seconds=59))
        assert decision.events == []
        assert decision.result is None
        assert org.maintenance_status(maintenance) is M.SCHEDULED

    def test_tick_at_scheduled_for_starts_and_at_until_completes(self, api: Harness) -> None:
        org = api
        org.add_service("DB", status="partial_outage")
        maintenance = org.schedule(["API", "DB"], start=at(hours=1), until=at(hours=2))
        org.tick(at(hours=1))
        assert org.names() == [
            "maintenance.updated",
            "service.updated",
            "service.updated",
            "status.changed",
        ]
        m = org.state.maintenances[maintenance]
        assert (m.status, m.started_at, m.updated_at) == (M.IN_PROGRESS, at(hours=1), at(hours=1))
        assert m.updates[-1].body == DEFAULT_BODIES["in_progress"]
        assert (org.service("API").status, org.service("API").manual) == (UM, OP)
        assert (org.service("DB").status, org.service("DB").manual) == (UM, PART)
        assert org.service("API").updated_at == at(hours=1)
        assert org.state.status.description == "Service Under Maintenance"

        org.tick(at(hours=1, minutes=59))
        assert org.last.events == []
        org.tick(at(hours=2))
        assert org.names() == [
            "maintenance.updated",
            "service.updated",
            "service.updated",
            "status.changed",
        ]
        m = org.state.maintenances[maintenance]
        assert (m.status, m.completed_at) == (M.COMPLETED, at(hours=2))
        assert m.updates[-1].body == DEFAULT_BODIES["completed"]
        assert (org.service("API").status, org.service("DB").status) == (OP, PART)
        assert [(a.name, a.old_status, a.new_status) for a in m.updates[-1].affected] == [
            ("API", UM, OP),
            ("DB", UM, PART),
        ]
        assert org.state.status.description == "Partial System Outage"

    def test_a_late_tick_starts_and_completes_at_once(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        org.tick(at(hours=5))
        m = org.state.maintenances[maintenance]
        assert m.status is M.COMPLETED
        assert [u.status for u in m.updates] == ["scheduled", "in_progress", "completed"]
        assert m.started_at == m.completed_at == at(hours=5)
        assert org.status("API") is OP
        assert "status.changed" not in org.names()

    def test_auto_start_off(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2), auto_start=False)
        assert org.state.next_due() is None
        org.tick(at(hours=1))
        assert org.last.events == []
        assert org.maintenance_status(maintenance) is M.SCHEDULED
        org.now = at(hours=1, minutes=30)
        move(org, maintenance, "in_progress")
        assert org.status("API") is UM
        assert org.state.maintenances[maintenance].started_at == at(hours=1, minutes=30)
        # auto_complete still applies once started
        assert org.state.next_due() == at(hours=2)
        org.tick(at(hours=2))
        assert org.maintenance_status(maintenance) is M.COMPLETED

    def test_auto_complete_off(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(
            ["API"], start=at(hours=1), until=at(hours=2), auto_complete=False
        )
        org.tick(at(hours=1))
        assert org.maintenance_status(maintenance) is M.IN_PROGRESS
        assert org.state.next_due() is None
        org.tick(at(hours=10))
        assert org.last.events == []
        assert org.status("API") is UM
        org.now = at(hours=11)
        move(org, maintenance, "completed")
        assert org.status("API") is OP
        assert org.state.maintenances[maintenance].completed_at == at(hours=11)

    def test_tick_handles_every_due_maintenance(self, api: Harness) -> None:
        org = api
        org.add_service("DB")
        first = org.schedule(["API"], start=at(hours=1), until=at(hours=2), name="one")
        second = org.schedule(["DB"], start=at(hours=1, minutes=30), until=at(hours=3), name="two")
        org.tick(at(hours=2, minutes=30))
        assert org.maintenance_status(first) is M.COMPLETED
        assert org.maintenance_status(second) is M.IN_PROGRESS
        assert org.statuses() == {"API": "operational", "DB": "under_maintenance"}

    def test_turning_auto_start_on_when_already_due_starts_it(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=-1), until=at(hours=1), auto_start=False)
        org.do("maintenance.update", {"maintenance": maintenance, "auto_start": True})
        assert org.maintenance_status(maintenance) is M.IN_PROGRESS
        assert org.status("API") is UM

    def test_moving_scheduled_for_into_the_past_starts_it(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        org.do(
            "maintenance.update",
            {"maintenance": maintenance, "scheduled_for": stamp(at(minutes=-5))},
        )
        m = org.state.maintenances[maintenance]
        assert (m.status, m.scheduled_for) == (M.IN_PROGRESS, at(minutes=-5))


class TestNextDue:
    def test_per_maintenance(self, api: Harness) -> None:
        org = api
        plain = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        manual = org.schedule(
            ["API"], start=at(hours=1), until=at(hours=2), auto_start=False, auto_complete=False
        )
        m = org.state.maintenances
        assert m[plain].next_due() == at(hours=1)
        assert m[manual].next_due() is None
        move(org, plain, "in_progress")
        move(org, manual, "in_progress")
        m = org.state.maintenances
        assert m[plain].next_due() == at(hours=2)
        assert m[manual].next_due() is None
        move(org, plain, "verifying")
        assert org.state.maintenances[plain].next_due() == at(hours=2)
        move(org, plain, "completed")
        assert org.state.maintenances[plain].next_due() is None

    def test_cancelled_is_never_due(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=at(hours=1), until=at(hours=2))
        api.do("maintenance.cancel", {"maintenance": maintenance})
        assert api.state.maintenances[maintenance].next_due() is None
        assert api.state.next_due() is None

    def test_org_next_due_is_the_earliest(self, api: Harness) -> None:
        org = api
        assert org.state.next_due() is None
        org.schedule(["API"], start=at(hours=5), until=at(hours=6))
        assert org.state.next_due() == at(hours=5)
        org.schedule(["API"], start=at(hours=3), until=at(hours=7))
        assert org.state.next_due() == at(hours=3)
        org.schedule(["API"], start=at(hours=-1), until=at(hours=4))  # running: due at its end
        assert org.state.next_due() == at(hours=3)
        org.tick(at(hours=3))
        assert org.state.next_due() == at(hours=4)


class TestUpdate:
    def test_rename_and_reschedule(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        org.advance(minutes=1)
        org.do(
            "maintenance.update",
            {
                "maintenance": maintenance,
                "name": "Bigger upgrade",
                "scheduled_for": stamp(at(hours=3)),
                "scheduled_until": stamp(at(hours=5)),
            },
        )
        assert org.names() == ["maintenance.updated"]
        m = org.state.maintenances[maintenance]
        assert (m.name, m.scheduled_for, m.scheduled_until, m.updated_at) == (
            "Bigger upgrade",
            at(hours=3),
            at(hours=5),
            at(minutes=1),
        )
        assert len(m.updates) == 1  # no status change and no body: no timeline entry

    def test_body_only_adds_an_entry_with_the_current_status(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=at(hours=1), until=at(hours=2))
        api.do("maintenance.update", {"maintenance": maintenance, "body": "Reminder"})
        assert [(u.status, u.body) for u in api.state.maintenances[maintenance].updates][-1] == (
            "scheduled",
            "Reminder",
        )

    @pytest.mark.parametrize(
        "data", [{}, {"body": ""}, {"status": "scheduled"}, {"name": "Upgrade"}]
    )
    def test_nothing_to_change_no_event(self, api: Harness, data: dict[str, str]) -> None:
        maintenance = api.schedule(["API"], start=at(hours=1), until=at(hours=2))
        before = api.state
        decision = api.do("maintenance.update", {"maintenance": maintenance, **data})
        assert decision.events == []
        assert decision.result == before.maintenances[maintenance].to_dict()

    def test_window_checked_on_update(self, api: Harness) -> None:
        maintenance = api.schedule(["API"], start=at(hours=1), until=at(hours=2))
        with pytest.raises(ValidationError, match="scheduled_until must be after scheduled_for"):
            api.do(
                "maintenance.update",
                {"maintenance": maintenance, "scheduled_for": stamp(at(hours=2))},
            )
        with pytest.raises(ValidationError, match="already past"):
            api.do(
                "maintenance.update",
                {
                    "maintenance": maintenance,
                    "scheduled_for": stamp(at(hours=-3)),
                    "scheduled_until": stamp(at(hours=-2)),
                },
            )

    def test_services_of_a_scheduled_maintenance_can_change(self, api: Harness) -> None:
        org = api
        org.add_service("DB")
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        org.do("maintenance.update", {"maintenance": maintenance, "services": ["DB"]})
        assert org.state.maintenances[maintenance].service_ids == ("id3",)
        org.tick(at(hours=1))
        assert org.statuses() == {"API": "operational", "DB": "under_maintenance"}

    @pytest.mark.parametrize("status", [M.IN_PROGRESS, M.VERIFYING])
    def test_services_of_a_running_maintenance_cannot_change(
        self, api: Harness, status: MaintenanceStatus
    ) -> None:
        org = api
        org.add_service("DB")
        maintenance = maintenance_in(org, status)
        before = org.state
        with pytest.raises(InvalidTransition) as info:
            org.do("maintenance.update", {"maintenance": maintenance, "services": ["API", "DB"]})
        assert info.value.field == "services"
        assert info.value.message == (
            "the services of a running maintenance cannot change; complete it and schedule another"
        )
        assert org.state is before

    def test_a_started_maintenance_keeps_its_start_time(self, api: Harness) -> None:
        maintenance = maintenance_in(api, M.IN_PROGRESS)
        with pytest.raises(InvalidTransition) as info:
            api.do(
                "maintenance.update",
                {"maintenance": maintenance, "scheduled_for": stamp(at(hours=2))},
            )
        assert info.value.field == "scheduled_for"
        assert info.value.message == "a maintenance that has started keeps its start time"

    def test_a_running_maintenance_can_be_extended(self, api: Harness) -> None:
        maintenance = maintenance_in(api, M.IN_PROGRESS)
        api.do(
            "maintenance.update",
            {"maintenance": maintenance, "scheduled_until": stamp(at(hours=8))},
        )
        assert api.state.maintenances[maintenance].scheduled_until == at(hours=8)
        assert api.state.next_due() == at(hours=8)

    def test_the_unchanged_window_of_an_overdue_maintenance_is_not_revalidated(
        self, api: Harness
    ) -> None:
        # A client sends the whole maintenance back, including its (now past)
        # scheduled_until and the start time it can no longer change.
        org = api
        maintenance = org.schedule(
            ["API"], start=at(hours=-1), until=at(hours=1), auto_complete=False
        )
        org.now = at(hours=2)
        window = {
            "scheduled_for": stamp(at(hours=-1)),
            "scheduled_until": stamp(at(hours=1)),
        }
        before = org.state
        decision = org.do("maintenance.update", {"maintenance": maintenance, **window})
        assert decision.events == []
        assert org.state.maintenances == before.maintenances
        org.do("maintenance.update", {"maintenance": maintenance, **window, "name": "Longer"})
        assert org.names() == ["maintenance.updated"]
        m = org.state.maintenances[maintenance]
        assert (m.name, m.status, m.scheduled_for, m.scheduled_until, m.updated_at) == (
            "Longer",
            M.IN_PROGRESS,
            at(hours=-1),
            at(hours=1),
            at(hours=2),
        )

    def test_a_changed_window_is_still_checked(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(
            ["API"], start=at(hours=-1), until=at(hours=1), auto_complete=False
        )
        org.now = at(hours=2)
        before = org.state
        with pytest.raises(ValidationError) as info:
            org.do(
                "maintenance.update",
                {"maintenance": maintenance, "scheduled_until": stamp(at(hours=1, minutes=30))},
            )
        assert (info.value.field, info.value.message) == (
            "scheduled_until",
            "scheduled_until is already past; a maintenance must end in the future",
        )
        with pytest.raises(InvalidTransition) as started:
            org.do(
                "maintenance.update",
                {
                    "maintenance": maintenance,
                    "scheduled_for": stamp(at(hours=-2)),
                    "scheduled_until": stamp(at(hours=1)),
                },
            )
        assert started.value.field == "scheduled_for"
        assert org.state is before

    def test_same_window_at_sub_millisecond_precision_is_unchanged(self, api: Harness) -> None:
        # Times are kept to the millisecond: extra digits name the same instant.
        org = api
        maintenance = org.schedule(
            ["API"], start=at(hours=-1), until=at(hours=1), auto_complete=False
        )
        org.now = at(hours=2)
        decision = org.do(
            "maintenance.update",
            {"maintenance": maintenance, "scheduled_until": "2026-01-01T13:00:00.000999Z"},
        )
        assert decision.events == []

    @pytest.mark.parametrize("status", [M.COMPLETED, M.CANCELLED])
    @pytest.mark.parametrize(
        "data",
        [
            {"name": "x"},
            {"body": "note"},
            {"auto_start": False},
            {"scheduled_until": stamp(at(hours=9))},
            {},
        ],
    )
    def test_an_over_maintenance_cannot_change(
        self, api: Harness, status: MaintenanceStatus, data: dict[str, object]
    ) -> None:
        maintenance = maintenance_in(api, status)
        before = api.state
        with pytest.raises(InvalidTransition) as info:
            api.do("maintenance.update", {"maintenance": maintenance, **data})
        assert info.value.message == f"maintenance 'Upgrade' is {status} and cannot change"
        assert api.state is before

    def test_verifying_keeps_services_under_maintenance(self, api: Harness) -> None:
        maintenance = maintenance_in(api, M.IN_PROGRESS)
        started = api.state.maintenances[maintenance].started_at
        api.advance(minutes=10)
        move(api, maintenance, "verifying")
        assert api.names() == ["maintenance.updated"]
        assert api.status("API") is UM
        api.advance(minutes=10)
        move(api, maintenance, "in_progress")
        assert api.state.maintenances[maintenance].started_at == started
        assert api.status("API") is UM


class TestDelete:
    def test_delete_running_restores(self, api: Harness) -> None:
        maintenance = maintenance_in(api, M.IN_PROGRESS)
        decision = api.do("maintenance.delete", {"maintenance": maintenance})
        assert api.names() == ["maintenance.deleted", "service.updated", "status.changed"]
        assert decision.result == {"deleted": maintenance}
        assert api.status("API") is OP
        assert api.state.maintenances == {}

    def test_delete_scheduled(self, api: Harness) -> None:
        maintenance = maintenance_in(api, M.SCHEDULED)
        api.do("maintenance.delete", {"maintenance": maintenance})
        assert api.names() == ["maintenance.deleted"]
        assert api.last.events[0].data == {"id": maintenance}


class TestServicesDuringMaintenance:
    """A running maintenance holds its services under maintenance; when it
    ends, each shows at once what still holds it (incidents, monitors, what a
    person set), never a status remembered from before."""

    def test_overlapping_maintenances(self, api: Harness) -> None:
        org = api
        org.set_status("API", "degraded_performance")
        first = org.schedule(["API"], start=at(hours=1), until=at(hours=3), name="first")
        second = org.schedule(["API"], start=at(hours=2), until=at(hours=4), name="second")
        org.tick(at(hours=1))
        assert org.status("API") is UM
        org.tick(at(hours=2))
        assert org.names() == ["maintenance.updated"]  # already under maintenance
        org.tick(at(hours=3))
        assert org.maintenance_status(first) is M.COMPLETED
        assert org.status("API") is UM  # the second still holds it
        assert org.state.maintenances[first].updates[-1].affected == ()
        org.tick(at(hours=4))
        assert org.maintenance_status(second) is M.COMPLETED
        assert org.status("API") is DEG

    def test_overlap_where_the_later_one_ends_first(self, api: Harness) -> None:
        org = api
        outer = org.schedule(["API"], start=at(hours=1), until=at(hours=5), name="outer")
        inner = org.schedule(["API"], start=at(hours=2), until=at(hours=3), name="inner")
        org.tick(at(hours=3))
        assert org.maintenance_status(inner) is M.COMPLETED
        assert org.status("API") is UM
        org.tick(at(hours=5))
        assert org.maintenance_status(outer) is M.COMPLETED
        assert org.status("API") is OP

    def test_an_incident_opened_during_maintenance_shows_when_it_ends(self, api: Harness) -> None:
        org = api
        maintenance = org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        decision = org.do(
            "incident.create", {"name": "Broken", "services": {"API": "partial_outage"}}
        )
        assert org.status("API") is UM
        assert decision.result["updates"][0]["affected_services"] == []
        assert org.names() == ["incident.created", "status.changed"]
        # the incident's impact moves the page off "maintenance"
        assert org.state.status.indicator == "major"
        org.tick(at(hours=1))
        assert org.maintenance_status(maintenance) is M.COMPLETED
        assert org.status("API") is PART

    def test_the_worst_of_what_holds_it_shows_after(self, api: Harness) -> None:
        org = api
        org.set_status("API", "major_outage")
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.do("incident.create", {"name": "Meh", "services": {"API": "degraded_performance"}})
        org.tick(at(hours=1))
        assert org.status("API") is MAJ

    def test_an_incident_resolved_during_maintenance_holds_nothing_after(
        self, api: Harness
    ) -> None:
        org = api
        incident = org.open_incident(services={"API": "major_outage"})
        org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        org.tick(at(hours=1))
        org.now = at(hours=1, minutes=30)
        org.resolve(incident)
        assert org.status("API") is UM
        assert org.state.incidents[incident].updates[-1].affected == ()
        assert "service.updated" not in org.names()
        org.tick(at(hours=2))
        assert org.status("API") is OP

    def test_an_incident_resolved_during_maintenance_leaves_the_others(self, api: Harness) -> None:
        org = api
        big = org.open_incident("big", {"API": "major_outage"})
        org.open_incident("small", {"API": "degraded_performance"})
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.resolve(big)
        org.tick(at(hours=1))
        assert org.status("API") is DEG

    def test_an_incident_deleted_during_maintenance(self, api: Harness) -> None:
        org = api
        incident = org.open_incident(services={"API": "partial_outage"})
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.do("incident.delete", {"incident": incident})
        assert org.status("API") is UM
        org.tick(at(hours=1))
        assert org.status("API") is OP

    @pytest.mark.parametrize("status", [DEG, PART, MAJ])
    def test_a_status_set_by_hand_during_maintenance_shows_after(
        self, api: Harness, status: ServiceStatus
    ) -> None:
        org = api
        org.open_incident(services={"API": "degraded_performance"})
        maintenance = org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.set_status("API", status.value)
        assert org.status("API") is UM
        assert "service.updated" in org.names()  # what it will come back to is recorded
        org.tick(at(hours=1))
        assert org.maintenance_status(maintenance) is M.COMPLETED
        assert org.status("API") is status

    def test_a_maintenance_end_releases_a_service_put_under_maintenance_by_hand(
        self, api: Harness
    ) -> None:
        org = api
        org.set_status("API", "under_maintenance")
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.tick(at(hours=1))
        assert (org.status("API"), org.service("API").manual) == (OP, OP)

    def test_services_outside_the_maintenance_are_untouched(self, api: Harness) -> None:
        org = api
        org.add_service("DB", status="degraded_performance")
        org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        assert org.statuses() == {"API": "under_maintenance", "DB": "degraded_performance"}
        org.tick(at(hours=1))
        assert org.statuses() == {"API": "operational", "DB": "degraded_performance"}

    def test_an_incident_still_open_at_the_end_shows_again(self, api: Harness) -> None:
        org = api
        incident = org.open_incident(services={"API": "major_outage"})
        maintenance = org.schedule(["API"], start=at(hours=-1), until=at(hours=1))
        org.update_incident(incident, services={"API": "partial_outage"})
        assert org.status("API") is UM
        org.tick(at(hours=1))
        assert org.maintenance_status(maintenance) is M.COMPLETED
        assert org.status("API") is PART
        service_event = next(e for e in org.last.events if e.name == "service.updated")
        assert service_event.data["previous_status"] == "under_maintenance"
        assert service_event.data["cause"] == maintenance


def test_a_running_maintenance_accepts_its_own_services_sent_back(org: Harness) -> None:
    api = org.add_service("API")
    web = org.add_service("Web")
    maintenance = org.schedule([api], start=at(minutes=-1), until=at(hours=1), name="Now")
    assert org.maintenance_status(maintenance) is MaintenanceStatus.IN_PROGRESS
    org.do(
        "maintenance.update", {"maintenance": maintenance, "services": ["API"], "name": "Renamed"}
    )
    assert org.state.maintenances[maintenance].name == "Renamed"
    with pytest.raises(InvalidTransition) as info:
        org.do("maintenance.update", {"maintenance": maintenance, "services": [api, web]})
    assert info.value.field == "services"
