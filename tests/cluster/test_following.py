"""A node that does not run an organization follows it: the same state for
its reads, the same events for its subscribers, with no gap and no duplicate,
and it takes the organization over when nobody runs it any more."""

from __future__ import annotations

from typing import Any

import orjson
import trio
from conftest import LIMITS, Node
from support import eventually

from server.actors.org import OrgHandle
from server.actors.ownership import Ownership
from server.actors.registry import Registry
from server.domain import commands as c
from server.store import Leases, Store


class Recorder:
    """A subscriber standing in for a connection: the event frames it was sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send_frame(self, frames: bytes) -> None:
        """One write may hold several text frames (a commit's): header, JSON."""
        at = 0
        while at < len(frames):
            size, at = frames[at + 1] & 0x7F, at + 2
            if size == 126:
                size, at = int.from_bytes(frames[at : at + 2]), at + 2
            elif size == 127:
                size, at = int.from_bytes(frames[at : at + 8]), at + 8
            self.events.append(orjson.loads(frames[at : at + size]))
            at += size


async def acme(nodes: dict[str, Node]) -> tuple[OrgHandle, OrgHandle]:
    a, b = nodes["a"].registry, nodes["b"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")
    return await a.org("acme"), await b.org("acme")


def names(handle: OrgHandle) -> set[str]:
    return {s.name for s in handle.state.services.values()}


async def test_the_follower_has_the_owners_state_and_follows_its_commits(
    nodes: dict[str, Node],
) -> None:
    owner, follower = await acme(nodes)
    assert follower.following and follower.owner == "a"
    assert follower.state.version == owner.state.version and names(follower) == {"API"}
    for name in ("Web", "DB", "Search"):
        await nodes["a"].registry.execute("acme", c.CreateService(name=name), "tester")
    await eventually(lambda: follower.state.version == owner.state.version, "b to follow")
    assert names(follower) == {"API", "Web", "DB", "Search"}
    assert follower.document("summary.json") == owner.document("summary.json")


async def test_a_subscriber_on_the_follower_gets_every_event_once(
    nodes: dict[str, Node],
) -> None:
    owner, follower = await acme(nodes)
    recorder = Recorder()
    follower.topics["status"].add(recorder)  # type: ignore[arg-type]
    for name in ("Web", "DB"):
        await nodes["b"].registry.execute("acme", c.CreateService(name=name), "tester")
    await eventually(lambda: len(recorder.events) == 2, "both events on b")
    seqs = [e["seq"] for e in recorder.events]
    assert seqs == [owner.state.public_seq - 1, owner.state.public_seq]
    assert [e["data"]["service"]["name"] for e in recorder.events] == ["Web", "DB"]


async def test_a_lost_commit_is_read_from_the_log(nodes: dict[str, Node]) -> None:
    """NATS carries commits at most once: a follower that misses one reads it
    from PostgreSQL when the next one shows the gap."""
    owner, follower = await acme(nodes)
    recorder = Recorder()
    follower.topics["org"].add(recorder)  # type: ignore[arg-type]
    nodes["a"].registry.observers.remove(nodes["a"].fanout.observe)  # the next is not sent
    await nodes["a"].registry.execute("acme", c.CreateService(name="Lost"), "tester")
    nodes["a"].registry.observers.append(nodes["a"].fanout.observe)
    await nodes["a"].registry.execute("acme", c.CreateService(name="Next"), "tester")
    await eventually(lambda: follower.state.version == owner.state.version, "b to catch up")
    assert names(follower) == {"API", "Lost", "Next"}
    versions = [e["seq"] for e in recorder.events]
    assert versions == sorted(set(versions)) and versions[-2:] == [
        owner.state.version - 1,
        owner.state.version,
    ]


async def test_when_the_owner_is_gone_the_follower_takes_over_with_its_subscribers(
    nodes: dict[str, Node], store: Store
) -> None:
    _, follower = await acme(nodes)
    recorder = Recorder()
    follower.topics["status"].add(recorder)  # type: ignore[arg-type]
    await nodes["a"].registry.shutdown()  # a graceful stop releases the lease
    await eventually(lambda: not follower.following, "b to take acme over")
    await nodes["b"].registry.execute("acme", c.CreateService(name="After"), "tester")
    assert "After" in names(follower)
    assert recorder.events[-1]["data"]["service"]["name"] == "After"
    holder = await nodes["b"].store.fetch("SELECT owner FROM leases WHERE stream = 'org:acme'")
    assert holder == [{"owner": "b"}]


async def test_an_organization_whose_node_died_is_adopted_unasked(
    nodes: dict[str, Node],
) -> None:
    """Its lease ran out unreleased (its node died, or paused past it): another
    node takes it over on its own, so its timers and monitors go on, and the
    old node, if it wakes, finds it has lost it."""
    owner, _ = await acme(nodes)
    await nodes["b"].registry.shutdown()  # b does not even follow it
    await nodes["a"].store.write(
        [("UPDATE leases SET expires_at = clock_timestamp() WHERE stream = 'org:acme'", ())]
    )
    third = Registry(
        nodes["b"].store,
        LIMITS,
        "http://test",
        ownership=Ownership(Leases(nodes["b"].store), "c", seconds=60, renew=0.2),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(third.run)
        await eventually(
            lambda: any(h.stream == "org:acme" and not h.following for h in third.running()),
            "c to adopt acme",
        )
        await eventually(lambda: owner.following and owner.owner == "c", "a to learn it lost acme")
        with trio.fail_after(10):
            await third.shutdown()
        nursery.cancel_scope.cancel()


async def test_subscribers_of_a_deposed_node_keep_getting_events(
    nodes: dict[str, Node],
) -> None:
    """The node paused past its lease and lost the organization: its handle
    goes on as a follower of the new owner, so its subscribers miss nothing."""
    owner, follower = await acme(nodes)
    recorder = Recorder()
    owner.topics["status"].add(recorder)  # type: ignore[arg-type]
    await nodes["b"].store.write(
        [("UPDATE leases SET expires_at = clock_timestamp() WHERE stream = 'org:acme'", ())]
    )
    assert await Leases(nodes["b"].store).acquire("org:acme", "b", 60) is not None  # b takes it
    await eventually(lambda: owner.following and owner.owner == "b", "a to follow b")
    # (The lease was taken behind b's registry: wait for it to see that it is b's.)
    await eventually(lambda: not follower.following, "b to run what it holds")
    await nodes["b"].registry.execute("acme", c.CreateService(name="After"), "tester")
    await eventually(lambda: recorder.events, "a's subscriber to hear of it")
    assert recorder.events[-1]["data"]["service"]["name"] == "After"
    await nodes["a"].registry.execute("acme", c.CreateService(name="Via a"), "tester")
    assert "Via a" in names(await nodes["b"].registry.org("acme"))
