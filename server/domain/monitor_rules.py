"""The rules for monitors: making and changing them, and what a verdict does.

A verdict's effect is a service status (:meth:`Monitor.effect`): ``down`` asks
for the monitor's ``down_status`` (a major outage unless set otherwise),
``degraded`` for degraded performance, ``up`` and ``unknown`` for nothing. The
policy carries the effect out:

* ``status``: the service is held to it while it lasts (the worst of what
  holds a service is what it shows: see rules.py and holds.py);
* ``incident``: an incident is opened that requires it of the service (so the
  service follows, as with any incident) and updated when the effect changes;
  when the monitor is up again the incident moves to ``monitoring`` and the
  service to operational at once, and the incident is resolved once that has
  held for the monitor's ``resolve_after`` (a failure meanwhile reopens the
  same incident; 0 resolves it at once);
* ``none``: the verdict is only recorded.

While the service is under maintenance, verdicts are recorded and muted: no
incident, no alert; when the maintenance ends, what they say applies at once.
A monitor whose verdict changes FLAP_CHANGES times within its flap window is
*flapping*: it is told once, holds the service to its down status (and its
incident open) and says nothing more until it has been still for a window.
The words the public reads come from texts.py: the service's name, the
regions' public labels and a plain reason, never the monitor's own name or
a raw error.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from ..errors import Conflict, ValidationError
from . import commands as c
from . import texts
from .dsn import DsnError, parse_dsn
from .holds import settle, shown_status
from .model import IncidentStatus, ServiceStatus, iso, iso_or_none
from .monitors import (
    FLAP_CHANGES,
    OPENED_KEPT,
    SHOWN_ONLY,
    Monitor,
    MonitorKind,
    MonitorPolicy,
    Verdict,
    kept_secrets,
    monitor_due,
)
from .schema import MISSING
from .specs import parse_spec, spec_to_dict
from .transaction import Tx, find_monitor, find_service

MAX_MONITORS = 1_000  # per organization


def _check_spec(kind: MonitorKind, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in spec.items() if k not in SHOWN_ONLY}  # what members are shown
    if kind is MonitorKind.HEARTBEAT:
        if spec:
            raise ValidationError("a heartbeat monitor takes no spec", field="spec")
        return {}
    return spec_to_dict(parse_spec(kind.value, spec, prefix="spec."))


def _check_regions(
    kind: MonitorKind, regions: tuple[str, ...], quorum: int, reporting: frozenset[str] | None
) -> None:
    """A quorum that can be met: at most the regions named, or (none named: checked
    everywhere) the regions that report (``reporting``; None: not known, not
    checked); a heartbeat has one region, the server's judgement of its beats."""
    if len(set(regions)) != len(regions):
        raise ValidationError("regions must not repeat", field="regions")
    if kind is MonitorKind.HEARTBEAT:
        if quorum != 1:
            raise ValidationError(
                f"a heartbeat monitor has one region (the server, which hears its beats):"
                f" its quorum must be 1, not {quorum}",
                field="quorum",
            )
        return
    if regions and quorum > len(regions):
        raise ValidationError(
            f"quorum {quorum} is more than the {len(regions)} regions named", field="quorum"
        )
    if not regions and reporting is not None and quorum > len(reporting):
        named = f" ({', '.join(sorted(reporting))})" if reporting else ""
        count = {0: "no region reports", 1: "1 region reports"}.get(
            len(reporting), f"{len(reporting)} regions report"
        )
        raise ValidationError(
            f"quorum {quorum} cannot be met: {count}{named}; ask for fewer, or run more probes",
            field="quorum",
        )


def _check_status(status: ServiceStatus) -> None:
    if status in (ServiceStatus.OPERATIONAL, ServiceStatus.UNDER_MAINTENANCE):
        raise ValidationError(
            "down_status must be degraded_performance, partial_outage or major_outage",
            field="down_status",
        )


def _check_unique(state: Any, name: str, other_than: str | None = None) -> None:
    folded = name.casefold()
    for monitor in state.monitors.values():
        if monitor.id != other_than and monitor.name.casefold() == folded:
            raise Conflict(f"a monitor called {monitor.name!r} exists", field="name")


