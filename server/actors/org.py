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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import trio

from ..clock import Clock
from ..config import Limits
from ..domain import commands as c
from ..domain.errors import DomainError
from ..domain.events import Event, apply, public_data
from ..domain.model import Org, OrgState, iso
from ..domain.rules import decide
from ..domain.statuspage import render
from ..domain.views import member_snapshot, public_snapshot
from ..protocol import frames
from ..protocol import messages as m
from ..store import Loaded, Store, StoreError
from .mailbox import Do, Future, Unavailable
from .topic import Topic

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)

SYSTEM_AUTHOR = "system"


def _event_frame(topic: str, seq: int, event: Event, data: Any) -> bytes:
    message = m.Event(topic=topic, seq=seq, name=event.name, data=data, at=iso(event.at))
    return frames.text_frame(orjson.dumps(message))


@dataclass(slots=True)
class ActorStats:
    commands: int = 0  # decided (accepted or refused)
    commits: int = 0  # appends to the log: one per batch with events
    events: int = 0
    restarts: int = 0


class OrgHandle:
    """An organization actor's address; see the module docstring."""

    def __init__(self, slug: str, limits: Limits, base_url: str) -> None:
        self.slug = slug
        self.stream = f"org:{slug}"
        self.base_url = base_url
        self.limits = limits
        self.inbox, self.inbox_receive = trio.open_memory_channel[Do](limits.inbox)
        self.topics: dict[str, Topic] = {}  # "status" and "org", created on first load
        self.committed: OrgState | None = None
        self.ready = trio.Event()  # set once the first load finished, well or not
        self.load_error: BaseException | None = None
        self.stopping = False
        self.stopped = trio.Event()
        self._cache: dict[Any, bytes] = {}
        self._cache_version = -1
        self.stats = ActorStats()

    # -- state others may read ---------------------------------------------------

    @property
    def state(self) -> OrgState:
        assert self.committed is not None, "read before the first load"
        return self.committed

    def subscriber_count(self) -> int:
        return sum(len(t.subscribers) for t in self.topics.values())

    def _cached(self, key: Any, build: Callable[[], bytes]) -> bytes:
        state = self.state
        if self._cache_version != state.version:
            self._cache.clear()
            self._cache_version = state.version
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = build()
        return data

    def document(self, name: str) -> bytes:
        """A Statuspage v2 document, rendered once per committed version."""
        return self._cached(name, lambda: orjson.dumps(render(self.state, name, self.base_url)))

    def snapshot(self, kind: str) -> bytes:
        """The JSON snapshot a subscriber of ``kind`` ("status" or "org") receives."""
        view = public_snapshot if kind == "status" else member_snapshot
        return self._cached(("snapshot", kind), lambda: orjson.dumps(view(self.state)))

    # -- subscribing ---------------------------------------------------------------

    def join(self, conn: Connection, kind: str, since: int | None, request_id: m.RequestId) -> None:
        """Subscribe ``conn``: snapshot or replay, then live events, with no gap.

        Synchronous on purpose: between reading the topic's seq and adding the
        subscriber nothing else runs, so nothing can be published in between.
        """
        topic = self.topics[kind]
        if since is not None:
            missed = topic.since(since)
            if missed is not None:
                conn.send(
                    m.Subscribed(id=request_id, topic=topic.name, seq=topic.seq, resumed=True)
                )
                for frame in missed:
                    conn.send_frame(frame)
                self._add(conn, topic)
                return
        snapshot = orjson.Fragment(self.snapshot(kind))
        conn.send(
            m.Subscribed(
                id=request_id, topic=topic.name, seq=topic.seq, resumed=False, snapshot=snapshot
            )
        )
        self._add(conn, topic)

    @staticmethod
    def _add(conn: Connection, topic: Topic) -> None:
        topic.add(conn)
        conn.topics[topic.name] = topic

    # -- commands ------------------------------------------------------------------

    async def execute(self, command: Any, author: str | None) -> Any:
        """Run a command and wait for its result (raises DomainError, Unavailable)."""
        future = Future()
        await self.inbox.send(Do(command, author, future))
        return await future.wait()

    # -- publishing (called by the actor) ------------------------------------------

    def publish(self, state: OrgState, events: Sequence[Event]) -> None:
        """Make ``state`` the committed one and deliver ``events``; no await inside."""
        self.committed = state
        org, status = self.topics["org"], self.topics["status"]
        members: list[tuple[int, bytes]] = []
        public: list[tuple[int, bytes]] = []
        for event in events:
            if event.version > org.seq:
                members.append(
                    (event.version, _event_frame(org.name, event.version, event, event.data))
                )
            if event.public_seq is not None and event.public_seq > status.seq:
                frame = _event_frame(status.name, event.public_seq, event, public_data(event))
                public.append((event.public_seq, frame))
        org.publish(members)
        status.publish(public)

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


