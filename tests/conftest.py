"""Fixtures: a real embedded PostgreSQL, a real server on a free port, real clients."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from support import TEST_SECRET, Api, admin_token, open_ws

from server.config import Config, Limits
from server.main import Server

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

_databases = itertools.count()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One embedded PostgreSQL for the whole run (stopped when the run ends)."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def database_url(pg: object) -> str:
    """A fresh, empty database for one test."""
    name = f"test_{next(_databases)}"
    pg.psql(f'CREATE DATABASE "{name}";')  # type: ignore[attr-defined]
    return str(pg.get_uri(name))  # type: ignore[attr-defined]


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
