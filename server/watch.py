"""``switchboard watch TOPIC``: print a topic's snapshot and events as JSON lines.

A small WebSocket client on trio sockets and our own framing code, for
operators and for trying the server out. Reconnects are not attempted: it
prints why the connection ended and exits non-zero.
"""

from __future__ import annotations

import base64
import os
import sys
from urllib.parse import urlsplit

import orjson
import trio

from .protocol import frames


async def watch(url: str, topic: str, token: str | None, since: int | None) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "http"):
        print(f"switchboard watch: only ws:// URLs are supported, not {url!r}", file=sys.stderr)
        return 2
    stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
    async with stream:
        key = base64.b64encode(os.urandom(16))
        path = (parts.path or "/ws").encode()
        await stream.send_all(
            b"GET " + path + b" HTTP/1.1\r\nHost: " + (parts.netloc or "").encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = await stream.receive_some()
            if not chunk:
                print("switchboard watch: the server closed during the handshake", file=sys.stderr)
                return 1
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            print(f"switchboard watch: refused: {head.splitlines()[0].decode()}", file=sys.stderr)
            return 1

        async def send(message: dict[str, object]) -> None:
            payload = orjson.dumps(message)
            await stream.send_all(
                frames.encode_client_frame(frames.OP_TEXT, payload, os.urandom(4))
            )

        if token:
            await send({"type": "hello", "token": token})
        subscribe: dict[str, object] = {"type": "subscribe", "id": "watch", "topic": topic}
        if since is not None:
            subscribe["since"] = since
        await send(subscribe)
        decoder = frames.FrameDecoder(1 << 30, masked=False)
        data = rest
        while True:
            for item in decoder.receive(data):
                if isinstance(item, frames.Message):
                    sys.stdout.write(item.payload.decode() + "\n")
                    sys.stdout.flush()
                elif isinstance(item, frames.Ping):
                    await stream.send_all(
                        frames.encode_client_frame(frames.OP_PONG, item.payload, os.urandom(4))
                    )
                elif isinstance(item, frames.Close):
                    print(
                        f"switchboard watch: closed by the server: {item.code} {item.reason}",
                        file=sys.stderr,
                    )
                    return 0 if item.code in (1000, 1001) else 1
            data = await stream.receive_some()
            if not data:
                print("switchboard watch: connection lost", file=sys.stderr)
                return 1
