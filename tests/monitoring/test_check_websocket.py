"""WebSocket checks against an echo server (trio-websocket) the test runs on loopback."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trio
import trustme
from kind_targets import EchoServer, serve_echo
from target import HttpServer, leaf_context

from server.domain.specs import WebSocketSpec, parse_spec
from server.monitoring.checks import CheckResult
from server.monitoring.wscheck import check_websocket
from server.netguard import ANY, NetworkRule


@pytest.fixture
async def echo(nursery: trio.Nursery) -> EchoServer:
    return await serve_echo(nursery)


def spec_for(url: str, **settings: Any) -> WebSocketSpec:
    spec = parse_spec("websocket", {"url": url, "timeout": 5, **settings})
    assert isinstance(spec, WebSocketSpec)
    return spec


async def talk(echo: EchoServer, path: str, **settings: Any) -> CheckResult:
    return await check_websocket(spec_for(f"ws://127.0.0.1:{echo.port}{path}", **settings), ANY)


async def test_the_upgrade_alone_is_up(echo: EchoServer) -> None:
    result = await talk(echo, "/plain?x=1")
    assert result.outcome == "up" and result.error is None and result.latency_ms is not None
    assert echo.paths == ["/plain?x=1"]


@pytest.mark.parametrize(
    ("path", "settings", "outcome"),
    [
        ("/echo", {"send": "ping 42", "expect": "ping 4"}, "up"),
        ("/upper", {"send": "ping", "expect": "PING"}, "up"),
        ("/upper", {"send": "ping", "expect": "ping"}, "down"),
        ("/echo", {"send": '{"op": "status"}', "expect_regex": r'"op":\s*"stat'}, "up"),
        ("/echo", {"send": "abc", "expect_regex": "^b"}, "down"),
        ("/greet", {"expect": "hello"}, "up"),
        ("/greet", {"expect_regex": "(?i)HELLO THERE$"}, "up"),
    ],
)
async def test_a_message_each_way(
    echo: EchoServer, path: str, settings: dict[str, Any], outcome: str
) -> None:
    result = await talk(echo, path, **settings)
    assert result.outcome == outcome, result.error


async def test_a_mismatch_says_what_was_expected_not_what_came(echo: EchoServer) -> None:
    result = await talk(echo, "/upper", send="secret-token", expect="pong")
    assert result.outcome == "down"
    assert result.error == "the first message does not contain 'pong'"
    pattern = await talk(echo, "/upper", send="secret-token", expect_regex="^pong$")
    assert pattern.error == "the first message does not match '^pong$'"


async def test_a_refused_upgrade_is_down(echo: EchoServer) -> None:
    result = await talk(echo, "/reject")
    assert result.outcome == "down"
    assert result.error == "the server answered HTTP 403 instead of upgrading to WebSocket"


async def test_a_web_server_that_does_not_upgrade_is_down(web: HttpServer) -> None:
    result = await check_websocket(spec_for(f"ws://127.0.0.1:{web.port}/"), ANY)
    assert result.outcome == "down"
    assert result.error == "the server answered HTTP 404 instead of upgrading to WebSocket"


async def test_a_server_that_closes_before_answering_is_down(echo: EchoServer) -> None:
    result = await talk(echo, "/close", expect="hello")
    assert result.outcome == "down"
    assert result.error == "the server closed the connection before sending a message"


async def test_a_server_that_never_answers_times_out(echo: EchoServer) -> None:
    result = await talk(echo, "/quiet", send="anyone?", expect="yes", timeout=1)
    assert result.outcome == "down"
    assert result.error == "upgraded, waiting for a message: timed out after 1 s"


async def test_a_closed_port_is_down(closed_port: int) -> None:
    result = await check_websocket(spec_for(f"ws://127.0.0.1:{closed_port}/"), ANY)
    assert result.outcome == "down" and result.error == "connection refused"


async def test_headers_are_sent(nursery: trio.Nursery, web: HttpServer) -> None:
    spec = spec_for(f"ws://localhost:{web.port}/hello", headers={"Authorization": "Bearer t"})
    await check_websocket(spec, ANY)
    (seen,) = web.seen
    assert seen.headers["authorization"] == "Bearer t"
    assert seen.headers["upgrade"].lower() == "websocket"
    assert seen.headers["host"] == f"localhost:{web.port}"
    assert seen.headers["user-agent"].startswith("Switchboard-Monitor/")


async def test_wss_is_verified(
    nursery: trio.Nursery, ca: trustme.CA, trusting: ssl.SSLContext
) -> None:
    echo = await serve_echo(nursery, leaf_context(ca.issue_cert("127.0.0.1")))
    url = f"wss://127.0.0.1:{echo.port}/echo"
    trusted = await check_websocket(spec_for(url, send="hi", expect="hi"), ANY, trusting)
    assert trusted.outcome == "up", trusted.error
    untrusted = await check_websocket(spec_for(url), ANY)
    assert untrusted.outcome == "down"
    assert str(untrusted.error).startswith("TLS certificate rejected")
    unverified = await check_websocket(spec_for(url, verify_tls=False), ANY)
    assert unverified.outcome == "up", unverified.error


async def test_a_host_in_a_refused_network_is_not_reached(echo: EchoServer) -> None:
    spec = spec_for(f"ws://localhost:{echo.port}/echo")
    result = await check_websocket(spec, NetworkRule.parse("public,private"))
    assert result.outcome == "down" and "does not connect to" in str(result.error)
    assert echo.paths == []
