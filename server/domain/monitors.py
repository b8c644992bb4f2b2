"""Monitors: what the organization's probes check, and what a confirmed outage does.

A monitor belongs to one service. Probes in one or more regions check it
every ``interval`` seconds and report each result; a region counts as down
after ``down_after`` failures in a row and up again after ``up_after``
successes (flapping is damped), and the monitor is down only when at least
``quorum`` regions agree. That verdict reaches the organization's actor as a
:class:`~server.domain.commands.SetMonitorState` command, and the monitor's
``policy`` says what it does: set the service's status, open (and later
resolve) an incident, or only record it.

Results themselves never pass through the organization's event log (there
are many); only changes of verdict do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .dsn import shown_dsn
from .values import ServiceStatus, iso, iso_or_none, parse_iso, parse_iso_or_none


class MonitorKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"
    DNS = "dns"
    PING = "ping"
    WEBSOCKET = "websocket"
    POSTGRES = "postgres"
    GRPC = "grpc"
    HEARTBEAT = "heartbeat"  # a job calls /api/v1/heartbeat/{token}; silence is failure


class MonitorPolicy(StrEnum):
    STATUS = "status"  # set the service's status while down, restore it after
    INCIDENT = "incident"  # open an incident while down, resolve it after
    NONE = "none"  # record only


class Verdict(StrEnum):
    UNKNOWN = "unknown"  # not enough results yet
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


#: What a verdict asks of the service, but ``down``: the monitor's own ``down_status``.
EFFECT: Mapping[Verdict, ServiceStatus | None] = {
    Verdict.UNKNOWN: None,
    Verdict.UP: None,
    Verdict.DEGRADED: ServiceStatus.DEGRADED_PERFORMANCE,
    Verdict.DOWN: None,
}

FLAP_CHANGES = 4  # verdict changes within the flap window that make a monitor flapping
OPENED_KEPT = 20  # the incidents a monitor opened that it remembers (the latest)
RESOLVE_AFTER = 300  # seconds up before the incident a monitor opened is resolved (default)


#: What a spec holds that is write-only: it may carry credentials. Members see
#: the header names but not their values, whether a body is set, and a
#: PostgreSQL DSN without its password.
SECRET_FIELDS = ("headers", "body", "dsn")
#: What members are shown in place of the secrets; ignored when sent back.
SHOWN_ONLY = ("body_set", "dsn_shown")


def shown_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec as members see it: each header's value is ``null``, the body is
    replaced by ``body_set`` and the DSN by ``dsn_shown`` (its password
    ``***``). Sending that back in an update keeps them all."""
    shown = {k: v for k, v in spec.items() if k not in SECRET_FIELDS}
    if "headers" in spec:
        shown["headers"] = dict.fromkeys(spec["headers"])
    if "body" in spec:
        shown["body_set"] = spec["body"] is not None
    if "dsn" in spec:
        shown["dsn_shown"] = shown_dsn(str(spec["dsn"]))
    return shown


