"""The connection: one WebSocket, kept alive, resumed without gaps.

One task owns the socket. It connects, says ``hello``, resubscribes every
subscription from the last ``seq`` it delivered, then reads: replies go to
the request waiting for them, events to their subscription. When the socket
dies it waits (exponential backoff with full jitter, capped) and does it all
again, for as long as the client is open unless ``max_attempts`` says
otherwise.

A subscription sees every event once, in order: after a reconnect the server
replays what was missed (``since``), and anything at or below the last
delivered ``seq`` is dropped. If the server no longer has the events missed,
the subscription yields a :class:`Resync` with a fresh snapshot instead.

A command whose answer was lost with the connection raises
:class:`ConnectionLost`: whether it happened is unknown. Room edits need no
such care: they carry ids, and the server recognizes resent ones.
"""

from __future__ import annotations

import enum
import itertools
import math
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import trio
import trio_websocket

from .errors import ConnectionLost, SwitchboardError, error_from

if TYPE_CHECKING:
    from .room import Room


class State(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a topic: ``name`` (``service.updated``...), ``data``, ``seq``."""

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
    """Waits between reconnects: ``base * 2**n``, capped, with full jitter."""

    base: float = 0.1
    cap: float = 10.0
    max_attempts: int | None = None  # None: never give up

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


class Subscription:
    """Events of one topic, in order, each once; iterate it."""

    def __init__(self, client: Client, topic: str, since: int | None) -> None:
        self.client = client
        self.topic = topic
        self.seq = since  # the last seq delivered (None: not yet subscribed)
        self.snapshot: Any = None
        self._send, self._receive = trio.open_memory_channel[Event | Resync](math.inf)

    def _deliver(self, item: Event | Resync) -> None:
        if isinstance(item, Event):
            if self.seq is not None and item.seq <= self.seq:
                return  # seen before the reconnect
            self.seq = item.seq
        self._send.send_nowait(item)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event | Resync:
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def next(self) -> Event | Resync:
        """The next event (wrap in ``trio.fail_after`` to bound the wait)."""
        return await self._receive.receive()

    async def unsubscribe(self) -> None:
        self.client._subscriptions.pop(self.topic, None)
        self._send.close()
        if self.client.state is State.CONNECTED:
            await self.client._request({"type": "unsubscribe", "topic": self.topic})


@dataclass
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    answer: dict[str, Any] | None = None
    error: BaseException | None = None


class Client:
    """Use :func:`connect`. Methods raise :class:`SwitchboardError` (with the
    server's ``code``) when the server refuses, :class:`ConnectionLost` when the
    answer was lost with the connection."""

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None,
        backoff: Backoff,
        *,
        request_timeout: float = 15.0,
        seed: int | None = None,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("give at least one server URL")
        self.url = self.urls[0]  # the one connected to, or tried next
        self.token = token
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.state = State.CONNECTING
        self.welcome: dict[str, Any] = {}
        self.connects = 0  # how many times a connection was made
        self._rng = random.Random(seed)
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._rooms: dict[str, Room] = {}
        self._state_changed = trio.Event()
        self._closed = False
        self._fatal: BaseException | None = None

    # -- the connection's life -------------------------------------------------------

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        attempt = 0
        started = False
        while not self._closed:
            try:
                async with trio_websocket.open_websocket_url(
                    self.url, message_queue_size=1024, connect_timeout=10
                ) as ws:
                    try:
                        self._ws = ws
                        await self._greet(ws)
                        attempt = 0
                        self.connects += 1
                        self._set_state(State.CONNECTED)
                        if not started:
                            started = True
                            task_status.started()
                        await self._read(ws)
                    finally:
                        # When the server closes first, trio-websocket stops reading
                        # without closing its TCP stream; close it so none leaks.
                        with trio.CancelScope(shield=True):
                            await ws._stream.aclose()
            except (
                OSError,
                trio_websocket.HandshakeError,
                trio_websocket.ConnectionClosed,
                trio.TooSlowError,
            ) as exc:
                if isinstance(exc, trio_websocket.ConnectionRejected) and exc.status_code in (
                    401,
                    403,
                ):
                    self._fatal = SwitchboardError(
                        "unauthorized", "the server refused the connection"
                    )
            except SwitchboardError as exc:
                if exc.code in ("unauthorized", "forbidden"):
                    self._fatal = exc  # retrying will not help
                elif exc.code != "unavailable":  # (a topic between nodes: try again)
                    raise
            finally:
                self._ws = None
                self._fail_pending(ConnectionLost("the connection was lost before the answer came"))
            if self._closed:
                break
            if self._fatal is not None or (
                self.backoff.max_attempts is not None and attempt >= self.backoff.max_attempts
            ):
                self._fatal = self._fatal or ConnectionLost(f"gave up after {attempt} attempts")
                self._set_state(State.CLOSED)
                if not started:
                    raise self._fatal
                return
            self._set_state(State.RECONNECTING)
            # The next server, if several were given: the one just lost may be down.
            self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
            await trio.sleep(self.backoff.delay(attempt, self._rng))
            attempt += 1
        self._set_state(State.CLOSED)

    async def _greet(self, ws: trio_websocket.WebSocketConnection) -> None:
        """hello, then every subscription again from where it was."""
        hello: dict[str, Any] = {"type": "hello", "id": "hello", "client": "switchboard-client/0.1"}
        if self.token:
            hello["token"] = self.token
        await ws.send_message(orjson.dumps(hello).decode())
        welcome = await self._raw_reply(ws, "hello")
        if welcome.get("type") == "error":
            raise error_from(welcome)
        self.welcome = welcome
        for topic, sub in list(self._subscriptions.items()):
            room = self._rooms.get(topic)
            message: dict[str, Any] = {"type": "subscribe", "id": f"resub:{topic}", "topic": topic}
            if room is not None:
                message.update(room._resubscribe())
            elif sub.seq is not None:
                message["since"] = sub.seq
            await ws.send_message(orjson.dumps(message).decode())
            answer = await self._raw_reply(ws, f"resub:{topic}")
            if answer.get("type") == "error" and answer.get("code") == "unavailable":
                raise error_from(answer)  # (moving between nodes): reconnect, resume later
            if answer.get("type") == "error":
                sub._send.close()
                self._subscriptions.pop(topic, None)
                continue
            if room is not None:
                await room._resumed(answer, ws)
            elif not answer.get("resumed"):
                sub.snapshot = answer.get("snapshot")
                sub._deliver(Resync(topic, answer["seq"], answer.get("snapshot")))
                sub.seq = answer["seq"]

    async def _raw_reply(
        self, ws: trio_websocket.WebSocketConnection, request_id: str
    ) -> dict[str, Any]:
        """During the greeting: read until the answer to ``request_id``; events in between count."""
        with trio.fail_after(self.request_timeout):
            while True:
                message = orjson.loads(await ws.get_message())
                if message.get("id") == request_id and message.get("type") != "event":
                    return message  # type: ignore[no-any-return]
                await self._dispatch(message)

    async def _read(self, ws: trio_websocket.WebSocketConnection) -> None:
        heartbeat = self.welcome.get("heartbeat_ms", 30_000) / 1000
        while True:
            with trio.move_on_after(heartbeat) as quiet:
                message = orjson.loads(await ws.get_message())
            if quiet.cancelled_caught:
                # Nothing for a while: make sure the server is still there.
                with trio.fail_after(heartbeat):
                    await ws.ping()
                continue
            await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        topic = message.get("topic")
        if kind == "event":
            room = self._rooms.get(topic)  # type: ignore[arg-type]
            if room is not None:
                await room._event(message)
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
            pending.done.set()
        elif isinstance(request_id, str) and request_id.startswith("op:"):
            room = self._rooms.get("room:" + request_id[3:].rsplit(":", 1)[0])
            if room is not None:
                await room._answer(message)

    def _fail_pending(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            item.error = error
            item.done.set()

    def _set_state(self, state: State) -> None:
        self.state = state
        self._state_changed.set()
        self._state_changed = trio.Event()

    async def wait_state(self, state: State) -> None:
        while self.state is not state:
            await self._state_changed.wait()

    # -- requests ----------------------------------------------------------------------

    async def _connected_ws(self) -> trio_websocket.WebSocketConnection:
        """The live connection, waiting through a reconnect if there is none now."""
        while True:
            if self._fatal is not None or self._closed:
                raise self._fatal or ConnectionLost("the client is closed")
            ws = self._ws
            if ws is not None and self.state is State.CONNECTED and ws.closed is None:
                return ws
            await self._state_changed.wait()

    async def _send(self, message: dict[str, Any]) -> None:
        ws = await self._connected_ws()
        try:
            await ws.send_message(orjson.dumps(message).decode())
        except trio_websocket.ConnectionClosed:
            raise ConnectionLost("the connection was lost while sending") from None

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        ws = await self._connected_ws()
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending()
        try:
            await ws.send_message(orjson.dumps({**message, "id": request_id}).decode())
        except trio_websocket.ConnectionClosed:
            self._pending.pop(request_id, None)
            raise ConnectionLost("the connection was lost while sending") from None
        with trio.fail_after(self.request_timeout):
            await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        answer = pending.answer or {}
        if answer.get("type") == "error":
            raise error_from(answer)
        return answer

    async def subscribe(self, topic: str, *, since: int | None = None) -> Subscription:
        """Events of ``topic`` from now (or after ``since``); the snapshot is ``.snapshot``."""
        if topic in self._subscriptions:
            raise SwitchboardError("already_subscribed", f"already subscribed to {topic}")
        message: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if since is not None:
            message["since"] = since
        # Registered first: replayed events follow the answer at once.
        sub = self._subscriptions[topic] = Subscription(self, topic, since)
        try:
            answer = await self._request(message)
        except BaseException:
            self._subscriptions.pop(topic, None)
            raise
        sub.snapshot = answer.get("snapshot")
        if since is None:
            sub.seq = max(sub.seq or 0, answer["seq"])
        elif not answer.get("resumed", True):  # too far back: a snapshot instead
            sub.seq = answer["seq"]
            sub._deliver(Resync(topic, answer["seq"], sub.snapshot))
        return sub

    async def command(
        self, org: str, name: str, /, *, idempotency_key: str | None = None, **data: Any
    ) -> Any:
        """Run a command (``service.update``...) and return its result once it is durable.

        With ``idempotency_key``, sending it again (after :class:`OutcomeUnknown`
        or :class:`ConnectionLost`) is safe: the server applies it at most once
        and answers a retry with the first result (for 24 hours).
        """
        message: dict[str, Any] = {
            "type": "command",
            "topic": f"org:{org}",
            "name": name,
            "data": data,
        }
        if idempotency_key is not None:
            message["idempotency_key"] = idempotency_key
        answer = await self._request(message)
        return answer.get("result")

    async def report(self, region: str, results: list[dict[str, Any]]) -> Any:
        """A probe's check results for ``region`` (``switchboard probe`` sends them):
        ``{"accepted": n, "unknown": [monitor ids]}``. Resending a result with the
        same ``id`` is harmless: the server counts it once."""
        answer = await self._request(
            {
                "type": "command",
                "topic": f"probe:{region}",
                "name": "probe.report",
                "data": {"results": results},
            }
        )
        return answer.get("result")

    async def join_room(
        self, room_id: str, *, name: str | None = None, client_id: str | None = None
    ) -> Room:
        from .room import Room

        room = Room(self, room_id, name, client_id)
        await room._join()
        return room

    async def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            with trio.move_on_after(2):
                await ws.aclose()


# Typed helpers: every command as a method (``client.incident_create(org, name=...)``).
COMMANDS = (
    "org.update",
    "service.create",
    "service.update",
    "service.delete",
    "incident.create",
    "incident.update",
    "incident.resolve",
    "incident.postmortem",
    "incident.delete",
    "maintenance.schedule",
    "maintenance.update",
    "maintenance.cancel",
    "maintenance.delete",
    "monitor.create",
    "monitor.update",
    "monitor.delete",
    "monitor.token",
)


def _helper(name: str) -> Callable[..., Any]:
    async def run(self: Client, org: str, /, **data: Any) -> Any:
        return await self.command(org, name, **data)

    run.__name__ = name.replace(".", "_")
    run.__doc__ = f"The ``{name}`` command; keyword arguments are its fields."
    return run


for _name in COMMANDS:
    setattr(Client, _name.replace(".", "_"), _helper(_name))


@asynccontextmanager
async def connect(
    url: str | Sequence[str],
    token: str | None = None,
    *,
    backoff: Backoff | None = None,
    request_timeout: float = 15.0,
    seed: int | None = None,
) -> AsyncIterator[Client]:
    """``async with connect("ws://host:8080/ws", token=...) as client:``

    Returns once connected (raises if the first connection fails for good:
    a refused token, or ``max_attempts`` spent). Reconnects on its own after.
    Several URLs (the nodes of a cluster) are tried in turn: each
    reconnection goes to the next one, and subscriptions resume there.
    """
    urls = [url] if isinstance(url, str) else list(url)
    urls = [
        u.replace("http", "ws", 1).rstrip("/") + "/ws" if u.startswith("http") else u for u in urls
    ]
    client = Client(urls, token, backoff or Backoff(), request_timeout=request_timeout, seed=seed)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client._run)
            try:
                yield client
            finally:
                await client.close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The connection task's nursery wraps whatever ends the block: one error
        # reads better unwrapped (a refused token, or the caller's own).
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
