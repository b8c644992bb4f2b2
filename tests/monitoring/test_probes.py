"""Remote probes: assignments over probe:<region>, reports, quorum from two
probe processes, and what a probe token may not do."""

from __future__ import annotations

from metrics_support import scrape
from monitor_support import ORG, Probes, make
from support import TOKENS, Api, open_ws, shown, token
from switchboard_client import connect
from target import HttpServer, Reply

from server.main import Server


async def test_a_probe_gets_its_region_s_monitors_and_their_changes(
    server: Server, api: Api
) -> None:
    everywhere = await make(api, name="Everywhere", spec={"url": "http://a.test/"})
    await make(api, name="Elsewhere", regions=["us-east"], spec={"url": "http://b.test/"})
    async with connect(server.base_url, TOKENS.issue_probe("eu-west")) as probe:
        assert probe.welcome["kind"] == "probe" and probe.welcome["subject"] == "probe:eu-west"
        feed = await probe.subscribe("probe:eu-west")
        assert [m["monitor"]["name"] for m in feed.snapshot["monitors"]] == ["Everywhere"]
        made = await make(api, name="Europe", regions=["eu-west"], spec={"url": "http://c.test/"})
        event = await feed.next()
        assert event.name == "monitor.assigned" and event.data["monitor"]["id"] == made["id"]
        await api.ok("PATCH", f"{ORG}/monitors/Everywhere", {"paused": True})
        event = await feed.next()
        assert event.name == "monitor.unassigned" and event.data == {"id": everywhere["id"]}
        result = {
            "id": "r1",
            "monitor": made["id"],
            "at": "2026-11-22T12:00:00Z",
            "outcome": "down",
            "latency_ms": None,
            "status_code": None,
            "error": "connection refused",
        }
        assert await probe.report("eu-west", [result]) == {"accepted": 1, "unknown": []}
        # A batch sent again (its answer lost) counts once.
        assert await probe.report("eu-west", [result]) == {"accepted": 0, "unknown": []}
        gone = {**result, "id": "r2", "monitor": "nosuch"}
        assert await probe.report("eu-west", [gone]) == {"accepted": 0, "unknown": ["nosuch"]}


async def test_a_probe_token_is_for_its_region_and_nothing_else(server: Server, api: Api) -> None:
    async with open_ws(server.base_url) as ws:
        await ws.hello(TOKENS.issue_probe("eu-west"))
        other = await ws.request({"type": "subscribe", "topic": "probe:us-east"})
        assert other["type"] == "error" and other["code"] == "forbidden"
        org = await ws.request({"type": "subscribe", "topic": "org:demo"})
        assert org["type"] == "error" and org["code"] == "forbidden"
        bad = await ws.request(
            {
                "type": "command",
                "topic": "probe:eu-west",
                "name": "probe.report",
                "data": {"results": [{"id": "x", "monitor": "m", "at": "now", "outcome": "up"}]},
            }
        )
        assert bad["type"] == "error" and bad["code"] == "invalid_field"
        assert bad["field"] == "results[0].at"
        for scheduler, field in (
            ({"checks_started": -1}, "scheduler.checks_started"),
            ({"lag_seconds": {"p50": "soon"}}, "scheduler.lag_seconds.p50"),
            ({"lag_buckets": [1, 2, 3]}, "scheduler.lag_buckets"),
        ):
            refused = await ws.request(
                {
                    "type": "command",
                    "topic": "probe:eu-west",
                    "name": "probe.report",
                    "data": {"results": [], "scheduler": scheduler},
                }
            )
            assert refused["type"] == "error" and refused["code"] == "invalid_field", refused
            assert refused["field"] == field, refused
    async with open_ws(server.base_url) as ws:  # and nobody else speaks for a region
        await ws.hello(token("demo", "owner"))
        refused = await ws.request({"type": "subscribe", "topic": "probe:eu-west"})
        assert refused["type"] == "error" and refused["code"] == "forbidden"
    async with Api.open(server.base_url, TOKENS.issue_probe("eu-west")) as probe_rest:
        assert (await probe_rest.get(f"{ORG}/services")).status_code == 403


async def test_two_probe_processes_reach_a_quorum(
    server: Server, api: Api, web: HttpServer, probes: Probes
) -> None:
    web.routes["/edge"] = Reply(200, b"ok")
    monitor = await make(
        api,
        name="Edge",
        regions=["eu-west", "us-east"],
        quorum=2,
        interval=10,
        spec={"url": web.url("/edge"), "timeout": 2},
    )
    probes.start(server.base_url, "eu-west")
    probes.start(server.base_url, "us-east")
    path = f"{ORG}/monitors/{monitor['id']}"
    # Both regions have checked it and agree it is up.
    await shown(api, path, lambda m: m["verdict"] == "up" and len(web.seen) >= 2, 40)
    web.routes["/edge"] = Reply(503, b"no")
    seen = await shown(api, path, lambda m: m["verdict"] == "down", 40)
    assert seen["failing_regions"] == ["eu-west", "us-east"]
    assert (await api.ok("GET", f"{ORG}/services/API"))["status"] == "major_outage"
    assert server.monitoring is not None
    await server.monitoring.flush()
    results = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}/results?limit=1000")
    assert {r["region"] for r in results["data"]} == {"eu-west", "us-east"}
    # Each probe's scheduler, as it said with its results: for the operators, and scraped.
    async with Api.open(server.base_url, token("*", "admin")) as operator:
        stats = await operator.ok("GET", "/api/v1/monitoring")
    regions = {r["region"]: r for r in stats["regions"]}
    for region in ("eu-west", "us-east"):
        figures = regions[region]["scheduler"]
        assert figures is not None and figures["checks_started"] >= 1, regions[region]
        assert figures["lag_seconds"]["p50"] is not None and figures["checks_skipped"] >= 0
        scraped = await scrape(server.base_url)
        assert scraped.value("switchboard_check_lag_seconds_count", region=region) >= 1
        assert scraped.value("switchboard_checks_running", region=region) >= 0
