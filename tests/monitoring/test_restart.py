"""A restarted server keeps each monitor's verdict until fresh results decide:
its trackers start empty, and the first region to report must not flip a
quorum on its own."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio
from monitor_support import ORG, Probes, reporting
from support import Api, admin_token, eventually, shown
from target import HttpServer, Reply

from server.config import Config
from server.main import Server

REGIONS = ["eu-west", "local", "us-east"]


@pytest.mark.slow
async def test_a_restart_keeps_the_verdict_until_enough_regions_report_again(
    server: Server, config: Config, nursery: trio.Nursery, web: HttpServer, probes: Probes
) -> None:
    web.routes["/edge"] = Reply(503, b"no")
    web.routes["/hook"] = Reply(200, b"ok")
    async with Api.open(server.base_url, admin_token()) as api:
        await api.ok(
            "POST",
            f"{ORG}/channels",
            {
                "kind": "webhook",
                "name": "Ops",
                "config": {"url": web.url("/hook")},
                "events": ["monitor.down", "monitor.up"],
            },
            201,
        )
        probes.start(server.base_url, "eu-west")
        probes.start(server.base_url, "us-east")
        await reporting(server.base_url, "eu-west", "us-east")
        monitor = await api.ok(
            "POST",
            f"{ORG}/monitors",
            {
                "name": "Edge",
                "service": "API",
                "kind": "http",
                "interval": 10,
                "down_after": 1,
                "up_after": 1,
                "quorum": 2,  # checked everywhere: here, eu-west and us-east
                "spec": {"url": web.url("/edge"), "timeout": 2},
            },
            201,
        )
        path = f"{ORG}/monitors/{monitor['id']}"
        await shown(api, path, lambda m: m["failing_regions"] == REGIONS, 60)
        seen = await api.ok("GET", path)
        assert seen["verdict"] == "down"
        before = (await api.ok("GET", ORG))["version"]

    await server.stop()  # the probes keep checking, and reconnect
    again: Server = await nursery.start(Server(replace(config, port=server.port)).run)
    monitoring = again.monitoring
    assert monitoring is not None
    await eventually(
        lambda: sorted(monitoring.trackers[monitor["id"]].regions) == REGIONS,
        "every region to report since the restart",
        within=60,
    )

    async with Api.open(again.base_url, admin_token()) as api:
        seen = await api.ok("GET", path)
        assert (seen["verdict"], seen["failing_regions"]) == ("down", REGIONS)
        assert (await api.ok("GET", f"{ORG}/services/API"))["status"] == "major_outage"
        # Nothing happened to the organization at all: no verdict, no status went by.
        assert (await api.ok("GET", ORG))["version"] == before
    assert again.notify_feed is not None and again.notifier is not None
    await again.notify_feed.tell("org:demo")
    told = [d["event"] for d in await again.notifier.deliveries("demo")]
    assert told == ["monitor.down"]
    await again.stop()
