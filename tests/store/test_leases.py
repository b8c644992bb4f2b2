"""Leases and fencing, against the real PostgreSQL: one owner per stream, and
a deposed owner never commits again."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from functools import partial

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import eventually

from server.domain.events import Event
from server.store import ConcurrencyError, Lease, Leases, Store, StreamExists
from server.store.database import Connection

AT = datetime(2026, 12, 3, tzinfo=UTC)
LONG = 3600.0  # a lease that outlives the test
GONE = 0.0  # a lease that has expired as soon as it is granted: the holder paused past it
streams = (f"org:lease-{n}" for n in itertools.count())


@pytest.fixture
def leases(store: Store) -> Leases:
    return Leases(store)


async def new_stream(store: Store) -> str:
    while True:
        stream = next(streams)
        try:
            await store.create_stream(stream, "org", [])
        except StreamExists:  # left by an earlier run on the same database
            continue
        return stream


def event(version: int, author: str) -> Event:
    return Event(version, None, "note", {"by": author}, AT, author)


async def test_one_holder_at_a_time(store: Store, leases: Leases) -> None:
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", LONG)
    assert a is not None and a.owner == "a" and a.epoch == 1
    assert await leases.acquire(stream, "b", LONG) is None  # held: b must forward to a
    holder = await leases.holder(stream)
    assert holder is not None and (holder.owner, holder.epoch) == ("a", 1)


async def test_an_expired_lease_is_taken_with_a_new_epoch(store: Store, leases: Leases) -> None:
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", GONE)
    assert a is not None
    assert await leases.holder(stream) is None  # expired: nobody holds it
    b = await leases.acquire(stream, "b", LONG)
    assert b is not None and b.epoch == a.epoch + 1
    assert await leases.renew(a, LONG) is None  # a learns it lost the lease


async def test_the_same_node_taking_its_lease_again_deposes_its_earlier_life(
    store: Store, leases: Leases
) -> None:
    stream = await new_stream(store)
    first = await leases.acquire(stream, "a", LONG)
    again = await leases.acquire(stream, "a", LONG)
    assert first is not None and again is not None and again.epoch == first.epoch + 1
    with pytest.raises(ConcurrencyError):
        await store.append(stream, 0, [event(1, "a")], epoch=first.epoch)


async def test_renewing_an_expired_lease_nobody_took_keeps_it(store: Store, leases: Leases) -> None:
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", GONE)
    assert a is not None
    renewed = await leases.renew(a, LONG)
    assert renewed is not None and renewed.epoch == a.epoch
    await store.append(stream, 0, [event(1, "a")], epoch=a.epoch)


async def test_a_released_lease_is_free_at_once(store: Store, leases: Leases) -> None:
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", LONG)
    assert a is not None
    await leases.release(a)
    b = await leases.acquire(stream, "b", LONG)
    assert b is not None and b.owner == "b"


class Node:
    """A would-be owner: what it believes (its lease, the stream's version)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lease: Lease | None = None
        self.version = 0


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(["acquire", "acquire-short", "renew", "append", "append", "release"]),
        ),
        min_size=1,
        max_size=30,
    )
)
async def test_the_log_never_holds_an_event_from_a_deposed_owner(
    database_url: str, steps: list[tuple[str, str]]
) -> None:
    """Two would-be owners act in any order, each on what it last learnt (a
    node that paused past its lease still believes it holds it). Afterwards
    every event in the log was written under the epoch that was the newest
    given when it was committed, and the epochs never go back."""
    async with Store.open(database_url, size=1) as store:  # each example is its own trio run
        await two_owners(store, Leases(store), steps)


async def version(store: Store, stream: str) -> int:
    loaded = await store.load(stream)
    assert loaded is not None, stream
    return loaded.version


