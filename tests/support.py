"""Test helpers: tokens, waiting for what happens on its own, a JSON REST
client, a WebSocket client that sorts frames."""

from __future__ import annotations

import contextlib
import inspect
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import orjson
import trio
import trio_websocket

from server.auth import Role, Tokens

TEST_SECRET = "test-secret-" + "x" * 40
TOKENS = Tokens(TEST_SECRET)
TIMEOUT = 10  # seconds before a test gives up waiting (a hang guard, not a measurement)
POLL = 0.05  # seconds between two looks of ``eventually``

T = TypeVar("T")


def token(org: str, role: str) -> str:
    return TOKENS.issue(org, Role.parse(role), subject=f"{role}-tester")


def admin_token(org: str = "demo") -> str:
    return token(org, "admin")


PASSWORD = "correct horse battery"


async def make_user(server: Any, email: str, role: str | None, org: str = "demo") -> str:
    """A user (straight into the directory, as ``switchboard user create`` does)."""
    from server.auth import Role

    assert server.auth is not None
    roles = {org: Role.parse(role)} if role else {}
    user = await server.auth.directory.create_user(email, "", PASSWORD, roles, None)
    return user.id


async def login(api: Api, email: str, password: str = PASSWORD) -> dict[str, Any]:
    return await api.ok("POST", "/api/v1/auth/login", {"email": email, "password": password})


async def logged_in(server: Any, email: str, role: str | None) -> tuple[str, str]:
    """A new member of demo, logged in: their id and access token."""
    user = await make_user(server, email, role)
    async with Api.open(server.base_url) as anon:
        access = (await login(anon, email))["access_token"]
    return user, str(access)


async def eventually(
    check: Callable[[], Awaitable[T | None] | T | None],
    what: str | Callable[[], str] | None = None,
    *,
    within: float = TIMEOUT,
) -> T:
    """The first truthy answer of ``check``, asked again every ``POLL`` seconds.

    For what happens on its own, out of the test's hands, with no event to
    wait on: a verdict, a delivery, a row in the database, another process's
    state. ``check`` is a plain function or a coroutine function; an exception
    it raises ends the wait. ``within`` is a hang guard, not a measurement:
    once it is spent, an AssertionError says what was awaited (``what``: a
    string, or a function that says it then; by default the check's name) and
    what ``check`` answered last.
    """
    last: object = None
    with trio.move_on_after(within):
        while True:
            answer = check()
            if inspect.isawaitable(answer):
                answer = await answer
            if answer:
                return answer
            last = answer
            await trio.sleep(POLL)
    if what is None:
        what = getattr(check, "__qualname__", repr(check))
    elif callable(what):
        what = what()
    tail = "" if last is None else f" (last answer: {repr(last)[:500]})"
    raise AssertionError(f"gave up waiting for {what} after {within} s{tail}")


async def shown(api: Api, path: str, check: Callable[[Any], bool], within: float = 15.0) -> Any:
    """The body of ``GET path`` once ``check(body)`` holds: what the server
    works out on its own (a verdict, a status) shows there in a while, some of
    it after a sweep every few seconds (hence the longer hang guard)."""
    last: Any = None

    async def body() -> Any:
        nonlocal last
        last = await api.ok("GET", path)
        return last if check(last) else None

    def what() -> str:
        return f"GET {path} to pass the check (it last showed {repr(last)[:500]})"

    return await eventually(body, what, within=within)


def trio_wall_clock() -> Any:
    """A wall clock for the server (``Server(config, clock=...)``) that reads
    the real time now and then moves with trio's clock: on a MockClock, a
    test jumps the server's "now" past an expiry or a window instead of
    waiting for it."""
    from datetime import UTC, datetime, timedelta

    from server.clock import TrioClock

    return TrioClock(datetime.now(UTC) - timedelta(seconds=trio.current_time()))


