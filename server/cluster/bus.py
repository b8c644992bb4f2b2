"""The cluster's bus: NATS through nats-py, bridged into trio by trio-asyncio.

This module is the only place that knows NATS exists: it alone imports
``nats`` (and, for it, trio-asyncio). The rest of the cluster sees
:class:`Bus`, :class:`Subscription`, :class:`Message` and the errors below,
all trio-flavoured. It lives in ``server/cluster/`` because the other cluster
parts (forwarding, membership, re-sync) will sit beside it and use it only
through this API, as the store's modules use ``store.database``.

The API::

    async with Bus.open("nats://127.0.0.1:4222", name="node-1", on_change=...) as bus:
        bus.connected, bus.epoch                   # up now?; reconnections so far
        await bus.publish("org.acme.events", data)
        async with await bus.subscribe("org.*.events", queue=None) as sub:
            async for message in sub:              # Message: subject, data, reply
                await message.respond(b"...")      # when it came as a request
        answer = await bus.request("org.acme.cmd", data, bound=2.0)

(Waits are given as ``bound``, in seconds, as the store's are: the house
lint keeps ``timeout`` parameters off async functions.)

**Bounds.** Nothing waits unbounded. Connecting, all of nats-py's attempts
together, waits ``connect_bound`` (5 s); ``publish``, ``flush``,
``subscribe`` and ``unsubscribe`` wait the bus's ``bound`` (5 s);
``request`` its own ``bound`` (the bus's by default); closing 2 s;
``wait_connected``/``wait_disconnected`` the bound they are given. A
subscription's iterator waits for the next message until the subscription or
the bus is closed, and no longer than ``idle`` seconds when that is given
(then :class:`Idle`); :meth:`Subscription.receive` takes a bound of its own.
A dead connection that still looks open is noticed by nats-py's pings (one
every ``ping_interval``, 10 s; 2 unanswered: within about 30 s); a refused or
reset one at once.

**The errors** join the server's family where a peer may hear of them:
:class:`BusUnavailable` is an ``errors.Unavailable`` (NATS unreachable,
disconnected, closed; or :class:`NoResponders`, nothing subscribes to a
request's subject: nothing was done), :class:`Unanswered` an
``errors.OutcomeUnknown`` (sent, and no answer in time, or the connection was
lost while waiting: the far side may or may not have acted). No responders is
known at once: the NATS server answers such a request itself (status 503, as
nats-py announces ``no_responders`` when it connects) rather than letting it
time out.

**Disconnects.** nats-py reconnects by itself (``reconnect_wait`` between
attempts to one server, 1 s; ``max_reconnects`` attempts, -1 for ever, the
default: the node stays up and reports not ready meanwhile). Once
reconnected it writes the SUB of every subscription again, then does a
PING/PONG, and only then calls us: when ``connected`` turns true, the server
holds those subscriptions again. Messages published while a node was away
are not delivered to it (NATS core is at most once): ``epoch`` counts the
reconnections and ``on_change(connected)`` is called at each change, so that
a node reports not-ready while down and re-syncs from PostgreSQL when back.
Requests waiting for an answer when the connection drops fail at once with
:class:`Unanswered`, since their answers can no longer arrive.

**nats-py's pending buffer.** ``publish`` appends to a client-side buffer
that a flusher task writes out. While disconnected, nats-py keeps buffering
up to ``pending_size`` bytes (2 MiB by default) and sends it all after
reconnecting, raising ``OutboundBufferLimitError`` only once that is full;
while connected, a buffer over ``pending_size`` forces an inline flush whose
wait (``flush_timeout``) is unbounded by default. We connect with
``pending_size=0`` and check the state first: a publish while disconnected
raises :class:`BusUnavailable` at once, nothing is kept for later, and a
node never replays stale messages after a reconnect. What was written in the
moment before a drop was noticed is lost (at most once). While connected,
backpressure is nats-py's flush queue (1,024 waiting flushes) behind the
socket, and the bus's ``bound`` limits it: a publish that cannot be queued in
time raises :class:`Unanswered` (it may still go out). nats-py's ``flush()``
writes its PING ahead of that buffer, so on its own it does not mean "the
server has what came before"; :meth:`Bus.flush` and :meth:`Bus.subscribe`
write the buffer out first (see ``_round_trip``).

**Slow consumers.** nats-py queues each subscription's messages (its
pending limits) for a task that hands them to our callback, which puts them
in the subscription's own buffer: ``buffer`` messages and ``buffer_bytes``
bytes (1,024 and 16 MiB by default; nats-py's limits are set to the same, so
at most twice that is held). A message that does not fit, in either, is
dropped and counted (``dropped``), and the consumer is told where, in order:
after the messages that came before the gap, the next receive raises
:class:`SlowConsumer` (with the count), once per gap; the messages after it
follow. A consumer that sees it has missed messages and must re-sync.

**One trio-asyncio loop or two.** Read from trio-asyncio 0.16's source:
``open_loop()`` makes a new ``TrioEventLoop`` whose callbacks run in a trio
task of its own, and records it in a context variable (``current_loop``)
for the tasks below that block; asyncio's ``get_running_loop`` is patched to
read that variable. Several loops in one ``trio.run`` are a supported design
(trio-asyncio issues #2, #9, #23: independent loops in different parts of
the task tree). The catch is that asyncio objects belong to the loop that
made them: nats-py's client, tasks and futures must only be driven through
the loop they were made on (else "attached to a different loop", issue #117),
so the bus keeps its loop and calls ``loop.run_aio_coroutine`` on it,
never the module-level helpers that use whichever loop is current (a bus
opened inside the store's block makes its own loop current below it; the
store holds its loop explicitly and is not affected). So :meth:`Bus.open`
opens its own loop by default (one more trio task draining asyncio callbacks:
cheap), or takes ``loop=`` to share one, e.g. the store's; a shared loop must
stay open until the bus is closed (open the bus inside that loop's block).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import nats.errors
import trio
import trio_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from ..errors import OutcomeUnknown, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Connecting, all attempts together (seconds).
CONNECT_SECONDS = 5.0
#: publish, flush, subscribe, unsubscribe; and request unless given its own.
OPERATION_SECONDS = 5.0
#: Closing the connection (flushing what is pending) at the end.
CLOSE_SECONDS = 2.0
#: Between reconnection attempts to one server.
RECONNECT_WAIT_SECONDS = 1.0
#: Reconnection attempts per server before giving up; -1: never give up.
MAX_RECONNECTS = -1
#: A PING every this many seconds; 2 unanswered mean the connection is dead.
PING_SECONDS = 10
MAX_OUTSTANDING_PINGS = 2
#: A subscription's buffer, in messages and in bytes.
SUBSCRIPTION_BUFFER = 1024
SUBSCRIPTION_BUFFER_BYTES = 16 * 1024 * 1024


class BusError(Exception):
    """Base of the bus's errors."""


