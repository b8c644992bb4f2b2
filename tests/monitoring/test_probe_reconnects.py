"""A remote probe keeps its results while the server is away and sends them,
once each, when it comes back."""

from __future__ import annotations

from typing import Any

import trio
from support import Api, eventually
from switchboard_client.testing import RunningServer
from target import HttpServer, Reply

from server.monitoring.probe import Probe
from server.monitoring.remote import RemoteProbe
from server.netguard import ANY

ORG = "/api/v1/orgs/demo"


async def results(api: Api, monitor: str) -> list[dict[str, Any]]:
    page = await api.ok("GET", f"{ORG}/monitors/{monitor}/results?limit=1000")
    data: list[dict[str, Any]] = page["data"]
    return data


async def test_results_made_while_the_server_is_away_arrive_after(
    switchboard_server: RunningServer, web: HttpServer, nursery: trio.Nursery
) -> None:
    web.routes["/r"] = Reply(200, b"ok")
    async with Api.open(switchboard_server.url, switchboard_server.token()) as api:
        monitor = await api.ok(
            "POST",
            f"{ORG}/monitors",
            {
                "name": "Away",
                "service": "API",
                "kind": "http",
                "regions": ["eu-west"],
                "interval": 3600,
                "spec": {"url": web.url("/r")},
            },
            201,
        )
    server = switchboard_server.server
    probe = RemoteProbe(
        switchboard_server.url,
        server.tokens.issue_probe("eu-west"),
        "eu-west",
        every=0.1,
        probe=Probe(ANY),
    )
    await nursery.start(probe.run)
    assert list(probe.scheduler.entries) == [monitor["id"]]
    entry = probe.scheduler.entries[monitor["id"]]
    check = probe.scheduler.check  # what the schedule runs for each monitor it has due

    await check(entry.org, entry.monitor)  # one check, sent at once
    await eventually(lambda: probe.sent == 1, "the result to be acknowledged")

    await switchboard_server.stop()  # away...
    web.routes["/r"] = Reply(503, b"down")
    await check(entry.org, entry.monitor)  # ...while the probe goes on
    await check(entry.org, entry.monitor)
    assert len(probe.outbox) == 2
    await switchboard_server.restart()  # ...and back, on the same port

    await eventually(
        lambda: not probe.outbox and probe.sent == 3, "the results to be acknowledged", within=30
    )
    assert switchboard_server.server.monitoring is not None
    await switchboard_server.call(switchboard_server.server.monitoring.flush)
    async with Api.open(switchboard_server.url, switchboard_server.token()) as api:
        seen = await results(api, monitor["id"])
    assert [r["outcome"] for r in seen] == ["down", "down", "up"]  # newest first, none twice
    assert {r["region"] for r in seen} == {"eu-west"}
