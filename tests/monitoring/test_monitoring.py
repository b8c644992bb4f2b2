"""Monitoring in the running server: real checks of a real target, verdicts
reaching the organization, heartbeats, results and uptime over REST."""

from __future__ import annotations

import re

import trio
from monitor_support import ORG, make
from support import Api, shown, token
from target import HttpServer, Reply

from server.config import Config
from server.main import Server
from server.monitoring.reports import Outcome


async def test_an_outage_sets_the_service_and_recovery_restores_it(
    server: Server, api: Api, web: HttpServer
) -> None:
    web.routes["/health"] = Reply(200, b'{"db": "ok"}')
    spec = {"url": web.url("/health"), "json_path": "db", "json_expected": "ok"}
    monitor = await make(api, name="API health", spec=spec)
    check = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    assert check["outcome"] == "up" and check["region"] == "local" and check["status_code"] == 200
    await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")

    web.routes["/health"] = Reply(503, b"busy")
    check = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    assert check["outcome"] == "down" and check["error"] == "status 503, expected 200-399"
    await shown(api, f"{ORG}/services/API", lambda s: s["status"] == "major_outage")
    seen = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}")
    assert seen["verdict"] == "down" and seen["failing_regions"] == ["local"]
    assert seen["error"] == "status 503, expected 200-399"

    web.routes["/health"] = Reply(200, b'{"db": "ok"}')
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    await shown(api, f"{ORG}/services/API", lambda s: s["status"] == "operational")


async def test_an_incident_is_opened_and_resolved_by_the_monitor(
    server: Server, api: Api, web: HttpServer
) -> None:
    web.routes["/"] = Reply(200, b"Welcome")
    spec = {"url": web.url("/"), "keyword": "Welcome"}
    monitor = await make(
        api, name="Home page", service="Website", policy="incident", spec=spec, resolve_after=0
    )
    web.routes["/"] = Reply(200, b"Oops")
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    opened = await shown(api, f"{ORG}/incidents?status=active", lambda page: len(page["data"]) == 1)
    incident = opened["data"][0]
    assert incident["name"] == "Website is down"
    # The public reads the service's name; why, in the check's words, stays with members.
    assert incident["updates"][0]["body"] == "We are investigating: Website is not responding."
    assert incident["updates"][0]["author"] == "monitor"
    seen = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}")
    assert "keyword 'Welcome' not found" in seen["error"]
    web.routes["/"] = Reply(200, b"Welcome back")
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    await shown(api, f"{ORG}/incidents/{incident['id']}", lambda i: i["status"] == "resolved")


async def test_a_quorum_of_regions_decides(server: Server, api: Api) -> None:
    monitor = await make(
        api,
        name="Edge",
        regions=["eu-west", "us-east"],
        quorum=2,
        spec={"url": "http://edge.test/"},
    )
    monitoring = server.monitoring
    assert monitoring is not None
    monitoring.report("eu-west", monitor["id"], Outcome("down", error="timed out after 10 s"))
    monitoring.report("us-east", monitor["id"], Outcome("up", latency_ms=20.0))
    seen = await shown(
        api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["failing_regions"] == ["eu-west"]
    )
    assert seen["verdict"] == "up"  # one bad path is no outage, but it is said
    assert (await api.ok("GET", f"{ORG}/services/API"))["status"] == "operational"
    monitoring.report("us-east", monitor["id"], Outcome("down", error="connection refused"))
    await shown(api, f"{ORG}/services/API", lambda s: s["status"] == "major_outage")
    seen = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}")
    assert seen["verdict"] == "down" and seen["failing_regions"] == ["eu-west", "us-east"]


async def test_heartbeats_keep_it_up_and_silence_brings_it_down(server: Server, api: Api) -> None:
    monitor = await make(
        api, name="Nightly backup", kind="heartbeat", spec={}, interval=60, grace=0
    )
    token = monitor.pop("heartbeat_token")
    async with Api.open(server.base_url) as anonymous:  # the token is the credential
        assert (await anonymous.post(f"/api/v1/heartbeat/{token}")).status_code == 200
        assert (await anonymous.get(f"/api/v1/heartbeat/{token}")).status_code == 200
        missing = await anonymous.get("/api/v1/heartbeat/sbh_nothing")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")
    monitoring = server.monitoring
    assert monitoring is not None
    monitoring.last_beat[monitor["id"]] -= 61  # a minute of silence, as far as it knows
    seen = await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "down")
    assert re.fullmatch(r"no heartbeat for 6\d s \(expected every 60 s\)", seen["error"])
    async with Api.open(server.base_url) as anonymous:
        await anonymous.post(f"/api/v1/heartbeat/{token}")
    await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")


