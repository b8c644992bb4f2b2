"""The WebSocket connection itself: handshakes, liveness, closing, slow readers."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from support import RawWs, eventually, raw_http, token

from server.config import Limits
from server.main import Server
from server.protocol.frames import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT

SLOW = Limits(outbound_backlog=64 * 1024, socket_send_buffer=16 * 1024)
QUICK_HEARTBEAT = Limits(heartbeat_ms=100)


@pytest.mark.parametrize("limits", [SLOW])
async def test_a_slow_reader_is_closed_with_4008_and_the_others_get_everything(
    server: Server, ws: Any
) -> None:
    # A subscriber that stops reading, with a small receive window.
    slow = await RawWs.connect(server.base_url, rcvbuf=4096)
    await slow.send_json({"type": "subscribe", "topic": "status:demo"})
    assert (await slow.message())["type"] == "subscribed"
    async with ws() as healthy, ws() as publisher:
        start = (await healthy.subscribe("status:demo"))["seq"]
        await publisher.hello(token("demo", "responder"))
        padding = "x" * 900
        seqs: list[int] = []

        async def read_all() -> None:  # a healthy subscriber keeps reading
            while len(seqs) < 400:
                seqs.append((await healthy.event("service.updated"))["seq"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for first in range(0, 400, 25):  # pipelined, 25 commands at a time
                for n in range(first, first + 25):
                    await publisher.send(
                        {
                            "type": "command",
                            "id": n,
                            "topic": "org:demo",
                            "name": "service.update",
                            "data": {"service": "api", "description": f"{n} {padding}"},
                        }
                    )
                for n in range(first, first + 25):
                    reply = await publisher.reply(n)
                    assert reply["type"] == "ack", reply
                # The healthy one keeps up, however slowly this machine runs it:
                # never more than a batch (25 KB) behind, within its backlog.
                await eventually(lambda: len(seqs) >= first + 25, "the healthy reader")  # noqa: B023
        assert seqs == list(range(start + 1, start + 401))
    assert server.gateway is not None and server.gateway.stats.slow_consumers == 1
    code, _ = await slow.until_close()
    assert code == 4008
    slow.close()


@pytest.mark.parametrize("limits", [QUICK_HEARTBEAT])
async def test_a_silent_client_is_pinged_then_closed_with_4000(server: Server) -> None:
    silent = await RawWs.connect(server.base_url)
    opcode, _ = await silent.frame()
    assert opcode == OP_PING  # first a ping, which this client ignores...
    code, seen = await silent.until_close()
    assert code == 4000  # ...then it is closed
    assert set(seen) <= {OP_PING}
    silent.close()


@pytest.mark.parametrize("limits", [QUICK_HEARTBEAT])
async def test_a_client_that_answers_pings_stays(server: Server) -> None:
    client = await RawWs.connect(server.base_url)
    pings = 0
    while pings < 5:  # five heartbeat intervals, each answered
        opcode, payload = await client.frame()
        assert opcode == OP_PING, opcode
        pings += 1
        await client.send_frame(OP_PONG, payload)
    await client.send_json({"type": "ping", "id": 1})
    while True:  # still open and answering
        opcode, payload = await client.frame()
        if opcode == OP_TEXT:
            break
        assert opcode == OP_PING
        await client.send_frame(OP_PONG, payload)
    client.close()


async def test_client_pings_are_answered_and_close_is_echoed(server: Server) -> None:
    client = await RawWs.connect(server.base_url)
    await client.send_frame(OP_PING, b"are you there")
    assert await client.frame() == (OP_PONG, b"are you there")
    await client.send_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")
    code, _ = await client.until_close()
    assert code == 1000
    assert await client.frame() == (-1, b"")  # and the server closed TCP
    client.close()


async def test_broken_framing_closes_with_1002(server: Server) -> None:
    client = await RawWs.connect(server.base_url)
    await client.send_bytes(b"\x81\x05hello")  # unmasked: clients must mask
    code, _ = await client.until_close()
    assert code == 1002
    client.close()


async def test_a_binary_message_is_refused_but_the_connection_stays(server: Server) -> None:
    client = await RawWs.connect(server.base_url)
    await client.send_frame(OP_BINARY, b"\x00\x01")
    assert (await client.message())["code"] == "binary_unsupported"
    await client.send_json({"type": "ping", "id": "x"})
    assert await client.message() == {"type": "pong", "id": "x"}
    client.close()


async def test_the_subprotocol_is_agreed_when_offered(server: Server) -> None:
    client = await RawWs.connect(
        server.base_url, extra_headers=b"Sec-WebSocket-Protocol: switchboard.v1\r\n"
    )
    await client.send_json({"type": "hello"})
    assert (await client.message())["protocol"] == 1
    client.close()


@pytest.mark.parametrize(
    ("head", "status", "needle"),
    [
        (
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            b"426",
            b"Sec-WebSocket-Version: 13",
        ),
        (
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n",
            b"400",
            b"Sec-WebSocket-Key",
        ),
        (
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            b"400",
            b"Connection: Upgrade",
        ),
    ],
)
async def test_bad_handshakes_are_refused_with_a_reason(
    server: Server, head: bytes, status: bytes, needle: bytes
) -> None:
    response = await raw_http(server.base_url, head)
    assert response.startswith(b"HTTP/1.1 " + status), response
    assert b'"code":"bad_handshake"' in response
    assert needle in response


async def test_pipelined_commands_are_acked_in_order(ws: Any) -> None:
    async with ws() as client:
        await client.hello(token("demo", "responder"))
        for n in range(200):
            await client.send(
                {
                    "type": "command",
                    "id": n,
                    "topic": "org:demo",
                    "name": "service.update",
                    "data": {"service": "website", "position": n},
                }
            )
        acks = [await client.reply() for _ in range(200)]
        assert [a["id"] for a in acks] == list(range(200))
        assert acks[-1]["result"]["position"] == 199


async def test_a_commits_events_arrive_cause_first(api: Any, server: Server) -> None:
    client = await RawWs.connect(server.base_url)
    await client.send_json({"type": "subscribe", "topic": "status:demo"})
    assert (await client.message())["type"] == "subscribed"
    await api.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {
            "name": "Both down",
            "services": {"API": "major_outage", "Website": "partial_outage"},
        },
        status=201,
    )
    names = [(await client.message())["name"] for _ in range(4)]
    assert names == ["incident.created", "service.updated", "service.updated", "status.changed"]
    client.close()


async def publish(server: Server, count: int, size: int = 900) -> None:
    """``count`` changes of a service's description, each about ``size`` bytes."""
    from support import open_ws

    async with open_ws(server.base_url) as publisher:
        await publisher.hello(token("demo", "responder"))
        for n in range(count):
            reply = await publisher.command(
                "demo", "service.update", {"service": "api", "description": f"{n} {'x' * size}"}
            )
            assert reply["type"] == "ack", reply


