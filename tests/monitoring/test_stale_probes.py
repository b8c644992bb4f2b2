"""A probe that dies stops counting: its region goes stale for the monitors it
checked, then its probe is offline, and the members are told once when it
goes silent and once when it comes back.

The server runs on trio's MockClock at the real pace, and the test jumps it
forward to make minutes of silence pass; between jumps it waits for the
live regions to report, so that only the dead one falls silent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from monitor_support import ORG, Probes, make, reporting
from support import Api, eventually, shown, token
from target import HttpServer, Reply

from server.domain.model import parse_iso
from server.main import Server

JUMP = 30.0  # seconds of silence a jump makes: less than a region needs to go stale


async def jump_while_live(
    clock: trio.testing.MockClock, api: Api, monitor_id: str, live: list[str]
) -> None:
    """Move the clock JUMP seconds on, then wait until each region of ``live``
    has reported the monitor again (the dead one cannot)."""
    jumped = datetime.now(UTC)
    clock.jump(JUMP)

    def fresh(page: dict[str, Any]) -> bool:
        return {r["region"] for r in page["data"] if parse_iso(r["at"]) > jumped} >= set(live)

    results = f"{ORG}/monitors/{monitor_id}/results?limit=100"
    await shown(api, results, fresh, 30)  # a hang guard: probes check every 10 s


def hooked(web: HttpServer) -> list[tuple[str, Any]]:
    """The notifications the hook received: (event, data)."""
    return [
        (seen.headers["x-switchboard-event"], orjson.loads(seen.body)["data"])
        for seen in web.seen
        if seen.path == "/hook"
    ]


def probe_news(web: HttpServer) -> list[str]:
    """The probes' notifications the hook received, by event."""
    return [event for event, _ in hooked(web) if event.startswith("probe.")]


@pytest.mark.slow
async def test_a_dead_probe_leaves_the_quorum_goes_offline_and_is_told_once(
    server: Server, jumping_api: Api, web: HttpServer, probes: Probes, clock: trio.testing.MockClock
) -> None:
    web.routes["/edge"] = Reply(503, b"no")
    web.routes["/hook"] = Reply(200, b"ok")
    await jumping_api.ok(
        "POST",
        f"{ORG}/channels",
        {"kind": "webhook", "name": "Ops", "config": {"url": web.url("/hook")}},
        201,
    )
    probes.start(server.base_url, "eu-west")
    # us-east may not reach the target (on loopback): a bad path, always down.
    probes.start(server.base_url, "us-east", networks="public")
    await reporting(server.base_url, "eu-west", "us-east")
    monitor = await make(
        jumping_api,
        name="Edge",
        interval=10,
        quorum=2,  # checked everywhere: here, eu-west and us-east
        spec={"url": web.url("/edge"), "timeout": 2},
    )
    path = f"{ORG}/monitors/{monitor['id']}"
    seen = await shown(jumping_api, path, lambda m: len(m["failing_regions"]) == 3, 60)
    assert seen["verdict"] == "down"
    probes.kill("eu-west")  # while it sees the monitor down
    web.routes["/edge"] = Reply(200, b"ok")

    # Its last word was "down", and us-east still fails: two regions of three.
    # Once eu-west is stale, only the live ones count, and they disagree.
    for _ in range(2):
        await jump_while_live(clock, jumping_api, monitor["id"], ["local", "us-east"])
    seen = await shown(jumping_api, path, lambda m: m["verdict"] == "up")
    assert seen["failing_regions"] == ["us-east"]
    assert seen["regions_stale"] == ["eu-west"] and seen["regions_live"] == ["local", "us-east"]
    assert seen["quorum_met"] is True  # two live regions for a quorum of two
    assert (await jumping_api.ok("GET", f"{ORG}/services/API"))["status"] == "operational"

    # Ninety seconds without a word: its probe is offline, and the members hear it.
    for _ in range(2):
        await jump_while_live(clock, jumping_api, monitor["id"], ["local", "us-east"])
    await eventually(lambda: probe_news(web) == ["probe.offline"], "probe.offline", within=30)
    offline = next(data for event, data in hooked(web) if event == "probe.offline")
    assert offline["region"] == "eu-west" and offline["last_seen"]
    assert offline["monitors"] == [{"id": monitor["id"], "name": "Edge"}]
    async with Api.open(server.base_url, token("*", "admin"), keep_alive=False) as operator:
        regions = {
            r["region"]: r for r in (await operator.ok("GET", "/api/v1/monitoring"))["regions"]
        }
    assert regions["eu-west"]["state"] == "offline" and not regions["eu-west"]["connected"]
    assert regions["eu-west"]["last_seen"] == offline["last_seen"]
    assert regions["us-east"]["state"] == "live" and regions["local"]["own"]
    probes_seen = await jumping_api.ok("GET", f"{ORG}/probes")
    assert {r["region"]: r["state"] for r in probes_seen["data"]} == {
        "eu-west": "offline",
        "local": "live",
        "us-east": "live",
    }

    probes.start(server.base_url, "eu-west")  # back
    await eventually(
        lambda: probe_news(web) == ["probe.offline", "probe.online"], "probe.online", within=30
    )
    # One more sweep of the regions: it is still told once.
    await jump_while_live(clock, jumping_api, monitor["id"], ["eu-west", "local", "us-east"])
    assert server.notify_feed is not None and server.notifier is not None
    await server.notify_feed.tell("org:demo")
    told = [d["event"] for d in await server.notifier.deliveries("demo")]
    assert sorted(e for e in told if e.startswith("probe.")) == ["probe.offline", "probe.online"]
