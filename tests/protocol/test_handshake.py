"""The opening handshake, sans I/O: bytes in, bytes (or a refusal) out."""

from __future__ import annotations

import orjson
import pytest

from server.errors import HandshakeError
from server.protocol.handshake import (
    accept_handshake,
    handshake_refusal,
    is_upgrade_request,
    parse_head,
)


def head(*fields: str, target: str = "/ws") -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: example.test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


UPGRADE = (
    "Upgrade: websocket",
    "Connection: keep-alive, Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",  # RFC 6455's own example
)


def test_a_valid_upgrade_is_accepted_with_the_rfc_key() -> None:
    response = accept_handshake(parse_head(head(*UPGRADE)))
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"Sec-WebSocket-Protocol" not in response  # none asked for


def test_the_subprotocol_is_echoed_only_when_offered() -> None:
    response = accept_handshake(
        parse_head(head(*UPGRADE, "Sec-WebSocket-Protocol: other, switchboard.v1"))
    )
    assert b"Sec-WebSocket-Protocol: switchboard.v1\r\n" in response


def test_upgrade_requests_are_told_apart_cheaply() -> None:
    assert is_upgrade_request(head(*UPGRADE))
    assert is_upgrade_request(head(*UPGRADE, target="/ws?x=1"))
    assert not is_upgrade_request(head(*UPGRADE, target="/wsx"))
    assert not is_upgrade_request(head("Accept: */*"))


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (UPGRADE[1:], 400),  # no Upgrade
        ((*UPGRADE[:2], UPGRADE[3], "Sec-WebSocket-Version: 8"), 426),
        ((*UPGRADE[:3], "Sec-WebSocket-Key: c2hvcnQ="), 400),  # 5 bytes, not 16
    ],
)
def test_a_bad_upgrade_is_refused_with_a_json_answer(fields: tuple[str, ...], status: int) -> None:
    with pytest.raises(HandshakeError) as caught:
        accept_handshake(parse_head(head(*fields)))
    assert caught.value.http_status == status
    answer = handshake_refusal(caught.value)
    line, _, rest = answer.partition(b"\r\n")
    assert line.startswith(b"HTTP/1.1 %d " % status)
    body = orjson.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "bad_handshake"
    if status == 426:
        assert b"Sec-WebSocket-Version: 13\r\n" in rest


def test_a_head_that_is_not_http_is_refused() -> None:
    with pytest.raises(HandshakeError) as caught:
        parse_head(b"GET /ws HTTP/1.1\r\nno colon here\r\n\r\n")
    assert caught.value.http_status == 400
