"""A quorum must be one the regions that report can meet: refused when it is
set, and said in the monitor's view when regions go stale or offline."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from monitor_support import ORG
from support import TOKENS, Api, shown
from switchboard_client import connect
from target import HttpServer, Reply

from server.main import Server


def monitor(**fields: Any) -> dict[str, Any]:
    return {"name": "Edge", "service": "API", "kind": "http", "up_after": 1, **fields}


async def test_a_quorum_the_regions_cannot_meet_is_refused_and_then_said(
    server: Server, jumping_api: Api, web: HttpServer, clock: trio.testing.MockClock
) -> None:
    web.routes["/edge"] = Reply(200, b"ok")
    spec = {"url": web.url("/edge")}
    # Only the server's own region reports: checked everywhere, 2 cannot agree.
    refused = await jumping_api.post(f"{ORG}/monitors", monitor(quorum=2, spec=spec))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "quorum")
    assert error["message"] == (
        "quorum 2 cannot be met: 1 region reports (local); ask for fewer, or run more probes"
    )
    beat = await jumping_api.post(
        f"{ORG}/monitors", monitor(name="Beat", kind="heartbeat", quorum=2)
    )
    assert beat.status_code == 422 and beat.json()["error"]["field"] == "quorum"
    assert (await jumping_api.ok("GET", f"{ORG}/monitors"))["data"] == []

    async with connect(server.base_url, TOKENS.issue_probe("eu-west")) as probe:
        await probe.subscribe("probe:eu-west")  # a second region reports
        made = await jumping_api.ok("POST", f"{ORG}/monitors", monitor(quorum=2, spec=spec), 201)
        path = f"{ORG}/monitors/{made['id']}"
        await jumping_api.ok("POST", f"{path}/check")  # the server's region checks it...
        result = {"id": "r1", "monitor": made["id"], "at": "2026-01-01T00:00:00Z", "outcome": "up"}
        await probe.report("eu-west", [result])  # ...and so does eu-west
        seen = await shown(jumping_api, path, lambda m: m["verdict"] == "up")
        assert seen["regions_live"] == ["eu-west", "local"] and seen["regions_stale"] == []
        assert seen["quorum_met"] is True and seen["quorum_note"] is None
    # eu-west's probe is gone: a minute and a half later, it is stale and offline.
    clock.jump(100)
    seen = await shown(jumping_api, path, lambda m: m["quorum_met"] is False)
    assert seen["regions_stale"] == ["eu-west"] and "local" in seen["regions_live"]
    assert seen["quorum_note"] == (
        "quorum 2 cannot be met now: only 1 region reports (local); eu-west is stale,"
        " eu-west's probe is offline. Until it can, the monitor keeps its verdict."
    )
    assert seen["verdict"] == "up"  # kept: one region cannot decide a quorum of two
    listed = (await jumping_api.ok("GET", f"{ORG}/monitors"))["data"]
    assert listed[0]["quorum_met"] is False
