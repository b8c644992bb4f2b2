"""Services (Statuspage components) and their groups."""

from __future__ import annotations

import pytest
from domain_support import T0, Harness, at

from server.domain.model import ServiceStatus
from server.domain.transaction import find_service
from server.errors import Conflict, NotFound, ValidationError


class TestCreate:
    def test_result_event_and_state(self, org: Harness) -> None:
        decision = org.do("service.create", {"name": "API", "description": "The API"})
        assert org.names() == ["service.created"]
        assert decision.result == {
            "id": "id2",
            "name": "API",
            "description": "The API",
            "group_id": None,
            "position": 1,
            "status": "operational",
            "showcase": True,
            "only_show_if_degraded": False,
            "show_response_times": False,
            "created_at": "2026-01-01T12:00:00.000Z",
            "updated_at": "2026-01-01T12:00:00.000Z",
            "manual_status": "operational",
        }
        assert decision.events[0].data == {"service": decision.result}
        assert org.state.services["id2"].to_dict() == decision.result

    def test_default_position_increments(self, org: Harness) -> None:
        positions = [
            org.do("service.create", {"name": n}).result["position"] for n in ("A", "B", "C")
        ]
        assert positions == [1, 2, 3]

    def test_default_position_follows_the_highest(self, org: Harness) -> None:
        org.add_service("A", position=10)
        org.add_service("B", position=0)
        assert org.service("B").position == 0
        assert org.do("service.create", {"name": "C"}).result["position"] == 11

    def test_explicit_fields(self, org: Harness) -> None:
        result = org.do(
            "service.create",
            {
                "name": "API",
                "position": 7,
                "showcase": False,
                "only_show_if_degraded": True,
                "status": "partial_outage",
            },
        ).result
        assert (
            result["position"],
            result["showcase"],
            result["only_show_if_degraded"],
            result["status"],
        ) == (
            7,
            False,
            True,
            "partial_outage",
        )

    def test_empty_description_is_null(self, org: Harness) -> None:
        assert (
            org.do("service.create", {"name": "API", "description": "  "}).result["description"]
            is None
        )

    def test_created_with_a_bad_status_moves_the_overall_status(self, org: Harness) -> None:
        org.do("service.create", {"name": "API", "status": "major_outage"})
        assert org.names() == ["service.created", "status.changed"]
        assert org.state.status.indicator == "critical"

    @pytest.mark.parametrize("dup", ["API", "api", "Api", "  aPi  "])
    def test_names_are_unique_case_insensitively(self, org: Harness, dup: str) -> None:
        org.add_service("API")
        before = org.state
        with pytest.raises(Conflict) as info:
            org.do("service.create", {"name": dup})
        assert info.value.code == "conflict"
        assert info.value.field == "name"
        assert info.value.message == "a service is already called 'API'"
        assert org.state is before

    def test_at_most_500_services(self, org: Harness) -> None:
        for n in range(500):
            org.add_service(f"s{n}")
        with pytest.raises(ValidationError) as info:
            org.do("service.create", {"name": "one too many"})
        assert info.value.field == "name"
        assert info.value.message == "an organization may have at most 500 services"
        assert len(org.state.services) == 500


