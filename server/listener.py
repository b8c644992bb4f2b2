"""The one port: WebSocket upgrades on ``/ws`` to the gateway, the rest to Quart.

We accept connections ourselves and read each one's first request head. A
``GET /ws`` asking to upgrade goes to our own WebSocket code (the fast road:
frames written straight to the socket). Anything else is handed, with the
bytes already read, to Hypercorn's trio ``TCPServer`` running the Quart-Trio
app, exactly as Hypercorn's own worker would.

A WebSocket upgrade must be the first request on its connection, which is
what browsers and WebSocket libraries do.

Public documents (status pages, the Statuspage API, feeds, badges) take a
fast road too (:mod:`server.fastreads`): the listener answers them itself,
request after request, from answers the app made once per change, and hands
the connection to Hypercorn at the first request that is not one
(``Limits.fast_reads`` turns it off).

What every connection is held to (the limits are in :class:`~server.config.Limits`):

* its first request head within ``handshake_timeout``, at most
  :data:`MAX_HEAD` bytes and ``max_headers`` fields, in HTTP/1.0 or 1.1
  (431 and 505 otherwise; the app checks the same of later requests);
* an idle keep-alive connection is closed after ``http_keepalive_seconds``
  (which also bounds the head of every later request); a request whose bytes
  stop for ``http_read_seconds`` is dropped; a body must arrive within
  ``body_seconds``; a socket that takes no bytes for ``write_stall_seconds``
  is dropped; ``Connection: close`` and protocol errors close the connection
  once the answer is sent;
* at most ``max_connections`` are served (by default the open-files limit less
  a reserve); ``reserved_connections`` more are kept for health checks and
  server operators; beyond, HTTP gets ``503`` and WebSockets a ``1013`` close.

Hypercorn's keep-alive timer and its server-side close run inside the app's
task, which Quart-Trio cancels as soon as the response is sent: the timer was
never armed and the socket never closed. The app's sends are shielded here
(:class:`ShieldedSends`), and so are the stream's close and EOF, so that
Hypercorn's own bookkeeping completes.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import parse_socket_addr

from .actors.connection import send_short
from .actors.gateway import Gateway
from .protocol.handshake import is_upgrade_request

if TYPE_CHECKING:
    from .config import Limits
    from .fastreads import FastReads

log = logging.getLogger(__name__)

MAX_HEAD: Final = 16 * 1024
FD_RESERVE: Final = 64  # descriptors kept for the database, files and the event loop
EXCESS_HEAD_TIMEOUT: Final = 2.0  # seconds a connection over the cap gets to say what it wants
RESERVED_PATHS: Final = (b"/health", b"/ready", b"/metrics")


class ThrottledLog:
    """A log line said at most once per ``every`` seconds per key, with a count of
    those it held back (an fd limit hit in a loop must not flood the log)."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self.logger = logger
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, level: int, key: str, message: str, *args: Any, **kw: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        self._last[key] = now
        if held:
            message += f" ({held} more like it in the last {self.every:g} s)"
        self.logger.log(level, message, *args, **kw)


class PrefixedStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first reads return bytes we already read.

    Writes that make no progress for ``write_stall`` seconds fail (a reader
    that stopped reading does not hold the connection forever: Hypercorn
    shields its writes from cancellation); closing cannot be cancelled half
    way (see the module docstring).
    """

    def __init__(self, stream: trio.SocketStream, prefix: bytes, write_stall: float) -> None:
        self.stream = stream
        self.prefix = prefix
        self.write_stall = write_stall

    @property
    def socket(self) -> trio.socket.SocketType:  # Hypercorn asks it for addresses
        return self.stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self.prefix:
            size = len(self.prefix) if max_bytes is None else max_bytes
            data, self.prefix = self.prefix[:size], self.prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with trio.move_on_after(self.write_stall) as stalled:
            await self.stream.send_all(data)
        if stalled.cancelled_caught:
            raise trio.BrokenResourceError(f"the peer took no bytes for {self.write_stall:g} s")

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.send_eof()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.aclose()


class ShieldedSends(ASGIWrapper):
    """The app's sends, shielded from the cancellation of its task (see the
    module docstring): Hypercorn closes or re-arms the connection in them."""

    async def __call__(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        async def shielded(message: Any) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await self.app(scope, receive, shielded)


async def read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """The first request head (through the blank line) and what followed it.

    None if the peer left; a head longer than :data:`MAX_HEAD` is returned
    as far as it was read (without its blank line). The caller bounds the wait.
    """
    buffer = bytearray()
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            return None
        if not data:
            return None
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if 0 <= end <= MAX_HEAD:
            return bytes(buffer[: end + 4]), bytes(buffer[end + 4 :])
        if len(buffer) > MAX_HEAD:
            return bytes(buffer[: MAX_HEAD + 1]), b""


def head_problem(head: bytes, max_headers: int) -> tuple[int, str] | None:
    """Why a first request head is refused before anything reads it, or None."""
    if len(head) > MAX_HEAD or not head.endswith(b"\r\n\r\n"):
        return 431, f"the request head is over {MAX_HEAD} bytes"
    line, _, fields = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return 400, "the request line is not 'METHOD target HTTP/1.1'"
    if parts[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
        return 505, "only HTTP/1.0 and HTTP/1.1 are spoken here"
    if fields.count(b"\r\n") - 1 > max_headers:
        return 431, f"a request may carry at most {max_headers} header fields"
    return None


def refusal(status: int, message: str, retry_after: int | None = None) -> bytes:
    """A whole answer, sent before closing: a JSON error, as every error is."""
    reasons = {
        400: b"Bad Request",
        431: b"Request Header Fields Too Large",
        503: b"Service Unavailable",
        505: b"HTTP Version Not Supported",
    }
    codes = {400: "bad_request", 431: "too_large", 503: "unavailable", 505: "bad_request"}
    body = b'{"error":{"code":"%s","message":"%s"}}' % (
        codes[status].encode(),
        message.replace('"', "'").encode(),
    )
    lines = [
        b"HTTP/1.1 %d %s" % (status, reasons[status]),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
        b"X-Content-Type-Options: nosniff",
        b"Connection: close",
    ]
    if retry_after is not None:
        lines.append(b"Retry-After: %d" % retry_after)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def connection_capacity(limits: Limits) -> int:
    """How many connections to serve: the setting, within what the open-files
    limit leaves once the reserved slots and the server's own descriptors are
    set aside."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = max(16, soft - FD_RESERVE - limits.reserved_connections)
    return min(limits.max_connections, room) if limits.max_connections else room


