"""``switchboard-cli``: every command's happy path and its error exit."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import orjson
import trio
from support import eventually
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


async def eventually_ok_json(server: RunningServer, *args: str, check: Any) -> Any:
    """``ok_json`` until ``check`` holds of its answer (results reach the
    database within a second or so)."""

    async def answer() -> Any:
        found = await ok_json(server, *args)
        return found if check(found) else None

    return await eventually(answer, f"switchboard-cli {' '.join(args)}")


async def test_monitors(switchboard_server: RunningServer) -> None:
    """The server's own pages are the targets: /health answers, /nosuch does not."""
    url = switchboard_server.url
    made = await ok_json(
        switchboard_server,
        *("monitor", "create", "demo", "Health", "--service", "API"),
        *("--target", f"{url}/health", "--interval", "3600"),
    )
    assert made["kind"] == "http" and made["spec"]["url"] == f"{url}/health"
    code, _, err = await cli(
        switchboard_server, "monitor", "create", "demo", "Nightly", "--service", "API"
    )
    assert code == 1 and "spec.url" in err  # an http monitor needs its URL
    code, out, _ = await cli(
        switchboard_server,
        *("monitor", "create", "demo", "Backup", "--service", "API", "--kind", "heartbeat"),
    )
    beat_url = out.split("heartbeat URL (shown once): ", 1)[1].strip()
    assert code == 0 and beat_url.startswith(f"{url}/api/v1/heartbeat/")
    async with httpx.AsyncClient() as http:
        assert (await http.get(beat_url)).json() == {"ok": True}

    checked = await ok_json(switchboard_server, "monitor", "check", "demo", "Health")
    assert checked["outcome"] == "up" and checked["status_code"] == 200
    code, out, _ = await cli(switchboard_server, "monitor", "check", "demo", "health")
    assert code == 0 and out.startswith("up from local in ")
    listed = await ok_json(switchboard_server, "monitor", "list", "demo")
    assert {m["name"] for m in listed["data"]} >= {"Health", "Backup"}
    paused = await ok_json(switchboard_server, "monitor", "pause", "demo", made["id"])
    assert paused["paused"] is True
    code, out, _ = await cli(switchboard_server, "monitor", "list", "demo")
    line = next(ln for ln in out.splitlines() if " Health " in ln)
    assert code == 0 and " paused " in line and f"{url}/health" in line
    resumed = await ok_json(switchboard_server, "monitor", "resume", "demo", "Health")
    assert resumed["paused"] is False

    results = await eventually_ok_json(
        switchboard_server,
        *("monitor", "results", "demo", "Health", "--limit", "5"),
        check=lambda r: len(r["data"]) >= 2,
    )
    assert {r["outcome"] for r in results["data"]} == {"up"}
    code, out, _ = await cli(switchboard_server, "monitor", "results", "demo", "Health")
    assert code == 0 and "local" in out and " up " in out
    uptime = await ok_json(switchboard_server, "monitor", "uptime", "demo", "Health")
    assert set(uptime["windows"]) == {"24h", "7d", "30d", "90d"}
    code, out, _ = await cli(switchboard_server, "monitor", "uptime", "demo", "Health")
    assert code == 0 and out.splitlines()[0].startswith("verdict: ")

    code, _, err = await cli(switchboard_server, "monitor", "check", "demo", "nosuch")
    assert code == 1 and "not_found" in err
    code, _, err = await cli(
        switchboard_server,
        *("monitor", "create", "demo", "Bad", "--service", "API", "--spec", "{oops"),
    )
    assert code == 2 and "--spec" in err
    code, _, err = await cli(
        switchboard_server,
        *("monitor", "create", "demo", "Port", "--service", "API", "--kind", "tcp"),
    )
    assert code == 1 and "spec.host" in err
    code, _, err = await cli(
        switchboard_server, "monitor", "pause", "demo", "Health", token="viewer"
    )
    assert code == 3 and "forbidden" in err


