"""Helpers of the monitoring tests: making monitors, waiting for probes to
report, and ``switchboard probe`` processes, one per region."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import trio
from support import TOKENS, Api, shown, token

from server.config import Config
from server.main import Server

ORG = "/api/v1/orgs/demo"


@contextlib.asynccontextmanager
async def serving(config: Config, nursery: trio.Nursery, rule: str) -> AsyncIterator[Server]:
    """The server, with ``rule`` as its network rule for checks."""
    running: Server = await nursery.start(
        Server(dataclasses.replace(config, check_networks=rule)).run
    )
    try:
        yield running
    finally:
        await running.stop()


async def reporting(base_url: str, *regions: str) -> None:
    """Wait until probes of ``regions`` have made themselves known (a monitor
    checked everywhere may then ask a quorum of them); a 60 s hang guard."""
    async with Api.open(base_url, token("*", "admin"), keep_alive=False) as operator:
        await shown(
            operator,
            "/api/v1/monitoring",
            lambda seen: set(regions) <= {r["region"] for r in seen["regions"]},
            60,
        )


async def make(api: Api, **fields: Any) -> dict[str, Any]:
    """A monitor of the demo's API, damped by nothing (one result moves a region)."""
    data = {"service": "API", "kind": "http", "down_after": 1, "up_after": 1, **fields}
    made: dict[str, Any] = await api.ok("POST", f"{ORG}/monitors", data, status=201)
    return made


class Probes:
    """``switchboard probe`` processes, one per region."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        server_url: str,
        region: str,
        *,
        networks: str = "loopback",
        env: dict[str, str] | None = None,
    ) -> None:
        """A probe of ``region`` checking ``server_url``'s monitors; ``networks``
        is where its checks may connect (``public``: it cannot reach the tests'
        targets on loopback, and sees every one of them down); ``env``: more of
        its environment (``SSL_CERT_FILE``: the certificates it trusts)."""
        env = {**os.environ, **(env or {}), "SWITCHBOARD_TOKEN": TOKENS.issue_probe(region)}
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
