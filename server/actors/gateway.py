"""The WebSocket gateway: connections, routing of client messages, heartbeats.

The listener hands over a socket whose request is an upgrade on ``/ws``. The
gateway answers the handshake, then the socket's task becomes the
connection's reader (:meth:`Connection.run`). Each complete message comes back
here to be decoded and routed:

* ``hello`` verifies the token and answers ``welcome``;
* ``subscribe`` / ``unsubscribe`` join or leave a topic through its actor's
  handle;
* ``command`` goes to the organization actor's inbox, answered later by a
  frame (the reader does not wait for it, so clients can pipeline);
* ``ping`` answers ``pong``.

Every bad input is answered with an ``error`` carrying a stable code and the
request's id, and the connection goes on.

One sweeper task checks liveness: a connection silent for a heartbeat interval
gets a WebSocket ping (which browsers answer on their own); one silent for two
intervals is closed with 4000.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import secrets
import socket
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import trio
from switchboard_ot import Selection

from .. import __version__
from ..auth import Action, Origin, Principal, authorize
from ..domain.commands import SPECS, parse_command
from ..domain.room import validate
from ..domain.schema import MISSING, given
from ..errors import (
    AuthError,
    DomainError,
    Forbidden,
    HandshakeError,
    PeerError,
    ProtocolError,
    RateLimited,
    RoomError,
    ValidationError,
    retry_after,
)
from ..identity import Authenticator
from ..policy import MESSAGES, TOPICS
from ..protocol import frames
from ..protocol import messages as m
from ..protocol.codec import decode, parse_topic, peek_id
from ..protocol.handshake import accept_handshake, handshake_refusal, parse_head
from ..ratelimit import KeyedBuckets, Network, client_address
from ..store.receipts import Receipt, fingerprint, scope_of
from .connection import Connection, State, send_short
from .mailbox import FrameReply, error_message
from .room import Join, OpRequest, PresenceUpdate, RoomDoor, room_limits

if TYPE_CHECKING:
    from ..config import Limits
    from .registry import Registry

log = logging.getLogger(__name__)

MAX_TOPICS = 64  # subscriptions per connection


class ProbeTopics(Protocol):
    """What the gateway needs of monitoring, for ``probe:<region>`` topics."""

    def probe_join(
        self, conn: Connection, region: str, since: int | None, request_id: m.RequestId
    ) -> None:
        """A probe of ``region`` subscribes (answered on ``conn``)."""

    async def probe_report(self, region: str, data: Any) -> dict[str, Any]:
        """A probe's ``probe.report`` data; ValidationError if it is malformed,
        Unavailable (or OutcomeUnknown) if some of it could not be counted now."""


@dataclass(slots=True)
class Stats:
    accepted: int = 0
    rejected_handshakes: int = 0
    slow_consumers: int = 0
    heartbeat_timeouts: int = 0
    pings_sent: int = 0
    errors_sent: int = 0


class Gateway:
    def __init__(
        self,
        registry: Registry,
        auth: Authenticator,
        limits: Limits,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.registry = registry
        self.auth = auth
        self.limits = limits
        self.trusted_proxies = tuple(trusted_proxies)
        self.connects = KeyedBuckets(limits.connects_per_second, limits.connects_burst)
        self.connections: set[Connection] = set()
        self.stats = Stats()
        self.writers: trio.Nursery  # set by run(); drains slow sockets' backlogs
        self.server_name = f"switchboard/{__version__}"
        self.monitoring: ProbeTopics | None = None  # set by the server when it runs
        self.timers = Timers()  # credentials' expiries, commands' deadlines

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.writers = nursery
            nursery.start_soon(self._sweep)
            nursery.start_soon(self.timers.run)
            task_status.started()
            await trio.sleep_forever()

    # -- connections ---------------------------------------------------------------

    async def serve(self, sock: socket.socket, head: bytes, rest: bytes, peer: str) -> None:
        """Answer the handshake in ``head``, then be the connection's reader."""
        address = peer.rsplit(":", 1)[0].strip("[]")
        try:
            headers = parse_head(head)
            forwarded = headers.get(b"x-forwarded-for")
            if forwarded is not None:
                address = client_address(address, forwarded.decode("latin-1"), self.trusted_proxies)
            wait = self.connects.take(address)
            if wait:
                raise HandshakeError(
                    429,
                    "too many connections from this address; wait and reconnect",
                    [(b"Retry-After", retry_after(wait).encode())],
                    code="rate_limited",
                )
            response = accept_handshake(headers)
        except HandshakeError as exc:
            self.stats.rejected_handshakes += 1
            await send_short(sock, handshake_refusal(exc))
            return
        if not await send_short(sock, response):
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.limits.socket_send_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.socket_send_buffer)
        conn = Connection(sock, self, peer, address)
        self.connections.add(conn)
        self.stats.accepted += 1
        try:
            await conn.run(rest)
        finally:
            self.connections.discard(conn)

    async def refuse_busy(self, sock: socket.socket, head: bytes) -> None:
        """Over the connection limit: the handshake, then at once a 1013 close
        ("try again later"), which WebSocket clients understand and back off on."""
        try:
            response = accept_handshake(parse_head(head))
        except HandshakeError as exc:
            await send_short(sock, handshake_refusal(exc))
            return
        close = frames.close_frame(frames.CLOSE_TRY_AGAIN, "server busy; try again later")
        if await send_short(sock, response + close):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    def close_all(self, code: int, reason: str) -> None:
        for conn in list(self.connections):
            conn.close(code, reason)

    def revoke(self, match: Callable[[Principal], bool], reason: str) -> None:
        """Close, at once, every connection whose principal ``match`` picks."""
        for conn in list(self.connections):
            if conn.principal is not None and match(conn.principal):
                conn.close(frames.CLOSE_REVOKED, reason)

    async def _sweep(self) -> None:
        interval = self.limits.heartbeat_ms / 1000
        while True:
            await trio.sleep(interval / 4)
            now = trio.current_time()
            backlog = self.limits.outbound_backlog
            for conn in list(self.connections):
                conn.check_unsent(backlog)
                silent = now - conn.last_seen
                if silent > 2 * interval:
                    self.stats.heartbeat_timeouts += 1
                    conn.close(frames.CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
                elif silent > interval and not conn.pinged:
                    conn.pinged = True
                    self.stats.pings_sent += 1
                    conn.send_frame(frames.PING_FRAME)

    # -- messages ------------------------------------------------------------------

    def _error(self, conn: Connection, error: BaseException, request_id: m.RequestId) -> None:
        """Answer a refused message; a ProtocolError names its own request id."""
        if isinstance(error, ProtocolError) and error.id is not None:
            request_id = error.id
        self.stats.errors_sent += 1
        conn.send(error_message(error, request_id))

    # -- what connections ask of the gateway (connection.Host) ----------------------

    async def received(self, conn: Connection, item: frames.Message | frames.TooLarge) -> None:
        if isinstance(item, frames.TooLarge):
            self._too_large(conn, item)
        else:
            await self._message(conn, item)

    def start_writer(self, drain: Callable[[], Awaitable[None]]) -> None:
        self.writers.start_soon(drain)

    def slow_consumer(self, conn: Connection) -> None:
        self.stats.slow_consumers += 1

    def _too_large(self, conn: Connection, item: frames.TooLarge) -> None:
        self._error(
            conn,
            ProtocolError(
                "too_large", f"messages are limited to {item.limit} bytes; this one was dropped"
            ),
            peek_id(item.head),
        )

    async def _message(self, conn: Connection, item: frames.Message) -> None:
        if item.binary:
            self._error(
                conn,
                ProtocolError(
                    "binary_unsupported", "send JSON in text frames; binary frames are not used"
                ),
                peek_id(item.payload[: frames.PEEK]),
            )
            return
        now = trio.current_time()
        if conn.expires is not None and now >= conn.expires:
            expire(conn)  # the timer has not come round yet: the credential is spent all the same
            return
        wait = conn.messages.take(now)
        if wait:
            self._error(
                conn,
                RateLimited(
                    f"at most {self.limits.messages_per_second:g} messages a second (bursts of "
                    f"{self.limits.messages_burst}); this one was dropped",
                    wait,
                ),
                peek_id(item.payload[: frames.PEEK]),
            )
            return
        message: m.ClientMessage | None = None
        try:
            message = decode(item.payload)
            if isinstance(message, m.Subscribe):
                await self._subscribe(conn, message)
            elif isinstance(message, m.Command):
                await self._command(conn, message)
            elif isinstance(message, m.Unsubscribe):
                self._unsubscribe(conn, message)
            elif isinstance(message, m.DocOp):
                await self._doc_op(conn, message)
            elif isinstance(message, m.SetPresence):
                await self._presence(conn, message)
            elif isinstance(message, m.Ping):
                conn.send(m.Pong(id=message.id))
            else:
                await self._hello(conn, message)
        except Exception as exc:  # every refusal; our bugs are logged and answered too
            if not isinstance(exc, PeerError):
                what = type(message).__name__ if message is not None else "a message"
                log.exception("failed to handle %s from %s", what, conn.peer)
            self._error(conn, exc, message.id if message is not None else None)

    async def _hello(self, conn: Connection, message: m.Hello) -> None:
        if conn.greeted:
            raise ProtocolError(
                "bad_state", "hello was already sent on this connection", id=message.id
            )
        if message.token is not None:
            conn.principal = await self.auth.verify(message.token)
            if conn.principal.expires_at is not None:
                left = (conn.principal.expires_at - datetime.now(UTC)).total_seconds()
                conn.expires = trio.current_time() + left
                self.timers.expire_at(conn)
        conn.greeted = True
        principal = conn.principal
        conn.send(
            m.Welcome(
                server=self.server_name,
                heartbeat_ms=self.limits.heartbeat_ms,
                role=None if principal is None or principal.role is None else str(principal.role),
                org=None if principal is None else principal.org,
                kind=None if principal is None else principal.kind,
                subject=None if principal is None else principal.subject,
                id=message.id,
                limits={
                    "max_message": self.limits.max_message,
                    "room_max_insert": self.limits.room_max_insert,
                    "room_max_components": self.limits.room_max_components,
                },
            )
        )

    async def _room(
        self, conn: Connection, key: str, action: Action, request_id: m.RequestId
    ) -> RoomDoor:
        """A room the connection's principal may ``action``; to others it does not exist."""
        principal = conn.principal
        if principal is None:
            raise AuthError("rooms need a token: send hello with one first")
        try:
            handle = await self.registry.reach_room(key)
        except DomainError:
            handle = None
        if handle is None or not principal.may(Action.READ, handle.org):
            raise ProtocolError("unknown_topic", f"no room {key!r}", id=request_id, field="room")
        authorize(principal, action, handle.org)  # a member whose role is too low learns why
        return handle

    async def _subscribe(self, conn: Connection, message: m.Subscribe) -> None:
        topic = parse_topic(message.topic, id=message.id)
        name = str(topic)
        if conn.membership(name) is not None:
            raise ProtocolError(
                "already_subscribed", f"already subscribed to {name}", id=message.id
            )
        if len(conn.memberships) >= MAX_TOPICS:
            raise ProtocolError(
                "too_many_subscriptions",
                f"at most {MAX_TOPICS} topics per connection",
                id=message.id,
            )
        access = TOPICS[topic.kind]
        if topic.kind == "room":
            assert access.action is not None
            room = await self._room(conn, topic.key, access.action, message.id)
            assert conn.principal is not None
            await room.put(
                Join(
                    conn,
                    message.id,
                    message.since,
                    message.client_id or new_client_id(),
                    message.name or conn.principal.subject,
                    str(conn.principal.role_in(room.org)),
                    conn.principal.may(_action("doc.op"), room.org),
                )
            )
            return
        if topic.kind == "probe":
            self._probe_region(conn, topic.key, message.id)
            self._probes().probe_join(conn, topic.key, message.since, message.id)
            return
        if access.action is not None:
            authorize(conn.principal, access.action, topic.key)
        try:
            handle = await self.registry.org(topic.key)
        except DomainError:
            raise ProtocolError(
                "unknown_topic", f"no organization {topic.key!r}", id=message.id, field="topic"
            ) from None
        if conn.state is State.OPEN and conn.membership(name) is None:
            handle.join(conn, topic.kind, message.since, message.id)

    def _unsubscribe(self, conn: Connection, message: m.Unsubscribe) -> None:
        if not conn.leave(message.topic):
            raise ProtocolError(
                "not_subscribed", f"not subscribed to {message.topic}", id=message.id
            )
        conn.send(m.Ack(id=message.id, topic=message.topic))

    async def _command(self, conn: Connection, message: m.Command) -> None:
        if message.id is None:
            raise ProtocolError("invalid_field", "a command needs an id", field="id")
        topic = parse_topic(message.topic, id=message.id)
        if topic.kind == "probe":
            await self._probe_report(conn, topic.key, message)
            return
        if topic.kind != "org":
            raise ProtocolError(
                "invalid_field",
                "commands are sent to org:<org> topics (and probes' reports to probe:<region>)",
                id=message.id,
                field="topic",
            )
        spec = SPECS.get(message.name)
        if spec is not None:  # an unknown name is refused by parse_command, naming the known
            authorize(conn.principal, spec.action, topic.key)
        try:
            command = parse_command(message.name, message.data)
        except ValidationError as exc:
            raise ProtocolError(
                "invalid_field", exc.message, id=message.id, field=exc.field
            ) from None
        assert conn.principal is not None
        # The same bound as a REST write's: past it the caller hears outcome_unknown.
        reply = FrameReply(conn, message.id, trio.current_time() + self.limits.database_seconds)
        self.timers.at(reply.deadline, reply.expire)
        who = conn.principal
        receipt = None
        if message.idempotency_key is not None:
            asked = fingerprint(topic.key, message.name, given(command))
            receipt = Receipt(scope_of(who.kind, who.id), message.idempotency_key, asked)
        await self.registry.submit(
            topic.key, command, who.subject, reply, Origin.of(who, conn.address), receipt
        )

    def _probe_region(self, conn: Connection, region: str, request_id: m.RequestId) -> None:
        """Only a probe of ``region`` (or a server-wide operator) speaks for it."""
        who = conn.principal
        if who is None:
            raise AuthError("probe topics need a probe token: send hello with one first")
        if not (who.server_admin or (who.kind == "probe" and who.id == region)):
            raise ProtocolError(
                "forbidden",
                f"{who.subject} may not act as a probe of region {region!r}",
                id=request_id,
                field="topic",
            )
        if self.monitoring is None:
            raise ProtocolError("unavailable", "monitoring is not running", id=request_id)

    def _probes(self) -> ProbeTopics:
        assert self.monitoring is not None  # checked by _probe_region
        return self.monitoring

    async def _probe_report(self, conn: Connection, region: str, message: m.Command) -> None:
        self._probe_region(conn, region, message.id)
        if message.name != "probe.report":
            raise ProtocolError(
                "invalid_field",
                f"a probe topic takes probe.report, not {message.name!r}",
                id=message.id,
                field="name",
            )
        try:
            result = await self._probes().probe_report(region, message.data)
        except ValidationError as exc:
            raise ProtocolError(
                "invalid_field", exc.message, id=message.id, field=exc.field
            ) from None
        conn.send(m.Ack(id=message.id, result=result))

    async def _joined_room(
        self, conn: Connection, key: str, *, edit: bool, request_id: m.RequestId
    ) -> tuple[RoomDoor, str]:
        """The room (and the connection's client id in it) for an edit or a presence.

        What was learnt at join is kept on the connection, so this costs no lookup.
        """
        membership = conn.membership(f"room:{key}")
        if membership is None or membership.room is None:
            raise ProtocolError(
                "not_subscribed", f"subscribe to room:{key} first", id=request_id, field="room"
            )
        if conn.edits.take(trio.current_time()):
            raise ProtocolError(
                "rate_limited",
                f"at most {self.limits.edits_per_second:g} edits a second (bursts of "
                f"{self.limits.edits_burst}); this one was dropped",
                id=request_id,
            )
        if edit and not membership.may_edit:
            raise Forbidden("editing a room needs the role responder or higher")
        if membership.room.stopping:  # shutting down: the next actor, if any
            membership.room = await self.registry.reach_room(key)
        return membership.room, membership.client_id

    async def _doc_op(self, conn: Connection, message: m.DocOp) -> None:
        if message.id is None:
            raise ProtocolError("invalid_field", "doc.op needs an id", field="id")
        room, client_id = await self._joined_room(
            conn, message.room, edit=True, request_id=message.id
        )
        try:
            op = validate(message.op, room_limits(self.limits))
        except RoomError as exc:
            raise ProtocolError(exc.code, exc.message, id=message.id, field="op") from None
        assert conn.principal is not None
        await room.put(
            OpRequest(
                conn,
                message.id,
                client_id,
                message.client_op_id,
                message.rev,
                op,
                conn.principal.subject,
            )
        )

    async def _presence(self, conn: Connection, message: m.SetPresence) -> None:
        room, _ = await self._joined_room(conn, message.room, edit=False, request_id=message.id)
        selection = message.selection
        await room.put(
            PresenceUpdate(
                conn,
                message.id,
                message.rev,
                None
                if selection is None or selection is MISSING
                else Selection(selection.anchor, selection.head),
                selection is None,
                None if message.status is None else message.status.value,
            )
        )


def expire(conn: Connection) -> None:
    conn.close(frames.CLOSE_REVOKED, "the credential expired; renew it and reconnect")


class Timers:
    """Callbacks at trio times, for many connections, from one task: a heap of
    deadlines, woken early when a sooner one comes. What a callback holds is
    kept until its time (connections are held weakly by their expiry)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = trio.Event()

    def at(self, deadline: float, callback: Callable[[], None]) -> None:
        if not self._heap or deadline < self._heap[0][0]:
            self._wake.set()
        heapq.heappush(self._heap, (deadline, next(self._order), callback))

    def expire_at(self, conn: Connection) -> None:
        """Close ``conn`` (4003) when its credential expires."""
        assert conn.expires is not None
        ref = weakref.ref(conn)

        def due() -> None:
            if (found := ref()) is not None:
                expire(found)

        self.at(conn.expires, due)

    async def run(self) -> None:
        while True:
            now = trio.current_time()
            while self._heap and self._heap[0][0] <= now:
                _, _, callback = heapq.heappop(self._heap)
                callback()
            with trio.move_on_at(self._heap[0][0] if self._heap else math.inf):
                await self._wake.wait()
            self._wake = trio.Event()


def _action(message: str) -> Action:
    action = MESSAGES[message].action
    assert action is not None
    return action


def new_client_id() -> str:
    return secrets.token_urlsafe(12)
