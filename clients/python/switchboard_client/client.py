"""The connection: one WebSocket, kept alive, resumed without gaps.

One task owns the socket. It connects, says ``hello``, resubscribes every
subscription from the last ``seq`` it delivered, then reads: replies go to
the request waiting for them, events to their subscription. When the socket
dies it waits (exponential backoff with full jitter, capped) and does it all
again, for as long as the client is open, unless ``max_attempts`` says
otherwise or retrying cannot help (a refused or revoked token, a URL the
server does not serve). Then the client *gives up*: every subscription and
room iterator, every waiting call and every later one raises the error that
says why.

A subscription sees every event once, in order: after a reconnect the server
replays what was missed (``since``), and anything at or below the last
delivered ``seq`` is dropped. If the server no longer has the events missed,
the subscription yields a :class:`Resync` with a fresh snapshot instead.

Every wait is bounded: :func:`connect` returns or raises within
``connect_timeout``, and a call within ``request_timeout`` (reconnecting
included). A call that was sent and not answered raises
:class:`~switchboard_client.errors.OutcomeUnknown`; one that could not be sent
raises :class:`~switchboard_client.errors.ConnectionLost`. Room edits need no
such care: they carry ids, and the server recognizes resent ones.

It runs on asyncio and on trio, through AnyIO.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import itertools
import logging
import math
import random
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import anyio.abc
import orjson

from . import _ws
from ._commands import CommandMethods
from .errors import (
    ConnectionLost,
    Forbidden,
    InternalError,
    OutcomeUnknown,
    RateLimited,
    SwitchboardError,
    Unauthorized,
    Unavailable,
    error_class,
    error_from,
)

if TYPE_CHECKING:
    from .room import Room
    from .types import ProbeReport, ProbeResult

log = logging.getLogger("switchboard_client")

T = TypeVar("T")

CLIENT_NAME = "switchboard-client/0.2"


class State(enum.Enum):
    """Where the connection is: see :attr:`Client.state`."""

    CONNECTING = "connecting"  # the first connection is being made
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # lost: waiting, or trying again
    CLOSED = "closed"  # closed by the caller, or given up (see Client.fatal)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a topic: ``name`` (``service.updated``...), ``data``, ``seq``.

    ``data`` is the event's JSON object; :mod:`switchboard_client.types` has
    a TypedDict for each event's data (``ServiceUpdated``...).
    """

    topic: str
    seq: int
    name: str
    data: Any
    at: str | None = None


@dataclass(frozen=True, slots=True)
class Resync:
    """The events missed while away are gone: here is the state now instead."""

    topic: str
    seq: int
    snapshot: Any


@dataclass(slots=True)
class Backoff:
    """Waits between connection attempts: ``base * 2**n``, capped, with full jitter.

    ``max_attempts``: how many attempts in a row may fail (counting from the
    loss of a connection, or from the first attempt) before the client gives
    up; ``None`` never gives up, ``0`` gives up as soon as a connection is lost.
    """

    base: float = 0.1
    cap: float = 10.0
    max_attempts: int | None = None

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt ``attempt`` (0 for the first after a loss)."""
        return rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's limits the client keeps under (room operations are split
    and composed to fit). Taken from the ``welcome`` when the server states
    them (``limits``), else these defaults, which are the server's own; given
    to :func:`connect`, they stand whatever the server says."""

    max_message: int = 64 * 1024  # bytes in one message to the server
    room_max_insert: int = 16_000  # code points one room operation may insert
    room_max_components: int = 10_000  # components in one room operation

    @classmethod
    def from_welcome(cls, welcome: dict[str, Any], default: Limits) -> Limits:
        given = welcome.get("limits")
        if not isinstance(given, dict):
            return default
        values = {
            name: given[name]
            for name in ("max_message", "room_max_insert", "room_max_components")
            if isinstance(given.get(name), int) and given[name] > 0
        }
        return cls(**{**_fields(default), **values})


