"""Notifications with two nodes (whole servers, in this process) on one
database and one NATS server.

A change is committed by the organization's owner, whichever node it came
through (the others forward it), and the commit wakes the owner's feed: the
other node's feed is not woken. Every node's feed also sweeps every
organization; the cursor moves, from where it was read, in the same
transaction as the deliveries, so of two feeds racing for the same events
one tells them: each event is told once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
from nats_support import start_nodes, started, stop_nodes
from notify_support import KEY, Receiver
from support import Api, admin_token, eventually

import server.main
from server.config import Config
from server.domain.events import Event
from server.domain.model import OrgState
from server.main import Server
from server.notify import Notifier, NotifySettings
from server.store import Store

ORG = "/api/v1/orgs/demo"


@pytest.fixture
async def two_nodes(
    config: Config,
    settings: NotifySettings,
    tmp_path: Path,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[dict[str, Server]]:
    """Nodes ``a`` (which runs demo) and ``b``, their notifiers made with the
    tests' settings (short polls and retries, local webhooks allowed)."""
    nats = await started(tmp_path)

    def make(_config: Config, store: Store, base_url: str, *_: Any) -> Notifier:
        return Notifier(store, base_url=base_url, key=KEY, settings=settings)

    monkeypatch.setattr(server.main, "_notifier", make)
    try:
        made = await start_nodes(config, {"a": nats.url, "b": nats.url}, tmp_path, nursery)
        yield made
        await stop_nodes(made)
    finally:
        await nats.kill()


async def test_each_event_is_told_once_by_the_node_that_committed_it(
    two_nodes: dict[str, Server], receiver: Receiver, store: Store
) -> None:
    a, b = two_nodes["a"], two_nodes["b"]
    assert a.registry and b.registry and a.notifier and b.notify_feed
    committed: dict[str, list[int]] = {"a": [], "b": []}
    for name, node in two_nodes.items():

        def record(_slug: str, _state: OrgState, events: Sequence[Event], name: str = name) -> None:
            committed[name].extend(e.version for e in events)

        assert node.registry is not None
        node.registry.observers.append(record)  # beside the feed's wake-up
    b.notify_feed.sweep_seconds = 0.05  # b sweeps all the time: it races a at every event

    names = [f"Incident {n}" for n in range(8)]
    async with (
        Api.open(a.base_url, admin_token()) as via_a,
        Api.open(b.base_url, admin_token()) as via_b,
    ):
        await via_b.ok(
            "POST",
            f"{ORG}/channels",
            {
                "kind": "webhook",
                "name": "Ops",
                "config": {"url": receiver.url()},
                "events": ["incident.created"],
            },
            201,
        )
        for n, name in enumerate(names):  # through b (forwarded to a) and a in turn
            await (via_a if n % 2 else via_b).ok("POST", f"{ORG}/incidents", {"name": name}, 201)

    # Every commit was a's, however it came in: only a's feed was woken.
    top = (await a.registry.org("demo")).state.version
    assert committed["b"] == [] and committed["a"][-1] == top

    # Once the cursor is at the end of the log, no feed can tell anything more.
    async def told() -> bool:
        rows = await store.fetch("SELECT version FROM notify_cursors WHERE stream = 'org:demo'")
        return bool(rows) and rows[0]["version"] == top

    await eventually(told, "the feeds to tell every event")
    notifier = a.notifier

    async def sent() -> list[dict[str, Any]] | None:
        rows = await notifier.deliveries("demo")
        return rows if all(r["status"] == "sent" for r in rows) else None

    deliveries = await eventually(sent, "every delivery to be sent")
    assert len(deliveries) == len(names)
    assert sorted(r.json()["data"]["incident"]["name"] for r in receiver.requests) == names
