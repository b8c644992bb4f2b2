"""Check results, stored compactly: batches of small integers, a partition a
day dropped whole at the end of the retention, read back per monitor as they
were written; and what an earlier version kept a row per check moves over."""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime, timedelta
from typing import Any

from server.store import Store
from server.store.monitoring import (
    ResultRow,
    forget_results,
    forget_verdicts,
    monitor_verdicts,
    recent_results,
    region_rollups,
    rollups,
    storage_bytes,
    write_results,
)

DAY = datetime(2026, 3, 1, 12, tzinfo=UTC)


def row(monitor: str, at: datetime, outcome: str = "up", **kw: Any) -> ResultRow:
    values: dict[str, Any] = {
        "region": "local",
        "latency_ms": 12.5,
        "status_code": 200,
        "error": None,
        **kw,
    }
    region = values.pop("region")
    return ResultRow(monitor, "demo", region, at, outcome, **values)


async def test_results_read_back_per_monitor_as_written(store: Store) -> None:
    batch = [
        row("m1", DAY),
        row(
            "m2",
            DAY + timedelta(milliseconds=250),
            "down",
            latency_ms=None,
            status_code=None,
            error="connection refused",
            region="eu-west",
        ),
        row("m1", DAY + timedelta(seconds=30), "degraded", status_code=503),
    ]
    await write_results(store, batch)
    await write_results(store, [row("m1", DAY + timedelta(seconds=60), region="eu-west")])
    got = await recent_results(store, "m1", before=None, limit=10)
    assert [(r["at"], r["outcome"], r["region"], r["status_code"]) for r in got] == [
        (DAY + timedelta(seconds=60), "up", "eu-west", 200),
        (DAY + timedelta(seconds=30), "degraded", "local", 503),
        (DAY, "up", "local", 200),
    ]
    assert got[1]["latency_ms"] == 12.5 and got[1]["error"] is None
    (down,) = await recent_results(store, "m2", before=None, limit=10)
    assert down == {
        "region": "eu-west",
        "at": DAY + timedelta(milliseconds=250),
        "outcome": "down",
        "latency_ms": None,
        "status_code": None,
        "error": "connection refused",
    }
    older = await recent_results(store, "m1", before=DAY + timedelta(seconds=30), limit=10)
    assert [r["at"] for r in older] == [DAY]
    assert await recent_results(store, "nosuch", before=None, limit=10) == []
    (hour,) = await rollups(store, "m1", DAY - timedelta(hours=1))
    assert (hour["checks"], hour["up"], hour["degraded"], hour["down"]) == (3, 2, 1, 0)


async def test_a_batch_across_midnight_and_a_day_dropped_whole(store: Store) -> None:
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    await write_results(
        store,
        [row("m1", midnight - timedelta(seconds=1)), row("m1", midnight + timedelta(seconds=1))],
    )
    await write_results(store, [row("m1", midnight + timedelta(days=1))])
    assert len(await recent_results(store, "m1", before=None, limit=10)) == 3
    await forget_results(store, midnight + timedelta(hours=1))  # the 1st is past: gone whole
    left = await recent_results(store, "m1", before=None, limit=10)
    assert [r["at"] for r in left] == [
        midnight + timedelta(days=1),
        midnight + timedelta(seconds=1),
    ]
    names = {
        r["relname"]
        for r in await store.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'check_batches'::regclass"
        )
    }
    assert names == {"check_batches_20260302", "check_batches_20260303"}
    await write_results(store, [row("m1", midnight - timedelta(seconds=5))])  # the day comes back
    assert len(await recent_results(store, "m1", before=None, limit=10)) == 3


async def test_a_check_takes_a_few_bytes(store: Store) -> None:
    """What 20,000 checks of 1,000 monitors take on disk, indexes included (the
    benchmark measures the same at scale)."""
    before = await storage_bytes(store)
    for second in range(20):
        at = DAY + timedelta(seconds=second)
        await write_results(
            store,
            [row(f"monitor-{n:04}", at + timedelta(milliseconds=n)) for n in range(1000)],
        )
    grown = (await storage_bytes(store))["results"] - before["results"]
    assert grown / 20_000 < 40, grown / 20_000