def _fields(limits: Limits) -> dict[str, int]:
    return {
        "max_message": limits.max_message,
        "room_max_insert": limits.room_max_insert,
        "room_max_components": limits.room_max_components,
    }


class _Queue(Generic[T]):
    """What an iterator has yet to yield, then how it ends (with an error, or not)."""

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._wake = anyio.Event()
        self.ended = False
        self.error: SwitchboardError | None = None

    def put(self, item: T) -> None:
        if not self.ended:
            self._items.append(item)
            self._wake.set()

    def end(self, error: SwitchboardError | None = None) -> None:
        if not self.ended:
            self.ended = True
            self.error = error
            self._wake.set()

    async def get(self) -> T:
        """The next item; at the end, the error it ended with or StopAsyncIteration."""
        while True:
            if self._items:
                return self._items.popleft()
            if self.ended:
                if self.error is not None:
                    raise _again(self.error)
                raise StopAsyncIteration
            if self._wake.is_set():
                self._wake = anyio.Event()
            await self._wake.wait()


def _again(error: SwitchboardError) -> SwitchboardError:
    """A fresh copy of an error that several waiters raise."""
    fresh = copy.copy(error)
    fresh.__traceback__ = None
    return fresh


class Subscription:
    """Events of one topic, in order, each once: ``async for event in sub``.

    ``snapshot`` is the state when subscribed; ``seq`` the last event delivered.
    Iteration ends when unsubscribed or the client is closed, and raises the
    client's error if it gives up (or the server's, if the topic is refused
    on a resubscription).
    """

    def __init__(self, client: Client, topic: str, since: int | None) -> None:
        self.client = client
        self.topic = topic
        self.seq = since  # the last seq delivered (None: not yet subscribed)
        self.snapshot: Any = None
        self._confirmed = False  # the server answered: resubscribe it after a reconnect
        self._queue: _Queue[Event | Resync] = _Queue()

    def _deliver(self, item: Event | Resync) -> None:
        if isinstance(item, Event):
            if self.seq is not None and item.seq <= self.seq:
                return  # seen before the reconnect
            self.seq = item.seq
        self._queue.put(item)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event | Resync:
        return await self._queue.get()

    async def next(self) -> Event | Resync:
        """The next event. It waits as long as it takes: bound it with
        ``anyio.fail_after`` (or ``trio.fail_after``)."""
        return await self._queue.get()

    async def unsubscribe(self) -> None:
        """Stop receiving: iteration ends after what already arrived."""
        if self.client._subscriptions.get(self.topic) is self:
            del self.client._subscriptions[self.topic]
        self._queue.end()
        if self._confirmed and self.client.state is State.CONNECTED:
            # Gone, or the connection with it, the server forgot it either way.
            with contextlib.suppress(SwitchboardError):
                await self.client._request({"type": "unsubscribe", "topic": self.topic})


@dataclass
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    answer: dict[str, Any] | None = None
    error: SwitchboardError | None = None
    # Run by the reader as the answer comes, before it reads anything else.
    on_answer: Callable[[dict[str, Any]], None] | None = None


