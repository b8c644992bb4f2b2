"""Public pages benchmark: what a crowd opening the status page costs, on
the listener's fast road and through the framework, beside nginx.

Two server processes (``switchboard serve`` on its embedded PostgreSQL, the
demo organization plus extra services and a history of resolved incidents,
seeded alike): one as it runs by default, where the listener answers public
documents itself (``fast``), and one with ``--limit fast_reads=0``, where
every request goes through Hypercorn and Quart (``framework``). As the
reference, nginx (one process) serves the same documents' bytes from files,
gzipped ones with ``gzip_static`` (``nginx``); it is Debian's (``apt-get
install nginx-core``), and without it its lines are left out.

One client process (this one) holds C keep-alive HTTP/1.1 connections, each
asking for one path again and again (``Accept-Encoding: gzip``, as browsers
do). The client is plain non-blocking sockets with ``selectors``, parsing only
the head and ``Content-Length``. For each path and server it prints
requests/s, latency p50/p99, bytes on the wire per response, and server CPU
per request (the server process's user + system time over the requests: the
figure that says most when the machine is busy; on two cores the server is
pinned to one and this client to the other, and a Python client is what
limits requests/s against the fast road and nginx).

With ``--runs N`` each path is measured N times on each server, the servers
in turn, and the medians are shown: on a machine others use too, the servers
then share its noise.

A status change is made every second during the status page's run on each
Switchboard server, so the server also redraws it (once per change) while it
serves.

Run: ``python bench/pages.py`` (see --help).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fanout import PIN, ServerProc, token

PATHS = (
    "/status/demo",
    "/status/demo/api/v2/summary.json",
    "/status/demo/badge.svg",
    "/status/demo/history.rss",
    "/static/status.js",  # one of the files a new reader's browser fetches with the page
    # A crowd from a shared post: a click id of its own in every request ({n}).
    "/status/demo/api/v2/summary.json?fbclid={n}",
)


class Served(Protocol):
    host: str
    port: int

    def cpu_seconds(self) -> float: ...


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
    server: str
    requests: int
    seconds: float
    latencies: list[float]
    wire_bytes: int
    cpu: float

    def figures(self) -> tuple[float, float, float, float, float]:
        """Requests/s, p50 and p99 (ms), KiB per response, µs of server CPU per request."""
        lat = sorted(self.latencies)
        return (
            self.requests / self.seconds,
            statistics.median(lat) * 1000,
            lat[int(len(lat) * 0.99) - 1] * 1000,
            self.wire_bytes / self.requests / 1024,
            self.cpu / self.requests * 1e6,
        )


def line(results: list[Result]) -> str:
    """One path on one server: each figure the median of the runs."""
    columns = zip(*(r.figures() for r in results), strict=True)
    rate, p50, p99, size, cpu = (statistics.median(column) for column in columns)
    return (
        f"{results[0].path:36} {results[0].server:9} {rate:9,.0f} req/s  "
        f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {size:7.1f} KiB/resp  {cpu:6.0f} µs CPU/req"
    )


def load(server: Served, name: str, path: str, clients: int, seconds: float) -> Result:
    numbers = itertools.count()

    def asking() -> bytes:  # ``{n}`` in the path: a number of its own each time
        target = path.replace("{n}", str(next(numbers)))
        return (
            f"GET {target} HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n"
            "User-Agent: bench\r\n\r\n"
        ).encode()

    request = asking()
    numbered = "{n}" in path
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
            if numbered:
                conn.request = asking()
            conn.sock.send(conn.request)
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    for conn in conns:
        conn.sock.close()
    return Result(path, name, len(latencies), elapsed, latencies, wire, cpu)


def flapping(server: ServerProc, stop: threading.Event) -> None:
    statuses = ("degraded_performance", "operational")
    n = 0
    while not stop.wait(1.0):
        call(server, "PATCH", "/api/v1/orgs/demo/services/API", {"status": statuses[n % 2]})
        n += 1


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{
        text/html html;
        application/json json;
        image/svg+xml svg;
        application/rss+xml rss;
        text/javascript js;
    }}
    charset utf-8;
    charset_types application/json image/svg+xml application/rss+xml text/javascript;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/root;
        gzip_static on;
        location = /status/demo {{ try_files /status/demo.html =404; }}
    }}
}}
"""


