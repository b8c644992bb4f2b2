"""Check results and their hourly rollups: written in batches, read for uptime.

A batch of results (what the probes made in a second or so, every monitor's)
is one row of parallel arrays: monitor keys, packed codes (outcome, region,
HTTP status), millisecond offsets, latencies, and errors when any failed
(``0009_compact_results.sql``). It is written with the rollups' increments,
summed per monitor and hour on this side first, in one transaction. Reading
one monitor's results finds its batches through a GIN index on the monitor
keys. A day of batches is one partition, dropped whole when it expires.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from .database import Database


@dataclass(frozen=True, slots=True)
class ResultRow:
    monitor: str
    org: str
    region: str
    at: datetime
    outcome: str  # up | degraded | down
    latency_ms: float | None
    status_code: int | None
    error: str | None


# A result's outcome, region and HTTP status in one integer (see 0009_compact_results.sql).
OUTCOMES: Final = ("up", "degraded", "down")
_OUTCOME_KEYS: Final = {name: n for n, name in enumerate(OUTCOMES)}
MAX_REGIONS: Final = 1 << 10
MAX_STATUS: Final = 999


def pack(outcome: str, region_key: int, status_code: int | None) -> int:
    status = min(max(status_code or 0, 0), MAX_STATUS)
    return _OUTCOME_KEYS[outcome] | region_key << 2 | status << 12


def unpack(code: int) -> tuple[str, int, int | None]:
    """(outcome, region key, status code or None)."""
    status = code >> 12
    return OUTCOMES[code & 3], (code >> 2) & (MAX_REGIONS - 1), status or None


_INSERT_BATCH = """
INSERT INTO check_batches (at, monitors, codes, offsets, latencies, errors)
VALUES ($1, $2, $3, $4, $5, $6)
"""

_UPSERT_ROLLUPS = """
INSERT INTO check_rollups AS r (monitor, org, hour, region, checks, up, degraded, down,
                                latency_sum, latency_count, latency_max)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::smallint[], $5::integer[],
                     $6::integer[], $7::integer[], $8::integer[], $9::double precision[],
                     $10::integer[], $11::real[])
ON CONFLICT (monitor, hour, region) DO UPDATE SET
    checks = r.checks + EXCLUDED.checks,
    up = r.up + EXCLUDED.up,
    degraded = r.degraded + EXCLUDED.degraded,
    down = r.down + EXCLUDED.down,
    latency_sum = r.latency_sum + EXCLUDED.latency_sum,
    latency_count = r.latency_count + EXCLUDED.latency_count,
    latency_max = GREATEST(r.latency_max, EXCLUDED.latency_max)
"""


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class Keys:
    """The small integers monitors and regions are stored by, kept in memory
    once known (a process writes and reads through one of these)."""

    def __init__(self) -> None:
        self.monitors: dict[str, int] = {}
        self.regions: dict[str, int] = {}
        self.region_names: dict[int, str] = {}
        self.days: set[date] = set()  # partitions known to exist

    async def _ensure(self, conn: Any, rows: Sequence[ResultRow]) -> None:
        """Keys for every monitor and region in ``rows``, and each day's partition."""
        monitors = sorted({r.monitor for r in rows} - self.monitors.keys())
        if monitors:
            await conn.execute(
                "INSERT INTO monitor_keys (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                monitors,
            )
            for row in await conn.fetch(
                "SELECT id, key FROM monitor_keys WHERE id = ANY($1::text[])", monitors
            ):
                self.monitors[row["id"]] = row["key"]
        regions = sorted({r.region for r in rows} - self.regions.keys())
        if regions:
            await conn.execute(
                "INSERT INTO region_keys (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                regions,
            )
            await self._load_regions(conn)
        for day in sorted({r.at.astimezone(UTC).date() for r in rows} - self.days):
            await conn.execute("SELECT check_batches_day($1)", day)
            self.days.add(day)

    async def _load_regions(self, conn: Any) -> None:
        for row in await conn.fetch("SELECT name, key FROM region_keys"):
            if row["key"] >= MAX_REGIONS:
                raise ValueError(f"more than {MAX_REGIONS - 1} regions: {row['name']!r}")
            self.regions[row["name"]] = row["key"]
            self.region_names[row["key"]] = row["name"]


