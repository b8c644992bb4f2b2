"""What was acknowledged survives a crash and a restart of the server process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio_websocket
from support import Api, ServerProcess, admin_token, eventually, open_ws

from server.store import Store

pytestmark = pytest.mark.slow
ORG = "/api/v1/orgs/demo"


async def _work(api: Api) -> dict[str, Any]:
    """Some acknowledged changes; returns what the organization looked like after."""
    incident = await api.ok(
        "POST",
        f"{ORG}/incidents",
        {
            "name": "Database failover",
            "services": {"Database": "major_outage", "API": "partial_outage"},
            "body": "Primary is down.",
        },
        status=201,
    )
    await api.ok(
        "PATCH", f"{ORG}/incidents/{incident['id']}", {"status": "identified", "body": "Disk."}
    )
    await api.ok("POST", f"{ORG}/services", {"name": "Search", "group": "Backend"}, status=201)
    await api.ok("PATCH", f"{ORG}/services/website", {"status": "degraded_performance"})
    return {
        "org": await api.ok("GET", ORG),
        "services": await api.ok("GET", f"{ORG}/services"),
        "incidents": await api.ok("GET", f"{ORG}/incidents"),
        "summary": (await api.get("/status/demo/api/v2/summary.json")).json(),
    }


async def _read_until_closed(conn: trio_websocket.WebSocketConnection) -> None:
    while True:
        await conn.get_message()


async def _read(api: Api) -> dict[str, Any]:
    return {
        "org": await api.ok("GET", ORG),
        "services": await api.ok("GET", f"{ORG}/services"),
        "incidents": await api.ok("GET", f"{ORG}/incidents"),
        "summary": (await api.get("/status/demo/api/v2/summary.json")).json(),
    }


def _without_urls(state: dict[str, Any]) -> dict[str, Any]:
    """The page URL names the port, which changes with each process."""
    summary = dict(state["summary"])
    summary["page"] = {k: v for k, v in summary["page"].items() if k != "url"}
    summary["incidents"] = [{**i, "shortlink": None} for i in summary["incidents"]]
    return {**state, "summary": summary}


async def test_acknowledged_writes_survive_a_crash(database_url: str, tmp_path: Path) -> None:
    first = await ServerProcess.start(database_url, str(tmp_path), "--demo")
    async with Api.open(first.base_url, admin_token()) as api:
        before = await _work(api)
    async with open_ws(first.base_url) as client:
        seq = (await client.subscribe("status:demo"))["seq"]
    first.kill()  # no shutdown, no final snapshot
    await first.wait()

    second = await ServerProcess.start(database_url, str(tmp_path), "--demo")
    try:
        async with Api.open(second.base_url, admin_token()) as api:
            assert _without_urls(await _read(api)) == _without_urls(before)
            # The live sequence carries on where it was: nothing replayed twice.
            async with open_ws(second.base_url) as client:
                assert (await client.subscribe("status:demo", since=seq))["resumed"] is True
                await api.ok("PATCH", f"{ORG}/services/website", {"status": "operational"})
                assert (await client.event("service.updated"))["seq"] == seq + 1
    finally:
        await second.stop()


async def test_a_clean_stop_closes_sockets_with_1001_and_snapshots(
    database_url: str, tmp_path: Path
) -> None:
    server = await ServerProcess.start(database_url, str(tmp_path), "--demo")
    async with Api.open(server.base_url, admin_token()) as api:
        before = await _work(api)
    async with open_ws(server.base_url) as client:
        await client.subscribe("status:demo")
        code = await server.stop()
        assert code == 0
        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await _read_until_closed(client.conn)
        assert closed.value.reason.code == 1001

    async with Store.open(database_url) as store:
        loaded = await store.load("org:demo")
        assert loaded is not None and loaded.snapshot_version == loaded.version  # final snapshot

    again = await ServerProcess.start(database_url, str(tmp_path), "--demo")
    try:
        async with Api.open(again.base_url, admin_token()) as api:
            assert _without_urls(await _read(api)) == _without_urls(before)
    finally:
        await again.stop()


@pytest.mark.slow
async def test_the_embedded_database_is_not_orphaned_by_a_killed_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves its embedded PostgreSQL running; the
    next one adopts it, and stops it when it stops."""
    import psutil

    data = str(tmp_path / "embedded")
    first = await ServerProcess.start(None, data)
    first.kill()
    await first.wait()
    pid_file = tmp_path / "embedded" / "pg" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    assert psutil.pid_exists(postmaster)  # orphaned, for now
    second = await ServerProcess.start(None, data, "--demo")
    async with Api.open(second.base_url) as anon:
        assert (await anon.get("/status/demo")).status_code == 200
    assert await second.stop() == 0

    def gone() -> bool:
        return not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == "zombie"

    await eventually(gone, "the embedded PostgreSQL to stop", within=30)
