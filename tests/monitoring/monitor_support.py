"""Helpers of the monitoring tests: making monitors, waiting for what travels
on its own, and ``switchboard probe`` processes, one per region."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import trio
from support import TOKENS, Api, token

ORG = "/api/v1/orgs/demo"


async def eventually(api: Api, path: str, check: Any, seconds: float = 15.0) -> Any:
    """GET ``path`` until ``check(body)`` holds (the verdict travels on its own);
    ``seconds`` is a hang guard, not a measurement."""
    with trio.fail_after(seconds):
        while True:
            body = await api.ok("GET", path)
            if check(body):
                return body
            await trio.sleep(0.05)


async def reporting(base_url: str, *regions: str) -> None:
    """Wait until probes of ``regions`` have made themselves known (a monitor
    checked everywhere may then ask a quorum of them); a 60 s hang guard."""
    async with Api.open(base_url, token("*", "admin"), keep_alive=False) as operator:
        with trio.fail_after(60):
            while True:
                known = (await operator.ok("GET", "/api/v1/monitoring"))["regions"]
                if set(regions) <= {r["region"] for r in known}:
                    return
                await trio.sleep(0.1)


async def make(api: Api, **fields: Any) -> dict[str, Any]:
    """A monitor of the demo's API, damped by nothing (one result moves a region)."""
    data = {"service": "API", "kind": "http", "down_after": 1, "up_after": 1, **fields}
    made: dict[str, Any] = await api.ok("POST", f"{ORG}/monitors", data, status=201)
    return made


class Probes:
    """``switchboard probe`` processes, one per region."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, server_url: str, region: str, *, networks: str = "loopback") -> None:
        """A probe of ``region`` checking ``server_url``'s monitors; ``networks``
        is where its checks may connect (``public``: it cannot reach the tests'
        targets on loopback, and sees every one of them down)."""
        env = {**os.environ, "SWITCHBOARD_TOKEN": TOKENS.issue_probe(region)}
        command = [
            sys.executable,
            "-m",
            "server",
            "probe",
            "--region",
            region,
            "--server",
            server_url,
            "--check-networks",
            networks,
            "--log-level",
            "warning",
        ]
        self.running[region] = subprocess.Popen(command, env=env)

    def kill(self, region: str) -> None:
        """SIGKILL: the probe says nothing more, ever."""
        process = self.running.pop(region)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            process.wait(10)
        self.running.clear()
