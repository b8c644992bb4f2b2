"""The fast road for public documents: answered by the listener itself.

An organization's status page, its history, an incident's or a maintenance's
page, every Statuspage ``/api/v2`` document, the feeds and the badges are the
same bytes for everyone who asks, until the organization changes; the static
files each new reader's browser fetches with the page (its styles and
scripts) are the same bytes for as long as the server runs. Through
Hypercorn and Quart each request for them costs about half a millisecond of
CPU, nearly all of it the framework around a byte string already drawn; here
it costs a dictionary lookup and a socket write.

How an answer is made. The first request for a document, in each
:func:`variant`, runs through the Quart app in this process, as Hypercorn
would run it (the same ASGI scope), and h11 frames the response as it frames
Hypercorn's (:meth:`FastReads.frame`). Those bytes are kept with the stamp of
what they show: the organization's version; for the status page also its
figures' (bars and response times, :data:`~server.rest.drawings.BARS_TTL`),
for a monitor's badge its figures' (:data:`~server.rest.drawings.FIGURES_TTL`); a
static file's stands as long as the process. A later request of the
same variant whose stamp has not moved gets those bytes with a fresh
``Date``: the same status, headers and body the framework gives, by
construction. Answers are kept only when the stamp was the same before and
after the app ran (nothing changed meanwhile) and the status is 200 or 304.

What makes a variant (:func:`variant`): the method, HTTP version and
keep-alive; the target (path and query, as sent, less the tracking parameters
of shared links, :data:`_TRACKING`, which no public route reads: the app is
asked for the document without them); the scheme and host the
reader came through (:func:`~server.rest.hosts.reader`, which decides the
links and the organization at the root of a custom domain); whether the
client takes gzip; and ``If-None-Match``. Nothing else in a request changes
what the public routes answer; a route that comes to read another header
must add it there (``tests/e2e/test_fast_reads.py`` compares both roads).

Rate limits: each answer takes a token from the same per-address buckets as
the framework (``public_per_second``); a request over the limit gets the
framework's ``429``, kept per ``Retry-After`` value. Static files take none,
as through the framework.

Between requests a connection is parked with one loop (:meth:`FastReads.run`):
an epoll of its own over every parked socket, which reads what each sends
and writes the kept answers without waking the connection's task (a trio
wait per request costs more than the rest of the answer). The task is woken
for what the loop does not do alone: an answer the app must make, a request
to hand over, a ``Connection: close``, a reader too slow to take an answer
at once, the end.

What the listener hands to Hypercorn instead, with the bytes already read (the
rest of the connection goes there too): any request this road does not
recognize, or not wholly (another method, a body, ``Expect``, ``Upgrade``, a
path with escapes, a query parameter its route does not read, too many header
fields, a head that does not parse); and a head over the size limit.

The connection limits of the listener hold on this road: a connection waits
for the whole head of its next request ``http_keepalive_seconds`` at most
(``http_read_seconds``, if smaller), give or take an eighth; a write that
makes no progress for ``write_stall_seconds`` ends it; when the server
stops, waiting connections are closed at once and busy ones after their
answer.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import select
import socket
import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import parse_qsl, unquote
from wsgiref.handlers import format_date_time

import h11
import trio
from hypercorn.utils import build_and_validate_headers, suppress_body

from .actors.org import OrgHandle
from .domain.statuspage import DOCUMENTS
from .errors import retry_after
from .ratelimit import KeyedBuckets, Network, client_address, trusted_peer
from .rest import drawings
from .rest.hosts import SERVER_PATHS, reader
from .rest.pages import BADGE_WINDOWS
from .rest.web import ASSETS

if TYPE_CHECKING:
    from .config import Limits
    from .rest.common import Parts


KEPT_MAX: Final = 4096  # answers kept (then all are forgotten at once)
KEPT_BYTES: Final = 64 * 1024 * 1024  # ... or bytes of them
HEADS_MAX: Final = 4096  # request heads kept parsed...
HEAD_KEPT_BYTES: Final = 4096  # ... of at most this size (longer ones are parsed each time)
# What an answer is stamped with: what must not have moved for it to stand.
VERSION: Final = 0  # the organization's version
FIGURED: Final = 1  # ... and the figures it shows (read from the store, kept a while)
FIXED: Final = 2  # nothing: a 429 of a given Retry-After
STATIC: Final = 3  # nothing: a static file (read at start-up; not rate limited)
# The figures the status page shows (drawings.figures(what, ...)), and a
# monitor's badges with those each shows (drawings.figure keys' last part).
PAGE_FIGURES: Final = ("bars", "response-times")
MONITOR_BADGES: Final = {
    "uptime.svg": tuple(f"uptime-{window}" for window in BADGE_WINDOWS),
    "response-time.svg": ("response-time",),
    "certificate.svg": ("certificate",),
}
FEEDS: Final = frozenset({"history.rss", "history.atom"})
# A date of the length of every other, where an answer's Date goes.
_NO_DATE: Final = b"Thu, 01 Jan 1970 00:00:00 GMT"
_DATE_FIELD: Final = b"\r\ndate: " + _NO_DATE
_BODY_FIELDS: Final = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})
# Parameters that links shared on the web carry (campaigns, click ids) and no
# public route reads: a document asked for with them is the document (one
# variant, however many click ids a crowd brings). Only plain values: one
# with an escape or another character is the app's to check (it refuses
# control characters).
_TRACKING: Final = re.compile(
    rb"(?:utm_[a-z_]{1,20}|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid)=[A-Za-z0-9._~-]{0,512}"
)
_USED_FIELDS: Final = (
    b"host",
    b"accept-encoding",
    b"if-none-match",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
)


class Head:
    """A request head this road may answer, as h11 read it."""

    __slots__ = (
        "fields",
        "framing",
        "headers",
        "method",
        "origins",
        "raw",
        "target",
        "variant",
    )

    def __init__(
        self,
        raw: bytes,
        request: h11.Request,
        headers: list[tuple[bytes, bytes]],
        fields: dict[bytes, bytes],
        keep_alive: bool,
    ) -> None:
        self.raw = raw
        self.method = request.method.decode("ascii")
        self.headers = headers
        self.fields = fields
        self.target = request.target
        self.framing = (request.method, request.http_version, keep_alive)
        self.variant = (
            *self.framing,
            request.target,
            b"gzip" in fields.get(b"accept-encoding", b""),
            fields.get(b"if-none-match"),
        )
        # The reader's (scheme, host): from a trusted proxy's headers, or not.
        self.origins: list[tuple[str, str | None] | None] = [None, None]

    def header(self, name: str) -> str | None:
        value = self.fields.get(name.encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    def origin(self, trusted: bool, peer: str, proxies: Any) -> tuple[str, str | None]:
        found = self.origins[trusted]
        if found is None:
            found = self.origins[trusted] = reader("http", self.header, peer, proxies)
        return found


_UNREAD: Final[Any] = object()  # a head not parsed yet


def untracked(raw: bytes) -> bytes:
    """A request head ``raw`` whose target has no tracking parameters
    (:data:`_TRACKING`): ``raw`` itself when it has none."""
    end = raw.find(b"\r\n")
    mark = raw.find(b"?", 0, end)
    if mark < 0:
        return raw
    last = raw.rfind(b" ", 0, end)  # before the HTTP version
    if last < mark or not _TRACKING.search(raw, mark, last):
        return raw
    kept = [part for part in raw[mark + 1 : last].split(b"&") if not _TRACKING.fullmatch(part)]
    return raw[:mark] + (b"?" + b"&".join(kept) if kept else b"") + raw[last:]


def parse(raw: bytes, max_head: int, max_headers: int) -> Head | None:
    """``raw`` (one request head) read by h11; None when this road does not answer it."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head)
    conn.receive_data(raw)
    try:
        request = conn.next_event()
        end = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(request, h11.Request) or not isinstance(end, h11.EndOfMessage):
        return None
    if request.method not in (b"GET", b"HEAD") or not request.target.startswith(b"/"):
        return None
    headers = list(request.headers)
    if len(headers) > max_headers:
        return None  # the app answers 431
    path = request.target.partition(b"?")[0]
    if b"%" in path or b"//" in path:
        return None  # routing decodes or redirects those: the app's to answer
    fields: dict[bytes, bytes] = {}
    tokens: set[bytes] = set()
    for name, value in headers:
        if name in _BODY_FIELDS:
            return None
        if name == b"connection":
            tokens.update(t.strip() for t in value.lower().split(b","))
        if name in _USED_FIELDS:
            fields.setdefault(name, value)  # the first, as the app reads it
    # As h11 decides it (and so Hypercorn's answer says so).
    keep_alive = b"close" not in tokens and request.http_version >= b"1.1"
    return Head(raw, request, headers, fields, keep_alive)