_KEYS: weakref.WeakKeyDictionary[Database, Keys] = weakref.WeakKeyDictionary()


def keys_of(store: Database) -> Keys:
    """The keys known for ``store``'s database (they go with the store)."""
    found = _KEYS.get(store)
    if found is None:
        found = _KEYS[store] = Keys()
    return found


async def write_results(store: Database, rows: Sequence[ResultRow]) -> None:
    """One batch row for all of ``rows``, and their rollups (per monitor, hour
    and region), in one transaction."""
    if not rows:
        return
    keys = keys_of(store)
    rows = sorted(rows, key=lambda r: r.at)
    sums: dict[tuple[str, datetime, str], list[Any]] = {}
    for r in rows:
        key = (r.monitor, _hour(r.at), r.region)
        acc = sums.setdefault(key, [r.org, 0, 0, 0, 0, 0.0, 0, None])
        acc[1] += 1
        acc[{"up": 2, "degraded": 3, "down": 4}[r.outcome]] += 1
        if r.latency_ms is not None:
            acc[5] += r.latency_ms
            acc[6] += 1
            acc[7] = r.latency_ms if acc[7] is None else max(acc[7], r.latency_ms)

    async def work(conn: Any) -> None:
        async with conn.transaction():
            await keys._ensure(conn, rows)
            rollup_rows = [
                (m, a[0], h, keys.regions[region], *a[1:]) for (m, h, region), a in sums.items()
            ]
            # A batch never straddles midnight: its row lives in its first day's partition.
            for day_rows in _by_day(rows):
                first = day_rows[0].at
                await conn.execute(
                    _INSERT_BATCH,
                    first,
                    [keys.monitors[r.monitor] for r in day_rows],
                    [pack(r.outcome, keys.regions[r.region], r.status_code) for r in day_rows],
                    [round((r.at - first).total_seconds() * 1000) for r in day_rows],
                    [-1.0 if r.latency_ms is None else r.latency_ms for r in day_rows],
                    [r.error for r in day_rows] if any(r.error for r in day_rows) else None,
                )
            await conn.execute(_UPSERT_ROLLUPS, *[list(c) for c in zip(*rollup_rows, strict=True)])

    await store.run(work, write=True)


def _by_day(rows: Sequence[ResultRow]) -> list[list[ResultRow]]:
    out: list[list[ResultRow]] = []
    for r in rows:
        if out and out[-1][0].at.astimezone(UTC).date() == r.at.astimezone(UTC).date():
            out[-1].append(r)
        else:
            out.append([r])
    return out