async def raw_http(base_url: str, request: bytes, *, whole: bool = True) -> bytes:
    """Send raw bytes to the server and read the answer: until the server closes
    (``whole``), or just the head."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(request)
        answer = b""
        with trio.fail_after(TIMEOUT):
            while whole or b"\r\n\r\n" not in answer:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                answer += chunk
    return answer if whole else answer.partition(b"\r\n\r\n")[0]


async def closed_with(ws: Any) -> int | None:
    """Wait (a hang guard, not a measurement) for the server to close; its code."""
    import trio_websocket

    with trio.fail_after(TIMEOUT):
        try:
            while True:
                await ws.conn.get_message()
        except trio_websocket.ConnectionClosed as closed:
            return closed.reason.code  # type: ignore[no-any-return]


class Api:
    """httpx with the server's base URL and a token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, base_url: str, bearer: str | None = None, *, keep_alive: bool = True
    ) -> AsyncIterator[Api]:
        """``keep_alive=False``: a new connection for each request (for tests
        that jump the clock past what a connection may idle)."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=TIMEOUT, limits=limits
        ) as c:
            yield cls(c)

    async def request(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is not None:
            kw["content"] = body if isinstance(body, bytes | str) else orjson.dumps(body)
        return await self.client.request(method, path, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = await self.request(method, path, body)
        assert response.status_code == status, response.text
        return response.json()


class Ws:
    """A WebSocket client that keeps events apart from replies."""

    def __init__(self, conn: trio_websocket.WebSocketConnection) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self._ids = iter(range(1, 1 << 30))

    async def send(self, message: Any) -> None:
        if isinstance(message, dict):
            message = orjson.dumps(message).decode()
        await self.conn.send_message(message)

    async def recv(self) -> dict[str, Any]:
        with trio.fail_after(TIMEOUT):
            return orjson.loads(await self.conn.get_message())  # type: ignore[no-any-return]

    async def _pump(self) -> None:
        message = await self.recv()
        (self.events if message.get("type") == "event" else self.replies).append(message)

    async def reply(self, request_id: Any = None) -> dict[str, Any]:
        """The next non-event frame (with that id, if given)."""
        with trio.fail_after(TIMEOUT):
            while True:
                for i, message in enumerate(self.replies):
                    if request_id is None or message.get("id") == request_id:
                        return self.replies.pop(i)
                await self._pump()

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send with a fresh id and wait for the answer carrying it."""
        request_id = message.setdefault("id", next(self._ids))
        await self.send(message)
        return await self.reply(request_id)

    async def event(self, name: str | None = None, topic: str | None = None) -> dict[str, Any]:
        """The next event (with that name/topic), waiting if needed."""
        with trio.fail_after(TIMEOUT):
            while True:
                for i, message in enumerate(self.events):
                    if (name is None or message["name"] == name) and (
                        topic is None or message["topic"] == topic
                    ):
                        return self.events.pop(i)
                await self._pump()

    async def hello(self, bearer: str | None = None) -> dict[str, Any]:
        return await self.request({"type": "hello", **({"token": bearer} if bearer else {})})

    async def subscribe(self, topic: str, since: int | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if since is not None:
            message["since"] = since
        reply = await self.request(message)
        assert reply["type"] == "subscribed", reply
        return reply

    async def subscribe_room(
        self, room: str, client_id: str, name: str | None = None
    ) -> dict[str, Any]:
        """Join a room; returns ``subscribed`` (the presence list that follows is checked)."""
        message: dict[str, Any] = {
            "type": "subscribe",
            "topic": f"room:{room}",
            "client_id": client_id,
        }
        if name is not None:
            message["name"] = name
        reply = await self.request(message)
        assert reply["type"] == "subscribed", reply
        presence = await self.reply()
        assert presence["type"] == "presence" and presence["you"] == client_id, presence
        return reply

    async def command(self, org: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.request(
            {"type": "command", "topic": f"org:{org}", "name": name, "data": data}
        )


@contextlib.asynccontextmanager
async def open_ws(base_url: str, **kw: Any) -> AsyncIterator[Ws]:
    url = base_url.replace("http", "ws", 1) + "/ws"
    # trio-websocket stops reading its socket when this queue is full, and then
    # cannot see the server's answer to its close: keep it roomy.
    kw.setdefault("message_queue_size", 10_000)
    async with trio_websocket.open_websocket_url(url, **kw) as conn:
        try:
            yield Ws(conn)
        finally:
            # When the server closes first, trio-websocket's reader stops at
            # the TCP close without closing its own stream, and aclose() then
            # skips it as already closed: close it here so no socket leaks.
            await conn._stream.aclose()


async def sql(database_url: str, statement: str) -> None:
    """Run SQL on the test database from a connection of its own."""
    from server.store import Store

    async with Store.open(database_url, size=1) as admin:

        async def run(conn: Any) -> None:
            await conn.execute(statement)

        await admin.run(run, write=True)


async def terminate_backends(database_url: str) -> None:
    """Kill every other connection to the test database (a database restart, in small)."""
    await sql(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )


REFUSE_WRITES = """
CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
CREATE TRIGGER refuse_writes BEFORE INSERT ON events
FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes();
"""
ALLOW_WRITES = "DROP TRIGGER refuse_writes ON events; DROP FUNCTION refuse_writes();"


class ServerProcess:
    """``switchboard serve`` in a child process, for crash and restart tests."""

    def __init__(self, process: trio.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    @classmethod
    async def start(
        cls,
        database_url: str | None,
        data_dir: str,
        *extra: str,
        open_files: int | None = None,
        log: Any = None,
    ) -> ServerProcess:
        """Start it (``database_url`` None: on its embedded PostgreSQL);
        ``open_files`` caps its descriptors (soft and hard), ``log`` (a file)
        receives its stderr."""
        import os
        import resource
        import sys

        def cap() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        env = {**os.environ, "SWITCHBOARD_SECRET": TEST_SECRET}
        process = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                "0",
                *(["--database-url", database_url] if database_url else []),
                "--data-dir",
                data_dir,
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            preexec_fn=cap,
        )
        assert process.stdout is not None
        buffer = b""
        with trio.fail_after(60):
            while b"listening on " not in buffer or not buffer.endswith(b"\n"):
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise RuntimeError(f"server exited early: {buffer!r}")
                buffer += chunk
        line = next(ln for ln in buffer.decode().splitlines() if "listening on " in ln)
        return cls(process, line.split("listening on ", 1)[1].strip())

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final snapshot, a crash."""
        self.process.kill()

    async def stop(self) -> int:
        """SIGTERM, then wait for a clean exit."""
        self.process.terminate()
        with trio.fail_after(30):
            return await self.process.wait()

    async def wait(self) -> int:
        with trio.fail_after(30):
            return await self.process.wait()


class RawWs:
    """A bare WebSocket client on a trio socket, for tests that must misbehave:
    never read, never answer pings, or send broken frames."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    async def connect(
        cls, base_url: str, *, rcvbuf: int | None = None, extra_headers: bytes = b""
    ) -> RawWs:
        import base64
        import os
        import socket as stdlib_socket

        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, rcvbuf)
        await sock.connect((host, int(port)))
        raw = cls(sock)
        key = base64.b64encode(os.urandom(16))
        await raw.send_bytes(
            b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
            + key
            + b"\r\n"
            + extra_headers
            + b"\r\n"
        )
        head = await raw.read_head()
        assert head.startswith(b"HTTP/1.1 101"), head
        return raw

    async def send_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = await self.sock.send(view)
            view = view[sent:]

    async def read_head(self) -> bytes:
        with trio.fail_after(TIMEOUT):
            while b"\r\n\r\n" not in self.buffer:
                chunk = await self.sock.recv(65536)
                if not chunk:
                    break
                self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    async def send_json(self, message: dict[str, Any]) -> None:
        from server.protocol.frames import OP_TEXT, encode_client_frame

        await self.send_bytes(encode_client_frame(OP_TEXT, orjson.dumps(message), b"abcd"))

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        from server.protocol.frames import encode_client_frame

        await self.send_bytes(encode_client_frame(opcode, payload, b"wxyz"))

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame as (opcode, payload); (-1, b"") at end of stream."""
        with trio.fail_after(TIMEOUT):
            while True:
                buf = self.buffer
                if len(buf) >= 2:
                    length, start = buf[1] & 0x7F, 2
                    if length == 126 and len(buf) >= 4:
                        length, start = int.from_bytes(buf[2:4], "big"), 4
                    elif length == 127 and len(buf) >= 10:
                        length, start = int.from_bytes(buf[2:10], "big"), 10
                    if (length < 126 or start > 2) and len(buf) >= start + length:
                        self.buffer = buf[start + length :]
                        return buf[0] & 0x0F, buf[start : start + length]
                chunk = await self.sock.recv(65536)
                if not chunk:
                    return -1, b""
                self.buffer += chunk

    async def message(self) -> dict[str, Any]:
        """The next text frame, as JSON (control frames are not expected here)."""
        opcode, payload = await self.frame()
        assert opcode == 1, (opcode, payload)
        return orjson.loads(payload)  # type: ignore[no-any-return]

    async def until_close(self) -> tuple[int | None, list[int]]:
        """Read to the close frame: (its code, the opcodes seen before it)."""
        seen = []
        while True:
            opcode, payload = await self.frame()
            if opcode in (8, -1):
                return (int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None), seen
            seen.append(opcode)

    def close(self) -> None:
        self.sock.close()