def variant(head: Head, origin: tuple[str, str | None], root: str | None) -> tuple[Any, ...]:
    """What the answer to ``head`` depends on, besides the stamp of what it shows."""
    return (head.variant, origin, root)


class Answer:
    """A whole response, as bytes, but for its Date."""

    __slots__ = ("after", "before", "close", "extra", "kind", "second", "stamp", "status", "wire")

    def __init__(self, wire: bytes, status: int, close: bool) -> None:
        at = wire.rindex(_DATE_FIELD, 0, wire.index(b"\r\n\r\n")) + len(_DATE_FIELD)
        self.before = wire[: at - len(_NO_DATE)]
        self.after = wire[at:]
        self.status = status
        self.close = close  # the connection ends after it
        self.kind = FIXED
        self.stamp: Any = None
        self.extra: Any = None
        self.second = -1
        self.wire = b""

    def dated(self, second: int, date: bytes) -> bytes:
        if second != self.second:
            self.wire = self.before + date + self.after
            self.second = second
        return self.wire


# Over the rate limit, and no 429 kept to say so (the app makes it).
_LIMITED_UNKEPT: Final = cast(Answer, object())


class _Route:
    __slots__ = ("extra", "kind", "params", "slug")

    def __init__(
        self, kind: int, slug: str, params: frozenset[str] = frozenset(), extra: Any = None
    ) -> None:
        self.kind = kind
        self.slug = slug
        self.params = params  # the query parameters its route reads
        self.extra = extra


