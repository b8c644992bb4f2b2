"""Users, logins, memberships, invitations, API tokens, revocation and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
import trio.testing
from support import (
    PASSWORD,
    Api,
    admin_token,
    closed_with,
    login,
    make_user,
    open_ws,
    token,
    trio_wall_clock,
)

from server.config import Config, Limits
from server.main import Server
from server.protocol.frames import CLOSE_REVOKED


async def test_login_refresh_logout(server: Server) -> None:
    await make_user(server, "Ada@Example.com", "responder")
    async with Api.open(server.base_url) as anon:
        wrong = await anon.post(
            "/api/v1/auth/login", {"email": "ada@example.com", "password": "x" * 12}
        )
        nobody = await anon.post(
            "/api/v1/auth/login", {"email": "no@example.com", "password": "x" * 12}
        )
        assert wrong.status_code == nobody.status_code == 401
        assert wrong.json() == nobody.json()  # nothing told about which accounts exist
        granted = await login(anon, "ada@example.com")
        assert granted["token_type"] == "Bearer" and granted["expires_in"] == 900
        assert granted["user"]["email"] == "ada@example.com"
        assert granted["refresh_token"].startswith("sbr_")

    async with Api.open(server.base_url, granted["access_token"]) as ada:
        me = await ada.ok("GET", "/api/v1/me")
        assert me["kind"] == "user" and me["memberships"] == [{"org": "demo", "role": "responder"}]
        created = await ada.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "Login works"}, status=201
        )
        assert created["updates"][0]["author"] == "ada@example.com"
        assert (await ada.patch("/api/v1/orgs/demo", {"name": "x"})).status_code == 403

    async with Api.open(server.base_url) as anon:
        renewed = await anon.ok(
            "POST", "/api/v1/auth/refresh", {"refresh_token": granted["refresh_token"]}
        )
        assert renewed["refresh_token"] != granted["refresh_token"]
        # The old refresh token is spent; using it again ends the whole login.
        reused = await anon.post(
            "/api/v1/auth/refresh", {"refresh_token": granted["refresh_token"]}
        )
        assert reused.status_code == 401 and "already used" in reused.json()["error"]["message"]
        after = await anon.post("/api/v1/auth/refresh", {"refresh_token": renewed["refresh_token"]})
        assert after.status_code == 401
    async with Api.open(server.base_url, renewed["access_token"]) as ada:
        assert (await ada.get("/api/v1/me")).status_code == 401  # the login is over

    async with Api.open(server.base_url) as anon:
        again = await login(anon, "ada@example.com")
    async with Api.open(server.base_url, again["access_token"]) as ada:
        assert (await ada.post("/api/v1/auth/logout")).status_code == 204
        gone = await ada.get("/api/v1/me")
        assert gone.status_code == 401 and "log in again" in gone.json()["error"]["message"]


async def test_a_login_survives_a_restart(config: Any, nursery: trio.Nursery) -> None:
    first: Server = await nursery.start(Server(config).run)
    await make_user(first, "kept@example.com", "viewer")
    async with Api.open(first.base_url) as anon:
        granted = await login(anon, "kept@example.com")
    await first.stop()
    second: Server = await nursery.start(Server(config).run)
    try:
        async with Api.open(second.base_url, granted["access_token"]) as kept:
            assert (await kept.ok("GET", "/api/v1/me"))["user"]["email"] == "kept@example.com"
        async with Api.open(second.base_url) as anon:
            await anon.ok(
                "POST", "/api/v1/auth/refresh", {"refresh_token": granted["refresh_token"]}
            )
    finally:
        await second.stop()


@pytest.mark.parametrize("limits", [Limits(logins_burst=100, login_failures_free=2)])
async def test_guessing_one_account_is_slowed(
    server: Server, mock_clock: trio.testing.MockClock
) -> None:
    await make_user(server, "target@example.com", "viewer")
    async with Api.open(server.base_url) as anon:
        bad = {"email": "target@example.com", "password": "wrong password!"}
        for _ in range(2):
            assert (await anon.post("/api/v1/auth/login", bad)).status_code == 401
        # Two failures are free; after them, each next attempt waits (even a right one).
        slowed = await anon.post("/api/v1/auth/login", {**bad, "password": PASSWORD})
        assert slowed.status_code == 429 and slowed.json()["error"]["code"] == "rate_limited"
        wait = int(slowed.headers["Retry-After"])
        assert wait >= 1
        mock_clock.jump(wait)
        await login(anon, "target@example.com")  # the right password, once the wait is over
        # Success forgets the failures.
        assert (await anon.post("/api/v1/auth/login", bad)).status_code == 401


@pytest.mark.parametrize("limits", [Limits(logins_burst=3, logins_per_second=1.0)])
async def test_logins_from_one_address_are_rate_limited(
    server: Server, mock_clock: trio.testing.MockClock
) -> None:
    async with Api.open(server.base_url) as anon:
        body = {"email": f"x{0}@example.com", "password": "not the one"}
        for _ in range(3):
            assert (await anon.post("/api/v1/auth/login", body)).status_code == 401
        limited = await anon.post("/api/v1/auth/login", body)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        mock_clock.jump(int(limited.headers["Retry-After"]))  # as the answer says
        assert (await anon.post("/api/v1/auth/login", body)).status_code == 401  # recovered


async def test_members_and_owners(server: Server) -> None:
    owner = await make_user(server, "owner@example.com", "owner")
    admin = await make_user(server, "admin@example.com", "admin")
    viewer = await make_user(server, "viewer@example.com", "viewer")
    async with Api.open(server.base_url) as anon:
        as_admin = (await login(anon, "admin@example.com"))["access_token"]
        as_owner = (await login(anon, "owner@example.com"))["access_token"]
    async with Api.open(server.base_url, as_admin) as api:
        listed = await api.ok("GET", "/api/v1/orgs/demo/members")
        assert {(m["email"], m["role"]) for m in listed["data"]} == {
            ("owner@example.com", "owner"),
            ("admin@example.com", "admin"),
            ("viewer@example.com", "viewer"),
        }
        promoted = await api.ok(
            "PATCH", f"/api/v1/orgs/demo/members/{viewer}", {"role": "responder"}
        )
        assert promoted["role"] == "responder"
        refused = await api.patch(f"/api/v1/orgs/demo/members/{viewer}", {"role": "owner"})
        assert refused.status_code == 403 and "owner" in refused.json()["error"]["message"]
        assert (await api.delete(f"/api/v1/orgs/demo/members/{owner}")).status_code == 403
        bad = await api.patch(f"/api/v1/orgs/demo/members/{viewer}", {"role": "boss"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "role"
        assert (await api.delete("/api/v1/orgs/demo/members/nosuchuser")).status_code == 404
    async with Api.open(server.base_url, as_owner) as api:
        last = await api.patch(f"/api/v1/orgs/demo/members/{owner}", {"role": "admin"})
        assert last.status_code == 409  # the organization keeps an owner
        await api.ok("PATCH", f"/api/v1/orgs/demo/members/{admin}", {"role": "owner"})
        await api.ok("PATCH", f"/api/v1/orgs/demo/members/{owner}", {"role": "admin"})
        assert (await api.delete(f"/api/v1/orgs/demo/members/{viewer}")).status_code == 204
    async with Api.open(server.base_url, admin_token()) as api:
        roles = {
            m["email"]: m["role"]
            for m in (await api.ok("GET", "/api/v1/orgs/demo/members"))["data"]
        }
        assert roles == {"owner@example.com": "admin", "admin@example.com": "owner"}


async def test_invitations(server: Server) -> None:
    await make_user(server, "member@example.com", None)
    async with Api.open(server.base_url, admin_token()) as api:
        made = await api.ok(
            "POST", "/api/v1/orgs/demo/invitations", {"role": "responder"}, status=201
        )
        link = made["token"]
        assert link.startswith("sbi_") and made["accept_url"].endswith(f"/admin/join/{link}")
        assert [
            i["id"] for i in (await api.ok("GET", "/api/v1/orgs/demo/invitations"))["data"]
        ] == [made["id"]]
        assert "token" not in (await api.ok("GET", "/api/v1/orgs/demo/invitations"))["data"][0]
        only_for = await api.ok(
            "POST",
            "/api/v1/orgs/demo/invitations",
            {"role": "viewer", "email": "someone@example.com"},
            status=201,
        )
        withdrawn = await api.ok(
            "POST", "/api/v1/orgs/demo/invitations", {"role": "viewer"}, status=201
        )
        assert (
            await api.delete(f"/api/v1/orgs/demo/invitations/{withdrawn['id']}")
        ).status_code == 204
        owner_invite = await api.post("/api/v1/orgs/demo/invitations", {"role": "owner"})
        assert owner_invite.status_code == 403  # an admin cannot make owners, even by invitation

    async with Api.open(server.base_url) as anon:
        shown = await anon.ok("GET", f"/api/v1/invitations/{link}")
        assert shown["org"] == "demo" and shown["role"] == "responder"
        signup = {"email": "new@example.com", "name": "New Person", "password": PASSWORD}
        joined = await anon.ok("POST", f"/api/v1/invitations/{link}/accept", signup, status=201)
        assert joined["org"] == "demo" and joined["role"] == "responder"
        assert joined["access_token"] and joined["user"]["name"] == "New Person"
        used = await anon.post(
            f"/api/v1/invitations/{link}/accept", {**signup, "email": "x@example.com"}
        )
        assert used.status_code == 410 and used.json()["error"]["code"] == "invitation_invalid"
        gone = await anon.post(f"/api/v1/invitations/{withdrawn['token']}/accept", signup)
        assert gone.status_code == 410
        bogus = await anon.get("/api/v1/invitations/sbi_nope_" + "x" * 40)
        assert bogus.status_code == 410
        wrong_person = await anon.post(
            f"/api/v1/invitations/{only_for['token']}/accept",
            {"email": "other@example.com", "password": PASSWORD},
        )
        assert wrong_person.status_code == 403
        weak = await anon.post(
            f"/api/v1/invitations/{only_for['token']}/accept",
            {"email": "someone@example.com", "password": "short"},
        )
        assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
        member = (await login(anon, "member@example.com"))["access_token"]
    async with Api.open(server.base_url, joined["access_token"]) as new:
        await new.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "From a new member"}, status=201
        )
    async with Api.open(server.base_url, member) as existing:
        # The email-bound invitation is still unused: the right person accepts it logged in.
        refused = await existing.post(f"/api/v1/invitations/{only_for['token']}/accept")
        assert refused.status_code == 403
    async with Api.open(server.base_url, admin_token()) as api:
        again = await api.ok(
            "POST", "/api/v1/orgs/demo/invitations", {"role": "viewer"}, status=201
        )
    async with Api.open(server.base_url, member) as existing:
        accepted = await existing.ok("POST", f"/api/v1/invitations/{again['token']}/accept")
        assert accepted["role"] == "viewer"
        me = await existing.ok("GET", "/api/v1/me")
        assert me["memberships"] == [{"org": "demo", "role": "viewer"}]


async def test_api_tokens_are_shown_once_scoped_and_revocable(server: Server) -> None:
    async with Api.open(server.base_url, admin_token()) as api:
        made = await api.ok(
            "POST",
            "/api/v1/orgs/demo/tokens",
            {"name": "deploy-bot", "role": "responder"},
            status=201,
        )
        secret = made["token"]
        assert secret.startswith("sbt_") and made["role"] == "responder"
        listed = (await api.ok("GET", "/api/v1/orgs/demo/tokens"))["data"]
        assert [t["name"] for t in listed] == ["deploy-bot"] and "token" not in listed[0]
        dup = await api.post("/api/v1/orgs/demo/tokens", {"name": "deploy-bot", "role": "viewer"})
        assert dup.status_code == 409
        stronger = await api.post("/api/v1/orgs/demo/tokens", {"name": "root", "role": "owner"})
        assert stronger.status_code == 403  # no more than its maker's role
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        expired = await api.post(
            "/api/v1/orgs/demo/tokens", {"name": "old", "role": "viewer", "expires_at": past}
        )
        assert expired.status_code == 422 and expired.json()["error"]["field"] == "expires_at"
    async with Api.open(server.base_url, secret) as bot:
        await bot.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Deploy failed"}, status=201)
        assert (await bot.get("/api/v1/orgs/demo/tokens")).status_code == 403
        me = await bot.ok("GET", "/api/v1/me")
        assert me["kind"] == "token" and me["subject"] == "token:deploy-bot"
        async with open_ws(server.base_url) as ws:
            welcome = await ws.hello(secret)
            assert welcome["kind"] == "token" and welcome["role"] == "responder"
            await ws.subscribe("org:demo")
            async with Api.open(server.base_url, admin_token()) as api:
                assert (
                    await api.delete(f"/api/v1/orgs/demo/tokens/{made['id']}")
                ).status_code == 204
            assert await closed_with(ws) == CLOSE_REVOKED
        revoked = await bot.get("/api/v1/orgs/demo")
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


async def test_an_api_token_expires(
    config: Config, nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    wall = trio_wall_clock()  # the server's "now" moves with mock_clock
    server: Server = await nursery.start(Server(config, clock=wall).run)
    try:
        soon = (wall.now() + timedelta(seconds=1)).isoformat()
        async with Api.open(server.base_url, admin_token()) as api:
            made = await api.ok(
                "POST",
                "/api/v1/orgs/demo/tokens",
                {"name": "short", "role": "viewer", "expires_at": soon},
                status=201,
            )
        async with Api.open(server.base_url, made["token"]) as short:
            assert (await short.get("/api/v1/orgs/demo")).status_code == 200
            mock_clock.jump(1)
            late = await short.get("/api/v1/orgs/demo")
            assert late.status_code == 401 and "expired" in late.json()["error"]["message"]
    finally:
        await server.stop()


async def test_revoking_access_closes_live_connections(server: Server) -> None:
    user = await make_user(server, "leaver@example.com", "responder")
    async with Api.open(server.base_url) as anon:
        first = (await login(anon, "leaver@example.com"))["access_token"]
        second = (await login(anon, "leaver@example.com"))["access_token"]
    async with open_ws(server.base_url) as ws, open_ws(server.base_url) as other_login:
        assert (await ws.hello(first))["kind"] == "user"
        await ws.subscribe("org:demo")
        await other_login.hello(second)
        async with Api.open(server.base_url, first) as leaver:
            assert (await leaver.post("/api/v1/auth/logout")).status_code == 204
        assert await closed_with(ws) == CLOSE_REVOKED  # only that login's connections
        assert (await other_login.request({"type": "ping"}))["type"] == "pong"
        async with Api.open(server.base_url, admin_token()) as api:
            assert (await api.delete(f"/api/v1/orgs/demo/members/{user}")).status_code == 204
        assert await closed_with(other_login) == CLOSE_REVOKED
    async with open_ws(server.base_url) as ws:
        await ws.hello(second)
        denied = await ws.request({"type": "subscribe", "topic": "org:demo"})
        assert denied["code"] == "forbidden"


async def test_the_audit_log_records_who_did_what_from_where(server: Server) -> None:
    async with Api.open(server.base_url, admin_token()) as api:
        bot = await api.ok(
            "POST", "/api/v1/orgs/demo/tokens", {"name": "auditor", "role": "responder"}, status=201
        )
        service = await api.ok(
            "PATCH", "/api/v1/orgs/demo/services/api", {"status": "major_outage"}
        )
        assert (
            await api.patch("/api/v1/orgs/demo/services/api", {"status": "bad"})
        ).status_code == 422
    async with open_ws(server.base_url) as ws:
        await ws.hello(bot["token"])
        done = await ws.command("demo", "incident.create", {"name": "Over the socket"})
        assert done["type"] == "ack"
    async with Api.open(server.base_url, token("demo", "responder")) as responder:
        assert (await responder.get("/api/v1/orgs/demo/audit")).status_code == 403
    async with Api.open(server.base_url, admin_token()) as api:
        log = await api.ok("GET", "/api/v1/orgs/demo/audit?limit=2")
        assert len(log["data"]) == 2 and log["next"]
        rest = await api.ok("GET", log["next"])
        entries = log["data"] + rest["data"]
    actions = [(e["action"], e["actor"], e["actor_kind"]) for e in entries]
    assert actions == [
        ("incident.create", "token:auditor", "token"),
        ("service.update", "admin-tester", "operator"),
        ("token.create", "admin-tester", "operator"),
    ]  # newest first; the refused change left no entry
    assert all(e["ip"] == "127.0.0.1" for e in entries)
    assert entries[1]["target"] == service["id"]
    assert entries[1]["details"] == {  # as given, and what it changed from
        "service": "api",
        "status": "major_outage",
        "from": {"status": "operational"},
    }
    assert entries[2]["details"] == {"name": "auditor", "role": "responder"}


def test_forwarded_addresses_count_only_behind_a_trusted_proxy() -> None:
    from server.ratelimit import client_address, parse_networks

    trusted = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert client_address("127.0.0.1", "203.0.113.7, 10.1.2.3", trusted) == "203.0.113.7"
    assert client_address("127.0.0.1", "198.51.100.1, 203.0.113.7", trusted) == "203.0.113.7"
    assert client_address("192.0.2.9", "203.0.113.7", trusted) == "192.0.2.9"  # not a proxy
    assert client_address("127.0.0.1", "10.0.0.1, 10.0.0.2", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "garbage", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "203.0.113.7", ()) == "127.0.0.1"


async def test_bad_identity_input_gets_a_clear_error(server: Server) -> None:
    async with Api.open(server.base_url) as anon:
        cases = [
            ("/api/v1/auth/login", {"email": "a@example.com"}, 422, "invalid_field", "password"),
            (
                "/api/v1/auth/login",
                {"email": "a@example.com", "password": "x", "otp": 1},
                422,
                "invalid_field",
                "otp",
            ),
            (
                "/api/v1/auth/refresh",
                {"refresh_token": "short"},
                422,
                "invalid_field",
                "refresh_token",
            ),
            (
                "/api/v1/auth/refresh",
                {"refresh_token": "sbr_nosuch_" + "x" * 40},
                401,
                "unauthorized",
                None,
            ),
        ]
        for path, body, status, code, field in cases:
            answer = await anon.post(path, body)
            assert answer.status_code == status, (path, body, answer.text)
            assert answer.json()["error"]["code"] == code
            assert answer.json()["error"].get("field") == field
        broken = await anon.request("POST", "/api/v1/auth/login", content=b"{not json")
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    async with Api.open(server.base_url, admin_token()) as api:
        for path, body, field in [
            ("/api/v1/orgs/demo/invitations", {"role": "chief"}, "role"),
            ("/api/v1/orgs/demo/invitations", {"role": "viewer", "hours": 0}, "hours"),
            (
                "/api/v1/orgs/demo/invitations",
                {"role": "viewer", "email": "not-an-address"},
                "email",
            ),
            ("/api/v1/orgs/demo/tokens", {"name": "", "role": "viewer"}, "name"),
            (
                "/api/v1/orgs/demo/tokens",
                {"name": "t", "role": "viewer", "expires_at": "soon"},
                "expires_at",
            ),
        ]:
            answer = await api.post(path, body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["field"] == field
        # Nothing was made by the refused requests.
        assert (await api.ok("GET", "/api/v1/orgs/demo/invitations"))["data"] == []
        assert (await api.ok("GET", "/api/v1/orgs/demo/tokens"))["data"] == []