@dataclass
class Nginx:
    """nginx serving each of ``PATHS`` as ``source`` answers it, from files."""

    process: subprocess.Popen[bytes]
    host: str
    port: int

    @classmethod
    def start(cls, folder: Path, source: ServerProc) -> Nginx | None:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if binary is None:
            print(
                "nginx: not installed (Debian: apt-get install nginx-core); its lines are left out"
            )
            return None
        root = folder / "root"
        for path in PATHS:
            file = path.partition("?")[0]  # nginx serves a file whatever the query
            name = root / (file.lstrip("/") + (".html" if file == "/status/demo" else ""))
            name.parent.mkdir(parents=True, exist_ok=True)
            url = f"http://{source.host}:{source.port}{path.replace('{n}', '0')}"
            plain = urllib.request.urlopen(url).read()
            name.write_bytes(plain)
            asked = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(asked) as answer:
                if answer.headers.get("Content-Encoding") == "gzip":
                    Path(f"{name}.gz").write_bytes(answer.read())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, port=port))
        process = subprocess.Popen(
            [binary, "-e", str(folder / "error.log"), "-c", str(conf), "-p", str(folder)]
        )
        if PIN:
            os.sched_setaffinity(process.pid, {0})
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        return cls(process, "127.0.0.1", port)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--runs", type=int, default=1, help="runs per path and server, in turn; medians shown"
    )
    parser.add_argument("--services", type=int, default=20, help="services beyond the demo's five")
    parser.add_argument(
        "--incidents", type=int, default=200, help="resolved incidents in the history"
    )
    parser.add_argument(
        "--path",
        action="append",
        choices=PATHS,
        help="measure only this path (repeatable; default: all of them)",
    )
    args = parser.parse_args()
    paths = args.path or PATHS
    with tempfile.TemporaryDirectory() as tmp:
        servers: dict[str, ServerProc] = {}
        nginx: Nginx | None = None
        try:
            for road, limits in (("fast", ()), ("framework", ("fast_reads=0",))):
                servers[road] = ServerProc.start(
                    "switchboard", Path(tmp) / road, None, ("public_per_second=0", *limits)
                )
                seed(servers[road], args.services, args.incidents)
            fast = servers["fast"]
            page = urllib.request.urlopen(f"http://{fast.host}:{fast.port}/status/demo").read()
            nginx = Nginx.start(Path(tmp) / "nginx", fast)
            print(
                f"status page: {args.services + 5} services, {args.incidents} past incidents, "
                f"{len(page) / 1024:.1f} KiB of HTML"
            )
            print(
                f"{args.clients} keep-alive clients, {args.seconds:.0f} s per path and server,"
                f" {args.runs} run(s) each (medians)\n"
            )
            targets: list[tuple[str, Served]] = [*servers.items()]
            if nginx is not None:
                targets.append(("nginx", nginx))
            for path in paths:
                results: dict[str, list[Result]] = {name: [] for name, _ in targets}
                for _ in range(args.runs):  # the servers in turn, so that they share the noise
                    for name, target in targets:
                        stop = threading.Event()
                        changer = threading.Thread(
                            target=flapping, args=(target, stop), daemon=True
                        )
                        if path == "/status/demo" and isinstance(target, ServerProc):
                            changer.start()
                        results[name].append(load(target, name, path, args.clients, args.seconds))
                        stop.set()
                        if changer.is_alive():
                            changer.join()
                for runs in results.values():
                    print(line(runs), flush=True)
            for road, server in servers.items():
                print(f"\n{road}: fast_reads {server.runtime()['fast_reads'] or 'off'}")
        finally:
            for server in servers.values():
                server.stop()
            if nginx is not None:
                nginx.stop()


if __name__ == "__main__":
    main()
