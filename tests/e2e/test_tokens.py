"""Every kind of bad token is refused with a clear error; external identity
providers' tokens are checked against a key set the test serves itself; rate
limits hold and recover."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import orjson
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from oidc_support import AUDIENCE, ISSUER, KeyServer, external, jwk
from support import TEST_SECRET, Api, admin_token, open_ws, token

from server.config import Config, Limits
from server.main import Server


@pytest.fixture
async def keys(nursery: trio.Nursery) -> AsyncIterator[KeyServer]:
    served = KeyServer()
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, served.handle, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    served.url = f"http://127.0.0.1:{port}/jwks.json"
    return served


@pytest.fixture
async def oidc_server(
    config: Config, keys: KeyServer, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[Server]:
    providers = tmp_path / "oidc.json"
    providers.write_text(
        json.dumps(
            [
                {
                    "issuer": ISSUER,
                    "audience": AUDIENCE,
                    "jwks_url": keys.url,
                    "org_claim": "org_id",
                    "orgs": {"org_abc": "demo"},
                    "role_claim": "roles",
                    "roles": {"editor": "responder", "reader": "viewer"},
                    "refresh_seconds": 0,
                }
            ]
        )
    )
    running: Server = await nursery.start(
        Server(dataclasses.replace(config, oidc_file=providers)).run
    )
    yield running
    await running.stop()


async def refused(server: Server, bearer: str) -> str:
    """The 401 message for ``bearer`` on REST; the WebSocket says the same."""
    async with Api.open(server.base_url, bearer) as client:
        response = await client.get("/api/v1/orgs/demo")
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    async with open_ws(server.base_url) as ws:
        said = await ws.hello(bearer)
    assert said["type"] == "error" and said["code"] == "unauthorized", said
    assert said["message"] == error["message"]
    return str(error["message"])


async def test_tokens_we_sign_are_refused_when_wrong(server: Server) -> None:
    now = int(time.time())
    good = {"org": "demo", "role": "admin", "sub": "x", "iat": now}
    expired = jwt.encode({**good, "exp": now - 60}, TEST_SECRET, algorithm="HS256")
    assert "expired" in await refused(server, expired)
    valid = jwt.encode(good, TEST_SECRET, algorithm="HS256")
    head, claims, signature = valid.split(".")
    tampered_claims = jwt.utils.base64url_encode(orjson.dumps({**good, "org": "*"})).decode()
    assert "ignature" in await refused(server, f"{head}.{tampered_claims}.{signature}")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert "ignature" in await refused(server, f"{head}.{claims}.{flipped}")
    unsigned = jwt.encode(good, None, algorithm="none")  # type: ignore[arg-type]
    assert "'none' is not accepted" in await refused(server, unsigned)
    other_alg = jwt.encode(good, TEST_SECRET * 2, algorithm="HS512")
    assert "'HS512' is not accepted" in await refused(server, other_alg)
    wrong_secret = jwt.encode(good, "another secret of enough length" * 2, algorithm="HS256")
    assert "ignature" in await refused(server, wrong_secret)
    assert "neither" in await refused(server, "not-a-token")
    assert "unknown or revoked" in await refused(server, "sbt_nosuch_" + "x" * 43)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "'RS256' is not accepted" in await refused(server, external(private, "k1"))
    async with Api.open(server.base_url, valid) as ok:
        assert (await ok.get("/api/v1/orgs/demo")).status_code == 200


async def test_external_identity_provider_tokens(oidc_server: Server, keys: KeyServer) -> None:
    server = oidc_server
    first = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.keys = [jwk(first, "k1", "RS256")]
    accepted = external(first, "k1")
    async with Api.open(server.base_url, accepted) as grace:
        me = await grace.ok("GET", "/api/v1/me")
        assert me["kind"] == "oidc" and me["subject"] == "grace@example.com"
        assert me["memberships"] == [{"org": "demo", "role": "responder"}]
        await grace.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Via SSO"}, status=201)
        assert (await grace.get("/api/v1/orgs/demo/members")).status_code == 403
    fetched = keys.fetches
    async with Api.open(server.base_url, accepted) as grace:
        await grace.ok("GET", "/api/v1/orgs/demo")
    assert keys.fetches == fetched  # the key set is cached

    # The provider rotates: a token with a key id we have not seen makes us look again.
    second = ec.generate_private_key(ec.SECP256R1())
    keys.keys = [jwk(first, "k1", "RS256"), jwk(second, "k2", "ES256")]
    async with Api.open(server.base_url, external(second, "k2", "ES256")) as grace:
        assert (await grace.ok("GET", "/api/v1/me"))["kind"] == "oidc"
    assert keys.fetches == fetched + 1

    assert "'k9' is not in" in await refused(server, external(first, "k9"))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "ignature" in await refused(server, external(stranger, "k1"))
    assert "expired" in await refused(server, external(first, "k1", exp=int(time.time()) - 120))
    assert "not for this server" in await refused(server, external(first, "k1", aud="elsewhere"))
    assert "issuer" in await refused(server, external(first, "k1", iss="https://evil.test/"))
    assert "not mapped" in await refused(server, external(first, "k1", org_id="org_zzz"))
    assert "no role" in await refused(server, external(first, "k1", roles=["intern"]))
    # The RSA public key used as an HMAC secret (the classic confusion attack).
    from cryptography.hazmat.primitives import serialization

    pem = first.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = jwt.decode(accepted, options={"verify_signature": False})
    import hashlib
    import hmac

    header = jwt.utils.base64url_encode(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    payload = jwt.utils.base64url_encode(orjson.dumps(body))
    mac = hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()
    confused = b".".join([header, payload, jwt.utils.base64url_encode(mac)]).decode()
    assert "ignature" in await refused(server, confused)
    # An ES256 key cannot sign for an RS256 key id.
    assert "not valid" in await refused(server, external(second, "k1", "ES256"))


@pytest.mark.parametrize("limits", [Limits(public_per_second=5.0, public_burst=3)])
async def test_public_pages_are_rate_limited_per_address(
    server: Server, mock_clock: trio.testing.MockClock
) -> None:
    async with Api.open(server.base_url) as anon:
        for _ in range(3):
            assert (await anon.get("/status/demo/api/v2/status.json")).status_code == 200
        limited = await anon.get("/status/demo/api/v2/status.json")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json()["error"]["code"] == "rate_limited"
        assert (await anon.get("/health")).status_code == 200  # probes are not public pages
        mock_clock.jump(0.25)  # one token refills in 0.2 s
        assert (await anon.get("/status/demo/api/v2/status.json")).status_code == 200


@pytest.mark.parametrize("limits", [Limits(connects_per_second=5.0, connects_burst=2)])
async def test_websocket_connects_are_rate_limited_per_address(
    server: Server, mock_clock: trio.testing.MockClock
) -> None:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    async with open_ws(server.base_url), open_ws(server.base_url):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            answer = b""
            with trio.fail_after(10):
                while chunk := await stream.receive_some(4096):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 429") and b"Retry-After: 1" in answer
        assert b'"code":"rate_limited"' in answer
        mock_clock.jump(0.25)  # one token refills in 0.2 s
        async with open_ws(server.base_url) as ws:
            assert (await ws.request({"type": "ping"}))["type"] == "pong"


@pytest.mark.parametrize("limits", [Limits(messages_per_second=5.0, messages_burst=5)])
async def test_messages_per_connection_are_rate_limited(
    server: Server, mock_clock: trio.testing.MockClock
) -> None:
    async with open_ws(server.base_url) as ws:
        answers = [await ws.request({"type": "ping"}) for _ in range(5)]
        assert all(a["type"] == "pong" for a in answers)
        await ws.send({"type": "ping", "id": "over"})
        limited = await ws.reply()
        assert limited["code"] == "rate_limited" and "200" not in limited["message"]
        mock_clock.jump(0.25)  # one token refills in 0.2 s
        assert (await ws.request({"type": "ping"}))["type"] == "pong"  # recovered


async def test_operator_tokens_still_work_and_say_who(server: Server) -> None:
    async with open_ws(server.base_url) as ws:
        welcome = await ws.hello(admin_token())
        assert welcome["kind"] == "operator" and welcome["org"] == "demo"
        assert welcome["role"] == "admin" and welcome["subject"] == "admin-tester"
    async with Api.open(server.base_url, token("demo", "viewer")) as viewer:
        listed = await viewer.ok("GET", "/api/v1/orgs")
        assert [(o["slug"], o["role"]) for o in listed["data"]] == [("demo", "viewer")]