LABEL: Final = frozenset({"label"})
_STATIC: Final = _Route(STATIC, "")


def route(target: bytes, root: str | None) -> _Route | None:
    """The public document ``target`` names (on a host whose root is the
    organization ``root``), and what stamps it; None for anything else,
    and for a query with parameters the document's route does not read.
    A static file is one when asked for as the pages link to it (with its
    content's hash, ``?v=``) or plainly."""
    path, _, query = target.decode("ascii").partition("?")
    if path.startswith("/static/"):
        asset = ASSETS.files.get(path[8:])
        return _STATIC if asset is not None and query in ("", f"v={asset.etag}") else None
    found = _document(path, root)
    if found is None or (query and not {k for k, _ in parse_qsl(query, True)} <= found.params):
        return None
    return found


def _document(path: str, root: str | None) -> _Route | None:
    if root is not None and not any(
        path == p or path.startswith(p + "/") for p in (*SERVER_PATHS, "/status")
    ):
        path = f"/status/{root}" + ("" if path == "/" else path)
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "status" or "" in parts[2:]:
        return None
    slug, rest = parts[2], parts[3:]
    found = len(rest)
    stream = f"org:{slug}"
    if found == 0:
        return _Route(FIGURED, slug, extra=tuple(("page", (what, stream)) for what in PAGE_FIGURES))
    if found == 1 and rest[0] == "history":
        return _Route(VERSION, slug, frozenset({"page"}))
    if (found == 1 and rest[0] == "badge.svg") or (
        found == 3 and rest[0] == "services" and rest[2] == "badge.svg"
    ):
        return _Route(VERSION, slug, LABEL)
    if (
        (found == 1 and rest[0] in FEEDS)
        or (found == 2 and rest[0] in ("incidents", "maintenances"))
        or (found >= 3 and rest[0] == "api" and rest[1] == "v2" and "/".join(rest[2:]) in DOCUMENTS)
    ):
        return _Route(VERSION, slug)
    if found == 3 and rest[0] == "monitors" and rest[2] in MONITOR_BADGES:
        keys = tuple(("badge", ("figure", slug, rest[1], what)) for what in MONITOR_BADGES[rest[2]])
        params = LABEL | {"window"} if rest[2] == "uptime.svg" else LABEL
        return _Route(FIGURED, slug, params, keys)
    return None


