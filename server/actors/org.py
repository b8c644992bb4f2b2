"""The organization actor: one trio task owns an organization's state.

Commands arrive in one bounded inbox. The actor takes what is waiting (up to a
batch), decides each command against the domain rules, appends all the
resulting events to PostgreSQL in one statement (group commit), and only then
publishes them and answers the callers. What a subscriber has seen is never
lost.

:class:`OrgHandle` is the actor's address. It outlives any one run of the
actor (a crashed actor is restarted behind the same handle) and holds what
others may touch: the inbox's send side, the topics, and ``committed``, the
last committed state. A committed state is never changed again (every command
works on a fork), so REST reads and topic snapshots read it directly, without
a trip through the inbox, and always see a state that is durable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ..clock import Clock
from ..config import Limits
from ..domain import commands as c
from ..domain.audit import details
from ..domain.events import Event, apply, member_data, public_data, verdict_changes
from ..domain.model import Org, OrgState, iso, parse_iso
from ..domain.rules import decide
from ..domain.schema import MISSING
from ..domain.statuspage import render
from ..domain.views import member_snapshot, public_snapshot
from ..errors import Conflict, DomainError, ValidationError
from ..protocol import frames
from ..protocol import messages as m
from ..store import AuditEntry, DomainTaken, Loaded, NewStream, Store, receipts
from ..store.eventlog import Archived, ReceiptRow, VerdictRow
from ..store.receipts import Kept, Receipt
from .base import BatchActor, Handle
from .connection import join_topic
from .mailbox import Do, Replay
from .topic import Topic

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)

SYSTEM_AUTHOR = "system"


def _event_frame(topic: str, seq: int, event: Event, data: Any) -> bytes:
    message = m.EventMessage(topic=topic, seq=seq, name=event.name, data=data, at=iso(event.at))
    return frames.text_frame(orjson.dumps(message))


_CACHE_MAX = 256  # documents and snapshots one organization keeps rendered

# Told of every committed state and its events (and of a state loaded, with
# the events replayed); called in the actor's task: must not block.
Observer = Callable[[str, OrgState, Sequence[Event]], None]


class OrgHandle(Handle[Do]):
    """An organization actor's address; see the module docstring."""

    kind = "org"

    def __init__(
        self,
        slug: str,
        limits: Limits,
        base_url: str,
        observers: Sequence[Observer] = (),
        mirrors: Sequence[Observer] = (),
    ) -> None:
        super().__init__(slug, limits)
        self.slug = slug
        self.base_url = base_url
        self.observers = observers  # told of the states it commits, on the node that runs it
        self.mirrors = mirrors  # told of the states it follows, on the other nodes
        self.committed: OrgState | None = None
        self._cache: dict[Any, bytes] = {}
        self._cache_version = -1

    def reject(self, request: Do, error: BaseException) -> None:
        if request.reply is not None:
            request.reply.reject(error)

    # -- state others may read ---------------------------------------------------

    @property
    def state(self) -> OrgState:
        assert self.committed is not None, "read before the first load"
        return self.committed

    def _cached(self, key: Any, build: Callable[[], bytes]) -> bytes:
        state = self.state
        if self._cache_version != state.version:
            self._cache.clear()
            self._cache_version = state.version
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = build()
        return data

    def document(self, name: str, page_url: str | None = None) -> bytes:
        """A Statuspage v2 document, rendered once per committed version (and
        ``page_url``: where its reader found the page, which its links name)."""
        if len(self._cache) > _CACHE_MAX:  # many hosts named: begin again
            self._cache.clear()
        return self._cached(
            (name, page_url),
            lambda: orjson.dumps(render(self.state, name, self.base_url, page_url)),
        )

    def snapshot(self, kind: str) -> bytes:
        """The JSON snapshot a subscriber of ``kind`` ("status" or "org") receives."""
        view = public_snapshot if kind == "status" else member_snapshot
        return self._cached(("snapshot", kind), lambda: orjson.dumps(view(self.state)))

    # -- subscribing ---------------------------------------------------------------

    def join(self, conn: Connection, kind: str, since: int | None, request_id: m.RequestId) -> None:
        """Subscribe ``conn`` to this organization's ``status`` or ``org`` topic."""
        join_topic(conn, self.topics[kind], since, request_id, lambda: self.snapshot(kind))

    # -- publishing (called by the actor) ------------------------------------------

    def publish(self, state: OrgState, events: Sequence[Event]) -> None:
        """Make ``state`` the committed one and deliver ``events``; no await inside."""
        self.committed = state
        org, status = self.topics["org"], self.topics["status"]
        members: list[tuple[int, bytes]] = []
        public: list[tuple[int, bytes]] = []
        for event in events:
            if event.version > org.seq:
                frame = _event_frame(org.name, event.version, event, member_data(event))
                members.append((event.version, frame))
            if event.public_seq is not None and event.public_seq > status.seq:
                frame = _event_frame(status.name, event.public_seq, event, public_data(event))
                public.append((event.public_seq, frame))
        org.publish(members)
        status.publish(public)
        # The owner's node tells its observers; a follower, its mirrors.
        for observe in self.mirrors if self.following else self.observers:
            observe(self.slug, state, events)

    def restore_topics(self, loaded: Loaded, state: OrgState) -> None:
        """After a (re)load: create the topics or publish what they missed."""
        if not self.topics:
            ring = self.limits.ring
            self.topics["org"] = Topic(f"org:{self.slug}", ring_size=ring)
            self.topics["status"] = Topic(f"status:{self.slug}", ring_size=ring)
            # Fill the rings with recent history, so `since` works across restarts.
            recent = loaded.events[-ring:]
            first_public = next((e.public_seq for e in recent if e.public_seq is not None), None)
            self.topics["org"].seq = recent[0].version - 1 if recent else state.version
            self.topics["status"].seq = (
                first_public - 1 if first_public is not None else state.public_seq
            )
        self.publish(state, loaded.events)


