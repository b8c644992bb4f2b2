"""Fixtures of the monitoring tests: a web server the test controls."""

from __future__ import annotations

import pytest
import trio
from target import HttpServer, serve_http


@pytest.fixture
async def web(nursery: trio.Nursery) -> HttpServer:
    return await serve_http(nursery)
