"""Leases: which node runs an actor, when several share one database.

Each stream's actor runs on one node at a time, the holder of its lease: an
owner (the node's id), an epoch and an expiry. Expiry is read on the
database's clock (``clock_timestamp()``), never a node's, so nodes whose
clocks disagree still agree on who holds what.

* :meth:`Leases.acquire` takes a lease that is free, expired or already the
  caller's, and always gives it a new epoch: whoever held it before, even the
  same node in an earlier life, is deposed.
* :meth:`Leases.renew` pushes the expiry on, for as long as the epoch is
  still the caller's (an expired lease nobody took is still safely its own:
  nobody else can have written).
* :meth:`Leases.release` lets it go at once, on a graceful stop.
* :meth:`Leases.orphans` finds the leases whose holder let them run out
  without releasing them (it died): the streams to adopt.

**Fencing.** The event log's append carries the writer's epoch
(``Store.append(..., epoch=...)``) and commits only if the lease still has
that epoch, in the same statement, which reads the lease row ``FOR SHARE``.
A takeover (an ``UPDATE`` of that row) therefore waits for an append in
flight to commit, and an append that comes after the takeover finds the new
epoch and commits nothing. So a node that lost its lease, paused or cut off,
can never commit again, even while it still believes it owns the actor: the
log never holds an event written under an epoch after a newer one was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .database import Connection, Database


@dataclass(frozen=True, slots=True)
class Lease:
    """A stream's lease as it was granted or last read."""

    stream: str
    owner: str
    epoch: int
    expires_at: datetime


_ACQUIRE = """
INSERT INTO leases AS l (stream, owner, epoch, expires_at)
VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))
ON CONFLICT (stream) DO UPDATE
    SET owner = excluded.owner, epoch = l.epoch + 1, expires_at = excluded.expires_at
    WHERE l.expires_at <= clock_timestamp() OR l.owner = excluded.owner
RETURNING stream, owner, epoch, expires_at
"""

_RENEW = """
UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $4)
WHERE stream = $1 AND owner = $2 AND epoch = $3
RETURNING stream, owner, epoch, expires_at
"""

# A released lease keeps its epoch (fencing needs it to only grow) and loses
# its owner: free for anyone, and not an orphan.
_RELEASE = """
UPDATE leases SET expires_at = clock_timestamp(), owner = ''
WHERE stream = $1 AND owner = $2 AND epoch = $3
"""

_ORPHANS = """
SELECT stream FROM leases
WHERE stream LIKE $1 AND owner <> '' AND expires_at <= clock_timestamp()
ORDER BY stream LIMIT $2
"""

_HOLDER = """
SELECT stream, owner, epoch, expires_at, expires_at > clock_timestamp() AS live
FROM leases WHERE stream = $1
"""


class Leases:
    """The leases table, on a :class:`Database`'s connections."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def acquire(self, stream: str, node: str, seconds: float) -> Lease | None:
        """Take ``stream``'s lease for ``seconds``, with a new epoch; None while
        another node holds it unexpired."""

        async def work(conn: Connection) -> Lease | None:
            row = await conn.fetchrow(_ACQUIRE, stream, node, seconds)
            return None if row is None else Lease(**dict(row))

        return await self.database.run(work, write=True)

    async def renew(self, lease: Lease, seconds: float) -> Lease | None:
        """The lease pushed on by ``seconds`` from now; None if it was lost
        (another node took it: stop acting for the stream at once)."""

        async def work(conn: Connection) -> Lease | None:
            row = await conn.fetchrow(_RENEW, lease.stream, lease.owner, lease.epoch, seconds)
            return None if row is None else Lease(**dict(row))

        return await self.database.run(work, write=True)

    async def release(self, lease: Lease) -> None:
        """Let the lease go now, so another node may take it without waiting."""
        await self.database.write([(_RELEASE, (lease.stream, lease.owner, lease.epoch))])

    async def orphans(self, prefix: str, limit: int = 100) -> list[str]:
        """Streams (of ids starting with ``prefix``) whose owner let its lease
        run out without releasing it: it died, or is cut off."""
        rows = await self.database.fetch(_ORPHANS, prefix.replace("%", r"\%") + "%", limit)
        return [row["stream"] for row in rows]

    async def holder(self, stream: str) -> Lease | None:
        """Who holds ``stream``'s lease now; None if nobody does (never taken, or
        expired)."""
        rows = await self.database.fetch(_HOLDER, stream)
        if not rows or not rows[0].pop("live"):
            return None
        return Lease(**rows[0])
