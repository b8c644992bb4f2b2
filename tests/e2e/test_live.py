"""End to end over real sockets: changes made by REST or WebSocket arrive live."""

from __future__ import annotations

from typing import Any

from support import Api, token


async def test_a_rest_change_arrives_live_on_the_status_topic(api: Api, ws: Any) -> None:
    async with ws() as client:
        welcome = await client.hello()
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1
        subscribed = await client.subscribe("status:demo")
        snapshot = subscribed["snapshot"]
        assert subscribed["resumed"] is False
        assert {s["name"] for s in snapshot["services"]} >= {"API", "Website"}
        assert snapshot["status"]["indicator"] == "none"

        await api.ok("PATCH", "/api/v1/orgs/demo/services/api", {"status": "major_outage"})

        event = await client.event("service.updated")
        assert event["topic"] == "status:demo"
        assert event["seq"] == subscribed["seq"] + 1
        assert event["data"]["service"]["status"] == "major_outage"
        assert event["data"]["previous_status"] == "operational"
        assert "manual_status" not in event["data"]["service"]  # public view
        status = await client.event("status.changed")
        assert status["seq"] == event["seq"] + 1
        assert status["data"]["status"] == {
            "indicator": "critical",
            "description": "Major System Outage",
        }


async def test_commands_over_the_org_topic_are_acked_and_published(ws: Any) -> None:
    async with ws() as member, ws() as public:
        await member.hello(token("demo", "responder"))
        org = await member.subscribe("org:demo")
        await public.subscribe("status:demo")
        ack = await member.command(
            "demo",
            "incident.create",
            {"name": "Slow API", "services": {"API": "degraded_performance"}, "body": "Looking"},
        )
        assert ack["type"] == "ack", ack
        incident = ack["result"]
        assert incident["impact"] == "minor" and incident["status"] == "investigating"
        assert incident["updates"][0]["author"] == "responder-tester"

        created = await member.event("incident.created", topic="org:demo")
        assert created["seq"] > org["seq"]
        assert created["data"]["incident"]["updates"][0]["author"] == "responder-tester"
        public_view = await public.event("incident.created")
        assert "author" not in public_view["data"]["incident"]["updates"][0]
        assert (await public.event("service.updated"))["data"]["service"][
            "status"
        ] == "degraded_performance"
