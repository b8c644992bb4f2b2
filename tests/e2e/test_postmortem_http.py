"""Postmortems over REST, the socket and the Statuspage-compatible API."""

from __future__ import annotations

from typing import Any

import pytest
from support import Api, admin_token, open_ws

from server.main import Server

ORG = "/api/v1/orgs/demo"
EMPTY = "a postmortem needs its text: say what happened and why"


async def resolved(api: Api, name: str = "Slow checkout") -> str:
    created = await api.ok("POST", f"{ORG}/incidents", {"name": name}, status=201)
    await api.ok("POST", f"{ORG}/incidents/{created['id']}/resolve")
    return str(created["id"])


@pytest.mark.parametrize("body", ["", "   ", "\n\n"])
async def test_an_empty_postmortem_is_refused(api: Api, body: str) -> None:
    incident = await resolved(api)
    for method, path, sent in (
        ("PATCH", f"{ORG}/incidents/{incident}", {"status": "postmortem", "body": body}),
        ("PATCH", f"{ORG}/incidents/{incident}", {"status": "postmortem"}),
        ("PUT", f"{ORG}/incidents/{incident}/postmortem", {"body": body}),
    ):
        refused = await api.request(method, path, sent)
        assert refused.status_code == 422, (method, refused.text)
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_field", "body")
        assert error["message"] == EMPTY
    stored = await api.ok("GET", f"{ORG}/incidents/{incident}")
    assert stored["status"] == "resolved" and stored["postmortem"] is None
    assert [u["status"] for u in stored["updates"]] == ["investigating", "resolved"]


async def test_a_revision_replaces_the_one_postmortem(api: Api) -> None:
    incident = await resolved(api)
    first = await api.ok(
        "PATCH",
        f"{ORG}/incidents/{incident}",
        {"status": "postmortem", "body": "First draft: an index was dropped."},
    )
    assert first["postmortem"]["body"] == "First draft: an index was dropped."
    revised = await api.ok(
        "PUT", f"{ORG}/incidents/{incident}/postmortem", {"body": "Final: a deploy dropped it."}
    )
    assert revised["postmortem"]["body"] == "Final: a deploy dropped it."
    assert revised["postmortem"]["published_at"] == first["postmortem"]["published_at"]
    assert [(u["status"], u["body"]) for u in revised["updates"][2:]] == [
        ("postmortem", "A postmortem has been published."),
        ("postmortem", "The postmortem has been revised."),
    ]
    # Once there, a body alone revises it too; emptying it is refused.
    again = await api.ok("PATCH", f"{ORG}/incidents/{incident}", {"body": "Final, really."})
    assert again["postmortem"]["body"] == "Final, really." and len(again["updates"]) == 5
    emptied = await api.patch(f"{ORG}/incidents/{incident}", {"body": " "})
    assert emptied.status_code == 422 and emptied.json()["error"]["field"] == "body"


async def test_only_a_resolved_incident_takes_a_postmortem(api: Api) -> None:
    active = await api.ok("POST", f"{ORG}/incidents", {"name": "Still burning"}, status=201)
    refused = await api.request(
        "PUT", f"{ORG}/incidents/{active['id']}/postmortem", {"body": "Too soon."}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_transition"
    missing = await api.request("PUT", f"{ORG}/incidents/nothing/postmortem", {"body": "Words."})
    assert missing.status_code == 404


async def test_the_statuspage_api_gives_the_postmortem_s_source(api: Api) -> None:
    incident = await resolved(api)
    other = await resolved(api, "Short blip")
    source = "# Why\n\nA **full** disk.\n\n<b>not markup</b>"
    written = await api.ok("PUT", f"{ORG}/incidents/{incident}/postmortem", {"body": source})
    doc = (await api.get("/status/demo/api/v2/incidents.json")).json()
    shown = {i["id"]: i for i in doc["incidents"]}
    assert shown[incident]["status"] == "postmortem"
    assert shown[incident]["postmortem_body"] == source
    assert shown[incident]["postmortem_published_at"] == written["postmortem"]["published_at"]
    assert shown[incident]["postmortem_body_last_updated_at"] == written["postmortem"]["updated_at"]
    for key in ("postmortem_body", "postmortem_body_last_updated_at", "postmortem_published_at"):
        assert shown[other][key] is None


async def test_a_postmortem_over_the_socket(server: Server, api: Api) -> None:
    incident = await resolved(api)
    async with open_ws(server.base_url) as ws:
        assert (await ws.hello(admin_token("demo")))["type"] == "welcome"
        empty = await ws.command("demo", "incident.postmortem", {"incident": incident, "body": ""})
        assert (empty["type"], empty["code"], empty.get("field")) == (
            "error",
            "invalid_field",
            "body",
        )
        done = await ws.command(
            "demo", "incident.postmortem", {"incident": incident, "body": "It was DNS."}
        )
        assert done["type"] == "ack", done
        result: dict[str, Any] = done["result"]
        assert result["postmortem"]["body"] == "It was DNS."
