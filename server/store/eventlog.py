"""The event log: streams, their events and snapshots, and the registry of streams.

Appends are one SQL statement (a CTE that bumps the stream's version only if
it is still the expected one, then inserts the batch), so a group commit costs
one round trip and is atomic without an explicit transaction.

Each operation is one conversation handed to :meth:`Database.run`, so it
crosses the bridge once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.events import Event
from .audit import INSERT_AUDIT, AuditEntry
from .database import Connection, Database, StoreError


class StreamExists(StoreError):
    """A stream with that id already exists."""


class QuotaExceeded(StoreError):
    """An organization holds as many streams of a kind as it may."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} held")
        self.held = held


class ConcurrencyError(StoreError):
    """The stream moved past the expected version: another writer got there first."""


class DomainTaken(StoreError):
    """A host name another stream has claimed already; nothing was written."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is claimed by another organization")
        self.host = host


@dataclass(frozen=True, slots=True)
class NewStream:
    """A stream to create along with an append: its id, kind and first events."""

    id: str
    kind: str
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A stream read back: latest snapshot (if any) and the events needed after it.

    ``events`` may start before the snapshot (see ``Store.load``'s ``since``);
    apply only those past ``snapshot_version``.
    """

    snapshot: Any | None
    snapshot_version: int
    events: list[Event]
    version: int


def _row_event(row: Mapping[str, Any]) -> Event:
    return Event(
        version=row["version"],
        public_seq=row["public_seq"],
        name=row["name"],
        data=row["data"],
        at=row["at"],
        author=row["author"],
    )


_BUMP = """
WITH bump AS (
    UPDATE streams SET version = $2 + cardinality($3::bigint[]), wake_at = $9,
                       listed = coalesce($10::boolean, listed)
    WHERE id = $1 AND version = $2{fence}
    RETURNING id
)"""

# An append fenced by its writer's lease: it commits only while the lease has
# that epoch. FOR SHARE makes a takeover (an UPDATE of the lease) wait for an
# append in flight, and an append wait for a takeover in flight and then see
# its new epoch (see store/leases.py).
_FENCE = """
      AND EXISTS (SELECT 1 FROM leases WHERE stream = $1 AND epoch = $11 FOR SHARE)"""

# Audit rows and idempotency receipts are written only if the append happens.
_AUDIT = """, audit AS (
    INSERT INTO audit_log (org, at, actor_kind, actor_id, actor, action, target, ip, details)
    SELECT a.org, a.at, a.actor_kind, a.actor_id, a.actor, a.action, a.target, a.ip, a.details
    FROM bump, unnest(${0}::text[], ${1}::timestamptz[], ${2}::text[], ${3}::text[], ${4}::text[],
                      ${5}::text[], ${6}::text[], ${7}::text[], ${8}::json[])
         AS a(org, at, actor_kind, actor_id, actor, action, target, ip, details)
)"""

_RECEIPTS = """, receipts AS (
    INSERT INTO idempotency (scope, key, org, fingerprint, answer, created_at)
    SELECT r.scope, r.key, r.org, r.fingerprint, r.answer, r.at
    FROM bump, unnest(${0}::text[], ${1}::text[], ${2}::text[], ${3}::text[], ${4}::json[],
                      ${5}::timestamptz[])
         AS r(scope, key, org, fingerprint, answer, at)
    ON CONFLICT DO NOTHING
)"""

_ARCHIVE = """, archive AS (
    INSERT INTO incident_archive (stream, id, version, started_at)
    SELECT bump.id, x.id, x.version, x.started_at
    FROM bump, unnest(${0}::text[], ${1}::bigint[], ${2}::timestamptz[])
         AS x(id, version, started_at)
    ON CONFLICT DO NOTHING
)"""