def kept_secrets(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """An update's spec with the secrets it does not restate kept from ``old``:
    no ``body`` keeps the body (``null`` removes it), no ``headers`` keeps them
    all, a header whose value is ``null`` keeps that header's value, and no
    ``dsn`` (or a ``null`` one) keeps the DSN."""
    merged = {k: v for k, v in new.items() if k not in SHOWN_ONLY}
    if "body" not in merged and old.get("body") is not None:
        merged["body"] = old["body"]
    if merged.get("dsn") is None and old.get("dsn") is not None:
        merged["dsn"] = old["dsn"]
    if "headers" not in merged:
        if old.get("headers"):
            merged["headers"] = dict(old["headers"])
    elif isinstance(merged["headers"], Mapping):
        before = old.get("headers") or {}
        merged["headers"] = {
            name: before.get(name) if value is None and name in before else value
            for name, value in merged["headers"].items()
        }
    return merged


def checked_in(monitor: Monitor, region: str) -> bool:
    """Whether probes of ``region`` check ``monitor`` (heartbeats have no probe;
    paused monitors are checked nowhere; no ``regions``: everywhere)."""
    return (
        monitor.kind is not MonitorKind.HEARTBEAT
        and not monitor.paused
        and (not monitor.regions or region in monitor.regions)
    )


def redact(details: Any) -> Any:
    """A command's fields with a spec's secrets hidden, for the audit log."""
    if isinstance(details, Mapping) and isinstance(details.get("spec"), Mapping):
        return {**details, "spec": shown_spec(details["spec"])}
    return details


@dataclass(frozen=True, slots=True)
class Monitor:
    id: str
    name: str
    service_id: str
    kind: MonitorKind
    spec: Mapping[str, Any]  # the kind's settings (server.domain.specs), JSON form
    interval: int  # seconds between checks in each region
    regions: tuple[str, ...]  # where it is checked; empty: every region there is
    quorum: int  # regions that must agree before it is down
    down_after: int  # failures in a row before a region counts as down
    up_after: int  # successes in a row before a region counts as up again
    policy: MonitorPolicy
    down_status: ServiceStatus  # what the service shows while the monitor is down
    grace: int  # heartbeat: seconds of lateness forgiven
    paused: bool
    created_at: datetime
    updated_at: datetime
    # SHA-256 of the heartbeat token (never the token; not reversible, so shown
    # to members like the rest)
    heartbeat_hash: str | None = None
    resolve_after: int = RESOLVE_AFTER  # seconds up before its incident is resolved
    verdict: Verdict = Verdict.UNKNOWN
    verdict_since: datetime | None = None
    failing_regions: tuple[str, ...] = ()  # regions that see it down (or degraded)
    error: str | None = None  # the last failure's words
    incident_id: str | None = None  # the incident this monitor opened and will resolve
    # The incidents it opened, oldest first: the last OPENED_KEPT (monitors
    # made before it was kept remember those opened since).
    opened_incidents: tuple[str, ...] = ()
    changes: tuple[datetime, ...] = ()  # its verdict's changes within the flap window
    flapping_since: datetime | None = None

    def effect(self, verdict: Verdict | None = None) -> ServiceStatus | None:
        """What a verdict (by default its own) asks of the service; while the
        monitor flaps, the worst it has seen."""
        verdict = self.verdict if verdict is None else verdict
        if self.flapping_since is not None or verdict is Verdict.DOWN:
            return self.down_status
        return EFFECT[verdict]

    def asks(self) -> ServiceStatus | None:
        """What this monitor holds its service to: its effect, under the status
        policy and while it runs; nothing otherwise (the incident policy acts
        through its incident)."""
        if self.policy is not MonitorPolicy.STATUS or self.paused:
            return None
        return self.effect()

    @property
    def flap_window(self) -> timedelta:
        """How far back changes count towards flapping, and how long a flapping
        monitor must stay still to be stable again."""
        return timedelta(seconds=max(600, 20 * self.interval))

    def to_dict(self, *, public: bool = False, stored: bool = False) -> dict[str, Any]:
        """The monitor as members see it (its secrets write-only, see
        :func:`shown_spec`), as the public sees it, or whole (``stored``: for
        the event log, snapshots and the probes that must send the secrets)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "service_id": self.service_id,
            "kind": self.kind.value,
            "verdict": self.verdict.value,
            "verdict_since": iso_or_none(self.verdict_since),
            "failing_regions": list(self.failing_regions),
        }
        if public:
            return out
        out.update(
            {
                "spec": dict(self.spec) if stored else shown_spec(self.spec),
                "interval": self.interval,
                "regions": list(self.regions),
                "quorum": self.quorum,
                "down_after": self.down_after,
                "up_after": self.up_after,
                "policy": self.policy.value,
                "down_status": self.down_status.value,
                "grace": self.grace,
                "resolve_after": self.resolve_after,
                "paused": self.paused,
                "error": self.error,
                "incident_id": self.incident_id,
                "opened_incidents": list(self.opened_incidents),
                "flapping": self.flapping_since is not None,
                "flapping_since": iso_or_none(self.flapping_since),
                "changes": [iso(t) for t in self.changes],
                "heartbeat_hash": self.heartbeat_hash,
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            }
        )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Monitor:
        return cls(
            id=d["id"],
            name=d["name"],
            service_id=d["service_id"],
            kind=MonitorKind(d["kind"]),
            spec=d["spec"],
            interval=d["interval"],
            regions=tuple(d["regions"]),
            quorum=d["quorum"],
            down_after=d["down_after"],
            up_after=d["up_after"],
            policy=MonitorPolicy(d["policy"]),
            down_status=ServiceStatus(d["down_status"]),
            grace=d["grace"],
            paused=d["paused"],
            created_at=parse_iso(d["created_at"]),
            updated_at=parse_iso(d["updated_at"]),
            heartbeat_hash=d.get("heartbeat_hash"),
            resolve_after=d.get("resolve_after", RESOLVE_AFTER),
            verdict=Verdict(d["verdict"]),
            verdict_since=parse_iso_or_none(d.get("verdict_since")),
            failing_regions=tuple(d.get("failing_regions", ())),
            error=d.get("error"),
            incident_id=d.get("incident_id"),
            opened_incidents=tuple(d.get("opened_incidents", ())),
            changes=tuple(parse_iso(t) for t in d.get("changes", ())),
            flapping_since=parse_iso_or_none(d.get("flapping_since")),
        )


def monitor_due(monitor: Monitor, incidents: Mapping[str, Any]) -> datetime | None:
    """When the organization's actor must next act on this monitor by itself."""
    if monitor.paused:
        return None
    if monitor.flapping_since is not None and monitor.changes:
        return monitor.changes[-1] + monitor.flap_window
    incident = incidents.get(monitor.incident_id or "")
    if (
        incident is not None
        and incident.active
        and monitor.verdict is Verdict.UP
        and monitor.verdict_since is not None
    ):
        return monitor.verdict_since + timedelta(seconds=monitor.resolve_after)
    return None