class Client(CommandMethods):
    """A connection to a Switchboard server that keeps itself alive; use :func:`connect`.

    Commands are methods (``client.service_update("demo", service="API",
    status="major_outage")``, see :class:`~switchboard_client._commands.CommandMethods`)
    or :meth:`command`. Every call raises a
    :class:`~switchboard_client.errors.SwitchboardError`: a subclass per
    refusal (``NotFound``, ``Forbidden``...), ``OutcomeUnknown`` when it was
    sent and no answer came, ``ConnectionLost`` when it could not be sent.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None,
        backoff: Backoff,
        *,
        request_timeout: float = 15.0,
        connect_timeout: float | None = 10.0,
        attempt_timeout: float = 10.0,
        fail_fast: bool = False,
        heartbeat: float | None = None,
        limits: Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        seed: int | None = None,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("give at least one server URL")
        self.url = self.urls[0]  # the one connected to, or tried next
        self.token = token
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.attempt_timeout = attempt_timeout
        self.fail_fast = fail_fast
        self.heartbeat = heartbeat
        self.ssl_context = ssl_context
        self.state = State.CONNECTING
        self.welcome: dict[str, Any] = {}
        self.connects = 0  # how many times a connection was made
        #: Why the last connection attempt failed, or the last connection ended.
        self.last_error: SwitchboardError | None = None
        self._limits_given = limits is not None  # (given: they stand, whatever the server says)
        self._default_limits = limits or Limits()
        self.limits = self._default_limits
        self._rng = random.Random(seed)
        self._ws: _ws.WebSocket | None = None
        self._generation = 0  # which connection this is (rooms resend once per connection)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._abandoned: set[int] = set()  # subscribes given up on: undone if they succeed late
        self._subscriptions: dict[str, Subscription] = {}
        self._rooms: dict[str, Room] = {}
        self._state_changed = anyio.Event()
        self._wake_writer = anyio.Event()
        self._closed = False
        self._fatal: SwitchboardError | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    @property
    def fatal(self) -> SwitchboardError | None:
        """The error the client gave up with (None while it has not)."""
        return self._fatal

    # -- the connection's life -------------------------------------------------------

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        failures = 0  # attempts in a row that failed
        started = False
        # For the first connection: connect() returns or raises by then.
        deadline = anyio.current_time() + (
            math.inf if self.connect_timeout is None else self.connect_timeout
        )
        while not self._closed:
            was_connected = False
            ws: _ws.WebSocket | None = None
            error: SwitchboardError | None = None
            fatal = False
            limit = self.attempt_timeout
            if not started:
                limit = max(0.0, min(limit, deadline - anyio.current_time()))
            try:
                with anyio.fail_after(limit):
                    ws = await _ws.open_websocket(
                        self.url,
                        subprotocols=["switchboard.v1"],
                        ssl_context=self.ssl_context,
                    )
                    ws.write_timeout = self.attempt_timeout
                    self._generation += 1
                    self._ws = ws
                    resumed = await self._greet(ws)
                failures = 0
                was_connected = True
                self.connects += 1
                self.last_error = None
                self._set_state(State.CONNECTED)
                if self.connects == 1:
                    log.info(
                        "connected to %s as %s", self.url, self.welcome.get("subject", "anonymous")
                    )
                else:
                    log.info("reconnected to %s; resumed %d topics and rooms", self.url, resumed)
                if not started:
                    started = True
                    task_status.started()
                self._wake_writer.set()
                await self._read(ws)
            except Exception as exc:  # every way a connection ends: sorted below
                error, fatal = self._why(exc, limit)
            finally:
                if ws is not None:
                    await ws.aclose()
                self._ws = None
                if error is None:
                    error = ConnectionLost("connection_lost", "the connection ended")
                self._fail_pending(
                    OutcomeUnknown(
                        "connection_lost",
                        f"the connection was lost after the request was sent ({error.message}):"
                        " it may or may not have been carried out",
                    )
                )
            if self._closed:
                break
            self.last_error = error
            if not was_connected:
                failures += 1
            attempts = self.backoff.max_attempts
            out_of_time = not started and anyio.current_time() >= deadline
            if fatal or out_of_time or (attempts is not None and failures >= attempts):
                self._give_up(error, failures, fatal=fatal, out_of_time=out_of_time)
                if not started:
                    raise _again(self._fatal or error)
                return
            self._set_state(State.RECONNECTING)
            delay = self.backoff.delay(failures, self._rng)
            if error.retry_after is not None:
                delay = max(delay, min(error.retry_after, 60.0))
            elif error.close_code == 1013:  # the server is full: give it a moment
                delay = max(delay, min(1.0, self.backoff.cap))
            # The next server, if several were given: the one just lost may be down.
            self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
            if not started and anyio.current_time() + delay >= deadline:
                self._give_up(error, failures, fatal=False, out_of_time=True)
                raise _again(self._fatal or error)
            if was_connected:
                log.warning("connection lost: %s; reconnecting in %.2f s", error.message, delay)
            else:
                log.warning(
                    "attempt %d failed: %s; trying %s in %.2f s",
                    failures,
                    error.message,
                    self.url,
                    delay,
                )
            await anyio.sleep(delay)
        self._set_state(State.CLOSED)
        self._end_all(None)

    def _why(self, exc: Exception, limit: float) -> tuple[SwitchboardError, bool]:
        """What ended a connection (or an attempt), and whether retrying is useless."""
        url = self.url
        if isinstance(exc, _ws.HandshakeRejected):
            detail = ""
            try:
                body = orjson.loads(exc.body)
                detail = f": {body['error']['message']}"
            except (orjson.JSONDecodeError, KeyError, TypeError):
                text = exc.body.decode(errors="replace").strip()
                detail = f": {text[:200]}" if text else ""
            message = f"{url} answered HTTP {exc.status} to the WebSocket upgrade{detail}"
            kind: type[SwitchboardError] = ConnectionLost
            if exc.status == 401:
                kind = Unauthorized
            elif exc.status == 403:
                kind = Forbidden
            retryable = exc.status in (408, 425, 429) or exc.status >= 500
            return kind(
                "handshake_refused", message, status=exc.status, retry_after=exc.retry_after
            ), not retryable
        if isinstance(exc, _ws.WebSocketClosed):
            reason = f" ({exc.reason})" if exc.reason else ""
            if exc.code == 4003:
                return Unauthorized(
                    "credentials_revoked",
                    f"the server closed the connection with 4003{reason}: the credentials were"
                    " revoked; connect again with valid ones",
                    close_code=exc.code,
                    close_reason=exc.reason,
                ), True
            if exc.code == 1006:
                message = f"the connection to {url} failed: {exc.reason}"
            else:
                message = f"the server closed the connection with {exc.code}{reason}"
            return ConnectionLost(
                "closed", message, close_code=exc.code, close_reason=exc.reason
            ), False
        if isinstance(exc, TimeoutError):  # an OSError too: first
            return ConnectionLost(
                "timeout", f"{url} did not complete the connection within {limit:g} s"
            ), False
        if isinstance(exc, OSError):
            # AnyIO says "All connection attempts failed"; the last one says why.
            why = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            return ConnectionLost("unreachable", f"cannot connect to {url}: {why}"), False
        if isinstance(exc, SwitchboardError):
            if isinstance(exc, ConnectionLost | Unavailable):  # (a topic between nodes: again)
                return exc, False
            return exc, True  # a refused token, or a greeting the server refuses
        log.exception("the connection failed unexpectedly")
        return InternalError(
            "client_error", f"the client failed: {exc!r} (see the log for where)"
        ), True

    def _give_up(
        self, error: SwitchboardError, failures: int, *, fatal: bool, out_of_time: bool
    ) -> None:
        if fatal:
            final = error
        else:
            why = (
                f"not connected within {self.connect_timeout or 0:g} s"
                if out_of_time
                else f"gave up after {failures} failed attempt{'s' * (failures != 1)}"
            )
            final = type(error)(
                error.code,
                f"{error.message} ({why})",
                error.field,
                status=error.status,
                close_code=error.close_code,
                close_reason=error.close_reason,
                retry_after=error.retry_after,
            )
        self._fatal = final
        log.error("giving up: %s", final.message)
        self._set_state(State.CLOSED)
        self._end_all(final)

    def _end_all(self, error: SwitchboardError | None) -> None:
        """Every iterator and waiting call ends: with ``error``, or quietly when closed."""
        self._fail_pending(error or ConnectionLost("closed", "the client was closed"))
        for sub in list(self._subscriptions.values()):
            sub._queue.end(error)
        for room in list(self._rooms.values()):
            room._close(error)
        self._state_changed.set()

    async def _greet(self, ws: _ws.WebSocket) -> int:
        """hello, then every subscription and room again from where it was: how many."""
        hello: dict[str, Any] = {"type": "hello", "id": "hello", "client": CLIENT_NAME}
        if self.token:
            hello["token"] = self.token
        await ws.send(orjson.dumps(hello).decode())
        welcome = await self._raw_reply(ws, "hello")
        if welcome.get("type") == "error":
            raise error_from(welcome)
        self.welcome = welcome
        if not self._limits_given:
            self.limits = Limits.from_welcome(welcome, self._default_limits)
        resumed = 0
        for topic, sub in list(self._subscriptions.items()):
            if not sub._confirmed:
                continue  # its own subscribe is under way
            message: dict[str, Any] = {"type": "subscribe", "id": f"resub:{topic}", "topic": topic}
            if sub.seq is not None:
                message["since"] = sub.seq
            answer = await self._resubscribe(ws, message)
            if answer is None:
                del self._subscriptions[topic]
                continue
            if not answer.get("resumed"):
                sub.snapshot = answer.get("snapshot")
                sub._deliver(Resync(topic, answer["seq"], answer.get("snapshot")))
                sub.seq = answer["seq"]
            resumed += 1
        for topic, room in list(self._rooms.items()):
            if not room._joined:
                continue
            message = {"type": "subscribe", "id": f"resub:{topic}", "topic": topic}
            message.update(room._resubscribe())
            answer = await self._resubscribe(ws, message)
            if answer is None:
                continue
            await room._resumed(answer, ws, self._generation)
            resumed += 1
        return resumed

    async def _resubscribe(
        self, ws: _ws.WebSocket, message: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A topic's ``subscribed`` again; None if it is refused now (its iterator says why)."""
        topic = message["topic"]
        await ws.send(orjson.dumps(message).decode())
        answer = await self._raw_reply(ws, message["id"])
        if answer.get("type") != "error":
            return answer
        error = error_from(answer)
        if isinstance(error, Unavailable | OutcomeUnknown | RateLimited):
            # For now (a topic moving between nodes, a node slow to answer
            # another): reconnect, and resume it then.
            raise Unavailable(error.code, f"{topic} cannot be resumed yet: {error.message}")
        log.warning("%s: refused on resubscribing: %s", topic, error)
        sub = self._subscriptions.pop(topic, None)
        if sub is not None:
            sub._queue.end(error)
        room = self._rooms.get(topic)
        if room is not None:
            room._close(error)
        return None

    async def _raw_reply(self, ws: _ws.WebSocket, request_id: str) -> dict[str, Any]:
        """During the greeting: read until the answer to ``request_id``; events in between count."""
        while True:
            message = orjson.loads(await ws.receive())
            if message.get("id") == request_id and message.get("type") != "event":
                return message  # type: ignore[no-any-return]
            self._dispatch(message)

    async def _read(self, ws: _ws.WebSocket) -> None:
        heartbeat = self.heartbeat or self.welcome.get("heartbeat_ms", 30_000) / 1000
        while True:
            with anyio.move_on_after(heartbeat) as quiet:
                text = await ws.receive()
            if quiet.cancelled_caught:
                # Nothing for a while: make sure the server is still there.
                mark = ws.received_at
                with anyio.move_on_after(heartbeat) as silent:
                    await ws.ping()
                    text = await ws.receive()
                if silent.cancelled_caught:
                    if ws.received_at != mark:
                        continue  # a pong: it is there
                    raise ConnectionLost(
                        "heartbeat",
                        f"{self.url} did not answer a ping within {heartbeat:g} s",
                    )
            self._dispatch(orjson.loads(text))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        topic = message.get("topic")
        if kind == "event":
            room = self._rooms.get(topic)  # type: ignore[arg-type]
            if room is not None:
                room._event(message)
                return
            sub = self._subscriptions.get(topic)  # type: ignore[arg-type]
            if sub is not None:
                sub._deliver(
                    Event(
                        sub.topic,
                        message["seq"],
                        message["name"],
                        message.get("data"),
                        message.get("at"),
                    )
                )
            return
        if kind == "presence":
            room = self._rooms.get(topic)  # type: ignore[arg-type]
            if room is not None:
                room._presence(message)
            return
        request_id = message.get("id")
        pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if pending is not None:
            pending.answer = message
            if pending.on_answer is not None and kind != "error":
                pending.on_answer(message)
            pending.done.set()
        elif isinstance(request_id, str) and request_id.startswith("op:"):
            room = self._rooms.get("room:" + request_id[3:].rsplit(":", 1)[0])
            if room is not None:
                room._answer(message)
        elif isinstance(request_id, int) and request_id in self._abandoned:
            self._abandoned.discard(request_id)
            if kind == "subscribed" and isinstance(topic, str) and topic not in self._subscriptions:
                # Subscribed after all, too late for the caller: undo it.
                self._spawn(self._send_quietly, {"type": "unsubscribe", "topic": topic})
        elif kind == "error" and request_id is None:
            # An answer to no request that can be named (a message refused before
            # its id could be read): every request has an id, so it can only be
            # about a room operation awaiting its acknowledgement.
            error = error_from(message)
            log.warning("an error no request waits for: %s", error)
            for room in list(self._rooms.values()):
                if room._awaiting_ack():
                    room._close(error)

    def _fail_pending(self, error: SwitchboardError) -> None:
        self._abandoned.clear()  # their answers cannot come any more
        pending, self._pending = self._pending, {}
        for item in pending.values():
            item.error = _again(error)
            item.done.set()

    def _set_state(self, state: State) -> None:
        self.state = state
        self._state_changed.set()
        self._state_changed = anyio.Event()

    async def wait_state(self, state: State) -> None:
        """Wait until :attr:`state` is ``state``. Raises the client's error if it
        gives up (or ConnectionLost if it is closed) while waiting for another
        state; bound it with ``anyio.fail_after``."""
        while self.state is not state:
            if self.state is State.CLOSED:
                if self._fatal is not None:
                    raise _again(self._fatal)
                raise ConnectionLost("closed", "the client is closed")
            await self._state_changed.wait()

    def _spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        if self._tg is not None and not self._closed:
            self._tg.start_soon(fn, *args)

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and self.state is State.CONNECTED:
            with suppress(_ws.WebSocketClosed):
                await ws.send(orjson.dumps(message).decode())

    async def _writer(self) -> None:
        """Sends rooms' operations as soon as there is a connection to send them on."""
        while True:
            await self._wake_writer.wait()
            self._wake_writer = anyio.Event()
            for room in list(self._rooms.values()):
                ws = self._ws
                if ws is None or self.state is not State.CONNECTED:
                    break  # the next connection wakes us
                await room._pump(ws, self._generation)

    def _kick(self) -> None:
        """Something may be ready to send."""
        self._wake_writer.set()

    # -- requests ----------------------------------------------------------------------

    async def _connected_ws(self) -> _ws.WebSocket:
        """The live connection, waiting through a reconnect if there is none now."""
        while True:
            if self._fatal is not None:
                raise _again(self._fatal)
            if self._closed:
                raise ConnectionLost("closed", "the client is closed")
            ws = self._ws
            if ws is not None and self.state is State.CONNECTED and ws.closed is None:
                return ws
            if self.fail_fast:
                why = f": {self.last_error.message}" if self.last_error else ""
                raise ConnectionLost("not_connected", f"not connected to the server{why}")
            await self._state_changed.wait()

    async def _request(
        self,
        message: dict[str, Any],
        *,
        limit: float | None = None,
        resend: bool = False,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Send and wait for the answer, within ``limit`` (``request_timeout``)
        all told. ``resend``: the request is harmless twice (a subscribe on a
        new connection), so a lost connection sends it again on the next.
        ``on_answer`` runs in the reader when a (not error) answer comes."""
        limit = self.request_timeout if limit is None else limit
        sent = False
        request_id = 0
        try:
            with anyio.fail_after(limit):
                while True:
                    ws = await self._connected_ws()
                    request_id = next(self._ids)
                    pending = self._pending[request_id] = _Pending(on_answer=on_answer)
                    sent = False
                    try:
                        await ws.send(orjson.dumps({**message, "id": request_id}).decode())
                    except _ws.WebSocketClosed as exc:
                        self._pending.pop(request_id, None)
                        if not resend:
                            raise OutcomeUnknown(
                                "connection_lost",
                                f"the connection was lost while sending ({exc}): the request"
                                " may or may not have been carried out",
                            ) from None
                        continue
                    sent = True
                    await pending.done.wait()
                    if (
                        resend
                        and isinstance(pending.error, OutcomeUnknown)
                        and pending.error.code == "connection_lost"
                    ):
                        continue
                    break
        except TimeoutError:
            self._pending.pop(request_id, None)
            if sent:
                if message.get("type") == "subscribe":
                    self._abandoned.add(request_id)
                raise OutcomeUnknown(
                    "timeout",
                    f"no answer within {limit:g} s: the request may or may not have been"
                    " carried out",
                ) from None
            why = f" ({self.last_error.message})" if self.last_error else ""
            raise ConnectionLost(
                "timeout", f"not connected within {limit:g} s{why}: nothing was sent"
            ) from None
        if pending.error is not None:
            raise pending.error
        answer = pending.answer or {}
        if answer.get("type") == "error":
            raise error_from(answer)
        return answer

    async def subscribe(
        self, topic: str, *, since: int | None = None, request_timeout: float | None = None
    ) -> Subscription:
        """Events of ``topic`` from now (or after ``since``); the snapshot is ``.snapshot``.

        Topics: ``status:<org>`` (public), ``org:<org>`` (members), ``probe:<region>``.
        """
        if topic in self._subscriptions or topic in self._rooms:
            raise error_class("already_subscribed")(
                "already_subscribed", f"already subscribed to {topic}"
            )
        message: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if since is not None:
            message["since"] = since
        # Registered first: replayed events follow the answer at once.
        sub = self._subscriptions[topic] = Subscription(self, topic, since)

        def subscribed(answer: dict[str, Any]) -> None:
            # In the reader, as the answer comes: before any event after it.
            sub._confirmed = True
            sub.snapshot = answer.get("snapshot")
            if since is None:
                sub.seq = max(sub.seq or 0, answer["seq"])
            elif not answer.get("resumed", True):  # too far back: a snapshot instead
                sub.seq = answer["seq"]
                sub._queue.put(Resync(topic, answer["seq"], sub.snapshot))

        try:
            await self._request(message, limit=request_timeout, resend=True, on_answer=subscribed)
        except BaseException:
            if self._subscriptions.get(topic) is sub:
                del self._subscriptions[topic]
            raise
        return sub

    async def command(
        self,
        org: str,
        name: str,
        /,
        *,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
        **data: Any,
    ) -> Any:
        """Run a command (``service.update``...) and return its result once it is durable.

        With ``idempotency_key``, sending it again (after :class:`OutcomeUnknown`)
        is safe: the server applies it at most once and answers a retry with
        the first result (for 24 hours). ``request_timeout`` overrides the client's.
        """
        message: dict[str, Any] = {
            "type": "command",
            "topic": f"org:{org}",
            "name": name,
            "data": data,
        }
        if idempotency_key is not None:
            message["idempotency_key"] = idempotency_key
        answer = await self._request(message, limit=request_timeout)
        return answer.get("result")

    async def report(
        self,
        region: str,
        results: Sequence[ProbeResult] | Sequence[dict[str, Any]],
        *,
        scheduler: Mapping[str, Any] | None = None,
        request_timeout: float | None = None,
    ) -> ProbeReport:
        """A probe's check results for ``region`` (``switchboard probe`` sends them):
        ``{"accepted": n, "unknown": [monitor ids]}``. Resending a result with the
        same ``id`` is harmless: the server counts it once. ``scheduler``: the
        probe's scheduler figures, now and then (docs/protocol.md, "Probes")."""
        data: dict[str, Any] = {"results": list(results)}
        if scheduler is not None:
            data["scheduler"] = dict(scheduler)
        answer = await self._request(
            {
                "type": "command",
                "topic": f"probe:{region}",
                "name": "probe.report",
                "data": data,
            },
            limit=request_timeout,
        )
        return cast("ProbeReport", answer.get("result"))

    async def join_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        client_id: str | None = None,
        request_timeout: float | None = None,
    ) -> Room:
        """Join a room (an incident's ``notes_room``, or an ad-hoc one): its
        text, revision and participants, kept up to date; edit it with
        :meth:`Room.insert` and friends."""
        from .room import Room

        if f"room:{room_id}" in self._rooms or f"room:{room_id}" in self._subscriptions:
            raise error_class("already_subscribed")(
                "already_subscribed", f"already in room {room_id}"
            )
        room = Room(self, room_id, name, client_id)
        await room._join(request_timeout)
        return room

    async def close(self) -> None:
        """Close the connection; iterators end, waiting calls raise ConnectionLost."""
        if self._closed:
            return
        self._closed = True
        ws = self._ws
        if ws is not None:
            await ws.aclose()
        if self._fatal is None:
            self._set_state(State.CLOSED)
            self._end_all(None)


