"""Fixtures of the monitoring tests: a web server the test controls, and
``switchboard probe`` processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio
from monitor_support import Probes
from target import HttpServer, serve_http


@pytest.fixture
async def web(nursery: trio.Nursery) -> HttpServer:
    return await serve_http(nursery)


@pytest.fixture
def probes() -> Iterator[Probes]:
    running = Probes()
    yield running
    running.stop_all()
