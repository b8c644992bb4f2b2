"""One WebSocket connection, on a raw non-blocking socket.

The broadcast path is :meth:`Connection.send_frame`: it writes the shared,
pre-built frame with one non-blocking ``send``. Only when the socket would
block does the rest go to a bounded backlog, drained by a writer task started
for the occasion in the gateway's nursery. A write that arrives while more
than the limit still waits closes the connection with 4008 (slow consumer):
queued events are dropped, the close frame goes out after whatever frame was
half-sent, and the actor publishing never waits.

The reader task (:meth:`Connection.run`) owns the socket's lifetime: it parses
client frames, hands each complete message to its :class:`Host` (the gateway),
and in its ``finally`` leaves every topic and closes the socket.

A connection's memberships (the topics it is on, and for rooms who it is
there) are changed only through :meth:`Connection.join` and
:meth:`Connection.leave`, which keep the topic's subscriber set and the
connection's :class:`Membership` records in step. They are called from the
task of the actor that owns the topic, or from the connection's own reader,
never while a topic's fan-out loop runs.
"""

from __future__ import annotations

import enum
import fcntl
import logging
import socket
import struct
import termios
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import trio

from ..protocol import frames
from ..protocol import messages as m
from ..protocol.messages import ServerMessage, encode
from ..ratelimit import Bucket

if TYPE_CHECKING:
    from ..auth import Principal
    from ..config import Limits
    from .room import RoomDoor
    from .topic import Topic

log = logging.getLogger(__name__)

RECV_SIZE = 65536
CLOSE_GRACE = 5.0  # seconds a closing peer gets to answer our close frame


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # our close frame is queued or sent; waiting for the peer's
    CLOSED = "closed"


class Host(Protocol):
    """What a connection needs from the server that accepted it."""

    @property
    def limits(self) -> Limits: ...

    async def received(self, conn: Connection, item: frames.Message | frames.TooLarge) -> None:
        """A complete message (or one over the size limit) from the peer."""

    def start_writer(self, drain: Callable[[], Awaitable[None]]) -> None:
        """Run ``drain`` (a backlog's writer) as a task of its own."""

    def slow_consumer(self, conn: Connection) -> None:
        """``conn`` is being closed for falling behind."""


@dataclass(slots=True)
class Membership:
    """A connection on one topic. In a room it is also a participant: the
    ``room``, its client id there, and whether it may edit (decided at join,
    from the token)."""

    topic: Topic
    room: RoomDoor | None = None
    client_id: str = ""
    may_edit: bool = False


class Member:
    """Something on topics (a connection, or a stand-in for one): its
    memberships, changed only through :meth:`join` and :meth:`leave`."""

    __slots__ = ()
    memberships: dict[str, Membership]
    state: State

    def send_frame(self, frame: bytes) -> None:
        raise NotImplementedError

    def send(self, message: ServerMessage) -> None:
        self.send_frame(frames.text_frame(encode(message)))

    def close(self, code: int, reason: str = "") -> None:
        raise NotImplementedError

    def membership(self, name: str) -> Membership | None:
        """This connection on the topic ``name``, if it is on it."""
        return self.memberships.get(name)

    def join(
        self,
        topic: Topic,
        room: RoomDoor | None = None,
        client_id: str = "",
        may_edit: bool = False,
    ) -> None:
        """Be on ``topic`` from now on (in ``room``, as ``client_id``)."""
        topic.add(self)
        self.memberships[topic.name] = Membership(topic, room, client_id, may_edit)

    def leave(self, name: str) -> bool:
        """Be off the topic ``name`` (and out of its room); False if not on it."""
        membership = self.memberships.pop(name, None)
        if membership is None:
            return False
        membership.topic.discard(self)
        if membership.room is not None:
            membership.room.leave_soon(self)
        return True


