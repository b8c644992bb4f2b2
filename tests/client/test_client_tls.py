"""``wss://``: the client speaks TLS with the context it is given, and says
so plainly when the certificate is not one it trusts."""

from __future__ import annotations

import contextlib
import ssl
from functools import partial

import orjson
import pytest
import trio
import trustme
from switchboard_client import Backoff, ConnectionLost, connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Request, TextMessage


async def welcome_once(stream: trio.abc.Stream) -> None:
    """A server of one greeting: accept the upgrade, answer hello, keep quiet."""
    conn = WSConnection(ConnectionType.SERVER)
    # (a client that refuses the certificate hangs up mid-handshake)
    with trio.move_on_after(30), contextlib.suppress(trio.BrokenResourceError):
        while True:
            data = await stream.receive_some()
            if not data:
                return
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, Request):
                    await stream.send_all(conn.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    hello = orjson.loads(event.data)
                    answer = {"type": "welcome", "id": hello["id"], "protocol": 1}
                    answer |= {"server": "tls-test", "heartbeat_ms": 30_000}
                    await stream.send_all(conn.send(Message(data=orjson.dumps(answer).decode())))


async def test_wss_with_a_trusted_certificate_and_without(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    listeners = await nursery.start(
        partial(trio.serve_ssl_over_tcp, welcome_once, 0, server_context, host="127.0.0.1")
    )
    port = listeners[0].transport_listener.socket.getsockname()[1]
    url = f"wss://127.0.0.1:{port}/ws"
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with trio.fail_after(30):  # a hang guard
        async with connect(url, ssl_context=trusting) as client:
            assert client.welcome["server"] == "tls-test"
        with pytest.raises(ConnectionLost) as refused:
            async with connect(url, backoff=Backoff(max_attempts=1)):  # the system's CAs
                pass
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
