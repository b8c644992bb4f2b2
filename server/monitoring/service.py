"""The server's monitoring: its own probe, the verdicts, and the results' storage.

``Monitoring`` keeps a copy of every organization's monitors (it observes the
organizations' actors, so a monitor made or changed is checked from the next
moment), runs the local probe's schedule, and takes results from every probe:

* each result is buffered and written in batches (one transaction a second,
  or sooner when many are waiting) with its hourly rollup;
* each result moves its monitor's :class:`~server.monitoring.verdict.Tracker`;
  when the verdict of the live regions (or the set of failing regions)
  differs from the one the organization has, a
  :class:`~server.domain.commands.SetMonitorState` goes to the organization's
  actor, which carries out the monitor's policy. Too few live regions to
  decide, and the monitor keeps its verdict: a restarted server, whose
  trackers start empty, changes nothing until fresh results decide;
* a sweep judges again the monitors whose regions went stale in silence.

Heartbeat monitors have no probe: a beat is a result (``up``, unless the job
says ``status=down``), and a sweep reports ``down`` once per interval while
the beats stay away.

Remote probes' regions are watched too (see :mod:`.regions`): one whose probe
falls silent is offline, counts for no quorum, and the organizations it
checks for are told (a :class:`~server.domain.commands.NoteProbe` each) when
it goes and when it comes back.

Among several nodes, each node also keeps the monitors of the organizations
it follows (the registry's mirrors: another node runs them), so that a probe
connected to any node is given every monitor of its region; only the node
that runs an organization checks its monitors with its own probe, judges
them and writes their results. A result, a heartbeat or a check asked of a
node for a monitor another node runs goes to that node through ``relay``
(:mod:`server.cluster.monitors`), which counts it there; a result's id is
remembered there, so a batch sent again to any node counts once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import trio

from ..actors.connection import Connection, join_topic
from ..actors.registry import Registry
from ..actors.topic import Topic
from ..domain import commands as c
from ..domain.events import Event
from ..domain.model import OrgState, iso, iso_or_none
from ..domain.monitor_rules import heartbeat_digest
from ..domain.monitors import Monitor, MonitorKind, Verdict, checked_in
from ..domain.schema import parse
from ..errors import Conflict, DomainError, NotFound, PeerError, Unavailable
from ..protocol import frames
from ..protocol import messages as m
from ..store import Store, StoreError
from ..store.monitoring import (
    RegionRow,
    ResultRow,
    forget_probe_region,
    forget_results,
    forget_rollups,
    forget_verdicts,
    probe_regions,
    save_probe_region,
    write_results,
)
from .regions import LIVE, OFFLINE, Life
from .reports import Beat, BeatStatus, Outcome, ProbeReport, ProbeResult
from .scheduler import Scheduler, SchedulerFigures, same_pace
from .verdict import Tracker, stale_after

log = logging.getLogger(__name__)

AUTHOR = "monitor"
HEARTBEAT_REGION = "heartbeat"
ROLLUP_DAYS = 400  # rollups are kept this long (a year of uptime and then some)
MAX_BUFFER = 200_000  # results waiting for the database; beyond, the oldest go
PROBE_RING = 4_096  # assignment events kept per region, for probes that reconnect
_MONITOR_EVENTS = ("monitor.", "org.deleted")  # what changes the monitors an org has
SEEN_RESULTS = 100_000  # result ids remembered per region, so a resent batch counts once
STALE_SWEEP = 5.0  # seconds between looks for regions gone stale without a word
SAVE_SEEN_EVERY = 60.0  # seconds: how often a live region's last result is written down
CHECK_SECONDS = 60.0  # the longest a check may take (a spec's timeout is at most this)


class Relay(Protocol):
    """Carries what a node took for a monitor of an organization another node
    runs to that node (``node``), which counts it (server.cluster.monitors).
    Each raises Unavailable (nothing was done: try again) or OutcomeUnknown,
    within its bound."""

    async def results(
        self,
        node: str,
        region: str,
        results: Sequence[ProbeResult],
        figures: SchedulerFigures | None,
    ) -> dict[str, Any]:
        """A probe's results (and its scheduler's figures, if it sent them);
        ``{"accepted": n, "unknown": [monitor ids]}``."""

    async def beat(self, node: str, monitor_id: str, beat: Beat) -> bool:
        """A heartbeat; False if the monitor is gone."""

    async def check(self, node: str, monitor_id: str, bound: float) -> tuple[str, Outcome]:
        """A check now, from ``node``'s region: that region and the outcome."""


@dataclass(slots=True)
class ProbeFeed:
    """What the probes of one region check: ``probe:<region>``'s topic and state."""

    topic: Topic
    assigned: dict[str, tuple[str, Monitor]]  # monitor id -> (org, monitor)
    seen: dict[str, None]  # recent result ids, oldest first


