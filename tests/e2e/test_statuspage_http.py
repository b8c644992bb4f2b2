"""The Statuspage-compatible API over HTTP: documents, caching, cross-origin reads."""

from __future__ import annotations

import pytest
from support import Api

from server.domain.statuspage import DOCUMENTS

BASE = "/status/demo/api/v2"


@pytest.mark.parametrize("document", list(DOCUMENTS))
async def test_every_document_is_served_publicly(api: Api, document: str) -> None:
    async with Api.open(str(api.client.base_url)) as anonymous:  # no token needed
        response = await anonymous.get(f"{BASE}/{document}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert set(body["page"]) == {"id", "name", "url", "time_zone", "updated_at"}
    assert body["page"]["url"].endswith("/status/demo")


async def test_the_summary_follows_changes_and_revalidates_with_etags(api: Api) -> None:
    first = await api.get(f"{BASE}/summary.json")
    etag = first.headers["ETag"]
    assert (
        await api.get(f"{BASE}/summary.json", headers={"If-None-Match": etag})
    ).status_code == 304
    incident = await api.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Slow pages", "services": {"Website": "degraded_performance"}},
        status=201,
    )
    changed = await api.get(f"{BASE}/summary.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    summary = changed.json()
    assert summary["status"] == {"indicator": "minor", "description": "Minor Service Outage"}
    (shown,) = summary["incidents"]
    assert shown["id"] == incident["id"] and shown["impact"] == "minor"
    assert shown["shortlink"].endswith(f"/status/demo/incidents/{incident['id']}")
    (update,) = shown["incident_updates"]
    assert update["affected_components"] == [
        {
            "code": shown["components"][0]["id"],
            "name": "Website",
            "old_status": "operational",
            "new_status": "degraded_performance",
        }
    ]
    groups = [c for c in summary["components"] if c["group"]]
    assert {g["name"] for g in groups} == {"Frontend", "Backend"}
    website = next(c for c in summary["components"] if c["name"] == "Website")
    assert website["group_id"] == next(g["id"] for g in groups if g["name"] == "Frontend")
    unresolved = (await api.get(f"{BASE}/incidents/unresolved.json")).json()
    assert [i["id"] for i in unresolved["incidents"]] == [incident["id"]]


async def test_unknown_documents_and_organizations_are_404(api: Api) -> None:
    missing = await api.get(f"{BASE}/everything.json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    nobody = await api.get("/status/nobody/api/v2/summary.json")
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "not_found"
