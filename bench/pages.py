"""Public pages benchmark: what a crowd opening the status page costs.

One server process (``switchboard serve`` on its embedded PostgreSQL, the demo
organization plus extra services and a history of resolved incidents) and one
client process (this one) holding C keep-alive HTTP/1.1 connections, each
asking for one path again and again (``Accept-Encoding: gzip``, as browsers
do). The client is plain non-blocking sockets with ``selectors``, parsing only
the head and ``Content-Length``. For each path it prints requests/s,
latency p50/p99, bytes on the wire per response, and server CPU per request.

A status change is made every second during the status page's run, so the
server also redraws it (once per change) while it serves.

Run: ``python bench/pages.py`` (see --help).
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanout import ServerProc, token

PATHS = (
    "/status/demo",
    "/status/demo/api/v2/summary.json",
    "/status/demo/badge.svg",
    "/status/demo/history.rss",
)


def call(
    server: ServerProc, method: str, path: str, body: object = None, *, bearer: str | None = None
) -> Any:
    """A REST call, as the demo organization's admin unless ``bearer`` says otherwise."""
    request = urllib.request.Request(
        f"http://{server.host}:{server.port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {bearer or token('demo', 'admin')}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def seed(server: ServerProc, services: int, incidents: int) -> None:
    for n in range(services):
        call(
            server,
            "POST",
            "/api/v1/orgs/demo/services",
            {"name": f"Service {n:02}", "group": f"Region {n % 4}"},
        )
    for n in range(incidents):
        created = call(
            server,
            "POST",
            "/api/v1/orgs/demo/incidents",
            {
                "name": f"Incident {n}",
                "body": "Investigating elevated errors.",
                "services": {f"Service {n % services:02}": "partial_outage"},
            },
        )
        assert isinstance(created, dict)
        call(
            server,
            "PATCH",
            f"/api/v1/orgs/demo/incidents/{created['id']}",
            {"status": "monitoring", "body": "A fix is out."},
        )
        call(
            server,
            "POST",
            f"/api/v1/orgs/demo/incidents/{created['id']}/resolve",
            {"body": "Resolved."},
        )


@dataclass
class Conn:
    sock: socket.socket
    request: bytes
    buffer: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0


@dataclass
class Result:
    path: str
    requests: int
    seconds: float
    latencies: list[float]
    wire_bytes: int
    cpu: float

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[int(len(lat) * 0.99) - 1] * 1000
        return (
            f"{self.path:40} {self.requests / self.seconds:9,.0f} req/s  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {self.wire_bytes / self.requests / 1024:7.1f} KiB/resp  "
            f"{self.cpu / self.requests * 1e6:6.0f} µs CPU/req"
        )


def load(server: ServerProc, path: str, clients: int, seconds: float) -> Result:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\nUser-Agent: bench\r\n\r\n"
    ).encode()
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(clients):
        sock = socket.create_connection((server.host, server.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Conn(sock, request)
        conns.append(conn)
        selector.register(sock, selectors.EVENT_READ, conn)
    latencies: list[float] = []
    wire = 0
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    for conn in conns:
        conn.sent_at = time.perf_counter()
        conn.sock.send(conn.request)
    while (now := time.perf_counter()) - start < seconds:
        for key, _ in selector.select(0.5):
            conn = key.data
            chunk = conn.sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("the server closed a connection")
            conn.buffer += chunk
            head_end = conn.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = bytes(conn.buffer[:head_end]).lower()
            if not head.startswith(b"http/1.1 200"):
                raise SystemExit(f"{path}: {head[:80]!r}")
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            total = head_end + 4 + length
            if len(conn.buffer) < total:
                continue
            del conn.buffer[:total]
            now = time.perf_counter()
            latencies.append(now - conn.sent_at)
            wire += total
            conn.sent_at = now
            conn.sock.send(conn.request)
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    for conn in conns:
        conn.sock.close()
    return Result(path, len(latencies), elapsed, latencies, wire, cpu)


def flapping(server: ServerProc, stop: threading.Event) -> None:
    statuses = ("degraded_performance", "operational")
    n = 0
    while not stop.wait(1.0):
        call(server, "PATCH", "/api/v1/orgs/demo/services/API", {"status": statuses[n % 2]})
        n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--services", type=int, default=20, help="services beyond the demo's five")
    parser.add_argument(
        "--incidents", type=int, default=200, help="resolved incidents in the history"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProc.start("switchboard", Path(tmp), None, limits=("public_per_second=0",))
        try:
            seed(server, args.services, args.incidents)
            page = urllib.request.urlopen(f"http://{server.host}:{server.port}/status/demo").read()
            print(
                f"status page: {args.services + 5} services, {args.incidents} past incidents, "
                f"{len(page) / 1024:.1f} KiB of HTML"
            )
            print(f"{args.clients} keep-alive clients, {args.seconds:.0f} s per path\n")
            for path in PATHS:
                stop = threading.Event()
                changer = threading.Thread(target=flapping, args=(server, stop), daemon=True)
                if path == "/status/demo":
                    changer.start()
                print(load(server, path, args.clients, args.seconds).line(), flush=True)
                stop.set()
                if changer.is_alive():
                    changer.join()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
