"""No poison input: text that PostgreSQL, XML or a terminal cannot hold is
refused at every door, and what was stored before it was refused never makes
a page, a feed or a document fail."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from support import Api, open_ws, token

from server.config import Config
from server.domain import commands as c
from server.main import Server

ORG = "/api/v1/orgs/demo"
POISON = ("nul\u0000svc", "bell\u0007", "esc\u001b[2J", "back\u0008space", "\ufffe")


async def test_rest_refuses_control_characters_in_bodies_paths_and_queries(
    server: Server, api: Api
) -> None:
    for name in POISON:
        answer = await api.post(f"{ORG}/services", {"name": name})
        assert answer.status_code == 422, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid_field" and error["field"] == "name", error
    # A name is one line; a body may have several (and tabs), never a NUL.
    assert (await api.post(f"{ORG}/services", {"name": "two\nlines"})).status_code == 422
    made = await api.ok(
        "POST", f"{ORG}/incidents", {"name": "Fine", "body": "a\n\tb\r\n"}, status=201
    )
    assert made["updates"][0]["body"] == "a\n\tb"
    refused = await api.post(f"{ORG}/incidents", {"name": "Bad", "body": "x\u0000y"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "body"
    # Lone surrogates cannot even be JSON: the body is refused as such.
    raw = await api.post(f"{ORG}/services", b'{"name": "\\ud800"}')
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "invalid_json"
    for path in (f"{ORG}%00", f"{ORG}/incidents?status=%00", "/status/demo/badge.svg?label=%07"):
        answer = await api.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"]["code"] == "invalid_field"
    names = {s["name"] for s in (await api.ok("GET", f"{ORG}/services"))["data"]}
    assert not any("\u0000" in n or "\u0007" in n for n in names)


async def test_the_socket_refuses_them_with_the_requests_id(server: Server) -> None:
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        made = await ws.command("demo", "incident.create", {"name": "x\u0000"})
        assert made["type"] == "error" and made["code"] == "invalid_field", made
        assert made["field"] == "name" and made["id"] is not None
        topic = await ws.request({"type": "subscribe", "topic": "org:demo\u0000"})
        assert topic["code"] == "invalid_field" and topic["field"] == "topic"
        await ws.send({"type": "ping", "id": "a\u0000b"})
        bad_id = await ws.reply()
        assert bad_id["code"] == "invalid_field" and bad_id["field"] == "id"
        incident = await ws.command("demo", "incident.create", {"name": "Notes"})
        room = incident["result"]["notes_room"]
        await ws.subscribe_room(room, "poison-client")
        edit = await ws.request(
            {"type": "doc.op", "room": room, "rev": 0, "op": ["a\u0000b"], "client_op_id": 1}
        )
        assert edit["type"] == "error" and edit["code"] == "invalid_op", edit
        assert "U+0000" in edit["message"]


@pytest.fixture
async def poisoned(config: Config, nursery: trio.Nursery) -> AsyncIterator[Server]:
    """A server whose log holds what older versions let in: a NUL in a service's
    name (whose status then moves), in an incident's name and body, in a room."""
    running: Server = await nursery.start(Server(config).run)
    registry = running.registry
    assert registry is not None
    await registry.execute("demo", c.CreateService(name="nul\u0000svc"), "old")
    await registry.execute(
        "demo", c.UpdateService(service="nul\u0000svc", status=c.ServiceStatus.MAJOR_OUTAGE), "old"
    )
    await registry.execute(
        "demo", c.CreateIncident(name="bad\u0000name", body="body\u0000\u0007text"), "old"
    )
    yield running
    await running.stop()


async def test_what_was_stored_before_never_breaks_a_reader(
    poisoned: Server, config: Config, nursery: trio.Nursery
) -> None:
    async def read_everything(server: Server) -> None:
        async with Api.open(server.base_url) as anon:
            for path in (
                "/status/demo",
                "/status/demo/history",
                "/status/demo/api/v2/summary.json",
                "/status/demo/api/v2/incidents.json",
                "/status/demo/badge.svg",
                "/",
            ):
                answer = await anon.get(path)
                assert answer.status_code == 200, (path, answer.text[:300])
            for feed in ("/status/demo/history.rss", "/status/demo/history.atom"):
                answer = await anon.get(feed)
                assert answer.status_code == 200, feed
                document = ET.fromstring(answer.content)  # well-formed XML
                assert "bad" in ET.tostring(document, encoding="unicode")
            incidents = (await anon.get("/status/demo/api/v2/incidents.json")).json()
            (incident,) = incidents["incidents"]
            page = await anon.get(f"/status/demo/incidents/{incident['id']}")
            assert page.status_code == 200 and "\u0000" not in page.text

    await read_everything(poisoned)
    await poisoned.stop()  # and after a restart, from the log alone
    again: Server = await nursery.start(Server(dataclasses.replace(config)).run)
    try:
        await read_everything(again)
    finally:
        await again.stop()


async def test_the_command_lines_refuse_them(config: Config, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SWITCHBOARD_PASSWORD": "a long enough password",
        "DATABASE_URL": config.database_url or "",
    }
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [
                sys.executable,
                "-m",
                "server",
                "user",
                "create",
                "--email",
                "bell@example.com",
                "--name",
                "ring\u0007ring",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    )
    assert done.returncode == 1, done.stderr
    assert "U+0007" in done.stderr
