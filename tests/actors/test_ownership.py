"""Two nodes sharing one database: each organization's actor runs on one node
at a time, under its lease, and a deposed node's writes never commit."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trio
from support import eventually

from server.actors.ownership import Elsewhere, Ownership
from server.actors.registry import Registry
from server.config import Limits
from server.domain import commands as c
from server.errors import Unavailable
from server.store import Leases, Store

LIMITS = Limits(actor_idle_seconds=3600)


@dataclass
class Node:
    name: str
    store: Store
    registry: Registry


@pytest.fixture
async def nodes(database_url: str, nursery: trio.Nursery) -> AsyncIterator[dict[str, Node]]:
    """Nodes "a" and "b", each with its own connections, renewing every 0.2 s
    a lease of a minute (a test takes a lease away by expiring it)."""
    ids = (f"id{n}" for n in itertools.count())
    made: dict[str, Node] = {}
    async with Store.open(database_url) as store_a, Store.open(database_url) as store_b:
        for name, store in (("a", store_a), ("b", store_b)):
            ownership = Ownership(Leases(store), name, seconds=60, renew=0.2)
            registry = Registry(
                store, LIMITS, "http://test", id_factory=lambda: next(ids), ownership=ownership
            )
            await nursery.start(registry.run)
            made[name] = Node(name, store, registry)
        yield made
        for node in made.values():
            with trio.move_on_after(5):
                await node.registry.shutdown()


async def expire_lease(store: Store, stream: str) -> None:
    """What a node that paused (or lost the database) past its lease looks like
    to the others: its lease has run out, though it has not noticed yet."""
    await store.write(
        [("UPDATE leases SET expires_at = clock_timestamp() WHERE stream = $1", (stream,))]
    )


def services(registry: Registry, slug: str) -> set[str]:
    handle = next(h for h in registry.running() if h.stream == f"org:{slug}")
    return {s.name for s in handle.state.services.values()}  # type: ignore[attr-defined]


async def test_an_organization_runs_on_one_node_and_the_other_is_told_where(
    nodes: dict[str, Node],
) -> None:
    a, b = nodes["a"].registry, nodes["b"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")
    with pytest.raises(Elsewhere) as told:
        await b.execute("acme", c.CreateService(name="Web"), "tester")
    assert told.value.owner == "a" and isinstance(told.value, Unavailable)
    assert services(a, "acme") == {"API"}


async def test_a_released_organization_moves_to_the_next_node_that_asks(
    nodes: dict[str, Node],
) -> None:
    a, b = nodes["a"].registry, nodes["b"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")
    with trio.fail_after(10):
        await a.shutdown()  # a graceful stop lets the lease go
    await b.execute("acme", c.CreateService(name="Web"), "tester")
    assert services(b, "acme") == {"API", "Web"}


async def test_a_node_that_paused_past_its_lease_cannot_commit_and_stops(
    nodes: dict[str, Node],
) -> None:
    a, b = nodes["a"].registry, nodes["b"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")
    handle_a = await a.org("acme")
    await expire_lease(nodes["a"].store, "org:acme")
    await b.org("acme")  # b takes it over, and has written nothing yet

    # a still believes it owns acme until its renewal says otherwise: whatever it
    # decides now is refused by the fencing, and its caller learns nothing was done.
    try:
        await a.execute("acme", c.CreateService(name="Ghost"), "tester")
    except Elsewhere as exc:  # the renewal noticed first: a had stopped already
        assert exc.owner == "b"
    except Unavailable as exc:
        assert "nothing was changed" in exc.message
    else:
        raise AssertionError("a deposed node committed a change")
    await eventually(lambda: handle_a.stopped.is_set(), "a's actor to stop")
    assert handle_a.deposed
    await b.execute("acme", c.CreateService(name="Web"), "tester")
    assert services(b, "acme") == {"API", "Web"}
    loaded = await nodes["b"].store.load("org:acme")
    assert loaded is not None
    names = [e.data["service"]["name"] for e in loaded.events if e.name == "service.created"]
    assert names == ["API", "Web"]  # nothing of a's after the takeover
    with pytest.raises(Elsewhere) as told:
        await a.org("acme")
    assert told.value.owner == "b"


async def test_a_renewal_that_finds_the_lease_gone_stops_the_actor_unasked(
    nodes: dict[str, Node],
) -> None:
    a, b = nodes["a"].registry, nodes["b"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    handle_a = await a.org("acme")
    await expire_lease(nodes["a"].store, "org:acme")
    await b.org("acme")  # b takes it over
    await eventually(lambda: handle_a.stopped.is_set(), "a's renewal to notice")
    assert handle_a.deposed
    assert [h.stream for h in b.running()] == ["org:acme"]