class Connection(Member):
    __slots__ = (
        "__weakref__",
        "address",
        "backlog",
        "backlog_bytes",
        "close_code",
        "decoder",
        "edits",
        "expires",
        "greeted",
        "host",
        "last_seen",
        "memberships",
        "messages",
        "peer",
        "pinged",
        "principal",
        "scope",
        "sock",
        "state",
        "writing",
    )

    def __init__(self, sock: socket.socket, host: Host, peer: str, address: str) -> None:
        self.sock = sock
        self.host = host
        self.peer = peer
        self.address = address  # the client's IP (behind trusted proxies, the forwarded one)
        self.state = State.OPEN
        self.decoder = frames.FrameDecoder(host.limits.max_message)
        self.principal: Principal | None = None
        self.expires: float | None = None  # trio time when the principal's credential ends
        self.greeted = False  # hello answered
        self.memberships: dict[str, Membership] = {}  # topic name -> this connection on it
        now = trio.current_time()
        limits = host.limits
        self.edits = Bucket(limits.edits_per_second, limits.edits_burst, now)  # doc.op, presence
        self.messages = Bucket(limits.messages_per_second, limits.messages_burst, now)
        self.backlog: deque[Any] | None = None  # bytes or memoryview, created on demand
        self.backlog_bytes = 0
        self.writing = False  # a writer task is draining the backlog
        self.last_seen = trio.current_time()
        self.pinged = False
        self.scope = trio.CancelScope()
        self.close_code: int | None = None

    # -- sending ----------------------------------------------------------------

    def send_frame(self, frame: bytes) -> None:
        """Queue one pre-built frame; never blocks, never raises."""
        if self.state is not State.OPEN:
            return
        self._write(frame)

    def _write(self, frame: bytes) -> None:
        if self.backlog is not None:
            # Slow means: more than the limit still waits from before when more
            # comes, counting what the kernel holds unsent too. One large
            # commit's write is always taken whole.
            if (
                self.state is State.OPEN
                and self.backlog_bytes + unsent(self.sock) > self.host.limits.outbound_backlog
            ):
                self._overflow("slow consumer: outbound backlog full")
                return
            self.backlog.append(frame)
            self.backlog_bytes += len(frame)
            return
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()  # the peer is gone; the reader cleans up
            return
        if sent < len(frame):
            self.backlog = deque([memoryview(frame)[sent:]])
            self.backlog_bytes = len(frame) - sent
            self._start_writer()

    def _start_writer(self) -> None:
        if not self.writing:
            self.writing = True
            self.host.start_writer(self._drain)

    def _overflow(self, reason: str) -> None:
        """Too far behind: drop what is queued (but a half-sent frame) and close;
        the close frame follows the half-sent one, for as long as the socket
        may still take it."""
        if self.backlog:
            head = self.backlog[0]
            self.backlog.clear()
            self.backlog.append(head)
            self.backlog_bytes = len(head)
        self.host.slow_consumer(self)
        self.close(frames.CLOSE_SLOW_CONSUMER, reason)

    def check_unsent(self, limit: int) -> None:
        """Close a reader that lets the kernel hold more than ``limit`` bytes for it
        (no backlog of ours grows while the kernel still takes everything)."""
        if self.state is State.OPEN and self.backlog is None and unsent(self.sock) > limit:
            self._overflow("slow consumer: outbound backlog full")

    async def _drain(self) -> None:
        stall = self.host.limits.write_stall_seconds
        try:
            while self.backlog:
                with trio.move_on_after(stall) as waited:
                    await trio.lowlevel.wait_writable(self.sock)
                if waited.cancelled_caught:
                    if self.state is not State.OPEN:
                        break  # its close frame could not go either: give up
                    self._overflow(f"slow consumer: no bytes taken for {stall:g} s")
                    continue
                while self.backlog:
                    data = self.backlog[0]
                    try:
                        sent = self.sock.send(data)
                    except BlockingIOError:
                        break
                    self.backlog_bytes -= sent
                    if sent < len(data):
                        self.backlog[0] = memoryview(data)[sent:]
                        break
                    self.backlog.popleft()
        except (OSError, trio.ClosedResourceError):
            self.abort()
            return
        finally:
            self.writing = False
        if self.backlog:  # stalled while closing
            self.abort()
            return
        self.backlog = None
        if self.state is State.CLOSING:
            self._shutdown_write()
            # Our close frame is out: the peer has the usual grace to answer.
            self.scope.deadline = trio.current_time() + CLOSE_GRACE

    # -- closing ----------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Start the close handshake; the peer has CLOSE_GRACE seconds to answer."""
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        self.close_code = code
        self._write(frames.close_frame(code, reason))
        if self.backlog is None:
            self._shutdown_write()
            grace = CLOSE_GRACE
        else:  # the close frame waits its turn: the writer has its stall bound to send it
            grace = self.host.limits.write_stall_seconds + CLOSE_GRACE
        self.scope.deadline = min(self.scope.deadline, trio.current_time() + grace)

    def _shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.abort()

    def abort(self) -> None:
        """Drop the connection now, without a handshake."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.scope.cancel()

    # -- reading ----------------------------------------------------------------

    async def run(self, initial: bytes) -> None:
        """Read until the peer leaves or we close; then leave every topic."""
        try:
            with self.scope:
                if initial:
                    await self._feed(initial)
                while self.state is not State.CLOSED:
                    await trio.lowlevel.wait_readable(self.sock)
                    try:
                        data = self.sock.recv(RECV_SIZE)
                    except BlockingIOError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    await self._feed(data)
        finally:
            self.state = State.CLOSED
            for name in list(self.memberships):
                self.leave(name)
            self.backlog = None
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

    async def _feed(self, data: bytes) -> None:
        self.last_seen = trio.current_time()
        self.pinged = False
        for item in self.decoder.receive(data):
            if self.state is State.CLOSED:
                return
            if isinstance(item, frames.Message):
                if self.state is State.OPEN:
                    await self.host.received(self, item)
            elif isinstance(item, frames.Ping):
                self.send_frame(frames.encode_frame(frames.OP_PONG, item.payload))
            elif isinstance(item, frames.Close):
                self._peer_closed(item)
            elif isinstance(item, frames.TooLarge):
                await self.host.received(self, item)
            elif isinstance(item, frames.Violation):
                self.close(item.code, item.reason)
            # a Pong only proves liveness, which last_seen already recorded

    def _peer_closed(self, item: frames.Close) -> None:
        if self.state is State.OPEN:
            # Echo the peer's code, as RFC 6455 asks, then we are done.
            self.state = State.CLOSING
            self._write(frames.close_frame(item.code or frames.CLOSE_NORMAL))
            if self.backlog is None:
                self._shutdown_write()
        if self.backlog is None:
            self.abort()
        else:
            self.scope.deadline = min(self.scope.deadline, trio.current_time() + CLOSE_GRACE)


SHORT_SEND_SECONDS = 1.0  # the bound on a short answer's write (a handshake, a refusal)


async def send_short(sock: socket.socket, data: bytes) -> bool:
    """Write a short answer (a handshake's, a refusal) on a fresh non-blocking
    socket; False when the peer is gone or took less than all of it within
    ``SHORT_SEND_SECONDS``."""
    view = memoryview(data)
    with trio.move_on_after(SHORT_SEND_SECONDS):
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError:
                return False
            view = view[sent:]
        return True
    return False


def unsent(sock: socket.socket) -> int:
    """Bytes the kernel holds for the peer and has not sent (SIOCOUTQ): a
    stalled reader's data piles up there before it piles up here."""
    try:
        buffer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", buffer)[0])


def join_topic(
    conn: Connection,
    topic: Topic,
    since: int | None,
    request_id: m.RequestId,
    snapshot: Callable[[], bytes],
) -> None:
    """Subscribe ``conn`` to ``topic``: the frames it missed after ``since`` when
    they are still kept, else ``snapshot()``; then live frames, with no gap.

    Synchronous on purpose: between reading the topic's seq and adding the
    subscriber nothing else runs, so nothing can be published in between.
    """
    if since is not None:
        missed = topic.since(since)
        if missed is not None:
            conn.send(m.Subscribed(id=request_id, topic=topic.name, seq=topic.seq, resumed=True))
            for frame in missed:
                conn.send_frame(frame)
            conn.join(topic)
            return
    conn.send(
        m.Subscribed(
            id=request_id,
            topic=topic.name,
            seq=topic.seq,
            resumed=False,
            snapshot=orjson.Fragment(snapshot()),
        )
    )
    conn.join(topic)
