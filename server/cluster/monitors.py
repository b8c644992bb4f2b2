"""Monitoring across nodes: a probe connected to any node checks every monitor
of its region, and what it reports counts once, on the node that runs the
monitor's organization; so does a heartbeat, whichever node it reaches.

* **Every node knows every monitor.** A node follows every organization that
  has monitors (a follower keeps following while it has any, see
  :mod:`.fanout`), and its monitoring keeps their monitors (a registry
  mirror), so it gives a probe of a region all of that region's monitors and
  their changes. A commit that makes a monitor is announced on
  ``switchboard.monitors.created`` (the organization's slug), and every node
  that does not follow the organization yet starts to. A node that may have
  missed announcements (it has just started, its bus reconnected, or its
  subscription overflowed) looks at every organization again. Only the node
  that runs an organization checks its monitors with its own probe, judges
  them and writes their results.
* **Results, heartbeats and checks** for a monitor of an organization
  another node runs go to that node as a request on
  ``switchboard.node.<id>.monitoring``, ``{"op": "results" | "beat" |
  "check", ...}``, answered ``{"result": ...}`` or ``{"error": {code,
  message}}``. That node counts them as if they had come to it: a probe's
  result ids are remembered there, per region, so a batch sent again to any
  node counts once. A node that no longer runs the organization answers
  ``unavailable``; a node that answers nothing on its subject (it died, and
  its lease has not run out yet) is ``unavailable`` at once. Either way the
  probe is told, keeps its results and sends them again; a heartbeat's job
  hears ``503``. Once the lease has run out, the next try finds the node that
  adopted the organization, or the node it reached takes the organization
  over itself, as it would for a command.
* **Presence.** Every ``PRESENCE_SECONDS`` each node says which regions have
  a probe connected to it (``switchboard.probes.present``); the others count
  that as the probe being connected to them, so that a region whose probe
  sits on another node, and has nothing of theirs to check, is not judged
  offline by them.
* **Bounds.** A request waits ``Limits.database_seconds`` (a check, that and
  the longest a check may take); without an answer by then the caller hears
  ``outcome_unknown`` (the other node may have counted it; a result sent
  again counts once). NATS away: ``unavailable`` at once. Publishing and
  subscribing wait the bus's bound; a lost announcement or presence is
  logged, and repaired by the next look or the next presence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson
import trio

from ..actors.registry import Registry
from ..domain.events import Event
from ..domain.model import OrgState
from ..domain.schema import parse
from ..errors import NotFound, OutcomeUnknown, Unavailable
from ..monitoring.reports import Beat, Outcome, ProbeReport, ProbeResult
from ..monitoring.scheduler import SchedulerFigures
from ..monitoring.service import Monitoring
from ..store import StoreError
from .bus import Bus, BusError, BusUnavailable, NoResponders, SlowConsumer, Subscription
from .requests import answered, serve

log = logging.getLogger(__name__)

CREATED = "switchboard.monitors.created"
PRESENT = "switchboard.probes.present"
PRESENCE_SECONDS = 5.0  # how often a node names the regions whose probes it holds
LOOK_SECONDS = 1.0  # how often a reconnection of the bus is looked for
QUEUE = 1024  # announcements waiting to be published


def subject(node: str) -> str:
    """Where ``node`` takes results, heartbeats and checks for its monitors."""
    return f"switchboard.node.{node}.monitoring"


class MonitorRelay:
    """This node's monitoring among the others (the monitoring's ``relay``
    while it runs)."""

    def __init__(self, bus: Bus, registry: Registry, monitoring: Monitoring, node: str) -> None:
        self.bus = bus
        self.registry = registry
        self.monitoring = monitoring
        self.node = node
        self.bound = registry.limits.database_seconds
        self._send, self._queue = trio.open_memory_channel[str](QUEUE)
        self._look = True  # look at every organization again
        self._missed: set[str] = set()  # announced, and not followed yet: tried again

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with (
            trio.open_nursery() as nursery,
            await self.bus.subscribe(subject(self.node)) as asked,
            await self.bus.subscribe(CREATED) as created,
            await self.bus.subscribe(PRESENT) as present,
        ):
            self.monitoring.relay = self
            self.registry.observers.append(self.observe)
            try:
                nursery.start_soon(serve, asked, nursery, self._answer, "monitoring request")
                nursery.start_soon(self._follow_created, created)
                nursery.start_soon(self._hear_present, present)
                nursery.start_soon(self._announce)
                nursery.start_soon(self._say_present)
                nursery.start_soon(self._look_again)
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.monitoring.relay = None
                self.registry.observers.remove(self.observe)

    # -- the sending side (monitoring.Relay) ---------------------------------------------

    async def results(
        self,
        node: str,
        region: str,
        results: Sequence[ProbeResult],
        figures: SchedulerFigures | None,
    ) -> dict[str, Any]:
        request = {
            "op": "results",
            "region": region,
            "results": [asdict(r) for r in results],
            "scheduler": None if figures is None else asdict(figures),
        }
        answer: dict[str, Any] = await self._ask(node, request, self.bound)
        return answer

    async def beat(self, node: str, monitor_id: str, beat: Beat) -> bool:
        request = {"op": "beat", "monitor": monitor_id, "beat": asdict(beat)}
        return bool(await self._ask(node, request, self.bound))

    async def check(self, node: str, monitor_id: str, bound: float) -> tuple[str, Outcome]:
        answer = await self._ask(node, {"op": "check", "monitor": monitor_id}, bound)
        return answer["region"], Outcome(**answer["outcome"])

    async def _ask(self, node: str, request: dict[str, Any], bound: float) -> Any:
        try:
            data = await self.bus.request(subject(node), orjson.dumps(request), bound)
        except NoResponders:
            raise Unavailable(
                f"the monitor's organization is run by node {node!r}, which does not answer"
                " (if it stopped, another node takes over when its lease runs out);"
                " nothing was counted: send it again"
            ) from None
        except BusUnavailable as exc:
            raise Unavailable(
                f"the monitor's organization is run by node {node!r}, which cannot be reached"
                f" now ({exc}); nothing was counted: send it again"
            ) from None
        except BusError as exc:  # Unanswered: it may have been counted
            raise OutcomeUnknown(
                f"node {node!r}, which runs the monitor's organization, did not answer"
                f" ({exc}): it may have been counted; a result sent again counts once"
            ) from None
        return answered(data)["result"]

    # -- the side of the node that runs the organization ------------------------------------

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"result": await self._do(request)}

    async def _do(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "results":
            report = parse(
                ProbeReport,
                {"results": request["results"], "scheduler": request.get("scheduler")},
                where="probe.report",
            )
            self.monitoring.figures_of(request["region"], report.scheduler)
            return self.monitoring.taken_for(request["region"], report.results)
        if op == "beat":
            beat = parse(Beat, request["beat"], where="heartbeat")
            return self.monitoring.beat_here(request["monitor"], beat)
        if op == "check":
            outcome = await self.monitoring.check_here(request["monitor"])
            return {"region": self.monitoring.region, "outcome": asdict(outcome)}
        raise ValueError(f"no monitoring operation {op!r}")

    # -- knowing every monitor ----------------------------------------------------------------

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """A registry observer: announce an organization that made a monitor
        (called in its actor's task; never blocks)."""
        if not any(event.name == "monitor.created" for event in events):
            return
        try:
            self._send.send_nowait(slug)
        except trio.WouldBlock:
            log.warning("%s: a new monitor not announced (the queue is full)", slug)

    async def _announce(self) -> None:
        async for slug in self._queue:
            try:
                await self.bus.publish(CREATED, slug.encode())
            except BusError as exc:  # the others look again when their bus reconnects
                log.warning("%s: a new monitor not announced: %s", slug, exc)

    async def _follow_created(self, created: Subscription) -> None:
        while True:
            try:
                message = await created.receive()
            except SlowConsumer:
                self._look = True
                continue
            await self._follow(message.data.decode())

    async def _follow(self, slug: str) -> None:
        """Follow (or run) ``slug`` from now on; tried again if it cannot be now."""
        self._missed.discard(slug)
        try:
            await self.registry.org(slug)
        except NotFound:
            pass  # deleted since
        except Unavailable as exc:
            log.info("%s: its new monitor not followed yet: %s", slug, exc)
            self._missed.add(slug)

    async def _look_again(self) -> None:
        """Look at every organization now (announcements made before this node
        listened), and again after the bus reconnects or announcements were
        dropped; follow those that could not be followed when announced."""
        epoch = self.bus.epoch
        while True:
            if self.bus.epoch != epoch:
                epoch, self._look = self.bus.epoch, True
            if self._look:
                self._look = False
                try:
                    await self.monitoring.discover()
                except StoreError as exc:
                    log.warning("organizations' monitors not looked at again yet: %s", exc)
                    self._look = True
            for slug in sorted(self._missed):
                await self._follow(slug)
            await trio.sleep(LOOK_SECONDS)

    # -- probes' presence ----------------------------------------------------------------------

    async def _say_present(self) -> None:
        while True:
            regions = self.monitoring.probes_here()
            if regions:
                payload = orjson.dumps({"node": self.node, "regions": regions})
                try:
                    await self.bus.publish(PRESENT, payload)
                except BusError as exc:
                    log.info("probes' presence not said: %s", exc)
            await trio.sleep(PRESENCE_SECONDS)

    async def _hear_present(self, present: Subscription) -> None:
        while True:
            try:
                message = await present.receive()
            except SlowConsumer:
                continue  # the next one says it again
            said = orjson.loads(message.data)
            if said["node"] != self.node:
                self.monitoring.probes_elsewhere(said["regions"])
