"""The room actor: one trio task owns one shared document and its presence.

Operations arrive in the inbox; the actor takes what waits (up to a batch),
runs each through :func:`server.domain.room.receive` (dedupe, transform
against what the sender had not seen, limits, apply), appends the batch's
operations to PostgreSQL as one ``doc.ops`` event, and only then answers and
publishes.

Each client must see the document's history in revision order, with its own
operations confirmed at their place in it (its transforms depend on that). So
a commit goes out as one write per subscriber: others' operations as ``event``
frames and, for an author, an ``ack {id, rev}`` in place of each of its own.

The text is edited in place (copying a large document per keystroke is not an
option), so unlike an organization's, a room's state is not read from
outside: joins and reads go through the inbox too and are served after the
batch they arrive in is committed. Presence (who is here, their cursor) is
not persisted; it lives in the handle, so it survives a restart of the actor
along with the subscriptions.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import trio
from switchboard_ot import Op, Selection

from ..clock import Clock
from ..config import Limits
from ..domain.events import Event
from ..domain.model import iso, iso_or_none
from ..domain.room import Applied, RoomLimits, RoomMeta, RoomState, receive, replay
from ..errors import RoomError, Unavailable
from ..protocol import frames
from ..protocol import messages as m
from ..protocol.frames import CLOSE_GOING_AWAY
from ..store import Store, StoreError
from .base import BatchActor, Handle
from .connection import State
from .mailbox import Future, error_message
from .topic import Topic

if TYPE_CHECKING:
    from ..protocol.messages import ServerMessage
    from .connection import Membership

log = logging.getLogger(__name__)

# Participant colours: readable on white and on dark backgrounds.
PALETTE = (
    "#d1495b", "#00798c", "#edae49", "#6a4c93", "#2e933c",
    "#f26419", "#1982c4", "#b5179e", "#8d6a9f", "#43aa8b",
)  # fmt: skip
STATUSES = ("active", "idle", "typing")


def room_limits(limits: Limits) -> RoomLimits:
    return RoomLimits(
        max_document=limits.room_max_document,
        max_insert=limits.room_max_insert,
        max_components=limits.room_max_components,
        window=limits.room_window,
    )


# -- who is in a room, and how a room is reached -----------------------------------


class Peer(Protocol):
    """A client in a room, as its actor sees it: a connection to this node
    (:class:`~server.actors.connection.Connection`), or one to another node
    (``server.cluster.rooms``)."""

    @property
    def state(self) -> State: ...

    def membership(self, name: str) -> Membership | None: ...

    def join(
        self,
        topic: Topic,
        room: RoomDoor | None = None,
        client_id: str = "",
        may_edit: bool = False,
    ) -> None: ...

    def send(self, message: ServerMessage) -> None: ...

    def send_frame(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str = "") -> None: ...


class RoomDoor(Protocol):
    """A room as the gateway and the REST routes use it: its actor's handle
    when this node runs it, else a way through to the node that does."""

    key: str
    meta: RoomMeta | None
    stopping: bool

    @property
    def org(self) -> str: ...

    async def put(self, message: RoomMessage) -> None: ...

    async def read(self) -> dict[str, Any]: ...

    def leave_soon(self, conn: Peer) -> None: ...


# -- the inbox ------------------------------------------------------------------


@dataclass(slots=True)
class OpRequest:
    conn: Peer | None
    request_id: m.RequestId
    client_id: str
    client_op_id: int
    rev: int
    op: Op
    author: str | None


@dataclass(slots=True)
class Join:
    conn: Peer
    request_id: m.RequestId
    since: int | None
    client_id: str
    name: str
    role: str
    may_edit: bool


@dataclass(slots=True)
class Leave:
    conn: Peer


@dataclass(slots=True)
class PresenceUpdate:
    conn: Peer
    request_id: m.RequestId
    rev: int | None
    selection: Selection | None
    clear_selection: bool
    status: str | None


@dataclass(slots=True)
class Read:
    reply: Future


RoomMessage = OpRequest | Join | Leave | PresenceUpdate | Read


@dataclass(slots=True)
class _Decided:
    """A batch of operations decided (the text has them), waiting for its append."""

    ops: list[OpRequest]
    expected: int  # the stream's version before this batch
    at: datetime
    event: Event | None = None  # None when nothing was applied
    applied: list[tuple[Applied, OpRequest]] = field(default_factory=list)
    repeats: list[tuple[Applied, OpRequest]] = field(default_factory=list)
    refused: list[tuple[RoomError, OpRequest]] = field(default_factory=list)


@dataclass(slots=True)
class Participant:
    client_id: str
    name: str
    colour: str
    role: str
    conn: Peer
    selection: Selection | None = None
    status: str = "active"

    def to_dict(self) -> dict[str, Any]:
        selection = self.selection
        return {
            "client_id": self.client_id,
            "name": self.name,
            "colour": self.colour,
            "role": self.role,
            "selection": None
            if selection is None
            else {"anchor": selection.anchor, "head": selection.head},
            "status": self.status,
        }


# -- the handle -------------------------------------------------------------------


class RoomHandle(Handle[RoomMessage]):
    kind = "room"

    def __init__(self, room_id: str, limits: Limits) -> None:
        # Room messages are small: the inbox holds at least a whole batch.
        super().__init__(room_id, limits, inbox=max(limits.inbox, limits.room_batch))
        self.meta: RoomMeta | None = None  # known once loaded
        self.participants: dict[str, Participant] = {}
        self.topic = Topic(f"room:{room_id}", ring_size=limits.ring)
        self.topics["room"] = self.topic

    @property
    def org(self) -> str:
        assert self.meta is not None, "read before the first load"
        return self.meta.org

    def reject(self, request: RoomMessage, error: BaseException) -> None:
        if isinstance(request, OpRequest | PresenceUpdate) and request.conn is not None:
            request.conn.send(error_message(error, request.request_id))
        elif isinstance(request, Read):
            request.reply.reject(error)

    async def read(self) -> dict[str, Any]:
        """The committed text now, and who is here: ``{"rev", "text", "participants"}``."""
        future = Future()
        await self.put(Read(future))
        result: dict[str, Any] = await future.wait()
        return result

    def leave_soon(self, conn: Peer) -> None:
        """A subscriber's connection ended; the actor removes its participant."""
        try:
            self.inbox.send_nowait(Leave(conn))
        except (trio.WouldBlock, trio.ClosedResourceError):
            return  # busy or stopping: the sweep after its next batch catches it

    def disband(self, reason: str) -> None:
        """Close every participant's connection (the room stopped running
        here for good): they reconnect and find it where it runs now."""
        for participant in list(self.participants.values()):
            participant.conn.close(CLOSE_GOING_AWAY, reason)
        self.participants.clear()

    def presence(self, **news: Any) -> bytes:
        """A ``presence`` frame of this room."""
        return frames.text_frame(m.encode(m.Presence(topic=self.topic.name, **news)))


