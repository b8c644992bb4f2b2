"""Fixtures: a real embedded PostgreSQL, a real server on a free port, real clients."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from support import TEST_SECRET, Api, admin_token, open_ws

from server.config import Config, Limits
from server.main import Server
from server.store import Store

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


@pytest.fixture
def database_url(switchboard_database_url: str) -> str:
    """A fresh, empty database for one test, in the run's one embedded PostgreSQL
    (the client kit's, so that the kit's tests and ours share it)."""
    return switchboard_database_url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """The event store on the test database, migrated."""
    async with Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """trio's MockClock at the real pace; a test that asks for it jumps it on
    (pytest-trio's ``mock_clock`` stands still: nothing that waits for time
    to pass, a poll or a hang guard, ever ends on it unless the test jumps)."""
    return trio.testing.MockClock(rate=1.0)


@pytest.fixture
def limits() -> Limits:
    """Override in a test module to run the server with other limits."""
    return Limits()


@pytest.fixture
def config(database_url: str, tmp_path: Path, limits: Limits) -> Config:
    return Config(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret=TEST_SECRET,
        demo=True,
        limits=limits,
        # The tests' targets, receivers and identity providers are on loopback
        # (tests of the network rule itself set their own).
        check_networks="any",
    )


@pytest.fixture
async def server(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The whole server, in this process, with the demo organization."""
    running: Server = await nursery.start(Server(config).run)
    yield running
    await running.stop()


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    async with Api.open(server.base_url, admin_token("demo")) as client:
        yield client


@pytest.fixture
def ws(server: Server):  # type: ignore[no-untyped-def]
    """``async with ws() as conn:`` opens a WebSocket to the server."""
    return lambda **kw: open_ws(server.base_url, **kw)


# The client package's pytest kit (real server, connected clients, assert_event).
pytest_plugins = ["switchboard_client.testing"]