def _put(
    tx: Tx, monitor: Monitor, *, created: bool = False, extra: dict[str, Any] | None = None
) -> None:
    name = "monitor.created" if created else "monitor.updated"
    tx.emit(name, {"monitor": monitor.to_dict(stored=True), **(extra or {})})


def _create(tx: Tx, cmd: c.CreateMonitor) -> Any:
    state = tx.state
    if len(state.monitors) >= MAX_MONITORS:
        raise ValidationError(
            f"an organization may have at most {MAX_MONITORS} monitors", field="name"
        )
    _check_unique(state, cmd.name)
    service = find_service(state, cmd.service)
    spec = _check_spec(cmd.kind, cmd.spec)
    regions = tuple(cmd.regions)
    _check_regions(cmd.kind, regions, cmd.quorum, tx.ctx.regions)
    _check_status(cmd.down_status)
    token = None
    if cmd.kind is MonitorKind.HEARTBEAT:
        token = (tx.ctx.new_secret or _new_token)()

    monitor = Monitor(
        id=tx.ctx.new_id(),
        name=cmd.name,
        service_id=service.id,
        kind=cmd.kind,
        spec=spec,
        interval=cmd.interval,
        regions=regions,
        quorum=cmd.quorum,
        down_after=cmd.down_after,
        up_after=cmd.up_after,
        policy=cmd.policy,
        down_status=cmd.down_status,
        grace=cmd.grace,
        resolve_after=cmd.resolve_after,
        paused=cmd.paused,
        created_at=tx.ctx.now,
        updated_at=tx.ctx.now,
        heartbeat_hash=None if token is None else heartbeat_digest(token),
    )
    _put(tx, monitor, created=True)
    out = monitor.to_dict()
    if token is not None:
        out["heartbeat_token"] = token  # shown once: only its hash is kept
    return out


def _new_token() -> str:
    return "sbh_" + secrets.token_urlsafe(32)