_VERDICTS = """, verdicts AS (
    INSERT INTO monitor_verdicts (monitor, stream, version, at, verdict)
    SELECT v.monitor, bump.id, v.version, v.at, v.verdict
    FROM bump, unnest(${0}::text[], ${1}::bigint[], ${2}::timestamptz[], ${3}::text[])
         AS v(monitor, version, at, verdict)
    ON CONFLICT DO NOTHING
)"""

_EVENTS = """
INSERT INTO events (stream, version, public_seq, name, data, at, author)
SELECT bump.id, u.version, u.public_seq, u.name, u.data, u.at, u.author
FROM bump, unnest($3::bigint[], $4::bigint[], $5::text[], $6::json[],
                  $7::timestamptz[], $8::text[])
     AS u(version, public_seq, name, data, at, author)
"""


@functools.cache
def _append_sql(
    audit: bool, receipts: bool, archive: bool, verdicts: bool = False, fenced: bool = False
) -> str:
    """The append statement: bump the version if still expected (and, fenced,
    if the writer's lease epoch is still the lease's), insert the events, and
    with them (or not at all) audit rows, receipts, archived incidents' entries
    and monitors' verdict changes."""
    sql, n = _BUMP.format(fence=_FENCE if fenced else ""), 12 if fenced else 11
    if audit:
        sql += _AUDIT.format(*range(n, n + 9))
        n += 9
    if receipts:
        sql += _RECEIPTS.format(*range(n, n + 6))
        n += 6
    if archive:
        sql += _ARCHIVE.format(*range(n, n + 3))
        n += 3
    if verdicts:
        sql += _VERDICTS.format(*range(n, n + 4))
    return sql + _EVENTS


@dataclass(frozen=True, slots=True)
class Archived:
    """An incident leaving its organization's memory: which event holds it last."""

    id: str
    version: int  # its incident.archived event
    started_at: datetime


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """A monitor's verdict changed (or was first set): which event, when, to what."""

    monitor: str
    version: int
    at: datetime
    verdict: str


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """An organization command's idempotency receipt, written with its events."""

    scope: str
    key: str
    org: str
    fingerprint: str
    answer: Any
    at: datetime


