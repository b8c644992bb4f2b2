"""What every actor shares: its handle, and the batch loop.

A :class:`Handle` is an actor's address. It outlives any one run of the actor
(a crashed actor is rebuilt behind the same handle): the inbox's two ends, the
topics and their subscribers, and the flags the registry watches.

A :class:`BatchActor` takes what waits in its inbox (up to a batch), lets the
subclass commit it (``commit``), and stops when its inbox is closed
(shutdown) or when it has been idle (no subscribers, no timer) for a while,
after a final snapshot.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import trio

from ..clock import Clock
from ..config import Limits
from ..errors import OutcomeUnknown, Unavailable
from ..store import Store, StoreError
from .topic import Topic

log = logging.getLogger(__name__)

M = TypeVar("M")


#: Upper bounds (seconds) of the commit-latency histogram's buckets; then +Inf.
COMMIT_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def _no_commits() -> list[int]:
    return [0] * (len(COMMIT_BUCKETS) + 1)


@dataclass(slots=True)
class ActorStats:
    commands: int = 0  # requests decided (accepted or refused)
    commits: int = 0  # appends to the log: one per batch with events
    events: int = 0
    restarts: int = 0
    ops: int = 0  # rooms: text operations applied
    # How long appends took: counts per COMMIT_BUCKETS bucket (not cumulative), and their sum.
    commit_buckets: list[int] = field(default_factory=_no_commits)
    commit_seconds: float = 0.0

    def committed(self, seconds: float, events: int) -> None:
        """One append to the log, of ``events`` events, took ``seconds``."""
        self.commits += 1
        self.events += events
        self.commit_seconds += seconds
        self.commit_buckets[bisect.bisect_left(COMMIT_BUCKETS, seconds)] += 1

    def add(self, other: ActorStats) -> None:
        """Count ``other``'s figures in these too."""
        self.commands += other.commands
        self.commits += other.commits
        self.events += other.events
        self.restarts += other.restarts
        self.ops += other.ops
        self.commit_seconds += other.commit_seconds
        for i, count in enumerate(other.commit_buckets):
            self.commit_buckets[i] += count


class Handle(Generic[M]):
    """An actor's address; see the module docstring."""

    kind = "actor"

    def __init__(self, key: str, limits: Limits, *, inbox: int | None = None) -> None:
        self.key = key
        self.stream = f"{self.kind}:{key}"
        self.limits = limits
        self.inbox_size = inbox or limits.inbox
        self.inbox, self.inbox_receive = trio.open_memory_channel[M](self.inbox_size)
        self.topics: dict[str, Topic] = {}
        self.ready = trio.Event()  # set once the first load finished, well or not
        self.load_error: BaseException | None = None
        self.stopping = False
        self.stopped = trio.Event()
        self.stats = ActorStats()
        # With leases (several nodes): the epoch this node's appends carry, and
        # whether another node has taken the lease since.
        self.epoch: int | None = None
        self.deposed = False
        # Following (several nodes): the handle mirrors an actor that ``owner``
        # runs; its state and topics follow that node's commits, and commands
        # sent to it are forwarded there.
        self.following = False
        self.owner: str | None = None
        self.look_now = trio.CancelScope()  # cancelled: the follower looks at the lease now
        self.moved = trio.Event()  # set (and renewed) when following ends or its owner changes

    def owner_changed(self) -> None:
        """Wake whoever waits for this handle's owner to change."""
        self.moved.set()
        self.moved = trio.Event()

    def reopen(self) -> None:
        """A new inbox, for a handle whose actor stopped (it was deposed) and
        goes on: its topics and subscribers stay."""
        self.inbox, self.inbox_receive = trio.open_memory_channel[M](self.inbox_size)
        self.stopping = self.deposed = False

    def subscriber_count(self) -> int:
        return sum(len(t.subscribers) for t in self.topics.values())

    async def put(self, message: M) -> None:
        """Queue a message, waiting only if the inbox is full.

        Unlike ``inbox.send``, this does not yield when there is room: a
        reader with many messages in one socket read queues them all, and the
        actor then takes them in one batch instead of being woken for each.
        """
        try:
            self.inbox.send_nowait(message)
        except trio.WouldBlock:
            await self.inbox.send(message)

    def reject(self, request: M, error: BaseException) -> None:
        """Tell the sender of a request that it will not be served."""
        raise NotImplementedError


