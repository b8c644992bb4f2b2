"""Fan-out benchmark: N subscribers on one organization's status topic.

One server process (``switchboard serve`` on its embedded PostgreSQL) and one
client process (this one) holding N raw WebSocket connections and one
publisher. The client side is plain ``epoll`` over non-blocking sockets,
parsing only frame headers and a marker, so that it is not what limits the
figures. Two phases per N:

* paced: one service change per second; every subscriber's receipt time minus
  the publish time gives the latency distribution (p50/p99);
* flood: the publisher pipelines changes as fast as the server acks them
  (a window of outstanding commands); deliveries/s is what all subscribers
  received per second, and server CPU per delivery comes from /proc.

Server memory per connection is the growth of the server's RSS from before
the subscribers connect to after they are all subscribed and idle, divided by
N. Run: ``python bench/fanout.py --subscribers 1000 5000`` (see --help).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gcstats  # noqa: E402

from server.protocol.frames import OP_TEXT, encode_client_frame  # noqa: E402

MASK = b"\x11\x22\x33\x44"
SECRET = "bench-secret-" + "x" * 40
MARK = b'"description":"b'
PIN = os.cpu_count() == 2 and os.environ.get("BENCH_PIN", "1") == "1"


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the server process -------------------------------------------------------


@dataclass
class ServerProc:
    process: subprocess.Popen[bytes]
    host: str
    port: int

    @classmethod
    def start(
        cls,
        kind: str,
        data_dir: Path,
        database_url: str | None,
        limits: tuple[str, ...] = (),
        extra: tuple[str, ...] = (),
    ) -> ServerProc:
        env = {**os.environ, "SWITCHBOARD_SECRET": SECRET}
        if kind == "switchboard":
            args = [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                "0",
                "--demo",
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
                # Thousands of clients from one address, one publisher at full
                # speed: the per-address and per-connection limits would stop them.
                "--limit",
                "connects_per_second=0",
                "--limit",
                "messages_per_second=0",
                # The benchmarks' targets are on loopback.
                "--check-networks",
                "any",
            ]
            for limit in limits:
                args += ["--limit", limit]
            args += extra
            if database_url:
                args += ["--database-url", database_url]
        elif kind == "websockets":
            args = [sys.executable, str(ROOT / "bench/reference/websockets_server.py")]
        elif kind == "node-ws":
            args = ["node", str(ROOT / "bench/reference/ws_server.js")]
        else:
            raise SystemExit(f"unknown server {kind!r}")
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE)
        if PIN:
            os.sched_setaffinity(process.pid, {0})  # the server on one core...
            os.sched_setaffinity(0, {1})  # ...and this client on the other
        assert process.stdout is not None
        while True:
            line = process.stdout.readline().decode()
            if not line:
                raise SystemExit("server exited during start-up")
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return cls(process, host, int(port))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def runtime(self) -> dict[str, Any]:
        """``GET /api/v1/runtime`` (the process's own figures, GC pauses among them)."""
        request = urllib.request.Request(
            f"http://{self.host}:{self.port}/api/v1/runtime",
            headers={"Authorization": f"Bearer {token('*', 'owner')}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            found: dict[str, Any] = json.loads(response.read())
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def token(org: str, role: str) -> str:
    from server.auth import Role, Tokens

    return Tokens(SECRET).issue(org, Role.parse(role), subject="bench")


# -- raw WebSocket client sockets ---------------------------------------------


def handshake(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:200])
    return sock


def send_json(sock: socket.socket, message: dict[str, object]) -> None:
    sock.sendall(encode_client_frame(OP_TEXT, json.dumps(message).encode(), MASK))


def frames(buffer: bytearray) -> list[bytes]:
    """Complete server frames at the start of buffer (removed from it)."""
    out = []
    while len(buffer) >= 2:
        length = buffer[1] & 0x7F
        start = 2
        if length == 126:
            if len(buffer) < 4:
                break
            length = struct.unpack_from("!H", buffer, 2)[0]
            start = 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length = struct.unpack_from("!Q", buffer, 2)[0]
            start = 10
        end = start + length
        if len(buffer) < end:
            break
        out.append(bytes(buffer[start:end]))
        del buffer[:end]
    return out


@dataclass
class Subscriber:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


def read_one_message(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        got = frames(buffer)
        if got:
            assert len(got) == 1, "unexpected extra frames"
            return got[0]
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk


def connect_subscribers(server: ServerProc, n: int) -> list[Subscriber]:
    subs = []
    for i in range(n):
        sock = handshake(server.host, server.port)
        send_json(sock, {"type": "subscribe", "id": i, "topic": "status:demo"})
        sub = Subscriber(sock)
        reply = json.loads(read_one_message(sock, sub.buffer))
        assert reply["type"] == "subscribed", reply
        sock.setblocking(False)
        subs.append(sub)
    return subs


# -- measuring ------------------------------------------------------------------


@dataclass
class Publisher:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    next_id: int = 0
    acked: int = 0

    def publish(self, marker: int) -> None:
        self.next_id += 1
        send_json(
            self.sock,
            {
                "type": "command",
                "id": self.next_id,
                "topic": "org:demo",
                "name": "service.update",
                "data": {"service": "api", "description": f"b{marker}"},
            },
        )

    def read_acks(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        self.buffer += chunk
        for frame in frames(self.buffer):
            if frame.startswith(b'{"type":"ack"'):
                self.acked += 1
            elif frame.startswith(b'{"type":"error"'):
                raise RuntimeError(frame[:300])


class Receiver:
    """All subscribers behind one epoll; parses frames in place, counts them,
    and (when asked) records each event's publish-to-receipt latency."""

    def __init__(self, subs: list[Subscriber], publisher: Publisher) -> None:
        self.epoll = select.epoll()
        self.socks: dict[int, socket.socket] = {}
        self.pending: dict[int, bytes] = {}
        for sub in subs:
            fd = sub.sock.fileno()
            self.socks[fd] = sub.sock
            self.pending[fd] = bytes(sub.buffer)
            self.epoll.register(fd, select.EPOLLIN)
        self.publisher = publisher
        self.publisher_fd = publisher.sock.fileno()
        self.epoll.register(self.publisher_fd, select.EPOLLIN)

    def pump(self, sent: dict[int, float], latencies: list[float] | None, timeout: float) -> int:
        received = 0
        socks, pending, find, clock = self.socks, self.pending, MARK, time.perf_counter
        for fd, _ in self.epoll.poll(timeout, 8192):
            if fd == self.publisher_fd:
                self.publisher.read_acks()
                continue
            try:
                data = socks[fd].recv(65536)  # under malloc's mmap threshold
            except BlockingIOError:
                continue
            if not data:
                raise ConnectionError("a subscriber was closed by the server")
            now = clock()
            rest = pending[fd]
            if rest:
                data = rest + data
            pos, size = 0, len(data)
            while size - pos >= 2:
                length = data[pos + 1] & 0x7F
                start = pos + 2
                if length == 126:
                    if size - pos < 4:
                        break
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    start = pos + 4
                elif length == 127:
                    if size - pos < 10:
                        break
                    length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    start = pos + 10
                end = start + length
                if end > size:
                    break
                received += 1
                if latencies is not None:
                    at = data.find(find, start, end)
                    if at >= 0:
                        at += len(find)
                        marker = int(data[at : data.index(b'"', at)])
                        if marker in sent:
                            latencies.append(now - sent[marker])
                pos = end
            pending[fd] = data[pos:] if pos < size else b""
        return received


def paced(
    receiver: Receiver,
    publisher: Publisher,
    sent: dict[int, float],
    seconds: float,
    n: int,
    *,
    drain: float,
) -> tuple[list[float], int]:
    """One change a second for ``seconds``, then up to ``drain`` seconds for the
    last deliveries: each delivery's publish->receipt latency, and how many
    changes were made (their markers are 1..that)."""
    latencies: list[float] = []
    marker = 0
    end = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < end:
        now = time.perf_counter()
        if now >= next_at:
            marker += 1
            sent[marker] = time.perf_counter()
            publisher.publish(marker)
            next_at += 1.0
        receiver.pump(sent, latencies, max(0.0, min(0.05, next_at - now)))
    drain_until = time.perf_counter() + drain
    while len(latencies) < marker * n and time.perf_counter() < drain_until:
        receiver.pump(sent, latencies, 0.05)
    return latencies, marker


def run(
    kind: str,
    n: int,
    paced_seconds: float,
    flood_seconds: float,
    database_url: str | None,
    window: int,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        server = ServerProc.start(kind, Path(tmp), database_url)
        try:
            publisher = Publisher(handshake(server.host, server.port))
            send_json(publisher.sock, {"type": "hello", "token": token("demo", "admin")})
            read_one_message(publisher.sock, publisher.buffer)
            publisher.sock.setblocking(False)
            time.sleep(1.0)
            rss_before = server.rss_kib()
            gc_before = server.runtime()["gc"] if kind == "switchboard" else None
            subs = connect_subscribers(server, n)
            time.sleep(2.0)  # let the server settle (and collect) before reading RSS
            rss_after = server.rss_kib()

            receiver = Receiver(subs, publisher)

            sent: dict[int, float] = {}
            latencies, marker = paced(receiver, publisher, sent, paced_seconds, n, drain=2.0)
            paced_expected = marker * n

            # Flood: as fast as the server acks, with a window of outstanding commands
            # (with a window of 1, every commit holds exactly one event).
            received = 0
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            end = t0 + flood_seconds
            published = 0
            while time.perf_counter() < end:
                while publisher.next_id - publisher.acked < window:
                    marker += 1
                    publisher.publish(marker)
                    published += 1
                received += receiver.pump(sent, None, 0.01)
            elapsed = time.perf_counter() - t0
            cpu = server.cpu_seconds() - cpu0
            pauses = gcstats.added(gc_before, server.runtime()["gc"]) if gc_before else None
            # What was published during the window and not yet delivered is in flight.
            for sub in subs:
                sub.sock.close()
            publisher.sock.close()
        finally:
            server.stop()
    latencies.sort()
    return {
        "subscribers": n,
        "paced_events": paced_expected // max(n, 1),
        "paced_deliveries": len(latencies),
        "paced_expected": paced_expected,
        "min_ms": 1000 * latencies[0] if latencies else float("nan"),
        "p10_ms": 1000 * latencies[int(0.10 * (len(latencies) - 1))] if latencies else float("nan"),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
        "deliveries_per_s": received / elapsed,
        "events_per_s": published / elapsed,
        "kib_per_conn": (rss_after - rss_before) / n,
        "cpu_us_per_delivery": 1e6 * cpu / max(received, 1),
        "server_cpu_share": cpu / elapsed,
        "gc": pauses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument(
        "--server",
        default="switchboard",
        choices=["switchboard", "websockets", "node-ws"],
        help="what to measure: Switchboard, or a reference server from bench/reference/",
    )
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument(
        "--window",
        type=int,
        default=64,
        help="commands the publisher keeps outstanding during the flood",
    )
    parser.add_argument("--database-url", help="use this PostgreSQL instead of an embedded one")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args()
    raise_fd_limit()
    for n in args.subscribers:
        results = [
            run(
                args.server,
                n,
                args.paced_seconds,
                args.flood_seconds,
                args.database_url,
                args.window,
            )
            for _ in range(args.runs)
        ]
        merged = {k: statistics.median(r[k] for r in results) for k in results[0] if k != "gc"}
        pauses = [r["gc"] for r in results if r["gc"]]
        if args.json:
            print(json.dumps({"server": args.server, **merged, "gc": pauses}))
            continue
        print(
            f"{args.server:<11} window={args.window:<3} subscribers={n:>5}  deliveries/s={merged['deliveries_per_s']:>9,.0f}  "
            f"events/s={merged['events_per_s']:>6,.0f}  "
            f"min={merged['min_ms']:5.1f} p10={merged['p10_ms']:5.1f} p50={merged['p50_ms']:6.1f} ms  p99={merged['p99_ms']:6.1f} ms  max={merged['max_ms']:6.1f} ms  "
            f"(paced: {merged['paced_deliveries']:,.0f}/{merged['paced_expected']:,.0f} delivered)  "
            f"mem/conn={merged['kib_per_conn']:5.1f} KiB  "
            f"cpu/delivery={merged['cpu_us_per_delivery']:5.2f} us  server cpu={merged['server_cpu_share']:.0%}",
            flush=True,
        )
        for run_pauses in pauses:  # connecting, paced and flood phases together
            print(f"  {gcstats.line(run_pauses)}", flush=True)


if __name__ == "__main__":
    main()
