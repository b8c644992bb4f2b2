"""What the console's monitoring screens read: each region's state and last
result, response times by range and region, the incidents a monitor opened,
and every monitor's uptime at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor_support import ORG, make
from support import Api, shown

from server.domain.model import iso, parse_iso
from server.main import Server
from server.monitoring.reports import Outcome

EDGE = {"url": "http://edge.test/"}  # checked from named regions only: the tests report


async def test_each_region_says_its_state_and_its_last_result(server: Server, api: Api) -> None:
    monitor = await make(api, name="Edge", regions=["eu-west", "us-east"], spec=EDGE)
    assert server.monitoring is not None
    server.monitoring.report("eu-west", monitor["id"], Outcome("up", latency_ms=41.26))
    server.monitoring.report(
        "us-east", monitor["id"], Outcome("down", status_code=503, error="status 503")
    )
    seen = await shown(
        api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["failing_regions"] == ["us-east"]
    )
    states = {r["region"]: r for r in seen["region_states"]}
    assert states["eu-west"]["state"] == "up" and states["eu-west"]["live"] is True
    assert states["eu-west"]["last"]["latency_ms"] == 41.3
    assert states["eu-west"]["last"]["error"] is None
    assert states["us-east"]["state"] == "down"
    assert states["us-east"]["last"]["status_code"] == 503
    assert states["us-east"]["last"]["error"] == "status 503"
    listed = (await api.ok("GET", f"{ORG}/monitors"))["data"]
    assert (
        next(m for m in listed if m["id"] == monitor["id"])["region_states"]
        == (seen["region_states"])
    )
    paused = await api.ok("PATCH", f"{ORG}/monitors/{monitor['id']}", {"paused": True})
    assert (await api.ok("GET", f"{ORG}/monitors/{paused['id']}"))["region_states"] == []


async def test_response_times_by_range_and_region(server: Server, api: Api) -> None:
    monitor = await make(api, name="Edge", regions=["eu-west", "us-east"], spec=EDGE)
    assert server.monitoring is not None
    now = datetime.now(UTC)
    made = [
        ("eu-west", now - timedelta(days=3), 100.0),
        ("eu-west", now - timedelta(minutes=1), 30.0),
        ("eu-west", now - timedelta(minutes=1), 50.0),
        ("us-east", now - timedelta(minutes=1), 80.0),
    ]
    for region, at, latency in made:
        server.monitoring.report(region, monitor["id"], Outcome("up", latency_ms=latency), at)
    server.monitoring.report(
        "us-east", monitor["id"], Outcome("down", error="refused"), now - timedelta(minutes=1)
    )
    await server.monitoring.flush()
    path = f"{ORG}/monitors/{monitor['id']}/response-times"

    day = await api.ok("GET", path)  # 24 hours by default, an hour a point
    assert (day["range"], day["step_seconds"]) == ("24h", 3600)
    assert parse_iso(day["from"]) <= now - timedelta(hours=24)
    regions = {r["region"]: r["points"] for r in day["regions"]}
    assert len(regions["eu-west"]) == 1  # three days ago is out of the range
    assert (regions["eu-west"][0]["avg_ms"], regions["eu-west"][0]["max_ms"]) == (40.0, 50.0)
    assert regions["us-east"][0] == {
        "at": regions["us-east"][0]["at"],
        "avg_ms": 80.0,  # a failure without an answer has no time
        "max_ms": 80.0,
        "checks": 2,
        "down": 1,
    }
    week = await api.ok("GET", f"{path}?range=7d")
    points = next(r["points"] for r in week["regions"] if r["region"] == "eu-west")
    assert [p["avg_ms"] for p in points] == [100.0, 40.0]
    quarter = await api.ok("GET", f"{path}?range=90d")
    assert quarter["step_seconds"] == 12 * 3600
    for region in quarter["regions"]:
        for point in region["points"]:
            assert parse_iso(point["at"]).hour % 12 == 0

    wrong = await api.get(f"{path}?range=1y")
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "range"


async def test_the_incidents_a_monitor_opened(server: Server, api: Api) -> None:
    monitor = await make(
        api, name="Edge", regions=["eu-west"], spec=EDGE, policy="incident", resolve_after=0
    )
    other = await api.ok("POST", f"{ORG}/incidents", {"name": "Slow emails"}, status=201)
    assert server.monitoring is not None
    server.monitoring.report("eu-west", monitor["id"], Outcome("down", error="refused"))
    path = f"{ORG}/monitors/{monitor['id']}"
    down = await shown(api, path, lambda m: m["incident_id"] is not None)
    server.monitoring.report("eu-west", monitor["id"], Outcome("up", latency_ms=12.0))
    await shown(api, path, lambda m: m["incident_id"] is None)
    opened = (await api.ok("GET", f"{path}/incidents"))["data"]
    assert [i["id"] for i in opened] == [down["incident_id"]] != [other["id"]]
    assert opened[0]["name"] == "API is down" and opened[0]["status"] == "resolved"
    assert down["opened_incidents"] == [down["incident_id"]]


async def test_every_monitors_uptime_at_a_glance(server: Server, api: Api) -> None:
    edge = await make(api, name="Edge", regions=["eu-west"], spec=EDGE)
    quiet = await make(api, name="Backup", kind="heartbeat", spec={}, interval=3600)
    assert server.monitoring is not None
    server.monitoring.report("eu-west", edge["id"], Outcome("up", latency_ms=20.0))
    await shown(api, f"{ORG}/monitors/{edge['id']}", lambda m: m["verdict"] == "up")
    await server.monitoring.flush()
    glance = await api.ok("GET", f"{ORG}/uptime")
    by_id = {m["monitor"]: m for m in glance["data"]}
    assert [m["monitor"] for m in glance["data"]] == [quiet["id"], edge["id"]]  # by name
    assert by_id[edge["id"]]["verdict"] == "up"
    assert by_id[edge["id"]]["uptime"] == {"24h": 100.0, "30d": 100.0}
    [hour] = by_id[edge["id"]]["response_times"]
    assert (hour["avg_ms"], hour["checks"]) == (20.0, 1)
    assert by_id[quiet["id"]] == {
        "monitor": quiet["id"],
        "verdict": "unknown",
        "uptime": {"24h": None, "30d": None},  # no verdict yet: nothing known
        "response_times": [],
    }


async def test_a_page_of_results_never_splits_a_moment(server: Server, api: Api) -> None:
    monitor = await make(api, name="Edge", regions=["eu-west", "us-east"], spec=EDGE)
    assert server.monitoring is not None
    now = datetime.now(UTC)
    then = now - timedelta(seconds=30)
    for region, at in (("eu-west", now), ("eu-west", then), ("us-east", then)):
        server.monitoring.report(region, monitor["id"], Outcome("up", latency_ms=9.0), at)
    await server.monitoring.flush()
    first = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}/results?limit=2")
    assert [r["region"] for r in first["data"]] == ["eu-west"]  # not one of the two at `then`
    second = await api.ok("GET", first["next"])
    assert sorted(r["region"] for r in second["data"]) == ["eu-west", "us-east"]
    assert {r["at"] for r in second["data"]} == {iso(then)}
    assert second["next"] is None
