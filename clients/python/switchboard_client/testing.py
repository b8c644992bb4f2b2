"""A pytest-trio kit: a real Switchboard server per test, connected clients, and
assertions on what arrives.

Enable it in a ``conftest.py`` (it needs the ``switchboard`` server package
installed next to this one)::

    pytest_plugins = ["switchboard_client.testing"]

and, with ``trio_mode = true``::

    async def test_outage_is_announced(switchboard_server, switchboard_client):
        async with switchboard_client(role="responder") as client:
            events = await client.subscribe("status:demo")
            await client.service_update("demo", service="api", status="major_outage")
            await assert_event(events, "service.updated", within=5)

Each test gets its own database in one embedded PostgreSQL shared by the run,
and a server on a free port with the ``demo`` organization.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trio

from .client import Backoff, Client, Event, Subscription, connect

_SECRET = "switchboard-testing-secret-" + "k" * 32
_databases = itertools.count()


async def assert_event(
    source: Subscription,
    name: str,
    *,
    within: float = 5.0,
    where: Callable[[Event], bool] | None = None,
) -> Event:
    """The next event called ``name`` (matching ``where``), or fail after ``within`` s.

    Events before it are consumed. ``within`` is a hang guard, not a measurement.
    """
    seen: list[str] = []
    with trio.move_on_after(within):
        async for item in source:
            if isinstance(item, Event) and item.name == name and (where is None or where(item)):
                return item
            seen.append(item.name if isinstance(item, Event) else "resync")
    raise AssertionError(f"no {name!r} event on {source.topic} within {within} s; saw {seen}")


async def refute_event(source: Subscription, name: str, *, within: float = 0.5) -> None:
    """Fail if an event called ``name`` arrives within ``within`` seconds."""
    with trio.move_on_after(within):
        async for item in source:
            if isinstance(item, Event) and item.name == name:
                raise AssertionError(f"unexpected {name!r} event: {item}")


@dataclass
class RunningServer:
    """The server under test: where it is, and how to get tokens for it."""

    server: Any  # server.main.Server
    config: Any  # server.config.Config
    nursery: trio.Nursery

    @property
    def url(self) -> str:
        return str(self.server.base_url)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    def token(self, org: str = "demo", role: str = "admin") -> str:
        from server.auth import Role

        return str(self.server.tokens.issue(org, Role.parse(role), subject=f"{role}-tester"))

    async def restart(self) -> None:
        """Stop gracefully and start again on the same port and database."""
        from server.main import Server

        port = self.server.port
        await self.server.stop()
        self.config = replace(self.config, port=port)
        self.server = await self.nursery.start(Server(self.config).run)


@pytest.fixture(scope="session")
def switchboard_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One embedded PostgreSQL for the run."""
    import pgserver

    pg = pgserver.get_server(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("switchboard-pg") / "data", cleanup_mode="stop"
    )
    yield pg
    pg.cleanup()


@pytest.fixture
def switchboard_database_url(switchboard_pg: Any) -> str:
    """A fresh, empty database for one test, in the run's PostgreSQL."""
    name = f"test_{next(_databases)}"
    switchboard_pg.psql(f'CREATE DATABASE "{name}";')
    return str(switchboard_pg.get_uri(name))


@pytest.fixture
async def switchboard_server(
    switchboard_database_url: str, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[RunningServer]:
    """A real server on a free port, its own fresh database, the demo organization."""
    from server.config import Config
    from server.main import Server

    config = Config(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "switchboard",
        database_url=switchboard_database_url,
        secret=_SECRET,
        demo=True,
        check_networks="any",  # what a test's monitors check runs on loopback
    )
    running = RunningServer(await nursery.start(Server(config).run), config, nursery)
    yield running
    await running.server.stop()


@pytest.fixture
def switchboard_client(
    switchboard_server: RunningServer,
) -> Callable[..., AbstractAsyncContextManager[Client]]:
    """``async with switchboard_client(org="demo", role="responder") as client:``.

    ``token=`` gives a token of your own (``None`` for an anonymous client);
    other keyword arguments go to :func:`switchboard_client.connect`.
    """

    def open_client(
        org: str = "demo", role: str = "admin", *, token: str | bool | None = True, **kw: Any
    ) -> AbstractAsyncContextManager[Client]:
        bearer = switchboard_server.token(org, role) if token is True else token or None
        kw.setdefault("backoff", Backoff(base=0.05, cap=0.5))
        return connect(switchboard_server.ws_url, bearer, **kw)

    return open_client


__all__ = [
    "RunningServer",
    "assert_event",
    "refute_event",
    "switchboard_client",
    "switchboard_database_url",
    "switchboard_pg",
    "switchboard_server",
]
