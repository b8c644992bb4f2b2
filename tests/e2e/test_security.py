"""The attacks an outside review made, each through the public interface: what
an external identity provider's token may claim, and what a member's tokens
and invitations may outlive."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc_support import AUDIENCE, ISSUER, KeyServer, external, jwk
from support import Api, admin_token, closed_with, logged_in, make_user, open_ws, raw_http, token

from server.config import Config, Limits
from server.main import Server
from server.protocol.frames import CLOSE_REVOKED


@pytest.fixture
async def keys(nursery: trio.Nursery) -> KeyServer:
    served = KeyServer()
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, served.handle, 0, host="127.0.0.1")
    )
    served.url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/jwks.json"
    return served


@pytest.fixture
def private(keys: KeyServer) -> Any:
    """The provider's signing key, served in its key set as "k1"."""
    made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.keys = [jwk(made, "k1", "RS256")]
    return made


@pytest.fixture
def provider(keys: KeyServer) -> dict[str, Any]:
    """A provider with no map of organizations: the claim is the slug."""
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks_url": keys.url,
        "org_claim": "org",
        "role_claim": "role",
        "refresh_seconds": 0,
    }


StartOidc = Callable[[dict[str, Any]], Any]


@pytest.fixture
async def start_oidc(
    config: Config, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[StartOidc]:
    """Start the server trusting one provider (its settings given by the test)."""
    started: list[Server] = []

    async def start(settings: dict[str, Any]) -> Server:
        path = tmp_path / "oidc.json"
        path.write_text(json.dumps([settings]))
        server: Server = await nursery.start(
            Server(dataclasses.replace(config, oidc_file=path)).run
        )
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def other_org(server: Server) -> str:
    """A second tenant with an incident (and so a notes room): its room id."""
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201)
    async with Api.open(server.base_url, token("other", "admin")) as other:
        made = await other.ok("POST", "/api/v1/orgs/other/incidents", {"name": "X"}, status=201)
    return str(made["notes_room"])


async def status_of(server: Server, bearer: str, method: str, path: str, body: Any = None) -> int:
    async with Api.open(server.base_url, bearer) as client:
        return (await client.request(method, path, body)).status_code


async def test_an_external_org_claim_of_star_is_no_wildcard(
    start_oidc: StartOidc, provider: dict[str, Any], private: Any
) -> None:
    server = await start_oidc(provider)
    room = await other_org(server)
    star = external(private, "k1", org="*", role="admin")
    for method, path in (
        ("GET", "/api/v1/orgs/other"),
        ("GET", "/api/v1/orgs/demo/members"),
        ("GET", f"/api/v1/rooms/{room}/text"),
        ("POST", "/api/v1/orgs/other/incidents"),
    ):
        assert await status_of(server, star, method, path, {"name": "x"}) == 401, path
    async with open_ws(server.base_url) as ws:
        said = await ws.hello(star)
        assert said["type"] == "error" and said["code"] == "unauthorized", said
        assert "slug" in said["message"]
        joined = await ws.request({"type": "subscribe", "topic": f"room:{room}"})
        assert joined["type"] == "error", joined
    # A slug is taken as one, and only that organization is open to it.
    demo = external(private, "k1", org="demo", role="admin")
    assert await status_of(server, demo, "GET", "/api/v1/orgs/demo") == 200
    assert await status_of(server, demo, "GET", "/api/v1/orgs/other") == 403


async def test_a_role_outside_the_providers_map_grants_nothing(
    start_oidc: StartOidc, provider: dict[str, Any], private: Any
) -> None:
    server = await start_oidc({**provider, "roles": {"eng": "responder"}})
    for value in ("owner", "admin", ["owner"], ["eng", "owner"]):
        bearer = external(private, "k1", org="demo", role=value)
        async with Api.open(server.base_url, bearer) as client:
            response = await client.get("/api/v1/me")
            if value == ["eng", "owner"]:  # the mapped value counts, the other does not
                assert response.json()["memberships"] == [{"org": "demo", "role": "responder"}]
                assert (await client.get("/api/v1/orgs/demo/members")).status_code == 403
            else:
                assert response.status_code == 401, (value, response.text)
                assert "gives no role" in response.json()["error"]["message"]
    mapped = external(private, "k1", org="demo", role="eng")
    async with Api.open(server.base_url, mapped) as client:
        assert (await client.ok("GET", "/api/v1/me"))["memberships"] == [
            {"org": "demo", "role": "responder"}
        ]