def heartbeat_digest(token: str) -> str:
    """What is kept of a heartbeat token, and what a beat is looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def _update(tx: Tx, cmd: c.UpdateMonitor) -> Any:
    old = find_monitor(tx.state, cmd.monitor)
    changes: dict[str, Any] = {}
    if cmd.name is not MISSING and cmd.name != old.name:
        _check_unique(tx.state, cmd.name, other_than=old.id)
        changes["name"] = cmd.name
    if cmd.service is not MISSING:
        changes["service_id"] = find_service(tx.state, cmd.service).id
    if cmd.spec is not MISSING:
        changes["spec"] = _check_spec(old.kind, kept_secrets(old.spec, cmd.spec))
    if cmd.regions is not MISSING:
        changes["regions"] = tuple(cmd.regions)
    if cmd.down_status is not MISSING:
        _check_status(cmd.down_status)
        changes["down_status"] = cmd.down_status
    for attr in (
        "interval",
        "quorum",
        "down_after",
        "up_after",
        "policy",
        "grace",
        "resolve_after",
        "paused",
    ):
        value = getattr(cmd, attr)
        if value is not MISSING:
            changes[attr] = value
    new = replace(old, **changes)
    if (new.regions, new.quorum) != (old.regions, old.quorum):  # else: as it was accepted
        _check_regions(new.kind, new.regions, new.quorum, tx.ctx.regions)
    if new == old:
        return old.to_dict()
    # What the old settings did ends; a new verdict comes from the probes.
    if new.paused or new.service_id != old.service_id or new.policy != old.policy:
        old = _end_effect(tx, old)
        new = replace(new, incident_id=old.incident_id, changes=(), flapping_since=None)
        new = replace(new, verdict=Verdict.UNKNOWN, verdict_since=tx.ctx.now, failing_regions=())
    new = replace(new, updated_at=tx.ctx.now)
    _put(tx, new)
    settle(tx, {old.service_id, new.service_id}, new.id)
    show_regions(tx, new.service_id)
    if new.service_id != old.service_id:
        show_regions(tx, old.service_id)
    return new.to_dict()


def _delete(tx: Tx, cmd: c.DeleteMonitor) -> Any:
    monitor = _end_effect(tx, find_monitor(tx.state, cmd.monitor))
    tx.emit("monitor.deleted", {"id": monitor.id})
    settle(tx, [monitor.service_id], monitor.id)
    show_regions(tx, monitor.service_id)
    return {"deleted": monitor.id}


def _renew_token(tx: Tx, cmd: c.NewHeartbeatToken) -> Any:
    old = find_monitor(tx.state, cmd.monitor)
    if old.kind is not MonitorKind.HEARTBEAT:
        raise ValidationError(
            f"{old.name!r} is a {old.kind.value} monitor: only heartbeats have a push URL",
            field="monitor",
        )
    token = (tx.ctx.new_secret or _new_token)()
    new = replace(old, heartbeat_hash=heartbeat_digest(token), updated_at=tx.ctx.now)
    _put(tx, new)
    return {**new.to_dict(), "heartbeat_token": token}  # shown once, as when it was made


def drop_for_service(tx: Tx, service_id: str) -> None:
    """A service is going: its monitors go first (ending what they did)."""
    for monitor in list(tx.state.monitors.values()):
        if monitor.service_id == service_id:
            _delete(tx, c.DeleteMonitor(monitor.id))


def _set_state(tx: Tx, cmd: c.SetMonitorState) -> Any:
    old = find_monitor(tx.state, cmd.monitor)
    if old.paused:
        return old.to_dict()
    now = tx.ctx.now
    new = replace(old, failing_regions=tuple(sorted(cmd.failing_regions)), error=cmd.error)
    alert: str | None = None
    if cmd.verdict is not old.verdict:
        new = replace(new, verdict=cmd.verdict, verdict_since=now)
        new, alert = _count_change(old, new, now)
    if new == old:
        return old.to_dict()
    muted = _muted(tx.state, new.service_id)
    new = _act(tx, replace(new, updated_at=now), muted=muted)
    extra: dict[str, Any] = {}
    if new.verdict is not old.verdict:
        extra["previous_verdict"] = old.verdict.value
        if muted:
            extra["muted"] = True  # told when the maintenance ends, if it still holds
    if alert is not None and not muted:
        extra["alert"] = _alert(tx, new, alert, since=old.verdict_since)
    _put(tx, new, extra=extra)
    settle(tx, [new.service_id], new.id)
    show_regions(tx, new.service_id)
    return new.to_dict()


def _count_change(old: Monitor, new: Monitor, now: datetime) -> tuple[Monitor, str | None]:
    """Keep the count of verdict changes that flapping is judged by, and say
    which alert this change makes, if any: ``down``, ``degraded``, ``up`` (back
    from either), or ``flapping`` (once, when the changes within the flap
    window reach FLAP_CHANGES; a flapping monitor then says nothing until it
    has been still for a window)."""
    if new.verdict is Verdict.UNKNOWN or (
        old.verdict is Verdict.UNKNOWN and new.verdict is Verdict.UP
    ):
        return new, None  # a monitor (re)starting on a working service: no news
    changes = (*(t for t in old.changes if t > now - old.flap_window), now)
    new = replace(new, changes=changes)
    if old.flapping_since is not None:
        return new, None
    if len(changes) >= FLAP_CHANGES:
        return replace(new, flapping_since=now), "flapping"
    if new.verdict is Verdict.UP:
        return new, "up"
    return new, new.verdict.value


def _muted(state: Any, service_id: str) -> bool:
    """A service under maintenance: its monitors' verdicts are recorded, and
    open no incident and alert nobody until the maintenance ends."""
    service = state.services.get(service_id)
    return service is None or shown_status(state, service) is ServiceStatus.UNDER_MAINTENANCE


def _act(tx: Tx, monitor: Monitor, *, muted: bool = False) -> Monitor:
    """The incident policy: the monitor's incident says what its verdict asks."""
    service = tx.state.services.get(monitor.service_id)
    if monitor.policy is not MonitorPolicy.INCIDENT or muted or service is None:
        return monitor
    incident = tx.state.incidents.get(monitor.incident_id or "")
    if incident is not None and not incident.active:
        incident, monitor = None, replace(monitor, incident_id=None)  # closed by a person
    need = monitor.effect()
    say = partial(_say, tx, monitor, service.name)
    if need is not None:
        degraded = need is ServiceStatus.DEGRADED_PERFORMANCE and monitor.flapping_since is None
        body = say("degraded_body" if degraded else "down_body")
        if monitor.flapping_since == tx.ctx.now:
            body = say("flapping_body")
        if incident is None:
            opened = tx.handle(
                c.CreateIncident(
                    name=say("degraded_title" if degraded else "down_title"),
                    body=body,
                    services={service.id: need},
                ),
            )
            return replace(
                monitor,
                incident_id=opened["id"],
                opened_incidents=(*monitor.opened_incidents, opened["id"])[-OPENED_KEPT:],
            )
        if incident.services.get(service.id) is not need or monitor.flapping_since == tx.ctx.now:
            status = (
                IncidentStatus.INVESTIGATING
                if incident.status is IncidentStatus.MONITORING
                else MISSING
            )
            tx.handle(
                c.UpdateIncident(
                    incident=incident.id, status=status, body=body, services={service.id: need}
                ),
            )
        return monitor
    if incident is not None and monitor.verdict is Verdict.UP and not monitor.resolve_after:
        return _resolve(tx, monitor, say("recovered_body"))
    if (
        incident is not None
        and monitor.verdict is Verdict.UP
        and incident.services.get(service.id) is not ServiceStatus.OPERATIONAL
    ):
        # The service shows it at once; the incident closes once the recovery
        # has held for resolve_after (see due()).
        tx.handle(
            c.UpdateIncident(
                incident=incident.id,
                status=IncidentStatus.MONITORING,
                body=say("recovering_body"),
                services={service.id: ServiceStatus.OPERATIONAL},
            ),
        )
    return monitor


