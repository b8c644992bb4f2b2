"""The organization actor and its registry, on a real store and trio's MockClock.

The clock only moves when a test jumps it, so hour-long maintenance windows
and idle timeouts pass in an instant; a recording subscriber stands in for a
WebSocket client and tells the test when the actor has published.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from support import ALLOW_WRITES, REFUSE_WRITES, sql

from server.actors.org import OrgHandle
from server.actors.registry import Registry
from server.clock import TrioClock
from server.config import Limits
from server.domain import commands as c
from server.domain.model import ServiceStatus as S
from server.errors import Unavailable
from server.store import Store

EPOCH = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LIMITS = Limits(actor_idle_seconds=60, snapshot_every=10_000)


class Recorder:
    """A subscriber that decodes what it is sent."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[dict[str, Any]](math.inf)
        self.writes = 0

    def send_frame(self, data: bytes) -> None:
        """One write may carry several frames (a commit's events, joined)."""
        self.writes += 1
        while data:
            length = data[1] & 0x7F
            start = 2
            if length == 126:
                length, start = int.from_bytes(data[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(data[2:10], "big"), 10
            self.send.send_nowait(orjson.loads(data[start : start + length]))
            data = data[start + length :]

    def drain(self) -> list[dict[str, Any]]:
        """Everything received so far."""
        seen = []
        while True:
            try:
                seen.append(self.receive.receive_nowait())
            except trio.WouldBlock:
                return seen

    async def event(self, name: str) -> dict[str, Any]:
        async for message in self.receive:
            if message["name"] == name:
                return message
        raise AssertionError("closed")


async def start_registry(store: Store, nursery: trio.Nursery, limits: Limits = LIMITS) -> Registry:
    ids = (f"id{n}" for n in itertools.count())
    registry = Registry(
        store, limits, "http://test", clock=TrioClock(EPOCH), id_factory=lambda: next(ids)
    )
    await nursery.start(registry.run)
    return registry


async def make_org(registry: Registry, slug: str = "acme") -> OrgHandle:
    await registry.create_org(c.CreateOrg(slug, "Acme"), "tester")
    for name in ("API", "Web"):
        await registry.execute(slug, c.CreateService(name=name), "tester")
    return await registry.org(slug)


async def watched_org(
    store: Store, nursery: trio.Nursery, topic: str = "status"
) -> tuple[Registry, OrgHandle, Recorder]:
    """A running registry, the organization "acme", and a subscriber on one of its topics."""
    registry = await start_registry(store, nursery)
    handle = await make_org(registry)
    recorder = Recorder()
    handle.topics[topic].add(recorder)
    return registry, handle, recorder


def statuses(handle: OrgHandle) -> dict[str, str]:
    return {s.name: s.status.value for s in handle.state.services.values()}


async def test_a_maintenance_starts_and_completes_on_its_own(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry, handle, recorder = await watched_org(store, nursery)
    await registry.execute(
        "acme",
        c.ScheduleMaintenance(
            name="Database upgrade",
            scheduled_for=EPOCH + timedelta(hours=1),
            scheduled_until=EPOCH + timedelta(hours=2),
            services=["API"],
        ),
        "tester",
    )
    assert statuses(handle) == {"API": "operational", "Web": "operational"}

    mock_clock.jump(3600)
    started = await recorder.event("maintenance.updated")
    assert started["data"]["maintenance"]["status"] == "in_progress"
    assert statuses(handle) == {"API": "under_maintenance", "Web": "operational"}
    assert handle.state.status.indicator == "maintenance"
    assert (
        handle.state.maintenances[started["data"]["maintenance"]["id"]].updates[-1].author
        == "system"
    )

    mock_clock.jump(3600)
    done = await recorder.event("maintenance.updated")
    assert done["data"]["maintenance"]["status"] == "completed"
    assert statuses(handle) == {"API": "operational", "Web": "operational"}
    assert handle.state.status.indicator == "none"


async def test_timers_fire_after_a_restart_without_anyone_asking(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    first = await start_registry(store, nursery)
    await make_org(first)
    await first.execute(
        "acme",
        c.ScheduleMaintenance(
            name="Window",
            scheduled_for=EPOCH + timedelta(minutes=30),
            scheduled_until=EPOCH + timedelta(hours=1),
            services=["Web"],
        ),
        "tester",
    )
    await first.shutdown()

    second = await start_registry(store, nursery)
    (handle,) = second.running()  # started at boot because a timer is pending
    await handle.ready.wait()
    recorder = Recorder()
    handle.topics["status"].add(recorder)
    mock_clock.jump(1800)
    started = await recorder.event("maintenance.updated")
    assert started["data"]["maintenance"]["status"] == "in_progress"


async def test_concurrent_commands_share_commits(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry = await start_registry(store, nursery)
    handle = await make_org(registry)
    before = handle.state.version
    commits_before = handle.stats.commits
    results: list[Any] = []

    async def describe(n: int) -> None:
        results.append(
            await registry.execute("acme", c.UpdateService(service="API", description=f"v{n}"), "t")
        )

    async with trio.open_nursery() as senders:
        for n in range(100):
            senders.start_soon(describe, n)
    assert len(results) == 100
    assert handle.state.version == before + 100
    assert handle.stats.commits - commits_before < 100  # grouped
    loaded = await store.load("org:acme")
    assert loaded is not None and loaded.version == handle.state.version


async def test_a_crashed_actor_restarts_and_loses_nothing_acknowledged(
    store: Store, nursery: trio.Nursery, database_url: str, mock_clock: trio.testing.MockClock
) -> None:
    registry, handle, recorder = await watched_org(store, nursery, "org")
    seq = handle.topics["org"].seq
    await registry.execute("acme", c.UpdateService(service="API", status=S.PARTIAL_OUTAGE), "t")

    await sql(database_url, REFUSE_WRITES)  # the database starts failing writes
    with pytest.raises(Unavailable, match="nothing was changed"):
        await registry.execute("acme", c.UpdateService(service="Web", status=S.MAJOR_OUTAGE), "t")
    assert handle.stats.restarts == 1
    await sql(database_url, ALLOW_WRITES)

    await registry.execute(
        "acme", c.UpdateService(service="Web", status=S.DEGRADED_PERFORMANCE), "t"
    )
    assert await registry.org("acme") is handle  # same address, same subscribers
    assert statuses(handle) == {"API": "partial_outage", "Web": "degraded_performance"}
    # The subscriber saw a gapless sequence, and never the refused change.
    seen = recorder.drain()
    assert [e["seq"] for e in seen] == list(range(seq + 1, seq + 1 + len(seen)))
    assert all(e["data"].get("service", {}).get("status") != "major_outage" for e in seen)
    loaded = await store.load("org:acme")
    assert loaded is not None and loaded.version == handle.state.version


async def test_an_idle_actor_snapshots_stops_and_comes_back(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry = await start_registry(store, nursery)
    handle = await make_org(registry)
    await registry.execute(
        "acme", c.UpdateService(service="API", status=S.DEGRADED_PERFORMANCE), "t"
    )
    version = handle.state.version

    mock_clock.jump(LIMITS.actor_idle_seconds + 1)
    await handle.stopped.wait()
    assert registry.running() == []
    loaded = await store.load("org:acme")
    assert loaded is not None and loaded.snapshot_version == version  # final snapshot

    again = await registry.org("acme")
    assert again is not handle
    assert again.state.to_dict() == handle.state.to_dict()


async def test_an_actor_with_subscribers_or_timers_stays(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry = await start_registry(store, nursery)
    watched = await make_org(registry, "watched")
    watched.topics["status"].add(Recorder())
    timed = await make_org(registry, "timed")
    await registry.execute(
        "timed",
        c.ScheduleMaintenance(
            name="Later",
            scheduled_for=EPOCH + timedelta(days=7),
            scheduled_until=EPOCH + timedelta(days=8),
        ),
        "t",
    )
    mock_clock.jump(LIMITS.actor_idle_seconds * 3)
    await trio.testing.wait_all_tasks_blocked()
    assert not watched.stopping and not timed.stopping
    assert {h.slug for h in registry.running()} == {"watched", "timed"}


async def test_shutdown_answers_queued_commands_and_snapshots(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry = await start_registry(store, nursery)
    handle = await make_org(registry)
    answers: list[Any] = []

    async def change(n: int) -> None:
        answers.append(
            await registry.execute("acme", c.UpdateService(service="API", position=n), "t")
        )

    async with trio.open_nursery() as senders:
        for n in range(20):
            senders.start_soon(change, n)
        await trio.testing.wait_all_tasks_blocked()
        await registry.shutdown()
    assert len(answers) == 20
    loaded = await store.load("org:acme")
    assert loaded is not None and loaded.snapshot_version == handle.state.version == loaded.version


async def test_a_commits_events_reach_a_subscriber_in_one_write(
    store: Store, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    registry, _, recorder = await watched_org(store, nursery)
    await registry.execute(
        "acme",
        c.CreateIncident(name="Both", services={"API": S.MAJOR_OUTAGE, "Web": S.PARTIAL_OUTAGE}),
        "t",
    )
    assert recorder.writes == 1
    names = [recorder.receive.receive_nowait()["name"] for _ in range(4)]
    assert names == ["incident.created", "service.updated", "service.updated", "status.changed"]