class OrgActor:
    """One run of an organization's actor; the supervisor makes a new one per restart."""

    def __init__(
        self,
        handle: OrgHandle,
        state: OrgState,
        store: Store,
        clock: Clock,
        new_id: Callable[[], str],
        snapshot_version: int,
    ) -> None:
        self.handle = handle
        self.state = state
        self.store = store
        self.clock = clock
        self.new_id = new_id
        self.limits = handle.limits
        self.snapshot_version = snapshot_version
        self.inflight: list[Do] = []  # taken from the inbox, not yet answered
        self.last_active = trio.current_time()

    @classmethod
    async def load(
        cls, handle: OrgHandle, store: Store, clock: Clock, new_id: Callable[[], str]
    ) -> OrgActor | None:
        """Rebuild from the latest snapshot plus the events after it; None if no such org."""
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
        return cls(handle, state, store, clock, new_id, loaded.snapshot_version)

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the inbox until it is closed (shutdown) or the actor is idle."""
        while True:
            batch = await self._next_batch()
            if batch is None:
                break
            await self._commit(batch)
        await self.snapshot()

    async def _next_batch(self) -> list[Do] | None:
        inbox = self.handle.inbox_receive
        while True:
            due = self.state.next_due()
            timer = self.clock.deadline(due) if due is not None else float("inf")
            idle = self.last_active + self.limits.actor_idle_seconds
            with trio.move_on_at(min(timer, idle)):
                try:
                    first = await inbox.receive()
                except trio.EndOfChannel:
                    return None
                batch = [first]
                while len(batch) < self.limits.batch:
                    try:
                        batch.append(inbox.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                self.last_active = trio.current_time()
                return batch
            if due is not None and self.clock.now() >= due:
                return [Do(c.Tick(), SYSTEM_AUTHOR, None)]
            if due is None and self.handle.subscriber_count() == 0:
                # Idle: refuse new work (senders retry through the registry) and
                # stop. The inbox is empty: we timed out waiting on it just now.
                self.handle.stopping = True
                self.handle.inbox.close()
                return None
            self.last_active = trio.current_time()

    async def _commit(self, batch: list[Do]) -> None:
        self.inflight = batch
        state = self.state
        events: list[Event] = []
        outcomes: list[tuple[Do, Any, bool]] = []
        for request in batch:
            ctx = c.Context(now=self.clock.now(), author=request.author, new_id=self.new_id)
            try:
                decision = decide(state, request.command, ctx)
            except DomainError as exc:
                outcomes.append((request, exc, False))
                continue
            state = decision.state
            events.extend(decision.events)
            outcomes.append((request, decision.result, True))
        stats = self.handle.stats
        stats.commands += len(batch)
        if events:
            await self.store.append(
                self.handle.stream, self.state.version, events, wake_at=state.next_due()
            )
            self.state = state
            self.handle.publish(state, events)
            stats.commits += 1
            stats.events += len(events)
        self.inflight = []
        for request, value, ok in outcomes:
            if request.reply is None:
                continue
            if ok:
                request.reply.resolve(value)
            else:
                request.reply.reject(value)
        if self.state.version - self.snapshot_version >= self.limits.snapshot_every:
            await self.snapshot()

    async def snapshot(self) -> None:
        """Save the state; a failure only costs a longer replay next time."""
        if self.state.version <= self.snapshot_version:
            return
        try:
            await self.store.save_snapshot(
                self.handle.stream, self.state.version, self.state.to_dict()
            )
        except StoreError as exc:
            log.warning(
                "%s: snapshot at %d failed: %s", self.handle.stream, self.state.version, exc
            )
            return
        self.snapshot_version = self.state.version

    def fail_inflight(self, message: str) -> None:
        for request in self.inflight:
            if request.reply is not None:
                request.reply.reject(Unavailable(message))
        self.inflight = []


def _genesis(event: Event) -> OrgState:
    """The empty state the first event (org.created) applies to."""
    if event.name != "org.created":
        raise ValueError(f"a stream must start with org.created, not {event.name}")
    return OrgState(org=Org.from_dict(event.data["org"]))