async def test_a_new_push_url_replaces_the_old_one(server: Server, api: Api) -> None:
    monitor = await make(api, name="Nightly export", kind="heartbeat", spec={}, interval=60)
    old = monitor.pop("heartbeat_token")
    renewed = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/token")
    new = renewed.pop("heartbeat_token")
    assert "heartbeat_token" not in await api.ok("GET", f"{ORG}/monitors/{monitor['id']}")
    async with Api.open(server.base_url) as job:
        assert (await job.get(f"/api/v1/heartbeat/{old}")).status_code == 404
        assert (await job.get(f"/api/v1/heartbeat/{new}")).status_code == 200
    await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")


async def test_a_heartbeat_says_how_the_job_went_as_kuma_s_push_url_does(
    server: Server, api: Api
) -> None:
    monitor = await make(api, name="Backup", kind="heartbeat", spec={}, interval=60, grace=0)
    token = monitor.pop("heartbeat_token")
    beat, path = f"/api/v1/heartbeat/{token}", f"{ORG}/monitors/{monitor['id']}"
    async with Api.open(server.base_url) as job:
        failed = await job.get(f"{beat}?status=down&msg=backup+failed&ping=")
        assert failed.status_code == 200 and failed.json() == {"ok": True}
        seen = await shown(api, path, lambda m: m["verdict"] == "down")
        assert seen["error"] == "backup failed"
        assert (await job.get(f"{beat}?status=up&msg=OK&ping=12.5")).status_code == 200
        await shown(api, path, lambda m: m["verdict"] == "up")
        form = await job.client.post(beat, data={"status": "down", "msg": "disk full"})
        assert form.status_code == 200
        seen = await shown(api, path, lambda m: m["verdict"] == "down")
        assert seen["error"] == "disk full"
        assert (await job.post(beat, {"status": "up", "ping": 3})).status_code == 200
        await shown(api, path, lambda m: m["verdict"] == "up")
        for query, field in (
            ("status=late", "status"),
            ("ping=-1", "ping"),
            ("ping=soon", "ping"),
            ("msg=a%00b", "msg"),
        ):
            refused = await job.get(f"{beat}?{query}")
            assert refused.status_code == 422, query
            assert refused.json()["error"]["code"] == "invalid_field"
            assert refused.json()["error"]["field"] == field
        long = await job.get(f"{beat}?status=up&msg={'x' * 5000}")
        assert long.status_code == 200  # a long message is cut, the beat counts
    assert server.monitoring is not None
    await server.monitoring.flush()
    page = await api.ok("GET", f"{path}/results?limit=10")
    said = [(r["outcome"], r["latency_ms"], r["error"], r["message"]) for r in page["data"]]
    assert said[1:] == [
        ("up", 3.0, None, None),
        ("down", None, "disk full", "disk full"),
        ("up", 12.5, None, "OK"),
        ("down", None, "backup failed", "backup failed"),
    ]
    assert said[0][3] == "x" * 1000