def _ws_url(url: str) -> str:
    """``http://host:port`` (a server's address) as its WebSocket URL; ValueError if it is none."""
    if url.startswith(("http://", "https://")):
        url = "ws" + url[4:].rstrip("/")
        if not url.endswith("/ws"):
            url += "/ws"
    _ws.split_url(url)  # ValueError for what cannot be a WebSocket URL
    return url


@asynccontextmanager
async def connect(
    url: str | Sequence[str],
    token: str | None = None,
    *,
    backoff: Backoff | None = None,
    connect_timeout: float | None = 10.0,
    attempt_timeout: float = 10.0,
    request_timeout: float = 15.0,
    fail_fast: bool = False,
    heartbeat: float | None = None,
    limits: Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    seed: int | None = None,
) -> AsyncIterator[Client]:
    """``async with connect("ws://host:8080/ws", token=...) as client:``

    ``url`` is the server's WebSocket URL or its HTTP address
    (``http://host:8080``), or a list of them (the nodes of a cluster: each
    reconnection goes to the next, and subscriptions resume there).

    Returns once connected, within ``connect_timeout`` seconds (retrying
    with ``backoff`` meanwhile; ``None``: for as long as the backoff keeps
    trying), or raises the reason it could not
    (:class:`~switchboard_client.errors.ConnectionLost`, or ``Unauthorized``
    for a refused token). Each connection attempt (TCP, TLS, the WebSocket
    handshake, the greeting and the resubscriptions) takes at most
    ``attempt_timeout``. Every call waits at most ``request_timeout`` (a reconnection
    included); with ``fail_fast``, a call made while disconnected raises
    ``ConnectionLost`` at once. ``heartbeat``: seconds of silence before
    the client pings the server (default: the server's heartbeat interval);
    no answer within as long again and the connection is dropped and made
    anew. ``ssl_context`` for ``wss://`` URLs.
    """
    urls = [_ws_url(u) for u in ([url] if isinstance(url, str) else url)]
    client = Client(
        urls,
        token,
        backoff or Backoff(),
        request_timeout=request_timeout,
        connect_timeout=connect_timeout,
        attempt_timeout=attempt_timeout,
        fail_fast=fail_fast,
        heartbeat=heartbeat,
        limits=limits,
        ssl_context=ssl_context,
        seed=seed,
    )
    try:
        async with anyio.create_task_group() as tg:
            client._tg = tg
            await tg.start(client._run)
            tg.start_soon(client._writer)
            try:
                yield client
            finally:
                await client.close()
                tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The connection task's group wraps whatever ends the block: one error
        # reads better unwrapped (a refused token, or the caller's own).
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is group:
            raise
        raise error from None
