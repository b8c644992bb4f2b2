"""A web server whose answers a test sets: the target of uptime checks.

h11 over trio's TCP (or TLS) listener: a test maps paths to a :class:`Reply`
(status, body, delay, a body that never ends, a dropped connection) and reads
back what the probe sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import h11
import trio
import trustme


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"OK"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering
    endless: bool = False  # promise one byte more than the body, then never send it
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpServer:
    """Answers each request from ``routes`` (404 for unknown paths), one per connection."""

    def __init__(self, scheme: str = "http", host: str = "127.0.0.1") -> None:
        self.scheme = scheme
        self.host = host
        self.routes: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.port = 0

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    async def handle(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            request = await self._receive(stream, conn)
            if request is None:
                return
            reply = self.routes.get(request.path, Reply(404, b"not found"))
            # A slow target on purpose: the tests of slowness and timeouts are about
            # how long it takes, so this wait is real time.
            await trio.sleep(reply.delay)
            if reply.drop:
                return
            length = len(reply.body) + (1 if reply.endless else 0)
            headers = [
                ("Content-Length", str(length)),
                ("Connection", "close"),
                *reply.headers,
            ]
            await stream.send_all(
                conn.send(h11.Response(status_code=reply.status, headers=headers))
            )
            for start in range(0, len(reply.body), 64 * 1024):
                chunk = reply.body[start : start + 64 * 1024]
                await stream.send_all(conn.send(h11.Data(data=chunk)))
            if reply.endless:
                await trio.sleep_forever()
            await stream.send_all(conn.send(h11.EndOfMessage()))
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass  # the probe hung up: it may
        finally:
            await trio.aclose_forcefully(stream)

    async def _receive(self, stream: trio.abc.Stream, conn: h11.Connection) -> Seen | None:
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(64 * 1024)))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                seen = Seen(
                    method=request.method.decode(),
                    path=request.target.decode(),
                    headers={k.decode(): v.decode() for k, v in request.headers},
                    body=body,
                )
                self.seen.append(seen)
                return seen
            else:
                return None  # closed before a whole request


async def listen(
    nursery: trio.Nursery,
    serve: Callable[..., Awaitable[Any]],
    *args: Any,
    host: str = "127.0.0.1",
) -> int:
    listeners = await nursery.start(partial(serve, *args, 0, host=host))
    listener = listeners[0]
    if isinstance(listener, trio.SSLListener):
        listener = listener.transport_listener
    port: int = listener.socket.getsockname()[1]
    return port


async def serve_http(nursery: trio.Nursery, host: str = "127.0.0.1") -> HttpServer:
    server = HttpServer(host=host)
    server.port = await listen(nursery, trio.serve_tcp, server.handle, host=host)
    return server


def leaf_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server context presenting ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