def _say(tx: Tx, monitor: Monitor, service: str, name: str) -> str:
    org = tx.state.org
    window = monitor.flap_window.total_seconds()
    return texts.render(
        org.monitor_texts,
        name,
        service=service,
        where=texts.where(org.region_labels, monitor.failing_regions),
        reason=texts.reason(monitor.verdict.value, monitor.error),
        changes=len(monitor.changes),
        minutes=f"{(monitor.resolve_after if name == 'resolved_body' else window) / 60:g}",
    )


def _resolve(tx: Tx, monitor: Monitor, body: str) -> Monitor:
    """Close the incident this monitor opened, if it is still open."""
    incident = tx.state.incidents.get(monitor.incident_id or "")
    if incident is not None and incident.active:
        tx.handle(c.ResolveIncident(incident=incident.id, body=body))
    return replace(monitor, incident_id=None)


def _end_effect(tx: Tx, monitor: Monitor) -> Monitor:
    """What the monitor did ends (paused, deleted, moved, its policy changed)."""
    service = tx.state.services.get(monitor.service_id)
    name = service.name if service is not None else "The service"
    body = f"Automatic monitoring of {name} stopped; this incident is closed."
    monitor = _resolve(tx, monitor, body) if monitor.incident_id else monitor
    return replace(monitor, changes=(), flapping_since=None)


def due(tx: Tx) -> None:
    """Timers: a flapping monitor still for a whole window is stable again; a
    recovered one's incident is resolved once the recovery has held."""
    now = tx.ctx.now
    for monitor in list(tx.state.monitors.values()):
        at = monitor_due(monitor, tx.state.incidents)
        if at is None or at > now:
            continue
        service = tx.state.services.get(monitor.service_id)
        name = service.name if service is not None else ""
        new, alert = monitor, None
        if monitor.flapping_since is not None:
            new, alert = replace(monitor, flapping_since=None), "stable"
            if new.verdict is Verdict.UP:
                new = _resolve(tx, new, _say(tx, monitor, name, "stable_body"))
            else:
                new = _act(tx, new, muted=_muted(tx.state, new.service_id))
            new = replace(new, changes=())
        else:
            new = _resolve(tx, monitor, _say(tx, monitor, name, "resolved_body"))
        extra = {}
        if alert is not None and not _muted(tx.state, new.service_id):
            extra["alert"] = _alert(tx, new, alert, changes=len(monitor.changes))
        _put(tx, replace(new, updated_at=now), extra=extra)
        settle(tx, [new.service_id], new.id)


