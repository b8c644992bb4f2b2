"""Identity across nodes: each node keeps the directory (users, memberships,
logins, API tokens) in memory, so a change written by one node is announced
on the bus and every other node reads the directory again, closing the
connections whose credentials ended or whose roles changed, as the node that
made the change does for its own.

A node that was away from NATS (its bus reconnected) may have missed an
announcement, and reads the directory again too; a node that could not
announce its change (it was away itself) announces it once NATS is back
(tried every ``EPOCH_LOOK_SECONDS``). Between a change and the other nodes'
reload there is the bus's delay and one read of the database (bounded by
``Limits.database_seconds``); a reload that fails is tried again a second
later.
"""

from __future__ import annotations

import logging

import trio

from ..identity.directory import Directory
from ..store import StoreError
from .bus import Bus, BusError

log = logging.getLogger(__name__)

SUBJECT = "switchboard.identity.changed"
EPOCH_LOOK_SECONDS = 1.0  # how often a reconnection of the bus is looked for


class IdentitySync:
    def __init__(self, bus: Bus, directory: Directory, node: str) -> None:
        self.bus = bus
        self.directory = directory
        self.node = node.encode()
        self._tell = trio.Event()  # a change here: announce it
        self._stale = trio.Event()  # a change elsewhere: reload

    def changed(self) -> None:
        """The directory wrote a change (its ``changed``)."""
        self._tell.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery, await self.bus.subscribe(SUBJECT) as sub:
            self.directory.changed = self.changed
            nursery.start_soon(self._announce)
            nursery.start_soon(self._reload)
            task_status.started()
            async for message in sub:
                if message.data != self.node:
                    self._stale.set()

    async def _announce(self) -> None:
        held = False  # an announcement failed, and is tried again
        while True:
            await self._tell.wait()
            self._tell = trio.Event()
            try:
                await self.bus.publish(SUBJECT, self.node)
            except BusError as exc:  # announced again once NATS is back
                if not held:
                    log.warning("a change of identities is not announced yet: %s", exc)
                held = True
                self._tell.set()
                await trio.sleep(EPOCH_LOOK_SECONDS)
            else:
                held = False

    async def _reload(self) -> None:
        epoch = self.bus.epoch
        while True:
            with trio.move_on_after(EPOCH_LOOK_SECONDS):
                await self._stale.wait()
            if not self._stale.is_set() and self.bus.epoch == epoch:
                continue
            self._stale, epoch = trio.Event(), self.bus.epoch
            try:
                await self.directory.reload()
            except StoreError as exc:
                log.warning("identities not read again yet: %s", exc)
                self._stale.set()
                await trio.sleep(1.0)
