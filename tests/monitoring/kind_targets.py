"""Servers on loopback for the checks of the newer kinds: a DNS server whose
zone a test sets, a WebSocket echo server (trio-websocket), grpcio's
reference health server, and a TCP door to the embedded PostgreSQL (which
listens on a Unix socket only)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import grpc
import trio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

# -- DNS ----------------------------------------------------------------------


@dataclass
class DnsServer:
    """Answers from ``zone`` over UDP: {(name, type): [values]}; CNAMEs are
    followed as a recursive resolver does; a name not in the zone is NXDOMAIN.
    ``rcode`` answers every query with that code; ``silent`` answers nothing."""

    zone: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    rcode: int | None = None
    silent: bool = False
    asked: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
            task_status.started()
            while True:
                data, source = await sock.recvfrom(65_535)
                query = dns.message.from_wire(data)
                question = query.question[0]
                name = question.name.to_text(omit_final_dot=True).lower()
                kind = dns.rdatatype.to_text(question.rdtype)
                self.asked.append((name, kind))
                if not self.silent:
                    await sock.sendto(self.answer(query, name, kind).to_wire(), source)

    def answer(self, query: dns.message.Message, name: str, kind: str) -> dns.message.Message:
        response = dns.message.make_response(query)
        if self.rcode is not None:
            response.set_rcode(self.rcode)
            return response
        if not any(owner == name for owner, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        for _ in range(8):
            alias = self.zone.get((name, "CNAME"))
            if kind == "CNAME" or alias is None:
                break
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "CNAME", *alias))
            name = alias[0].rstrip(".").lower()
        values = self.zone.get((name, kind))
        if values:
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", kind, *values))
        return response


async def serve_dns(nursery: trio.Nursery) -> DnsServer:
    server = DnsServer()
    await nursery.start(server.serve)
    return server


# -- WebSocket ----------------------------------------------------------------


@dataclass
class EchoServer:
    """Echoes text messages. Paths: ``/greet`` says hello first, ``/upper``
    echoes in capitals, ``/quiet`` accepts and says nothing, ``/close``
    accepts and closes at once, ``/reject`` refuses the upgrade with 403."""

    port: int = 0
    paths: list[str] = field(default_factory=list)

    async def handle(self, request: WebSocketRequest) -> None:
        path = request.path
        self.paths.append(path)
        if path == "/reject":
            await request.reject(403)
            return
        ws = await request.accept()
        try:
            if path == "/close":
                await ws.aclose()
                return
            if path == "/greet":
                await ws.send_message("hello there")
            if path == "/quiet":
                await trio.sleep_forever()
            while True:
                message = await ws.get_message()
                text = message if isinstance(message, str) else message.decode()
                await ws.send_message(text.upper() if path == "/upper" else text)
        except ConnectionClosed:
            pass


async def serve_echo(
    nursery: trio.Nursery, ssl_context: ssl.SSLContext | None = None
) -> EchoServer:
    echo = EchoServer()
    server = await nursery.start(serve_websocket, echo.handle, "127.0.0.1", 0, ssl_context)
    echo.port = server.port
    return echo


# -- gRPC ---------------------------------------------------------------------


@dataclass
class HealthServer:
    port: int
    servicer: Any  # grpc_health.v1.health.HealthServicer, or None: no health service

    def set(self, service: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse
        self.servicer.set(service, status.SERVING if serving else status.NOT_SERVING)


@contextlib.contextmanager
def health_server(
    *, with_health: bool = True, tls: tuple[bytes, bytes] | None = None
) -> Iterator[HealthServer]:
    """grpcio's server (its own threads) on loopback with the standard health
    service, the whole server SERVING; ``tls``: (key, certificate chain) PEM."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = None
    if with_health:
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([tls]))
    server.start()
    running = HealthServer(port, servicer)
    if servicer is not None:
        running.set("", True)
    try:
        yield running
    finally:
        server.stop(None).wait()


# -- PostgreSQL ---------------------------------------------------------------


@dataclass
class PgDoor:
    """A TCP port on loopback that leads to the embedded PostgreSQL's socket."""

    port: int = 0
    connections: int = 0

    def dsn(self, database: str, user: str = "postgres", query: str = "") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}{query}"


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await source.receive_some(65_536):
            await sink.send_all(data)
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await sink.aclose()


async def open_pg_door(nursery: trio.Nursery, database_url: str) -> tuple[PgDoor, str]:
    """The door, and the name of the test's database."""
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    door = PgDoor()

    async def relay(client: trio.SocketStream) -> None:
        door.connections += 1
        server = await trio.open_unix_socket(f"{socket_dir}/.s.PGSQL.5432")
        async with client, server, trio.open_nursery() as pipes:
            pipes.start_soon(_pipe, client, server)
            pipes.start_soon(_pipe, server, client)

    listeners = await nursery.start(partial(trio.serve_tcp, relay, 0, host="127.0.0.1"))
    door.port = listeners[0].socket.getsockname()[1]
    return door, parts.path.lstrip("/")


async def serve_silence(nursery: trio.Nursery) -> int:
    """A port that accepts connections and never says a word."""

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
    port: int = listeners[0].socket.getsockname()[1]
    return port
