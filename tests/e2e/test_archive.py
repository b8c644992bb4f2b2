"""Incidents resolved longer ago than the organization keeps in memory leave
its actor and are served from the store: by id, in lists and pages, on the
public page and in its history, across a restart."""

from __future__ import annotations

import dataclasses

import pytest
import trio
from support import Api, eventually

from server.config import Config, Limits
from server.main import Server

ORG = "/api/v1/orgs/demo"
SECOND = 1 / 86_400  # of a day


@pytest.mark.parametrize("limits", [Limits(incident_memory_days=SECOND)])
async def test_old_resolved_incidents_are_served_from_the_store(
    server: Server, api: Api, config: Config, nursery: trio.Nursery
) -> None:
    old = await api.ok("POST", f"{ORG}/incidents", {"name": "Long ago"}, status=201)
    await api.ok("POST", f"{ORG}/incidents/{old['id']}/resolve", {"body": "Fixed."})
    live = await api.ok("POST", f"{ORG}/incidents", {"name": "Still going"}, status=201)
    handle = await server.registry.org("demo")  # type: ignore[union-attr]
    # The actor's timer archives it a second after.
    await eventually(lambda: old["id"] not in handle.state.incidents, "the incident archived")
    assert live["id"] in handle.state.incidents and handle.state.archived_incidents == 1

    async def served_alike(base: str, bearer_api: Api) -> None:
        shown = await bearer_api.ok("GET", f"{ORG}/incidents/{old['id']}")
        assert shown["name"] == "Long ago" and shown["status"] == "resolved"
        listed = await bearer_api.ok("GET", f"{ORG}/incidents?status=all")
        assert [i["name"] for i in listed["data"]] == ["Still going", "Long ago"]
        assert listed["page"]["total"] == 2
        resolved = await bearer_api.ok("GET", f"{ORG}/incidents?status=resolved&limit=1")
        assert [i["id"] for i in resolved["data"]] == [old["id"]]
        assert resolved["page"]["total"] == 1
        async with Api.open(base) as anon:
            page = await anon.get(f"/status/demo/incidents/{old['id']}")
            assert page.status_code == 200 and "Long ago" in page.text and "Fixed." in page.text
            history = await anon.get("/status/demo/history")
            assert "Long ago" in history.text

    await served_alike(server.base_url, api)
    # A change to it now: it is not in memory to change.
    refused = await api.patch(f"{ORG}/incidents/{old['id']}", {"body": "Postmortem"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_transition"
    assert "archived" in refused.json()["error"]["message"]

    await server.stop()  # and from the log alone, after a restart
    again: Server = await nursery.start(Server(dataclasses.replace(config)).run)
    try:
        async with Api.open(again.base_url, api.client.headers["Authorization"][7:]) as api2:
            await served_alike(again.base_url, api2)
        reloaded = await again.registry.org("demo")  # type: ignore[union-attr]
        assert old["id"] not in reloaded.state.incidents
    finally:
        await again.stop()
