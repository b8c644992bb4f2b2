"""The gRPC health check: one ``grpc.health.v1.Health/Check`` call.

gRPC is HTTP/2: the call is a POST of one length-prefixed protobuf message,
answered by one message and a ``grpc-status`` trailer. The health service's
two messages are a string and an enum, so they are written and read here by
hand, and h2 (sans-IO, pure Python) frames them over a trio connection made
through the network rule's door (:func:`~server.netguard.connect`), with TLS
(ALPN ``h2``) when the spec asks for it, all within the spec's ``timeout``.

No gRPC library is used: grpcio is a C extension with its own threads and
connections, and grpclib, the pure-Python one, runs on asyncio and connects
by itself; either would need a bridge and would make its connection outside
the rule's door. The tests hold this client to grpcio's reference health
server.
"""

from __future__ import annotations

import functools
import ssl
from typing import Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import trio

from ..domain.specs import GrpcSpec
from ..netguard import NetworkRule, Refused, connect
from .checks import (
    USER_AGENT,
    CheckResult,
    describe_error,
    down,
    ms_since,
    quoted,
    timed,
    timed_out,
)

PATH: Final = "/grpc.health.v1.Health/Check"
MAX_REPLY: Final = 64 * 1024  # bytes of the answer read; a health reply is a few
SERVING: Final = 1
SERVING_STATUS: Final = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
CODES: Final = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
]


def h2_context(trust: ssl.SSLContext | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """A client context offering HTTP/2 (ALPN ``h2``), trusting what ``trust``
    trusts (its CA certificates; the system's store when None). A context of
    its own: the ALPN setting must not leak into the other checks' contexts."""
    if trust is None:
        return _system_h2_context(verify)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certs = trust.get_ca_certs(binary_form=True)
    if certs:
        context.load_verify_locations(cadata=b"".join(certs))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


@functools.cache
def _system_h2_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


def health_request(service: str) -> bytes:
    """A ``HealthCheckRequest`` (field 1: ``service``), framed for gRPC."""
    encoded = service.encode()
    body = b"\x0a" + _varint(len(encoded)) + encoded if encoded else b""
    return b"\x00" + len(body).to_bytes(4, "big") + body


def serving_status(framed: bytes) -> int:
    """The ``status`` (field 1) of a framed ``HealthCheckResponse``; ValueError
    if it is not one."""
    if len(framed) < 5:
        raise ValueError("the answer holds no message")
    if framed[0] != 0:
        raise ValueError("the answer is compressed, which was not offered")
    size = int.from_bytes(framed[1:5], "big")
    message = framed[5 : 5 + size]
    if len(message) < size:
        raise ValueError("the answer's message is cut short")
    status = 0
    i = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(message, i)
            if number == 1:
                status = value
        elif wire == 1:
            i += 8
        elif wire == 2:
            length, i = _read_varint(message, i)
            i += length
        elif wire == 5:
            i += 4
        else:
            raise ValueError("the answer's message cannot be read")
    if i > len(message):
        raise ValueError("the answer's message is cut short")
    return status


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("the answer's message cannot be read")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


async def check_grpc(
    spec: GrpcSpec, rule: NetworkRule, ssl_context: ssl.SSLContext | None = None
) -> CheckResult:
    """Up when the health service says SERVING; latency is the time to the answer.

    ``ssl_context`` (for ``tls``): one made by :func:`h2_context` that verifies
    as ``spec.verify_tls`` says; by default the system's trust.
    """
    start = trio.current_time()
    try:
        with trio.fail_after(spec.timeout):
            stream: trio.abc.Stream = await connect(rule, spec.host, spec.port)
            try:
                if spec.tls:
                    context = ssl_context or h2_context(verify=spec.verify_tls)
                    name = spec.server_name or spec.host
                    tls = trio.SSLStream(stream, context, server_hostname=name)
                    stream = tls
                    await tls.do_handshake()
                    if tls.selected_alpn_protocol() != "h2":
                        return down("the server did not agree to HTTP/2 over TLS (ALPN h2)")
                answer = await _call(spec, stream)
            finally:
                await trio.aclose_forcefully(stream)
    except trio.TooSlowError:
        return timed_out(spec.timeout)
    except (OSError, trio.BrokenResourceError, Refused, h2.exceptions.ProtocolError) as exc:
        return down(describe_error(exc))
    latency = ms_since(start)
    if isinstance(answer, str):
        return down(answer, latency)
    return timed(latency, spec.degraded_ms)


async def _call(spec: GrpcSpec, stream: trio.abc.Stream) -> str | None:
    """Make the call; None when the answer is SERVING, else why not."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    host = spec.server_name or spec.host
    authority = f"[{host}]:{spec.port}" if ":" in host else f"{host}:{spec.port}"
    conn.send_headers(
        sid,
        [
            (":method", "POST"),
            (":scheme", "https" if spec.tls else "http"),
            (":path", PATH),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", USER_AGENT),
            ("grpc-timeout", f"{max(1, int(spec.timeout * 1000))}m"),
        ],
    )
    conn.send_data(sid, health_request(spec.service), end_stream=True)
    await stream.send_all(conn.data_to_send())
    headers: dict[str, str] = {}
    body = bytearray()
    ended = False
    while not ended:
        data = await stream.receive_some(MAX_REPLY)
        if not data:
            raise trio.BrokenResourceError("the server closed the connection")
        for event in conn.receive_data(bytes(data)):
            if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                headers.update((str(k), str(v)) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived):
                if len(body) < MAX_REPLY:
                    body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == sid:
                return f"the server reset the call (HTTP/2 error code {event.error_code})"
            elif isinstance(event, h2.events.ConnectionTerminated):
                return f"the server ended the connection (HTTP/2 error code {event.error_code})"
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == sid:
                ended = True
        out = conn.data_to_send()
        if out:
            await stream.send_all(out)
    try:  # a polite goodbye; the connection is dropped anyway
        conn.close_connection()
        await stream.send_all(conn.data_to_send())
    except (OSError, trio.BrokenResourceError):
        pass
    return _judge(spec, headers, bytes(body))


def _judge(spec: GrpcSpec, headers: dict[str, str], body: bytes) -> str | None:
    status = headers.get(":status")
    if status != "200":
        return f"the server answered HTTP {status} instead of gRPC"
    code_text = headers.get("grpc-status")
    if code_text is None or not code_text.isdigit():
        return "the answer has no grpc-status: not a gRPC server?"
    code = int(code_text)
    name = CODES[code] if code < len(CODES) else str(code)
    what = quoted(spec.service) if spec.service else "the server"
    if code == 12:
        return "the server has no gRPC health service (UNIMPLEMENTED)"
    if code == 5:
        return f"the health service does not know {what} (NOT_FOUND)"
    if code != 0:
        return f"the health check failed: {name}"
    try:
        serving = serving_status(body)
    except ValueError as exc:
        return str(exc)
    if serving != SERVING:
        return f"the health service says {what} is {SERVING_STATUS.get(serving, str(serving))}"
    return None
