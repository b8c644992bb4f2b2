"""Changes kept outside an organization's event log (its members,
invitations, API tokens, channels, subscribers, rooms) are told on its
``org:`` topic as ``change.noted``, once each and in order, so that the
console's Team, tokens, notifications and audit pages follow them live."""

from __future__ import annotations

from typing import Any

from support import PASSWORD, Api, admin_token, make_user, token

from server.main import Server

ORG = "/api/v1/orgs/demo"


async def test_members_tokens_and_channels_are_told_to_the_members(
    api: Api, ws: Any, server: Server
) -> None:
    async with ws() as member, ws() as public:
        await member.hello(token("demo", "viewer"))
        subscribed = await member.subscribe("org:demo")
        await public.subscribe("status:demo")

        invitation = await api.ok("POST", f"{ORG}/invitations", {"role": "viewer"}, status=201)
        async with Api.open(server.base_url) as anon:
            await anon.ok(
                "POST",
                f"/api/v1/invitations/{invitation['token']}/accept",
                {"email": "nia@example.com", "name": "Nia", "password": "correct horse battery"},
                status=201,
            )
        nia = next(m for m in (await api.ok("GET", f"{ORG}/members"))["data"] if m["name"] == "Nia")
        await api.ok("PATCH", f"{ORG}/members/{nia['id']}", {"role": "responder"})
        made = await api.ok("POST", f"{ORG}/tokens", {"name": "bot", "role": "viewer"}, status=201)
        assert (await api.request("DELETE", f"{ORG}/tokens/{made['id']}")).status_code == 204
        room = await api.ok("POST", "/api/v1/rooms", {"title": "Plans", "org": "demo"}, status=201)
        channel = await api.ok(
            "POST",
            f"{ORG}/channels",
            {"kind": "slack", "name": "Chat", "config": {"url": "https://hooks.example/x"}},
            status=201,
        )

        told = [await member.event("change.noted") for _ in range(8)]
        assert [(e["data"]["action"], e["data"]["target"]) for e in told] == [
            ("invitation.create", invitation["id"]),
            ("member.add", nia["id"]),  # a new account, made a member
            ("invitation.accept", invitation["id"]),
            ("member.role", nia["id"]),
            ("token.create", made["id"]),
            ("token.revoke", made["id"]),
            ("room.create", room["room_id"]),
            ("channel.create", channel["id"]),
        ]
        seqs = [e["seq"] for e in told]
        assert seqs == sorted(seqs) and seqs[0] > subscribed["seq"]
        assert {e["topic"] for e in told} == {"org:demo"}

        # Resuming from before them gives them again: they are in the log.
        async with ws() as again:
            await again.hello(token("demo", "viewer"))
            resumed = await again.subscribe("org:demo", since=subscribed["seq"])
            assert resumed["resumed"] is True
            replayed = [await again.event("change.noted") for _ in range(8)]
            assert [e["seq"] for e in replayed] == seqs

        # Members only: the public hears nothing of it.
        await api.ok("PATCH", f"{ORG}/services/API", {"description": "marker"})
        first = await public.event()
        assert first["name"] == "service.updated", first


async def test_logins_and_other_organizations_are_not_told(
    api: Api, ws: Any, server: Server
) -> None:
    async with ws() as member:
        await member.hello(token("demo", "viewer"))
        await member.subscribe("org:demo")
        await make_user(server, "lee@example.com", "viewer")
        assert (await member.event("change.noted"))["data"]["action"] == "member.add"
        async with Api.open(server.base_url) as anon:
            await anon.ok(
                "POST",
                "/api/v1/auth/login",
                {"email": "lee@example.com", "password": PASSWORD},
            )
        root = token("*", "admin")
        async with Api.open(server.base_url, root) as operator:
            await operator.ok(
                "POST", "/api/v1/orgs", {"slug": "other", "name": "Other"}, status=201
            )
        async with Api.open(server.base_url, admin_token("other")) as other:
            await other.ok("POST", "/api/v1/orgs/other/invitations", {"role": "viewer"}, status=201)
        await api.ok("POST", f"{ORG}/invitations", {"role": "viewer"}, status=201)
        told = await member.event("change.noted")
        assert told["data"]["action"] == "invitation.create"  # the login came first, untold
        assert member.events == []
