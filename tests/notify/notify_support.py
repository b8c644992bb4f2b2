"""Real receivers for the notification tests: an HTTP server and a mail server.

``Receiver`` is a small HTTP/1.1 server on trio and h11 that records every
request and answers from a script (statuses to give, in order, then 200).
``Mailbox`` is aiosmtpd's SMTP server on its own thread, keeping every message.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import h11
import httpx
import orjson
import trio
from aiosmtpd.controller import Controller
from support import TEST_SECRET, Api, eventually

from server.clock import Clock
from server.domain import commands as c
from server.domain.monitors import Verdict
from server.main import Server
from server.notify import Notifier, derive_key

KEY = derive_key(TEST_SECRET)
BASE_URL = "https://status.example"


def error_of(response: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = response.json()["error"]
    return found


async def expect_error(
    api: Api, method: str, path: str, body: Any, status: int, code: str, field: str | None
) -> str:
    """The message of the error a request gets, once its status, code and field are checked."""
    response = await api.request(method, path, body)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code and error.get("field") == field, error
    message: str = error["message"]
    return message


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # trio.current_time() when it arrived

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """``script``: statuses to answer, in order, each maybe with a Retry-After;
    200 once it is used up (or what ``answer`` makes of the request: a status
    and a body, for a receiver shaped like a service).

    ``gate``, when set, holds every answer until the event is set (a slow
    receiver). ``location`` goes with every redirect. ``host`` is where it
    listens.
    """

    script: list[int | tuple[int, str]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    gate: trio.Event | None = None
    answer: Callable[[Received], tuple[int, bytes]] | None = None
    location: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    arrived: trio.Event = field(default_factory=trio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def count(self, n: int, path: str | None = None) -> list[Received]:
        """Wait until ``n`` requests (to ``path``) have arrived."""

        async def enough() -> list[Received] | None:
            found = self.requests if path is None else self.to(path)
            return found if len(found) >= n else None

        return await eventually(enough, f"{n} request(s) to {path or 'the receiver'}")

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                head: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Request):
                        head = event
                    elif isinstance(event, h11.Data):
                        body += bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:  # ConnectionClosed
                        return
                assert head is not None
                got = Received(
                    head.method.decode(),
                    head.target.decode(),
                    {k.decode().lower(): v.decode() for k, v in head.headers},
                    body,
                    trio.current_time(),
                )
                self.requests.append(got)
                self.arrived.set()
                self.arrived = trio.Event()
                if self.gate is not None:
                    await self.gate.wait()
                wait: str | None = None
                if self.script:
                    scripted = self.script.pop(0)
                    status, wait = scripted if isinstance(scripted, tuple) else (scripted, None)
                    answer = b"ok" if status < 300 else f"no: {status}".encode()
                elif self.answer is not None:
                    status, answer = self.answer(got)
                else:
                    status, answer = 200, b"ok"
                headers = [("content-type", "text/plain"), ("content-length", str(len(answer)))]
                if wait is not None:
                    headers.append(("retry-after", wait))
                if self.location is not None and 300 <= status < 400:
                    headers.append(("location", self.location))
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
                await stream.send_all(conn.send(h11.Data(data=answer)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return
        finally:
            await stream.aclose()


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.box.lock:
            self.box.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class Mailbox:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, on its own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # A plain asyncio loop of its own: trio-asyncio's policy would hand the
        # thread a loop that only runs inside trio.
        self.loop = asyncio.SelectorEventLoop()
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, loop=self.loop
        )

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Mailbox]:
        """A mailbox listening until the block ends (a fixture's life)."""
        box = cls()
        box.controller.start()
        try:
            yield box
        finally:
            box.controller.stop()
            box.loop.close()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    async def count(self, address: str, n: int) -> list[EmailMessage]:
        async def enough() -> list[EmailMessage] | None:
            found = self.to(address)
            return found if len(found) >= n else None

        return await eventually(enough, f"{n} message(s) to {address}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


@dataclass
class Wired:
    """The whole server, and the notifier it was wired with."""

    server: Server
    notifier: Notifier


class Running:
    """A notifier's worker, started in a nursery; ``stop()`` ends it and waits."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


async def start(nursery: trio.Nursery, notifier: Notifier) -> Running:
    running = Running()

    async def work(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with running.scope:
                await notifier.run(task_status=task_status)
        finally:
            running.done.set()

    await nursery.start(work)
    return running


@asynccontextmanager
async def worker(nursery: trio.Nursery, notifier: Notifier) -> AsyncIterator[Running]:
    running = await start(nursery, notifier)
    try:
        yield running
    finally:
        await running.stop()


class Later(Clock):
    """The real time, moved on by ``ahead``."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.ahead


async def unchecked_monitor(api: Api, url: str = "http://edge.test/") -> str:
    """A monitor of the demo's API service that is checked in no region here:
    only the verdicts a test sets (:func:`set_verdicts`) count."""
    made = await api.ok(
        "POST",
        "/api/v1/orgs/demo/monitors",
        {
            "name": "Edge",
            "service": "API",
            "kind": "http",
            "spec": {"url": url},
            "regions": ["elsewhere"],
        },
        201,
    )
    monitor_id: str = made["id"]
    return monitor_id


async def set_verdicts(server: Server, monitor_id: str, *verdicts: Verdict, error: str) -> None:
    """The monitor's verdicts, one after another, as its checks would set them."""
    registry = server.registry
    assert registry is not None
    for verdict in verdicts:
        await registry.execute("demo", c.SetMonitorState(monitor_id, verdict, [], error), "monitor")
