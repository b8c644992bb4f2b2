"""``GET /metrics``: the server's figures in Prometheus' text format.

Everything is read at scrape time from what the parts already keep (the
listener's and the gateway's counts, each actor's figures, the topics' flows,
the collector's pauses, the monitoring's results and regions, the
notification worker's attempts): nothing is updated on a request's or a
broadcast's path for the sake of this page. The one figure that needs the
database, the notification queue, is read just before (bounded by
:data:`QUEUE_SECONDS`).

Monitors follow Uptime Kuma's names and labels (``monitor_status``,
``monitor_response_time``, ``monitor_cert_days_remaining``,
``monitor_cert_is_valid``), so dashboards made for Kuma work; the rest is
``switchboard_*``. Among several nodes, each node reports its own: its
connections, the actors and monitors it runs, its probe; Prometheus' ``instance``
label tells them apart (and ``switchboard_info`` names the node).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

import trio
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from . import __version__, gcwatch
from .actors.base import COMMIT_BUCKETS
from .actors.topic import FLOWS
from .domain.monitors import Monitor, MonitorKind, Verdict
from .domain.values import ServiceStatus, parse_iso
from .monitoring.scheduler import LAG_BUCKETS
from .store import StoreError

if TYPE_CHECKING:
    from .actors.registry import Registry
    from .main import Server

log = logging.getLogger(__name__)

QUEUE_SECONDS: Final = 1.0  # the notification queue's count waits no longer than this
TOPIC_KINDS: Final = ("status", "org", "room", "probe")
ACTOR_KINDS: Final = ("org", "room")

#: Uptime Kuma's ``monitor_status`` values.
KUMA_DOWN, KUMA_UP, KUMA_PENDING, KUMA_MAINTENANCE = 0, 1, 2, 3
MONITOR_LABELS: Final = (
    "org",
    "monitor_id",
    "monitor_name",
    "monitor_type",
    "monitor_url",
    "monitor_hostname",
    "monitor_port",
)


def histogram(
    name: str,
    doc: str,
    labels: Sequence[str],
    series: Iterable[tuple[Sequence[str], Sequence[float], Sequence[int], float]],
) -> HistogramMetricFamily:
    """A histogram from per-bucket counts (not cumulative): ``(label values,
    upper bounds, counts with one more for +Inf, sum)`` for each series."""
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for values, bounds, counts, total in series:
        cumulative, running = [], 0
        for bound, count in zip((*bounds, float("inf")), counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        family.add_metric(list(values), cumulative, total)
    return family


def monitor_labels(org: str, monitor: Monitor) -> list[str]:
    """A monitor's labels, as Uptime Kuma names them (plus its organization).
    An address's user and password are never shown."""
    spec = monitor.spec
    url = spec.get("url") if monitor.kind is MonitorKind.HTTP else None
    host = spec.get("host") if monitor.kind in (MonitorKind.TCP, MonitorKind.TLS) else None
    port = spec.get("port", 443 if monitor.kind is MonitorKind.TLS else None) if host else None
    return [
        org,
        monitor.id,
        monitor.name,
        monitor.kind.value,
        _without_credentials(url) if isinstance(url, str) else "",
        host if isinstance(host, str) else "",
        str(port) if port is not None else "",
    ]


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


