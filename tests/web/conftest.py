"""Browser tests: the real server in its own process, driven by a real Chromium.

The server runs as ``switchboard serve`` (as `make run` starts it) against a
fresh database of the run's embedded PostgreSQL, one per test module. Chromium
is Debian's (``/usr/bin/chromium``), driven by Playwright's sync API; each test
gets new browser contexts, so nothing (storage, cookies) leaks between tests.
Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import TEST_SECRET, token

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LISTENING = re.compile(r"switchboard: listening on (http://\S+)")
# Every test's browser shares 127.0.0.1: no per-address limits here.
LIMITS = "public_per_second=0,connects_per_second=0,logins_per_second=0,login_failures_free=1000"


@dataclass
class WebServer:
    """``switchboard serve`` in a child process (``flags``: more of its flags)."""

    database_url: str
    data_dir: Path
    flags: list[str] = field(default_factory=list)
    port: int = 0
    url: str = ""
    process: subprocess.Popen[str] | None = None
    drain: threading.Thread = field(default_factory=threading.Thread)
    output: list[str] = field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "SWITCHBOARD_SECRET": TEST_SECRET, "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable, "-m", "server", "serve", "--demo",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--database-url", self.database_url,
            "--limit", LIMITS,
            "--log-level", "warning",
            *self.flags,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if found := LISTENING.search(line):
                self.url = found.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                break
        else:
            raise RuntimeError("the server did not start:\n" + "".join(self.output))
        # Keep reading, or the pipe fills and the server blocks on a log line.
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: a graceful stop
        self._reap()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
        self._reap()

    def _reap(self) -> None:
        if self.process is None:
            return
        self.process.wait(30)
        self.drain.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.process = None

    def restart(self) -> None:
        """Stop, then start again on the same port and database."""
        self.stop()
        self.start()

    def token(self, org: str = "demo", role: str = "admin") -> str:
        return token(org, role)

    @property
    def login(self) -> tuple[str, str]:
        """The demo owner's email and password."""
        email, _, password = (self.data_dir / "demo-login").read_text().strip().partition(" ")
        return email, password

    def api(
        self, method: str, path: str, body: Any = None, *, bearer: str | None = None
    ) -> httpx.Response:
        """A REST call as the demo organization's admin (or ``bearer``)."""
        headers = {"Authorization": f"Bearer {bearer or self.token()}"}
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = self.api(method, path, body, **kw)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def web_servers(
    switchboard_pg: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., WebServer]]:
    """``web_servers(*flags)``: another server, on a database of its own, with
    more flags (``--smtp-host``, say); stopped after the module."""
    started: list[WebServer] = []

    def start(*flags: str) -> WebServer:
        name = f"web_{os.getpid()}_{next(_databases)}"
        switchboard_pg.psql(f'CREATE DATABASE "{name}";')
        data_dir = tmp_path_factory.mktemp("web") / "data"
        server = WebServer(str(switchboard_pg.get_uri(name)), data_dir, list(flags))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def web_server(web_servers: Callable[..., WebServer], request: pytest.FixtureRequest) -> WebServer:
    """The module's server: the test module's ``SERVER_FLAGS``, if any, added."""
    return web_servers(*getattr(request.module, "SERVER_FLAGS", ()))


_databases = iter(range(1, 1_000_000))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` "
            "(.ci/run installs it when it is missing)",
            pytrace=False,
        )
    # trio-asyncio (the store's bridge) sets a global event loop policy whose
    # loops run inside trio; Playwright's sync API needs a plain asyncio loop.
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        playwright = sync_playwright().start()
    finally:
        asyncio.set_event_loop_policy(policy)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_context(**options)``: a fresh browser context, closed after the test.
    Page errors (uncaught exceptions) fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1100, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.on("page", lambda page: page.on("pageerror", lambda e: errors.append(str(e))))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    return new_context().new_page()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(page, name)``: save the page as a test artifact."""

    def save(page: Any, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return save