class TestGroups:
    def test_group_created_on_first_use(self, org: Harness) -> None:
        decision = org.do("service.create", {"name": "API", "group": "Core"})
        assert org.names() == ["group.created", "service.created"]
        group = decision.events[0].data["group"]
        assert group == {
            "id": "id3",  # the service took id2
            "name": "Core",
            "created_at": "2026-01-01T12:00:00.000Z",
            "updated_at": "2026-01-01T12:00:00.000Z",
        }
        assert decision.result["group_id"] == "id3"
        assert set(org.state.groups) == {"id3"}

    def test_group_reused_case_insensitively(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        decision = org.do("service.create", {"name": "DB", "group": "core"})
        assert org.names() == ["service.created"]
        assert decision.result["group_id"] == org.service("API").group_id
        assert len(org.state.groups) == 1
        assert next(iter(org.state.groups.values())).name == "Core"

    def test_moving_the_last_service_out_deletes_the_group(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        old_group = org.service("API").group_id
        decision = org.do("service.update", {"service": "API", "group": "Edge"})
        assert org.names() == ["group.created", "service.updated", "group.deleted"]
        assert decision.events[2].data == {"id": old_group}
        assert old_group not in org.state.groups
        assert [g.name for g in org.state.groups.values()] == ["Edge"]

    def test_moving_one_of_two_keeps_the_group(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        org.add_service("DB", group="Core")
        org.do("service.update", {"service": "API", "group": None})
        assert org.names() == ["service.updated"]
        assert org.service("API").group_id is None
        assert org.service("DB").group_id in org.state.groups

    def test_ungrouping_the_last_member_deletes_the_group(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        org.do("service.update", {"service": "API", "group": None})
        assert org.names() == ["service.updated", "group.deleted"]
        assert org.state.groups == {}

    def test_deleting_the_last_member_deletes_the_group(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        org.add_service("DB", group="Core")
        org.do("service.delete", {"service": "API"})
        assert org.names() == ["service.deleted"]
        assert len(org.state.groups) == 1
        org.do("service.delete", {"service": "DB"})
        assert org.names() == ["service.deleted", "group.deleted"]
        assert org.state.groups == {}

    def test_same_group_by_other_case_is_no_change(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        decision = org.do("service.update", {"service": "API", "group": "CORE"})
        assert decision.events == []

    def test_a_group_can_be_reused_after_it_was_deleted(self, org: Harness) -> None:
        org.add_service("API", group="Core")
        first = org.service("API").group_id
        org.do("service.update", {"service": "API", "group": None})
        org.do("service.update", {"service": "API", "group": "Core"})
        assert org.names() == ["group.created", "service.updated"]
        assert org.service("API").group_id != first
        assert org.service("API").group_id in org.state.groups


class TestUpdate:
    @pytest.mark.parametrize(
        ("field", "value", "attr", "expected"),
        [
            ("name", "Public API", "name", "Public API"),
            ("description", "Does things", "description", "Does things"),
            ("description", "", "description", None),
            ("position", 42, "position", 42),
            ("showcase", False, "showcase", False),
            ("only_show_if_degraded", True, "only_show_if_degraded", True),
            ("show_response_times", True, "show_response_times", True),
            ("status", "partial_outage", "status", ServiceStatus.PARTIAL_OUTAGE),
        ],
    )
    def test_each_field(
        self, org: Harness, field: str, value: object, attr: str, expected: object
    ) -> None:
        service_id = org.add_service("API", description="x")
        org.advance(minutes=1)
        decision = org.do("service.update", {"service": service_id, field: value})
        assert org.names()[0] == "service.updated"
        service = org.state.services[service_id]
        assert getattr(service, attr) == expected
        assert service.updated_at == at(minutes=1)
        assert service.created_at == T0
        assert decision.result == service.to_dict()

    def test_description_to_null(self, org: Harness) -> None:
        org.add_service("API", description="x")
        org.do("service.update", {"service": "API", "description": None})
        assert org.service("API").description is None

    def test_status_change_carries_previous_status(self, org: Harness) -> None:
        org.add_service("API")
        decision = org.set_status("API", "degraded_performance")
        assert decision.events[0].data["previous_status"] == "operational"
        assert decision.events[0].data["service"]["status"] == "degraded_performance"

    def test_other_changes_carry_no_previous_status(self, org: Harness) -> None:
        org.add_service("API")
        decision = org.do("service.update", {"service": "API", "position": 9})
        assert "previous_status" not in decision.events[0].data

    @pytest.mark.parametrize(
        "data",
        [
            {},
            {"name": "API"},
            {"description": None},
            {"position": 1},
            {"status": "operational"},
            {"showcase": True},
            {"only_show_if_degraded": False},
            {"show_response_times": False},
            {"group": None},
            {"name": "API", "position": 1, "status": "operational", "showcase": True},
        ],
    )
    def test_no_change_no_event(self, org: Harness, data: dict[str, object]) -> None:
        org.add_service("API")
        before = org.state
        org.advance(hours=1)
        decision = org.do("service.update", {"service": "API", **data})
        assert decision.events == []
        assert org.state.version == before.version
        assert org.service("API").updated_at == T0
        assert decision.result == before.services["id2"].to_dict()

    def test_rename_conflict(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        with pytest.raises(Conflict) as info:
            org.do("service.update", {"service": "DB", "name": "api"})
        assert (info.value.code, info.value.field) == ("conflict", "name")
        assert "'API'" in info.value.message

    def test_rename_to_another_case_of_itself(self, org: Harness) -> None:
        org.add_service("API")
        org.do("service.update", {"service": "API", "name": "api"})
        assert org.names() == ["service.updated"]
        assert org.service("api").name == "api"

    def test_a_status_set_by_hand_is_what_it_shows_until_set_again(self, org: Harness) -> None:
        org.add_service("API", status="partial_outage")
        org.set_status("API", "under_maintenance")
        assert org.service("API").manual is ServiceStatus.UNDER_MAINTENANCE
        assert org.status("API") is ServiceStatus.UNDER_MAINTENANCE
        org.set_status("API", "degraded_performance")
        assert org.service("API").manual is ServiceStatus.DEGRADED_PERFORMANCE
        assert org.status("API") is ServiceStatus.DEGRADED_PERFORMANCE


class TestDelete:
    def test_delete(self, org: Harness) -> None:
        service_id = org.add_service("API")
        decision = org.do("service.delete", {"service": "api"})
        assert org.names() == ["service.deleted"]
        assert decision.events[0].data == {"id": service_id, "name": "API"}
        assert decision.result == {"deleted": service_id}
        assert org.state.services == {}

    def test_delete_a_broken_service_restores_overall_status(self, org: Harness) -> None:
        org.add_service("API", status="major_outage")
        org.do("service.delete", {"service": "API"})
        assert org.names() == ["service.deleted", "status.changed"]
        assert org.state.status.indicator == "none"

    def test_refused_while_an_active_incident_affects_it(self, org: Harness) -> None:
        org.add_service("API")
        incident = org.open_incident("Slow API", {"API": "degraded_performance"})
        with pytest.raises(Conflict) as info:
            org.do("service.delete", {"service": "API"})
        assert info.value.code == "conflict"
        assert info.value.field == "service"
        assert info.value.message == (
            "service 'API' is affected by the active incident 'Slow API'; resolve it first"
        )
        org.resolve(incident)
        org.do("service.delete", {"service": "API"})
        assert org.state.services == {}

    def test_resolved_incidents_do_not_hold_services(self, org: Harness) -> None:
        org.add_service("API")
        org.open_incident("Old", {"API": "major_outage"}, status="resolved")
        org.do("service.delete", {"service": "API"})
        assert org.names() == ["service.deleted"]

    @pytest.mark.parametrize("running", [False, True])
    def test_refused_while_an_open_maintenance_holds_it(self, org: Harness, running: bool) -> None:
        org.add_service("API")
        start = at(hours=-1) if running else at(hours=1)
        maintenance = org.schedule(["API"], start=start, until=at(hours=2), name="DB upgrade")
        assert org.state.maintenances[maintenance].running is running
        with pytest.raises(Conflict) as info:
            org.do("service.delete", {"service": "API"})
        assert info.value.field == "service"
        assert info.value.message == (
            "service 'API' is in the maintenance 'DB upgrade'; complete or cancel it first"
        )

    @pytest.mark.parametrize("end", ["completed", "cancelled"])
    def test_allowed_once_the_maintenance_is_over(self, org: Harness, end: str) -> None:
        org.add_service("API")
        maintenance = org.schedule(["API"], start=at(hours=1), until=at(hours=2))
        if end == "completed":
            org.do("maintenance.update", {"maintenance": maintenance, "status": "in_progress"})
            org.do("maintenance.update", {"maintenance": maintenance, "status": "completed"})
        else:
            org.do("maintenance.cancel", {"maintenance": maintenance})
        org.do("service.delete", {"service": "API"})
        assert org.state.services == {}


class TestLookup:
    def test_by_id_or_by_name_any_case(self, org: Harness) -> None:
        service_id = org.add_service("Public API")
        for ref in (service_id, "Public API", "public api", "PUBLIC API"):
            assert find_service(org.state, ref).id == service_id

    def test_id_wins_over_a_name(self, org: Harness) -> None:
        first = org.add_service("API")
        second = org.add_service(first)  # a service literally named like the first one's id
        assert find_service(org.state, first).id == first
        assert find_service(org.state, first.upper()).id == second

    @pytest.mark.parametrize(
        ("command", "data"),
        [
            ("service.update", {"service": "nope", "name": "x"}),
            ("service.delete", {"service": "nope"}),
            ("incident.create", {"name": "x", "services": {"nope": "major_outage"}}),
            (
                "maintenance.schedule",
                {
                    "name": "m",
                    "scheduled_for": "2026-01-02T00:00:00Z",
                    "scheduled_until": "2026-01-03T00:00:00Z",
                    "services": ["nope"],
                },
            ),
        ],
    )
    def test_unknown_service(self, org: Harness, command: str, data: dict[str, object]) -> None:
        org.add_service("API")
        before = org.state
        with pytest.raises(NotFound) as info:
            org.do(command, data)
        assert info.value.code == "not_found"
        assert info.value.field == "service"
        assert info.value.message == "no service 'nope' (give its id or its name)"
        assert org.state is before

    @pytest.mark.parametrize(
        ("command", "field"),
        [
            ("incident.update", "incident"),
            ("incident.resolve", "incident"),
            ("incident.delete", "incident"),
            ("maintenance.update", "maintenance"),
            ("maintenance.cancel", "maintenance"),
            ("maintenance.delete", "maintenance"),
        ],
    )
    def test_unknown_incident_or_maintenance(self, org: Harness, command: str, field: str) -> None:
        with pytest.raises(NotFound) as info:
            org.do(command, {field: "nope"})
        assert info.value.field == field
        assert info.value.message == f"no {field} 'nope'"

    def test_incidents_are_not_found_by_name(self, org: Harness) -> None:
        org.open_incident("Outage")
        with pytest.raises(NotFound):
            org.do("incident.update", {"incident": "Outage", "body": "x"})