class _Conn:
    """A connection on the fast road."""

    __slots__ = (
        "client",
        "data",
        "fd",
        "idle_until",
        "peer",
        "proxies",
        "scope",
        "server",
        "sock",
        "trusted",
        "unsent",
        "waiting",
        "woken",
    )

    def __init__(
        self, sock: socket.socket, client: Any, server: Any, proxies: tuple[Network, ...]
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.client = client
        self.server = server
        self.peer: str = client[0] if client else ""
        self.trusted = bool(proxies) and trusted_peer(self.peer, proxies)
        self.proxies = proxies if self.trusted else ()
        self.scope = trio.CancelScope()  # bounds its task's waits
        self.waiting = False  # its task waits for its next request
        # Parked with the loop (see FastReads.run):
        self.woken: trio.Event | None = None  # set when the loop gives it back
        self.data = b""  # what it read and did not answer (a head's beginning)
        self.unsent = b""  # what it answered and could not write at once
        self.idle_until = math.inf  # the loop closes it if no request is whole by then


class FastReads:
    """The listener's road for public documents (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        limits: Limits,
        max_head: int,
        state: dict[str, Any],
        say: Callable[..., None],
    ) -> None:
        parts: Parts = app.config["SWITCHBOARD"]
        self.say = say  # the listener's log, throttled
        self.app = app
        self.registry = parts.registry
        self.hosts = parts.hosts
        self.proxies = parts.trusted_proxies
        self.drawings: drawings.Drawings = app.config["DRAWINGS"]
        self.buckets: KeyedBuckets = app.config["PUBLIC_BUCKETS"]
        self.limits = limits
        self.max_head = max_head
        self.state = state  # the lifespan's, as Hypercorn gives each request
        self.heads: dict[bytes, Head | None] = {}
        self.answers: dict[Any, Answer] = {}
        self.kept_bytes = 0
        self.making: dict[Any, trio.Event] = {}  # variants whose answer is being made
        self.conns: set[_Conn] = set()
        # A connection waits this long for its next request (its whole head),
        # give or take an eighth (how often the loop looks, and how far a
        # task's deadline may lag behind, so that it is not moved at each request).
        self.idle = min(limits.http_keepalive_seconds, limits.http_read_seconds)
        self.slack = self.idle / 8
        self.parked: dict[int, _Conn] = {}  # by descriptor: the loop's
        self.epoll: select.epoll | None = None  # while the loop runs
        self._running = trio.CancelScope()  # the loop's
        self.stopping = False
        self._second = -1
        self._date = b""
        # What it did: answers sent from what was kept, answers made by the
        # app (and sent), connections handed to Hypercorn.
        self.answered = 0
        self.made = 0
        self.handed = 0

    def stop(self) -> None:
        """The server stops: idle connections end now, busy ones after their answer."""
        self.stopping = True
        self._running.cancel()
        for conn in list(self.parked.values()):
            self._unpark(conn, close=True)
        for conn in list(self.conns):
            if conn.waiting:
                conn.scope.cancel()

    def figures(self) -> dict[str, int]:
        return {"answered": self.answered, "made": self.made, "handed_over": self.handed}

    # -- the loop: connections between requests ----------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch the parked connections (those waiting for their next
        request) with one epoll of its own, and answer what they ask from
        what is kept, without waking their tasks: a task is woken only for
        what the loop cannot do alone (an answer to make, a request to hand
        over, a slow reader, the end)."""
        self.epoll = epoll = select.epoll()
        try:
            with self._running:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._sweep)
                    task_status.started()
                    while True:
                        await trio.lowlevel.wait_readable(epoll.fileno())
                        for fd, _ in epoll.poll(0, 512):
                            conn = self.parked.get(fd)
                            if conn is None:
                                continue
                            try:
                                self._readable(conn)
                            except Exception:  # one connection's failure must not end the loop
                                self.say(
                                    logging.ERROR,
                                    "fast",
                                    "a parked connection failed",
                                    exc_info=True,
                                )
                                self._unpark(conn, close=True)
        finally:
            self.epoll = None
            for conn in list(self.parked.values()):
                self._unpark(conn, close=True)
            epoll.close()

    async def _sweep(self) -> None:
        """Close the parked connections that have waited too long."""
        while True:
            await trio.sleep(self.slack)
            now = trio.current_time()
            for conn in list(self.parked.values()):
                if conn.idle_until < now:
                    self._unpark(conn, close=True)

    def _readable(self, conn: _Conn) -> None:
        """What a parked connection sent: answered from what is kept while
        that can be; the connection's task is woken for the rest."""
        try:
            chunk = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._unpark(conn, close=True)
            return
        data = conn.data + chunk if conn.data else chunk
        out: list[bytes] = []
        while not self.stopping:
            end = data.find(b"\r\n\r\n")
            if end < 0 or end + 4 > self.max_head:
                break
            head = self._head(data[: end + 4])
            if head is None or not head.framing[2]:  # not ours, or the last: the task's
                break
            answer = self._kept(conn, head, self._variant(conn, head)[0])
            if answer is None or answer is _LIMITED_UNKEPT:
                break
            out.append(self._dated(answer))
            data = data[end + 4 :]
        conn.data = data
        if out:
            if not self._write_now(conn, out):
                self._unpark(conn)  # a slow reader: its task writes the rest
                return
            conn.idle_until = trio.current_time() + self.idle
        if self.stopping or data.find(b"\r\n\r\n") >= 0 or len(data) > self.max_head:
            self._unpark(conn)  # a request the loop does not answer alone

    def _write_now(self, conn: _Conn, out: list[bytes]) -> bool:
        """Write ``out`` if the socket takes it all now; else keep the rest
        in ``unsent`` and say False."""
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = len(data)  # the peer is gone: the next read says so
        if sent < len(data):
            conn.unsent = data[sent:]
            return False
        return True

    async def _park(self, conn: _Conn) -> bool:
        """Leave ``conn`` to the loop until it needs its task again; False
        when the connection is over."""
        conn.data = conn.unsent = b""
        epoll = self.epoll
        if epoll is None or self.stopping:
            return not self.stopping
        conn.woken = woken = trio.Event()
        conn.idle_until = trio.current_time() + self.idle
        self.parked[conn.fd] = conn
        epoll.register(conn.fd, select.EPOLLIN)
        try:
            await woken.wait()
        finally:
            if self.parked.get(conn.fd) is conn:  # cancelled while parked
                self._unpark(conn, close=True)
        return conn.woken is not None

    def _unpark(self, conn: _Conn, *, close: bool = False) -> None:
        """Give ``conn`` back to its task (with what it read and did not
        answer, in ``data``); or, with ``close``, end it."""
        if self.parked.pop(conn.fd, None) is None:
            return
        if self.epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(conn.fd)
        woken = conn.woken
        if close:
            conn.woken = None
        if woken is not None:
            woken.set()

    # -- a connection's task -------------------------------------------------------------

    async def serve(
        self, sock: socket.socket, data: bytes, client: Any, server: Any
    ) -> bytes | None:
        """Answer the requests in ``data`` and those that follow on ``sock``
        while this road may. The bytes to hand to Hypercorn, from the first
        request it may not answer; None once the connection is done."""
        conn = _Conn(sock, client, server, self.proxies)
        self.conns.add(conn)
        try:
            with conn.scope:
                self._wait_from_now(conn)
                return await self._serve(conn, data)
            return None  # silent past its bound, or the server stops
        finally:
            self.conns.discard(conn)

    async def _serve(self, conn: _Conn, data: bytes) -> bytes | None:
        out: list[bytes] = []
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0 or end + 4 > self.max_head:
                if out:
                    if not await self._send(conn, out):
                        return None
                    out = []
                    self._wait_from_now(conn)
                if len(data) > self.max_head:
                    return self._hand(data)
                if not data and self.epoll is not None:
                    conn.scope.deadline = math.inf  # the loop keeps the idle bound
                    if not await self._park(conn):
                        return None
                    data = conn.data
                    if conn.unsent and not await self._send(conn, [conn.unsent]):
                        return None
                    self._wait_from_now(conn)
                    continue
                more = await self._receive(conn)
                if not more:
                    return None
                data += more
                continue
            head = self._head(data[: end + 4])
            if head is None:
                return await self._hand_after(conn, out, data)
            key, root = self._variant(conn, head)
            answer = self._kept(conn, head, key)
            if answer is _LIMITED_UNKEPT:
                conn.scope.deadline = math.inf  # for the app, as it makes the 429
                answer = await self._limited(conn, head)
            elif answer is None:
                found = route(head.target, root)
                if found is None:
                    return await self._hand_after(conn, out, data)
                if out:  # what came before goes first: making this may take a while
                    if not await self._send(conn, out):
                        return None
                    out = []
                conn.scope.deadline = math.inf  # the idle bound is for waiting for requests
                underway = self.making.get(key)
                if underway is not None:
                    await underway.wait()  # another connection makes this very answer
                    continue  # and this one looks again
                answer = await self._make(conn, head, key, found)
            out.append(self._dated(answer))
            data = data[end + 4 :]
            if answer.close or (self.stopping and not data):
                await self._send(conn, out)
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_WR)
                return None

    def _head(self, raw: bytes) -> Head | None:
        """``raw`` parsed (kept by its bytes); None when this road does not
        answer it. A head with tracking parameters is the head without them
        (kept as such: a click id of its own in each request parses once)."""
        head: Head | None = self.heads.get(raw, _UNREAD)
        if head is _UNREAD:
            plain = untracked(raw)
            if plain is not raw:
                head = self.heads.get(plain, _UNREAD)
                if head is not _UNREAD:
                    return head
            head = parse(plain, self.max_head, self.limits.max_headers)
            if len(plain) <= HEAD_KEPT_BYTES:
                if len(self.heads) >= HEADS_MAX:
                    self.heads.clear()
                self.heads[plain] = head
        return head

    def _variant(self, conn: _Conn, head: Head) -> tuple[Any, str | None]:
        """The variant ``head`` asks for, and the organization at its host's root."""
        origin = head.origin(conn.trusted, conn.peer, conn.proxies)
        root = self.hosts.org_at(origin[1]) if self.hosts is not None else None
        return variant(head, origin, root), root

    def _kept(self, conn: _Conn, head: Head, key: Any) -> Answer | None:
        """The kept answer to ``head``, its client's token taken; or the kept
        429 when it is over its rate limit (:data:`_LIMITED_UNKEPT` when
        there is none yet). None when there is no answer that stands: then
        no token was taken."""
        answer = self.answers.get(key)
        if answer is None or answer.stamp != self._stamp(answer.kind, answer.extra):
            return None
        if answer.kind == STATIC:  # as through the framework: no token
            self.answered += 1
            return answer
        wait = self.buckets.take(self._ip(conn, head) if conn.trusted else conn.peer)
        if wait:
            return self.answers.get((FIXED, head.framing, retry_after(wait)), _LIMITED_UNKEPT)
        self.answered += 1
        return answer

    def _dated(self, answer: Answer) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._date = format_date_time(second).encode("ascii")
            self._second = second
        return answer.dated(second, self._date)

    def _wait_from_now(self, conn: _Conn) -> None:
        """Bound the wait for the next request, from now (see ``slack``)."""
        until = trio.current_time() + self.idle
        if not until <= conn.scope.deadline <= until + self.slack:
            conn.scope.deadline = until + self.slack

    def _hand(self, data: bytes) -> bytes:
        self.handed += 1
        return data

    async def _hand_after(self, conn: _Conn, out: list[bytes], data: bytes) -> bytes | None:
        """Hand ``data`` over once what was answered before it is sent."""
        if out and not await self._send(conn, out):
            return None
        return self._hand(data)

    async def _receive(self, conn: _Conn) -> bytes:
        """What the peer sends next; b"" when it left, or the server stops."""
        while not self.stopping:
            conn.waiting = True
            try:
                await trio.lowlevel.wait_readable(conn.sock)
            finally:
                conn.waiting = False
            try:
                return conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return b""
        return b""

    async def _send(self, conn: _Conn, out: list[bytes]) -> bool:
        """Write ``out``; False when the peer took nothing for
        ``write_stall_seconds`` (or is gone)."""
        if self._write_now(conn, out):
            return True
        conn.scope.deadline = math.inf  # a slow reader is held to the write stall bound
        view, conn.unsent = memoryview(conn.unsent), b""
        while view:
            with trio.move_on_after(self.limits.write_stall_seconds):
                await trio.lowlevel.wait_writable(conn.sock)
            try:
                sent = conn.sock.send(view)
            except BlockingIOError:
                return False  # no progress for the whole stall bound
            except OSError:
                return False
            view = view[sent:]
        return True

    # -- answers ---------------------------------------------------------------------

    def _stamp(self, kind: int, extra: Any) -> Any:
        """The stamp of what an answer of ``kind`` about ``extra[0]`` (a
        stream) shows now; None when it cannot be known without the app."""
        if kind == FIXED:
            return None
        if kind == STATIC:
            return STATIC  # the files do not change while the server runs
        stream = extra[0]
        handle = self.registry.loaded(stream)
        if not isinstance(handle, OrgHandle) or handle.committed is None:
            return None
        state = handle.committed
        if state.deleted:
            return None
        if kind == VERSION:
            return state.version
        now = time.monotonic()
        made = []
        for which, key in extra[1]:  # when each figure was worked out, if it stands
            if which == "page":
                figure, ttl = self.drawings.figures.get(key), drawings.BARS_TTL
            else:
                figure, ttl = self.drawings.badge_figures.get(key), drawings.FIGURES_TTL
            fresh = figure is not None and figure[0] == state.version and now - figure[1] < ttl
            made.append(figure[1] if fresh and figure is not None else None)
        return (state.version, tuple(made))

    async def _make(self, conn: _Conn, head: Head, key: Any, found: _Route) -> Answer:
        """The answer to ``head`` from the app (which takes its token), kept
        when nothing it shows moved meanwhile."""
        extra = (f"org:{found.slug}", found.extra)
        self.making[key] = done = trio.Event()
        try:
            before = self._stamp(found.kind, extra)
            answer = await self.answer(head, conn.client, conn.server)
            self.made += 1
            after = self._stamp(found.kind, extra)
            if answer.status in (200, 304) and before is not None and before == after:
                answer.kind, answer.extra, answer.stamp = found.kind, extra, before
                self._keep(key, answer)
            return answer
        finally:
            del self.making[key]
            done.set()

    def _ip(self, conn: _Conn, head: Head) -> str:
        """The client's address, behind a trusted proxy (as the app finds it)."""
        forwarded = head.fields.get(b"x-forwarded-for")
        return client_address(
            conn.peer, None if forwarded is None else forwarded.decode("latin-1"), conn.proxies
        )

    async def _limited(self, conn: _Conn, head: Head) -> Answer:
        """The app's 429 for ``head``, over its rate limit; kept per Retry-After."""
        answer = await self.answer(head, conn.client, conn.server)  # over the limit there too
        self.made += 1
        found = re.search(rb"\r\nretry-after: (\d+)\r\n", answer.before)
        if answer.status == 429 and found is not None:
            self._keep((FIXED, head.framing, found[1].decode()), answer)
        return answer

    def _keep(self, key: Any, answer: Answer) -> None:
        size = len(answer.before) + len(answer.after)
        if len(self.answers) >= KEPT_MAX or self.kept_bytes + size > KEPT_BYTES:
            self.answers.clear()
            self.kept_bytes = 0
        old = self.answers.get(key)
        if old is not None:
            self.kept_bytes -= len(old.before) + len(old.after)
        self.answers[key] = answer
        self.kept_bytes += size

    async def answer(self, head: Head, client: Any, server: Any) -> Answer:
        """``head`` answered by the app, as Hypercorn would call it and frame the answer."""
        path, _, query = head.target.partition(b"?")
        scope = {
            "type": "http",
            "http_version": head.framing[1].decode(),
            "asgi": {"spec_version": "2.1", "version": "3.0"},
            "method": head.method,
            "scheme": "http",
            "path": unquote(path.decode("ascii")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": head.headers,
            "client": client,
            "server": server,
            "state": self.state.copy(),
            "extensions": {},
        }
        asked = False
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await trio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = sent[0]
        assert start["type"] == "http.response.start", start
        body = b"".join(m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body")
        return self.frame(head, int(start["status"]), start.get("headers", []), body)

    @staticmethod
    def frame(head: Head, status: int, headers: Any, body: bytes) -> Answer:
        """The response's bytes as Hypercorn's h11 protocol writes them (its
        Date field left to fill)."""
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(head.raw)
        conn.next_event()
        conn.next_event()
        fields = build_and_validate_headers(headers)
        fields.append((b"date", _NO_DATE))
        wire = conn.send(h11.Response(status_code=status, headers=fields)) or b""
        if body and not suppress_body(head.method, status):
            wire += conn.send(h11.Data(data=body)) or b""
        wire += conn.send(h11.EndOfMessage()) or b""
        return Answer(wire, status, conn.our_state is not h11.DONE)