class Monitoring:
    def __init__(
        self,
        registry: Registry,
        store: Store,
        *,
        region: str = "local",
        retention_days: int = 30,
        concurrency: int = 1_000,
        flush_seconds: float = 1.0,
        probe: Any = None,  # a server.monitoring.probe.Probe; None: no local checks
    ) -> None:
        self.registry = registry
        self.store = store
        self.region = region
        self.retention = timedelta(days=retention_days)
        self.flush_seconds = flush_seconds
        self.probe = probe
        self.monitors: dict[str, tuple[str, Monitor]] = {}  # id -> (org, monitor)
        self.by_org: dict[str, set[str]] = {}  # org -> its monitors' ids
        # org -> whether this node runs it (checks, judges, counts its monitors);
        # False: it follows it, and knows its monitors for the probes only.
        self.orgs: dict[str, bool] = {}
        self.relay: Relay | None = None  # to the other nodes (set by server.cluster.monitors)
        self.trackers: dict[str, Tracker] = {}
        self.latest: dict[str, dict[str, ResultRow]] = {}  # monitor id -> region -> last result
        self.heartbeats: dict[str, str] = {}  # token digest -> monitor id
        self.last_beat: dict[str, float] = {}  # monitor id -> trio time
        self.missed_at: dict[str, float] = {}
        self.scheduler = Scheduler(self._check, concurrency=concurrency)
        self.buffer: list[ResultRow] = []
        self.asked: dict[str, tuple[Verdict, tuple[str, ...]]] = {}
        self.wanted: dict[str, tuple[str, Verdict, tuple[str, ...], str | None]] = {}
        self.feeds: dict[str, ProbeFeed] = {}  # by region
        self.lives: dict[str, Life] = {}  # remote regions, by name (see .regions)
        self.offline: set[str] = set()  # regions whose probe is offline
        self._unsaved: set[str] = set()  # regions to write down
        self._announce = trio.Event()  # regions to write down or to tell of
        self.own_last_seen: datetime | None = None  # the server's own probe's last result
        self._flush_now = trio.Event()
        self._send_now = trio.Event()
        self.results = 0  # reported since start
        self.counted: dict[tuple[str, str], int] = {}  # (region, outcome) -> results since start
        self.latency: dict[str, float | None] = {}  # monitor id -> its last result's latency (ms)
        self.cert_expires: dict[str, datetime] = {}  # monitor id -> its certificate's expiry

    # -- the organizations' monitors ----------------------------------------------

    def observe(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """An organization this node runs committed (or, with no events, was
        loaded): take its monitors as they are now. Runs in the organization's
        actor after every commit, so a commit that touched no monitor costs one
        look at its events."""
        self._take(slug, state, events, runs=True)

    def mirror(self, slug: str, state: OrgState, events: Sequence[Event]) -> None:
        """An organization another node runs, as this node follows it: its
        monitors, for the probes connected here (checked and judged there)."""
        self._take(slug, state, events, runs=False)

    def _take(self, slug: str, state: OrgState, events: Sequence[Event], *, runs: bool) -> None:
        was = self.orgs.get(slug)
        if was is runs and events and not any(e.name.startswith(_MONITOR_EVENTS) for e in events):
            return
        if was and not runs:  # another node runs it now: its monitors are judged there
            self.let_go(slug)
            was = None
        if state.deleted:
            self.orgs.pop(slug, None)
        else:
            self.orgs[slug] = runs
        gone = set(self.by_org.get(slug, ()))
        if not state.deleted:
            for monitor in state.monitors.values():
                gone.discard(monitor.id)
                # Taken over here: known already, its monitors now get their checks.
                self._put(slug, monitor, taken_over=was is not runs)
        for monitor_id in gone:
            self._drop(monitor_id)

    def let_go(self, slug: str) -> None:
        """This node no longer runs or follows ``slug`` (another node runs it, or
        will): its monitors are checked there, and known here no more."""
        self.orgs.pop(slug, None)
        for monitor_id in set(self.by_org.get(slug, ())):
            self._drop(monitor_id)

    def _runs(self, org: str) -> bool:
        """Whether this node runs ``org`` (checks, judges and counts its monitors)."""
        return self.orgs.get(org, False)

    def _put(self, org: str, monitor: Monitor, *, taken_over: bool = False) -> None:
        old = self.monitors.get(monitor.id)
        if old is not None and old[1] == monitor and not taken_over:
            return  # unchanged
        self.monitors[monitor.id] = (org, monitor)
        self.by_org.setdefault(org, set()).add(monitor.id)
        if old is not None and old[1].heartbeat_hash != monitor.heartbeat_hash:
            self.heartbeats.pop(old[1].heartbeat_hash or "", None)  # a new push URL
        if monitor.kind is MonitorKind.HEARTBEAT and monitor.heartbeat_hash:
            self.heartbeats[monitor.heartbeat_hash] = monitor.id
        self._reassign(org, monitor.id, monitor)
        if not self._runs(org):
            return  # checked, judged and counted where it runs
        tracker = self.trackers.get(monitor.id)
        shape = (monitor.down_after, monitor.up_after, monitor.quorum)
        if (
            tracker is None
            or (tracker.down_after, tracker.up_after, tracker.quorum) != shape
            or (old is not None and old[1].paused != monitor.paused)
        ):
            self.trackers[monitor.id] = Tracker(*shape, born=trio.current_time())
        elif monitor.regions:
            for region in set(tracker.regions) - set(monitor.regions):
                tracker.forget(region)  # no longer checked there
        if old is not None and old[1].verdict is not monitor.verdict:
            self.asked.pop(monitor.id, None)  # the organization has it now
        if monitor.kind is MonitorKind.HEARTBEAT:
            self.last_beat.setdefault(monitor.id, trio.current_time())
            return
        if self.probe is not None and checked_in(monitor, self.region):
            self.scheduler.put(org, monitor)
        else:
            self.scheduler.drop(monitor.id)

    def _drop(self, monitor_id: str) -> None:
        found = self.monitors.pop(monitor_id, None)
        if found:
            self.by_org.get(found[0], set()).discard(monitor_id)
        if found and found[1].heartbeat_hash:
            self.heartbeats.pop(found[1].heartbeat_hash, None)
        self.trackers.pop(monitor_id, None)
        self.latest.pop(monitor_id, None)
        self.last_beat.pop(monitor_id, None)
        self.missed_at.pop(monitor_id, None)
        self.latency.pop(monitor_id, None)
        self.cert_expires.pop(monitor_id, None)
        self.asked.pop(monitor_id, None)
        self.wanted.pop(monitor_id, None)
        self.scheduler.drop(monitor_id)
        if found:
            self._reassign(found[0], monitor_id, None)

    def assignments(self, region: str) -> list[tuple[str, Monitor]]:
        """What a probe in ``region`` checks."""
        return [(org, mon) for org, mon in self.monitors.values() if checked_in(mon, region)]

    def stats(self) -> dict[str, Any]:
        """What the server's own probe and the verdicts are doing, and each
        region's scheduler as its probe last reported it (GET /api/v1/monitoring)."""
        own = self.scheduler.figures().view()
        regions = self.regions_view()
        for view in regions:
            if view["own"]:
                view["scheduler"] = own
            else:
                figures = self.lives[view["region"]].figures
                view["scheduler"] = None if figures is None else figures.view()
        return {
            "region": self.region,
            "monitors": len(self.monitors),
            "checked_here": len(self.scheduler.entries),
            "running": own["running"],
            "checks_started": own["checks_started"],
            "checks_skipped": own["checks_skipped"],
            "lag_seconds": own["lag_seconds"],
            "results": self.results,
            "results_waiting": len(self.buffer),
            "regions": regions,
        }

    # -- probe liveness (see .regions) ------------------------------------------------

    def known_regions(self) -> frozenset[str]:
        """The regions that report: the server's own (while its probe runs) and
        every remote probe's it knows, offline ones included."""
        own = {self.region} if self.probe is not None else set()
        return frozenset(own | set(self.lives))

    def regions_view(self, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Each region that reports, with its state, for people."""
        out = []
        if self.probe is not None and (only is None or self.region in only):
            out.append(
                {
                    "region": self.region,
                    "state": LIVE,
                    "own": True,
                    "connected": True,
                    "monitors": len(self.scheduler.entries),
                    "last_seen": iso_or_none(self.own_last_seen),
                    "since": None,
                }
            )
        for name in sorted(self.lives):
            if only is not None and name not in only:
                continue
            feed = self.feeds.get(name)
            connected = bool(feed and feed.topic.subscribers)
            out.append(self.lives[name].view(name, connected, len(feed.assigned) if feed else 0))
        return out

    def org_regions(self, state: OrgState) -> list[dict[str, Any]]:
        """The regions an organization's monitors are checked from, with their
        probes' states (a region named that no probe ever reported from:
        ``unknown``)."""
        known = self.known_regions()
        wanted: set[str] = set()
        for monitor in state.monitors.values():
            if monitor.kind is not MonitorKind.HEARTBEAT and not monitor.paused:
                wanted |= set(monitor.regions) if monitor.regions else known
        out = self.regions_view(wanted)
        for name in sorted(wanted - known):
            out.append(
                {
                    "region": name,
                    "state": "unknown",
                    "own": False,
                    "connected": False,
                    "monitors": 0,
                    "last_seen": None,
                    "since": None,
                }
            )
        return out

    def live_view(self, monitor: Monitor) -> dict[str, Any]:
        """What is true of a monitor's regions now, beside what is stored: the
        regions whose results count (``regions_live``), those that reported it
        and count no more (``regions_stale``), whether enough regions report
        for its quorum to be met (``quorum_met``; ``quorum_note`` says why not),
        and each region's own state and last result (``region_states``)."""
        if monitor.kind is MonitorKind.HEARTBEAT or monitor.paused:
            return {
                "regions_live": [],
                "regions_stale": [],
                "quorum_met": True,
                "quorum_note": None,
                "region_states": [] if monitor.paused else self._region_states(monitor),
            }
        live: list[str] = []
        stale: list[str] = []
        tracker = self.trackers.get(monitor.id)
        if tracker is not None:
            live = tracker.live(trio.current_time(), stale_after(monitor), self.offline)
            stale = sorted(set(tracker.regions) - set(live))
        reporting = {r for r in self.known_regions() if r not in self.offline}
        checking = set(monitor.regions) if monitor.regions else self.known_regions()
        able = sorted((checking & reporting) - set(stale))
        met = len(able) >= monitor.quorum
        note = None
        if not met:
            why = [f"{r} is stale" for r in stale]
            why += [f"{r}'s probe is offline" for r in sorted(checking & self.offline)]
            why += [f"{r} has no probe" for r in sorted(checking - self.known_regions())]
            count = {0: "no region reports", 1: "only 1 region reports"}.get(
                len(able), f"only {len(able)} regions report"
            )
            note = (
                f"quorum {monitor.quorum} cannot be met now: {count}"
                f"{' (' + ', '.join(able) + ')' if able else ''}"
                f"{'; ' + ', '.join(why) if why else ''}. Until it can, the monitor keeps"
                f" its verdict."
            )
        return {
            "regions_live": live,
            "regions_stale": stale,
            "quorum_met": met,
            "quorum_note": note,
            "region_states": self._region_states(monitor),
        }

    def _region_states(self, monitor: Monitor) -> list[dict[str, Any]]:
        """Each region that reported the monitor since the server started (or its
        settings changed): its damped state (``up``, ``degraded``, ``down``, or
        ``unknown`` while too few results agree), whether it counts now
        (``live``), and its last result."""
        tracker = self.trackers.get(monitor.id)
        if tracker is None:
            return []
        live = set(tracker.live(trio.current_time(), stale_after(monitor), self.offline))
        latest = self.latest.get(monitor.id, {})
        out = []
        for name, region in sorted(tracker.regions.items()):
            row = latest.get(name)
            last = None
            if row is not None:
                last = {
                    "at": iso(row.at),
                    "outcome": row.outcome,
                    "latency_ms": None if row.latency_ms is None else round(row.latency_ms, 1),
                    "status_code": row.status_code,
                    "error": row.error if row.outcome != "up" else None,
                }
            out.append(
                {"region": name, "state": region.state.value, "live": name in live, "last": last}
            )
        return out

    def _life(self, region: str) -> Life:
        """A remote region's life, made (live) the first time it is heard of."""
        life = self.lives.get(region)
        if life is None:
            now = trio.current_time()
            life = self.lives[region] = Life(LIVE, now, now, None, self.registry.clock.now(), True)
            self._feed(region)
            self._save(region)
            log.info("probe region %s: first heard of", region)
        return life

    def _heard(self, region: str, *, result: bool) -> None:
        """A probe of ``region`` connected, or (``result``) reported."""
        life = self._life(region)
        now = trio.current_time()
        life.seen = now
        if result:
            life.heard = now
            life.last_seen = self.registry.clock.now()
        if life.state == OFFLINE and (result or not self._intervals(region)):
            life.heard = now
            self._turn(region, life, LIVE)

    def _intervals(self, region: str) -> list[int]:
        """The intervals of the monitors ``region``'s probe checks for this node
        (of the organizations it runs): the results this node should hear."""
        feed = self._feed(region)
        return [mon.interval for org, mon in feed.assigned.values() if self._runs(org)]

    def probes_here(self) -> list[str]:
        """The regions with a probe connected to this node now."""
        return sorted(name for name, feed in self.feeds.items() if feed.topic.subscribers)

    def probes_elsewhere(self, regions: Sequence[str]) -> None:
        """Another node says probes of ``regions`` are connected to it: here, as
        if they were connected to this one (their results for this node's
        monitors come through that node)."""
        for region in regions:
            self._heard(region, result=False)

    def _turn(self, region: str, life: Life, state: str) -> None:
        life.state = state
        life.changed_at = self.registry.clock.now()
        life.told = False
        if state == OFFLINE:
            self.offline.add(region)
            life.told_offline = set()
            heard = "never" if life.last_seen is None else iso(life.last_seen)
            log.warning("probe region %s is offline: last result %s", region, heard)
            now = trio.current_time()
            for monitor_id, tracker in list(self.trackers.items()):
                found = self.monitors.get(monitor_id)
                if region in tracker.regions and found is not None and not found[1].paused:
                    self._judge(found[0], found[1], tracker, now)  # it counts no more
        else:
            self.offline.discard(region)
            log.warning("probe region %s is back online", region)
        self._save(region)

    def _save(self, region: str) -> None:
        self._unsaved.add(region)
        self._announce.set()

    def forget_region(self, region: str) -> None:
        """An operator retires a region: it is known no more (Conflict while its
        probe is live)."""
        life = self.lives.get(region)
        if life is None:
            raise NotFound(f"no probe region {region!r}", field="region")
        if life.state == LIVE:
            raise Conflict(
                f"the probe of region {region!r} is live: stop it first, then forget the"
                " region once it is offline",
                field="region",
            )
        del self.lives[region]
        self.offline.discard(region)
        self._unsaved.discard(region)
        feed = self.feeds.get(region)
        if feed is not None and not feed.topic.subscribers:
            del self.feeds[region]
        for tracker in self.trackers.values():
            tracker.forget(region)

    # -- remote probes (probe:<region>) ---------------------------------------------

    def _feed(self, region: str) -> ProbeFeed:
        feed = self.feeds.get(region)
        if feed is None:
            assigned = {mon.id: (org, mon) for org, mon in self.assignments(region)}
            # Numbered from a start of its own, so that a probe coming from another
            # node, or from before a restart, gets a snapshot, not these events.
            start = secrets.randbits(32) << 20
            feed = self.feeds[region] = ProbeFeed(
                Topic(f"probe:{region}", ring_size=PROBE_RING, seq=start), assigned, {}
            )
        return feed

    def probe_join(
        self, conn: Connection, region: str, since: int | None, request_id: m.RequestId
    ) -> None:
        """A probe of ``region`` subscribes: its monitors, then changes to them."""
        feed = self._feed(region)
        self._heard(region, result=False)

        def snapshot() -> bytes:
            monitors = [
                {"org": o, "monitor": mon.to_dict(stored=True)} for o, mon in feed.assigned.values()
            ]
            return orjson.dumps({"region": region, "monitors": monitors})

        join_topic(conn, feed.topic, since, request_id, snapshot)

    def _reassign(self, org: str, monitor_id: str, monitor: Monitor | None) -> None:
        for region, feed in self.feeds.items():
            had = feed.assigned.get(monitor_id)
            if monitor is not None and checked_in(monitor, region):
                feed.assigned[monitor_id] = (org, monitor)
                if had is None or not same_pace(had[1], monitor):
                    self._publish(
                        feed,
                        "monitor.assigned",
                        {"org": org, "monitor": monitor.to_dict(stored=True)},
                    )
            elif had is not None:
                del feed.assigned[monitor_id]
                self._publish(feed, "monitor.unassigned", {"id": monitor_id})

    @staticmethod
    def _publish(feed: ProbeFeed, name: str, data: dict[str, Any]) -> None:
        seq = feed.topic.seq + 1
        message = m.EventMessage(
            topic=feed.topic.name, seq=seq, name=name, data=data, at=iso(datetime.now(UTC))
        )
        feed.topic.publish([(seq, frames.text_frame(orjson.dumps(message)))])

    async def probe_report(self, region: str, data: Any) -> dict[str, Any]:
        """A remote probe's ``probe.report``, as it came (ValidationError if malformed)."""
        report = parse(ProbeReport, data, where="probe.report")
        self.figures_of(region, report.scheduler)
        return await self.report_many(region, report.results, report.scheduler)

    def figures_of(self, region: str, figures: SchedulerFigures | None) -> None:
        """A remote probe's scheduler figures, with its results (here, or
        through the node it is connected to)."""
        if figures is not None:
            self._life(region).figures = figures

    async def report_many(
        self,
        region: str,
        results: Sequence[ProbeResult],
        figures: SchedulerFigures | None = None,
    ) -> dict[str, Any]:
        """A remote probe's batch. Each result counts on the node that runs its
        monitor's organization: here, or sent there (all at once, each within
        its bound). A result already taken (resent after a lost answer) is not
        counted twice; one for a monitor deleted since is dropped.

        Unavailable (or OutcomeUnknown) when some could not be handed to their
        node: the rest were counted, and the probe sends the batch again
        (what was counted counts once). The probe's scheduler ``figures`` go
        with what is sent to another node."""
        self._feed(region)
        if results:
            self._heard(region, result=True)
        here: list[ProbeResult] = []
        away: dict[str, list[ProbeResult]] = {}  # by organization
        unknown: list[str] = []
        for r in results:
            found = self.monitors.get(r.monitor)
            if found is None:
                unknown.append(r.monitor)
            elif self._runs(found[0]):
                here.append(r)
            else:
                away.setdefault(found[0], []).append(r)
        nodes: dict[str, list[ProbeResult]] = {}
        failed: list[PeerError] = []
        for org, part in away.items():
            try:
                node = await self._node_of(org)
            except NotFound:  # deleted meanwhile
                unknown.extend(r.monitor for r in part)
                continue
            except Unavailable as exc:
                failed.append(exc)
                continue
            if node is None:
                here.extend(part)
            else:
                nodes.setdefault(node, []).extend(part)
        taken = self._count(region, here, unknown)

        async def send(node: str, part: list[ProbeResult]) -> None:
            nonlocal taken
            try:
                answer = await self._relay_to(node).results(node, region, part, figures)
            except PeerError as exc:
                log.info("probe %s: %d results for node %s wait: %s", region, len(part), node, exc)
                failed.append(exc)
                return
            taken += answer["accepted"]
            unknown.extend(answer["unknown"])

        async with trio.open_nursery() as nursery:
            for node, part in nodes.items():
                nursery.start_soon(send, node, part)
        if failed:
            raise failed[0]
        return {"accepted": taken, "unknown": unknown}

    def taken_for(self, region: str, results: Sequence[ProbeResult]) -> dict[str, Any]:
        """Results another node took from a probe of ``region`` for monitors of
        organizations this node runs (see :mod:`server.cluster.monitors`),
        counted as if the probe had sent them here. Unavailable, and nothing
        counted, if some are of an organization this node does not run (any
        more): the sender looks for its node again."""
        for r in results:
            found = self.monitors.get(r.monitor)
            if found is not None:
                self._run_here(found[0])
        self._feed(region)
        if results:
            self._heard(region, result=True)  # (its probe is connected to another node)
        unknown: list[str] = []
        return {"accepted": self._count(region, results, unknown), "unknown": unknown}

    def _count(self, region: str, results: Sequence[ProbeResult], unknown: list[str]) -> int:
        """Count the results of monitors this node runs, each id once (those of
        monitors gone go to ``unknown``); how many were new."""
        feed = self._feed(region)
        taken = 0
        for r in results:
            if r.id in feed.seen:
                continue
            feed.seen[r.id] = None
            if len(feed.seen) > SEEN_RESULTS:
                del feed.seen[next(iter(feed.seen))]
            outcome = Outcome(r.outcome, r.latency_ms, r.status_code, r.error, r.cert_expires_at)
            if self.report(region, r.monitor, outcome, r.at):
                taken += 1
            else:
                unknown.append(r.monitor)
        return taken

    async def _node_of(self, org: str) -> str | None:
        """The node that runs ``org``; None when it is this one (which takes the
        organization over if nobody runs it: its lease was free). Unavailable
        when that cannot be known now; NotFound if it was deleted."""
        _, node = await self.registry.locate(org)
        if node is None and not self._runs(org):
            raise Unavailable(f"organization {org!r} changes nodes; try again")
        return node

    def _run_here(self, org: str) -> None:
        """Unavailable unless this node runs ``org`` (asked by a node that
        thought so, it looks for its node again)."""
        if not self._runs(org):
            raise Unavailable(f"organization {org!r} is not run by this node (any more); try again")

    def _relay_to(self, node: str) -> Relay:
        if self.relay is None:
            raise Unavailable(
                f"node {node!r} runs the monitor's organization, and cannot be reached"
            )
        return self.relay

    # -- results --------------------------------------------------------------------

    async def _check(self, org: str, monitor: Monitor) -> None:
        outcome = await self.probe.check(monitor)
        self.own_last_seen = self.registry.clock.now()
        self.report(self.region, monitor.id, outcome)

    async def check_now(self, monitor_id: str) -> tuple[str, Outcome]:
        """Check a monitor now (out of its schedule) from the region of the node
        that runs its organization, and count the result: that region, and the
        outcome."""
        found = self.monitors.get(monitor_id)
        if found is not None and not self._runs(found[0]):
            node = await self._node_of(found[0])
            if node is not None:
                bound = self.registry.limits.database_seconds + CHECK_SECONDS
                return await self._relay_to(node).check(node, monitor_id, bound)
        return self.region, await self.check_here(monitor_id)

    async def check_here(self, monitor_id: str) -> Outcome:
        """Check a monitor of an organization this node runs with its own probe,
        and count the result."""
        found = self.monitors.get(monitor_id)
        if found is not None:
            self._run_here(found[0])
        if found is None or found[1].kind is MonitorKind.HEARTBEAT or self.probe is None:
            raise Conflict(
                "this monitor cannot be checked from here: heartbeats come to the server, and "
                "a server started with --no-probe checks nothing",
                field="monitor",
            )
        outcome: Outcome = await self.probe.check(found[1])
        self.own_last_seen = self.registry.clock.now()
        self.report(self.region, monitor_id, outcome)
        return outcome

    def report(
        self, region: str, monitor_id: str, outcome: Outcome, at: datetime | None = None
    ) -> bool:
        """A probe's result for a monitor of an organization this node runs;
        False if the monitor is unknown (deleted since) or run elsewhere."""
        found = self.monitors.get(monitor_id)
        if found is None or not self._runs(found[0]):
            return False
        org, monitor = found
        if outcome.outcome not in ("up", "degraded", "down"):
            raise ValueError(f"outcome must be up, degraded or down; got {outcome.outcome!r}")
        self.results += 1
        counted = (region, outcome.outcome)
        self.counted[counted] = self.counted.get(counted, 0) + 1
        self.latency[monitor_id] = outcome.latency_ms
        if outcome.expires_at is not None:
            self.cert_expires[monitor_id] = outcome.expires_at
        row = ResultRow(
            monitor_id,
            org,
            region,
            at or datetime.now(UTC),
            outcome.outcome,
            outcome.latency_ms,
            outcome.status_code,
            outcome.error,
        )
        self.buffer.append(row)
        self.latest.setdefault(monitor_id, {})[region] = row
        if len(self.buffer) >= 1_000:
            self._flush_now.set()
        if monitor.paused:
            return True
        tracker = self.trackers[monitor_id]
        now = trio.current_time()
        tracker.record(region, outcome.outcome, outcome.error, now)
        self._judge(org, monitor, tracker, now)
        return True

    def _judge(self, org: str, monitor: Monitor, tracker: Tracker, now: float) -> None:
        """Ask the organization for the verdict of the live regions, when it differs
        from the one it has. Undecided (too few live regions have settled), the
        monitor keeps its verdict: only the regions it is seen failing from move."""
        judged = tracker.judge(now, stale_after(monitor), self.offline, monitor.failing_regions)
        verdict = monitor.verdict if judged.verdict is Verdict.UNKNOWN else judged.verdict
        failing = judged.failing
        error = judged.error or (monitor.error if failing else None)
        want = (verdict, tuple(failing))
        if want == (monitor.verdict, monitor.failing_regions) or self.asked.get(monitor.id) == want:
            self.wanted.pop(monitor.id, None)
            return
        self.wanted[monitor.id] = (org, verdict, tuple(failing), error)
        self._send_now.set()

    async def beat(self, token: str, beat: Beat | None = None) -> bool:
        """A heartbeat arrived (``beat``: what the job said of itself; none: up);
        False if the token names no monitor. It counts on the node that runs
        the monitor's organization: here, or sent there (Unavailable or
        OutcomeUnknown when it could not be)."""
        monitor_id = self.heartbeats.get(heartbeat_digest(token))
        found = None if monitor_id is None else self.monitors.get(monitor_id)
        if monitor_id is None or found is None:
            return False
        beat = beat or Beat()
        if not self._runs(found[0]):
            try:
                node = await self._node_of(found[0])
            except NotFound:
                return False
            if node is not None:
                return await self._relay_to(node).beat(node, monitor_id, beat)
        return self.beat_here(monitor_id, beat)

    def beat_here(self, monitor_id: str, beat: Beat) -> bool:
        """A heartbeat for a monitor of an organization this node runs; False if
        the monitor is gone. A job that says it failed ran: its beat is a
        failure, not a silence."""
        found = self.monitors.get(monitor_id)
        if found is None:
            return False
        self._run_here(found[0])
        self.last_beat[monitor_id] = trio.current_time()
        self.missed_at.pop(monitor_id, None)
        words = beat.msg or None
        if beat.status is BeatStatus.DOWN and words is None:
            words = "the job reported a failure (status=down)"
        outcome = Outcome(beat.status.value, beat.ping, None, words)
        return self.report(HEARTBEAT_REGION, monitor_id, outcome)

    # -- the tasks ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.registry.observers.append(self.observe)
        self.registry.mirrors.append(self.mirror)
        self.registry.lost.append(self.let_go)
        self.registry.regions = self.known_regions
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.scheduler.run)
                nursery.start_soon(self._flusher)
                nursery.start_soon(self._sender)
                nursery.start_soon(self._sweep_heartbeats)
                nursery.start_soon(self._sweep_stale)
                nursery.start_soon(self._forget)
                await self._load_regions()
                await self.discover()
                nursery.start_soon(self._sweep_regions)
                nursery.start_soon(self._announcer)
                task_status.started()
        finally:
            self.registry.observers.remove(self.observe)
            self.registry.mirrors.remove(self.mirror)
            self.registry.lost.remove(self.let_go)
            self.registry.regions = None

    async def _load_regions(self) -> None:
        """The remote regions known before the restart. A live one gets the
        offline bound to report again; an offline one stays so until it does."""
        now = trio.current_time()
        for row in await probe_regions(self.store):
            live = row.state == LIVE
            heard = now if live else float("-inf")
            self.lives[row.name] = Life(
                row.state, heard, heard, row.last_seen, row.changed_at, row.told,
                saved_seen=row.last_seen,
            )  # fmt: skip
            if not live:
                self.offline.add(row.name)
            self._feed(row.name)
            if not row.told:
                self._announce.set()

    async def _sweep_regions(self) -> None:
        """Each remote region's probe, live or offline (see .regions), every
        STALE_SWEEP seconds; a live region's last result written down now and then."""
        while True:
            await trio.sleep(STALE_SWEEP)
            now = trio.current_time()
            for name, life in list(self.lives.items()):
                feed = self._feed(name)
                state = life.judge(now, bool(feed.topic.subscribers), self._intervals(name))
                if state != life.state:
                    self._turn(name, life, state)
                elif (
                    life.last_seen is not None
                    and life.last_seen != life.saved_seen
                    and (
                        life.saved_seen is None
                        or (life.last_seen - life.saved_seen).total_seconds() >= SAVE_SEEN_EVERY
                    )
                ):
                    self._save(name)

    async def _announcer(self) -> None:
        """Write the regions down, and tell the organizations of each probe that
        went offline or came back (one NoteProbe each), until all are told."""
        while True:
            await self._announce.wait()
            self._announce = trio.Event()
            try:
                for name in sorted(self._unsaved):
                    life = self.lives.get(name)
                    if life is None:
                        await forget_probe_region(self.store, name)
                    else:
                        saved = life.last_seen
                        await save_probe_region(
                            self.store,
                            RegionRow(name, life.state, saved, life.changed_at, life.told),
                        )
                        life.saved_seen = saved
                    self._unsaved.discard(name)
                for name, life in list(self.lives.items()):
                    if not life.told:
                        await self._tell(name, life)
            except (Unavailable, StoreError, OSError) as exc:
                log.warning("probe regions: cannot write or tell yet: %s", exc)
                await trio.sleep(1.0)
                self._announce.set()

    async def _tell(self, region: str, life: Life) -> None:
        """Tell each organization whose monitors ``region`` checks that its probe
        went offline (or, if it was told so, that it is back)."""
        state = life.state
        orgs = {
            org
            for org, mon in self.monitors.values()
            if checked_in(mon, region) and self._runs(org)
        }
        if state == LIVE and life.told_offline is not None:
            orgs &= life.told_offline
        command = c.NoteProbe(
            region,
            c.ProbeState.OFFLINE if state == OFFLINE else c.ProbeState.ONLINE,
            life.last_seen,
        )
        for org in sorted(orgs):
            if life.state != state or self.lives.get(region) is not life:
                return  # it changed again meanwhile: the next round tells that
            if state == OFFLINE and life.told_offline is not None and org in life.told_offline:
                continue  # told before a failure of the round
            try:
                await self.registry.execute(org, command, AUTHOR)
            except DomainError as exc:
                log.info("probe region %s: %s not told: %s", region, org, exc)
            if state == OFFLINE and life.told_offline is not None:
                life.told_offline.add(org)
        if life.state == state:
            life.told = True
            if state == LIVE:
                life.told_offline = None
            self._save(region)

    async def discover(self) -> None:
        """Load every organization once, so that its monitors are known (among
        several nodes: follow those another node runs; those with monitors
        stay followed)."""
        after = ""
        while slugs := await self.registry.slugs(after=after, limit=200):
            for slug in slugs:
                try:
                    handle = await self.registry.org(slug)
                except DomainError:
                    continue  # deleted
                except Unavailable:
                    continue  # another node runs it, and nothing here follows it
                if handle.following:
                    self.mirror(slug, handle.state, ())
                else:
                    self.observe(slug, handle.state, ())
            after = slugs[-1]

    async def flush(self) -> None:
        """Write the buffered results now."""
        rows, self.buffer = self.buffer, []
        if not rows:
            return
        try:
            await write_results(self.store, rows)
        except (StoreError, OSError) as exc:
            log.warning("cannot write %d check results yet: %s", len(rows), exc)
            self.buffer = (rows + self.buffer)[-MAX_BUFFER:]
            raise

    async def _flusher(self) -> None:
        while True:
            with trio.move_on_after(self.flush_seconds):
                await self._flush_now.wait()
            self._flush_now = trio.Event()
            try:
                await self.flush()
            except (StoreError, OSError):
                await trio.sleep(1.0)

    async def _sender(self) -> None:
        while True:
            await self._send_now.wait()
            self._send_now = trio.Event()
            wanted, self.wanted = self.wanted, {}
            for monitor_id, (org, verdict, failing, error) in wanted.items():
                command = c.SetMonitorState(monitor_id, verdict, list(failing), error)
                try:
                    await self.registry.execute(org, command, AUTHOR)
                    self.asked[monitor_id] = (verdict, failing)
                except DomainError as exc:
                    log.info("monitor %s: verdict %s not taken: %s", monitor_id, verdict, exc)
                except (Unavailable, StoreError, OSError) as exc:
                    log.warning("monitor %s: verdict %s not sent yet: %s", monitor_id, verdict, exc)
                    self.wanted.setdefault(monitor_id, (org, verdict, failing, error))
                    await trio.sleep(1.0)
                    self._send_now.set()

    async def _sweep_heartbeats(self) -> None:
        while True:
            await trio.sleep(1.0)
            now = trio.current_time()
            for monitor_id in list(self.heartbeats.values()):
                found = self.monitors.get(monitor_id)
                if found is None or found[1].paused or not self._runs(found[0]):
                    continue
                monitor = found[1]
                last = self.last_beat.get(monitor_id, now)
                silent = now - last
                if silent <= monitor.interval + monitor.grace:
                    continue
                if now - self.missed_at.get(monitor_id, 0.0) < monitor.interval:
                    continue  # one missed beat per interval
                self.missed_at[monitor_id] = now
                error = f"no heartbeat for {silent:,.0f} s (expected every {monitor.interval} s)"
                self.report(HEARTBEAT_REGION, monitor_id, Outcome("down", error=error))

    async def _sweep_stale(self) -> None:
        """Judge again the monitors whose regions went stale without a new result
        (a probe that died says nothing more): within STALE_SWEEP seconds."""
        while True:
            await trio.sleep(STALE_SWEEP)
            now = trio.current_time()
            for monitor_id, tracker in list(self.trackers.items()):
                if tracker.wake > now:
                    continue
                found = self.monitors.get(monitor_id)
                if found is None or found[1].paused:
                    tracker.wake = float("inf")  # judged again when it has results
                    continue
                self._judge(found[0], found[1], tracker, now)

    async def _forget(self) -> None:
        while True:
            now = datetime.now(UTC)
            try:
                await forget_results(self.store, now - self.retention)
                await forget_rollups(self.store, now - timedelta(days=ROLLUP_DAYS))
                await forget_verdicts(self.store, now - timedelta(days=ROLLUP_DAYS))
            except (StoreError, OSError) as exc:
                log.warning("cannot forget old check results yet: %s", exc)
            await trio.sleep(3600)
