"""Finds actors (organizations, rooms), starting them on demand under one supervisor nursery.

* :meth:`Registry.org` and :meth:`Registry.room` return a running actor's
  handle, loading it from the latest snapshot plus the event tail on first use.
* An actor that crashes is rebuilt from the store behind the same handle: its
  inbox, topics and subscribers carry over, the requests it was holding are
  answered ``unavailable``, and nothing acknowledged is lost (it was durable
  before it was acknowledged).
* An actor with no subscribers, no timers and nothing to do for a while takes
  a final snapshot and stops; the next request starts a new one.
* At start-up, actors with a timer pending (a maintenance to start or end)
  are started at once, so timers fire even if nobody visits.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import trio

from ..auth import Origin
from ..clock import Clock
from ..config import Limits
from ..domain import commands as c
from ..domain import rules
from ..domain.events import Event
from ..domain.hosts import check_domains
from ..domain.model import to_millisecond
from ..domain.room import RoomMeta
from ..domain.schema import MISSING
from ..errors import Conflict, NotFound, OutcomeUnknown, Unavailable
from ..ids import new_id
from ..store import (
    AuditEntry,
    ConcurrencyError,
    Lease,
    QuotaExceeded,
    Store,
    StoreError,
    StoreUnavailable,
    StreamExists,
)
from ..store.receipts import Receipt
from .base import ActorStats, BatchActor, Handle
from .mailbox import Do, Future, Reply
from .org import Observer, OrgActor, OrgHandle
from .ownership import Elsewhere, Ownership
from .room import RoomActor, RoomDoor, RoomHandle, room_deleted_frame

log = logging.getLogger(__name__)

RESTART_BACKOFF = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0)  # seconds, then 5 s each time
FOLLOW_RETRY_SECONDS = 1.0  # after following an organization failed, before looking again


class Forward(Protocol):
    """Sends a command to the node that runs its organization (``owner``);
    ``reply`` gets that node's answer."""

    def __call__(
        self,
        owner: str,
        slug: str,
        command: Any,
        author: str | None,
        reply: Reply,
        origin: Origin | None,
        receipt: Receipt | None,
        *,
        again: bool = True,
    ) -> None: ...


class RoomsElsewhere(Protocol):
    """Reaches rooms that another node runs (``cluster.rooms``)."""

    async def reach(self, room_id: str, owner: str | None) -> RoomDoor:
        """A door to the room ``owner`` runs."""

    async def delete(self, room_id: str, owner: str | None, origin: Origin | None) -> None:
        """Have ``owner`` delete the room."""


