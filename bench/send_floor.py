"""The floor under any fan-out: one small send() to each of N loopback sockets.

A reader process drains N TCP connections; this process writes one 102-byte
WebSocket frame to each, in a plain Python loop, once a second, and prints how
long each loop took. No server, no protocol: what the kernel and the
interpreter cost by themselves. Compare with Switchboard's publish loop.

Run: ``python bench/send_floor.py --sockets 5000 --reader sleep``
(``--reader spin`` keeps the reader busy, so sends need not wake it).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import resource
import select
import socket
import statistics
import time


def reader(port: int, count: int, ready: multiprocessing.synchronize.Event, mode: str) -> None:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    epoll = select.epoll()
    by_fd = {}
    for sock in socks:
        sock.setblocking(False)
        by_fd[sock.fileno()] = sock
        epoll.register(sock.fileno(), select.EPOLLIN)
    ready.set()
    while True:
        for fd, _ in epoll.poll(0 if mode == "spin" else 1):
            with contextlib.suppress(BlockingIOError):  # readiness can be stale
                by_fd[fd].recv(65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--reader", choices=["sleep", "spin"], default="sleep")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8192)
    ready = multiprocessing.Event()
    process = multiprocessing.Process(
        target=reader,
        args=(listener.getsockname()[1], args.sockets, ready, args.reader),
        daemon=True,
    )
    process.start()
    conns = []
    while len(conns) < args.sockets:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        conns.append(conn)
    ready.wait()
    time.sleep(1)
    frame = b"\x81\x64" + b"x" * 100
    loops = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for conn in conns:
            conn.send(frame)
        loops.append(1000 * (time.perf_counter() - start))
        time.sleep(1)
    process.kill()
    print(
        f"sockets={args.sockets} reader={args.reader} loop ms: "
        f"min={min(loops):.1f} median={statistics.median(loops):.1f} max={max(loops):.1f}"
    )


if __name__ == "__main__":
    main()
