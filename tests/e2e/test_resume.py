"""Resuming with `since`: exactly the missed events, or a fresh snapshot."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from support import Api, Ws, admin_token, open_ws, token

from server.config import Config, Limits
from server.main import Server

SERVICES = "/api/v1/orgs/demo/services"


async def _change(api: Api, service: str, status: str) -> None:
    await api.ok("PATCH", f"{SERVICES}/{service}", {"status": status})


async def _drain(client: Ws, upto: int) -> list[dict[str, Any]]:
    """Events until the one with seq ``upto`` (inclusive)."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["seq"] < upto:
        seen.append(await client.event())
    return seen


async def test_since_replays_exactly_what_was_missed_then_goes_live(api: Api, ws: Any) -> None:
    async with ws() as witness:
        start = (await witness.subscribe("status:demo"))["seq"]
        async with ws() as leaver:
            assert (await leaver.subscribe("status:demo"))["seq"] == start
            await _change(api, "api", "degraded_performance")
            last_seen = (await leaver.event("status.changed"))["seq"]
        # Gone. Things happen meanwhile.
        await _change(api, "api", "major_outage")
        await _change(api, "website", "partial_outage")
        await _change(api, "api", "operational")
        async with ws() as back:
            resumed = await back.subscribe("status:demo", since=last_seen)
            assert resumed["resumed"] is True
            assert "snapshot" not in resumed
            replay = await _drain(back, resumed["seq"])
            witnessed = [e for e in await _drain(witness, resumed["seq"]) if e["seq"] > last_seen]
            assert replay == witnessed  # the same events, in order: no gap, no duplicate
            assert [e["seq"] for e in replay] == list(range(last_seen + 1, resumed["seq"] + 1))

            await _change(api, "database", "degraded_performance")
            live = await back.event()
            assert live["seq"] == resumed["seq"] + 1
            assert back.events == [] or all(e["seq"] > live["seq"] for e in back.events)


async def test_since_equal_to_the_current_seq_replays_nothing(api: Api, ws: Any) -> None:
    async with ws() as client:
        seq = (await client.subscribe("status:demo"))["seq"]
    async with ws() as client:
        resumed = await client.subscribe("status:demo", since=seq)
        assert resumed == {
            "type": "subscribed",
            "id": resumed["id"],
            "topic": "status:demo",
            "seq": seq,
            "resumed": True,
        }
        await _change(api, "api", "partial_outage")
        assert (await client.event())["seq"] == seq + 1


@pytest.mark.parametrize("limits", [Limits(ring=3)])
async def test_since_older_than_the_kept_events_gets_a_fresh_snapshot(api: Api, ws: Any) -> None:
    async with ws() as client:
        seq = (await client.subscribe("status:demo"))["seq"]
    for status in ("degraded_performance", "partial_outage", "major_outage", "operational"):
        await _change(api, "api", status)
    async with ws() as client:
        fresh = await client.subscribe("status:demo", since=seq)
        assert fresh["resumed"] is False
        api_service = next(s for s in fresh["snapshot"]["services"] if s["name"] == "API")
        assert api_service["status"] == "operational"
        assert fresh["seq"] > seq + 3


async def test_since_ahead_of_the_server_gets_a_fresh_snapshot(ws: Any) -> None:
    async with ws() as client:
        fresh = await client.subscribe("status:demo", since=10**6)
        assert fresh["resumed"] is False and "services" in fresh["snapshot"]


async def test_members_resume_the_org_topic_too(api: Api, ws: Any) -> None:
    async with ws() as client:
        await client.hello(token("demo", "viewer"))
        seq = (await client.subscribe("org:demo"))["seq"]
    await _change(api, "api", "degraded_performance")
    async with ws() as client:
        await client.hello(token("demo", "viewer"))
        resumed = await client.subscribe("org:demo", since=seq)
        assert resumed["resumed"] is True
        events = await _drain(client, resumed["seq"])
        assert [e["name"] for e in events] == ["service.updated", "status.changed"]
        assert (
            events[0]["data"]["service"]["manual_status"] == "degraded_performance"
        )  # member view


async def test_resume_works_across_a_server_restart(config: Config, nursery: trio.Nursery) -> None:
    first: Server = await nursery.start(Server(config).run)
    async with open_ws(first.base_url) as client:
        seq = (await client.subscribe("status:demo"))["seq"]
    async with Api.open(first.base_url, admin_token()) as api:
        await _change(api, "api", "major_outage")
        await _change(api, "api", "operational")
    async with open_ws(first.base_url) as witness:
        expected = await _drain(witness, (await witness.subscribe("status:demo", since=seq))["seq"])
    await first.stop()

    second: Server = await nursery.start(Server(config).run)
    try:
        async with open_ws(second.base_url) as client:
            resumed = await client.subscribe("status:demo", since=seq)
            assert resumed["resumed"] is True
            assert await _drain(client, resumed["seq"]) == expected
    finally:
        await second.stop()
