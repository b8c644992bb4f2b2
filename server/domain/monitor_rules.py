"""The rules for monitors: making and changing them, and what a verdict does.

A verdict's effect is a service status: ``down`` asks for the monitor's
``down_status`` (a major outage unless set otherwise), ``degraded`` for
degraded performance, ``up`` and ``unknown`` for nothing. The policy carries
the effect out:

* ``status``: the service is set to it, and set back to what it was when the
  effect ends (unless someone changed it by hand in between, or it is under
  maintenance: people win over probes, planned work over both);
* ``incident``: an incident is opened that requires it of the service (so the
  service follows, as with any incident), updated when the effect changes, and
  resolved when it ends;
* ``none``: the verdict is only recorded.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from typing import Any

from ..monitoring.specs import parse_spec, spec_to_dict  # plain records, beside the probes
from . import commands as c
from . import rules
from .errors import Conflict, NotFound, ValidationError
from .model import IncidentStatus, ServiceStatus
from .monitors import Monitor, MonitorKind, MonitorPolicy, Verdict, kept_secrets
from .schema import MISSING

MAX_MONITORS = 1_000  # per organization

EFFECT: dict[Verdict, ServiceStatus | None] = {
    Verdict.UNKNOWN: None,
    Verdict.UP: None,
    Verdict.DEGRADED: ServiceStatus.DEGRADED_PERFORMANCE,
    Verdict.DOWN: None,  # the monitor's own down_status
}


def effect(monitor: Monitor, verdict: Verdict) -> ServiceStatus | None:
    if verdict is Verdict.DOWN:
        return monitor.down_status
    return EFFECT[verdict]


def find_monitor(state: Any, ref: str) -> Monitor:
    found = state.monitors.get(ref)
    if found is None:
        folded = ref.casefold()
        found = next((m for m in state.monitors.values() if m.name.casefold() == folded), None)
    if found is None:
        raise NotFound(f"no monitor {ref!r}", field="monitor")
    assert isinstance(found, Monitor)
    return found


def _check_spec(kind: MonitorKind, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in spec.items() if k != "body_set"}  # what members are shown
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
    tx: rules.Tx, monitor: Monitor, *, created: bool = False, extra: dict[str, Any] | None = None
) -> None:
    name = "monitor.created" if created else "monitor.updated"
    tx.emit(name, {"monitor": monitor.to_dict(stored=True), **(extra or {})})


def _create(tx: rules.Tx, cmd: c.CreateMonitor) -> Any:
    state = tx.state
    if len(state.monitors) >= MAX_MONITORS:
        raise ValidationError(
            f"an organization may have at most {MAX_MONITORS} monitors", field="name"
        )
    _check_unique(state, cmd.name)
    service = rules.find_service(state, cmd.service)
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


def _update(tx: rules.Tx, cmd: c.UpdateMonitor) -> Any:
    old = find_monitor(tx.state, cmd.monitor)
    changes: dict[str, Any] = {}
    if cmd.name is not MISSING and cmd.name != old.name:
        _check_unique(tx.state, cmd.name, other_than=old.id)
        changes["name"] = cmd.name
    if cmd.service is not MISSING:
        changes["service_id"] = rules.find_service(tx.state, cmd.service).id
    if cmd.spec is not MISSING:
        changes["spec"] = _check_spec(old.kind, kept_secrets(old.spec, cmd.spec))
    if cmd.regions is not MISSING:
        changes["regions"] = tuple(cmd.regions)
    if cmd.down_status is not MISSING:
        _check_status(cmd.down_status)
        changes["down_status"] = cmd.down_status
    for attr in ("interval", "quorum", "down_after", "up_after", "policy", "grace", "paused"):
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
        new = replace(new, incident_id=old.incident_id, baseline=old.baseline)
        new = replace(new, verdict=Verdict.UNKNOWN, verdict_since=tx.ctx.now, failing_regions=())
    new = replace(new, updated_at=tx.ctx.now)
    _put(tx, new)
    _show_regions(tx, new.service_id)
    if new.service_id != old.service_id:
        _show_regions(tx, old.service_id)
    return new.to_dict()


def _delete(tx: rules.Tx, cmd: c.DeleteMonitor) -> Any:
    monitor = _end_effect(tx, find_monitor(tx.state, cmd.monitor))
    tx.emit("monitor.deleted", {"id": monitor.id})
    _show_regions(tx, monitor.service_id)
    return {"deleted": monitor.id}


def drop_for_service(tx: rules.Tx, service_id: str) -> None:
    """A service is going: its monitors go first (ending what they did)."""
    for monitor in list(tx.state.monitors.values()):
        if monitor.service_id == service_id:
            _delete(tx, c.DeleteMonitor(monitor.id))


def _set_state(tx: rules.Tx, cmd: c.SetMonitorState) -> Any:
    old = find_monitor(tx.state, cmd.monitor)
    if old.paused:
        return old.to_dict()
    regions = tuple(sorted(cmd.failing_regions))
    new = replace(old, failing_regions=regions, error=cmd.error)
    if cmd.verdict is not old.verdict:
        new = replace(new, verdict=cmd.verdict, verdict_since=tx.ctx.now)
    before, after = effect(old, old.verdict), effect(new, new.verdict)
    if before != after:
        new = _start_effect(tx, new, after) if after is not None else _end_effect(tx, new)
    if new == old:
        return old.to_dict()
    new = replace(new, updated_at=tx.ctx.now)
    extra = {"previous_verdict": old.verdict.value} if new.verdict is not old.verdict else {}
    _put(tx, new, extra=extra)
    _show_regions(tx, new.service_id)
    return new.to_dict()


def _show_regions(tx: rules.Tx, service_id: str) -> None:
    """The service shows the regions where any of its monitors is seen failing."""
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
    if regions != service.failing_regions:
        tx.put_service(replace(service, failing_regions=regions, updated_at=tx.ctx.now))


def _words(monitor: Monitor, status: ServiceStatus) -> str:
    where = f" from {', '.join(monitor.failing_regions)}" if monitor.failing_regions else ""
    why = f": {monitor.error}" if monitor.error else ""
    seen = "is slow" if status is ServiceStatus.DEGRADED_PERFORMANCE else "is failing"
    return f"Monitor {monitor.name!r} {seen}{where}{why}."


def _start_effect(tx: rules.Tx, monitor: Monitor, status: ServiceStatus) -> Monitor:
    service = tx.state.services.get(monitor.service_id)
    if service is None:
        return monitor
    if monitor.policy is MonitorPolicy.STATUS:
        if service.status is ServiceStatus.UNDER_MAINTENANCE:
            return monitor  # planned work: the probes expected to fail
        baseline = monitor.baseline if monitor.baseline is not None else service.status
        if service.status is not status:
            rules.handle(tx, c.UpdateService(service=service.id, status=status))
        return replace(monitor, baseline=baseline)
    if monitor.policy is MonitorPolicy.INCIDENT:
        incident = tx.state.incidents.get(monitor.incident_id or "")
        if incident is not None and incident.active:
            rules.handle(
                tx,
                c.UpdateIncident(
                    incident=incident.id,
                    body=_words(monitor, status),
                    services={service.id: status},
                ),
            )
            return monitor
        opened = rules.handle(
            tx,
            c.CreateIncident(
                name=f"{service.name} {'is slow' if status is ServiceStatus.DEGRADED_PERFORMANCE else 'is down'}",
                body=_words(monitor, status),
                services={service.id: status},
            ),
        )
        return replace(monitor, incident_id=opened["id"])
    return monitor


def _end_effect(tx: rules.Tx, monitor: Monitor) -> Monitor:
    if monitor.policy is MonitorPolicy.STATUS and monitor.baseline is not None:
        service = tx.state.services.get(monitor.service_id)
        ours = (monitor.down_status, ServiceStatus.DEGRADED_PERFORMANCE)  # what we may have set
        if service is not None and service.status in ours:
            rules.handle(tx, c.UpdateService(service=service.id, status=monitor.baseline))
        return replace(monitor, baseline=None)
    if monitor.policy is MonitorPolicy.INCIDENT and monitor.incident_id is not None:
        incident = tx.state.incidents.get(monitor.incident_id)
        if incident is not None and incident.status in (
            IncidentStatus.INVESTIGATING,
            IncidentStatus.IDENTIFIED,
            IncidentStatus.MONITORING,
        ):
            body = f"Monitor {monitor.name!r} sees the service working again."
            rules.handle(tx, c.ResolveIncident(incident=incident.id, body=body))
        return replace(monitor, incident_id=None)
    return monitor


HANDLERS: dict[type, Any] = {
    c.CreateMonitor: _create,
    c.UpdateMonitor: _update,
    c.DeleteMonitor: _delete,
    c.SetMonitorState: _set_state,
}