class Store(Database):
    """The event log, snapshots and the registry of streams, on the
    :class:`Database`'s connections (with its plain SQL and migrations)."""

    # -- streams --------------------------------------------------------------

    async def create_stream(
        self,
        stream: str,
        kind: str,
        events: Sequence[Event],
        audit: Sequence[AuditEntry] = (),
        *,
        org: str | None = None,
        cap: int | None = None,
        listed: bool = False,
    ) -> None:
        """Create a stream with its first events; StreamExists if the id is taken.

        A stream that ``org`` owns counts against that organization's ``cap``
        of streams of its kind (QuotaExceeded when it is reached).
        """

        async def work(conn: Connection) -> None:
            async with conn.transaction():
                if org is not None and cap is not None:
                    # One creator per organization at a time, so two cannot both fit.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", f"{kind}s:{org}"
                    )
                    held = await conn.fetchval(
                        "SELECT count(*) FROM streams WHERE org = $1 AND kind = $2", org, kind
                    )
                    if held >= cap:
                        raise QuotaExceeded(held)
                await _insert_stream(conn, stream, kind, org, listed)
                await _append(conn, stream, 0, events, None, audit)

        await self.run(work, write=True)

    async def delete_stream(self, stream: str, audit: Sequence[AuditEntry] = ()) -> bool:
        """Remove a stream with its events and snapshots (and write ``audit``); False
        if there was none."""

        async def work(conn: Connection) -> bool:
            async with conn.transaction():
                await conn.execute("DELETE FROM events WHERE stream = $1", stream)
                await conn.execute("DELETE FROM snapshots WHERE stream = $1", stream)
                gone = await conn.execute("DELETE FROM streams WHERE id = $1", stream)
                if gone != "DELETE 1":
                    return False
                if audit:
                    await conn.executemany(INSERT_AUDIT, [entry.row() for entry in audit])
                return True

        return await self.run(work, write=True)

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        wake_at: datetime | None = None,
        create: Sequence[NewStream] = (),
        audit: Sequence[AuditEntry] = (),
        listed: bool | None = None,
        receipts: Sequence[ReceiptRow] = (),
        archived: Sequence[Archived] = (),
        verdicts: Sequence[VerdictRow] = (),
        epoch: int | None = None,
        domains: Sequence[str] | None = None,
    ) -> None:
        """Append a batch atomically, if the stream is still at ``expected_version``
        (and, given an ``epoch``, if the stream's lease still has it: see
        :mod:`.leases`); ConcurrencyError if not.

        ``wake_at`` records when the stream's actor must next run a timer, so
        that a restarted server knows which actors to start at once; ``listed``
        (None: unchanged) whether an organization is on the front page. Streams
        in ``create`` are created in the same transaction (StreamExists if one
        is taken), so that what an event announces exists once it is durable.
        ``audit`` rows, idempotency ``receipts``, ``archived`` incidents'
        entries and monitors' ``verdicts`` are written with the events, or not
        at all; so are the host names the stream claims, given ``domains``
        (None: unchanged), or DomainTaken if another stream has one.
        """

        extras = (wake_at, audit, listed, receipts, archived, verdicts, epoch)

        async def work(conn: Connection) -> None:
            if not create and domains is None:
                await _append(conn, stream, expected_version, events, *extras)
                return
            async with conn.transaction():
                for new in create:
                    await _insert_stream(conn, new.id, new.kind)
                    await _append(conn, new.id, 0, new.events, None)
                if domains is not None:
                    await _claim_domains(conn, stream, domains)
                await _append(conn, stream, expected_version, events, *extras)

        await self.run(work, write=True)

    async def load(
        self, stream: str, *, since: int | None = None, history: int = 0
    ) -> Loaded | None:
        """The latest snapshot and the events after it.

        The events start earlier when asked: after ``since`` (what a restarting
        actor's topics may not have published yet), and at least ``history``
        events before the head (what topics keep for resuming subscribers).
        """

        async def work(conn: Connection) -> Loaded | None:
            head = await conn.fetchrow("SELECT version FROM streams WHERE id = $1", stream)
            if head is None:
                return None
            snap = await conn.fetchrow(
                "SELECT version, state FROM snapshots WHERE stream = $1"
                " ORDER BY version DESC LIMIT 1",
                stream,
            )
            snap_version = 0 if snap is None else snap["version"]
            start = min(snap_version, head["version"] - history)
            if since is not None:
                start = min(start, since)
            start = max(0, start)
            rows = await conn.fetch(
                "SELECT version, public_seq, name, data, at, author FROM events"
                " WHERE stream = $1 AND version > $2 ORDER BY version",
                stream,
                start,
            )
            return Loaded(
                snapshot=None if snap is None else snap["state"],
                snapshot_version=snap_version,
                events=[_row_event(r) for r in rows],
                version=head["version"],
            )

        return await self.run(work, write=False)

    async def events_after(self, stream: str, version: int, limit: int = 1000) -> list[Event]:
        async def work(conn: Connection) -> list[Event]:
            rows = await conn.fetch(
                "SELECT version, public_seq, name, data, at, author FROM events"
                " WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3",
                stream,
                version,
                limit,
            )
            return [_row_event(r) for r in rows]

        return await self.run(work, write=False)

    async def save_snapshot(
        self,
        stream: str,
        version: int,
        state: Any,
        *,
        keep: int = 2,
        daily: bool = False,
        at: datetime | None = None,
    ) -> None:
        """Store a snapshot at ``version`` (taken ``at``, by default now) and drop
        all but the ``keep`` latest (and, with ``daily``, the latest of each day:
        where rebuilding a past state starts from)."""

        async def work(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO snapshots (stream, version, state, at)"
                    " VALUES ($1, $2, $3, coalesce($4, now()))"
                    " ON CONFLICT (stream, version) DO NOTHING",
                    stream,
                    version,
                    state,
                    at,
                )
                await conn.execute(
                    "UPDATE streams SET snapshot_version = greatest(snapshot_version, $2)"
                    " WHERE id = $1",
                    stream,
                    version,
                )
                await conn.execute(
                    "DELETE FROM snapshots WHERE stream = $1 AND version NOT IN"
                    " (SELECT version FROM snapshots WHERE stream = $1"
                    "  ORDER BY version DESC LIMIT $2)"
                    " AND ($3 = false OR version NOT IN"
                    " (SELECT DISTINCT ON ((at AT TIME ZONE 'UTC')::date) version FROM snapshots"
                    "  WHERE stream = $1 ORDER BY (at AT TIME ZONE 'UTC')::date, version DESC))",
                    stream,
                    keep,
                    daily,
                )

        await self.run(work, write=True)

    async def compact(self, stream: str, before: datetime) -> int | None:
        """Forget what lies behind the newest snapshot taken before ``before``:
        its events and older snapshots. That snapshot is where the stream's
        history now begins (its version, or None if nothing was forgotten)."""

        async def work(conn: Connection) -> int | None:
            async with conn.transaction():
                base = await conn.fetchval(
                    "SELECT max(version) FROM snapshots WHERE stream = $1 AND at < $2",
                    stream,
                    before,
                )
                if base is None:
                    return None
                gone = await conn.execute(
                    "DELETE FROM events WHERE stream = $1 AND version <= $2", stream, base
                )
                await conn.execute(
                    "DELETE FROM snapshots WHERE stream = $1 AND version < $2", stream, base
                )
                return int(base) if gone != "DELETE 0" else None

        return await self.run(work, write=True)

    async def snapshots(self, stream: str) -> list[tuple[int, datetime]]:
        """A stream's snapshots (version, when taken), oldest first."""
        rows = await self.fetch(
            "SELECT version, at FROM snapshots WHERE stream = $1 ORDER BY version", stream
        )
        return [(r["version"], r["at"]) for r in rows]

    async def snapshot_at(self, stream: str, version: int) -> Any:
        """The state a snapshot holds."""
        rows = await self.fetch(
            "SELECT state FROM snapshots WHERE stream = $1 AND version = $2", stream, version
        )
        return rows[0]["state"] if rows else None

    async def set_wake(self, stream: str, at: datetime | None) -> None:
        """Remember when a sleeping stream's actor must be woken (None: never)."""

        async def work(conn: Connection) -> None:
            await conn.execute("UPDATE streams SET wake_at = $2 WHERE id = $1", stream, at)

        await self.run(work, write=True)

    async def wakeups(self, kind: str) -> list[tuple[str, datetime]]:
        """Streams of ``kind`` with a timer set, soonest first."""

        async def work(conn: Connection) -> list[tuple[str, datetime]]:
            rows = await conn.fetch(
                "SELECT id, wake_at FROM streams WHERE kind = $1 AND wake_at IS NOT NULL"
                " ORDER BY wake_at",
                kind,
            )
            return [(r["id"], r["wake_at"]) for r in rows]

        return await self.run(work, write=False)

    async def listed(self, kind: str, *, limit: int = 100) -> list[str]:
        """The ids of the streams of ``kind`` that are listed (organizations on
        the front page), in order."""

        async def work(conn: Connection) -> list[str]:
            rows = await conn.fetch(
                "SELECT id FROM streams WHERE kind = $1 AND listed ORDER BY id LIMIT $2",
                kind,
                limit,
            )
            return [r["id"] for r in rows]

        return await self.run(work, write=False)

    async def domains(self, hosts: Sequence[str] | None = None) -> dict[str, str]:
        """Claimed host names and the stream of each: all of them, or those of
        ``hosts`` that are claimed."""

        async def work(conn: Connection) -> dict[str, str]:
            if hosts is None:
                rows = await conn.fetch("SELECT host, stream FROM domains")
            else:
                rows = await conn.fetch(
                    "SELECT host, stream FROM domains WHERE host = ANY($1::text[])", list(hosts)
                )
            return {r["host"]: r["stream"] for r in rows}

        return await self.run(work, write=False)

    async def streams(self, kind: str, *, after: str = "", limit: int = 100) -> list[str]:
        """Stream ids of one kind, in id order, for paging through them."""

        async def work(conn: Connection) -> list[str]:
            rows = await conn.fetch(
                "SELECT id FROM streams WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3",
                kind,
                after,
                limit,
            )
            return [r["id"] for r in rows]

        return await self.run(work, write=False)


