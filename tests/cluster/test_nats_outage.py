"""Two whole nodes (servers in this process) on one PostgreSQL and one NATS
server, which is killed and started again on the same port (or one node
alone is cut off from it, through a relay).

While NATS is away, each node goes on serving what it runs, to its own
subscribers; what must be forwarded, or followed first, is refused with
``unavailable`` (never a hang), and ``/ready`` says ``503``. When NATS is
back, ``/ready`` says ``200``, followers read the commits they missed from
the event log with no new commit needed (their subscribers get each once, in
order), forwarding works again, and a change of identities made meanwhile
reaches the other node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from nats_support import BOUND, NatsServer, Relay, start_nodes, stop_nodes
from support import Api, Ws, admin_token, eventually, open_ws, sql, token

from server.actors.registry import Registry
from server.config import Config
from server.main import Server

ORG = "/api/v1/orgs/demo"
STATUSES = ("degraded_performance", "partial_outage", "major_outage", "operational")


@pytest.fixture
async def servers(
    config: Config, nats_server: NatsServer, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[dict[str, Server]]:
    """Nodes ``a`` and ``b`` on one NATS server."""
    made = await start_nodes(
        config, {"a": nats_server.url, "b": nats_server.url}, tmp_path, nursery
    )
    yield made
    await stop_nodes(made)


@asynccontextmanager
async def apis(servers: dict[str, Server], bearer: str) -> AsyncIterator[tuple[Api, Api]]:
    """REST clients of nodes a and b."""
    async with (
        Api.open(servers["a"].base_url, bearer) as via_a,
        Api.open(servers["b"].base_url, bearer) as via_b,
    ):
        yield via_a, via_b


async def unavailable(request: Awaitable[httpx.Response]) -> None:
    """``request`` is answered (within the hang guard) ``503 unavailable``."""
    with trio.fail_after(BOUND):
        answer = await request
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"


async def ready(api: Api) -> int:
    return (await api.get("/ready")).status_code


async def all_say(status: int, *apis: Api) -> bool:
    """Whether ``/ready`` answers ``status`` on every node."""
    return all([await ready(api) == status for api in apis])


async def kill(nats_server: NatsServer, *apis: Api) -> None:
    """Kill NATS, and wait for those nodes to see it (``/ready`` says 503)."""
    await nats_server.kill()
    await eventually(lambda: all_say(503, *apis), "the nodes to see NATS gone")


def registry(server: Server) -> Registry:
    assert server.registry is not None
    return server.registry


async def change(api: Api, n: int) -> int:
    """Set the demo's website to the ``n``-th status; the HTTP status answered."""
    response = await api.patch(f"{ORG}/services/website", {"status": STATUSES[n % 4]})
    return response.status_code


async def heard(ws: Ws, server: Server) -> list[dict[str, Any]]:
    """The events of status:demo ``ws`` gets, up to the last ``server`` (which
    runs demo) has published."""
    top = (await registry(server).org("demo")).state.public_seq
    got: list[dict[str, Any]] = []
    while not got or got[-1]["seq"] < top:
        got.append(await ws.event(topic="status:demo"))
    return got


async def accepted(api: Api, n: int) -> bool:
    return await change(api, n) == 200


def in_order(events: list[dict[str, Any]], after: int) -> bool:
    """Whether ``events`` are the ones right after seq ``after``, each once."""
    return [e["seq"] for e in events] == list(range(after + 1, after + 1 + len(events)))


def statuses(events: list[dict[str, Any]]) -> list[str]:
    """The website's statuses, in the order they were told."""
    return [e["data"]["service"]["status"] for e in events if e["name"] == "service.updated"]


