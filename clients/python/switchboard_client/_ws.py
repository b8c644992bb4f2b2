"""A WebSocket client connection: wsproto over an AnyIO byte stream.

It runs wherever AnyIO does (asyncio or trio), and says exactly why a
connection failed: :class:`HandshakeRejected` carries the HTTP status (and
``Retry-After``), :class:`WebSocketClosed` the close code and reason, and a
network failure stays the ``OSError`` it was.

One task reads (:meth:`WebSocket.receive`); any task may send, one frame at a
time. Pings from the server are answered while reading.
"""

from __future__ import annotations

import contextlib
import ssl
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

RECEIVE_SIZE = 65536
MAX_MESSAGE = 64 * 1024 * 1024  # what one incoming message may grow to


class HandshakeRejected(Exception):
    """The server answered the upgrade with an HTTP status instead of ``101``."""

    def __init__(self, status: int, body: bytes, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


class WebSocketClosed(Exception):
    """The connection is closed: ``code`` is the close code (1006 when no close
    frame came), ``reason`` the peer's words, ``by_peer`` who closed first."""

    def __init__(self, code: int, reason: str, by_peer: bool = True) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.by_peer = by_peer

    def __str__(self) -> str:
        return f"closed with {self.code}" + (f" ({self.reason})" if self.reason else "")


def split_url(url: str) -> tuple[bool, str, int, str]:
    """(TLS?, host, port, request target) of a ``ws://`` or ``wss://`` URL; ValueError if wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"{url!r} is not a ws:// or wss:// URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    tls = parts.scheme == "wss"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return tls, parts.hostname, port or (443 if tls else 80), target


class WebSocket:
    """One open connection; use :func:`open_websocket`."""

    def __init__(self, stream: anyio.abc.ByteStream, conn: WSConnection) -> None:
        self._stream = stream
        self._conn = conn
        self._send_lock = anyio.Lock()
        self._parts: list[str] = []
        self._size = 0
        self.closed: WebSocketClosed | None = None
        self.write_timeout = 10.0  # seconds a frame may take to go out
        self.received_at = anyio.current_time()  # the last time any bytes came

    async def _write(self, data: bytes) -> None:
        """Write frames whole: a cancelled caller waits for the end of its frame
        (at most ``write_timeout``), since half a frame would corrupt the stream."""
        if not data:
            return
        async with self._send_lock:
            if self.closed is not None:
                raise self.closed
            try:
                with anyio.CancelScope(shield=True), anyio.fail_after(self.write_timeout):
                    await self._stream.send(data)
            except TimeoutError:
                self._lost(f"the server took no bytes for {self.write_timeout:g} s")
                await self._close_stream()
                raise self.closed from None  # type: ignore[misc]
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._lost(f"sending failed: {exc or type(exc).__name__}")
                raise self.closed from None  # type: ignore[misc]

    def _lost(self, reason: str) -> None:
        if self.closed is None:
            self.closed = WebSocketClosed(1006, reason)

    async def send(self, text: str) -> None:
        """Send one text message (raises :class:`WebSocketClosed` if the connection is gone)."""
        if self.closed is not None:
            raise self.closed
        try:
            data = self._conn.send(Message(data=text))
        except LocalProtocolError:
            self._lost("the connection is closing")
            raise self.closed from None  # type: ignore[misc]
        await self._write(data)

    async def ping(self) -> None:
        """Send a ping: the server's pong (or anything else) moves :attr:`received_at`."""
        if self.closed is not None:
            raise self.closed
        await self._write(self._conn.send(Ping(b"switchboard")))

    async def receive(self) -> str:
        """The next text message; answers pings and close frames on the way.

        Cancelling it loses nothing: what was read stays for the next call.
        """
        while True:
            for event in self._conn.events():
                if isinstance(event, TextMessage):
                    self._parts.append(event.data)
                    self._size += len(event.data)
                    if self._size > MAX_MESSAGE:
                        await self.aclose(1009, "message too big")
                        raise self.closed  # type: ignore[misc]
                    if event.message_finished:
                        text = "".join(self._parts)
                        self._parts, self._size = [], 0
                        return text
                elif isinstance(event, Ping):
                    await self._write(self._conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.closed = WebSocketClosed(event.code, event.reason or "")
                    if self._conn.state is ConnectionState.REMOTE_CLOSING:
                        with contextlib.suppress(WebSocketClosed):
                            await self._write(self._conn.send(event.response()))
                    await self._close_stream()
                    raise self.closed
                elif isinstance(event, BytesMessage | Pong):
                    pass  # Switchboard sends text only; a pong is a sign of life
            if self.closed is not None:
                raise self.closed
            try:
                data = await self._stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                self._lost("the server closed the TCP connection without a close frame")
                await self._close_stream()
                raise self.closed from None  # type: ignore[misc]
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._lost(f"the connection failed: {exc or type(exc).__name__}")
                await self._close_stream()
                raise self.closed from None  # type: ignore[misc]
            self.received_at = anyio.current_time()
            self._conn.receive_data(data)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Say goodbye (a close frame, if the connection is still open), then close the socket."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            if self._conn.state is ConnectionState.OPEN:
                with contextlib.suppress(WebSocketClosed):
                    await self._write(self._conn.send(CloseConnection(code=code, reason=reason)))
        if self.closed is None:
            self.closed = WebSocketClosed(code, reason, by_peer=False)
        await self._close_stream()

    async def _close_stream(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()


async def open_websocket(
    url: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    subprotocols: list[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> WebSocket:
    """Connect and upgrade. Raises ``OSError`` (no TCP connection, TLS),
    :class:`HandshakeRejected` (an HTTP answer instead of the upgrade) or
    :class:`WebSocketClosed` (the server hung up during the handshake). Bound
    it with a timeout: it waits as long as the server does."""
    tls, host, port, target = split_url(url)
    if tls:
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(
            host,
            port,
            tls=True,
            ssl_context=ssl_context or ssl.create_default_context(),
            tls_standard_compatible=False,
        )
    else:
        stream = await anyio.connect_tcp(host, port)
    conn = WSConnection(ConnectionType.CLIENT)
    ok = False
    try:
        default_port = 443 if tls else 80
        authority = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):  # an IPv6 literal
            authority = f"[{host}]" if port == default_port else f"[{host}]:{port}"
        request = Request(
            host=authority,
            target=target,
            extra_headers=[(k.encode(), v.encode()) for k, v in headers or []],
            subprotocols=subprotocols or [],
        )
        await stream.send(conn.send(request))
        rejected: RejectConnection | None = None
        body = b""
        while True:
            try:
                data = await stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                if rejected is not None:
                    break
                raise WebSocketClosed(1006, "the server hung up during the handshake") from None
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, AcceptConnection):
                    ok = True
                    socket = WebSocket(stream, conn)
                    # Whatever came with the 101 stays in wsproto for receive().
                    return socket
                if isinstance(event, RejectConnection):
                    rejected = event
                    if not event.has_body:
                        raise _rejection(event, b"")
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished and rejected is not None:
                        raise _rejection(rejected, body)
    finally:
        if not ok:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
    assert rejected is not None
    raise _rejection(rejected, body)


def _rejection(event: RejectConnection, body: bytes) -> HandshakeRejected:
    retry_after: float | None = None
    for name, value in event.headers:
        if name.lower() == b"retry-after":
            try:
                retry_after = float(value)
            except ValueError:
                retry_after = None
    return HandshakeRejected(event.status_code, body[:2000], retry_after)