async def test_channels(switchboard_server: RunningServer) -> None:
    """A webhook to the server's own heartbeat door takes the test message; one
    to a port where nothing listens does not."""
    url = switchboard_server.url
    backup = await ok_json(
        switchboard_server,
        *("monitor", "create", "demo", "Receiver", "--service", "API", "--kind", "heartbeat"),
    )
    receiver = f"{url}/api/v1/heartbeat/{backup['heartbeat_token']}"
    headers = {"Authorization": f"Bearer {switchboard_server.token('demo', 'admin')}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        for name, target in (("Ops hook", receiver), ("Dead hook", "http://127.0.0.1:9/")):
            made = await http.post(
                "/api/v1/orgs/demo/channels",
                json={"kind": "webhook", "name": name, "config": {"url": target}},
            )
            assert made.status_code == 201, made.text
    listed = await ok_json(switchboard_server, "channel", "list", "demo")
    assert [c["name"] for c in listed["data"]] == ["Ops hook", "Dead hook"]
    code, out, _ = await cli(switchboard_server, "channel", "list", "demo")
    assert code == 0 and "Ops hook" in out and "webhook" in out
    code, out, err = await cli(switchboard_server, "channel", "test", "demo", "ops hook")
    assert code == 0 and out.startswith("sent to Ops hook"), err
    code, _, err = await cli(switchboard_server, "channel", "test", "demo", "Dead hook")
    assert code == 1 and "failed" in err
    code, _, err = await cli(switchboard_server, "channel", "test", "demo", "nosuch")
    assert code == 1 and "not_found" in err
    code, _, err = await cli(switchboard_server, "channel", "list", "demo", token="responder")
    assert code == 3 and "forbidden" in err


async def test_help_version_json_after_the_subcommand_lists_and_bad_urls(
    switchboard_server: RunningServer,
) -> None:
    code, out, _ = await cli(switchboard_server, "--help")
    assert code == 0 and "SWITCHBOARD_TOKEN" in out and "exit codes" in out and "  4  " in out
    code, out, _ = await cli(switchboard_server, "incident", "create", "--help")
    assert code == 0 and "SWITCHBOARD_URL" in out and "--json" in out
    code, out, _ = await cli(switchboard_server, "--version")
    assert code == 0 and out.startswith("switchboard-cli 0.")
    # --json after the subcommand, as before it.
    code, out, err = await cli(
        switchboard_server, "service", "set", "demo", "API", "major_outage", "--json"
    )
    assert code == 0 and orjson.loads(out)["status"] == "major_outage", err
    code, out, _ = await cli(switchboard_server, "service", "list", "demo")
    api = next(line for line in out.splitlines() if line.endswith("API"))
    assert "major_outage" in api and len(api.split()[0]) >= 8  # its id first
    created = await ok_json(switchboard_server, "incident", "create", "demo", "Listed")
    code, out, _ = await cli(switchboard_server, "incident", "list", "demo")
    assert code == 0 and any(
        line.startswith(created["id"]) and "Listed" in line for line in out.splitlines()
    )
    listed = await ok_json(switchboard_server, "incident", "list", "demo")
    assert [i["id"] for i in listed] == [created["id"]]
    scheduled = await ok_json(
        switchboard_server,
        "maintenance",
        "schedule",
        "demo",
        "Later",
        "--start",
        "2031-01-01T10:00:00Z",
        "--end",
        "2031-01-01T11:00:00Z",
    )
    code, out, _ = await cli(switchboard_server, "maintenance", "list", "demo")
    assert code == 0 and out.startswith(scheduled["id"]) and "Later" in out
    for bad, why in (
        ("ftp://127.0.0.1:1", "give an http://"),
        ("http://", "names no host"),
        ("http://127.0.0.1:99999", "Port out of range"),
    ):
        code, _, err = await cli(switchboard_server, "--url", bad, "status", "demo")
        assert code == 2 and why in err, (bad, err)


async def read_until(stream: Any, buffer: bytearray, needle: bytes) -> None:
    """Read a child's pipe into ``buffer`` until it holds ``needle`` (hang-guarded)."""
    with trio.fail_after(60):
        while needle not in buffer:
            chunk = await stream.receive_some()
            assert chunk, f"the stream ended before {needle!r}: {bytes(buffer)!r}"
            buffer += chunk


async def test_tail_goes_on_after_a_restart_and_gives_up_only_when_told(
    database_url: str, tmp_path: Any
) -> None:
    from support import Api, ServerProcess, admin_token

    first = await ServerProcess.start(database_url, str(tmp_path / "a"), "--demo")
    port = first.base_url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_URL"] = first.base_url
    tail = await trio.lowlevel.open_process(
        [sys.executable, "-m", "switchboard_client.cli", "tail", "status:demo", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    give_up = await trio.lowlevel.open_process(
        [sys.executable, "-m", "switchboard_client.cli", "tail", "status:demo", "--retries", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    second = None
    try:
        out, err = bytearray(), bytearray()

        async def change(base_url: str, status: str) -> None:
            async with Api.open(base_url, admin_token("demo")) as api:
                await api.ok("PATCH", "/api/v1/orgs/demo/services/api", {"status": status})

        # Until the tail has subscribed, a change may come before it: change until one shows.
        with trio.fail_after(60):
            while b"service.updated" not in out:
                await change(first.base_url, "major_outage")
                with trio.move_on_after(1):
                    await read_until(tail.stdout, out, b"service.updated")
                await change(first.base_url, "operational")
        await first.stop()
        await read_until(tail.stderr, err, b"reconnecting in")  # it says so, and goes on
        with trio.fail_after(60):
            assert await give_up.wait() == 4  # told to give up: exit 4, with the reason
        assert give_up.stderr is not None
        reason = await give_up.stderr.receive_some()
        assert b"gave up after 2 failed attempts" in reason and b"cannot connect" in reason

        second = await ServerProcess.start(
            database_url, str(tmp_path / "b"), "--demo", "--port", port
        )
        await read_until(tail.stderr, err, b"reconnected")
        await change(second.base_url, "partial_outage")
        await read_until(tail.stdout, out, b"partial_outage")
        assert tail.returncode is None  # still there
        seqs = [orjson.loads(line)["seq"] for line in out.splitlines() if line.strip()]
        assert seqs == sorted(set(seqs))  # none twice across the restart
    finally:
        for process in (tail, give_up):
            if process.returncode is None:
                process.kill()
                await process.wait()
        for server in (first, second):
            if server is not None and server.process.returncode is None:
                server.kill()
                await server.wait()