async def test_results_and_uptime_are_kept(server: Server, api: Api, web: HttpServer) -> None:
    web.routes["/ok"] = Reply(200, b"fine")
    monitor = await make(api, name="Results", spec={"url": web.url("/ok")}, paused=False)
    for status in (200, 200, 500, 200):
        web.routes["/ok"] = Reply(status, b"fine")
        await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    assert server.monitoring is not None
    await server.monitoring.flush()
    page = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}/results?limit=3")
    assert len(page["data"]) == 3 and page["next"]
    assert page["data"][1]["outcome"] == "down" and page["data"][1]["status_code"] == 500
    assert all(r["region"] == "local" and r["latency_ms"] is not None for r in page["data"])
    rest = await api.ok("GET", page["next"])
    assert len(rest["data"]) >= 1  # the scheduled first check may have come too
    uptime = await api.ok("GET", f"{ORG}/monitors/{monitor['id']}/uptime")
    day = uptime["windows"]["24h"]
    assert day["down"] == 1 and day["checks"] >= 4  # every region's checks...
    assert day["regions"] == {  # ...and each region's (only the server's here)
        "local": {
            "uptime": round(100 * (day["checks"] - 1) / day["checks"], 4),
            "checks": day["checks"],
            "down": 1,
        }
    }
    assert uptime["daily"][-1]["checks"] == day["checks"]
    assert uptime["response_times"][-1]["avg_ms"] > 0
    bad = await api.get(f"{ORG}/monitors/{monitor['id']}/results?before=yesterday")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "before"


async def test_bad_monitor_input_names_its_field(server: Server, api: Api) -> None:
    response = await api.post(
        f"{ORG}/monitors",
        {
            "name": "Bad",
            "service": "API",
            "kind": "http",
            "spec": {"url": "http://x", "timeout": 0},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "spec.timeout"
    assert (await api.ok("GET", f"{ORG}/monitors"))["data"] == []


async def test_operators_see_what_the_probe_is_doing(
    server: Server, api: Api, web: HttpServer
) -> None:
    web.routes["/s"] = Reply(200, b"ok")
    monitor = await make(api, name="Stats", spec={"url": web.url("/s")})
    await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    assert (await api.get("/api/v1/monitoring")).status_code == 403  # one organization's admin
    async with Api.open(server.base_url, token("*", "admin")) as operator:
        stats = await operator.ok("GET", "/api/v1/monitoring")
    assert stats["region"] == "local" and stats["monitors"] == 1 and stats["checked_here"] == 1
    assert stats["results"] >= 1 and stats["checks_skipped"] == 0
    assert set(stats["lag_seconds"]) == {"p50", "p99", "max"}
    assert set(stats["storage_bytes"]) == {"results", "rollups"}


async def test_monitors_are_managed_over_the_org_topic_with_the_client(server: Server) -> None:
    from switchboard_client import connect

    async with connect(server.base_url, token("demo", "responder")) as client:
        feed = await client.subscribe("org:demo")
        assert feed.snapshot["monitors"] == []
        made = await client.monitor_create(
            "demo", name="Socket", service="API", kind="tcp", spec={"host": "127.0.0.1", "port": 9}
        )
        event = await feed.next()
        assert event.name == "monitor.created" and event.data["monitor"]["id"] == made["id"]
        await client.monitor_update("demo", monitor="Socket", interval=60)
        event = await feed.next()
        assert event.name == "monitor.updated" and event.data["monitor"]["interval"] == 60
        assert await client.monitor_delete("demo", monitor=made["id"]) == {"deleted": made["id"]}


async def test_the_tours_monitor_watches_the_demo_server_itself(
    config: Config, nursery: trio.Nursery
) -> None:
    """The README's monitor (the server's own /health) works on the demo as
    written: it was a host that does not resolve, and opened an incident."""
    import dataclasses

    demo = Config.from_env(demo=True)
    assert demo.check_networks == "public,private,loopback"
    assert Config.from_env().check_networks == "public,private"  # loopback only for the demo
    started: Server = await nursery.start(
        Server(dataclasses.replace(config, check_networks=demo.check_networks)).run
    )
    try:
        async with Api.open(started.base_url, token("demo", "admin")) as api:
            body = {
                "name": "API health",
                "service": "API",
                "kind": "http",
                "policy": "incident",
                "spec": {"url": f"{started.base_url}/health", "expected_status": ["200"]},
            }
            monitor = await api.ok("POST", f"{ORG}/monitors", body, status=201)
            for _ in range(2):  # down_after and up_after are 2 by default
                check = await api.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
                assert check["outcome"] == "up", check
            await shown(api, f"{ORG}/monitors/{monitor['id']}", lambda m: m["verdict"] == "up")
            assert (await api.ok("GET", f"{ORG}/incidents?status=active"))["data"] == []
    finally:
        await started.stop()