class BusUnavailable(BusError, Unavailable):
    """NATS cannot be reached now (never connected, disconnected, closed):
    nothing was sent, nothing was done."""


class NoResponders(BusUnavailable):
    """A request reached NATS, and nothing subscribes to its subject: nothing
    was done."""


class Unanswered(BusError, OutcomeUnknown):
    """Sent, and no answer within the bound (or the connection was lost while
    waiting for it): the far side may or may not have acted on it."""


class TooLarge(BusError):
    """A payload over the NATS server's ``max_payload`` (1 MiB by default)."""


class Idle(BusError):
    """No message within a subscription's ``idle`` bound (or a receive's timeout)."""


class Closed(BusError):
    """The subscription was closed (unsubscribed, or its bus closed)."""


class SlowConsumer(BusError):
    """A subscription's buffer overflowed: ``dropped`` messages were lost
    here, after the ones received before. Re-sync before trusting what follows."""

    def __init__(self, message: str, dropped: int) -> None:
        super().__init__(message)
        self.dropped = dropped


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """One message received: its subject, payload, and the subject to answer
    on (``""`` when none is expected)."""

    subject: str
    data: bytes
    reply: str
    bus: Bus = field(repr=False, compare=False)

    async def respond(self, payload: bytes) -> None:
        """Answer a request (a publish to its reply subject)."""
        if not self.reply:
            raise BusError(f"a message on {self.subject} expects no answer")
        await self.bus.publish(self.reply, payload)


