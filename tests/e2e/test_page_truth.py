"""What the public page and the Statuspage API say when it matters: an
incident's recovery, a maintenance over a real outage, what a maintenance
moves, and monitors muted while one runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from support import Api, shown

from server.main import Server
from server.monitoring.reports import Outcome

ORG = "/api/v1/orgs/demo"


async def component(api: Api, name: str) -> dict[str, Any]:
    """The service as the Statuspage API tells it to the public."""
    async with Api.open(api.client.base_url.__str__()) as anon:
        summary = (await anon.get("/status/demo/api/v2/summary.json")).json()
    found: dict[str, Any] = next(c for c in summary["components"] if c["name"] == name)
    return found


async def running_maintenance(api: Api, name: str, service: str) -> dict[str, Any]:
    """A maintenance over ``service`` that started a minute ago."""
    now = datetime.now(UTC)
    body = {
        "name": name,
        "scheduled_for": (now - timedelta(minutes=1)).isoformat(),
        "scheduled_until": (now + timedelta(hours=1)).isoformat(),
        "services": [service],
    }
    made: dict[str, Any] = await api.ok("POST", f"{ORG}/maintenances", body, status=201)
    return made


async def monitor_of(api: Api, service: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"{service} health", "service": service, "down_after": 1, **fields}
    made: dict[str, Any] = await api.ok("POST", f"{ORG}/monitors", body, status=201)
    return made


async def verdict_reaches(api: Api, monitor_id: str, verdict: str) -> None:
    await shown(api, f"{ORG}/monitors/{monitor_id}", lambda m: m["verdict"] == verdict)


async def test_a_recovery_posted_in_an_update_happens(api: Api) -> None:
    incident = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Payments failing", "services": {"API": "major_outage"}},
        status=201,
    )
    assert (await component(api, "API"))["status"] == "major_outage"
    stepped = await api.ok(
        "PATCH",
        f"{ORG}/incidents/{incident['id']}",
        {"status": "monitoring", "body": "Recovered.", "services": {"API": "operational"}},
    )
    (moved,) = stepped["updates"][-1]["affected_services"]
    assert (moved["old_status"], moved["new_status"]) == ("major_outage", "operational")
    assert stepped["impact"] == "none"
    assert (await api.ok("GET", f"{ORG}/services/API"))["status"] == "operational"
    assert (await component(api, "API"))["status"] == "operational"
    # A person cannot set it better than an incident requires: told why, not ignored.
    await api.ok(
        "PATCH", f"{ORG}/incidents/{incident['id']}", {"services": {"API": "partial_outage"}}
    )
    refused = await api.patch(f"{ORG}/services/API", {"status": "operational"})
    assert refused.status_code == 409 and "Payments failing" in refused.json()["error"]["message"]


async def test_a_maintenance_ending_during_an_outage_shows_the_outage(
    server: Server, api: Api
) -> None:
    monitoring = server.monitoring
    assert monitoring is not None
    monitor = await monitor_of(api, "Database", kind="tcp", spec={"host": "db.test", "port": 5432})
    maintenance = await running_maintenance(api, "Failover drill", "Database")
    started = maintenance["updates"][-1]["affected_services"]
    assert [(a["name"], a["new_status"]) for a in started] == [("Database", "under_maintenance")]
    monitoring.report("local", monitor["id"], Outcome("down", error="connection refused"))
    await verdict_reaches(api, monitor["id"], "down")
    assert (await component(api, "Database"))["status"] == "under_maintenance"
    ended = await api.ok(
        "PATCH", f"{ORG}/maintenances/{maintenance['id']}", {"status": "completed"}
    )
    assert [
        (a["old_status"], a["new_status"]) for a in ended["updates"][-1]["affected_services"]
    ] == [("under_maintenance", "major_outage")]
    assert (await component(api, "Database"))["status"] == "major_outage"
    async with Api.open(str(api.client.base_url)) as anon:
        listed = (await anon.get("/status/demo/api/v2/scheduled-maintenances.json")).json()
    (shown,) = [m for m in listed["scheduled_maintenances"] if m["id"] == maintenance["id"]]
    assert shown["incident_updates"][0]["affected_components"][0]["new_status"] == "major_outage"


async def test_monitors_are_muted_while_their_service_is_under_maintenance(
    server: Server, api: Api
) -> None:
    monitoring = server.monitoring
    assert monitoring is not None
    monitor = await monitor_of(
        api, "Website", kind="http", policy="incident", spec={"url": "http://search.test/"}
    )
    maintenance = await running_maintenance(api, "Reindex", "Website")
    monitoring.report("local", monitor["id"], Outcome("down", error="status 502"))
    await verdict_reaches(api, monitor["id"], "down")
    assert (await api.ok("GET", f"{ORG}/incidents?status=active"))["data"] == []
    await api.ok("PATCH", f"{ORG}/maintenances/{maintenance['id']}", {"status": "completed"})
    active = (await api.ok("GET", f"{ORG}/incidents?status=active"))["data"]
    assert [i["name"] for i in active] == ["Website is down"]
    assert (await component(api, "Website"))["status"] == "major_outage"