async def rewind(conn: Any, before: str) -> None:
    """The database as a version before migration ``before`` left it (empty)."""
    files = sorted(
        f
        for f in importlib.resources.files("server.store").joinpath("migrations").iterdir()
        if f.name.endswith(".sql") and f.name < before
    )
    await conn.execute(
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
        " CREATE TABLE schema_migrations (name text PRIMARY KEY,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for f in files:
        await conn.execute(f.read_text())
        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", f.name)


async def test_rows_of_an_earlier_version_move_over(database_url: str) -> None:
    """The migration turns a row per check into batches, keeping what they said."""
    async with Store.open(database_url) as store:

        async def back_to_0008(conn: Any) -> None:
            await rewind(conn, "0009")
            await conn.execute(
                "INSERT INTO check_results (monitor, org, region, at, outcome, latency_ms,"
                " status_code, error) VALUES"
                " ('m1', 'demo', 'local', '2026-03-01T12:00:00Z', 'up', 10, 200, NULL),"
                " ('m1', 'demo', 'eu', '2026-03-01T12:00:30Z', 'down', NULL, NULL, 'refused'),"
                " ('m2', 'demo', 'local', '2026-03-02T08:00:00Z', 'degraded', 900, 200, 'slow')"
            )

        await store.run(back_to_0008, write=True)
    async with Store.open(database_url) as store:  # applies 0009
        got = await recent_results(store, "m1", before=None, limit=10)
        assert [(r["outcome"], r["region"], r["error"]) for r in got] == [
            ("down", "eu", "refused"),
            ("up", "local", None),
        ]
        assert got[0]["at"] == datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
        (m2,) = await recent_results(store, "m2", before=None, limit=10)
        assert (m2["outcome"], m2["latency_ms"], m2["error"]) == ("degraded", 900, "slow")


async def test_the_verdicts_of_the_log_and_the_rollups_move_over(database_url: str) -> None:
    """Upgrading finds each monitor's verdict changes in the organization's log
    (passing over an event PostgreSQL cannot read), and keeps the rollups made
    before regions were kept apart."""
    events = [
        ("org.created", '{"org": {}}'),
        ("monitor.created", '{"monitor": {"id": "m1", "verdict": "unknown"}}'),
        ("monitor.updated", '{"monitor": {"id": "m1", "verdict": "up"}}'),
        ("monitor.updated", '{"monitor": {"id": "m1", "verdict": "up", "error": "a\\u0000b"}}'),
        ("monitor.updated", '{"monitor": {"id": "m1", "verdict": "up", "name": "renamed"}}'),
        ("service.updated", '{"service": {}}'),
        ("monitor.updated", '{"monitor": {"id": "m1", "verdict": "down"}}'),
        ("monitor.created", '{"monitor": {"id": "m2", "verdict": "unknown"}}'),
    ]
    async with Store.open(database_url) as store:

        async def back_to_0011(conn: Any) -> None:
            await rewind(conn, "0012")
            await conn.execute(
                "INSERT INTO streams (id, kind, version) VALUES ('org:demo', 'org', $1)",
                len(events),
            )
            for version, (name, data) in enumerate(events, start=1):
                await conn.execute(
                    "INSERT INTO events (stream, version, name, data, at)"
                    " VALUES ('org:demo', $1, $2, $3::text::json, $4)",
                    version,
                    name,
                    data,
                    DAY + timedelta(minutes=version),
                )
            await conn.execute(
                "INSERT INTO check_rollups (monitor, org, hour, checks, up, degraded, down,"
                " latency_sum, latency_count, latency_max)"
                " VALUES ('m1', 'demo', '2026-03-01T12:00:00Z', 4, 3, 0, 1, 40, 3, 20)"
            )

        await store.run(back_to_0011, write=True)
    async with Store.open(database_url) as store:  # applies 0012
        kept = await store.fetch(
            "SELECT monitor, version, verdict FROM monitor_verdicts ORDER BY monitor, version"
        )
        assert [(r["monitor"], r["version"], r["verdict"]) for r in kept] == [
            ("m1", 2, "unknown"),
            ("m1", 3, "up"),
            ("m1", 7, "down"),
            ("m2", 8, "unknown"),
        ]
        await write_results(store, [row("m1", DAY + timedelta(minutes=5), region="eu-west")])
        (hour,) = await rollups(store, "m1", DAY - timedelta(hours=1))
        assert (hour["checks"], hour["down"], hour["latency_count"]) == (5, 1, 4)
        assert await region_rollups(store, "m1", DAY) == [
            {
                "region": "eu-west",
                "hour": DAY,
                "checks": 1,
                "down": 0,
                "latency_sum": 12.5,
                "latency_count": 1,
                "latency_max": 12.5,
            }
        ]


async def test_old_verdicts_go_but_the_one_in_force(store: Store) -> None:
    await store.write(
        [
            ("INSERT INTO streams (id, kind) VALUES ('org:demo', 'org')", []),
            (
                "INSERT INTO monitor_verdicts (monitor, stream, version, at, verdict)"
                " SELECT 'm1', 'org:demo', n, $1::timestamptz + n * interval '1 day',"
                " (ARRAY['up', 'down'])[n % 2 + 1] FROM generate_series(1, 6) AS n",
                [DAY],
            ),
        ]
    )
    await forget_verdicts(store, DAY + timedelta(days=4, hours=1))
    kept = await monitor_verdicts(store, "m1", DAY + timedelta(days=5))
    assert [(r["at"], r["verdict"]) for r in kept] == [
        (DAY + timedelta(days=4), "up"),  # in force when what is kept begins
        (DAY + timedelta(days=5), "down"),
        (DAY + timedelta(days=6), "up"),
    ]
    assert len(await monitor_verdicts(store, "m1", DAY)) == 3


async def test_writers_racing_to_make_a_days_partition_both_succeed(store: Store) -> None:
    """Two writers reaching a new day at once (a flush and the flusher, two
    nodes): the second waits for the first's partition instead of failing."""
    import trio

    from server.store import StoreError

    failed: list[BaseException] = []

    async def make(day: Any) -> None:
        try:
            await store.write([("SELECT check_batches_day($1)", (day,))])
        except StoreError as exc:
            failed.append(exc)

    start = datetime(2031, 1, 1, tzinfo=UTC).date()
    for n in range(20):
        day = start + timedelta(days=n)
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(make, day)
    assert failed == []
    made = await store.fetch(
        "SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'check_batches_2031%' AND relkind = 'r'"
    )
    assert made == [{"n": 20}]