async def _insert_stream(
    conn: Connection, stream: str, kind: str, org: str | None = None, listed: bool = False
) -> None:
    """Register a new stream; StreamExists if the id is taken."""
    status = await conn.execute(
        "INSERT INTO streams (id, kind, org, listed) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        stream,
        kind,
        org,
        listed,
    )
    if status == "INSERT 0 0":
        raise StreamExists(stream)


async def _claim_domains(conn: Connection, stream: str, hosts: Sequence[str]) -> None:
    """Make ``hosts`` the names ``stream`` claims (in the caller's transaction);
    DomainTaken if another stream holds one. Of two streams claiming a name at
    once, the second waits for the first to commit, then finds it taken."""
    wanted = list(hosts)
    await conn.execute(
        "DELETE FROM domains WHERE stream = $1 AND NOT (host = ANY($2::text[]))", stream, wanted
    )
    await conn.execute(
        "INSERT INTO domains (host, stream) SELECT h, $1 FROM unnest($2::text[]) AS h"
        " ON CONFLICT (host) DO NOTHING",
        stream,
        wanted,
    )
    taken = await conn.fetchval(
        "SELECT host FROM domains WHERE host = ANY($2::text[]) AND stream <> $1"
        " ORDER BY host LIMIT 1",
        stream,
        wanted,
    )
    if taken is not None:
        raise DomainTaken(taken)


async def _append(
    conn: Connection,
    stream: str,
    expected: int,
    events: Sequence[Event],
    wake_at: datetime | None,
    audit: Sequence[AuditEntry] = (),
    listed: bool | None = None,
    receipts: Sequence[ReceiptRow] = (),
    archived: Sequence[Archived] = (),
    verdicts: Sequence[VerdictRow] = (),
    epoch: int | None = None,
) -> None:
    if not events:
        return
    for offset, event in enumerate(events, start=1):
        if event.version != expected + offset:
            raise ValueError(f"event versions must continue from {expected}")  # our bug
    columns: list[list[Any]] = []
    if audit:
        columns = [list(column) for column in zip(*(entry.row() for entry in audit), strict=True)]
    if receipts:
        columns += [
            [r.scope for r in receipts],
            [r.key for r in receipts],
            [r.org for r in receipts],
            [r.fingerprint for r in receipts],
            [r.answer for r in receipts],
            [r.at for r in receipts],
        ]
    if archived:
        columns += [
            [a.id for a in archived],
            [a.version for a in archived],
            [a.started_at for a in archived],
        ]
    if verdicts:
        columns += [
            [v.monitor for v in verdicts],
            [v.version for v in verdicts],
            [v.at for v in verdicts],
            [v.verdict for v in verdicts],
        ]
    fence = [] if epoch is None else [epoch]
    status = await conn.execute(
        _append_sql(bool(audit), bool(receipts), bool(archived), bool(verdicts), bool(fence)),
        stream,
        expected,
        [e.version for e in events],
        [e.public_seq for e in events],
        [e.name for e in events],
        [e.data for e in events],
        [e.at for e in events],
        [e.author for e in events],
        wake_at,
        listed,
        *fence,
        *columns,
    )
    if status != f"INSERT 0 {len(events)}":
        why = f"version {expected}" if epoch is None else f"version {expected}, lease epoch {epoch}"
        raise ConcurrencyError(f"{stream} is no longer at {why}")
