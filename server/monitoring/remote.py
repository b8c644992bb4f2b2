"""``switchboard probe``: checks from another region, reported to the server.

The probe connects with a probe token (``switchboard token --probe REGION``),
subscribes to ``probe:<region>`` (the monitors it must check, then changes to
them), checks each on its own schedule, and sends its results in batches with
``probe.report``. Connections come and go: the bundled client reconnects and
resumes the subscription, and the results wait in the probe's outbox until the
server has acknowledged them; each carries an id, so a batch sent again after
a lost answer counts once. Every ``FIGURES_EVERY`` seconds a report also
carries the probe's scheduler figures (how late its checks start), which the
server shows for its region.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import trio
from switchboard_client import Event, Resync, connect
from switchboard_client.errors import ConnectionLost, SwitchboardError

from ..domain.model import iso
from ..domain.monitors import Monitor
from .probe import Probe
from .scheduler import Scheduler

log = logging.getLogger(__name__)

BATCH = 500  # results per report
MAX_OUTBOX = 200_000  # results waiting for the server; beyond, the oldest go
FIGURES_EVERY = 10.0  # seconds between reports that carry the scheduler's figures


class RemoteProbe:
    def __init__(
        self,
        url: str,
        token: str,
        region: str,
        *,
        concurrency: int = 1_000,
        every: float = 1.0,
        probe: Probe | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.region = region
        self.every = every
        self.probe = probe or Probe()
        self.scheduler = Scheduler(self._check, concurrency=concurrency)
        self.outbox: list[dict[str, Any]] = []
        self.sent = 0  # results the server acknowledged
        self._ids = itertools.count(1)
        self._run_id = f"{region}-{time.time_ns():x}"
        self._wake = trio.Event()
        self._figures_at = -FIGURES_EVERY  # trio time figures were last acknowledged

    async def _check(self, org: str, monitor: Monitor) -> None:
        outcome = await self.probe.check(monitor)
        self.outbox.append(
            {
                "id": f"{self._run_id}-{next(self._ids)}",
                "monitor": monitor.id,
                "at": iso(datetime.now(UTC)),
                "outcome": outcome.outcome,
                "latency_ms": outcome.latency_ms,
                "status_code": outcome.status_code,
                "error": outcome.error,
                **({"cert_expires_at": iso(outcome.expires_at)} if outcome.expires_at else {}),
            }
        )
        if len(self.outbox) > MAX_OUTBOX:
            del self.outbox[: len(self.outbox) - MAX_OUTBOX]
        if len(self.outbox) >= BATCH:
            self._wake.set()

    def _assign(self, monitors: Sequence[dict[str, Any]]) -> None:
        """Exactly these monitors, from a snapshot."""
        keep = set()
        for item in monitors:
            monitor = Monitor.from_dict(item["monitor"])
            keep.add(monitor.id)
            self.scheduler.put(item["org"], monitor)
        for monitor_id in list(self.scheduler.entries):
            if monitor_id not in keep:
                self.scheduler.drop(monitor_id)

    def _apply(self, event: Event) -> None:
        if event.name == "monitor.assigned":
            self.scheduler.put(event.data["org"], Monitor.from_dict(event.data["monitor"]))
        elif event.name == "monitor.unassigned":
            self.scheduler.drop(event.data["id"])

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # A probe waits for its server however long it takes to come (None).
        async with connect(self.url, self.token, connect_timeout=None) as client:
            feed = await client.subscribe(f"probe:{self.region}")
            self._assign(feed.snapshot["monitors"])
            log.info("probe %s: %d monitors to check", self.region, len(self.scheduler.entries))
            async with trio.open_nursery() as nursery:
                await nursery.start(self.scheduler.run)
                nursery.start_soon(self._report, client)
                task_status.started()
                async for item in feed:
                    if isinstance(item, Resync):
                        self._assign(item.snapshot["monitors"])
                    else:
                        self._apply(item)

    async def _report(self, client: Any) -> None:
        while True:
            with trio.move_on_after(self.every):
                await self._wake.wait()
            self._wake = trio.Event()
            while self.outbox:
                batch = self.outbox[:BATCH]
                now = trio.current_time()
                figures = None
                if now - self._figures_at >= FIGURES_EVERY:
                    figures = asdict(self.scheduler.figures())
                try:
                    await client.report(self.region, batch, scheduler=figures)
                except (SwitchboardError, ConnectionLost, trio.TooSlowError) as exc:
                    log.info("probe %s: %d results wait: %s", self.region, len(batch), exc)
                    break  # the client reconnects; the batch goes again
                # Only what was acknowledged leaves the outbox (it may have grown).
                del self.outbox[: len(batch)]
                if figures is not None:
                    self._figures_at = now
                self.sent += len(batch)