def bind(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A listening, non-blocking TCP socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Listener:
    def __init__(
        self,
        sock: socket.socket,
        app: Any,
        gateway: Gateway,
        limits: Limits,
        is_operator: Callable[[bytes], bool] = lambda head: False,
    ):
        self.sock = sock
        self.gateway = gateway
        self.limits = limits
        self.is_operator = is_operator  # does a request head carry a server operator's token?
        self.hypercorn = HypercornConfig()
        self.hypercorn.accesslog = None
        self.hypercorn.errorlog = logging.getLogger("hypercorn.error")
        self.hypercorn.include_server_header = False
        self.hypercorn.keep_alive_timeout = limits.http_keepalive_seconds
        self.hypercorn.read_timeout = limits.http_read_seconds  # type: ignore[assignment]
        self.hypercorn.h11_max_incomplete_size = MAX_HEAD
        self.app = ShieldedSends(app)
        self.context = WorkerContext(None)
        self.lifespan_state: dict[str, Any] = {}
        self.lifespan = Lifespan(self.app, self.hypercorn, self.lifespan_state)
        self._accepting = trio.CancelScope()
        self._handlers: trio.Nursery | None = None
        self.capacity = connection_capacity(limits)
        self.open = 0  # connections accepted and not yet closed
        self.shed = 0  # connections refused for want of room
        self.say = ThrottledLog(log)
        # Public documents answered here (see server.fastreads); turned off by
        # Limits.fast_reads, or by setting this False (later connections).
        self.fast: FastReads | None = None
        if limits.fast_reads:
            from .fastreads import FastReads  # imports the app's modules: only a server needs it

            self.fast = FastReads(app, limits, MAX_HEAD, self.lifespan_state, self.say)
        self.fast_reads = self.fast is not None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(self.lifespan.handle_lifespan)
            await self.lifespan.wait_for_startup()
            async with trio.open_nursery() as handlers:
                self._handlers = handlers
                if self.fast is not None:
                    await handlers.start(self.fast.run)
                task_status.started()
                with self._accepting:
                    await self._accept_loop(handlers)
                # Stopped accepting: let HTTP connections finish, then cut them.
                await self.context.terminated.set()
                if self.fast is not None:
                    self.fast.stop()
                handlers.cancel_scope.deadline = trio.current_time() + 5
            await self.lifespan.wait_for_shutdown()
            lifespan_nursery.cancel_scope.cancel()

    def stop_accepting(self) -> None:
        self._accepting.cancel()

    async def _accept_loop(self, handlers: trio.Nursery) -> None:
        try:
            while True:
                await trio.lowlevel.wait_readable(self.sock)
                for _ in range(256):  # take a burst, then let others run
                    try:
                        conn, addr = self.sock.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                            self.say(
                                logging.ERROR,
                                "accept",
                                "accept failed (%s): pausing; %d connections open, %d served at most",
                                exc.strerror,
                                self.open,
                                self.capacity,
                            )
                            await trio.sleep(0.1)
                            break
                        raise
                    conn.setblocking(False)
                    self.open += 1
                    if self.open > self.capacity + self.limits.reserved_connections:
                        self._refuse_now(conn)
                        continue
                    handlers.start_soon(self._handle, conn, addr)
        finally:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

    def _refuse_now(self, conn: socket.socket) -> None:
        """Over the cap and the reserve: a 503 in one write, and closed."""
        self.shed += 1
        self.say(
            logging.WARNING,
            "full",
            "refusing connections: %d open, %d served at most (+%d reserved)",
            self.open,
            self.capacity,
            self.limits.reserved_connections,
        )
        try:
            conn.send(refusal(503, "the server is at its connection limit; try again", 1))
        except OSError:
            pass  # it will not hear it
        finally:
            conn.close()
            self.open -= 1

    async def _handle(self, sock: socket.socket, addr: Any) -> None:
        try:
            over = self.open > self.capacity
            got = None
            with trio.move_on_after(EXCESS_HEAD_TIMEOUT if over else self.limits.handshake_timeout):
                got = await read_head(sock)
            if got is None:
                return  # silent or gone
            head, rest = got
            problem = head_problem(head, self.limits.max_headers)
            if problem is not None:
                await send_short(sock, refusal(*problem))
                return
            if over and not self._may_use_reserve(head):
                await self._shed(sock, head)
                return
            peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
            if is_upgrade_request(head):
                await self.gateway.serve(sock, head, rest, peer)
                return
            data = head + rest
            if self.fast is not None and self.fast_reads:
                client = parse_socket_addr(sock.family, addr)
                server = parse_socket_addr(sock.family, sock.getsockname())
                left = await self.fast.serve(sock, data, client, server)
                if left is None:
                    return  # answered to the end
                data = left  # from the first request the fast road does not answer
            stream = PrefixedStream(
                trio.SocketStream(trio.socket.from_stdlib_socket(sock)),
                data,
                self.limits.write_stall_seconds,
            )
            state = ConnectionState(self.lifespan_state.copy())
            await TCPServer(self.app, self.hypercorn, self.context, state, stream)  # type: ignore[arg-type]
        except Exception:  # one connection's failure must not end the server
            self.say(logging.ERROR, "failed", "a connection from %s failed", addr, exc_info=True)
        finally:
            self.open -= 1
            if sock.fileno() != -1:
                sock.close()

    def _may_use_reserve(self, head: bytes) -> bool:
        target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
        return target.split(b"?", 1)[0] in RESERVED_PATHS or self.is_operator(head)

    async def _shed(self, sock: socket.socket, head: bytes) -> None:
        """Over the cap: HTTP gets 503; a WebSocket its handshake, then 1013."""
        self.shed += 1
        self.say(
            logging.WARNING,
            "full",
            "refusing requests: %d connections open, %d served at most",
            self.open,
            self.capacity,
        )
        if is_upgrade_request(head):
            await self.gateway.refuse_busy(sock, head)
        else:
            await send_short(sock, refusal(503, "the server is at its connection limit", 1))
