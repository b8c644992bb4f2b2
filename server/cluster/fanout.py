"""Fan-out between nodes: the owner of an organization publishes each commit's
events once to NATS; every other node that has asked for the organization
follows it, applying the events to its own copy of the state and delivering
them to its own subscribers.

* **The owner** (:meth:`Fanout.observe`, a registry observer) queues each
  commit's new events; one task publishes them on
  ``switchboard.org.<slug>.commits`` as ``{"events": [...]}``. Publishing
  never blocks the actor: the queue is bounded (``QUEUE``), and a commit that
  does not fit, or that NATS refuses (this node is cut off from it), is
  dropped and logged. Followers notice the gap at the next commit; and so
  that they need not wait for one, once NATS takes messages again the owner
  publishes ``{"events": [], "version": N}`` for each organization it
  dropped a commit of (looked for every ``RETELL_SECONDS``): its log goes to
  ``N`` at least.
* **A follower** (:meth:`Fanout.follow`, the registry's ``follow``) subscribes
  first, then loads the organization from PostgreSQL, then applies each
  commit's events past its version to a fork of the state and publishes them
  through the handle, as the owner's handle does (so its subscribers get the
  same frames, its REST reads and documents the same state). A commit that
  does not start right after its version (a message lost: NATS core is at
  most once), a version past its own, a subscription that overflowed, or a
  reconnection of its bus (seen at the next message or within
  ``Limits.lease_renew_seconds``, message or not) makes it read what it
  missed from the event log instead: never a gap, never a duplicate.
* It follows while someone is subscribed to the organization on this node or
  asked for it lately (``Limits.actor_idle_seconds``), or while it has
  monitors (every node gives the probes connected to it their monitors, see
  :mod:`.monitors`), and while the owner's lease lasts: checked every
  ``Limits.lease_renew_seconds``. When nobody
  holds the lease any more (the owner died and its lease ran out), following
  ends and the registry takes the organization over on this node, behind the
  same handle, so its subscribers stay subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
import trio

from ..actors.org import OrgHandle, load_org
from ..actors.ownership import Ownership
from ..actors.registry import Registry
from ..domain.events import Event, apply
from ..domain.model import OrgState
from ..store import Store, StoreError
from .bus import Bus, BusError, SlowConsumer

log = logging.getLogger(__name__)

QUEUE = 4096  # commits waiting to be published
RETELL_SECONDS = 1.0  # how often dropped commits are looked for (see the module's doc)


def subject(slug: str) -> str:
    """Where an organization's commits are published."""
    return f"switchboard.org.{slug}.commits"


class Fanout:
    def __init__(self, bus: Bus, store: Store, ownership: Ownership) -> None:
        self.bus = bus
        self.store = store
        self.ownership = ownership
        self._send, self._queue = trio.open_memory_channel[tuple[str, bytes]](QUEUE)
        self._published: dict[str, int] = {}  # the last version published, per organization
        self._dropped: set[str] = set()  # organizations a commit of which was not published

    # -- the owner's side ----------------------------------------------------------

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """A registry observer: queue the commit's new events (called in the
        actor's task; never blocks)."""
        last = self._published.get(slug)
        self._published[slug] = state.version
        if last is None or last >= state.version:
            return  # a load: followers read the log themselves
        new = [e.to_dict() for e in events if e.version > last]
        if not new:
            return
        try:
            self._send.send_nowait((slug, orjson.dumps({"events": new})))
        except trio.WouldBlock:
            self._dropped.add(slug)
            log.warning("%s: commit not published (the queue is full); followers re-read", slug)

    async def run(
        self, registry: Registry, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Be ``registry``'s observer and follower while running, and publish
        what :meth:`observe` queued, in order."""
        registry.observers.append(self.observe)
        registry.follow = self.follow
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._retell)
                task_status.started()
                async for slug, payload in self._queue:
                    try:
                        await self.bus.publish(subject(slug), payload)
                    except BusError as exc:
                        self._dropped.add(slug)
                        log.warning("%s: commit not published (%s); followers re-read", slug, exc)
        finally:
            registry.observers.remove(self.observe)
            registry.follow = None

    async def _retell(self) -> None:
        """Once NATS takes messages again, queue for each organization a commit
        of which was dropped the version its log goes to, for its followers."""
        while True:
            await trio.sleep(RETELL_SECONDS)
            while self._dropped and self.bus.connected:
                slug = self._dropped.pop()
                version = self._published.get(slug)
                if version is None:
                    continue  # followed now, not run here
                try:
                    self._send.send_nowait((slug, orjson.dumps({"events": [], "version": version})))
                except trio.WouldBlock:
                    self._dropped.add(slug)
                    break

    # -- a follower's side -----------------------------------------------------------

    async def follow(self, handle: OrgHandle) -> None:
        """Mirror ``handle``'s organization until nobody runs it (then return,
        for the registry to take it over) or it is idle here (then stop it)."""
        limits = handle.limits
        self._published.pop(handle.slug, None)  # if this node owned it before
        async with await self.bus.subscribe(subject(handle.slug)) as sub:
            loaded = await load_org(handle, self.store)
            if loaded is None:
                handle.stopping = True
                return
            handle.ready.set()
            epoch = self.bus.epoch
            last_asked = trio.current_time()
            while not handle.stopping:  # (the registry shutting down)
                message = None
                handle.look_now = trio.move_on_after(limits.lease_renew_seconds)
                with handle.look_now:
                    try:
                        message = await sub.receive()
                    except SlowConsumer:
                        await self._catch_up(handle)
                        continue
                if self.bus.epoch != epoch:  # reconnected: commits may have been missed
                    epoch = self.bus.epoch
                    await self._catch_up(handle)
                if message is not None:
                    commit = orjson.loads(message.data)
                    events = [Event.from_dict(e) for e in commit["events"]]
                    applied = self._apply(handle, events)
                    if not applied or commit.get("version", 0) > handle.state.version:
                        await self._catch_up(handle)
                    continue
                if handle.subscriber_count() or handle.state.monitors:
                    last_asked = trio.current_time()  # (every node hands monitors to probes)
                elif trio.current_time() - last_asked > limits.actor_idle_seconds:
                    handle.stopping = True
                    return
                if not await self._owned(handle):
                    return

    def _apply(self, handle: OrgHandle, events: Sequence[Event]) -> bool:
        """Apply the events past the handle's version; False if some before
        them are missing."""
        state = handle.state
        new = [e for e in events if e.version > state.version]
        if not new:
            return True
        if new[0].version != state.version + 1:
            return False
        fork = state.fork()
        for event in new:
            apply(fork, event)
        handle.publish(fork, new)
        return True

    async def _catch_up(self, handle: OrgHandle) -> None:
        """Read what the handle missed from the event log (a failure is logged:
        the next commit, or the next look at the lease, tries again)."""
        while True:
            try:
                missed = await self.store.events_after(handle.stream, handle.state.version)
            except StoreError as exc:
                log.warning("%s: cannot catch up now (%s)", handle.stream, exc)
                return
            if not missed:
                return
            self._apply(handle, missed)

    async def _owned(self, handle: OrgHandle) -> bool:
        """Whether another node still holds the lease (a failed look: yes)."""
        try:
            holder = await self.ownership.leases.holder(handle.stream)
        except StoreError:
            return True
        if holder is not None and holder.owner != handle.owner:
            handle.owner = holder.owner
            handle.owner_changed()
        return holder is not None and holder.owner != self.ownership.node
