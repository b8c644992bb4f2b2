"""Two nodes sharing one database and one NATS: a command reaching the node
that does not run its organization is carried out by the one that does, and
answered exactly as that node answers it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
import trio
from conftest import NatsServer

from server.actors.mailbox import Replay
from server.actors.ownership import Elsewhere, Ownership
from server.actors.registry import Registry
from server.auth import Origin
from server.cluster.bus import Bus
from server.cluster.router import Router
from server.config import Limits
from server.domain import commands as c
from server.errors import NotFound, OutcomeUnknown, PeerError, Unavailable
from server.store import Leases, Store
from server.store.receipts import Receipt

LIMITS = Limits(actor_idle_seconds=3600, database_seconds=5)
ORIGIN = Origin("token", "t1", "deploy-bot", "10.0.0.9")


@dataclass
class Node:
    name: str
    store: Store
    registry: Registry
    router: Router
    router_scope: trio.CancelScope
    router_done: trio.Event


async def run_router(
    node_router: Router,
    scope: trio.CancelScope,
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        with scope:
            await node_router.run(task_status=task_status)
    finally:
        done.set()


@pytest.fixture
async def nodes(
    database_url: str, nats_server: NatsServer, nursery: trio.Nursery
) -> AsyncIterator[dict[str, Node]]:
    ids = (f"id{n}" for n in itertools.count())
    made: dict[str, Node] = {}
    async with AsyncExitStack() as stack:
        for name in ("a", "b"):
            store = await stack.enter_async_context(Store.open(database_url))
            bus = await stack.enter_async_context(Bus.open(nats_server.url, name=name))
            ownership = Ownership(Leases(store), name, seconds=60, renew=0.5)
            registry = Registry(
                store, LIMITS, "http://test", id_factory=lambda: next(ids), ownership=ownership
            )
            await nursery.start(registry.run)
            router = Router(bus, registry, name)
            scope, done = trio.CancelScope(), trio.Event()
            await nursery.start(run_router, router, scope, done)
            made[name] = Node(name, store, registry, router, scope, done)
        yield made
        for node in made.values():
            with trio.move_on_after(5):
                await node.registry.shutdown()
        nursery.cancel_scope.cancel()


async def owned_by_a(nodes: dict[str, Node]) -> None:
    a = nodes["a"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")


async def test_a_command_sent_to_the_other_node_is_carried_out_by_the_owner(
    nodes: dict[str, Node],
) -> None:
    await owned_by_a(nodes)
    result = await nodes["b"].registry.execute(
        "acme", c.CreateService(name="Web"), "someone", ORIGIN
    )
    handle = await nodes["a"].registry.org("acme")
    assert {s.name for s in handle.state.services.values()} == {"API", "Web"}
    made = handle.state.services[result["id"]]
    assert result["name"] == made.name == "Web"
    assert not nodes["b"].registry.running()  # b never ran acme
    audit = await nodes["a"].store.fetch(
        "SELECT actor, ip, action FROM audit_log WHERE org = 'acme' AND action = 'service.create'"
        " ORDER BY at"
    )
    assert {"actor": "deploy-bot", "ip": "10.0.0.9", "action": "service.create"} in audit


async def test_the_owners_refusal_is_told_as_it_was(nodes: dict[str, Node]) -> None:
    await owned_by_a(nodes)
    command = c.parse_command("service.update", {"service": "nope", "status": "major_outage"})
    with pytest.raises(PeerError) as at_a:
        await nodes["a"].registry.execute("acme", command, "someone")
    with pytest.raises(PeerError) as at_b:
        await nodes["b"].registry.execute("acme", command, "someone")
    assert isinstance(at_a.value, NotFound)
    assert at_b.value.to_dict() == at_a.value.to_dict()
    assert at_b.value.http_status == 404


async def test_an_idempotent_command_is_replayed_through_either_node(
    nodes: dict[str, Node],
) -> None:
    await owned_by_a(nodes)
    receipt = Receipt("token:t1", "deploy-4711", "f" * 64)
    command = c.CreateService(name="Web")
    first = await nodes["b"].registry.execute("acme", command, "x", ORIGIN, receipt)
    again = await nodes["a"].registry.execute("acme", command, "x", ORIGIN, receipt)
    once_more = await nodes["b"].registry.execute("acme", command, "x", ORIGIN, receipt)
    assert isinstance(again, Replay) and isinstance(once_more, Replay)
    assert again.answer == once_more.answer == first


async def test_an_owner_that_does_not_answer_is_unavailable_not_a_hang(
    nodes: dict[str, Node],
) -> None:
    """The owner no longer answers on the bus (its node died; its lease has not
    run out yet): nothing is done, and the sender says so at once rather than
    after the bound (that would be outcome_unknown)."""
    await owned_by_a(nodes)
    a = nodes["a"]
    a.router_scope.cancel()
    await a.router_done.wait()
    await a.router.bus.flush()  # the NATS server has a's unsubscription
    with pytest.raises(Unavailable) as told:
        await nodes["b"].registry.execute("acme", c.CreateService(name="Web"), "x")
    assert not isinstance(told.value, OutcomeUnknown)
    assert "Web" not in {s.name for s in (await a.registry.org("acme")).state.services.values()}


async def test_a_forwarded_command_is_not_forwarded_again(nodes: dict[str, Node]) -> None:
    """Sent to a node as forwarded, a command for an organization it does not
    run is refused there (unavailable, naming the owner), never sent on."""
    await owned_by_a(nodes)
    with pytest.raises(Elsewhere) as told:
        await nodes["b"].registry.execute("acme", c.CreateService(name="Web"), "x", forwarded=True)
    assert told.value.owner == "a"
