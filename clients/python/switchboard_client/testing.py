"""A pytest kit: a real Switchboard server per test, connected clients, and
assertions on what arrives.

It needs the server installed next to the client
(``pip install 'switchboard-client[testing]'``). Enable it in a ``conftest.py``::

    pytest_plugins = ["switchboard_client.testing"]

It works with pytest-trio (``trio_mode = true``, or ``@pytest.mark.trio``)
and with AnyIO's pytest plugin (``@pytest.mark.anyio``, asyncio or trio)::

    async def test_outage_is_announced(switchboard_server, switchboard_client):
        async with switchboard_client(role="responder") as client:
            events = await client.subscribe("status:demo")
            await client.service_update("demo", service="api", status="major_outage")
            await assert_event(events, "service.updated", within=5)

Each test gets its own database in one embedded PostgreSQL shared by the run,
and a server on a free port with the ``demo`` organization. The server runs
in a thread of its own (with its own trio loop), so the test's event loop,
whichever it is, only runs the clients.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from .client import Backoff, Client, Event, Subscription, connect

T = TypeVar("T")

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
    with anyio.move_on_after(within):
        async for item in source:
            if isinstance(item, Event) and item.name == name and (where is None or where(item)):
                return item
            seen.append(item.name if isinstance(item, Event) else "resync")
    raise AssertionError(f"no {name!r} event on {source.topic} within {within} s; saw {seen}")


async def refute_event(source: Subscription, name: str, *, within: float = 0.5) -> None:
    """Fail if an event called ``name`` arrives within ``within`` seconds."""
    with anyio.move_on_after(within):
        async for item in source:
            if isinstance(item, Event) and item.name == name:
                raise AssertionError(f"unexpected {name!r} event: {item}")


class RunningServer:
    """The server under test: where it is, and how to get tokens for it.

    It runs in a thread of its own; :meth:`stop` and :meth:`restart` may be
    awaited from any event loop (or called from plain code: ``*_blocking``).
    """

    def __init__(self, config: Any) -> None:
        self.config = config  # server.config.Config
        self.server: Any = None  # server.main.Server
        self._token: Any = None  # the server loop's trio token
        self._nursery: Any = None
        self._done: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="switchboard-server", daemon=True)

    # -- in the server's thread --------------------------------------------------------

    def _main(self) -> None:
        import trio

        try:
            trio.run(self._serve)
        except BaseException as exc:  # told to the test's thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        import trio

        from server.main import Server

        self._token = trio.lowlevel.current_trio_token()
        self._done = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.server = await nursery.start(Server(self.config).run)
            self._ready.set()
            await self._done.wait()
            if self.server is not None:
                await self.server.stop()
            nursery.cancel_scope.cancel()

    async def _stop(self) -> None:
        await self.server.stop()  # (again: a no-op)

    async def _start_again(self) -> None:
        from server.main import Server

        await self.server.stop()
        self.config = replace(self.config, port=self.server.port)  # the same port
        self.server = await self._nursery.start(Server(self.config).run)

    # -- from the test's --------------------------------------------------------------

    def _start(self) -> None:
        self._thread.start()
        if not self._ready.wait(120) or self._error is not None:
            raise RuntimeError("the Switchboard server did not start") from self._error

    def _in_server(self, fn: Callable[..., Any], *args: Any) -> Any:
        import trio

        return trio.from_thread.run(fn, *args, trio_token=self._token)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(*args)`` in the server's own loop, and its result: for
        the server's internals (``running.server``), which live there."""
        result: T = await anyio.to_thread.run_sync(self._in_server, fn, *args)
        return result

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return str(self.server.base_url)

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return self.url.replace("http", "ws", 1) + "/ws"

    @property
    def port(self) -> int:
        """The port it listens on (the same after a restart)."""
        return int(self.server.port)

    def token(self, org: str = "demo", role: str = "admin") -> str:
        """A token for ``org`` with ``role`` (viewer, responder, admin, owner)."""
        from server.auth import Role

        return str(self.server.tokens.issue(org, Role.parse(role), subject=f"{role}-tester"))

    def restart_blocking(self) -> None:
        """:meth:`restart`, from code that is not async."""
        self._in_server(self._start_again)

    async def restart(self) -> None:
        """Stop gracefully (unless stopped) and start again on the same port and database."""
        await anyio.to_thread.run_sync(self.restart_blocking)

    def stop_blocking(self) -> None:
        """:meth:`stop`, from code that is not async."""
        self._in_server(self._stop)

    async def stop(self) -> None:
        """Stop gracefully: clients see it go. :meth:`restart` brings it back."""
        await anyio.to_thread.run_sync(self.stop_blocking)

    def _shutdown(self) -> None:
        import trio

        if self._thread.is_alive() and self._done is not None:
            trio.from_thread.run_sync(self._done.set, trio_token=self._token)
        self._thread.join(60)


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
def switchboard_server(switchboard_database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """A real server on a free port, its own fresh database, the demo organization."""
    from server.config import Config

    config = Config(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "switchboard",
        database_url=switchboard_database_url,
        secret=_SECRET,
        demo=True,
        check_networks="any",  # what a test's monitors check runs on loopback
    )
    running = RunningServer(config)
    running._start()
    try:
        yield running
    finally:
        running._shutdown()


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
