"""REST: organizations and their collections, end to end, and the OpenAPI document."""

from __future__ import annotations

import re

from support import Api, token

from server.app import create_app
from server.domain.statuspage import DOCUMENTS
from server.main import Server
from server.rest.common import Parts
from server.rest.openapi import document

ORG = "/api/v1/orgs/demo"


async def test_organizations_are_created_by_a_server_token_and_kept_apart(server: Server) -> None:
    async with Api.open(server.base_url, token("*", "admin")) as root:
        created = await root.ok(
            "POST", "/api/v1/orgs", {"slug": "acme", "name": "Acme"}, status=201
        )
        assert created["slug"] == "acme" and created["name"] == "Acme"
        again = await root.post("/api/v1/orgs", {"slug": "acme", "name": "Again"})
        assert again.status_code == 409 and again.json()["error"]["field"] == "slug"
        reserved = await root.post("/api/v1/orgs", {"slug": "api", "name": "No"})
        assert reserved.status_code == 422
        listed = await root.ok("GET", "/api/v1/orgs?limit=1")
        assert [o["slug"] for o in listed["data"]] == ["acme"] and listed["next"]
        rest = await root.ok("GET", listed["next"])
        assert [o["slug"] for o in rest["data"]] == ["demo"] and rest["next"] is None
    async with Api.open(server.base_url, token("acme", "admin")) as acme:
        mine = await acme.ok("GET", "/api/v1/orgs")
        assert [o["slug"] for o in mine["data"]] == ["acme"]
        assert (await acme.get(f"{ORG}/services")).status_code == 403  # not theirs
        await acme.ok("POST", "/api/v1/orgs/acme/services", {"name": "Checkout"}, status=201)
        assert (await acme.ok("GET", "/api/v1/orgs/acme"))["services"] == 1


async def test_services_lifecycle_and_paging(api: Api) -> None:
    created = await api.request(
        "POST",
        f"{ORG}/services",
        {"name": "Search", "group": "Backend", "description": "Finds things"},
    )
    assert created.status_code == 201
    service = created.json()
    assert created.headers["Location"] == f"{ORG}/services/{service['id']}"
    assert service["group_id"] is not None and service["status"] == "operational"
    assert (await api.ok("GET", f"{ORG}/services/search"))["id"] == service["id"]  # by name too
    page = await api.ok("GET", f"{ORG}/services?limit=2")
    assert len(page["data"]) == 2 and page["page"]["total"] == 6
    assert page["page"]["next"] == f"{ORG}/services?limit=2&offset=2"
    last = await api.ok("GET", f"{ORG}/services?limit=2&offset=4")
    assert len(last["data"]) == 2 and last["page"]["next"] is None
    moved = await api.ok("PATCH", f"{ORG}/services/{service['id']}", {"group": None, "position": 0})
    assert moved["group_id"] is None and moved["position"] == 0
    assert (await api.ok("GET", f"{ORG}/services?limit=1"))["data"][0]["name"] == "Search"
    assert await api.ok("DELETE", f"{ORG}/services/{service['id']}") == {"deleted": service["id"]}
    assert (await api.get(f"{ORG}/services/{service['id']}")).status_code == 404


async def test_incident_lifecycle(api: Api) -> None:
    incident = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {
            "name": "Login failures",
            "services": {"Website": "partial_outage"},
            "body": "Looking into it.",
        },
        status=201,
    )
    assert incident["impact"] == "major"
    assert (await api.ok("GET", f"{ORG}/services/website"))["status"] == "partial_outage"
    updated = await api.ok(
        "PATCH",
        f"{ORG}/incidents/{incident['id']}",
        {"status": "monitoring", "body": "Fix deployed."},
    )
    assert updated["monitoring_at"] and [u["status"] for u in updated["updates"]] == [
        "investigating",
        "monitoring",
    ]
    active = await api.ok("GET", f"{ORG}/incidents?status=active")
    assert [i["id"] for i in active["data"]] == [incident["id"]]
    resolved = await api.ok(
        "POST", f"{ORG}/incidents/{incident['id']}/resolve", {"body": "All good."}
    )
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert (await api.ok("GET", f"{ORG}/services/website"))["status"] == "operational"
    reopen = await api.patch(f"{ORG}/incidents/{incident['id']}", {"status": "investigating"})
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "invalid_transition"
    assert (await api.ok("GET", f"{ORG}/incidents?status=active"))["data"] == []
    assert len((await api.ok("GET", f"{ORG}/incidents?status=resolved"))["data"]) == 1