async def two_owners(store: Store, leases: Leases, steps: list[tuple[str, str]]) -> None:
    stream = await new_stream(store)
    nodes = {"a": Node("a"), "b": Node("b")}
    newest = 0  # the newest epoch given so far
    free = False  # its holder let it go
    written: list[int] = []  # the epoch of each committed event, in order
    for who, action in steps:
        node = nodes[who]
        if action.startswith("acquire"):
            lease = await leases.acquire(stream, who, GONE if action == "acquire-short" else LONG)
            if lease is not None:
                assert lease.epoch == newest + 1
                newest, free = lease.epoch, False
                node.lease = lease
                node.version = await version(store, stream)
        elif node.lease is None:
            continue
        elif action == "renew":
            renewed = await leases.renew(node.lease, LONG)
            assert (renewed is not None) == (node.lease.epoch == newest and not free)
        elif action == "release":
            await leases.release(node.lease)
            free = free or node.lease.epoch == newest
        else:
            try:
                await store.append(
                    stream, node.version, [event(node.version + 1, who)], epoch=node.lease.epoch
                )
            except ConcurrencyError:
                assert node.lease.epoch != newest, "the holder of the newest epoch was refused"
            else:
                assert node.lease.epoch == newest, f"{who} wrote under a deposed epoch"
                node.version += 1
                written.append(node.lease.epoch)
    loaded = await store.load(stream)
    assert loaded is not None and len(loaded.events) == len(written)
    assert written == sorted(written)


async def test_a_takeover_waits_for_an_append_in_flight_and_then_fences_it(
    store: Store, leases: Leases
) -> None:
    """Concurrently, with real connections: a node appending as fast as it
    can while another takes the lease. Every append that committed did so
    before the takeover; none after it."""
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", LONG)
    assert a is not None
    committed: list[int] = []
    taken, going = trio.Event(), trio.Event()

    async def writer() -> None:
        version, after = 0, 0
        while after < 3:  # a few tries once the lease is gone, each one refused
            after += taken.is_set()
            try:
                await store.append(stream, version, [event(version + 1, "a")], epoch=a.epoch)
            except ConcurrencyError:
                continue
            version += 1
            committed.append(version)
            if len(committed) == 5:
                going.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await going.wait()
        b = await leases.acquire(stream, "b", GONE)
        assert b is None  # a's lease is live: b cannot take it
        await leases.release(a)
        b = await leases.acquire(stream, "b", LONG)
        assert b is not None
        at_takeover = await version(store, stream)
        taken.set()
    loaded = await store.load(stream)
    assert loaded is not None
    assert loaded.version == at_takeover == len(committed)


async def test_an_append_waits_for_a_takeover_in_flight_and_is_then_refused(
    store: Store, leases: Leases
) -> None:
    """A takeover that has locked the lease row and not yet committed: an append
    under the old epoch waits for it (it does not slip in before the new epoch
    is visible), then finds the new epoch and commits nothing."""
    stream = await new_stream(store)
    a = await leases.acquire(stream, "a", LONG)
    assert a is not None
    go_on: list[bool] = []  # set from the trio side; read by the held transaction

    async def takeover_in_flight(conn: Connection) -> None:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM leases WHERE stream = $1 FOR UPDATE", stream)
            for _ in range(3000):  # a hang guard: 30 s
                if go_on:
                    break
                await asyncio.sleep(0.01)
            await conn.execute("UPDATE leases SET epoch = epoch + 1 WHERE stream = $1", stream)

    async def waiting_on_the_lease() -> bool:
        rows = await store.fetch(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%FROM leases WHERE stream = $1 AND epoch%'"
        )
        return bool(rows)

    refused: list[bool] = []

    async def append() -> None:
        try:
            await store.append(stream, 0, [event(1, "a")], epoch=a.epoch)
        except ConcurrencyError:
            refused.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(store.run, takeover_in_flight, write=True))
        nursery.start_soon(append)
        await eventually(waiting_on_the_lease, "the append to wait for the takeover's lock")
        go_on.append(True)
    assert refused == [True]
    assert await version(store, stream) == 0


async def test_orphans_are_the_leases_run_out_not_those_let_go(
    store: Store, leases: Leases
) -> None:
    died, released, live = [await new_stream(store) for _ in range(3)]
    assert await leases.acquire(died, "a", GONE) is not None  # a died: never renewed
    freed = await leases.acquire(released, "a", LONG)
    assert freed is not None
    await leases.release(freed)
    assert await leases.acquire(live, "b", LONG) is not None
    assert await leases.orphans("org:lease-") == [died]
    again = await leases.acquire(released, "b", LONG)
    assert again is not None and again.epoch == freed.epoch + 1  # epochs only grow