class OrgActor(BatchActor[Do]):
    """One run of an organization's actor; the registry makes a new one per restart."""

    def __init__(
        self,
        handle: OrgHandle,
        state: OrgState,
        store: Store,
        clock: Clock,
        new_id: Callable[[], str],
        snapshot_version: int,
        regions: Callable[[], frozenset[str] | None] = lambda: None,
    ) -> None:
        super().__init__(handle, store, clock, snapshot_version)
        self.org = handle
        self.state = state
        self.new_id = new_id
        self.regions = regions  # the regions probes report from (Context.regions)
        self.receipts: dict[tuple[str, str], ReceiptRow | Kept] = {}  # recent, oldest first
        self.keep_resolved = timedelta(days=handle.limits.incident_memory_days)

    @classmethod
    async def load(
        cls,
        handle: OrgHandle,
        store: Store,
        clock: Clock,
        new_id: Callable[[], str],
        regions: Callable[[], frozenset[str] | None] = lambda: None,
    ) -> OrgActor | None:
        """Rebuild from the latest snapshot plus the events after it; None if no such org."""
        loaded = await load_org(handle, store)
        if loaded is None:
            return None
        state, snapshot_version = loaded
        return cls(handle, state, store, clock, new_id, snapshot_version, regions)

    def keeps_running(self) -> bool:
        """Among several nodes, an organization with monitors stays with its
        node: their checks run where it runs, and must not stop with it."""
        return self.org.epoch is not None and bool(self.state.monitors)

    # -- BatchActor ------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.state.version

    def snapshot_state(self) -> Any:
        return self.state.to_dict()

    def next_due(self) -> datetime | None:
        return self.state.next_due(self.keep_resolved)

    def timer_message(self) -> Do:
        return Do(c.Tick(), SYSTEM_AUTHOR, None)

    async def commit(self, batch: list[Do]) -> None:
        state = self.state
        events: list[Event] = []
        outcomes: list[tuple[Do, Any, bool]] = []
        audit: list[AuditEntry] = []
        now = self.clock.now()
        held = await self._receipts_of(batch, now)
        made: dict[tuple[str, str], ReceiptRow] = {}  # this batch's receipts
        regions = self.regions()
        for request in batch:
            receipt = request.receipt
            if receipt is not None:
                seen = held.get((receipt.scope, receipt.key))
                if seen is not None:
                    outcomes.append(_replay(request, receipt, seen))
                    continue
            ctx = c.Context(
                now=self.clock.now(),
                author=request.author,
                new_id=self.new_id,
                keep_resolved=self.keep_resolved,
                regions=regions,
            )
            try:
                decision = decide(state, request.command, ctx)
            except DomainError as exc:
                outcomes.append((request, exc, False))
                continue
            if request.origin is not None and decision.events:
                audit.append(self._audit(request, state, decision.result, ctx.now))
            state = decision.state
            events.extend(decision.events)
            outcomes.append((request, decision.result, True))
            if receipt is not None and decision.events:
                row = ReceiptRow(
                    receipt.scope, receipt.key, self.org.slug, receipt.fingerprint,
                    decision.result, ctx.now,
                )  # fmt: skip
                made[(receipt.scope, receipt.key)] = held[(receipt.scope, receipt.key)] = row
        if events:
            self.committing = True
            domains = () if state.deleted else state.org.domains
            started = time.perf_counter()
            try:
                await self._append(state, events, audit, made, domains)
            except DomainTaken as exc:
                # Another organization claimed the name since the preflight
                # looked: the changes that claim it are refused, the rest
                # decided again (nothing of the batch was written).
                await self._without_claims(batch, outcomes, exc.host)
                return
            took = time.perf_counter() - started
            self.state = state
            self.org.publish(state, events)
            self.org.stats.committed(took, len(events))
            self._remember(made)
        for request, value, ok in outcomes:
            if request.reply is None:
                continue
            if ok:
                request.reply.resolve(value)
            else:
                request.reply.reject(value)

    async def _without_claims(
        self, batch: list[Do], outcomes: list[tuple[Do, Any, bool]], host: str
    ) -> None:
        claims = {
            id(request)
            for request, _, ok in outcomes
            if ok
            and isinstance(request.command, c.UpdateOrg)
            and request.command.domains is not MISSING
        }
        taken = Conflict(f"{host} is claimed by another organization", field="domains")
        for request in batch:
            if id(request) in claims:
                self.org.reject(request, taken)
        self.inflight = [r for r in batch if id(r) not in claims]
        self.committing = False
        await self.commit(self.inflight)

    async def _append(
        self,
        state: OrgState,
        events: list[Event],
        audit: list[AuditEntry],
        made: dict[tuple[str, str], ReceiptRow],
        domains: tuple[str, ...],
    ) -> None:
        await self.store.append(
            self.org.stream,
            self.state.version,
            events,
            wake_at=state.next_due(self.keep_resolved),
            create=_rooms_created(events, self.org.slug),
            audit=audit,
            listed=state.org.listed and not state.deleted,
            receipts=list(made.values()),
            archived=[
                Archived(e.data["id"], e.version, parse_iso(e.data["incident"]["started_at"]))
                for e in events
                if e.name == "incident.archived"
            ],
            verdicts=[
                VerdictRow(monitor, e.version, e.at, verdict)
                for monitor, e, verdict in verdict_changes(self.state, events)
            ],
            epoch=self.org.epoch,
            domains=None if domains == self.state.org.domains else domains,
        )

    async def _receipts_of(
        self, batch: list[Do], now: datetime
    ) -> dict[tuple[str, str], ReceiptRow | Kept]:
        """The receipts already held for the batch's keys: this run's, else the
        store's (within the window). One read, and only for keyed commands."""
        keys = [(r.receipt.scope, r.receipt.key) for r in batch if r.receipt is not None]
        if not keys:
            return {}
        found: dict[tuple[str, str], ReceiptRow | Kept] = {
            k: self.receipts[k] for k in keys if k in self.receipts
        }
        missing = [k for k in keys if k not in found]
        if missing:
            since = now - timedelta(hours=self.org.limits.idempotency_hours)
            found.update(await receipts.find(self.store, missing, since))
        return found

    def _remember(self, made: dict[tuple[str, str], ReceiptRow]) -> None:
        self.receipts.update(made)
        while len(self.receipts) > RECEIPTS_KEPT:
            self.receipts.pop(next(iter(self.receipts)))

    def _audit(self, request: Do, before: OrgState, result: Any, at: datetime) -> AuditEntry:
        command = request.command
        name = c.COMMAND_NAMES.get(type(command), type(command).__name__)
        target: str | None = result.get("id") if isinstance(result, dict) else None
        for ref in ("service", "incident", "maintenance"):
            target = target or getattr(command, ref, None)
        assert request.origin is not None
        return request.origin.entry(self.org.slug, name, target, details(before, command), at)