async def test_while_nats_is_away_each_node_serves_its_own_and_refuses_forwarding(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    a, b = servers["a"], servers["b"]
    async with (
        apis(servers, admin_token()) as (via_a, via_b),
        open_ws(a.base_url) as on_a,
        open_ws(b.base_url) as on_b,
    ):
        await on_a.subscribe("status:demo")
        await on_b.subscribe("status:demo")
        assert await change(via_b, 0) == 200  # forwarded to a, which runs demo
        await heard(on_a, a)
        await heard(on_b, a)
        assert await ready(via_a) == await ready(via_b) == 200

        await kill(nats_server, via_a, via_b)
        answer = await via_a.get("/ready")
        assert answer.json()["reason"] == "not connected to NATS"

        # a runs demo: its writes go on, and its subscribers hear of them.
        for n in range(1, 4):
            assert await change(via_a, n) == 200
        assert statuses(await heard(on_a, a)) == list(STATUSES[1:4])

        # b must forward: refused with unavailable, not left hanging.
        await unavailable(via_b.patch(f"{ORG}/services/website", {"status": "major_outage"}))
        behind = (await registry(b).org("demo")).state.version
        assert behind < (await registry(a).org("demo")).state.version  # b's copy stands still

        await nats_server.start()
        await eventually(lambda: all_say(200, via_a, via_b), "200 on both")


async def test_an_organization_the_other_node_never_followed_is_unavailable_there(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    """b has never looked at acme, which a runs: following it needs NATS, so
    while NATS is away b answers ``unavailable`` for it (and stays up), then
    serves it once NATS is back."""
    acme = "/api/v1/orgs/acme"
    async with apis(servers, token("*", "admin")) as (via_a, via_b):
        await via_a.ok("POST", "/api/v1/orgs", {"slug": "acme", "name": "Acme"}, 201)
        await via_a.ok("POST", f"{acme}/services", {"name": "API"}, 201)  # a runs acme
        await kill(nats_server, via_a, via_b)
        await unavailable(via_b.get(acme))
        await unavailable(via_b.post(f"{acme}/services", {"name": "Web"}))
        assert (await via_b.get("/health")).status_code == 200
        assert (await via_b.get(ORG)).status_code == 200  # b goes on serving the rest

        await nats_server.start()

        async def made() -> bool:
            return (await via_b.post(f"{acme}/services", {"name": "Web"})).status_code == 201

        await eventually(made, "a write through b")
        services = await via_b.ok("GET", f"{acme}/services")
        assert sorted(s["name"] for s in services["data"]) == ["API", "Web"]


async def test_a_node_deposed_while_nats_is_away_keeps_its_subscribers_and_follows_after(
    servers: dict[str, Server], nats_server: NatsServer, database_url: str
) -> None:
    """b runs acme; while NATS is away, a takes acme's lease (b paused past
    it, say). b cannot follow a yet: it keeps its subscribers, says
    ``unavailable`` for writes, and follows once NATS is back."""
    b = servers["b"]
    acme = "/api/v1/orgs/acme"
    async with (
        apis(servers, token("*", "admin")) as (via_a, via_b),
        open_ws(b.base_url) as on_b,
    ):
        await via_b.ok("POST", "/api/v1/orgs", {"slug": "acme", "name": "Acme"}, 201)
        await via_b.ok("POST", f"{acme}/services", {"name": "API"}, 201)  # b runs acme
        subscribed = await on_b.subscribe("status:acme")
        await kill(nats_server, via_a, via_b)

        await sql(
            database_url,
            "UPDATE leases SET owner = 'a', epoch = epoch + 1 WHERE stream = 'org:acme'",
        )
        handle = await registry(b).org("acme")
        await eventually(lambda: handle.owner == "a", "b to learn it lost acme")
        await via_a.ok("POST", f"{acme}/services", {"name": "Web"}, 201)  # a runs it now
        await unavailable(via_b.post(f"{acme}/services", {"name": "DB"}))
        assert (await via_b.get("/health")).status_code == 200

        await nats_server.start()
        made = await on_b.event(topic="status:acme")  # the one b missed, once
        assert made["seq"] == subscribed["seq"] + 1 and made["name"] == "service.created"
        assert made["data"]["service"]["name"] == "Web"

        async def forwarded() -> bool:
            return (await via_b.post(f"{acme}/services", {"name": "DB"})).status_code == 201

        await eventually(forwarded, "a write through b")
        after = await on_b.event(topic="status:acme")
        assert after["seq"] == made["seq"] + 1 and after["data"]["service"]["name"] == "DB"


async def test_after_nats_returns_the_follower_catches_up_and_forwards_again(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    a, b = servers["a"], servers["b"]
    async with (
        apis(servers, admin_token()) as (via_a, via_b),
        open_ws(b.base_url) as on_b,
    ):
        subscribed = await on_b.subscribe("status:demo")
        assert await change(via_b, 0) == 200
        before = await heard(on_b, a)
        assert in_order(before, subscribed["seq"])

        await kill(nats_server, via_a, via_b)
        for n in range(1, 6):  # missed by b: nothing reaches it
            assert await change(via_a, n) == 200
        await nats_server.start()

        # No new write is needed: b reads what it missed from the log.
        missed = await heard(on_b, a)
        assert in_order(missed, before[-1]["seq"])
        assert statuses(missed) == [STATUSES[n % 4] for n in range(1, 6)]
        owner, follower = await registry(a).org("demo"), await registry(b).org("demo")
        assert follower.following and follower.state.version == owner.state.version

        # Forwarding works again; b's subscriber hears it right after the
        # rest (anything told twice would come before it).
        await eventually(lambda: accepted(via_b, 6), "a write through b")
        after = await heard(on_b, a)
        assert in_order(after, missed[-1]["seq"])
        assert statuses(after) == [STATUSES[6 % 4]]


async def test_a_directory_change_made_while_nats_is_away_reaches_the_other_node(
    servers: dict[str, Server], nats_server: NatsServer
) -> None:
    a, b = servers["a"], servers["b"]
    async with Api.open(a.base_url, admin_token()) as via_a, Api.open(b.base_url) as anon_b:
        await kill(nats_server, via_a, anon_b)
        made = await via_a.ok("POST", f"{ORG}/tokens", {"name": "ci", "role": "viewer"}, 201)
        secret = made["token"]
        headers = {"Authorization": f"Bearer {secret}"}
        assert (await anon_b.get(ORG, headers=headers)).status_code == 401  # not yet known

        await nats_server.start()

        async def known() -> bool:
            return (await anon_b.get(ORG, headers=headers)).status_code == 200

        await eventually(known, "b to know the token made meanwhile")


@pytest.fixture
async def relay(nats_server: NatsServer, nursery: trio.Nursery) -> Relay:
    found = Relay(nats_server)
    await nursery.start(found.serve)
    return found


@pytest.fixture
async def apart(
    config: Config, nats_server: NatsServer, relay: Relay, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[dict[str, Server]]:
    """Nodes ``a``, reaching NATS through ``relay`` (to be cut off alone), and ``b``."""
    made = await start_nodes(config, {"a": relay.url, "b": nats_server.url}, tmp_path, nursery)
    yield made
    await stop_nodes(made)


async def test_when_only_the_owner_is_cut_off_its_followers_catch_up_after(
    apart: dict[str, Server], relay: Relay
) -> None:
    """The other nodes see no reconnection of their own: the owner, back,
    tells them it has commits they may have missed."""
    a, b = apart["a"], apart["b"]
    async with (
        apis(apart, admin_token()) as (via_a, via_b),
        open_ws(b.base_url) as on_b,
    ):
        await on_b.subscribe("status:demo")
        assert await change(via_b, 0) == 200
        before = await heard(on_b, a)

        relay.cut()
        await eventually(lambda: all_say(503, via_a), "503 on a")
        assert await ready(via_b) == 200  # b is connected; a is not
        for n in range(1, 4):
            assert await change(via_a, n) == 200
        # Nothing answers for a on NATS.
        await unavailable(via_b.patch(f"{ORG}/services/website", {"status": "major_outage"}))
        relay.mend()

        missed = await heard(on_b, a)  # with no new write
        assert in_order(missed, before[-1]["seq"])
        assert statuses(missed) == list(STATUSES[1:4])
        await eventually(lambda: accepted(via_b, 4), "a write through b")
        after = await heard(on_b, a)
        assert in_order(after, missed[-1]["seq"]) and statuses(after) == [STATUSES[0]]


async def test_a_directory_change_on_a_node_cut_off_alone_reaches_the_others_after(
    apart: dict[str, Server], relay: Relay
) -> None:
    a, b = apart["a"], apart["b"]
    async with Api.open(a.base_url, admin_token()) as via_a, Api.open(b.base_url) as anon_b:
        relay.cut()
        await eventually(lambda: all_say(503, via_a), "503 on a")
        made = await via_a.ok("POST", f"{ORG}/tokens", {"name": "ci", "role": "viewer"}, 201)
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert (await anon_b.get(ORG, headers=headers)).status_code == 401
        relay.mend()

        async def known() -> bool:
            return (await anon_b.get(ORG, headers=headers)).status_code == 200

        await eventually(known, "b to know the token made on a meanwhile")
