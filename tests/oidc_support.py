"""An external identity provider on loopback: a key set the test serves, and
tokens signed with keys the test holds."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import orjson
import trio

ISSUER = "https://id.example.test/"
AUDIENCE = "switchboard"


class KeyServer:
    """A JWKS endpoint on a real socket; the test decides which keys it serves."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.url = ""

    async def handle(self, stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            request += chunk
        self.fetches += 1
        body = orjson.dumps({"keys": self.keys})
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await stream.aclose()


def jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    key: dict[str, Any] = json.loads(algorithm.to_jwk(private.public_key()))
    return {**key, "kid": kid, "alg": alg, "use": "sig"}


def external(private: Any, kid: str | None, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "email": "grace@example.com",
        "iat": now,
        "exp": now + 300,
        "org_id": "org_abc",
        "roles": ["editor"],
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid else None
    return jwt.encode(body, private, algorithm=alg, headers=headers)
