"""The WebSocket opening handshake (RFC 6455, section 4), sans I/O.

The listener reads a request head; these functions say whether it asks for a
WebSocket, and answer it: the ``101`` response's bytes, or a
:class:`~server.errors.HandshakeError` whose :func:`handshake_refusal` is the
whole HTTP answer to send before closing. Nothing here touches a socket.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

import h11
import orjson

from ..errors import HandshakeError

WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL: Final = "switchboard.v1"


def is_upgrade_request(head: bytes) -> bool:
    """Cheap test on a raw request head: a GET of /ws asking for websocket."""
    if not (head.startswith(b"GET /ws ") or head.startswith(b"GET /ws?")):
        return False
    return b"websocket" in head.lower()


def parse_head(head: bytes) -> dict[bytes, bytes]:
    """A request head's headers (lower-case names, repeats joined), or HandshakeError."""
    parser = h11.Connection(h11.SERVER)
    parser.receive_data(head)
    try:
        event = parser.next_event()
    except h11.RemoteProtocolError as exc:
        raise HandshakeError(400, f"malformed request: {exc}") from None
    if not isinstance(event, h11.Request):
        raise HandshakeError(400, "incomplete request head")
    headers: dict[bytes, bytes] = {}
    for name, value in event.headers:
        headers[name] = headers[name] + b", " + value if name in headers else value
    return headers


def accept_handshake(headers: dict[bytes, bytes]) -> bytes:
    """The 101 response for a valid upgrade request's headers, or HandshakeError."""

    def tokens(name: bytes) -> set[bytes]:
        return {t.strip().lower() for t in headers.get(name, b"").split(b",")}

    if b"websocket" not in tokens(b"upgrade") or b"upgrade" not in tokens(b"connection"):
        raise HandshakeError(400, "expected 'Upgrade: websocket' and 'Connection: Upgrade'")
    if headers.get(b"sec-websocket-version") != b"13":
        raise HandshakeError(
            426, "only WebSocket version 13 is supported", [(b"Sec-WebSocket-Version", b"13")]
        )
    key = headers.get(b"sec-websocket-key", b"")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid_key = False
    if not valid_key:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    if SUBPROTOCOL.encode() in tokens(b"sec-websocket-protocol"):
        lines.append(b"Sec-WebSocket-Protocol: " + SUBPROTOCOL.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def handshake_refusal(error: HandshakeError) -> bytes:
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    reason = {400: b"Bad Request", 426: b"Upgrade Required", 429: b"Too Many Requests"}.get(
        error.status, b"Error"
    )
    lines = [
        b"HTTP/1.1 %d %s" % (error.status, reason),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
        b"Connection: close",
        *(name + b": " + value for name, value in error.headers),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
