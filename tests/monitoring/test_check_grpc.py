"""gRPC health checks against grpcio's reference health server on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trustme
from kind_targets import HealthServer, health_server, serve_silence
from target import HttpServer

from server.domain.specs import GrpcSpec, parse_spec
from server.monitoring.checks import CheckResult
from server.monitoring.grpccheck import check_grpc, h2_context, health_request, serving_status
from server.netguard import ANY, NetworkRule


@pytest.fixture
def grpc_server() -> Iterator[HealthServer]:
    with health_server() as running:
        yield running


def spec_for(port: int, **settings: Any) -> GrpcSpec:
    spec = parse_spec("grpc", {"host": "127.0.0.1", "port": port, "timeout": 5, **settings})
    assert isinstance(spec, GrpcSpec)
    return spec


async def ask(server: HealthServer, **settings: Any) -> CheckResult:
    return await check_grpc(spec_for(server.port, **settings), ANY)


async def test_a_serving_server_is_up(grpc_server: HealthServer) -> None:
    result = await ask(grpc_server)
    assert result.outcome == "up" and result.error is None and result.latency_ms is not None


async def test_each_service_has_its_own_status(grpc_server: HealthServer) -> None:
    grpc_server.set("shop.Orders", True)
    grpc_server.set("shop.Payments", False)
    assert (await ask(grpc_server, service="shop.Orders")).outcome == "up"
    result = await ask(grpc_server, service="shop.Payments")
    assert result.outcome == "down"
    assert result.error == "the health service says 'shop.Payments' is NOT_SERVING"
    grpc_server.set("", False)
    whole = await ask(grpc_server)
    assert whole.outcome == "down"
    assert whole.error == "the health service says the server is NOT_SERVING"


async def test_an_unknown_service_is_down(grpc_server: HealthServer) -> None:
    result = await ask(grpc_server, service="shop.Nothing")
    assert result.outcome == "down"
    assert result.error == "the health service does not know 'shop.Nothing' (NOT_FOUND)"


async def test_a_server_without_a_health_service_is_down() -> None:
    with health_server(with_health=False) as bare:
        result = await ask(bare)
    assert result.outcome == "down"
    assert result.error == "the server has no gRPC health service (UNIMPLEMENTED)"


async def test_a_web_server_is_not_a_grpc_server(web: HttpServer) -> None:
    result = await check_grpc(spec_for(web.port), ANY)
    assert result.outcome == "down" and result.error


async def test_a_closed_port_is_down(closed_port: int) -> None:
    result = await check_grpc(spec_for(closed_port), ANY)
    assert result.outcome == "down" and result.error == "connection refused"


async def test_a_server_that_never_answers_times_out(nursery: trio.Nursery) -> None:
    port = await serve_silence(nursery)
    result = await check_grpc(spec_for(port, timeout=1), ANY)
    assert result.outcome == "down" and result.error == "timed out after 1 s"


async def test_tls_is_verified(ca: trustme.CA, trusting: ssl.SSLContext) -> None:
    cert = ca.issue_cert("grpc.example.test")
    key_and_chain = (
        cert.private_key_pem.bytes(),
        b"".join(blob.bytes() for blob in cert.cert_chain_pems),
    )
    with health_server(tls=key_and_chain) as secure:
        settings = {"tls": True, "server_name": "grpc.example.test"}
        trusted = await check_grpc(spec_for(secure.port, **settings), ANY, h2_context(trusting))
        untrusted = await check_grpc(spec_for(secure.port, **settings), ANY, h2_context())
        unverified = await check_grpc(
            spec_for(secure.port, tls=True, verify_tls=False), ANY, h2_context(verify=False)
        )
        plain = await check_grpc(spec_for(secure.port), ANY)
    assert trusted.outcome == "up", trusted.error
    assert untrusted.outcome == "down"
    assert str(untrusted.error).startswith("TLS certificate rejected")
    assert unverified.outcome == "up", unverified.error
    assert plain.outcome == "down"


async def test_a_host_in_a_refused_network_is_not_reached(grpc_server: HealthServer) -> None:
    spec = parse_spec("grpc", {"host": "localhost", "port": grpc_server.port})
    assert isinstance(spec, GrpcSpec)
    result = await check_grpc(spec, NetworkRule.parse("public,private"))
    assert result.outcome == "down" and "does not connect to" in str(result.error)


def test_the_messages_are_protobufs() -> None:
    """The hand-written messages against protobuf's own encoding."""
    from grpc_health.v1 import health_pb2

    request = health_pb2.HealthCheckRequest(service="shop.Orders").SerializeToString()
    assert health_request("shop.Orders") == b"\x00" + len(request).to_bytes(4, "big") + request
    assert health_request("") == b"\x00\x00\x00\x00\x00"
    for status in (0, 1, 2, 3):
        reply = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        assert serving_status(b"\x00" + len(reply).to_bytes(4, "big") + reply) == status
    long_name = "s" * 300  # a length of two varint bytes
    request = health_pb2.HealthCheckRequest(service=long_name).SerializeToString()
    assert health_request(long_name)[5:] == request
    with pytest.raises(ValueError, match="compressed"):
        serving_status(b"\x01\x00\x00\x00\x02\x08\x01")
    with pytest.raises(ValueError, match="cut short"):
        serving_status(b"\x00\x00\x00\x00\x09\x08\x01")
