"""The checks against real local servers whose answers each test sets.

The HTTP server is h11 over trio's TCP (or TLS) listener: a test maps paths to
a :class:`Reply` (status, body, delay, a body that never ends, a dropped
connection) and reads back what the probe sent. Certificates come from a
trustme CA that only the tests' SSL contexts trust.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest
import trio
import trustme
from target import HttpServer, Reply, leaf_context, listen

from server import __version__
from server.domain.specs import HttpSpec, TcpSpec, TlsSpec, parse_spec
from server.monitoring.checks import (
    MAX_BODY,
    CheckResult,
    HttpClients,
    check_http,
    check_tcp,
    check_tls,
    describe_error,
    make_client,
)
from server.netguard import ANY

MiB = 1024 * 1024


async def serve_tls(nursery: trio.Nursery, cert: trustme.LeafCert) -> HttpServer:
    server = HttpServer("https")
    server.port = await listen(
        nursery, partial(trio.serve_ssl_over_tcp, ssl_context=leaf_context(cert)), server.handle
    )
    return server


@pytest.fixture
async def clients(trusting: ssl.SSLContext) -> AsyncIterator[HttpClients]:
    async with HttpClients(ANY, ssl_context=trusting) as made:
        yield made


def http_spec(url: str, **settings: Any) -> HttpSpec:
    spec = parse_spec("http", {"url": url, "timeout": 5, **settings})
    assert isinstance(spec, HttpSpec)
    return spec


async def probe(web: HttpServer, clients: HttpClients, path: str, **settings: Any) -> CheckResult:
    spec = http_spec(web.url(path), **settings)
    return await check_http(spec, clients.for_spec(spec))


# ---------------------------------------------------------------------------
# HTTP


class TestStatus:
    async def test_up(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/health"] = Reply(200, b"all good")
        result = await probe(web, clients, "/health")
        assert (result.outcome, result.status_code, result.error) == ("up", 200, None)
        assert result.latency_ms is not None and result.latency_ms >= 0
        assert result.expires_at is None

    async def test_unexpected_status(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/health"] = Reply(503, b"busy")
        result = await probe(web, clients, "/health")
        assert (result.outcome, result.status_code) == ("down", 503)
        assert result.error == "status 503, expected 200-399"
        assert result.latency_ms is not None

    async def test_listed_codes_and_ranges(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/gone"] = Reply(410, b"")
        expected = ["200", "401-410"]
        assert (await probe(web, clients, "/gone", expected_status=expected)).outcome == "up"
        result = await probe(web, clients, "/gone", expected_status=["200", "401-409"])
        assert result.error == "status 410, expected 200, 401-409"

    async def test_request_as_specified(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/hook"] = Reply(201, b"made")
        result = await probe(
            web,
            clients,
            "/hook",
            method="POST",
            headers={"Authorization": "Bearer t0ken", "X-Probe": "yes"},
            body='{"ping": 1}',
        )
        assert result.outcome == "up"
        (seen,) = web.seen
        assert (seen.method, seen.path, seen.body) == ("POST", "/hook", b'{"ping": 1}')
        assert seen.headers["authorization"] == "Bearer t0ken"
        assert seen.headers["x-probe"] == "yes"
        assert seen.headers["user-agent"] == f"Switchboard-Monitor/{__version__}"

    async def test_head(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(200, b"")
        assert (await probe(web, clients, "/", method="HEAD")).outcome == "up"
        assert web.seen[0].method == "HEAD"

    async def test_cookies_are_not_kept(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(headers=[("Set-Cookie", "session=abc; Path=/")])
        await probe(web, clients, "/")
        await probe(web, clients, "/")
        assert [seen.headers.get("cookie") for seen in web.seen] == [None, None]


class TestKeyword:
    async def test_present(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"<p>Status: OK</p>")
        assert (await probe(web, clients, "/", keyword="Status: OK")).outcome == "up"

    async def test_missing(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"<p>Status: degraded</p>")
        result = await probe(web, clients, "/", keyword="OK")
        assert (result.outcome, result.status_code) == ("down", 200)
        assert result.error == "keyword 'OK' not found"

    async def test_case_matters(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"ok")
        assert (await probe(web, clients, "/", keyword="OK")).outcome == "down"

    async def test_absent_mode(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/fine"] = Reply(body=b"all systems go")
        web.routes["/broken"] = Reply(body=b"ERROR: database unreachable")
        assert (
            await probe(web, clients, "/fine", keyword="ERROR", keyword_absent=True)
        ).outcome == "up"
        result = await probe(web, clients, "/broken", keyword="ERROR", keyword_absent=True)
        assert (result.outcome, result.error) == ("down", "keyword 'ERROR' found")

    async def test_body_charset(self, web: HttpServer, clients: HttpClients) -> None:
        body = "Zustand: grün".encode("latin-1")
        web.routes["/"] = Reply(
            body=body, headers=[("Content-Type", "text/plain; charset=latin-1")]
        )
        assert (await probe(web, clients, "/", keyword="grün")).outcome == "up"


class TestJson:
    DOC = orjson.dumps({"status": {"db": "ok", "lag": 3}, "items": [{"ok": True}], "n": None})

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("status.db", "ok"),
            ("status.lag", 3),
            ("status.lag", "3"),
            ("items.0.ok", True),
            ("n", "null"),
            ("status", None),  # only has to exist
            ("items.0", None),
        ],
    )
    async def test_match(
        self, web: HttpServer, clients: HttpClients, path: str, expected: Any
    ) -> None:
        web.routes["/"] = Reply(body=self.DOC)
        result = await probe(web, clients, "/", json_path=path, json_expected=expected)
        assert (result.outcome, result.error) == ("up", None)

    @pytest.mark.parametrize(
        ("path", "expected", "error"),
        [
            (
                "status.db",
                "fine",
                "JSON path status.db does not hold 'fine' (it holds another string)",
            ),
            (
                "items.0.ok",
                False,
                "JSON path items.0.ok does not hold 'false' (it holds true, false or null)",
            ),
            ("status.cache", None, "JSON path status.cache not found"),
            ("items.1", None, "JSON path items.1 not found"),
            ("items.ok", None, "JSON path items.ok not found"),
            ("status.db.x", None, "JSON path status.db.x not found"),
        ],
    )
    async def test_mismatch(
        self, web: HttpServer, clients: HttpClients, path: str, expected: Any, error: str
    ) -> None:
        web.routes["/"] = Reply(body=self.DOC)
        result = await probe(web, clients, "/", json_path=path, json_expected=expected)
        assert (result.outcome, result.error, result.status_code) == ("down", error, 200)

    async def test_invalid_json(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"<html>not json</html>")
        result = await probe(web, clients, "/", json_path="status")
        assert (result.outcome, result.error) == ("down", "body is not valid JSON")


class TestTime:
    async def test_slow_is_degraded(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(delay=0.3)
        result = await probe(web, clients, "/", degraded_ms=100)
        assert (result.outcome, result.status_code) == ("degraded", 200)
        assert result.error is not None
        assert result.error.startswith("slow: ") and result.error.endswith(" ms > 100 ms")

    async def test_fast_enough_is_up(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply()
        assert (await probe(web, clients, "/", degraded_ms=30_000)).outcome == "up"

    async def test_failure_beats_slowness(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(500, delay=0.2)
        assert (await probe(web, clients, "/", degraded_ms=1)).outcome == "down"

    async def test_timeout(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(delay=30)
        result = await probe(web, clients, "/", timeout=1)
        assert result == CheckResult("down", None, "timed out after 1 s")

    async def test_trickling_body_times_out(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"partial", endless=True)
        result = await probe(web, clients, "/", timeout=1.5)
        assert (result.outcome, result.error) == ("down", "timed out after 1.5 s")


class TestConnection:
    async def test_refused(self, closed_port: int, clients: HttpClients) -> None:
        spec = http_spec(f"http://127.0.0.1:{closed_port}/")
        result = await check_http(spec, clients.for_spec(spec))
        assert result == CheckResult("down", None, "connection refused")

    async def test_dropped(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(drop=True)
        result = await probe(web, clients, "/")
        assert (result.outcome, result.status_code) == ("down", None)
        assert result.error == "server disconnected without sending a response"


class TestRedirects:
    async def test_followed(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/old"] = Reply(301, b"moved", headers=[("Location", "/mid")])
        web.routes["/mid"] = Reply(307, b"", headers=[("Location", web.url("/new"))])
        web.routes["/new"] = Reply(200, b"here it is")
        result = await probe(web, clients, "/old", expected_status=["200"], keyword="here it is")
        assert (result.outcome, result.status_code) == ("up", 200)
        assert [seen.path for seen in web.seen] == ["/old", "/mid", "/new"]

    async def test_not_followed(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/old"] = Reply(302, b"moved", headers=[("Location", "/new")])
        result = await probe(web, clients, "/old", follow_redirects=False)
        assert (result.outcome, result.status_code) == ("up", 302)
        result = await probe(web, clients, "/old", follow_redirects=False, expected_status=["200"])
        assert (result.outcome, result.error) == ("down", "status 302, expected 200")
        assert {seen.path for seen in web.seen} == {"/old"}

    async def test_redirect_body_is_not_read(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/old"] = Reply(302, b"x" * 1000, headers=[("Location", "/new")], endless=True)
        web.routes["/new"] = Reply()
        result = await probe(web, clients, "/old", timeout=2)
        assert (result.outcome, result.status_code) == ("up", 200)

    async def test_loop(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/a"] = Reply(302, b"", headers=[("Location", "/b")])
        web.routes["/b"] = Reply(302, b"", headers=[("Location", "/a")])
        result = await probe(web, clients, "/a")
        assert result == CheckResult("down", None, "more than 10 redirects")
        assert len(web.seen) == 11


class TestBodyCap:
    async def test_keyword_beyond_the_cap(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"START" + b"." * (3 * MiB) + b"END")
        assert (await probe(web, clients, "/", keyword="START")).outcome == "up"
        result = await probe(web, clients, "/", keyword="END")
        assert result.error == "keyword 'END' not found in the first 1 MiB"

    async def test_exactly_the_cap(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b"." * (MAX_BODY - 3) + b"END")
        assert (await probe(web, clients, "/", keyword="END")).outcome == "up"

    async def test_stops_reading(self, web: HttpServer, clients: HttpClients) -> None:
        """The server never finishes: a probe that read on would time out."""
        web.routes["/"] = Reply(body=b"OK" + b"." * (2 * MiB), endless=True)
        result = await probe(web, clients, "/", keyword="OK", timeout=3)
        assert (result.outcome, result.error) == ("up", None)

    async def test_json_too_large(self, web: HttpServer, clients: HttpClients) -> None:
        web.routes["/"] = Reply(body=b'{"a": "' + b"x" * (2 * MiB) + b'"}')
        result = await probe(web, clients, "/", json_path="a")
        assert result.error == "body over 1 MiB, too large to read as JSON"


class TestHttps:
    async def test_trusted(
        self, nursery: trio.Nursery, ca: trustme.CA, clients: HttpClients
    ) -> None:
        server = await serve_tls(nursery, ca.issue_cert("127.0.0.1"))
        server.routes["/"] = Reply(body=b"secure")
        result = await probe(server, clients, "/", keyword="secure")
        assert (result.outcome, result.status_code) == ("up", 200)

    async def test_untrusted(self, nursery: trio.Nursery) -> None:
        server = await serve_tls(nursery, trustme.CA().issue_cert("127.0.0.1"))
        async with HttpClients(ANY) as system_trust:
            result = await probe(server, system_trust, "/")
        assert result.outcome == "down"
        assert result.error is not None and result.error.startswith("TLS certificate rejected: ")

    async def test_verification_off(self, nursery: trio.Nursery) -> None:
        server = await serve_tls(nursery, trustme.CA().issue_cert("example.org"))
        server.routes["/"] = Reply()
        async with HttpClients(ANY) as system_trust:
            result = await probe(server, system_trust, "/", verify_tls=False)
        assert (result.outcome, result.status_code) == ("up", 200)

    async def test_expired(
        self, nursery: trio.Nursery, ca: trustme.CA, clients: HttpClients
    ) -> None:
        now = datetime.now(UTC)
        cert = ca.issue_cert(
            "127.0.0.1", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
        )
        server = await serve_tls(nursery, cert)
        result = await probe(server, clients, "/")
        assert result == CheckResult(
            "down", None, "TLS certificate rejected: certificate has expired"
        )


class TestClients:
    async def test_one_client_per_verification_mode(self, trusting: ssl.SSLContext) -> None:
        async with HttpClients(ANY, ssl_context=trusting) as made:
            assert made.get(True) is made.get(True)
            assert made.get(False) is made.get(False)
            assert made.get(True) is not made.get(False)
            assert made.for_spec(http_spec("https://x.test/", verify_tls=False)) is made.get(False)
            verifying = made.get(True)
        assert verifying.is_closed

    async def test_make_client(self) -> None:
        async with make_client(ANY) as client:
            assert client.headers["User-Agent"] == f"Switchboard-Monitor/{__version__}"
            assert not client.trust_env


# ---------------------------------------------------------------------------
# TCP


class TestTcp:
    async def test_up(self, web: HttpServer) -> None:
        result = await check_tcp(TcpSpec(host="127.0.0.1", port=web.port, timeout=2), ANY)
        assert (result.outcome, result.error) == ("up", None)
        assert result.latency_ms is not None and result.latency_ms >= 0

    async def test_by_name(self, web: HttpServer) -> None:
        result = await check_tcp(TcpSpec(host="localhost", port=web.port, timeout=2), ANY)
        assert result.outcome == "up"

    async def test_refused(self, closed_port: int) -> None:
        result = await check_tcp(TcpSpec(host="127.0.0.1", port=closed_port, timeout=2), ANY)
        assert result == CheckResult("down", None, "connection refused")

    async def test_unknown_host(self) -> None:
        result = await check_tcp(TcpSpec(host="no-such-host.invalid", port=80, timeout=2), ANY)
        assert result.outcome == "down" and result.error


# ---------------------------------------------------------------------------
# TLS


async def tls_probe(
    nursery: trio.Nursery,
    cert: trustme.LeafCert,
    context: ssl.SSLContext | None,
    **settings: Any,
) -> CheckResult:
    server = await serve_tls(nursery, cert)
    spec = parse_spec("tls", {"host": "127.0.0.1", "port": server.port, "timeout": 5, **settings})
    assert isinstance(spec, TlsSpec)
    return await check_tls(spec, ANY, context)


class TestTls:
    async def test_valid(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        not_after = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
        cert = ca.issue_cert("127.0.0.1", not_after=not_after)
        result = await tls_probe(nursery, cert, trusting)
        assert (result.outcome, result.error) == ("up", None)
        assert result.expires_at == not_after
        assert result.latency_ms is not None

    async def test_server_name(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        cert = ca.issue_cert("status.example.com")
        result = await tls_probe(nursery, cert, trusting, server_name="status.example.com")
        assert result.outcome == "up"

    async def test_expiring_soon(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        not_after = (datetime.now(UTC) + timedelta(days=3, hours=1)).replace(microsecond=0)
        cert = ca.issue_cert("127.0.0.1", not_after=not_after)
        result = await tls_probe(nursery, cert, trusting, days_before_expiry=14)
        assert (result.outcome, result.expires_at) == ("degraded", not_after)
        assert result.error == f"certificate expires in 3 days, on {not_after:%Y-%m-%d %H:%M} UTC"

    async def test_expiring_within_hours(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        not_after = datetime.now(UTC) + timedelta(hours=5, minutes=30)
        result = await tls_probe(nursery, ca.issue_cert("127.0.0.1", not_after=not_after), trusting)
        assert result.outcome == "degraded"
        assert result.error is not None and result.error.startswith(
            "certificate expires in 5 hours"
        )

    async def test_expired(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        now = datetime.now(UTC)
        cert = ca.issue_cert(
            "127.0.0.1", not_before=now - timedelta(days=90), not_after=now - timedelta(days=2)
        )
        result = await tls_probe(nursery, cert, trusting)
        assert result == CheckResult(
            "down", None, "TLS certificate rejected: certificate has expired"
        )

    async def test_hostname_mismatch(
        self, nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
    ) -> None:
        result = await tls_probe(
            nursery, ca.issue_cert("example.org"), trusting, server_name="status.example.com"
        )
        assert result.outcome == "down"
        assert result.error == (
            "TLS certificate rejected: "
            "hostname mismatch, certificate is not valid for 'status.example.com'"
        )

    async def test_untrusted(self, nursery: trio.Nursery) -> None:
        result = await tls_probe(nursery, trustme.CA().issue_cert("127.0.0.1"), None)
        assert result.outcome == "down"
        assert result.error == "TLS certificate rejected: unable to get local issuer certificate"

    async def test_not_tls(self, web: HttpServer, trusting: ssl.SSLContext) -> None:
        spec = TlsSpec(host="127.0.0.1", port=web.port, timeout=2)
        result = await check_tls(spec, ANY, trusting)
        assert result.outcome == "down"
        assert result.error is not None and result.error.startswith("TLS handshake failed: ")

    async def test_refused(self, closed_port: int) -> None:
        result = await check_tls(TlsSpec(host="127.0.0.1", port=closed_port, timeout=2), ANY)
        assert result == CheckResult("down", None, "connection refused")

    async def test_handshake_timeout(self, nursery: trio.Nursery) -> None:
        async def silent(stream: trio.SocketStream) -> None:
            await trio.sleep_forever()

        port = await listen(nursery, trio.serve_tcp, silent)
        result = await check_tls(TlsSpec(host="127.0.0.1", port=port, timeout=1), ANY)
        assert result == CheckResult("down", None, "timed out after 1 s")


# ---------------------------------------------------------------------------
# Errors in words


class TestDescribeError:
    def test_cause_deep_in_a_group(self) -> None:
        try:
            try:
                raise OSError("all attempts failed") from ExceptionGroup(
                    "all", [ConnectionRefusedError(111, "Connection refused")]
                )
            except OSError as inner:
                raise RuntimeError("wrapped") from inner
        except RuntimeError as outer:
            assert describe_error(outer) == "connection refused"

    def test_os_error_words(self) -> None:
        assert describe_error(OSError(101, "Network is unreachable")) == "network is unreachable"

    def test_plain_message(self) -> None:
        assert describe_error(ValueError("Something odd.")) == "something odd"
        assert describe_error(ValueError()) == "ValueError"
