"""The client on asyncio (the server side stays trio): a scenario run with
``asyncio.run`` in a thread, and the pytest kit under AnyIO's pytest plugin."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
import sniffio
import trio
from switchboard_client import (
    Backoff,
    ConnectionLost,
    Event,
    NotFound,
    State,
    connect,
)
from switchboard_client.testing import RunningServer, assert_event

ROOT = Path(__file__).resolve().parents[2]


async def scenario(server: RunningServer) -> dict[str, object]:
    """Everything a client does, on whatever loop runs it."""
    seen: dict[str, object] = {"library": sniffio.current_async_library()}
    quick = Backoff(base=0.05, cap=0.3)
    async with connect(server.url, server.token(role="responder"), backoff=quick) as client:
        events = await client.subscribe("org:demo")
        service = await client.service_update("demo", service="API", status="major_outage")
        seen["status"] = service["status"]
        await assert_event(events, "service.updated")
        try:
            await client.incident_resolve("demo", incident="nosuch")
        except NotFound as exc:
            seen["refused"] = exc.code
        incident = await client.incident_create("demo", name="On asyncio")
        room = await client.join_room(incident["notes_room"], name="Asyncio")
        await room.insert(0, "typed on asyncio")
        await room.flush()
        await server.restart()  # mid-stream: it reconnects and resumes
        with anyio.fail_after(30):
            await client.wait_state(State.CONNECTED)
        await room.insert(len(room.text), ", after a restart")
        await client.service_update("demo", service="API", status="operational")
        with anyio.fail_after(30):
            while True:
                item = await events.next()
                if isinstance(item, Event) and item.name == "service.updated":
                    break
        await room.flush()
        seen["text"] = room.text
        seen["connects"] = client.connects
    try:
        async with connect(server.url, "not-a-token", backoff=quick):
            pass
    except Exception as exc:
        seen["unauthorized"] = type(exc).__name__
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/nope", backoff=quick):
            pass
    except ConnectionLost as exc:
        seen["wrong path"] = exc.status
    return seen


async def test_the_client_runs_on_asyncio(switchboard_server: RunningServer) -> None:
    seen = await trio.to_thread.run_sync(lambda: asyncio.run(scenario(switchboard_server)))
    assert seen == {
        "library": "asyncio",
        "status": "major_outage",
        "refused": "not_found",
        "text": "typed on asyncio, after a restart",
        "connects": 2,
        "unauthorized": "Unauthorized",
        "wrong path": 404,
    }


async def test_the_same_on_trio(switchboard_server: RunningServer) -> None:
    seen = await scenario(switchboard_server)
    assert seen["library"] == "trio" and seen["text"] == "typed on asyncio, after a restart"


KIT_TEST = """
import pytest
from switchboard_client.testing import assert_event


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_kit(switchboard_server, switchboard_client, anyio_backend):
    async with switchboard_client(role="responder") as client:
        events = await client.subscribe("status:demo")
        await client.service_update("demo", service="API", status="major_outage")
        await assert_event(events, "service.updated", within=10)
        await switchboard_server.restart()
        await client.service_update("demo", service="API", status="operational")
        await assert_event(events, "service.updated", within=10)
"""


@pytest.mark.slow
async def test_the_pytest_kit_runs_under_anyios_plugin_on_both_loops(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["switchboard_client.testing"]\n')
    (tmp_path / "test_kit.py").write_text(textwrap.dedent(KIT_TEST))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'clients/python'}"}
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:trio",  # AnyIO's plugin alone
                "-p",
                "no:cacheprovider",
                f"--basetemp={tmp_path / 'tmp'}",
                "test_kit.py",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout
