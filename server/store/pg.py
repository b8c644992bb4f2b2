"""PostgreSQL through asyncpg, bridged into trio by trio-asyncio.

This module is the only place that knows asyncio exists: :class:`Store`'s
methods are trio-flavoured, and each runs its whole database conversation as
one asyncio coroutine on the trio-asyncio loop (one crossing of the bridge per
operation, not per statement).

Connections are held in a small trio-side pool: acquiring one is a trio
channel receive, which costs far less than an asyncpg pool acquire through
the bridge (measured here: ~300 us per query on a held connection against
~840 us through ``asyncpg.Pool``).

Appends are one SQL statement (a CTE that bumps the stream's version only if
it is still the expected one, then inserts the batch), so a group commit costs
one round trip and is atomic without an explicit transaction.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import asyncpg
import orjson
import trio
import trio_asyncio

from ..domain.events import Event
from ..errors import OutcomeUnknown, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError, Unavailable):
    """The database cannot be reached or failed; the operation did not happen."""


class Refused(StoreError):
    """The database answered with an error: nothing of the operation happened."""


class WriteUnconfirmed(StoreError, OutcomeUnknown):
    """A write was sent and no answer came (a timeout, a lost connection): it
    may or may not have been committed. Read back, or retry with the same
    idempotency key, before acting on it."""


class StreamExists(StoreError):
    """A stream with that id already exists."""


class QuotaExceeded(StoreError):
    """An organization holds as many streams of a kind as it may."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} held")
        self.held = held


class Duplicate(StoreError):
    """A row with that key (or unique value) already exists."""


class ConcurrencyError(StoreError):
    """The stream moved past the expected version: another writer got there first."""


@dataclass(frozen=True, slots=True)
class NewStream:
    """A stream to create along with an append: its id, kind and first events."""

    id: str
    kind: str
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log: who changed what, when, from where."""

    org: str
    at: datetime
    actor_kind: str
    actor_id: str
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: Any = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.org,
            self.at,
            self.actor_kind,
            self.actor_id,
            self.actor,
            self.action,
            self.target,
            self.ip,
            self.details,
        )


INSERT_AUDIT = (
    "INSERT INTO audit_log (org, at, actor_kind, actor_id, actor, action, target, ip, details)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


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


def _row_event(row: asyncpg.Record) -> Event:
    return Event(
        version=row["version"],
        public_seq=row["public_seq"],
        name=row["name"],
        data=row["data"],
        at=row["at"],
        author=row["author"],
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        # Binary format: for json that is the text itself, so orjson's bytes go
        # through as they are (no str round trip). jsonb's binary form has a
        # version byte in front.
        prefix = b"\x01" if kind == "jsonb" else b""
        skip = len(prefix)
        await conn.set_type_codec(
            kind,
            encoder=lambda value, p=prefix: p + orjson.dumps(value),
            decoder=lambda data, n=skip: orjson.loads(data[n:]),
            schema="pg_catalog",
            format="binary",
        )


_CONNECTION_ERRORS = (
    OSError,
    trio.TooSlowError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection whose backend was killed under it
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, crash recovery
)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, trio.TooSlowError):
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__


def _discard(conn: asyncpg.Connection | None) -> None:
    if conn is not None and not conn.is_closed():
        conn.terminate()


_BUMP = """
WITH bump AS (
    UPDATE streams SET version = $2 + cardinality($3::bigint[]), wake_at = $9,
                       listed = coalesce($10::boolean, listed)
    WHERE id = $1 AND version = $2
    RETURNING id
)"""

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
def _append_sql(audit: bool, receipts: bool, archive: bool, verdicts: bool = False) -> str:
    """The append statement: bump the version if still expected, insert the
    events, and with them (or not at all) audit rows, receipts, archived
    incidents' entries and monitors' verdict changes."""
    sql, n = _BUMP, 11
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


class Store:
    """The event log, snapshots and the registry of streams."""

    def __init__(self, dsn: str, loop: Any, size: int, timeout: float = 10.0) -> None:
        self.dsn = dsn
        self._loop = loop
        self._size = size
        self.timeout = timeout  # seconds any one wait on the database may take
        # Pooled connections, each with the generation it was opened in. A lost
        # connection starts a new generation: the database probably restarted,
        # so every older connection is replaced before its next use.
        self._send, self._receive = trio.open_memory_channel[tuple[asyncpg.Connection | None, int]](
            size
        )
        self._generation = 0
        self.closed = False

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(cls, dsn: str, *, size: int = 4, bound: float = 10.0) -> AsyncIterator[Store]:
        """Open the bridge and ``size`` connections, apply migrations, yield the store.

        Every wait on the database (a free connection, connecting, a query) is
        bounded by ``bound`` seconds.
        """
        try:
            async with trio_asyncio.open_loop() as loop:
                store = cls(dsn, loop, size, bound)
                for _ in range(size):
                    store._send.send_nowait((None, 0))  # connected on first use
                try:
                    await store.migrate()
                    yield store
                finally:
                    store.closed = True
                    with trio.CancelScope(shield=True):
                        await store._close_all()
        except BaseExceptionGroup as group:
            # trio-asyncio's nursery wraps whatever ends the block; one error
            # reads better unwrapped (a database that cannot be reached, say).
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    async def _close_all(self) -> None:
        for _ in range(self._size):
            try:
                conn, _ = self._receive.receive_nowait()
            except trio.WouldBlock:
                break  # still lent out; its task is being cancelled
            if conn is not None and not conn.is_closed():
                with trio.move_on_after(2):
                    await self._loop.run_aio_coroutine(conn.close())

    async def _connect(self) -> asyncpg.Connection:
        async def connect() -> asyncpg.Connection:
            conn = await asyncpg.connect(self.dsn, timeout=self.timeout)
            await _init_connection(conn)
            return conn

        return await self._loop.run_aio_coroutine(connect())

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, write: bool) -> T:
        """Run ``work(conn)`` (an asyncio coroutine function) on a pooled connection.

        Each wait is bounded by ``timeout``. What fails before the work reaches
        the database (no free connection, no connection at all) raises
        StoreUnavailable: nothing happened. A read that finds its connection
        dead is retried once on a fresh one. A write that was sent and not
        answered raises OutcomeUnknown: it may have been committed. Writes are
        shielded from cancellation, so that a cancelled caller does not leave
        one half-known.
        """
        try:
            return await self._run_once(work, write=write)
        except StoreUnavailable:
            if write:
                raise
            return await self._run_once(work, write=write)

    async def _run_once(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, write: bool
    ) -> T:
        if self.closed:  # its connections are gone: waiting for one would never end
            raise StoreUnavailable("the database store is closed (the server is stopping)")
        with trio.move_on_after(self.timeout) as waiting:
            conn, generation = await self._receive.receive()
        if waiting.cancelled_caught:
            raise StoreUnavailable(f"no database connection came free within {self.timeout:g} s")
        sent = False
        try:
            if conn is not None and (generation < self._generation or conn.is_closed()):
                _discard(conn)
                conn = None
            if conn is None:
                generation = self._generation
                with trio.fail_after(self.timeout):
                    conn = await self._connect()
            sent = True
            if write:
                with trio.CancelScope(shield=True), trio.fail_after(self.timeout):
                    return cast(T, await self._loop.run_aio_coroutine(work(conn)))
            with trio.fail_after(self.timeout):
                return cast(T, await self._loop.run_aio_coroutine(work(conn)))
        except _CONNECTION_ERRORS as exc:
            _discard(conn)
            conn = None
            self._generation = max(self._generation, generation + 1)
            if write and sent:
                raise WriteUnconfirmed(
                    f"the database did not confirm the write ({_why(exc, self.timeout)});"
                    " it may or may not have been made"
                ) from exc
            raise StoreUnavailable(f"database unavailable: {_why(exc, self.timeout)}") from exc
        except StoreError:
            raise
        except asyncpg.PostgresError as exc:
            # An answer from the database (the connection is fine): it refused,
            # and a refused write was rolled back.
            raise Refused(f"the database refused: {exc}") from exc
        except BaseException:
            # Cancelled mid-conversation: the connection's state is unknown.
            _discard(conn)
            conn = None
            raise
        finally:
            self._send.send_nowait((conn, generation))

    # -- schema ---------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order, under an advisory lock. Returns their names."""
        files = sorted(
            (f.name, f.read_text())
            for f in importlib.resources.files("server.store").joinpath("migrations").iterdir()
            if f.name.endswith(".sql")
        )

        async def work(conn: asyncpg.Connection) -> list[str]:
            applied: list[str] = []
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(727274)")
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
                for name, sql in files:
                    if name not in done:
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                        applied.append(name)
            return applied

        applied = await self.run(work, write=True)
        for name in applied:
            log.info("applied migration %s", name)
        return applied

    async def ping(self) -> None:
        """StoreUnavailable unless the database answers (within the store's bound;
        callers in a hurry bound it more)."""

        async def work(conn: asyncpg.Connection) -> None:
            await conn.fetchval("SELECT 1")

        await self.run(work, write=False)

    # -- plain tables -----------------------------------------------------------

    async def write(
        self, statements: Sequence[tuple[str, Sequence[Any]]], audit: Sequence[AuditEntry] = ()
    ) -> list[str]:
        """Run ``(sql, args)`` statements and insert ``audit`` rows in one transaction.

        Returns each statement's status (``"UPDATE 1"``...); a unique key
        taken already raises :class:`Duplicate` and nothing is written.
        """

        async def work(conn: asyncpg.Connection) -> list[str]:
            async with conn.transaction():
                statuses = []
                for sql, args in statements:
                    try:
                        statuses.append(await conn.execute(sql, *args))
                    except asyncpg.UniqueViolationError as exc:
                        raise Duplicate(exc.constraint_name or "unique") from None
                if audit:
                    await conn.executemany(INSERT_AUDIT, [entry.row() for entry in audit])
                return statuses

        return await self.run(work, write=True)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async def work(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            return [dict(row) for row in await conn.fetch(sql, *args)]

        return await self.run(work, write=False)

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

        async def work(conn: asyncpg.Connection) -> None:
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

        async def work(conn: asyncpg.Connection) -> bool:
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
    ) -> None:
        """Append a batch atomically, if the stream is still at ``expected_version``.

        ``wake_at`` records when the stream's actor must next run a timer, so
        that a restarted server knows which actors to start at once; ``listed``
        (None: unchanged) whether an organization is on the front page. Streams
        in ``create`` are created in the same transaction (StreamExists if one
        is taken), so that what an event announces exists once it is durable.
        ``audit`` rows, idempotency ``receipts``, ``archived`` incidents'
        entries and monitors' ``verdicts`` are written with the events, or not
        at all.
        """

        extras = (wake_at, audit, listed, receipts, archived, verdicts)

        async def work(conn: asyncpg.Connection) -> None:
            if not create:
                await _append(conn, stream, expected_version, events, *extras)
                return
            async with conn.transaction():
                for new in create:
                    await _insert_stream(conn, new.id, new.kind)
                    await _append(conn, new.id, 0, new.events, None)
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

        async def work(conn: asyncpg.Connection) -> Loaded | None:
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
        async def work(conn: asyncpg.Connection) -> list[Event]:
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

        async def work(conn: asyncpg.Connection) -> None:
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

        async def work(conn: asyncpg.Connection) -> int | None:
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

        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute("UPDATE streams SET wake_at = $2 WHERE id = $1", stream, at)

        await self.run(work, write=True)

    async def wakeups(self, kind: str) -> list[tuple[str, datetime]]:
        """Streams of ``kind`` with a timer set, soonest first."""

        async def work(conn: asyncpg.Connection) -> list[tuple[str, datetime]]:
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

        async def work(conn: asyncpg.Connection) -> list[str]:
            rows = await conn.fetch(
                "SELECT id FROM streams WHERE kind = $1 AND listed ORDER BY id LIMIT $2",
                kind,
                limit,
            )
            return [r["id"] for r in rows]

        return await self.run(work, write=False)

    async def streams(self, kind: str, *, after: str = "", limit: int = 100) -> list[str]:
        """Stream ids of one kind, in id order, for paging through them."""

        async def work(conn: asyncpg.Connection) -> list[str]:
            rows = await conn.fetch(
                "SELECT id FROM streams WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3",
                kind,
                after,
                limit,
            )
            return [r["id"] for r in rows]

        return await self.run(work, write=False)


async def _insert_stream(
    conn: asyncpg.Connection, stream: str, kind: str, org: str | None = None, listed: bool = False
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


async def _append(
    conn: asyncpg.Connection,
    stream: str,
    expected: int,
    events: Sequence[Event],
    wake_at: datetime | None,
    audit: Sequence[AuditEntry] = (),
    listed: bool | None = None,
    receipts: Sequence[ReceiptRow] = (),
    archived: Sequence[Archived] = (),
    verdicts: Sequence[VerdictRow] = (),
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
    status = await conn.execute(
        _append_sql(bool(audit), bool(receipts), bool(archived), bool(verdicts)),
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
        *columns,
    )
    if status != f"INSERT 0 {len(events)}":
        raise ConcurrencyError(f"{stream} is no longer at version {expected}")
