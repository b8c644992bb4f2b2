"""What the public page's script reads, over HTTP: what happened on each day of
the bars (days.json), the response-time charts (response-times.json), and the
maintenance pages the days link to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support import Api, eventually

ORG = "/api/v1/orgs/demo"


async def test_each_day_lists_its_incidents_and_maintenances(api: Api) -> None:
    incident = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Login errors", "impact": "major", "services": {"Website": "partial_outage"}},
        status=201,
    )
    start = datetime.now(UTC) + timedelta(days=1)
    work = await api.ok(
        "POST",
        f"{ORG}/maintenances",
        {
            "name": "Disk swap",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "services": ["Database"],
        },
        status=201,
    )
    await api.ok("PATCH", f"{ORG}/maintenances/{work['id']}", {"status": "in_progress"})
    website = (await api.ok("GET", f"{ORG}/services/Website"))["id"]
    database = (await api.ok("GET", f"{ORG}/services/Database"))["id"]

    response = await api.get("/status/demo/days.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    days = response.json()
    today = datetime.now(UTC).date().isoformat()
    assert days["today"] == today and days["days"] == 90
    assert days["services"][website] == {today: [incident["id"]]}
    assert days["services"][database] == {today: [work["id"]]}
    item = days["items"][incident["id"]]
    assert item["kind"] == "incident" and item["name"] == "Login errors"
    assert item["url"] == f"/status/demo/incidents/{incident['id']}"
    assert item["tag"] == "Major impact" and item["window"].startswith("Since ")
    assert days["items"][work["id"]]["url"] == f"/status/demo/maintenances/{work['id']}"
    assert "author" not in str(days)  # the public view only

    # Unchanged: a 304 to the ETag; changed: a new one.
    etag = response.headers["ETag"]
    again = await api.get("/status/demo/days.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    await api.ok("POST", f"{ORG}/incidents/{incident['id']}/resolve")
    changed = await api.get("/status/demo/days.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert " to " in changed.json()["items"][incident["id"]]["window"]

    page = await api.get(f"/status/demo/maintenances/{work['id']}")
    assert page.status_code == 200 and '<h1 class="incident-name">Disk swap</h1>' in page.text
    assert (await api.get("/status/demo/maintenances/nothing")).status_code == 404
    await api.ok("PATCH", f"{ORG}/maintenances/{work['id']}", {"status": "completed"})


async def test_a_service_shows_its_response_times_once_enabled(api: Api) -> None:
    monitor = await api.ok(
        "POST",
        f"{ORG}/monitors",
        {
            "name": "Health",
            "service": "API",
            "kind": "http",
            "spec": {"url": str(api.client.base_url).rstrip("/") + "/health"},
        },
        status=201,
    )
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")

    async def measured() -> bool:
        uptime = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}/uptime")
        return any(p["avg_ms"] is not None for p in uptime["response_times"])

    await eventually(measured, "a measured hour")
    service = (await api.ok("GET", f"{ORG}/services/API"))["id"]
    assert f'id="chart-{service}"' not in (await api.get("/status/demo")).text  # off by default
    assert (await api.get("/status/demo/response-times.json")).json() == {"services": {}}

    changed = await api.ok("PATCH", f"{ORG}/services/API", {"show_response_times": True})
    assert changed["show_response_times"] is True
    page = (await api.get("/status/demo")).text
    assert f'id="chart-{service}"' in page and 'class="chart-line" d="M' in page
    charts = (await api.get("/status/demo/response-times.json")).json()["services"]
    chart = charts[service]
    assert chart["path"].startswith("M") and chart["hours"] == 24
    assert chart["caption"].startswith("Last 24 hours, ") and chart["caption"].endswith(
        " ms on average"
    )
    assert "Health" not in str(charts) and "/health" not in str(charts)  # no monitor is named
    await api.ok("PATCH", f"{ORG}/services/API", {"show_response_times": False})
    await api.ok("DELETE", f"{ORG}/monitors/{monitor['id']}")