class Subscription:
    """Messages on a subject (and its wildcards), in order, through a bounded
    buffer. Iterate it (``async for``), or :meth:`receive` one at a time;
    :meth:`unsubscribe` (or leaving ``async with``) ends it."""

    def __init__(
        self,
        bus: Bus,
        subject: str,
        queue: str | None,
        limit: int,
        limit_bytes: int,
        idle: float | None,
    ) -> None:
        self.bus = bus
        self.subject = subject
        self.queue = queue
        self.idle = idle
        self.dropped = 0  # messages lost to a full buffer, in all
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._items: deque[Message | int] = deque()  # an int: that many dropped here
        self._handed = 0  # messages nats-py has handed to _deliver
        self._upstream: deque[list[int]] = deque()  # [after how many handed, dropped]
        self._held = 0
        self._held_bytes = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._end: BusError | None = None
        self._nats: NatsSubscription | None = None

    @property
    def closed(self) -> bool:
        return self._end is not None

    def _deliver(self, message: Message) -> None:
        """Called on the loop (trio's thread) for each message nats-py hands us."""
        if self._end is not None:
            return
        size = len(message.data)
        if self._held >= self._limit or self._held_bytes + size > self._limit_bytes:
            self._gap(1)
        else:
            self._items.append(message)
            self._held += 1
            self._held_bytes += size
        self._handed += 1
        self._place_upstream_gaps()
        self._lot.unpark_all()

    def _dropped_upstream(self, ahead: int) -> None:
        """nats-py dropped a message with ``ahead`` others still queued before it
        (its own buffer, between the socket and our callback, was full): the
        gap goes after those, when they have come through."""
        at = self._handed + ahead
        if self._upstream and self._upstream[-1][0] == at:
            self._upstream[-1][1] += 1
        else:
            self._upstream.append([at, 1])
        self._place_upstream_gaps()
        self._lot.unpark_all()

    def _place_upstream_gaps(self) -> None:
        while self._upstream and self._upstream[0][0] <= self._handed:
            self._gap(self._upstream.popleft()[1])

    def _gap(self, count: int) -> None:
        self.dropped += count
        last = self._items[-1] if self._items else None
        if isinstance(last, int):
            self._items[-1] = last + count
        else:
            self._items.append(count)
            log.warning("the subscription to %s is full: messages are dropped", self.subject)

    def _finish(self, end: BusError) -> None:
        if self._end is None:
            self._end = end
            self._items.clear()
            self._upstream.clear()
            self._held = self._held_bytes = 0
            self._lot.unpark_all()

    async def receive(self, bound: float | None = None) -> Message:
        """The next message. :class:`Idle` after ``bound`` seconds without one
        (``None``: until one comes or the subscription ends); :class:`Closed`
        once unsubscribed or the bus closed; :class:`BusUnavailable` when NATS
        gave up reconnecting; :class:`SlowConsumer` where messages were dropped."""
        with trio.move_on_after(math.inf if bound is None else bound):
            while not self._items:
                if self._end is not None:
                    raise self._end
                await self._lot.park()
            item = self._items.popleft()
            if isinstance(item, int):
                raise SlowConsumer(
                    f"{item} messages on {self.subject} dropped: the subscription's buffer"
                    f" ({self._limit} messages, {self._limit_bytes} bytes) was full",
                    item,
                )
            self._held -= 1
            self._held_bytes -= len(item.data)
            return item
        raise Idle(f"no message on {self.subject} within {bound:g} s")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.receive(self.idle)
        except Closed:
            raise StopAsyncIteration from None

    async def unsubscribe(self) -> None:
        """End the subscription: the iterator stops, buffered messages are
        dropped, and NATS is told (within the bus's bound; while disconnected,
        the interest is simply not renewed). Calling it again does nothing."""
        if self._end is not None:
            return
        self._finish(Closed(f"the subscription to {self.subject} is closed"))
        self.bus._subscriptions.discard(self)
        sub, self._nats = self._nats, None
        if sub is not None and not self.bus._closing:
            try:
                await self.bus._call(
                    _unsubscribe(sub), self.bus.bound, f"unsubscribe {self.subject}"
                )
            except BusError as exc:
                log.debug("unsubscribe %s: %s", self.subject, exc)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.unsubscribe()


