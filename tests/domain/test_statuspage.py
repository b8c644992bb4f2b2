"""The Statuspage v2 rendering: field names, value sets, shapes and filters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from domain_support import T0, Harness, at, random_program, run_program, stamp
from hypothesis import HealthCheck, given, settings

from server.domain import statuspage
from server.domain.model import ServiceStatus
from server.domain.statuspage import DOCUMENTS, HISTORY_LIMIT, render

BASE = "https://status.example.com"
PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
GROUP_KEYS = COMPONENT_KEYS | {"components"}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
    "postmortem_body",
    "postmortem_body_last_updated_at",
    "postmortem_published_at",
}
MAINTENANCE_KEYS = INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
AFFECTED_KEYS = {"code", "name", "old_status", "new_status"}
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}
DOC_KEYS = {
    "summary.json": {"page", "components", "incidents", "scheduled_maintenances", "status"},
    "status.json": {"page", "status"},
    "components.json": {"page", "components"},
    "incidents.json": {"page", "incidents"},
    "incidents/unresolved.json": {"page", "incidents"},
    "scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}
INTERNAL_KEYS = {"author", "maintenance_baseline", "impact_override", "auto_start", "auto_complete"}


# The page fixture's "API slow" incident: ids are handed out in order (each
# incident takes one for itself, one for its first update, one for its notes room).
SLOW = "id11"


def check_shapes(doc: dict[str, Any], name: str, page_id: str) -> None:
    """Everything Statuspage clients rely on, for any document."""
    assert set(doc) == DOC_KEYS[name]
    assert set(doc["page"]) == PAGE_KEYS
    assert doc["page"]["time_zone"] == "Etc/UTC"
    if "status" in doc:
        assert set(doc["status"]) == {"indicator", "description"}
        assert doc["status"]["indicator"] in INDICATORS
    for component in doc.get("components", []):
        assert set(component) == (GROUP_KEYS if component["group"] else COMPONENT_KEYS)
        assert component["status"] in COMPONENT_STATUSES
        assert component["page_id"] == page_id
    for incident in doc.get("incidents", []):
        assert set(incident) == INCIDENT_KEYS
        assert incident["status"] in INCIDENT_STATUSES
        assert incident["impact"] in IMPACTS
        check_updates(incident)
    for maintenance in doc.get("scheduled_maintenances", []):
        assert set(maintenance) == MAINTENANCE_KEYS
        assert maintenance["status"] in MAINTENANCE_STATUSES
        assert maintenance["impact"] == "maintenance"
        assert maintenance["monitoring_at"] is None
        check_updates(maintenance)
    assert not keys_anywhere(doc) & INTERNAL_KEYS


def check_updates(parent: dict[str, Any]) -> None:
    times = [u["created_at"] for u in parent["incident_updates"]]
    assert times == sorted(times, reverse=True)  # newest first
    for update in parent["incident_updates"]:
        assert set(update) == UPDATE_KEYS
        assert update["incident_id"] == parent["id"]
        assert update["created_at"] == update["updated_at"] == update["display_at"]
        affected = update["affected_components"]
        assert affected is None or (affected and all(set(a) == AFFECTED_KEYS for a in affected))
        for a in affected or []:
            assert a["old_status"] in COMPONENT_STATUSES
            assert a["new_status"] in COMPONENT_STATUSES
    for component in parent["components"]:
        assert set(component) == COMPONENT_KEYS


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


@pytest.fixture
def page() -> Harness:
    """Groups, an active and a resolved incident, and maintenances in every state."""
    org = Harness()
    org.add_service("API", group="Core", description="Public API")
    org.add_service("DB", group="Core")
    org.add_service("Web")
    org.add_service("Mail", group="Comms")
    org.open_incident(
        "Old outage", {"Web": "major_outage"}, status="resolved", started_at=stamp(at(days=-3))
    )
    org.advance(minutes=1)
    slow = org.open_incident("API slow", {"API": "degraded_performance"}, body="Looking")
    org.advance(minutes=1)
    org.update_incident(slow, status="identified", services={"DB": "partial_outage"})
    org.schedule(["Web"], start=at(hours=5), until=at(hours=6), name="later")
    org.schedule(["Web"], start=at(hours=2), until=at(hours=3), name="sooner")
    org.schedule(["Mail"], start=at(hours=-1), until=at(hours=1), name="running")
    cancelled = org.schedule(["Web"], start=at(hours=7), until=at(hours=8), name="cancelled")
    org.do("maintenance.cancel", {"maintenance": cancelled})
    done = org.schedule(
        ["Web"], start=at(hours=-2), until=at(hours=1), name="done", auto_complete=False
    )
    org.do("maintenance.update", {"maintenance": done, "status": "completed"})
    return org


def doc(org: Harness, name: str) -> dict[str, Any]:
    rendered = render(org.state, name, BASE)
    json.dumps(rendered)  # JSON-ready
    return rendered


class TestDocuments:
    def test_the_documents(self) -> None:
        assert set(DOCUMENTS) == set(DOC_KEYS)

    @pytest.mark.parametrize("name", sorted(DOC_KEYS))
    def test_shapes(self, page: Harness, name: str) -> None:
        check_shapes(doc(page, name), name, page.state.org.id)

    @pytest.mark.parametrize("name", sorted(DOC_KEYS))
    def test_page(self, page: Harness, name: str) -> None:
        assert doc(page, name)["page"] == {
            "id": "id1",
            "name": "Demo",
            "url": "https://status.example.com/status/demo",
            "time_zone": "Etc/UTC",
            "updated_at": "2026-01-01T12:02:00.000Z",
        }

    def test_base_url_trailing_slash(self, page: Harness) -> None:
        assert render(page.state, "status.json", BASE + "/")["page"]["url"] == BASE + "/status/demo"

    def test_status(self, page: Harness) -> None:
        assert doc(page, "status.json")["status"] == {
            "indicator": "major",
            "description": "Partial System Outage",
        }
        assert doc(page, "summary.json")["status"] == page.state.status.to_dict()

    def test_empty_org(self, org: Harness) -> None:
        summary = doc(org, "summary.json")
        assert (
            summary["components"] == summary["incidents"] == summary["scheduled_maintenances"] == []
        )
        assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
        assert summary["page"]["updated_at"] == "2026-01-01T12:00:00.000Z"


class TestComponents:
    def test_order_and_groups(self, page: Harness) -> None:
        components = doc(page, "components.json")["components"]
        assert [(c["name"], c["group"]) for c in components] == [
            ("Core", True),
            ("API", False),
            ("DB", False),
            ("Web", False),
            ("Comms", True),
            ("Mail", False),
        ]

    def test_service_component(self, page: Harness) -> None:
        api = next(c for c in doc(page, "components.json")["components"] if c["name"] == "API")
        core = page.service("API").group_id
        assert api == {
            "id": "id2",
            "name": "API",
            "status": "degraded_performance",
            "created_at": "2026-01-01T12:00:00.000Z",
            "updated_at": "2026-01-01T12:01:00.000Z",
            "position": 1,
            "description": "Public API",
            "showcase": True,
            "start_date": "2026-01-01",
            "group_id": core,
            "page_id": "id1",
            "group": False,
            "only_show_if_degraded": False,
        }

    def test_group_component(self, page: Harness) -> None:
        core = next(c for c in doc(page, "components.json")["components"] if c["name"] == "Core")
        api, db = page.service("API"), page.service("DB")
        assert core == {
            "id": api.group_id,
            "name": "Core",
            "status": "partial_outage",  # the worst member
            "created_at": "2026-01-01T12:00:00.000Z",
            "updated_at": "2026-01-01T12:02:00.000Z",  # the latest member change
            "position": 1,
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": "id1",
            "group": True,
            "only_show_if_degraded": False,
            "components": [api.id, db.id],
        }

    @pytest.mark.parametrize(
        ("statuses", "expected"),
        [
            (["operational", "operational"], "operational"),
            (["operational", "degraded_performance"], "degraded_performance"),
            (["partial_outage", "major_outage"], "major_outage"),
            (["under_maintenance", "operational"], "under_maintenance"),
            (["under_maintenance", "degraded_performance"], "degraded_performance"),
            (["under_maintenance", "under_maintenance"], "under_maintenance"),
        ],
    )
    def test_group_status(self, org: Harness, statuses: list[str], expected: str) -> None:
        for n, status in enumerate(statuses):
            org.add_service(f"s{n}", group="G", status=status)
        group = doc(org, "components.json")["components"][0]
        assert (group["group"], group["status"]) == (True, expected)

    def test_positions_order_and_group_position(self, org: Harness) -> None:
        org.add_service("b", position=5, group="G")
        org.add_service("a", position=9)
        org.add_service("c", position=2, group="G")
        org.add_service("B2", position=5)
        components = doc(org, "components.json")["components"]
        assert [c["name"] for c in components] == ["G", "c", "b", "B2", "a"]
        assert components[0]["position"] == 2
        assert components[0]["components"] == [org.service("c").id, org.service("b").id]


class TestIncidents:
    def test_incident(self, page: Harness) -> None:
        (incident,) = doc(page, "incidents/unresolved.json")["incidents"]
        assert {
            k: v for k, v in incident.items() if k not in ("incident_updates", "components")
        } == {
            "id": SLOW,
            "name": "API slow",
            "status": "identified",
            "created_at": "2026-01-01T12:01:00.000Z",
            "updated_at": "2026-01-01T12:02:00.000Z",
            "monitoring_at": None,
            "resolved_at": None,
            "impact": "major",
            "shortlink": "https://status.example.com/status/demo/incidents/" + SLOW,
            "started_at": "2026-01-01T12:01:00.000Z",
            "page_id": "id1",
            "postmortem_body": None,
            "postmortem_body_last_updated_at": None,
            "postmortem_published_at": None,
        }
        assert [c["name"] for c in incident["components"]] == ["API", "DB"]

    def test_postmortem_fields(self, page: Harness) -> None:
        page.resolve(SLOW)
        page.advance(minutes=10)
        page.do("incident.postmortem", {"incident": SLOW, "body": "# Why\n\nA *full* disk."})
        page.advance(minutes=20)
        page.do("incident.postmortem", {"incident": SLOW, "body": "# Why\n\nA full disk."})
        shown = next(i for i in doc(page, "incidents.json")["incidents"] if i["id"] == SLOW)
        assert shown["status"] == "postmortem"
        assert {k: v for k, v in shown.items() if k.startswith("postmortem")} == {
            "postmortem_body": "# Why\n\nA full disk.",  # the source, as Statuspage gives it
            "postmortem_published_at": "2026-01-01T12:12:00.000Z",
            "postmortem_body_last_updated_at": "2026-01-01T12:32:00.000Z",
        }
        # The timeline says it was published, then revised; it does not repeat it.
        assert [u["body"] for u in shown["incident_updates"][:2]] == [
            "The postmortem has been revised.",
            "A postmortem has been published.",
        ]

    def test_updates_newest_first_with_affected_components(self, page: Harness) -> None:
        (incident,) = doc(page, "incidents/unresolved.json")["incidents"]
        newest, oldest = incident["incident_updates"]
        assert (newest["status"], oldest["status"]) == ("identified", "investigating")
        assert oldest["body"] == "Looking"
        assert oldest["affected_components"] == [
            {
                "code": "id2",
                "name": "API",
                "old_status": "operational",
                "new_status": "degraded_performance",
            }
        ]
        assert newest["affected_components"] == [
            {
                "code": page.service("DB").id,
                "name": "DB",
                "old_status": "operational",
                "new_status": "partial_outage",
            }
        ]
        assert {
            k: newest[k]
            for k in ("deliver_notifications", "custom_tweet", "tweet_id", "incident_id")
        } == {
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
            "incident_id": SLOW,
        }

    def test_no_affected_components_is_null(self, page: Harness) -> None:
        page.update_incident(SLOW, body="note")
        (incident,) = doc(page, "incidents/unresolved.json")["incidents"]
        assert incident["incident_updates"][0]["body"] == "note"
        assert incident["incident_updates"][0]["affected_components"] is None

    def test_all_incidents_newest_first(self, page: Harness) -> None:
        incidents = doc(page, "incidents.json")["incidents"]
        assert [i["name"] for i in incidents] == ["API slow", "Old outage"]
        old = incidents[1]
        assert (old["status"], old["resolved_at"], old["started_at"]) == (
            "resolved",
            "2026-01-01T12:00:00.000Z",
            "2025-12-29T12:00:00.000Z",
        )

    def test_unresolved_only_active(self, page: Harness) -> None:
        page.resolve(SLOW)
        assert doc(page, "incidents/unresolved.json")["incidents"] == []
        assert doc(page, "summary.json")["incidents"] == []
        assert len(doc(page, "incidents.json")["incidents"]) == 2

    def test_summary_lists_unresolved(self, page: Harness) -> None:
        assert [i["id"] for i in doc(page, "summary.json")["incidents"]] == [SLOW]

    def test_history_limit(self, org: Harness) -> None:
        assert HISTORY_LIMIT == 50
        for n in range(HISTORY_LIMIT + 5):
            org.open_incident(f"i{n}", status="resolved", started_at=stamp(at(hours=-100 + n)))
        incidents = doc(org, "incidents.json")["incidents"]
        assert len(incidents) == HISTORY_LIMIT
        assert incidents[0]["name"] == f"i{HISTORY_LIMIT + 4}"
        assert incidents[-1]["name"] == "i5"

    def test_components_of_a_deleted_service_are_skipped(self, org: Harness) -> None:
        org.add_service("API")
        org.add_service("DB")
        org.open_incident("x", {"API": "major_outage", "DB": "major_outage"}, status="resolved")
        org.do("service.delete", {"service": "API"})
        (incident,) = doc(org, "incidents.json")["incidents"]
        assert [c["name"] for c in incident["components"]] == ["DB"]


class TestMaintenances:
    def test_all_but_cancelled_newest_first(self, page: Harness) -> None:
        names = [
            m["name"] for m in doc(page, "scheduled-maintenances.json")["scheduled_maintenances"]
        ]
        assert names == ["later", "sooner", "running", "done"]

    def test_upcoming_soonest_first(self, page: Harness) -> None:
        names = [
            m["name"]
            for m in doc(page, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
        ]
        assert names == ["sooner", "later"]

    def test_active(self, page: Harness) -> None:
        (running,) = doc(page, "scheduled-maintenances/active.json")["scheduled_maintenances"]
        assert running["name"] == "running"
        assert running["status"] == "in_progress"
        maintenance_id = running["id"]
        page.do("maintenance.update", {"maintenance": maintenance_id, "status": "verifying"})
        (verifying,) = doc(page, "scheduled-maintenances/active.json")["scheduled_maintenances"]
        assert verifying["status"] == "verifying"

    def test_summary_lists_upcoming_and_running(self, page: Harness) -> None:
        names = [m["name"] for m in doc(page, "summary.json")["scheduled_maintenances"]]
        assert names == ["later", "sooner", "running"]

    def test_cancelled_never_listed(self, page: Harness) -> None:
        for name in DOC_KEYS:
            for m in doc(page, name).get("scheduled_maintenances", []):
                assert m["name"] != "cancelled"
                assert m["status"] != "cancelled"

    def test_maintenance_fields(self, page: Harness) -> None:
        running = doc(page, "scheduled-maintenances/active.json")["scheduled_maintenances"][0]
        assert {
            k: v for k, v in running.items() if k not in ("incident_updates", "components")
        } == {
            "id": running["id"],
            "name": "running",
            "status": "in_progress",
            "created_at": "2026-01-01T12:02:00.000Z",
            "updated_at": "2026-01-01T12:02:00.000Z",
            "monitoring_at": None,
            "resolved_at": None,
            "impact": "maintenance",
            "shortlink": f"https://status.example.com/status/demo/maintenances/{running['id']}",
            "started_at": "2026-01-01T12:02:00.000Z",
            "page_id": "id1",
            "postmortem_body": None,
            "postmortem_body_last_updated_at": None,
            "postmortem_published_at": None,
            "scheduled_for": "2026-01-01T11:00:00.000Z",
            "scheduled_until": "2026-01-01T13:00:00.000Z",
        }
        assert [u["status"] for u in running["incident_updates"]] == ["in_progress", "scheduled"]
        # Starting it moved Mail under maintenance, as the update records; scheduling moved nothing.
        started, scheduled = running["incident_updates"]
        assert [
            (c["name"], c["old_status"], c["new_status"]) for c in started["affected_components"]
        ] == [("Mail", "operational", "under_maintenance")]
        assert scheduled["affected_components"] is None
        assert [c["name"] for c in running["components"]] == ["Mail"]
        assert running["components"][0]["status"] == "under_maintenance"

    def test_scheduled_started_at_is_scheduled_for(self, page: Harness) -> None:
        sooner = doc(page, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"][0]
        assert sooner["started_at"] == sooner["scheduled_for"] == "2026-01-01T14:00:00.000Z"

    def test_completed_has_resolved_at(self, page: Harness) -> None:
        done = next(
            m
            for m in doc(page, "scheduled-maintenances.json")["scheduled_maintenances"]
            if m["name"] == "done"
        )
        assert (done["status"], done["resolved_at"]) == ("completed", "2026-01-01T12:02:00.000Z")


def test_renderer_uses_the_org_id_as_page_id(page: Harness) -> None:
    renderer = statuspage.Renderer(page.state, BASE)
    assert renderer.page_id == page.state.org.id
    assert renderer.page_url == "https://status.example.com/status/demo"
    assert T0.date().isoformat() == renderer.component(page.service("API"))["start_date"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=random_program())
def test_every_document_keeps_statuspage_shapes(program: list[tuple[Any, ...]]) -> None:
    h = Harness()
    for _ in run_program(h, program):
        pass
    state = h.state
    for name in DOC_KEYS:
        rendered = doc(h, name)
        check_shapes(rendered, name, state.org.id)
    components = doc(h, "components.json")["components"]
    assert {c["id"] for c in components if not c["group"]} == set(state.services)
    assert {c["id"] for c in components if c["group"]} == set(state.groups)
    for c in components:
        if not c["group"]:
            assert c["status"] == state.services[c["id"]].status.value
    unresolved = {i["id"] for i in doc(h, "incidents/unresolved.json")["incidents"]}
    assert unresolved == {i.id for i in state.incidents.values() if i.active}
    active = {
        m["id"] for m in doc(h, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    }
    assert active == {m.id for m in state.maintenances.values() if m.running}
    upcoming = {
        m["id"] for m in doc(h, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    }
    assert upcoming == {m.id for m in state.maintenances.values() if m.status.value == "scheduled"}
    assert doc(h, "status.json")["status"] == state.status.to_dict()


def test_value_sets_are_the_models() -> None:
    from server.domain.model import Impact, IncidentStatus, MaintenanceStatus

    assert {s.value for s in ServiceStatus} == COMPONENT_STATUSES
    assert {s.value for s in IncidentStatus} == INCIDENT_STATUSES
    assert {s.value for s in MaintenanceStatus} - {"cancelled"} == MAINTENANCE_STATUSES
    assert {i.value for i in Impact} == IMPACTS