async def test_without_a_roles_map_the_value_is_the_role_name(
    start_oidc: StartOidc, provider: dict[str, Any], private: Any
) -> None:
    server = await start_oidc(provider)
    async with Api.open(server.base_url, external(private, "k1", org="demo", role="admin")) as c:
        assert (await c.ok("GET", "/api/v1/me"))["memberships"] == [
            {"org": "demo", "role": "admin"}
        ]
    bearer = external(private, "k1", org="demo", role="superuser")
    assert await status_of(server, bearer, "GET", "/api/v1/me") == 401


async def made_by(bearer: str, base_url: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    async with Api.open(base_url, bearer) as maker:
        made: dict[str, Any] = await maker.ok("POST", f"/api/v1/orgs/demo/{kind}", body, status=201)
    return made


async def test_what_a_removed_member_made_dies_with_the_membership(
    server: Server, api: Api
) -> None:
    admin, access = await logged_in(server, "leaving-admin@example.com", "admin")
    made = await made_by(access, server.base_url, "tokens", {"name": "bot", "role": "admin"})
    child = await made_by(
        made["token"], server.base_url, "tokens", {"name": "kid", "role": "viewer"}
    )
    invited = await made_by(access, server.base_url, "invitations", {"role": "admin"})
    async with Api.open(server.base_url, made["token"]) as bot:
        assert (await bot.get("/api/v1/orgs/demo/members")).status_code == 200
    async with open_ws(server.base_url) as ws, open_ws(server.base_url) as kid_ws:
        assert (await ws.hello(made["token"]))["kind"] == "token"
        await ws.subscribe("org:demo")
        await kid_ws.hello(child["token"])
        await kid_ws.subscribe("org:demo")
        assert (await api.delete(f"/api/v1/orgs/demo/members/{admin}")).status_code == 204
        assert await closed_with(ws) == CLOSE_REVOKED
        assert await closed_with(kid_ws) == CLOSE_REVOKED
    for bearer in (made["token"], child["token"]):
        async with Api.open(server.base_url, bearer) as bot:
            assert (await bot.get("/api/v1/orgs/demo/members")).status_code == 401
            assert (
                await bot.post("/api/v1/orgs/demo/invitations", {"role": "admin"})
            ).status_code == 401
    async with Api.open(server.base_url) as anon:
        gone = await anon.get(f"/api/v1/invitations/{invited['token']}")
        assert gone.status_code == 410
    tokens = (await api.ok("GET", "/api/v1/orgs/demo/tokens"))["data"]
    assert {t["name"] for t in tokens}.isdisjoint({"bot", "kid"})
    audit = (await api.ok("GET", "/api/v1/orgs/demo/audit"))["data"]
    revoked = {row["target"] for row in audit if row["action"] == "token.revoke"}
    assert {made["id"], child["id"]} <= revoked
    assert any(r["action"] == "invitation.revoke" and r["target"] == invited["id"] for r in audit)


async def test_what_a_demoted_member_made_is_capped_to_their_new_role(
    server: Server, api: Api
) -> None:
    admin, access = await logged_in(server, "demoted@example.com", "admin")
    strong = await made_by(access, server.base_url, "tokens", {"name": "strong", "role": "admin"})
    weak = await made_by(access, server.base_url, "tokens", {"name": "weak", "role": "viewer"})
    invited = await made_by(access, server.base_url, "invitations", {"role": "admin"})
    async with open_ws(server.base_url) as ws:
        assert (await ws.hello(strong["token"]))["role"] == "admin"
        await api.ok("PATCH", f"/api/v1/orgs/demo/members/{admin}", {"role": "responder"})
        assert await closed_with(ws) == CLOSE_REVOKED  # reconnects with the new role
    async with Api.open(server.base_url, strong["token"]) as bot:
        assert (await bot.ok("GET", "/api/v1/me"))["memberships"] == [
            {"org": "demo", "role": "responder"}
        ]
        assert (await bot.get("/api/v1/orgs/demo/members")).status_code == 403
        await bot.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Still useful"}, status=201)
    tokens = {
        t["name"]: t["role"] for t in (await api.ok("GET", "/api/v1/orgs/demo/tokens"))["data"]
    }
    assert tokens["strong"] == "responder" and tokens["weak"] == "viewer"
    async with Api.open(server.base_url) as anon:
        shown = await anon.ok("GET", f"/api/v1/invitations/{invited['token']}")
    assert shown["role"] == "responder"
    audit = (await api.ok("GET", "/api/v1/orgs/demo/audit"))["data"]
    capped = next(r for r in audit if r["action"] == "token.role")
    assert capped["target"] == strong["id"]
    assert capped["details"] == {"name": "strong", "from": "admin", "to": "responder"}
    assert weak["id"] not in {r["target"] for r in audit if r["action"] == "token.role"}


async def test_a_token_made_by_a_token_ends_with_it(server: Server, api: Api) -> None:
    parent = await made_by(admin_token(), server.base_url, "tokens", {"name": "p", "role": "admin"})
    child = await made_by(
        parent["token"], server.base_url, "tokens", {"name": "c", "role": "viewer"}
    )
    assert (await api.delete(f"/api/v1/orgs/demo/tokens/{parent['id']}")).status_code == 204
    async with Api.open(server.base_url, child["token"]) as kid:
        assert (await kid.get("/api/v1/orgs/demo")).status_code == 401
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    mortal = await made_by(
        admin_token(), server.base_url, "tokens", {"name": "m", "role": "admin", "expires_at": soon}
    )
    heir = await made_by(
        mortal["token"], server.base_url, "tokens", {"name": "h", "role": "viewer"}
    )
    assert heir["expires_at"] is not None
    assert datetime.fromisoformat(heir["expires_at"]) <= datetime.fromisoformat(soon)


async def closes_on_expiry(base_url: str, bearer: str) -> None:
    """The socket works until its credential expires, then closes with 4003."""
    import trio_websocket

    async with open_ws(base_url) as ws:
        assert (await ws.hello(bearer))["type"] == "welcome"
        await ws.subscribe("org:demo")
        with trio.fail_after(10):
            try:
                while True:
                    await ws.conn.get_message()
            except trio_websocket.ConnectionClosed as closed:
                assert closed.reason.code == CLOSE_REVOKED
                assert "expired" in (closed.reason.reason or "")
    async with Api.open(base_url, bearer) as late:
        refused = await late.get("/api/v1/orgs/demo")
        assert refused.status_code == 401 and "expired" in refused.text


@pytest.mark.parametrize("limits", [Limits(access_token_seconds=2)])
async def test_sockets_close_when_their_credential_expires(server: Server, api: Api) -> None:
    from support import TOKENS

    from server.auth import Role

    _, access = await logged_in(server, "short@example.com", "responder")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    api_token = await api.ok(
        "POST",
        "/api/v1/orgs/demo/tokens",
        {"name": "brief", "role": "admin", "expires_at": soon},
        status=201,
    )
    operator = TOKENS.issue("demo", Role.ADMIN, ttl=timedelta(seconds=2))
    async with trio.open_nursery() as nursery:
        for bearer in (access, api_token["token"], operator):
            nursery.start_soon(closes_on_expiry, server.base_url, bearer)


async def test_an_external_token_closes_its_socket_when_it_expires(
    start_oidc: StartOidc, provider: dict[str, Any], private: Any
) -> None:
    import time

    server = await start_oidc(provider)
    bearer = external(private, "k1", org="demo", role="admin", exp=int(time.time()) + 3)
    await closes_on_expiry(server.base_url, bearer)


@pytest.fixture
async def behind_proxy(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The server behind a trusted proxy on loopback: X-Forwarded-For names the client."""
    changed = dataclasses.replace(
        config,
        trusted_proxies=("127.0.0.1",),
        limits=dataclasses.replace(config.limits, login_failures_free=5, logins_burst=100),
    )
    running: Server = await nursery.start(Server(changed).run)
    yield running
    await running.stop()


async def test_guessing_a_password_locks_out_the_guesser_not_the_owner(
    behind_proxy: Server,
) -> None:
    from support import PASSWORD

    server = behind_proxy
    await make_user(server, "owner-of-it@example.com", "owner")
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    owner = {"X-Forwarded-For": "198.51.100.7"}
    guess = {"email": "owner-of-it@example.com", "password": "wrong guess!!"}
    right = {**guess, "password": PASSWORD}
    async with Api.open(server.base_url) as anon:
        for _ in range(5):
            failed = await anon.post("/api/v1/auth/login", guess, headers=attacker)
            assert failed.status_code == 401
        locked = await anon.post("/api/v1/auth/login", right, headers=attacker)
        assert locked.status_code == 429  # the guesser waits, even with the right one
        mine = await anon.post("/api/v1/auth/login", right, headers=owner)
        assert mine.status_code == 200, mine.text  # the owner, elsewhere, does not


@pytest.mark.parametrize("limits", [Limits(rooms_per_org=3)])
async def test_rooms_have_a_quota_and_an_admin_may_delete_one(server: Server, api: Api) -> None:
    async with Api.open(server.base_url, token("demo", "responder")) as resp:
        made = [
            await resp.ok("POST", "/api/v1/rooms", {"org": "demo", "title": f"R{n}"}, status=201)
            for n in range(3)
        ]
        # Concurrent creations cannot squeeze past the quota together.
        answers: list[int] = []

        async def one(n: int) -> None:
            answered = await resp.post("/api/v1/rooms", {"org": "demo", "title": f"X{n}"})
            answers.append(answered.status_code)

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(one, n)
        assert answers == [409] * 5
        over = await resp.post("/api/v1/rooms", {"org": "demo", "title": "one too many"})
        assert over.status_code == 409 and "delete one first" in over.json()["error"]["message"]
        # Incidents' notes rooms do not count.
        await resp.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Notes"}, status=201)
        assert (await resp.delete(f"/api/v1/rooms/{made[0]['room_id']}")).status_code == 403

    room = made[0]["room_id"]
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        await ws.subscribe_room(room, "client-1")
        assert (await api.delete(f"/api/v1/rooms/{room}")).status_code == 204
        assert (await ws.event("room.deleted"))["topic"] == f"room:{room}"
        edit = await ws.request(
            {"type": "doc.op", "room": room, "rev": 0, "op": ["x"], "client_op_id": 1}
        )
        assert edit["type"] == "error" and edit["code"] == "not_found", edit
    assert (await api.get(f"/api/v1/rooms/{room}")).status_code == 404
    assert (await api.delete(f"/api/v1/rooms/{room}")).status_code == 404
    rows = await sql_rows(
        server, "SELECT count(*) AS n FROM events WHERE stream = $1", f"room:{room}"
    )
    assert rows == [{"n": 0}]
    async with Api.open(server.base_url, token("demo", "responder")) as resp:
        await resp.ok("POST", "/api/v1/rooms", {"org": "demo", "title": "in its place"}, status=201)
    audit = (await api.ok("GET", "/api/v1/orgs/demo/audit"))["data"]
    assert any(r["action"] == "room.delete" and r["target"] == room for r in audit)


async def test_an_incidents_notes_room_stays_with_it(server: Server, api: Api) -> None:
    incident = await api.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Kept"}, status=201)
    refused = await api.delete(f"/api/v1/rooms/{incident['notes_room']}")
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "room"


async def sql_rows(server: Server, query: str, *args: Any) -> list[dict[str, Any]]:
    assert server.registry is not None
    return await server.registry.store.fetch(query, *args)


async def test_every_privileged_change_says_who_what_from_and_to(server: Server, api: Api) -> None:
    from support import PASSWORD

    _, inviter = await logged_in(server, "inviter@example.com", "admin")
    async with Api.open(server.base_url) as anon:
        assert (
            await anon.post(
                "/api/v1/auth/login", {"email": "inviter@example.com", "password": "not it at all"}
            )
        ).status_code == 401
        assert (
            await anon.post(
                "/api/v1/auth/login", {"email": "nobody@example.com", "password": "not it at all"}
            )
        ).status_code == 401
    invited = await made_by(inviter, server.base_url, "invitations", {"role": "viewer"})
    async with Api.open(server.base_url) as anon:
        await anon.ok(
            "POST",
            f"/api/v1/invitations/{invited['token']}/accept",
            {"email": "newcomer@example.com", "name": "New", "password": PASSWORD},
            status=201,
        )
    channel = await api.ok(
        "POST",
        "/api/v1/orgs/demo/channels",
        {"kind": "slack", "name": "ops", "config": {"url": "http://127.0.0.1:9/old"}},
        status=201,
    )
    await api.ok(
        "PATCH",
        f"/api/v1/orgs/demo/channels/{channel['id']}",
        {"config": {"url": "http://127.0.0.1:9/new"}},
    )
    await api.ok("PATCH", "/api/v1/orgs/demo/services/api", {"status": "major_outage"})
    await api.ok("PATCH", "/api/v1/orgs/demo", {"name": "Renamed"})
    rows = (await api.ok("GET", "/api/v1/orgs/demo/audit?limit=200"))["data"]
    by = {}
    for row in rows:
        by.setdefault(row["action"], row)
    assert by["channel.update"]["details"] == {
        "changed": ["config"],
        "from": {"config": {"url": "http://127.0.0.1:9/old"}},
        "to": {"config": {"url": "http://127.0.0.1:9/new"}},
    }
    accepted = by["invitation.accept"]
    assert accepted["target"] == invited["id"] and accepted["actor"] == "newcomer@example.com"
    assert accepted["details"]["invitation"] == invited["id"]
    assert accepted["details"]["invited_by"] == "inviter@example.com"
    assert by["service.update"]["details"]["from"] == {"status": "operational"}
    assert by["org.update"]["details"] == {"name": "Renamed", "from": {"name": "Demo Inc."}}
    logins = [r for r in rows if r["action"].startswith("login")]
    assert {(r["action"], r["actor"], r["ip"]) for r in logins} == {
        ("login", "inviter@example.com", "127.0.0.1"),
        ("login.fail", "inviter@example.com", "127.0.0.1"),
    }
    async with Api.open(server.base_url, token("*", "admin")) as operator:
        everything = (await operator.ok("GET", "/api/v1/audit"))["data"]
    assert {(r["action"], r["actor"], r["actor_kind"]) for r in everything} >= {
        ("login", "inviter@example.com", "user"),
        ("login.fail", "inviter@example.com", "user"),
        ("login.fail", "nobody@example.com", "anonymous"),
    }
    async with Api.open(server.base_url, token("demo", "owner")) as owner:
        assert (await owner.delete("/api/v1/orgs/demo")).status_code == 200
    async with Api.open(server.base_url, token("*", "admin")) as operator:
        after = await operator.ok("GET", "/api/v1/orgs/demo/audit?limit=5")
    assert after["data"][0]["action"] == "org.delete", after["data"][0]


async def test_no_answer_can_be_sniffed_and_redirects_stay_on_site(
    server: Server, api: Api
) -> None:
    async with Api.open(server.base_url) as anon:
        for path in (
            "/status/demo/api/v2/summary.json",
            "/status/demo/history.rss",
            "/status/demo/history.atom",
            "/status/demo/badge.svg",
            "/status/nosuch/api/v2/summary.json",
            "/api/v1/orgs/demo",
            "/api/v1/openapi.json",
            "/health",
        ):
            answer = await anon.get(path)
            assert answer.headers.get("x-content-type-options") == "nosniff", path
    head = await raw_http(
        server.base_url,
        b"GET /status//demo HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        whole=False,
    )
    assert head.startswith(b"HTTP/1.1 308"), head
    location = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"location:")
    )
    assert location == b"/status/demo"


async def test_the_front_page_names_only_listed_organizations(server: Server, api: Api) -> None:
    async with Api.open(server.base_url, token("*", "admin")) as root:
        await root.ok("POST", "/api/v1/orgs", {"slug": "hidden", "name": "Hidden"}, status=201)
    async with Api.open(server.base_url) as anon:
        page = (await anon.get("/")).text
    assert "/status/demo" in page and "hidden" not in page
    async with Api.open(server.base_url, token("hidden", "admin")) as admin:
        changed = await admin.ok("PATCH", "/api/v1/orgs/hidden", {"listed": True})
        assert changed["listed"] is True
    async with Api.open(server.base_url) as anon:
        assert "/status/hidden" in (await anon.get("/")).text
    await api.ok("PATCH", "/api/v1/orgs/demo", {"listed": False})
    async with Api.open(server.base_url) as anon:
        assert "/status/demo" not in (await anon.get("/")).text


async def test_signing_up_through_an_invitation_says_nothing_of_other_accounts(
    server: Server, api: Api
) -> None:
    from support import PASSWORD

    await make_user(server, "existing@example.com", None)
    links = [
        (await api.ok("POST", "/api/v1/orgs/demo/invitations", {"role": "viewer"}, status=201))[
            "token"
        ]
        for _ in range(2)
    ]
    async with Api.open(server.base_url) as anon:
        taken = await anon.post(
            f"/api/v1/invitations/{links[0]}/accept",
            {"email": "existing@example.com", "name": "X", "password": "some other password"},
        )
        assert taken.status_code == 401, taken.text
        assert "exist" not in taken.text and "existing@example.com" not in taken.text
        assert taken.json()["error"]["message"] == "wrong email or password"
        login_like = await anon.post(
            "/api/v1/auth/login",
            {"email": "existing@example.com", "password": "some other password"},
        )
        assert login_like.json() == taken.json()  # the same answer as a failed login
        # With the account's own password, it joins (and is logged in).
        joined = await anon.ok(
            "POST",
            f"/api/v1/invitations/{links[0]}/accept",
            {"email": "existing@example.com", "name": "X", "password": PASSWORD},
            status=201,
        )
        assert joined["org"] == "demo" and joined["access_token"]
        weak = await anon.post(
            f"/api/v1/invitations/{links[1]}/accept",
            {"email": "new@example.com", "name": "N", "password": "Password2024!"},
        )
        assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
        assert "common" in weak.json()["error"]["message"]
