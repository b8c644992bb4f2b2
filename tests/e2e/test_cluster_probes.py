"""A ``switchboard probe`` process connected to one node of two checks the
monitors of the organization the other node runs, and its results move that
monitor's verdict there; the other node is killed with SIGKILL, the node the
probe is connected to adopts the organization, and the probe's results go on
counting, now where they arrive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from nats_support import started
from support import TOKENS, Api, ServerProcess, admin_token, eventually, shown

pytestmark = pytest.mark.slow
ORG = "/api/v1/orgs/demo"
BOUND = 90.0  # a hang guard for a phase (a check comes within its interval), not a measure


async def stored(api: Api, monitor: str, outcome: str) -> bool:
    """Whether a result of eu-west with ``outcome`` is stored for ``monitor``."""
    rows = (await api.ok("GET", f"{monitor}/results?limit=1000"))["data"]
    return ("eu-west", outcome) in {(row["region"], row["outcome"]) for row in rows}


async def test_a_probe_on_one_node_counts_for_the_other_and_goes_on_when_it_dies(
    database_url: str, tmp_path: Path
) -> None:
    nats = await started(tmp_path)
    nodes: dict[str, ServerProcess] = {}
    probe: trio.Process | None = None
    try:
        for name in "ab":
            extra = ["--nats", nats.url, "--node-id", name, "--check-networks", "any"]
            extra += ["--no-probe", *(["--demo"] if name == "a" else [])]
            nodes[name] = await ServerProcess.start(database_url, str(tmp_path / name), *extra)
        async with (
            Api.open(nodes["a"].base_url, admin_token("demo")) as a,
            Api.open(nodes["b"].base_url, admin_token("demo")) as b,
        ):
            refused = {"url": "http://127.0.0.1:1/"}  # nothing listens: down
            await a.ok(
                "POST",
                f"{ORG}/monitors",
                {
                    "name": "Europe",
                    "service": "API",
                    "kind": "http",
                    "spec": refused,
                    "regions": ["eu-west"],
                    "interval": 10,
                    "down_after": 1,
                    "up_after": 1,
                },
                status=201,
            )
            command = [
                sys.executable, "-m", "server", "probe",
                "--region", "eu-west",
                "--server", nodes["b"].base_url,
                "--check-networks", "loopback",
                "--log-level", "warning",
            ]  # fmt: skip
            probe = await trio.lowlevel.open_process(
                command,
                env={**os.environ, "SWITCHBOARD_TOKEN": TOKENS.issue_probe("eu-west")},
                stdin=subprocess.DEVNULL,
            )
            monitor = f"{ORG}/monitors/Europe"
            await shown(a, monitor, lambda m: m["verdict"] == "down", BOUND)
            # Written by a (a node's results wait a second in its memory, and die with it).
            await eventually(lambda: stored(a, monitor, "down"), "a to write down its result")

            nodes["a"].kill()
            await nodes["a"].wait()
            ready = {"url": f"{nodes['b'].base_url}/health"}  # up, once b checks it

            async def changed() -> bool:
                answer = await b.request("PATCH", monitor, {"spec": ready})
                return answer.status_code == 200  # 503 until b adopts demo

            await eventually(changed, "b to adopt demo and take the change", within=BOUND)
            await shown(b, monitor, lambda m: m["verdict"] == "up", BOUND)
            await eventually(lambda: stored(b, monitor, "up"), "b to write down its result")
            assert await stored(b, monitor, "down")
    finally:
        if probe is not None:
            probe.kill()
            with trio.move_on_after(10):
                await probe.wait()
        for node in nodes.values():
            if node.process.returncode is None:
                node.process.send_signal(signal.SIGTERM)
                with trio.move_on_after(10):
                    await node.process.wait()
                node.kill()
        await nats.kill()