class Metrics:
    """The collector of one server's figures, and its scrape."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.registry.register(ProcessCollector(registry=None))
        self.registry.register(PlatformCollector(registry=None))
        self._queue: dict[str, int] | None = None

    async def scrape(self, accept: str | None) -> tuple[bytes, str]:
        """The page, in the format ``accept`` asks for (Prometheus' text format,
        or OpenMetrics), and its content type."""
        self._queue = await self._read_queue()
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    async def _read_queue(self) -> dict[str, int] | None:
        notifier = self.server.notifier
        if notifier is None:
            return None
        with trio.move_on_after(QUEUE_SECONDS):
            with contextlib.suppress(StoreError, OSError):
                found: dict[str, int] = await notifier.queue()
                return found
        log.info("metrics: the notification queue could not be counted in time")
        return None

    # -- the collector ---------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []  # read live at each scrape: nothing to declare beforehand

    def collect(self) -> Iterator[Metric]:
        yield from self._process()
        yield from self._connections()
        yield from self._actors()
        yield from self._gc()
        yield from self._monitoring()
        yield from self._monitors()
        yield from self._notifications()

    def _process(self) -> Iterator[Metric]:
        config = self.server.config
        info = GaugeMetricFamily(
            "switchboard_info",
            "The server: its version, node id (among several nodes) and probe region",
            labels=["version", "node", "region"],
        )
        info.add_metric([__version__, config.node_id or "", config.region], 1)
        yield info

    def _connections(self) -> Iterator[Metric]:
        listener, gateway = self.server.listener, self.server.gateway
        if listener is not None:
            yield GaugeMetricFamily(
                "switchboard_connections_open",
                "TCP connections open (HTTP and WebSocket alike)",
                value=listener.open,
            )
            yield GaugeMetricFamily(
                "switchboard_connections_capacity",
                "Connections served at most (more are refused, but for the reserve)",
                value=listener.capacity,
            )
            yield CounterMetricFamily(
                "switchboard_connections_shed",
                "Connections refused for want of room (503, or a 1013 close)",
                value=listener.shed,
            )
            if listener.fast is not None:
                reads = CounterMetricFamily(
                    "switchboard_fast_reads",
                    "Public documents on the listener's fast road: answered from what it kept,"
                    " made by the app; connections handed to the framework",
                    labels=["outcome"],
                )
                for outcome, value in listener.fast.figures().items():
                    reads.add_metric([outcome], value)
                yield reads
        if gateway is None:
            return
        stats = gateway.stats
        yield GaugeMetricFamily(
            "switchboard_websocket_connections",
            "WebSocket connections open",
            value=len(gateway.connections),
        )
        for name, doc, value in (
            ("accepted", "WebSocket handshakes accepted", stats.accepted),
            ("handshakes_rejected", "WebSocket handshakes refused", stats.rejected_handshakes),
            (
                "slow_consumer_closes",
                "WebSocket connections closed for falling behind (4008)",
                stats.slow_consumers,
            ),
            (
                "heartbeat_timeouts",
                "WebSocket connections closed for silence (4000)",
                stats.heartbeat_timeouts,
            ),
            ("errors_sent", "error frames sent to clients", stats.errors_sent),
        ):
            yield CounterMetricFamily(f"switchboard_websocket_{name}", doc, value=value)
        subscribers = GaugeMetricFamily(
            "switchboard_subscribers",
            "Subscriptions of this node's WebSocket connections, by topic kind",
            labels=["kind"],
        )
        subscribed = GaugeMetricFamily(
            "switchboard_subscribed_connections",
            "WebSocket connections with at least one subscription of the kind",
            labels=["kind"],
        )
        counts = dict.fromkeys(TOPIC_KINDS, 0)
        connections = dict.fromkeys(TOPIC_KINDS, 0)
        for conn in list(gateway.connections):
            kinds = set()
            for name in conn.memberships:
                kind = name.partition(":")[0]
                counts[kind] = counts.get(kind, 0) + 1
                kinds.add(kind)
            for kind in kinds:
                connections[kind] = connections.get(kind, 0) + 1
        for kind in counts:
            subscribers.add_metric([kind], counts[kind])
            subscribed.add_metric([kind], connections.get(kind, 0))
        yield subscribers
        yield subscribed
        events = CounterMetricFamily(
            "switchboard_topic_events",
            "Events published on the topics of a kind (in this process)",
            labels=["kind"],
        )
        deliveries = CounterMetricFamily(
            "switchboard_topic_deliveries",
            "Writes of published events to subscribers (one per subscriber and publish)",
            labels=["kind"],
        )
        sent = CounterMetricFamily(
            "switchboard_topic_sent_bytes",
            "Bytes of published events handed to subscribers' sockets",
            labels=["kind"],
        )
        for kind in sorted({*TOPIC_KINDS, *FLOWS}):
            flow = FLOWS.get(kind)
            events.add_metric([kind], flow.events if flow else 0)
            deliveries.add_metric([kind], flow.deliveries if flow else 0)
            sent.add_metric([kind], flow.bytes if flow else 0)
        yield events
        yield deliveries
        yield sent

    def _actors(self) -> Iterator[Metric]:
        registry = self.server.registry
        if registry is None:
            return
        running = GaugeMetricFamily(
            "switchboard_actors", "Actors running (or following another node's)", labels=["kind"]
        )
        depth = GaugeMetricFamily(
            "switchboard_actor_inbox_depth",
            "Requests waiting in the actors' inboxes, summed",
            labels=["kind"],
        )
        deepest = GaugeMetricFamily(
            "switchboard_actor_inbox_depth_max",
            "Requests waiting in the fullest actor's inbox",
            labels=["kind"],
        )
        alive: dict[str, list[int]] = {kind: [] for kind in ACTOR_KINDS}
        for handle in registry.running():
            waiting = handle.inbox.statistics().current_buffer_used
            alive.setdefault(handle.kind, []).append(waiting)
        for kind, waits in alive.items():
            running.add_metric([kind], len(waits))
            depth.add_metric([kind], sum(waits))
            deepest.add_metric([kind], max(waits, default=0))
        yield running
        yield depth
        yield deepest
        totals = registry.actor_stats()
        families = {
            "commands": CounterMetricFamily(
                "switchboard_actor_commands",
                "Requests the actors decided (accepted or refused)",
                labels=["kind"],
            ),
            "commits": CounterMetricFamily(
                "switchboard_actor_commits",
                "Appends to the event log (one per batch that made events)",
                labels=["kind"],
            ),
            "events": CounterMetricFamily(
                "switchboard_actor_events", "Events appended to the log", labels=["kind"]
            ),
            "restarts": CounterMetricFamily(
                "switchboard_actor_restarts",
                "Actors rebuilt from the store after a crash",
                labels=["kind"],
            ),
        }
        for kind, stats in sorted(totals.items()):
            for field, family in families.items():
                family.add_metric([kind], getattr(stats, field))
        yield from families.values()
        yield histogram(
            "switchboard_actor_commit_seconds",
            "How long appends to the event log took, from sent to durable",
            ["kind"],
            (
                ([kind], COMMIT_BUCKETS, stats.commit_buckets, stats.commit_seconds)
                for kind, stats in sorted(totals.items())
            ),
        )
        rooms = totals.get("room")
        yield CounterMetricFamily(
            "switchboard_room_operations",
            "Text operations applied in rooms",
            value=rooms.ops if rooms else 0,
        )

    def _gc(self) -> Iterator[Metric]:
        pauses = self.server.gc_pauses
        bounds = [ms / 1000 for ms in gcwatch.BUCKETS_MS]
        yield histogram(
            "switchboard_gc_pause_seconds",
            "How long the garbage collector stopped the process, by generation",
            ["generation"],
            (
                ([str(g)], bounds, pauses.counts[g], pauses.total[g])
                for g in range(len(pauses.counts))
            ),
        )
        collected = CounterMetricFamily(
            "switchboard_gc_collected_objects",
            "Unreachable objects the collector found (garbage that had cycles)",
            labels=["generation"],
        )
        for g, count in enumerate(pauses.collected):
            collected.add_metric([str(g)], count)
        yield collected
        yield GaugeMetricFamily(
            "switchboard_gc_frozen_objects",
            "Objects kept out of the collector's scans",
            value=gc.get_freeze_count(),
        )

    def _monitoring(self) -> Iterator[Metric]:
        monitoring = self.server.monitoring
        if monitoring is None:
            return
        results = CounterMetricFamily(
            "switchboard_check_results",
            "Check results taken, by the region that reported them and their outcome",
            labels=["region", "outcome"],
        )
        counted = {
            (region, outcome): 0
            for region in monitoring.known_regions()
            for outcome in ("up", "degraded", "down")
        }
        counted.update(monitoring.counted)
        for (region, outcome), count in sorted(counted.items()):
            results.add_metric([region, outcome], count)
        yield results
        yield GaugeMetricFamily(
            "switchboard_check_results_waiting",
            "Check results waiting to be written to the database",
            value=len(monitoring.buffer),
        )
        yield GaugeMetricFamily(
            "switchboard_monitors",
            "Monitors of the organizations this node runs",
            value=len(monitoring.monitors),
        )
        # Each region's scheduler: the server's own probe's, and each remote
        # probe's as it last reported it (with its results) to this node.
        lags: list[tuple[list[str], Sequence[float], Sequence[int], float]] = []
        skipped = CounterMetricFamily(
            "switchboard_checks_skipped",
            "Checks not started: the monitor's last check was still running",
            labels=["region"],
        )
        busy = GaugeMetricFamily(
            "switchboard_checks_running",
            "Checks under way in the region's probe",
            labels=["region"],
        )
        if monitoring.probe is not None:
            region, scheduler = monitoring.region, monitoring.scheduler
            lag = scheduler.lag
            lags.append(([region], LAG_BUCKETS, lag.buckets, lag.total))
            skipped.add_metric([region], lag.skipped)
            busy.add_metric([region], len(scheduler.running))
        for name, life in sorted(monitoring.lives.items()):
            figures = life.figures
            if figures is not None and figures.lag_buckets:
                lags.append(([name], LAG_BUCKETS, figures.lag_buckets, figures.lag_sum))
                skipped.add_metric([name], figures.checks_skipped)
                busy.add_metric([name], figures.running)
        if lags:
            yield histogram(
                "switchboard_check_lag_seconds",
                "How late each region's probe started its checks",
                ["region"],
                lags,
            )
            yield skipped
            yield busy
        up = GaugeMetricFamily(
            "switchboard_probe_up",
            "Whether a region's probe is live (1) or offline (0)",
            labels=["region"],
        )
        connected = GaugeMetricFamily(
            "switchboard_probe_connected",
            "Whether a probe of the region is connected to this node",
            labels=["region"],
        )
        age = GaugeMetricFamily(
            "switchboard_probe_last_result_age_seconds",
            "Seconds since the region's probe last reported a result (its staleness)",
            labels=["region"],
        )
        assigned = GaugeMetricFamily(
            "switchboard_probe_monitors",
            "Monitors the region's probe checks",
            labels=["region"],
        )
        now = datetime.now(UTC)
        for view in monitoring.regions_view():
            name = view["region"]
            up.add_metric([name], 1 if view["state"] == "live" else 0)
            connected.add_metric([name], 1 if view["connected"] else 0)
            assigned.add_metric([name], view["monitors"])
            last = view["last_seen"]
            if last is not None:
                seen = parse_iso(last)
                age.add_metric([name], max(0.0, (now - seen).total_seconds()))
        yield up
        yield connected
        yield age
        yield assigned

    def _monitors(self) -> Iterator[Metric]:
        """Each monitor of the organizations this node runs, as Uptime Kuma
        exports them; paused ones are left out, as Kuma does."""
        monitoring, registry = self.server.monitoring, self.server.registry
        status = GaugeMetricFamily(
            "monitor_status",
            "Monitor Status (1 = UP, 0 = DOWN, 2 = PENDING, 3 = MAINTENANCE)",
            labels=list(MONITOR_LABELS),
        )
        latency = GaugeMetricFamily(
            "monitor_response_time",
            "Monitor Response Time (ms) of its last result; -1 without one",
            labels=list(MONITOR_LABELS),
        )
        days = GaugeMetricFamily(
            "monitor_cert_days_remaining",
            "The number of days remaining until the certificate expires",
            labels=list(MONITOR_LABELS),
        )
        valid = GaugeMetricFamily(
            "monitor_cert_is_valid",
            "Is the certificate still valid? (1 = Yes, 0 = No)",
            labels=list(MONITOR_LABELS),
        )
        if monitoring is not None and registry is not None:
            now = datetime.now(UTC)
            for monitor_id, (org, monitor) in sorted(monitoring.monitors.items()):
                if monitor.paused:
                    continue
                labels = monitor_labels(org, monitor)
                status.add_metric(
                    labels, _kuma_status(monitor, _service_status(registry, org, monitor))
                )
                measured = monitoring.latency.get(monitor_id)
                latency.add_metric(labels, -1 if measured is None else measured)
                expires = monitoring.cert_expires.get(monitor_id)
                if expires is not None:
                    left = (expires - now).total_seconds()
                    days.add_metric(labels, left // 86_400)
                    valid.add_metric(labels, 1 if left > 0 else 0)
        yield status
        yield latency
        yield days
        yield valid

    def _notifications(self) -> Iterator[Metric]:
        notifier = self.server.notifier
        if notifier is None:
            return
        if self._queue is not None:
            yield GaugeMetricFamily(
                "switchboard_notifications_pending",
                "Notifications waiting to be sent, in every organization (the database's:"
                " every node sees the same)",
                value=self._queue["pending"],
            )
            yield GaugeMetricFamily(
                "switchboard_notifications_due",
                "Of those, the ones due now (a worker that keeps up has few)",
                value=self._queue["due"],
            )
        attempts = CounterMetricFamily(
            "switchboard_notification_attempts",
            "This node's attempts to send a notification, by what came of them (failed: for good)",
            labels=["outcome"],
        )
        for outcome, count in notifier.attempts.items():
            attempts.add_metric([outcome], count)
        yield attempts


def _service_status(registry: Registry, org: str, monitor: Monitor) -> ServiceStatus | None:
    handle = registry.loaded_org(org)
    if handle is None:
        return None
    service = handle.state.services.get(monitor.service_id)
    return None if service is None else service.status


def _kuma_status(monitor: Monitor, service: ServiceStatus | None) -> int:
    """Kuma's value for a verdict: a degraded monitor answered (up, as Kuma
    counts a slow answer); no verdict yet is pending; a monitor whose service
    is under maintenance is in maintenance."""
    if service is ServiceStatus.UNDER_MAINTENANCE:
        return KUMA_MAINTENANCE
    if monitor.verdict is Verdict.DOWN:
        return KUMA_DOWN
    if monitor.verdict is Verdict.UNKNOWN:
        return KUMA_PENDING
    return KUMA_UP
