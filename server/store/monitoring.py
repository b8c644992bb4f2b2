"""Check results and their hourly rollups: written in batches, read for uptime.

A batch of results is one transaction of two statements: the rows (through
``unnest``, one round trip however many) and the rollups' increments, summed
per monitor and hour on this side first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .pg import Store


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


_INSERT_RESULTS = """
INSERT INTO check_results (monitor, org, region, at, outcome, latency_ms, status_code, error)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                     $6::real[], $7::integer[], $8::text[])
"""

_UPSERT_ROLLUPS = """
INSERT INTO check_rollups AS r (monitor, org, hour, checks, up, degraded, down,
                                latency_sum, latency_count, latency_max)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[], $5::integer[],
                     $6::integer[], $7::integer[], $8::double precision[], $9::integer[],
                     $10::real[])
ON CONFLICT (monitor, hour) DO UPDATE SET
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


async def write_results(store: Store, rows: Sequence[ResultRow]) -> None:
    if not rows:
        return
    columns = list(
        zip(
            *(
                (r.monitor, r.org, r.region, r.at, r.outcome, r.latency_ms, r.status_code, r.error)
                for r in rows
            ),
            strict=True,
        )
    )
    sums: dict[tuple[str, datetime], list[Any]] = {}
    for r in rows:
        key = (r.monitor, _hour(r.at))
        acc = sums.setdefault(key, [r.org, 0, 0, 0, 0, 0.0, 0, None])
        acc[1] += 1
        acc[{"up": 2, "degraded": 3, "down": 4}[r.outcome]] += 1
        if r.latency_ms is not None:
            acc[5] += r.latency_ms
            acc[6] += 1
            acc[7] = r.latency_ms if acc[7] is None else max(acc[7], r.latency_ms)
    rollups = [(m, a[0], h, *a[1:]) for (m, h), a in sums.items()]
    await store.write(
        [
            (_INSERT_RESULTS, [list(c) for c in columns]),
            (_UPSERT_ROLLUPS, [list(c) for c in zip(*rollups, strict=True)]),
        ]
    )


async def recent_results(
    store: Store, monitor: str, *, before: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """A monitor's results, newest first."""
    return await store.fetch(
        "SELECT region, at, outcome, latency_ms, status_code, error FROM check_results"
        " WHERE monitor = $1 AND ($2::timestamptz IS NULL OR at < $2)"
        " ORDER BY at DESC LIMIT $3",
        monitor,
        before,
        limit,
    )


async def rollups(store: Store, monitor: str, since: datetime) -> list[dict[str, Any]]:
    """A monitor's hourly rollups since ``since``, oldest first."""
    return await store.fetch(
        "SELECT hour, checks, up, degraded, down, latency_sum, latency_count, latency_max"
        " FROM check_rollups WHERE monitor = $1 AND hour >= $2 ORDER BY hour",
        monitor,
        since,
    )


async def forget_results(store: Store, older_than: datetime) -> None:
    """Retention: results go after a while; rollups stay (a year and more)."""
    await store.write([("DELETE FROM check_results WHERE at < $1", [older_than])])


async def forget_rollups(store: Store, older_than: datetime) -> None:
    await store.write([("DELETE FROM check_rollups WHERE hour < $1", [older_than])])


def since_days(now: datetime, days: int) -> datetime:
    return _hour(now - timedelta(days=days))


async def storage_bytes(store: Store) -> dict[str, int]:
    """What the results and rollups take on disk, indexes included."""
    rows = await store.fetch(
        "SELECT pg_total_relation_size('check_results') AS results,"
        " pg_total_relation_size('check_rollups') AS rollups"
    )
    return {"results": rows[0]["results"], "rollups": rows[0]["rollups"]}


async def daily_checks(store: Store, org: str, since: datetime) -> list[dict[str, Any]]:
    """Each of an organization's monitors' checks and failures per UTC day."""
    return await store.fetch(
        "SELECT monitor, (hour AT TIME ZONE 'UTC')::date AS day, sum(checks) AS checks,"
        " sum(down) AS down FROM check_rollups WHERE org = $1 AND hour >= $2"
        " GROUP BY monitor, day",
        org,
        since,
    )