async def stalled_then_reading(server: Server, *, pings: bool) -> tuple[int | None, list[int]]:
    """A subscriber that stops reading (pinging all the while, if told) until the
    server gives up on it; then it reads what was sent: the close code."""
    stalled = await RawWs.connect(server.base_url, rcvbuf=4096)
    await stalled.send_json({"type": "subscribe", "topic": "status:demo"})
    assert (await stalled.message())["type"] == "subscribed"
    assert server.gateway is not None
    async with trio.open_nursery() as nursery:
        if pings:

            async def keep_pinging() -> None:
                while True:
                    await stalled.send_frame(OP_PING, b"alive")
                    # A peer that shows it is alive now and then, as it would:
                    # the pace is the scenario's, not a wait for anything.
                    await trio.sleep(0.1)

            nursery.start_soon(keep_pinging)
        await publish(server, 60)
        gateway = server.gateway
        await eventually(lambda: gateway.stats.slow_consumers, "a slow consumer", within=30)
        nursery.cancel_scope.cancel()
    try:
        return await stalled.until_close()
    finally:
        stalled.close()


@pytest.mark.parametrize(
    "limits", [Limits(socket_send_buffer=8 * 1024, write_stall_seconds=1.0, heartbeat_ms=60_000)]
)
async def test_a_stalled_reader_that_keeps_pinging_is_closed_with_4008(server: Server) -> None:
    """Its pings keep it alive, but a socket that takes no bytes for the stall
    bound is closed; the close frame reaches it once it reads again."""
    code, seen = await stalled_then_reading(server, pings=True)
    assert code == 4008
    assert OP_TEXT in seen  # what went before the close, then the close: no reset


@pytest.mark.parametrize(
    "limits",
    [
        Limits(
            outbound_backlog=32 * 1024,
            socket_send_buffer=4 * 1024 * 1024,  # the kernel would hold megabytes
            write_stall_seconds=60.0,
            heartbeat_ms=400,  # the sweep looks at the kernel's queue every 0.1 s
        )
    ],
)
async def test_what_the_kernel_holds_counts_against_a_slow_reader(server: Server) -> None:
    code, _ = await stalled_then_reading(server, pings=True)
    assert code == 4008
