"""Which node runs which actor, when several nodes share one database.

A node started with a node id runs an organization's or a room's actor only
while it holds the stream's lease (:mod:`server.store.leases`): it takes the
lease before loading the actor, renews it every ``lease_renew_seconds`` while
the actor runs, and lets it go when the actor stops. Every append the actor
makes carries the lease's epoch, so once another node has taken the lease
(this one paused, or lost the database for longer than the lease) nothing
more this actor writes can commit: its next append is refused, its callers
are told ``unavailable`` (nothing was changed), and it stops rather than
restarting.

A stream whose lease another node holds is :class:`Elsewhere`: an
``unavailable`` that names the owner, which a router forwards to.

Without a node id (one process alone, the default) there are no leases and
no fencing, and nothing here runs.
"""

from __future__ import annotations

import logging

import trio

from ..errors import Unavailable
from ..store import Lease, Leases, StoreError

log = logging.getLogger(__name__)


class Elsewhere(Unavailable):
    """Another node runs this actor now."""

    def __init__(self, stream: str, owner: str | None) -> None:
        kind, _, key = stream.partition(":")
        where = f"node {owner!r}" if owner else "another node"
        super().__init__(f"{kind} {key!r} is run by {where} for now; try again")
        self.stream = stream
        self.owner = owner


class Ownership:
    """This node's side of the leases."""

    def __init__(self, leases: Leases, node: str, *, seconds: float, renew: float) -> None:
        if not 0 < renew < seconds:
            raise ValueError("leases must be renewed more often than they last")
        self.leases = leases
        self.node = node
        self.seconds = seconds
        self.renew_seconds = renew

    async def take(self, stream: str) -> Lease:
        """The stream's lease, with a new epoch; Elsewhere while another node
        holds it."""
        lease = await self.leases.acquire(stream, self.node, self.seconds)
        if lease is not None:
            return lease
        holder = await self.leases.holder(stream)
        raise Elsewhere(stream, holder.owner if holder else None)

    async def keep(self, lease: Lease) -> Lease | None:
        """Renew ``lease`` until another node takes it (then return None) or
        the caller cancels. A renewal the database does not answer is tried
        again at the next period; the lease may lapse meanwhile, and fencing
        keeps that safe."""
        while True:
            await trio.sleep(self.renew_seconds)
            try:
                renewed = await self.leases.renew(lease, self.seconds)
            except StoreError as exc:
                log.warning("%s: lease not renewed (%s); trying again", lease.stream, exc)
                continue
            if renewed is None:
                log.warning("%s: lease taken by another node; stopping here", lease.stream)
                return None
            lease = renewed

    async def release(self, lease: Lease) -> None:
        """Let the lease go at once (the actor stopped): another node may take it."""
        try:
            await self.leases.release(lease)
        except StoreError as exc:  # it will expire on its own
            log.warning("%s: lease not released (%s)", lease.stream, exc)
