"""Fixtures of the monitoring tests: a web server the test controls, a port
nothing listens on, a test CA and a context trusting it, the server under the
default network rule, and ``switchboard probe`` processes."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trio
import trustme
from monitor_support import Probes, serving
from support import Api, admin_token
from target import HttpServer, serve_http

from server.config import Config
from server.main import Server


@pytest.fixture
async def web(nursery: trio.Nursery) -> HttpServer:
    return await serve_http(nursery)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the tests' CA (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def guarded(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The server with the default rule (public and private networks)."""
    async with serving(config, nursery, "public,private") as running:
        yield running


@pytest.fixture
def probes() -> Iterator[Probes]:
    running = Probes()
    yield running
    running.stop_all()


@pytest.fixture
async def jumping_api(server: Server) -> AsyncIterator[Api]:
    """The demo's admin, a connection per request: no idle connection has to
    outlive a jump of the clock."""
    async with Api.open(server.base_url, admin_token(), keep_alive=False) as client:
        yield client