async def test_maintenance_lifecycle(api: Api) -> None:
    scheduled = await api.ok(
        "POST",
        f"{ORG}/maintenances",
        {
            "name": "Database upgrade",
            "scheduled_for": "2099-01-01T02:00:00Z",
            "scheduled_until": "2099-01-01T04:00:00+00:00",
            "services": ["Database"],
        },
        status=201,
    )
    assert scheduled["status"] == "scheduled" and scheduled["auto_start"] is True
    assert (await api.ok("GET", f"{ORG}/maintenances?status=upcoming"))["page"]["total"] == 1
    started = await api.ok(
        "PATCH", f"{ORG}/maintenances/{scheduled['id']}", {"status": "in_progress"}
    )
    assert started["status"] == "in_progress"
    assert (await api.ok("GET", f"{ORG}/services/database"))["status"] == "under_maintenance"
    cancel = await api.post(f"{ORG}/maintenances/{scheduled['id']}/cancel")
    assert cancel.status_code == 409  # started: it is completed, not cancelled
    done = await api.ok("PATCH", f"{ORG}/maintenances/{scheduled['id']}", {"status": "completed"})
    assert done["completed_at"]
    assert (await api.ok("GET", f"{ORG}/services/database"))["status"] == "operational"
    later = await api.ok(
        "POST",
        f"{ORG}/maintenances",
        {
            "name": "Later",
            "scheduled_for": "2099-02-01T02:00:00Z",
            "scheduled_until": "2099-02-01T03:00:00Z",
        },
        status=201,
    )
    assert (await api.ok("POST", f"{ORG}/maintenances/{later['id']}/cancel"))[
        "status"
    ] == "cancelled"
    assert (await api.ok("GET", f"{ORG}/maintenances?status=over"))["page"]["total"] == 2


async def test_an_owner_deletes_an_organization(server: Server, api: Api) -> None:
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        assert await owner.ok("DELETE", ORG) == {"deleted": "demo"}
        gone = await owner.get(ORG)
        assert gone.status_code == 404
    assert (await api.get("/status/demo/api/v2/status.json")).status_code == 404


async def test_health_and_readiness(api: Api) -> None:
    assert await api.ok("GET", "/health") == {"status": "ok"}
    assert await api.ok("GET", "/ready") == {"status": "ready"}


async def test_the_openapi_document_describes_every_route(server: Server, api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    assert doc == document()

    def shape(path: str) -> str:  # any path parameter looks alike
        return re.sub(r"\{[^}]*\}|<(?:[a-z]+:)?[a-z_]+>", "{}", path)

    described = {
        (shape(path), method.upper()) for path, ops in doc["paths"].items() for method in ops
    }
    parts = Parts(
        server.config,
        server.registry,
        server.gateway,
        server.auth,  # type: ignore[arg-type]
        server.registry.store,
        server.base_url,
    )  # type: ignore[union-attr]
    routed = {
        (shape(rule.rule), method)
        for rule in create_app(parts).url_map.iter_rules()
        if rule.rule.startswith(
            (
                "/api/v1/orgs",
                "/api/v1/rooms",
                "/api/v1/auth",
                "/api/v1/me",
                "/api/v1/invitations",
                "/api/v1/heartbeat",
                "/api/v1/monitoring",
                "/api/v1/audit",
                "/api/v1/runtime",
                "/metrics",
                "/health",
                "/ready",
            )
        )
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == {(p, m) for p, m in described if not p.startswith("/status/")}
    statuspage = {p for p, _ in described if p.startswith("/status/")}
    assert statuspage == {f"/status/{{}}/api/v2/{name}" for name in DOCUMENTS}
    body = doc["paths"]["/api/v1/orgs/{org}/services"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["required"] == ["name"]