def after_maintenance(tx: Tx, service_ids: Iterable[str]) -> None:
    """A maintenance ended: what its services' monitors see applies at once,
    and a problem they saw meanwhile is told now."""
    ids = set(service_ids)
    for monitor in list(tx.state.monitors.values()):
        if monitor.service_id not in ids or monitor.paused:
            continue
        if _muted(tx.state, monitor.service_id):
            continue  # another maintenance still holds it
        new = _act(tx, monitor)
        extra = {}
        if monitor.verdict in (Verdict.DOWN, Verdict.DEGRADED):
            kind = "flapping" if monitor.flapping_since else monitor.verdict.value
            extra["alert"] = _alert(tx, new, kind, after_maintenance=True)
        if new != monitor or extra:
            _put(tx, replace(new, updated_at=tx.ctx.now), extra=extra)
            settle(tx, [new.service_id], new.id)


def _alert(
    tx: Tx,
    monitor: Monitor,
    kind: str,
    *,
    since: datetime | None = None,
    changes: int | None = None,
    after_maintenance: bool = False,
) -> dict[str, Any]:
    """What a notification about this monitor says: enough to act on without
    opening the console."""
    service = tx.state.services.get(monitor.service_id)
    alert: dict[str, Any] = {
        "kind": kind,
        "service": None if service is None else {"id": service.id, "name": service.name},
        "target": target(monitor),
        "verdict_since": iso_or_none(monitor.verdict_since),
    }
    if kind == "up" and since is not None:
        alert["down_since"] = iso(since)
        alert["down_for_seconds"] = round((tx.ctx.now - since).total_seconds())
    if kind in ("flapping", "stable"):
        alert["changes"] = changes if changes is not None else len(monitor.changes)
        alert["window_minutes"] = monitor.flap_window.total_seconds() / 60
    if after_maintenance:
        alert["after_maintenance"] = True
    return alert


def target(monitor: Monitor) -> str | None:
    """What the monitor checks, for people: a URL (its query string dropped, as
    it may hold a key), ``host:port``, a host, a DNS name and record type, a
    database's ``host:port/database``, or None for a heartbeat."""
    spec = monitor.spec
    if "url" in spec:
        return str(spec["url"]).split("?", 1)[0].split("#", 1)[0]
    if "dsn" in spec:
        try:
            dsn = parse_dsn(str(spec["dsn"]))
        except DsnError:
            return None
        return f"{dsn.host}:{dsn.port}/{dsn.database}"
    if "record_type" in spec:
        return f"{spec['name']} {spec['record_type']}"
    if "host" in spec:
        if monitor.kind is MonitorKind.PING:
            return str(spec["host"])
        return f"{spec['host']}:{spec.get('port', 443)}"
    return None


def show_regions(tx: Tx, service_id: str) -> None:
    """The service shows the regions where any of its monitors is seen failing
    (and the public, the labels of those that have one)."""
    service = tx.state.services.get(service_id)
    if service is None:
        return
    regions = tuple(
        sorted(
            {
                region
                for m in tx.state.monitors.values()
                if m.service_id == service_id and not m.paused
                for region in m.failing_regions
            }
        )
    )
    labels = tx.state.org.region_labels
    seen_from = tuple(sorted({labels[r] for r in regions if labels.get(r)}))
    if (regions, seen_from) != (service.failing_regions, service.seen_from):
        new = replace(service, failing_regions=regions, seen_from=seen_from)
        tx.put_service(replace(new, updated_at=tx.ctx.now))


HANDLERS: dict[type, Any] = {
    c.CreateMonitor: _create,
    c.UpdateMonitor: _update,
    c.DeleteMonitor: _delete,
    c.NewHeartbeatToken: _renew_token,
    c.SetMonitorState: _set_state,
}
