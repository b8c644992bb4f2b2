"""The one port: WebSocket upgrades on ``/ws`` to the gateway, the rest to Quart.

We accept connections ourselves and read each one's first request head. A
``GET /ws`` asking to upgrade goes to our own WebSocket code (the fast road:
frames written straight to the socket). Anything else is handed, with the
bytes already read, to Hypercorn's trio ``TCPServer`` running the Quart-Trio
app, exactly as Hypercorn's own worker would.

A WebSocket upgrade must be the first request on its connection, which is
what browsers and WebSocket libraries do.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from .actors.gateway import Gateway, is_upgrade_request

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024


class PrefixedStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first reads return bytes we already read."""

    def __init__(self, stream: trio.SocketStream, prefix: bytes) -> None:
        self.stream = stream
        self.prefix = prefix

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
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """The first request head (through the blank line) and what followed it.

    None if the peer left; a head too long to be one is returned whole (the
    HTTP side answers it). The caller bounds the wait.
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
        if end >= 0:
            return bytes(buffer[: end + 4]), bytes(buffer[end + 4 :])
        if len(buffer) > MAX_HEAD:
            return bytes(buffer), b""


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
    def __init__(self, sock: socket.socket, app: Any, gateway: Gateway, handshake_timeout: float):
        self.sock = sock
        self.gateway = gateway
        self.handshake_timeout = handshake_timeout
        self.hypercorn = HypercornConfig()
        self.hypercorn.accesslog = None
        self.hypercorn.errorlog = logging.getLogger("hypercorn.error")
        self.hypercorn.include_server_header = False
        self.app = ASGIWrapper(app)
        self.context = WorkerContext(None)
        self.lifespan_state: dict[str, Any] = {}
        self.lifespan = Lifespan(self.app, self.hypercorn, self.lifespan_state)
        self._accepting = trio.CancelScope()
        self._handlers: trio.Nursery | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(self.lifespan.handle_lifespan)
            await self.lifespan.wait_for_startup()
            async with trio.open_nursery() as handlers:
                self._handlers = handlers
                task_status.started()
                with self._accepting:
                    await self._accept_loop(handlers)
                # Stopped accepting: let HTTP connections finish, then cut them.
                await self.context.terminated.set()
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
                            log.error("accept failed, pausing: %s", exc)
                            await trio.sleep(0.1)
                            break
                        raise
                    conn.setblocking(False)
                    handlers.start_soon(self._handle, conn, addr)
        finally:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

    async def _handle(self, sock: socket.socket, addr: Any) -> None:
        try:
            got = None
            with trio.move_on_after(self.handshake_timeout):
                got = await read_head(sock)
            if got is None:
                return  # silent or gone
            head, rest = got
            peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
            if is_upgrade_request(head):
                await self.gateway.serve(sock, head, rest, peer)
                return
            stream = PrefixedStream(
                trio.SocketStream(trio.socket.from_stdlib_socket(sock)), head + rest
            )
            state = ConnectionState(self.lifespan_state.copy())
            await TCPServer(self.app, self.hypercorn, self.context, state, stream)  # type: ignore[arg-type]
        except Exception:  # one connection's failure must not end the server
            log.exception("connection from %s failed", addr)
        finally:
            if sock.fileno() != -1:
                sock.close()