class BatchActor(Generic[M]):
    """One run of an actor; the registry makes a new one after a crash."""

    def __init__(
        self, handle: Handle[M], store: Store, clock: Clock, snapshot_version: int
    ) -> None:
        self.handle = handle
        self.store = store
        self.clock = clock
        self.limits = handle.limits
        self.snapshot_version = snapshot_version
        self.inflight: list[M] = []  # taken from the inbox, not yet answered
        self.committing = False  # the inflight batch's write has been sent
        self.last_active = trio.current_time()

    # -- what subclasses provide ---------------------------------------------------

    @property
    def version(self) -> int:
        """How many events of the stream the state holds."""
        raise NotImplementedError

    def snapshot_state(self) -> Any:
        """The state as JSON, for a snapshot."""
        raise NotImplementedError

    def next_due(self) -> datetime | None:
        """When a timer must fire (None: no timer)."""
        return None

    def timer_message(self) -> M:
        raise NotImplementedError

    def keeps_running(self) -> bool:
        """Whether to stay up though idle (no subscribers, no timer)."""
        return False

    async def commit(self, batch: list[M]) -> None:
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the inbox until it is closed (shutdown) or the actor is idle."""
        while True:
            batch = await self._next_batch()
            if batch is None:
                break
            self.inflight = batch
            self.committing = False  # set by commit once its write is sent
            await self.commit(batch)
            self.inflight = []
            self.handle.stats.commands += len(batch)
            if self.version - self.snapshot_version >= self.snapshot_every:
                await self.snapshot()
        await self.snapshot()

    @property
    def snapshot_every(self) -> int:
        return self.limits.snapshot_every

    @property
    def batch_size(self) -> int:
        return self.limits.batch

    async def _next_batch(self) -> list[M] | None:
        inbox = self.handle.inbox_receive
        while True:
            due = self.next_due()
            timer = self.clock.deadline(due) if due is not None else float("inf")
            idle = self.last_active + self.limits.actor_idle_seconds
            with trio.move_on_at(min(timer, idle)):
                try:
                    first = await inbox.receive()
                except trio.EndOfChannel:
                    return None
                batch = [first]
                while len(batch) < self.batch_size:
                    try:
                        batch.append(inbox.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                self.last_active = trio.current_time()
                return batch
            if due is not None and self.clock.now() >= due:
                return [self.timer_message()]
            if due is None and self.handle.subscriber_count() == 0 and not self.keeps_running():
                # Idle: refuse new work (senders retry through the registry) and
                # stop. The inbox is empty: we timed out waiting on it just now.
                self.handle.stopping = True
                self.handle.inbox.close()
                return None
            self.last_active = trio.current_time()

    async def snapshot(self) -> None:
        """Save the state; a failure only costs a longer replay next time."""
        if self.version <= self.snapshot_version:
            return
        try:
            await self.store.save_snapshot(self.handle.stream, self.version, self.snapshot_state())
        except StoreError as exc:
            log.warning("%s: snapshot at %d failed: %s", self.handle.stream, self.version, exc)
            return
        self.snapshot_version = self.version

    def fail_inflight(self, cause: BaseException) -> None:
        """Answer what the crashed run held: not done (``unavailable``, try again)
        if its commit had not been sent, else ``outcome_unknown``."""
        kind = self.handle.kind
        error: Exception
        # A write the database refused, or never received, is known not done;
        # one it did not confirm, or a crash after it was sent, is not known.
        if isinstance(cause, OutcomeUnknown) or (
            self.committing and not isinstance(cause, StoreError)
        ):
            error = OutcomeUnknown(
                f"the {kind}'s actor stopped while writing this change ({_words(cause)}):"
                " it may or may not have been made; read it back, or retry with the"
                " same idempotency key"
            )
        else:
            error = Unavailable(
                f"the {kind}'s actor stopped before this change was written"
                f" ({_words(cause)}); nothing was changed: try again"
            )
        for request in self.inflight:
            self.handle.reject(request, error)
        self.inflight = []


def _words(cause: BaseException) -> str:
    text = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return str(text)