def _op_frame(topic: str, applied: Applied, at: str) -> bytes:
    """The ``event`` frame of one applied operation."""
    data = {
        "rev": applied.rev,
        "op": applied.op,
        "client_id": applied.client_id,
        "client_op_id": applied.client_op_id,
        "author": applied.author,
    }
    return frames.text_frame(m.encode_event(topic, applied.rev, "doc.op", data, at))


def room_deleted_frame(topic: str, seq: int, at: datetime) -> bytes:
    """The last event of a deleted room: its subscribers' next edits find no room."""
    message = m.EventMessage(topic=topic, seq=seq, name="room.deleted", data={}, at=iso(at))
    return frames.text_frame(orjson.dumps(message))


def _ack_frame(request_id: m.RequestId, rev: int) -> bytes:
    """``ack {id, rev}``, made once per operation."""
    return frames.text_frame(m.encode_rev_ack(request_id, rev))


# -- the actor ----------------------------------------------------------------------


class RoomActor(BatchActor[RoomMessage]):
    def __init__(
        self,
        handle: RoomHandle,
        state: RoomState,
        store: Store,
        clock: Clock,
        snapshot_version: int,
    ) -> None:
        super().__init__(handle, store, clock, snapshot_version)
        self.room = handle
        self.state = state
        self.rules = room_limits(handle.limits)
        self.pending = 0  # batches decided, not yet committed and published
        self.settled = trio.Event()  # set whenever pending comes back to 0
        self.unserved: list[RoomMessage] = []  # joins, reads... waiting for the drain
        self.snapshot_rev = state.rev  # the revision the latest snapshot holds

    @classmethod
    async def load(cls, handle: RoomHandle, store: Store, clock: Clock) -> RoomActor | None:
        limits = room_limits(handle.limits)
        loaded = await store.load(handle.stream, history=max(handle.limits.ring, limits.window))
        if loaded is None:
            return None
        if loaded.snapshot is not None:
            state = RoomState.from_dict(loaded.snapshot)
        else:
            first = loaded.events[0]
            if first.name != "room.created":
                raise ValueError(f"{handle.stream} must start with room.created")  # corrupt
            state = RoomState(meta=RoomMeta.from_dict(first.data["room"]))
        snapshot_rev = state.rev
        history: list[Applied] = []
        for event in loaded.events:
            if event.name != "doc.ops":
                continue
            first_rev = event.data["first_rev"]
            records = event.data["ops"]
            if event.version > loaded.snapshot_version:
                replay(state, first_rev, records, limits, event.at)
                state.updated_at = event.at
            else:  # before the snapshot: only for the window
                history.extend(
                    Applied(first_rev + i, op, client, client_op, author, event.at)
                    for i, (op, client, client_op, author) in enumerate(records)
                )
        # The window holds the last operations, including those before the snapshot.
        older = [a for a in history if a.rev <= snapshot_rev]
        recent = list(state.window)
        state.window.clear()
        for applied in [*older, *recent][-limits.window :]:
            state.window.append(applied)
        state.version = loaded.version
        handle.meta = state.meta
        actor = cls(handle, state, store, clock, loaded.snapshot_version)
        actor.snapshot_rev = snapshot_rev
        actor._catch_up()
        return actor

    def _catch_up(self) -> None:
        """After a (re)load: send subscribers what was committed but never published."""
        topic, state = self.room.topic, self.state
        if topic.subscribers and topic.seq < state.rev:
            missed = self._missed(topic.seq)
            if missed is None:
                # More was lost than the window holds: they must start over.
                for subscriber in list(topic.subscribers):
                    subscriber.close(CLOSE_GOING_AWAY, "room restarted; subscribe again")  # type: ignore[attr-defined]
            else:
                for subscriber in topic.subscribers:
                    subscriber.send_frame(b"".join(missed))
        topic.seq = state.rev

    def _missed(self, since: int) -> list[bytes] | None:
        """Event frames of the operations after ``since``, or None if no longer all kept."""
        state, name = self.state, self.room.topic.name
        if since == state.rev:
            return []
        window = state.window
        if since > state.rev or not window or window[0].rev > since + 1:
            return None
        return [_op_frame(name, a, iso_or_none(a.at) or "") for a in window if a.rev > since]

    # -- BatchActor -------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def snapshot_every(self) -> int:
        return self.limits.room_snapshot_every

    @property
    def batch_size(self) -> int:
        return self.limits.room_batch

    def snapshot_state(self) -> Any:
        return self.state.to_dict()

    # -- the pipeline -------------------------------------------------------------------
    #
    # Group commit, pipelined: while one batch is being appended to the log, the
    # next is decided. Appends stay in order, and a batch is published and
    # acknowledged only once its own append is done. Anything that must see
    # the committed text (a join, a read, a presence update, a snapshot) first
    # waits for the pipeline to drain.

    async def run(self) -> None:
        # Capacity 0: the next batch is decided while one commits, and then waits
        # to be taken, so that under load the inbox fills and batches grow.
        decided_send, decided_receive = trio.open_memory_channel[_Decided](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._commit_in_order, decided_receive)
            async with decided_send:
                while True:
                    batch = await self._next_batch()
                    if batch is None:
                        break
                    later = [r for r in batch if not isinstance(r, OpRequest)]
                    self.unserved.extend(later)
                    decided = self._decide([r for r in batch if isinstance(r, OpRequest)])
                    self.room.stats.commands += len(batch)
                    if self.pending == 0:
                        self.settled = trio.Event()
                    self.pending += 1
                    await decided_send.send(decided)
                    if later or self._snapshot_due():
                        await self._drain()
                        for request in later:
                            self._serve(request)
                        self.unserved.clear()
                        if self._snapshot_due():
                            await self.snapshot()
        await self.snapshot()

    def _snapshot_due(self) -> bool:
        """Every so many commits, or so many operations, whichever comes first."""
        return (
            self.version - self.snapshot_version >= self.snapshot_every
            or self.state.rev - self.snapshot_rev >= self.limits.room_snapshot_ops
        )

    async def snapshot(self) -> None:
        """Save the text (keeping one snapshot a day, where reading the past
        starts), then forget the log behind the history people may browse."""
        if self.version <= self.snapshot_version:
            return
        rev, stream, now = self.state.rev, self.room.stream, self.clock.now()
        try:
            await self.store.save_snapshot(
                stream, self.version, self.snapshot_state(), daily=True, at=now
            )
            self.snapshot_version, self.snapshot_rev = self.version, rev
            before = now - timedelta(days=self.limits.room_history_days)
            await self.store.compact(stream, before)
        except StoreError as exc:
            log.warning("%s: snapshot at %d failed: %s", stream, self.version, exc)

    async def _drain(self) -> None:
        if self.pending:
            await self.settled.wait()

    def _decide(self, ops: list[OpRequest]) -> _Decided:
        state = self.state
        start_rev = state.rev
        decided = _Decided(ops, state.version, self.clock.now())
        self.inflight.extend(ops)
        for request in ops:
            try:
                result = receive(
                    state,
                    rev=request.rev,
                    op=request.op,
                    client_id=request.client_id,
                    client_op_id=request.client_op_id,
                    author=request.author,
                    limits=self.rules,
                    at=decided.at,
                )
            except RoomError as exc:
                decided.refused.append((exc, request))
                continue
            applied = decided.applied
            if result.rev > start_rev and (not applied or result.rev > applied[-1][0].rev):
                applied.append((result, request))
            else:
                decided.repeats.append((result, request))  # a resend: confirm, never apply again
        if decided.applied:
            decided.event = Event(
                state.version + 1,
                None,
                "doc.ops",
                {
                    "first_rev": decided.applied[0][0].rev,
                    "ops": [a.record() for a, _ in decided.applied],
                },
                decided.at,
                None,
            )
            state.version += 1
            state.updated_at = decided.at
        return decided

    async def _commit_in_order(self, decided_receive: trio.MemoryReceiveChannel[_Decided]) -> None:
        async for decided in decided_receive:
            if decided.event is not None:
                started = time.perf_counter()
                await self.store.append(
                    self.room.stream, decided.expected, [decided.event], epoch=self.room.epoch
                )
                self.room.stats.committed(time.perf_counter() - started, 1)
                self.room.stats.ops += len(decided.applied)
                self._publish(decided.applied, iso(decided.at))
            for result, request in decided.repeats:
                if request.conn is not None:
                    request.conn.send_frame(_ack_frame(request.request_id, result.rev))
            for error, request in decided.refused:
                if request.conn is not None:
                    request.conn.send(error_message(error, request.request_id))
            del self.inflight[: len(decided.ops)]
            self._sweep()
            self.pending -= 1
            if self.pending == 0:
                self.settled.set()

    def fail_inflight(self, cause: BaseException) -> None:
        # Edits carry their client's ids, and a resend is recognized: whatever
        # became of them, sending them again is safe.
        error = Unavailable(f"the room's actor restarted ({cause}); send your edits again")
        for request in [*self.inflight, *self.unserved]:
            self.room.reject(request, error)
        self.inflight = []
        self.unserved.clear()

    # -- after a commit ----------------------------------------------------------------

    def _publish(self, applied: list[tuple[Applied, OpRequest]], at: str) -> None:
        topic = self.room.topic
        if not topic.subscribers:
            topic.seq = applied[-1][0].rev  # nobody to tell; replays come from the window
            return
        items = []
        for result, request in applied:
            frame = partial(_op_frame, topic.name, result, at)  # made only if needed
            ack = _ack_frame(request.request_id, result.rev) if request.conn is not None else None
            items.append((result.rev, frame, request.conn, ack))
        topic.publish_with_acks(items, keep=False)
        # Keep the participants' cursors where their text went.
        for participant in self.room.participants.values():
            if participant.selection is not None:
                for result, _ in applied:
                    participant.selection = participant.selection.transform(
                        result.op, own=result.client_id == participant.client_id
                    )

    def _serve(self, request: RoomMessage) -> None:
        if isinstance(request, Join):
            self._join(request)
        elif isinstance(request, Leave):
            self._leave(request.conn)
        elif isinstance(request, PresenceUpdate):
            self._presence(request)
        elif isinstance(request, Read):
            request.reply.resolve(
                {
                    "rev": self.state.rev,
                    "text": str(self.state.text),
                    "participants": [p.to_dict() for p in self.room.participants.values()],
                }
            )

    def _join(self, join: Join) -> None:
        conn, topic, room = join.conn, self.room.topic, self.room
        if conn.state is not State.OPEN or conn.membership(topic.name) is not None:
            return
        participants = room.participants
        previous = participants.get(join.client_id)
        colour = previous.colour if previous is not None else self._colour(join.client_id)
        participant = Participant(join.client_id, join.name, colour, join.role, conn)
        participants[join.client_id] = participant
        missed = self._missed(join.since) if join.since is not None else None
        if missed is not None:
            conn.send(
                m.Subscribed(id=join.request_id, topic=topic.name, seq=topic.seq, resumed=True)
            )
            for frame in missed:
                conn.send_frame(frame)
        else:
            snapshot = {
                "room": self.state.meta.to_dict(),
                "rev": self.state.rev,
                "text": str(self.state.text),
            }
            conn.send(
                m.Subscribed(
                    id=join.request_id,
                    topic=topic.name,
                    seq=topic.seq,
                    resumed=False,
                    snapshot=orjson.Fragment(orjson.dumps(snapshot)),
                )
            )
        conn.send_frame(
            room.presence(
                participants=[p.to_dict() for p in participants.values()], you=join.client_id
            )
        )
        conn.join(topic, self.room, join.client_id, join.may_edit)
        self._broadcast(self.room.presence(participant=participant.to_dict()), skip=conn)

    def _leave(self, conn: Peer) -> None:
        for client_id, participant in list(self.room.participants.items()):
            if participant.conn is conn:
                del self.room.participants[client_id]
                self._broadcast(self.room.presence(left=client_id), skip=conn)

    def _presence(self, update: PresenceUpdate) -> None:
        membership = update.conn.membership(self.room.topic.name)
        client_id = membership.client_id if membership is not None else ""
        participant = self.room.participants.get(client_id)
        if participant is None or participant.conn is not update.conn:
            return
        if update.clear_selection:
            participant.selection = None
        elif update.selection is not None:
            selection = update.selection
            if update.rev is not None and update.rev > self.state.rev:
                self._refuse_presence(
                    update, f"revision {update.rev} is ahead of the room's ({self.state.rev})"
                )
                return
            if update.rev is not None and update.rev < self.state.rev:
                window = self.state.window
                if not window or window[0].rev > update.rev + 1:
                    self._refuse_presence(
                        update,
                        f"revision {update.rev} is older than the operations the room keeps:"
                        " resync from a snapshot",
                    )
                    return
                # Bring it forward over what the sender had not seen yet.
                for applied in self.state.window:
                    if applied.rev > update.rev:
                        selection = selection.transform(
                            applied.op, own=applied.client_id == client_id
                        )
            length = len(self.state.text)
            participant.selection = Selection(
                min(selection.anchor, length), min(selection.head, length)
            )
        if update.status is not None:
            participant.status = update.status
        self._broadcast(self.room.presence(participant=participant.to_dict()), skip=update.conn)
        if update.request_id is not None:
            update.conn.send(m.Ack(id=update.request_id))

    @staticmethod
    def _refuse_presence(update: PresenceUpdate, why: str) -> None:
        """A cursor placed on a revision the room cannot map is refused, as an
        operation on it would be (``stale_revision``)."""
        update.conn.send(error_message(RoomError("stale_revision", why), update.request_id))

    def _broadcast(self, frame: bytes, *, skip: Peer | None) -> None:
        for subscriber in self.room.topic.subscribers:
            if subscriber is not skip:
                subscriber.send_frame(frame)

    def _sweep(self) -> None:
        """Participants whose connection ended without a Leave reaching us."""
        for participant in list(self.room.participants.values()):
            if participant.conn.state is State.CLOSED:
                self._leave(participant.conn)

    def _colour(self, client_id: str) -> str:
        taken = {p.colour for p in self.room.participants.values()}
        start = zlib.crc32(client_id.encode()) % len(PALETTE)
        for i in range(len(PALETTE)):
            colour = PALETTE[(start + i) % len(PALETTE)]
            if colour not in taken:
                return colour
        return PALETTE[start]