RECEIPTS_KEPT = 4096  # recent receipts an actor keeps in memory (the rest are read back)


def _replay(request: Do, receipt: Receipt, seen: ReceiptRow | Kept) -> tuple[Do, Any, bool]:
    """What a command whose key was seen gets: its first answer, or a refusal
    when the key was first used for another request."""
    if seen.fingerprint != receipt.fingerprint:
        return (
            request,
            ValidationError(
                "this idempotency key was used for another request; use a new key",
                field="idempotency_key",
            ),
            False,
        )
    return request, Replay(seen.answer), True


async def load_org(handle: OrgHandle, store: Store) -> tuple[OrgState, int] | None:
    """The organization's state from its latest snapshot plus the events after
    it, made the handle's committed one (its topics get what they missed), with
    the snapshot's version; None if there is no such organization."""
    since = handle.topics["org"].seq if handle.topics else None
    loaded = await store.load(handle.stream, since=since, history=handle.limits.ring)
    if loaded is None:
        return None
    state = None if loaded.snapshot is None else OrgState.from_dict(loaded.snapshot)
    for event in loaded.events:
        if event.version <= loaded.snapshot_version:
            continue
        if state is None:
            state = _genesis(event)
        apply(state, event)
    if state is None:
        raise ValueError(f"{handle.stream} has neither a snapshot nor events")  # corrupt
    handle.restore_topics(loaded, state)
    return state, loaded.snapshot_version


def _genesis(event: Event) -> OrgState:
    """The empty state the first event (org.created) applies to."""
    if event.name != "org.created":
        raise ValueError(f"a stream must start with org.created, not {event.name}")
    return OrgState(org=Org.from_dict(event.data["org"]))


def _rooms_created(events: Sequence[Event], org: str) -> list[NewStream]:
    """Each new incident's notes room, created in the same transaction as the incident."""
    rooms = []
    for event in events:
        if event.name == "incident.created":
            incident = event.data["incident"]
            room_id = incident["notes_room"]
            meta = {
                "id": room_id,
                "org": org,
                "title": f"Notes: {incident['name']}",
                "incident": incident["id"],
                "created_at": iso(event.at),
                "created_by": event.author,
            }
            rooms.append(
                NewStream(
                    f"room:{room_id}",
                    "room",
                    [Event(1, None, "room.created", {"room": meta}, event.at, event.author)],
                )
            )
    return rooms
