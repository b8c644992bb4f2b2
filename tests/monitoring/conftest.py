"""Fixtures of the monitoring tests: a web server the test controls, and
``switchboard probe`` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import trio
from monitor_support import Probes
from support import Api, admin_token
from target import HttpServer, serve_http

from server.main import Server


@pytest.fixture
async def web(nursery: trio.Nursery) -> HttpServer:
    return await serve_http(nursery)


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