class Registry:
    def __init__(
        self,
        store: Store,
        limits: Limits,
        base_url: str,
        *,
        clock: Clock | None = None,
        id_factory: Callable[[], str] = new_id,
        ownership: Ownership | None = None,
    ) -> None:
        self.store = store
        self.ownership = ownership  # None: this process alone, no leases
        self.limits = limits
        self.base_url = base_url
        self.clock = clock or Clock()
        self.new_id = id_factory
        self._handles: dict[str, Handle[Any]] = {}  # by stream id
        self._deleting: set[str] = set()  # streams being deleted: no actor may start
        self.observers: list[Observer] = []  # see OrgHandle.publish
        # Told of each state a follower applies (an organization another node
        # runs), as observers are of the states this node commits.
        self.mirrors: list[Observer] = []
        # Told the audit rows of rooms made and deleted (server/actors/notes.py).
        self.noted: Callable[[Sequence[AuditEntry]], None] = lambda entries: None
        # Checks a command needs that take I/O (a monitor's target resolved against
        # the network rule), run before it is queued, by every door alike.
        self.preflight: Callable[[Any], Awaitable[None]] | None = None
        # The regions probes report from (the monitoring service's), for the
        # rules that check a monitor's quorum can be met; None: not known.
        self.regions: Callable[[], frozenset[str]] | None = None
        self._nursery: trio.Nursery | None = None
        self.crashes = 0
        # The figures of actors that have stopped, by kind: counted on (see actor_stats).
        self._retired: dict[str, ActorStats] = {}
        # Sends a command for an organization another node runs to that node
        # (cluster.router); None: this node alone, or no bus.
        self.forward: Forward | None = None
        # Mirrors an organization another node runs, from its commits, until
        # nobody runs it any more (cluster.fanout); None: no following.
        self.follow: Callable[[OrgHandle], Awaitable[None]] | None = None
        # Reaches the rooms other nodes run (cluster.rooms); None: this node alone.
        self.elsewhere: RoomsElsewhere | None = None
        # Told the slug of an organization this node stops running or following,
        # among several nodes (the monitoring lets its monitors go).
        self.lost: list[Callable[[str], None]] = []
        self._shutting_down = False

    # -- lifecycle -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The supervisor: every actor runs in this task's nursery."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for stream, _ in await self.store.wakeups("org"):
                self._start(self._org_handle(stream.removeprefix("org:")))
            if self.ownership is not None:
                nursery.start_soon(self._adopt, self.ownership)
            task_status.started()
            await trio.sleep_forever()

    async def shutdown(self) -> None:
        """Stop taking commands, let every actor finish its inbox and snapshot.

        Callers bound the wait (``trio.move_on_after``): an actor stuck on the
        database must not hold the process forever.
        """
        self._shutting_down = True
        handles = list(self._handles.values())
        for handle in handles:
            handle.stopping = True
            handle.inbox.close()
        for handle in handles:
            await handle.stopped.wait()

    def running(self) -> list[Handle[Any]]:
        return list(self._handles.values())

    def actor_stats(self) -> dict[str, ActorStats]:
        """Every actor's figures since the start, by kind (``org``, ``room``):
        those running now and those that have stopped, so that they only grow."""
        totals = {"org": ActorStats(), "room": ActorStats()}
        for kind, retired in self._retired.items():
            totals.setdefault(kind, ActorStats()).add(retired)
        for handle in self._handles.values():
            totals.setdefault(handle.kind, ActorStats()).add(handle.stats)
        return totals

    # -- finding actors ----------------------------------------------------------

    async def org(self, slug: str) -> OrgHandle:
        """The handle of a live, loaded organization; NotFound if there is none."""
        handle = await self._get(f"org:{slug}", lambda: self._org_handle(slug))
        assert isinstance(handle, OrgHandle)
        if handle.state.deleted:
            raise NotFound(f"organization {slug!r} was deleted", field="org")
        return handle

    def loaded(self, stream: str) -> Handle[Any] | None:
        """The handle of ``stream`` when :meth:`org` or :meth:`room` would
        give it at once (loaded, not stopping, not being deleted); else None."""
        handle = self._handles.get(stream)
        if (
            handle is None
            or handle.stopping
            or handle.load_error is not None
            or not handle.ready.is_set()
            or stream in self._deleting
        ):
            return None
        return handle

    def _org_handle(self, slug: str) -> OrgHandle:
        return OrgHandle(slug, self.limits, self.base_url, self.observers, self.mirrors)

    async def locate(self, slug: str) -> tuple[OrgHandle | None, str | None]:
        """Where ``slug`` runs: ``(handle, None)`` when this node runs it (it
        takes the organization's lease first if nobody holds it), ``(handle or
        None, node)`` when another node does. Elsewhere when another node holds
        it and which is not known; NotFound when there is no such organization."""
        try:
            handle = await self.org(slug)
        except Elsewhere as exc:
            if exc.owner is None:
                raise
            return None, exc.owner
        return handle, handle.owner if handle.following else None

    async def room(self, room_id: str) -> RoomHandle:
        """The handle of a live, loaded room; NotFound if there is none."""
        handle = await self._get(f"room:{room_id}", lambda: RoomHandle(room_id, self.limits))
        assert isinstance(handle, RoomHandle)
        return handle

    async def reach_room(self, room_id: str) -> RoomDoor:
        """The room, wherever it runs: its handle when this node runs it (or
        may start it), else, among several nodes, a door to the node that does."""
        try:
            return await self.room(room_id)
        except Elsewhere as exc:
            if self.elsewhere is None:
                raise
            return await self.elsewhere.reach(room_id, exc.owner)

    def loaded_room(self, room_id: str) -> RoomHandle | None:
        """The room's handle if its actor is running now (without starting it)."""
        handle = self._handles.get(f"room:{room_id}")
        return handle if isinstance(handle, RoomHandle) else None

    def loaded_org(self, slug: str) -> OrgHandle | None:
        """The organization's handle if it is loaded now (without starting it)."""
        handle = self._handles.get(f"org:{slug}")
        if isinstance(handle, OrgHandle) and handle.committed is not None:
            return handle
        return None

    async def _get(self, stream: str, make: Callable[[], Handle[Any]]) -> Handle[Any]:
        while True:
            if stream in self._deleting:
                kind, _, key = stream.partition(":")
                raise NotFound(f"no {kind} {key!r}", field=kind)
            handle = self._handles.get(stream)
            if handle is None:
                handle = self._start(make())
            elif handle.stopping:
                await handle.stopped.wait()
                continue
            await handle.ready.wait()
            if isinstance(handle.load_error, Elsewhere):
                raise Elsewhere(handle.stream, handle.load_error.owner)
            if isinstance(handle.load_error, NotFound):
                raise NotFound(f"no {handle.kind} {handle.key!r}", field=handle.kind)
            if handle.load_error is not None:
                raise Unavailable(f"{handle.kind} {handle.key!r} cannot be loaded now; try again")
            return handle

    def _start(self, handle: Handle[Any]) -> Handle[Any]:
        assert self._nursery is not None, "Registry.run is not running"
        self._handles[handle.stream] = handle
        self._nursery.start_soon(self._supervise, handle, name=f"actor {handle.stream}")
        return handle

    async def _load(self, handle: Handle[Any]) -> BatchActor[Any] | None:
        if isinstance(handle, OrgHandle):
            return await OrgActor.load(
                handle, self.store, self.clock, self.new_id, self.known_regions
            )
        assert isinstance(handle, RoomHandle)
        return await RoomActor.load(handle, self.store, self.clock)

    def known_regions(self) -> frozenset[str] | None:
        """The regions probes report from, if a provider says (see ``regions``)."""
        return None if self.regions is None else self.regions()

    async def _supervise(self, handle: Handle[Any]) -> None:
        crashes = 0
        follow_failed = False  # the last try at following failed (told once in the log)
        lease: Lease | None = None
        try:
            while True:
                actor = None
                try:
                    if self.ownership is not None:
                        lease = await self.ownership.take(handle.stream)
                        handle.epoch = lease.epoch
                    actor = await self._load(handle)
                    if actor is None:
                        handle.load_error = NotFound(f"no {handle.kind} {handle.key!r}")
                        return
                    handle.ready.set()
                    await self._run(handle, actor, lease)
                    if self._may_follow(handle):
                        lease = None
                        continue  # deposed: follow the new owner behind the same handle
                    return
                except Elsewhere as exc:  # another node runs it: follow it, or not here
                    lease = None
                    if self.follow is None or not isinstance(handle, OrgHandle):
                        if not handle.ready.is_set():
                            handle.load_error = exc
                        return
                    follow_failed = await self._follow(handle, exc.owner, follow_failed)
                    if handle.stopping:
                        return
                    continue  # nobody runs it now (or following failed): look again
                except Exception as exc:  # any crash: restart from the store
                    if lease is not None and isinstance(exc, ConcurrencyError):
                        # Fenced, if another node took the lease: then stop, do not restart.
                        holder = await self._holder(handle.stream)
                        if holder is None or holder.epoch != lease.epoch:
                            handle.deposed = True
                            log.warning("%s: deposed by another node: %s", handle.stream, exc)
                    if handle.deposed:
                        lease = None
                        if actor is not None:
                            actor.fail_inflight(exc)
                        if self._may_follow(handle):
                            continue  # follow the new owner behind the same handle
                        return
                    if not handle.ready.is_set():
                        # Never loaded: tell the waiting callers, let the next one retry.
                        handle.load_error = exc
                        log.warning("%s: cannot load: %s", handle.stream, exc)
                        return
                    self.crashes += 1
                    handle.stats.restarts += 1
                    if actor is not None:
                        actor.fail_inflight(exc)
                    if isinstance(exc, StoreUnavailable):
                        log.warning("%s: database unavailable, restarting: %s", handle.stream, exc)
                    else:
                        log.exception("%s: actor crashed, restarting", handle.stream)
                    delay = RESTART_BACKOFF[min(crashes, len(RESTART_BACKOFF) - 1)]
                    crashes += 1
                    await trio.sleep(delay)
        finally:
            handle.stopping = True
            handle.inbox.close()
            if self.ownership is not None and isinstance(handle, OrgHandle):
                for lost in self.lost:
                    lost(handle.slug)
            if isinstance(handle, RoomHandle) and handle.deposed:
                handle.disband("the room moved to another node; subscribe again")
            if lease is not None and self.ownership is not None and not handle.deposed:
                with (
                    trio.CancelScope(shield=True),
                    trio.move_on_after(self.limits.database_seconds),
                ):
                    await self.ownership.release(lease)
            self._fail_waiting(handle)
            if self._handles.get(handle.stream) is handle:
                del self._handles[handle.stream]
            self._retired.setdefault(handle.kind, ActorStats()).add(handle.stats)
            handle.ready.set()
            handle.stopped.set()

    async def _follow(self, handle: OrgHandle, owner: str | None, failed_before: bool) -> bool:
        """Follow the organization ``owner`` runs, behind ``handle``, until
        nobody runs it; whether following failed.

        If it fails (NATS away, say), a handle not yet loaded stops, its
        callers told ``unavailable`` (the next request tries again); a loaded
        one keeps its subscribers and, a moment later, its caller looks again
        (commands meanwhile are forwarded, and refused while NATS is away)."""
        assert self.follow is not None
        handle.following, handle.owner = True, owner
        try:
            await self.follow(handle)  # sets ready once loaded
        except Exception as exc:
            if not handle.ready.is_set():
                handle.load_error = exc
                handle.stopping = True
                log.warning("%s: cannot follow node %s now: %s", handle.stream, owner, exc)
                return True
            if not isinstance(exc, Unavailable | StoreError):
                log.exception("%s: following node %s crashed", handle.stream, owner)
            elif not failed_before:
                log.warning(
                    "%s: cannot follow node %s now, trying again: %s", handle.stream, owner, exc
                )
            await trio.sleep(FOLLOW_RETRY_SECONDS)
            return True
        finally:
            handle.following = False
            handle.owner_changed()
        return False

    async def _adopt(self, ownership: Ownership) -> None:
        """Take over the organizations whose node died (their leases ran out
        unreleased), at once rather than on their next request: their timers
        and monitors must go on. Of nodes racing for one, one takes it; the
        others follow it."""
        while True:
            await trio.sleep(ownership.renew_seconds)
            try:
                orphans = await ownership.leases.orphans("org:")
            except StoreError as exc:
                log.warning("cannot look for organizations to adopt: %s", exc)
                continue
            for stream in orphans:
                try:
                    await self.org(stream.removeprefix("org:"))
                except (NotFound, Unavailable) as exc:
                    log.info("%s not adopted: %s", stream, exc)

    async def _run(self, handle: Handle[Any], actor: BatchActor[Any], lease: Lease | None) -> None:
        """Run the actor; with a lease, renew it meanwhile, and when another
        node takes it, close the inbox so that the actor stops after the batch
        in hand (whose append the fencing refuses)."""
        if lease is None or self.ownership is None:
            await actor.run()
            return
        ownership, keeper = self.ownership, trio.CancelScope()

        async def keep() -> None:
            with keeper:
                if await ownership.keep(lease) is None:
                    handle.deposed = handle.stopping = True
                    handle.inbox.close()

        assert self._nursery is not None
        self._nursery.start_soon(keep, name=f"lease {handle.stream}")
        try:
            await actor.run()
        finally:
            keeper.cancel()

    def _may_follow(self, handle: Handle[Any]) -> bool:
        """A deposed organization's handle goes on as a follower of its new
        owner, so that its subscribers here keep getting its events: its inbox
        is opened again for when it is this node's once more."""
        if not (handle.deposed and self.follow is not None and isinstance(handle, OrgHandle)):
            return False
        if self._shutting_down:
            return False
        self._fail_waiting(handle)
        handle.reopen()
        for lost in self.lost:
            lost(handle.slug)
        return True

    async def _holder(self, stream: str) -> Lease | None:
        """Who holds the stream's lease now (None: nobody, or not known)."""
        assert self.ownership is not None
        try:
            return await self.ownership.leases.holder(stream)
        except StoreUnavailable:
            return None

    @staticmethod
    def _fail_waiting(handle: Handle[Any]) -> None:
        """Answer whatever is still queued in a stopped actor's inbox."""
        while True:
            try:
                request = handle.inbox_receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            handle.reject(request, Unavailable(f"the {handle.kind}'s actor stopped; try again"))

    # -- commands ------------------------------------------------------------------

    async def submit(
        self,
        slug: str,
        command: Any,
        author: str | None,
        reply: Reply,
        origin: Origin | None = None,
        receipt: Receipt | None = None,
        *,
        forwarded: bool = False,
        again: bool = True,
    ) -> None:
        """Queue a command; ``reply`` is answered once it is durable (or refused).

        Raises what the preflight refuses (a DomainError) before queueing. An
        organization another node runs gets the command forwarded, unless it
        was ``forwarded`` here already (then: Elsewhere, ``unavailable``);
        ``again``: the router may submit it once more if the owner turns out
        to have let the organization go (see :meth:`recheck`)."""
        if self.preflight is not None:
            await self.preflight(command)
        if isinstance(command, c.UpdateOrg) and command.domains is not MISSING:
            await self._domains_free(slug, check_domains(command.domains))
        with trio.move_on_after(self.limits.database_seconds) as scope:
            while True:
                handle, owner = await self.locate(slug)
                if owner is not None:
                    if forwarded or self.forward is None:
                        raise Elsewhere(f"org:{slug}", owner)
                    self.forward(owner, slug, command, author, reply, origin, receipt, again=again)
                    return
                assert handle is not None
                try:
                    await handle.put(Do(command, author, reply, origin, receipt))
                    return
                except trio.ClosedResourceError:
                    continue  # it stopped meanwhile; the next lookup starts another
        if scope.cancelled_caught:
            reply.reject(Unavailable(f"organization {slug!r} is too busy; try again"))

    async def _domains_free(self, slug: str, hosts: tuple[str, ...]) -> None:
        """Conflict if one of ``hosts`` is this server's own name or another
        organization's (the store refuses a claim that races past this)."""
        own = urlsplit(self.base_url).hostname
        for host in hosts:
            if host == own:
                raise Conflict(
                    f"{host} is this server's own address (its public URL); claim another",
                    field="domains",
                )
        for host, stream in sorted((await self.store.domains(hosts)).items()):
            if stream != f"org:{slug}":
                raise Conflict(f"{host} is claimed by another organization", field="domains")

    async def recheck(self, slug: str, owner: str) -> bool:
        """``owner`` does not answer: whether it has let the organization go
        (a node stopping releases its leases; a dead one's run out). If so,
        this node's follower stops following it now rather than at its next
        look, and this returns once the organization is taken over (here or by
        another node), so that a command can be submitted again at once."""
        handle = self._handles.get(f"org:{slug}")
        if self.ownership is None or not isinstance(handle, OrgHandle):
            return False
        if not (handle.following and handle.owner == owner):
            return True  # it has moved already
        try:
            holder = await self.ownership.leases.holder(handle.stream)
        except StoreError:
            return False
        if holder is not None and holder.owner == owner:
            return False  # still its: it is away, not gone
        handle.look_now.cancel()
        with trio.move_on_after(self.limits.database_seconds):
            while handle.following and handle.owner == owner and not handle.stopping:
                await handle.moved.wait()
            return True
        return False

    async def execute(
        self,
        slug: str,
        command: Any,
        author: str | None,
        origin: Origin | None = None,
        receipt: Receipt | None = None,
        *,
        forwarded: bool = False,
    ) -> Any:
        """Run a command and wait for its result (raises DomainError, Unavailable,
        OutcomeUnknown); a :class:`Replay` when its idempotency key was seen."""
        future = Future()
        await self.submit(slug, command, author, future, origin, receipt, forwarded=forwarded)
        bound = self.limits.database_seconds
        with trio.move_on_after(bound):
            return await future.wait()
        raise OutcomeUnknown(
            f"organization {slug!r} did not answer within {bound:g} s: the change may or may"
            " not have been made; read it back, or retry with the same idempotency key"
        )

    async def create_org(
        self, command: c.CreateOrg, author: str | None, origin: Origin | None = None
    ) -> dict[str, Any]:
        ctx = c.Context(now=self.clock.now(), author=author, new_id=self.new_id)
        decision = rules.new_org(command, ctx)
        audit = (
            [origin.entry(command.slug, "org.create", command.slug, command, ctx.now)]
            if origin
            else []
        )
        try:
            await self.store.create_stream(
                f"org:{command.slug}", "org", decision.events, audit, listed=command.listed
            )
        except StreamExists:
            raise Conflict(f"organization {command.slug!r} already exists", field="slug") from None
        result: dict[str, Any] = decision.result
        return result

    async def create_room(
        self, org: str, title: str, author: str | None, origin: Origin | None = None
    ) -> dict[str, Any]:
        """A new ad-hoc room of ``org``; its id is short and hard to guess.

        An organization holds at most ``Limits.rooms_per_org`` of them (Conflict
        beyond: delete one first)."""
        await self.org(org)  # NotFound for an organization that does not exist
        now = to_millisecond(self.clock.now())
        meta = RoomMeta(secrets.token_urlsafe(12), org, title, None, now, author)
        created = Event(1, None, "room.created", {"room": meta.to_dict()}, now, author)
        audit = [origin.entry(org, "room.create", meta.id, {"title": title}, now)] if origin else []
        cap = self.limits.rooms_per_org
        try:
            await self.store.create_stream(
                f"room:{meta.id}", "room", [created], audit, org=org, cap=cap
            )
        except QuotaExceeded:
            raise Conflict(
                f"{org!r} has {cap} rooms, as many as it may; delete one first", field="org"
            ) from None
        self.noted(audit)
        return meta.to_dict()

    async def delete_room(
        self, room_id: str, origin: Origin | None = None, *, forwarded: bool = False
    ) -> None:
        """Delete an ad-hoc room and its whole log. Its subscribers are told
        (``room.deleted``); an incident's notes room stays with its incident.
        A room another node runs is deleted by that node (``forwarded``: this
        node was asked by another, and does not ask a third)."""
        stream = f"room:{room_id}"
        try:
            handle = await self.room(room_id)
        except Elsewhere as exc:
            if self.elsewhere is None or forwarded:
                raise
            await self.elsewhere.delete(room_id, exc.owner, origin)
            return
        assert handle.meta is not None
        if handle.meta.incident is not None:
            raise Conflict(
                f"room {room_id!r} holds the notes of incident {handle.meta.incident!r},"
                " and stays with it",
                field="room",
            )
        meta = handle.meta
        self._deleting.add(stream)  # no new actor for it meanwhile
        try:
            handle.stopping = True
            handle.inbox.close()
            with trio.move_on_after(self.limits.database_seconds):
                await handle.stopped.wait()
            if not handle.stopped.is_set():
                raise Unavailable(f"room {room_id!r} did not stop in time; try again")
            at = self.clock.now()
            details = {"title": meta.title}
            audit = [origin.entry(meta.org, "room.delete", room_id, details, at)] if origin else []
            await self.store.delete_stream(stream, audit)
            self.noted(audit)
        finally:
            self._deleting.discard(stream)
        topic = handle.topic
        topic.publish([(topic.seq + 1, room_deleted_frame(topic.name, topic.seq + 1, at))])

    async def listed(self, *, limit: int = 100) -> list[str]:
        """The organizations that chose to be named on the front page."""
        return [s.removeprefix("org:") for s in await self.store.listed("org", limit=limit)]

    async def slugs(self, *, after: str = "", limit: int = 100) -> list[str]:
        streams = await self.store.streams(
            "org", after=f"org:{after}" if after else "", limit=limit
        )
        return [s.removeprefix("org:") for s in streams]