async def recent_results(
    store: Database, monitor: str, *, before: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """A monitor's results, newest first (``before``: only those made earlier)."""
    keys = keys_of(store)

    async def work(conn: Any) -> list[dict[str, Any]]:
        key = await conn.fetchval("SELECT key FROM monitor_keys WHERE id = $1", monitor)
        if key is None:
            return []
        if len(keys.region_names) < await conn.fetchval("SELECT count(*) FROM region_keys"):
            await keys._load_regions(conn)
        # Each batch holding the monitor holds at least one of its results: a
        # batch more than asked covers those its first one leaves out.
        batches = await conn.fetch(
            "SELECT at, monitors, codes, offsets, latencies, errors FROM check_batches"
            " WHERE monitors @> ARRAY[$1::integer] AND ($2::timestamptz IS NULL OR at < $2)"
            " ORDER BY at DESC LIMIT $3",
            key,
            before,
            limit + 1,
        )
        found = []
        for batch in batches:
            errors = batch["errors"]
            for i, k in enumerate(batch["monitors"]):
                if k != key:
                    continue
                at = batch["at"] + timedelta(milliseconds=batch["offsets"][i])
                if before is not None and at >= before:
                    continue
                outcome, region, status = unpack(batch["codes"][i])
                latency = batch["latencies"][i]
                found.append(
                    {
                        "region": keys.region_names.get(region, "?"),
                        "at": at,
                        "outcome": outcome,
                        "latency_ms": None if latency < 0 else latency,
                        "status_code": status,
                        "error": None if errors is None else errors[i],
                    }
                )
        found.sort(key=lambda r: r["at"], reverse=True)
        return found[:limit]

    return await store.run(work, write=False)


async def rollups(store: Database, monitor: str, since: datetime) -> list[dict[str, Any]]:
    """A monitor's hourly rollups since ``since``, every region's together, oldest first."""
    return await store.fetch(
        "SELECT hour, sum(checks)::integer AS checks, sum(up)::integer AS up,"
        " sum(degraded)::integer AS degraded, sum(down)::integer AS down,"
        " sum(latency_sum) AS latency_sum, sum(latency_count)::integer AS latency_count,"
        " max(latency_max) AS latency_max"
        " FROM check_rollups WHERE monitor = $1 AND hour >= $2 GROUP BY hour ORDER BY hour",
        monitor,
        since,
    )


async def hourly_latencies(
    store: Database, monitors: Sequence[str], since: datetime
) -> list[dict[str, Any]]:
    """Each of ``monitors``' response times by hour since ``since`` (every region's
    together), oldest first: ``{monitor, hour, latency_sum, latency_count, latency_max}``."""
    if not monitors:
        return []
    return await store.fetch(
        "SELECT monitor, hour, sum(latency_sum) AS latency_sum,"
        " sum(latency_count)::integer AS latency_count, max(latency_max) AS latency_max"
        " FROM check_rollups WHERE monitor = ANY($1::text[]) AND hour >= $2"
        " GROUP BY monitor, hour ORDER BY hour",
        list(monitors),
        since,
    )


async def region_rollups(store: Database, monitor: str, since: datetime) -> list[dict[str, Any]]:
    """A monitor's checks, failures and response times by region and hour since
    ``since`` (rollups made before regions were kept apart are left out)."""
    return await store.fetch(
        "SELECT g.name AS region, r.hour, r.checks, r.down,"
        " r.latency_sum, r.latency_count, r.latency_max FROM check_rollups AS r"
        " JOIN region_keys AS g ON g.key = r.region"
        " WHERE r.monitor = $1 AND r.hour >= $2 ORDER BY r.hour",
        monitor,
        since,
    )


async def monitors_rollups(
    store: Database, monitors: Sequence[str], since: datetime
) -> list[dict[str, Any]]:
    """The hourly rollups of several monitors since ``since``, every region's
    together: ``monitor`` and the columns of :func:`rollups`, by monitor, oldest first."""
    return await store.fetch(
        "SELECT monitor, hour, sum(checks)::integer AS checks, sum(up)::integer AS up,"
        " sum(degraded)::integer AS degraded, sum(down)::integer AS down,"
        " sum(latency_sum) AS latency_sum, sum(latency_count)::integer AS latency_count,"
        " max(latency_max) AS latency_max"
        " FROM check_rollups WHERE monitor = ANY($1::text[]) AND hour >= $2"
        " GROUP BY monitor, hour ORDER BY monitor, hour",
        list(monitors),
        since,
    )


# -- verdicts (0012_verdict_history.sql) ---------------------------------------------

_VERDICTS_SINCE = """
SELECT monitor, at, verdict FROM (
    SELECT monitor, at, version, verdict FROM monitor_verdicts WHERE {where} AND at >= $2
    UNION ALL
    SELECT DISTINCT ON (monitor) monitor, at, version, verdict FROM monitor_verdicts
     WHERE {where} AND at < $2 ORDER BY monitor, at DESC, version DESC
) AS v ORDER BY at, version
"""


async def monitor_verdicts(store: Database, monitor: str, since: datetime) -> list[dict[str, Any]]:
    """A monitor's verdict changes since ``since``, and the one in force then,
    oldest first: ``{monitor, at, verdict}``."""
    return await store.fetch(_VERDICTS_SINCE.format(where="monitor = $1"), monitor, since)


async def org_verdicts(store: Database, stream: str, since: datetime) -> list[dict[str, Any]]:
    """The same for every monitor of an organization's stream."""
    return await store.fetch(_VERDICTS_SINCE.format(where="stream = $1"), stream, since)


async def forget_verdicts(store: Database, older_than: datetime) -> None:
    """Verdict changes older than ``older_than`` go, but each monitor's last one
    before it (the verdict in force when what is kept begins)."""
    await store.write(
        [
            (
                "DELETE FROM monitor_verdicts AS v WHERE v.at < $1 AND EXISTS ("
                " SELECT 1 FROM monitor_verdicts AS w"
                " WHERE w.monitor = v.monitor AND w.at < $1"
                " AND (w.at, w.version) > (v.at, v.version))",
                [older_than],
            )
        ]
    )


async def forget_results(store: Database, older_than: datetime) -> None:
    """Retention: a day's results go whole (its partition dropped) once all of
    it is older than ``older_than``; rollups stay (a year and more)."""
    cutoff = older_than.astimezone(UTC).date()
    rows = await store.fetch(
        "SELECT c.relname AS name FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = 'check_batches'"
    )
    old = [r["name"] for r in rows if (day := _day_of(r["name"])) is not None and day < cutoff]
    if old:
        await store.write([(f'DROP TABLE IF EXISTS "{name}"', ()) for name in old])
        keys = keys_of(store)
        keys.days = {d for d in keys.days if d >= cutoff}


def _day_of(partition: str) -> date | None:
    try:
        return datetime.strptime(partition.removeprefix("check_batches_"), "%Y%m%d").date()
    except ValueError:
        return None


async def forget_rollups(store: Database, older_than: datetime) -> None:
    await store.write([("DELETE FROM check_rollups WHERE hour < $1", [older_than])])


def since_days(now: datetime, days: int) -> datetime:
    return _hour(now - timedelta(days=days))


async def storage_bytes(store: Database) -> dict[str, int]:
    """What the results and rollups take on disk, indexes included."""
    rows = await store.fetch(
        "SELECT (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i"
        "        WHERE i.inhparent = 'check_batches'::regclass)::bigint AS results,"
        " pg_total_relation_size('check_rollups') AS rollups"
    )
    return {"results": rows[0]["results"], "rollups": rows[0]["rollups"]}


# -- the regions remote probes report from --------------------------------------------


@dataclass(frozen=True, slots=True)
class RegionRow:
    name: str
    state: str  # live | offline
    last_seen: datetime | None
    changed_at: datetime
    told: bool  # the organizations were told of the last change


async def probe_regions(store: Database) -> list[RegionRow]:
    rows = await store.fetch(
        "SELECT name, state, last_seen, changed_at, told FROM probe_regions ORDER BY name"
    )
    return [RegionRow(**dict(r)) for r in rows]


async def save_probe_region(store: Database, row: RegionRow) -> None:
    await store.write(
        [
            (
                "INSERT INTO probe_regions (name, state, last_seen, changed_at, told)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET"
                " state = EXCLUDED.state, last_seen = EXCLUDED.last_seen,"
                " changed_at = EXCLUDED.changed_at, told = EXCLUDED.told",
                (row.name, row.state, row.last_seen, row.changed_at, row.told),
            )
        ]
    )


async def forget_probe_region(store: Database, name: str) -> None:
    await store.write([("DELETE FROM probe_regions WHERE name = $1", (name,))])