async def _round_trip(nc: Client, bound: float) -> None:
    """A PING/PONG after everything written before it: then the NATS server
    holds what was published or subscribed before.

    nats-py's ``flush()`` alone does not promise that: it writes its PING
    straight to the socket, ahead of commands still in the pending buffer
    that its flusher task has not written yet (seen here: a SUB reaching the
    server after the PONG, and a publish from another connection missing
    it). So the pending buffer is written out first (a private call, the
    only way to wait for the flusher; hence nats-py's pinned major version).
    """
    await nc._flush_pending(force_flush=True)
    await nc.flush(timeout=math.ceil(bound))


async def _unsubscribe(sub: NatsSubscription) -> None:
    with contextlib.suppress(nats.errors.BadSubscriptionError, nats.errors.ConnectionClosedError):
        await sub.unsubscribe()  # (else gone already)


class Bus:
    """A connection to NATS. Open it with :meth:`open`."""

    def __init__(
        self,
        loop: Any,
        name: str,
        bound: float,
        on_change: Callable[[bool], None] | None,
    ) -> None:
        self.name = name
        self.bound = bound  # seconds publish, flush, subscribe and request may take
        self.epoch = 0  # reconnections so far: a change means messages may have been missed
        self._loop = loop
        self._on_change = on_change
        self._nc: Client | None = None
        self._up = False
        self._closing = False
        self._changed = trio.Event()  # set (and replaced) at each change of ``connected``
        self._subscriptions: set[Subscription] = set()
        self._requests: set[trio.CancelScope] = set()

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        servers: str | Sequence[str],
        *,
        name: str,
        connect_bound: float = CONNECT_SECONDS,
        bound: float = OPERATION_SECONDS,
        reconnect_wait: float = RECONNECT_WAIT_SECONDS,
        max_reconnects: int = MAX_RECONNECTS,
        ping_interval: float = PING_SECONDS,
        loop: Any = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> AsyncIterator[Self]:
        """Connect to NATS (``servers``: one URL or several; ``name`` is shown
        in NATS's monitoring) and yield the bus; close it at the end.

        Raises :class:`BusUnavailable` if no server accepts within
        ``connect_bound``. ``loop``: a trio-asyncio loop to share (else the
        bus opens its own). ``on_change(connected)`` is called on each
        disconnect and reconnect; it must be quick and not block.
        """
        options: dict[str, Any] = {
            "servers": [servers] if isinstance(servers, str) else list(servers),
            "name": name,
            "connect_timeout": connect_bound,
            "reconnect_time_wait": reconnect_wait,
            "max_reconnect_attempts": max_reconnects,
            "ping_interval": ping_interval,
            "max_outstanding_pings": MAX_OUTSTANDING_PINGS,
            "pending_size": 0,  # never buffer while disconnected (see the module's doc)
            "allow_reconnect": True,
        }
        try:
            if loop is not None:
                async with cls._open_on(loop, options, connect_bound, bound, on_change) as bus:
                    yield bus
            else:
                async with (
                    trio_asyncio.open_loop() as own,
                    cls._open_on(own, options, connect_bound, bound, on_change) as bus,
                ):
                    yield bus
        except BaseExceptionGroup as group:
            # trio-asyncio's nursery wraps whatever ends the block; one error
            # reads better unwrapped (NATS unreachable, say).
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    @classmethod
    @asynccontextmanager
    async def _open_on(
        cls,
        loop: Any,
        options: dict[str, Any],
        connect_bound: float,
        bound: float,
        on_change: Callable[[bool], None] | None,
    ) -> AsyncIterator[Self]:
        bus = cls(loop, options["name"], bound, on_change)
        try:
            try:
                with trio.fail_after(connect_bound):
                    await loop.run_aio_coroutine(bus._connect(options))
            except (trio.TooSlowError, OSError, nats.errors.Error) as exc:
                why = (
                    f"not within {connect_bound:g} s" if isinstance(exc, trio.TooSlowError) else exc
                )
                raise BusUnavailable(
                    f"NATS at {', '.join(options['servers'])} unreachable: {why}"
                ) from exc
            bus._up = True  # connected when open returns; on_change hears what follows
            yield bus
        finally:
            with trio.CancelScope(shield=True):
                await bus._close()

    async def _connect(self, options: dict[str, Any]) -> None:
        """On the loop: make the client and connect it (nats-py retries on its own)."""
        self._nc = Client()
        await self._nc.connect(
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
            **options,
        )

    async def _close(self) -> None:
        self._closing = True
        for sub in list(self._subscriptions):
            sub._finish(Closed(f"the bus is closed; so is the subscription to {sub.subject}"))
        self._subscriptions.clear()
        nc, self._up = self._nc, False
        if nc is not None and not nc.is_closed:
            with trio.move_on_after(CLOSE_SECONDS) as waiting:
                try:
                    await self._loop.run_aio_coroutine(nc.close())
                except Exception as exc:
                    log.debug("closing the NATS connection: %s", exc)
            if waiting.cancelled_caught:
                log.warning("the NATS connection did not close within %g s", CLOSE_SECONDS)

    # -- nats-py's callbacks (coroutines on the loop, in trio's thread) ---------------

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("%s: disconnected from NATS; reconnecting", self.name)
        self._set_up(False)

    async def _on_reconnected(self) -> None:
        self.epoch += 1
        log.warning("%s: reconnected to NATS", self.name)
        self._set_up(True)

    async def _on_closed(self) -> None:
        self._set_up(False)
        if not self._closing:
            log.error("%s: NATS connection closed: no more reconnection attempts", self.name)
            for sub in list(self._subscriptions):
                sub._finish(BusUnavailable("the NATS connection is closed (reconnection gave up)"))

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):
            for sub in self._subscriptions:
                if sub._nats is exc.sub:
                    sub._dropped_upstream(exc.sub.pending_msgs)
            return
        if isinstance(exc, OSError | nats.errors.TimeoutError | nats.errors.StaleConnectionError):
            log.debug("%s: NATS: %r", self.name, exc)  # a reconnection attempt; the state says it
        else:
            log.warning("%s: NATS: %r", self.name, exc)

    def _set_up(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        if not up:
            for scope in self._requests:  # their answers can no longer come
                scope.cancel()
        changed, self._changed = self._changed, trio.Event()
        changed.set()
        if self._on_change is not None and not self._closing:
            try:
                self._on_change(up)
            except Exception:
                log.exception("%s: on_change failed", self.name)

    # -- state ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected to a NATS server (and, after a reconnect, subscribed again).

        It follows nats-py's disconnect and reconnect callbacks, as
        ``on_change`` does; nats-py knows of a drop a moment before it calls
        them, and operations in that moment fail as they would after.
        """
        return self._up

    async def wait_connected(self, bound: float) -> None:
        """Return once connected; :class:`BusUnavailable` if not within ``bound`` seconds."""
        if not await self._wait_for(True, bound):
            raise BusUnavailable(f"NATS not reachable again within {bound:g} s")

    async def wait_disconnected(self, bound: float) -> None:
        """Return once not connected; ``trio.TooSlowError`` if still connected
        after ``bound`` seconds."""
        if not await self._wait_for(False, bound):
            raise trio.TooSlowError(f"still connected to NATS after {bound:g} s")

    async def _wait_for(self, connected: bool, bound: float) -> bool:
        with trio.move_on_after(bound):
            while self.connected != connected:
                await self._changed.wait()
            return True
        return False

    def _client(self, what: str) -> Client:
        if self._closing:
            raise BusUnavailable(f"cannot {what}: the bus is closed")
        if self._nc is None or not self._up or not self._nc.is_connected:
            raise BusUnavailable(f"cannot {what}: not connected to NATS")
        return self._nc

    async def _call(self, work: Coroutine[Any, Any, T], bound: float, what: str) -> T:
        """Run ``work`` on the loop within ``bound`` seconds; nats-py's errors become ours."""
        try:
            with trio.fail_after(bound):
                return cast(T, await self._loop.run_aio_coroutine(work))
        except trio.TooSlowError:
            raise Unanswered(f"{what}: no answer within {bound:g} s") from None
        except nats.errors.NoRespondersError:
            raise NoResponders(f"{what}: nothing subscribes to it") from None
        except nats.errors.TimeoutError:
            raise Unanswered(f"{what}: no answer within {bound:g} s") from None
        except nats.errors.MaxPayloadError:
            raise TooLarge(f"{what}: the payload is over the NATS server's max_payload") from None
        except (
            nats.errors.OutboundBufferLimitError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionDrainingError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.StaleConnectionError,
            OSError,
        ) as exc:
            raise BusUnavailable(f"{what}: not connected to NATS ({exc!r})") from exc

    # -- the operations -----------------------------------------------------------------

    async def publish(self, subject: str, payload: bytes) -> None:
        """Send ``payload`` to whoever subscribes to ``subject`` (at most once).

        :class:`BusUnavailable` at once while disconnected (nothing is
        buffered for later); :class:`Unanswered` if it could not be handed to
        the connection within the bus's bound (it may still go out).
        """
        nc = self._client(f"publish to {subject}")
        await self._call(nc.publish(subject, payload), self.bound, f"publish to {subject}")

    async def flush(self, bound: float | None = None) -> None:
        """Return once the NATS server has everything published before (a
        PING/PONG). :class:`BusUnavailable` while disconnected,
        :class:`Unanswered` without a PONG in time."""
        bound = self.bound if bound is None else bound
        nc = self._client("flush")
        await self._call(_round_trip(nc, bound), bound, "flush")

    async def request(self, subject: str, payload: bytes, bound: float | None = None) -> bytes:
        """Send a request and return the first answer's payload.

        :class:`NoResponders` (an ``Unavailable``) at once if nothing
        subscribes to ``subject``, :class:`BusUnavailable` while disconnected:
        in both, nothing was done. :class:`Unanswered` (an ``OutcomeUnknown``)
        when no answer comes within ``bound`` seconds (the bus's by default) or the
        connection drops while waiting: it may have been acted on.
        """
        bound = self.bound if bound is None else bound
        what = f"request to {subject}"
        nc = self._client(what)
        scope = trio.CancelScope()
        self._requests.add(scope)
        try:
            with scope:
                answer: Msg = await self._call(
                    nc.request(subject, payload, timeout=bound), bound, what
                )
                return answer.data
        finally:
            self._requests.discard(scope)
        raise Unanswered(f"{what}: the connection to NATS was lost while waiting for the answer")

    async def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        *,
        buffer: int = SUBSCRIPTION_BUFFER,
        buffer_bytes: int = SUBSCRIPTION_BUFFER_BYTES,
        idle: float | None = None,
    ) -> Subscription:
        """Subscribe to ``subject`` (wildcards ``*`` and ``>`` allowed). With a
        ``queue``, each message goes to one member of that queue group only.

        Returns once the NATS server holds the subscription (a round trip), so
        that what is published after reaches it. ``buffer``/``buffer_bytes``
        bound what waits for the consumer (see :class:`SlowConsumer`);
        ``idle`` bounds the iterator's wait for a message (see :class:`Idle`).
        :class:`BusUnavailable` if NATS cannot take it now.
        """
        what = f"subscribe to {subject}"
        nc = self._client(what)
        sub = Subscription(self, subject, queue, buffer, buffer_bytes, idle)

        async def deliver(msg: Msg) -> None:
            sub._deliver(Message(msg.subject, msg.data, msg.reply, self))

        async def start() -> None:
            sub._nats = await nc.subscribe(
                subject,
                queue=queue or "",
                cb=deliver,
                pending_msgs_limit=buffer,
                pending_bytes_limit=buffer_bytes,
            )
            await _round_trip(nc, self.bound)

        self._subscriptions.add(sub)
        try:
            await self._call(start(), self.bound, what)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await sub.unsubscribe()
            if isinstance(exc, BusError) and not isinstance(exc, BusUnavailable):
                raise BusUnavailable(f"{what}: {exc}") from exc  # it is not held: nothing done
            raise
        return sub
