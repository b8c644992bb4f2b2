"""The WebSocket check: the upgrade, and optionally one message each way.

wsproto (sans-IO) speaks the protocol over a trio connection made through the
network rule's door (:func:`~server.netguard.connect`), TLS-wrapped for
``wss://``, all within the spec's ``timeout``. The server's answers are not
repeated in the result's words: a rejected upgrade says its status code, a
message that does not match says what was expected.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections import deque
from typing import Final

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import ProtocolError

from ..domain.specs import MAX_MESSAGE_BYTES, WebSocketSpec, WsTarget, compile_pattern, ws_target
from ..netguard import NetworkRule, Refused, connect
from .checks import (
    USER_AGENT,
    CheckResult,
    default_context,
    describe_error,
    down,
    ms_since,
    quoted,
    timed,
)

READ: Final = 64 * 1024


@functools.cache
def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Events:
    """wsproto's events, read from the stream as they are needed."""

    def __init__(self, ws: WSConnection, stream: trio.abc.Stream) -> None:
        self.ws = ws
        self.stream = stream
        self.pending: deque[Event] = deque()
        self.ended = False

    async def next(self) -> Event:
        while True:
            self.pending.extend(self.ws.events())
            if self.pending:
                return self.pending.popleft()
            if self.ended:
                raise trio.BrokenResourceError("the server closed the connection")
            data = await self.stream.receive_some(READ)
            if data:
                self.ws.receive_data(bytes(data))
            else:
                self.ended = True
                self.ws.receive_data(None)

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))


async def check_websocket(
    spec: WebSocketSpec, rule: NetworkRule, ssl_context: ssl.SSLContext | None = None
) -> CheckResult:
    """Up when the upgrade succeeds (and the first message matches, when one
    is expected); latency is the time to the upgrade, or to that message."""
    target = ws_target(spec.url)
    start = trio.current_time()
    phase = ["connecting"]
    try:
        with trio.fail_after(spec.timeout):
            stream: trio.abc.Stream = await connect(rule, target.host, target.port)
            try:
                if target.secure:
                    context = (
                        (ssl_context or default_context()) if spec.verify_tls else _unverified()
                    )
                    stream = trio.SSLStream(stream, context, server_hostname=target.host)
                    await stream.do_handshake()
                return await _converse(spec, target, stream, start, phase)
            finally:
                await trio.aclose_forcefully(stream)
    except trio.TooSlowError:
        return down(f"{phase[0]}: timed out after {spec.timeout:g} s")
    except (OSError, trio.BrokenResourceError, Refused, ProtocolError) as exc:
        words = describe_error(exc)
        return down(words if phase[0] == "connecting" else f"{phase[0]}: {words}")


async def _converse(
    spec: WebSocketSpec,
    target: WsTarget,
    stream: trio.abc.Stream,
    start: float,
    phase: list[str],
) -> CheckResult:
    events = _Events(WSConnection(ConnectionType.CLIENT), stream)
    phase[0] = "upgrading"
    headers = [(b"user-agent", USER_AGENT.encode())]
    headers += [(name.encode(), value.encode()) for name, value in spec.headers.items()]
    await events.send(Request(host=target.authority, target=target.resource, extra_headers=headers))
    while True:
        event = await events.next()
        if isinstance(event, RejectConnection):
            return down(
                f"the server answered HTTP {event.status_code} instead of upgrading to WebSocket",
                ms_since(start),
            )
        if isinstance(event, AcceptConnection):
            break
    if spec.send is not None:
        phase[0] = "upgraded, sending"
        await events.send(TextMessage(data=spec.send))
    if spec.expect is None and spec.expect_regex is None:
        latency = ms_since(start)
        await _close(events)
        return timed(latency, spec.degraded_ms)
    phase[0] = "upgraded, waiting for a message"
    text = await _first_message(events)
    latency = ms_since(start)
    if text is None:
        return down("the server closed the connection before sending a message", latency)
    await _close(events)
    if spec.expect is not None and spec.expect not in text:
        return down(f"the first message does not contain {quoted(spec.expect)}", latency)
    if spec.expect_regex is not None and not compile_pattern(spec.expect_regex).search(text):
        return down(f"the first message does not match {quoted(spec.expect_regex)}", latency)
    return timed(latency, spec.degraded_ms)


async def _first_message(events: _Events) -> str | None:
    """The first message's first 64 KiB as text (bytes read as UTF-8), or None
    if the server closed first."""
    parts: list[str] = []
    size = 0
    while True:
        event = await events.next()
        if isinstance(event, Ping):
            await events.send(event.response())
        elif isinstance(event, CloseConnection):
            return "".join(parts) if parts else None
        elif isinstance(event, Message):
            data = event.data
            piece = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            parts.append(piece)
            size += len(piece)
            if event.message_finished or size >= MAX_MESSAGE_BYTES:
                return "".join(parts)[:MAX_MESSAGE_BYTES]


async def _close(events: _Events) -> None:
    """Say goodbye, as a polite client does; the connection is dropped anyway."""
    with contextlib.suppress(OSError, trio.BrokenResourceError, ProtocolError):
        await events.send(CloseConnection(code=1000))
