"""HTTP connections end when they should, proved on raw sockets: after
``Connection: close``, after an error, when idle, when a request stops
arriving; and malformed or oversized heads are refused.

The limits are made short so that the tests wait little; the waits below are
hang guards, never measurements."""

from __future__ import annotations

import re

import pytest
import trio
from support import TIMEOUT

from server.config import Limits
from server.main import Server

pytestmark = pytest.mark.parametrize(
    "limits", [Limits(http_keepalive_seconds=0.5, http_read_seconds=0.5, handshake_timeout=1.0)]
)

GET = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"


async def connect(server: Server) -> trio.SocketStream:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    return await trio.open_tcp_stream(host, int(port))


async def until_closed(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    got = b""
    with trio.fail_after(TIMEOUT):
        while chunk := await stream.receive_some(65536):
            got += chunk
    return got


def answers(data: bytes) -> list[bytes]:
    """The status lines of the responses in ``data`` (a body runs straight into
    the next response's status line)."""
    return re.findall(rb"HTTP/1\.1 \d{3} ", data)


async def test_connection_close_closes_after_the_answer(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 200 "] and got.endswith(b'{"status":"ok"}')


async def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(GET + GET)  # pipelined: both answered, in order
        got = await until_closed(stream)  # then nothing more comes, and it ends
    assert answers(got) == [b"HTTP/1.1 200 ", b"HTTP/1.1 200 "]


async def test_a_later_head_that_never_ends_is_cut(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(GET + b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow")
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 200 "]


async def test_a_body_that_stops_arriving_is_cut(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}"
        )
        got = await until_closed(stream)
    assert answers(got) == []  # nothing to answer: the request never came whole


async def test_a_request_refused_before_its_body_ends_the_connection(server: Server) -> None:
    """The answer comes at once; the body that was never read cannot be told
    from the next request, so the connection closes instead of hanging."""
    async with await connect(server) as stream:
        await stream.send_all(
            b"POST /api/v1/orgs/demo/incidents HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n"
        )
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 401 "]


async def test_a_refused_request_with_its_body_leaves_the_next_one_answered(
    server: Server,
) -> None:
    body = b'{"name": "x"}'
    refused = (
        b"POST /api/v1/orgs/demo/incidents HTTP/1.1\r\nHost: t\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    async with await connect(server) as stream:
        await stream.send_all(refused + GET)
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 401 ", b"HTTP/1.1 200 "]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /health HTTP/9.9\r\nHost: t\r\n\r\n", b"505"),
        (b"GET /health HTTP/2.0\r\nHost: t\r\n\r\n", b"505"),
        (b"GET /health\r\nHost: t\r\n\r\n", b"400"),
        (b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
        (
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            b"431",
        ),
    ],
)
async def test_malformed_and_oversized_heads_are_refused(
    server: Server, head: bytes, status: bytes
) -> None:
    async with await connect(server) as stream:
        await stream.send_all(head)
        got = await until_closed(stream)
    assert got.startswith(b"HTTP/1.1 " + status), got[:200]
    assert b'"error"' in got


async def test_later_requests_are_held_to_the_same_rules(server: Server) -> None:
    many = b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"
    async with await connect(server) as stream:
        await stream.send_all(GET + many)
        got = await until_closed(stream)
    assert answers(got)[:2] == [b"HTTP/1.1 200 ", b"HTTP/1.1 431 "]


async def test_a_silent_connection_is_closed(server: Server) -> None:
    async with await connect(server) as stream:
        assert await until_closed(stream) == b""


# -- the same on the listener's fast road (public documents) -------------------------

DOC = b"GET /status/demo/api/v2/status.json HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_a_public_document_then_connection_close(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(DOC + DOC.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 200 ", b"HTTP/1.1 200 "]
    assert got.lower().count(b"connection: close\r\n") == 1 and got.endswith(b"}}")


async def test_http_1_0_gets_its_document_and_the_end(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(b"GET /status/demo/api/v2/status.json HTTP/1.0\r\n\r\n" + DOC)
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 200 "] and b"connection: close\r\n" in got.lower()


async def test_idle_and_unfinished_after_public_documents(server: Server) -> None:
    async with await connect(server) as stream:
        await stream.send_all(DOC + DOC)
        assert answers(await until_closed(stream)) == [b"HTTP/1.1 200 "] * 2
    async with await connect(server) as stream:
        await stream.send_all(DOC + b"GET /status/demo HTTP/1.1\r\nHost: t\r\nX-Slow")
        assert answers(await until_closed(stream)) == [b"HTTP/1.1 200 "]


async def test_documents_and_other_requests_share_a_connection_in_order(server: Server) -> None:
    """The fast road answers while it can, then hands the rest of the
    connection to the framework, which answers in order."""
    badge = b"GET /status/demo/badge.svg HTTP/1.1\r\nHost: t\r\n\r\n"
    async with await connect(server) as stream:
        await stream.send_all(DOC + badge + GET + DOC + badge)
        got = await until_closed(stream)
    assert answers(got) == [b"HTTP/1.1 200 "] * 5
    kinds = re.findall(rb"content-type: ([a-z/+]+)", got)
    json, svg = b"application/json", b"image/svg+xml"
    assert kinds == [json, svg, json, json, svg]
    assert got.index(b'{"status":"ok"}') < got.rindex(b'"status":{"indicator"')


async def test_later_heads_after_documents_are_held_to_the_same_rules(server: Server) -> None:
    many = b"GET /status/demo/badge.svg HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"
    async with await connect(server) as stream:
        await stream.send_all(DOC + many)
        got = await until_closed(stream)
    assert answers(got)[:2] == [b"HTTP/1.1 200 ", b"HTTP/1.1 431 "]
