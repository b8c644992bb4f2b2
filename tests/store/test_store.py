"""The event log and snapshots, against the real embedded PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio
from support import terminate_backends

from server.domain.events import Event
from server.store import ConcurrencyError, NewStream, Store, StoreUnavailable, StreamExists

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(version: int, public: int | None = None, name: str = "thing.happened") -> Event:
    return Event(version, public, name, {"n": version, "nested": {"ok": True}}, T0, "tester")


async def test_migrations_apply_once(store: Store) -> None:
    assert await store.migrate() == []  # already applied by open()


async def test_appends_are_atomic_and_ordered(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.append("org:a", 1, [ev(2, 1), ev(3), ev(4, 2)])
    loaded = await store.load("org:a")
    assert loaded is not None
    assert [e.version for e in loaded.events] == [1, 2, 3, 4]
    assert [e.public_seq for e in loaded.events] == [None, 1, None, 2]
    assert loaded.events[1].data == {"n": 2, "nested": {"ok": True}}
    assert loaded.events[1].at == T0 and loaded.events[1].author == "tester"
    assert loaded.version == 4 and loaded.snapshot is None


async def test_a_stale_writer_is_refused_and_writes_nothing(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.append("org:a", 1, [ev(2)])
    with pytest.raises(ConcurrencyError):
        await store.append("org:a", 1, [ev(2), ev(3)])
    loaded = await store.load("org:a")
    assert loaded is not None and loaded.version == 2 and len(loaded.events) == 2


async def test_a_stream_id_is_taken_once(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    with pytest.raises(StreamExists):
        await store.create_stream("org:a", "org", [ev(1)])


async def test_an_append_that_creates_a_taken_stream_writes_nothing(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.create_stream("room:r", "room", [ev(1)])
    with pytest.raises(StreamExists):
        await store.append("org:a", 1, [ev(2)], create=[NewStream("room:r", "room", [ev(1)])])
    loaded = await store.load("org:a")
    assert loaded is not None and loaded.version == 1


async def test_load_starts_from_the_latest_snapshot_or_earlier_when_asked(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.append("org:a", 1, [ev(v) for v in range(2, 11)])
    await store.save_snapshot("org:a", 4, {"at": 4})
    await store.save_snapshot("org:a", 8, {"at": 8})
    plain = await store.load("org:a")
    assert plain is not None and plain.snapshot == {"at": 8} and plain.snapshot_version == 8
    assert [e.version for e in plain.events] == [9, 10]
    since = await store.load("org:a", since=5)
    assert since is not None and [e.version for e in since.events] == [6, 7, 8, 9, 10]
    history = await store.load("org:a", history=4)
    assert history is not None and [e.version for e in history.events] == [7, 8, 9, 10]
    assert await store.load("org:missing") is None


async def test_only_the_latest_snapshots_are_kept(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.append("org:a", 1, [ev(v) for v in range(2, 6)])
    for version in (2, 3, 4, 5):
        await store.save_snapshot("org:a", version, {"at": version}, keep=2)

    async def count(conn):  # type: ignore[no-untyped-def]
        return await conn.fetchval("SELECT count(*) FROM snapshots WHERE stream = 'org:a'")

    assert await store.run(count, write=False) == 2


async def test_wake_times_are_recorded_with_appends(store: Store) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    await store.create_stream("org:b", "org", [ev(1)])
    soon = T0 + timedelta(hours=1)
    await store.append("org:b", 1, [ev(2)], wake_at=soon)
    assert await store.wakeups("org") == [("org:b", soon)]
    await store.append("org:b", 2, [ev(3)], wake_at=None)
    assert await store.wakeups("org") == []
    assert await store.streams("org") == ["org:a", "org:b"]
    assert await store.streams("org", after="org:a") == ["org:b"]


async def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="database unavailable"):
        async with Store.open("postgresql://postgres@127.0.0.1:9/nothing"):
            pass  # pragma: no cover


async def test_connections_killed_by_the_database_are_replaced(
    store: Store, database_url: str
) -> None:
    await store.create_stream("org:a", "org", [ev(1)])
    for version in range(2, 6):  # touch every pooled connection
        await store.append("org:a", version - 1, [ev(version)])
    await terminate_backends(database_url)
    # Reads retry on a fresh connection by themselves.
    loaded = await store.load("org:a")
    assert loaded is not None and loaded.version == 5
    # A write on a connection that had not noticed yet fails clearly, once:
    # that failure retires every connection older than it.
    version, failures = 5, 0
    while version < 12:
        try:
            await store.append("org:a", version, [ev(version + 1)])
            version += 1
        except StoreUnavailable:
            failures += 1
    assert failures <= 1
    loaded = await store.load("org:a")
    assert loaded is not None and loaded.version == 12


async def test_a_closed_store_says_so_instead_of_waiting(database_url: str) -> None:
    async with Store.open(database_url) as opened:
        await opened.ping()
    with trio.fail_after(5), pytest.raises(StoreUnavailable, match="closed"):
        await opened.fetch("SELECT 1")
