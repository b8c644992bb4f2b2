"""``switchboard-cli``: every command's happy path and its error exit."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import orjson
import trio
from switchboard_client.testing import RunningServer


async def cli(
    server: RunningServer, *args: str, token: str | None = "admin"
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_URL"] = server.url
    if token:
        env["SWITCHBOARD_TOKEN"] = server.token("demo", token)
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "switchboard_client.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    )
    return done.returncode, done.stdout, done.stderr


async def ok_json(server: RunningServer, *args: str) -> Any:
    code, out, err = await cli(server, "--json", *args)
    assert code == 0, err
    return orjson.loads(out.splitlines()[-1])


async def test_status_and_services(switchboard_server: RunningServer) -> None:
    code, out, _ = await cli(switchboard_server, "status", "demo", token=None)
    assert code == 0 and "All Systems Operational" in out and "API" in out
    changed = await ok_json(switchboard_server, "service", "set", "demo", "API", "major_outage")
    assert changed["status"] == "major_outage"
    summary = await ok_json(switchboard_server, "status", "demo")
    assert summary["status"]["indicator"] == "critical"
    code, _, err = await cli(switchboard_server, "service", "set", "demo", "nosuch", "operational")
    assert code == 1 and "not_found" in err
    code, _, err = await cli(switchboard_server, "service", "set", "demo", "API", "broken")
    assert code == 1 and "field status" in err
    code, _, err = await cli(
        switchboard_server, "service", "set", "demo", "API", "operational", token="viewer"
    )
    assert code == 3 and "forbidden" in err
    code, _, err = await cli(switchboard_server, "status", "nosuchorg")
    assert code == 1 and "not_found" in err
    code, _, err = await cli(switchboard_server, "frobnicate")
    assert code == 2


async def test_incidents_maintenances_and_tail(switchboard_server: RunningServer) -> None:
    created = await ok_json(
        switchboard_server,
        "incident",
        "create",
        "demo",
        "DB down",
        "--service",
        "Database=major_outage",
        "--body",
        "Looking",
    )
    incident = created["id"]
    updated = await ok_json(
        switchboard_server,
        "incident",
        "update",
        "demo",
        incident,
        "--status",
        "identified",
        "--body",
        "Found it",
    )
    assert updated["id"] == incident
    await ok_json(switchboard_server, "incident", "resolve", "demo", incident)
    code, _, err = await cli(
        switchboard_server, "incident", "update", "demo", incident, "--status", "investigating"
    )
    assert code == 1 and "invalid_transition" in err  # a resolved incident stays resolved
    code, _, err = await cli(switchboard_server, "incident", "resolve", "demo", "nosuch")
    assert code == 1 and "not_found" in err
    code, _, err = await cli(
        switchboard_server, "incident", "create", "demo", "x", "--service", "oops"
    )
    assert code == 2 and "NAME=STATUS" in err
    scheduled = await ok_json(
        switchboard_server,
        "maintenance",
        "schedule",
        "demo",
        "Upgrade",
        "--start",
        "2031-01-01T10:00:00Z",
        "--end",
        "2031-01-01T11:00:00Z",
        "--service",
        "API",
    )
    await ok_json(switchboard_server, "maintenance", "cancel", "demo", scheduled["id"])
    code, _, err = await cli(
        switchboard_server,
        "maintenance",
        "schedule",
        "demo",
        "Bad",
        "--start",
        "2031-01-01T10:00:00Z",
        "--end",
        "2030-01-01T10:00:00Z",
    )
    assert code == 1 and "invalid_field" in err
    code, out, _ = await cli(
        switchboard_server,
        "--json",
        "tail",
        "status:demo",
        "--since",
        "0",
        "--count",
        "3",
        token=None,
    )
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["seq"] for e in lines] == [1, 2, 3]
    code, _, err = await cli(switchboard_server, "tail", "org:demo", token=None)
    assert code == 3 and "unauthorized" in err


async def test_rooms_and_unreachable_servers(switchboard_server: RunningServer) -> None:
    created = await ok_json(switchboard_server, "incident", "create", "demo", "Notes")
    room = created["notes_room"]
    edited = await ok_json(switchboard_server, "room", "edit", room, "--append", "Primary down. ")
    assert edited["text"] == "Primary down. " and edited["rev"] == 1
    await ok_json(switchboard_server, "room", "edit", room, "--append", "Failing over 😀")
    code, out, _ = await cli(switchboard_server, "room", "cat", room)
    assert code == 0 and out == "Primary down. Failing over 😀\n"
    code, out, _ = await cli(switchboard_server, "room", "cat", room, "--rev", "1")
    assert out == "Primary down. \n"
    await ok_json(switchboard_server, "room", "edit", room, "--set", "Done.")
    code, out, _ = await cli(switchboard_server, "room", "cat", room)
    assert out == "Done.\n"
    code, _, err = await cli(
        switchboard_server, "room", "edit", room, "--append", "x", token="viewer"
    )
    assert code == 3 and "forbidden" in err
    code, _, err = await cli(switchboard_server, "room", "cat", "nosuchroom")
    assert code == 1 and "not_found" in err
    env_url = "http://127.0.0.1:9"  # nothing listens there
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "switchboard_client.cli", "--url", env_url, "status", "demo"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert done.returncode == 4 and "cannot reach" in done.stderr
