"""Decide what a command does to an organization: pure, no I/O.

:func:`decide` takes the current state and a command and returns the events it
causes, the state after them, and the result the caller is told. It never
changes the state it was given; a rule that is broken raises a
:class:`~server.domain.errors.DomainError` and nothing happens.

The status policy, in one place:

* A member may always set a service's status by hand.
* An incident may only worsen a service's status along
  operational -> degraded_performance -> partial_outage -> major_outage.
* When an incident is resolved, each service it affected returns to the worst
  status its other active incidents require, else to operational.
* A running maintenance puts its services under maintenance and remembers
  what each was (the baseline); incidents opened or resolved meanwhile update
  the baseline instead of the visible status; when the maintenance ends, each
  service still under maintenance (and in no other running maintenance)
  returns to its baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import commands as c
from .errors import Conflict, InvalidTransition, NotFound, ValidationError
from .events import PUBLIC_EVENTS, Event, apply
from .model import (
    IMPACT_OF_STATUS,
    MAINTENANCE_OVER,
    SEVERITY,
    AffectedService,
    Group,
    Impact,
    Incident,
    IncidentStatus,
    Maintenance,
    MaintenanceStatus,
    Org,
    OrgState,
    Service,
    ServiceStatus,
    Update,
    check_incident_move,
    check_maintenance_move,
    to_millisecond,
    worst,
)
from .schema import MISSING
from .status import overall_status

# Words the URLs use (``/admin/incidents/{id}`` and ``/admin/join/{token}``
# sit beside ``/admin/{org}``).
RESERVED_SLUGS = frozenset(
    {"api", "admin", "ws", "static", "status", "health", "ready", "new", "incidents", "join"}
)

# Used when an update changes the status without saying anything.
DEFAULT_BODIES: Mapping[str, str] = {
    "investigating": "We are investigating this issue.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "postmortem": "A postmortem has been published.",
    "scheduled": "This maintenance is scheduled.",
    "in_progress": "Scheduled maintenance is currently in progress.",
    "verifying": "Maintenance work is done; we are verifying the results.",
    "completed": "The scheduled maintenance has been completed.",
    "cancelled": "This scheduled maintenance has been cancelled.",
}


class Tx:
    """A command in the making: a fork of the state and the events so far."""

    def __init__(self, state: OrgState, ctx: c.Context) -> None:
        self.state = state.fork()
        self.ctx = ctx
        self.events: list[Event] = []

    def emit(self, name: str, data: Mapping[str, Any]) -> None:
        public = name in PUBLIC_EVENTS
        event = Event(
            version=self.state.version + 1,
            public_seq=self.state.public_seq + 1 if public else None,
            name=name,
            data=data,
            at=self.ctx.now,
            author=self.ctx.author,
        )
        apply(self.state, event)
        self.events.append(event)

    def put_service(
        self, service: Service, *, created: bool = False, extra: Mapping[str, Any] | None = None
    ) -> None:
        name = "service.created" if created else "service.updated"
        self.emit(name, {"service": service.to_dict(), **(extra or {})})

    def put_incident(self, incident: Incident, *, created: bool = False) -> None:
        name = "incident.created" if created else "incident.updated"
        self.emit(name, {"incident": incident.to_dict()})

    def put_maintenance(self, maintenance: Maintenance, *, created: bool = False) -> None:
        name = "maintenance.created" if created else "maintenance.updated"
        self.emit(name, {"maintenance": maintenance.to_dict()})

    def finish(self) -> None:
        """Emit ``status.changed`` if the page's overall status moved."""
        status = overall_status(self.state)
        if status != self.state.status:
            self.emit("status.changed", {"status": status.to_dict()})


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    state: OrgState
    events: list[Event]
    result: Any  # JSON-ready; what the caller is told


def new_org(cmd: c.CreateOrg, ctx: c.Context) -> Decision:
    """The first event of a new organization's stream."""
    check_slug(cmd.slug)
    ctx = dataclasses.replace(ctx, now=to_millisecond(ctx.now))
    org = Org(
        id=ctx.new_id(),
        slug=cmd.slug,
        name=cmd.name,
        created_at=ctx.now,
        updated_at=ctx.now,
        listed=cmd.listed,
    )
    tx = Tx(OrgState(org=org), ctx)
    tx.emit("org.created", {"org": org.to_dict()})
    return Decision(tx.state, tx.events, org.to_dict())


def check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"slug {slug!r} is reserved; choose another", field="slug")


def decide(state: OrgState, cmd: Any, ctx: c.Context) -> Decision:
    """Apply one command to a fork of ``state``; see the module docstring."""
    if state.deleted:
        raise NotFound(f"organization {state.org.slug!r} was deleted")
    tx = Tx(state, dataclasses.replace(ctx, now=to_millisecond(ctx.now)))
    result = handle(tx, cmd)
    tx.finish()
    return Decision(tx.state, tx.events, result)


# ---------------------------------------------------------------------------
# lookups


def find_service(state: OrgState, ref: str) -> Service:
    service = state.services.get(ref)
    if service is not None:
        return service
    folded = ref.casefold()
    for service in state.services.values():
        if service.name.casefold() == folded:
            return service
    raise NotFound(f"no service {ref!r} (give its id or its name)", field="service")


def find_incident(state: OrgState, ref: str) -> Incident:
    try:
        return state.incidents[ref]
    except KeyError:
        raise NotFound(f"no incident {ref!r}", field="incident") from None


def find_maintenance(state: OrgState, ref: str) -> Maintenance:
    try:
        return state.maintenances[ref]
    except KeyError:
        raise NotFound(f"no maintenance {ref!r}", field="maintenance") from None


def incident_floor(
    state: OrgState, service_id: str, *, exclude: str | None = None
) -> ServiceStatus:
    """The worst status the active incidents (but ``exclude``) require of a service."""
    return worst(
        *(
            i.services[service_id]
            for i in state.incidents.values()
            if i.active and i.id != exclude and service_id in i.services
        )
    )


def _in_running_maintenance(state: OrgState, service_id: str, *, exclude: str) -> bool:
    return any(
        m.running and m.id != exclude and service_id in m.service_ids
        for m in state.maintenances.values()
    )


# ---------------------------------------------------------------------------
# organization


def _update_org(tx: Tx, cmd: c.UpdateOrg) -> Any:
    old = org = tx.state.org
    if cmd.name is not MISSING:
        org = replace(org, name=cmd.name)
    if cmd.listed is not MISSING:
        org = replace(org, listed=cmd.listed)
    if org != old:
        org = replace(org, updated_at=tx.ctx.now)
        tx.emit("org.updated", {"org": org.to_dict()})
    return org.to_dict()


def _delete_org(tx: Tx, cmd: c.DeleteOrg) -> Any:
    tx.emit("org.deleted", {"slug": tx.state.org.slug})
    return {"deleted": tx.state.org.slug}


# ---------------------------------------------------------------------------
# services and groups


def _group_for(tx: Tx, name: str | None) -> str | None:
    """The id of the group called ``name``, creating it on first use."""
    if name is None:
        return None
    folded = name.casefold()
    for group in tx.state.groups.values():
        if group.name.casefold() == folded:
            return group.id
    group = Group(id=tx.ctx.new_id(), name=name, created_at=tx.ctx.now, updated_at=tx.ctx.now)
    tx.emit("group.created", {"group": group.to_dict()})
    return group.id


def _drop_group_if_empty(tx: Tx, group_id: str | None) -> None:
    if group_id is None or group_id not in tx.state.groups:
        return
    if not any(s.group_id == group_id for s in tx.state.services.values()):
        tx.emit("group.deleted", {"id": group_id})


def _check_unique_name(state: OrgState, name: str, *, other_than: str | None = None) -> None:
    folded = name.casefold()
    for service in state.services.values():
        if service.id != other_than and service.name.casefold() == folded:
            raise Conflict(f"a service is already called {service.name!r}", field="name")


def _create_service(tx: Tx, cmd: c.CreateService) -> Any:
    _check_unique_name(tx.state, cmd.name)
    if len(tx.state.services) >= 500:
        raise ValidationError("an organization may have at most 500 services", field="name")
    position = cmd.position
    if position is None:
        position = 1 + max((s.position for s in tx.state.services.values()), default=0)
    service = Service(
        id=tx.ctx.new_id(),
        name=cmd.name,
        description=cmd.description or None,
        group_id=_group_for(tx, cmd.group),
        position=position,
        status=cmd.status,
        showcase=cmd.showcase,
        only_show_if_degraded=cmd.only_show_if_degraded,
        created_at=tx.ctx.now,
        updated_at=tx.ctx.now,
    )
    tx.put_service(service, created=True)
    return service.to_dict()


def _update_service(tx: Tx, cmd: c.UpdateService) -> Any:
    old = find_service(tx.state, cmd.service)
    changes: dict[str, Any] = {}
    if cmd.name is not MISSING and cmd.name != old.name:
        _check_unique_name(tx.state, cmd.name, other_than=old.id)
        changes["name"] = cmd.name
    if cmd.description is not MISSING:
        changes["description"] = cmd.description or None
    if cmd.group is not MISSING:
        changes["group_id"] = _group_for(tx, cmd.group)
    for attr in ("position", "showcase", "only_show_if_degraded"):
        value = getattr(cmd, attr)
        if value is not MISSING:
            changes[attr] = value
    if cmd.status is not MISSING and cmd.status != old.status:
        # By hand, anything goes. Setting it under maintenance remembers what
        # to come back to; any other status replaces the baseline.
        changes["status"] = cmd.status
        if cmd.status is ServiceStatus.UNDER_MAINTENANCE:
            changes["maintenance_baseline"] = old.status
        else:
            changes["maintenance_baseline"] = None
    new = replace(old, **changes)
    if new != old:
        new = replace(new, updated_at=tx.ctx.now)
        extra = {"previous_status": old.status.value} if new.status != old.status else {}
        tx.put_service(new, extra=extra)
        if new.group_id != old.group_id:
            _drop_group_if_empty(tx, old.group_id)
    return new.to_dict()


def _delete_service(tx: Tx, cmd: c.DeleteService) -> Any:
    service = find_service(tx.state, cmd.service)
    for incident in tx.state.incidents.values():
        if incident.active and service.id in incident.services:
            raise Conflict(
                f"service {service.name!r} is affected by the active incident "
                f"{incident.name!r}; resolve it first",
                field="service",
            )
    for maintenance in tx.state.maintenances.values():
        if maintenance.status not in MAINTENANCE_OVER and service.id in maintenance.service_ids:
            raise Conflict(
                f"service {service.name!r} is in the maintenance {maintenance.name!r}; "
                "complete or cancel it first",
                field="service",
            )
    monitor_rules.drop_for_service(tx, service.id)
    tx.emit("service.deleted", {"id": service.id, "name": service.name})
    _drop_group_if_empty(tx, service.group_id)
    return {"deleted": service.id}


# ---------------------------------------------------------------------------
# incidents


def _resolve_services(
    state: OrgState, refs: Mapping[str, ServiceStatus]
) -> dict[str, ServiceStatus]:
    out: dict[str, ServiceStatus] = {}
    for ref, status in refs.items():
        if status is ServiceStatus.UNDER_MAINTENANCE:
            raise ValidationError(
                f"an incident cannot put {ref!r} under maintenance; schedule a maintenance",
                field="services",
            )
        out[find_service(state, ref).id] = status
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Change:
    """A service change an incident causes, planned before it is emitted."""

    service: Service  # the new value
    previous: ServiceStatus
    affected: AffectedService | None  # the visible move, for the timeline


def _plan_worsen(
    state: OrgState, requirements: Mapping[str, ServiceStatus], now: datetime
) -> list[_Change]:
    """An incident's requirements applied: services only get worse."""
    changes = []
    for service_id, required in requirements.items():
        old = state.services[service_id]
        if old.status is ServiceStatus.UNDER_MAINTENANCE:
            baseline = worst(old.maintenance_baseline or ServiceStatus.OPERATIONAL, required)
            if baseline != old.maintenance_baseline:
                changes.append(
                    _Change(replace(old, maintenance_baseline=baseline), old.status, None)
                )
        elif SEVERITY[required] > SEVERITY[old.status]:
            new = replace(old, status=required, updated_at=now)
            moved = AffectedService(old.id, old.name, old.status, required)
            changes.append(_Change(new, old.status, moved))
    return changes


def _plan_restore(state: OrgState, incident: Incident, now: datetime) -> list[_Change]:
    """An incident ends: its services return to what the other active incidents require."""
    changes = []
    for service_id in incident.services:
        old = state.services.get(service_id)
        if old is None:
            continue
        target = incident_floor(state, service_id, exclude=incident.id)
        if old.status is ServiceStatus.UNDER_MAINTENANCE:
            if old.maintenance_baseline != target:
                changes.append(_Change(replace(old, maintenance_baseline=target), old.status, None))
        elif old.status != target:
            new = replace(old, status=target, updated_at=now)
            moved = AffectedService(old.id, old.name, old.status, target)
            changes.append(_Change(new, old.status, moved))
    return changes


def _emit_changes(tx: Tx, changes: list[_Change], cause: str) -> None:
    for change in changes:
        extra: dict[str, Any] = {"cause": cause}
        if change.affected:
            extra["previous_status"] = change.previous.value
        tx.put_service(change.service, extra=extra)


def _moves(changes: list[_Change]) -> tuple[AffectedService, ...]:
    return tuple(c.affected for c in changes if c.affected is not None)


def _derived_impact(requirements: Iterable[ServiceStatus]) -> Impact:
    return IMPACT_OF_STATUS[worst(*requirements)]


def _create_incident(tx: Tx, cmd: c.CreateIncident) -> Any:
    if cmd.status is IncidentStatus.POSTMORTEM:
        raise InvalidTransition(
            "an incident cannot start in postmortem; create it resolved, then add the postmortem"
        )
    requirements = _resolve_services(tx.state, cmd.services)
    incident_id = tx.ctx.new_id()
    now = tx.ctx.now
    started_at = cmd.started_at or now
    if started_at > now:
        raise ValidationError("started_at cannot be in the future", field="started_at")
    resolved = cmd.status is IncidentStatus.RESOLVED
    # A backfilled (already resolved) incident records its services but
    # changes nothing: there is nothing left to restore.
    changes = [] if resolved else _plan_worsen(tx.state, requirements, now)
    impact = cmd.impact if cmd.impact is not None else _derived_impact(requirements.values())
    update = Update(
        id=tx.ctx.new_id(),
        status=cmd.status.value,
        body=cmd.body or DEFAULT_BODIES[cmd.status.value],
        created_at=now,
        author=tx.ctx.author,
        affected=_moves(changes),
    )
    incident = Incident(
        id=incident_id,
        name=cmd.name,
        status=cmd.status,
        impact=impact,
        impact_override=cmd.impact is not None,
        services=requirements,
        updates=(update,),
        created_at=now,
        updated_at=now,
        started_at=started_at,
        monitoring_at=now if cmd.status is IncidentStatus.MONITORING else None,
        resolved_at=now if resolved else None,
        notes_room=tx.ctx.new_id(),
    )
    tx.put_incident(incident, created=True)
    _emit_changes(tx, changes, incident_id)
    return incident.to_dict()


def _update_incident(tx: Tx, cmd: c.UpdateIncident) -> Any:
    old = find_incident(tx.state, cmd.incident)
    status = old.status if cmd.status is MISSING else cmd.status
    # An update says something when it moves the status, carries words, or
    # names services; anything else (a retried resolve, an empty body) adds
    # nothing to the timeline.
    timeline_entry = status is not old.status or bool(cmd.body) or cmd.services is not MISSING
    if timeline_entry:
        check_incident_move(old.status, status)
    if cmd.services is not MISSING and not old.active:
        raise InvalidTransition(
            f"incident {old.name!r} is {old.status}; its services no longer change",
            field="services",
        )
    # Only what this update says about services is applied: an update that
    # says nothing leaves alone a status a member has since set by hand.
    given = {} if cmd.services is MISSING else _resolve_services(tx.state, cmd.services)
    requirements = {**old.services, **given}
    now = tx.ctx.now
    incident = replace(old, services=requirements, status=status)
    if cmd.name is not MISSING:
        incident = replace(incident, name=cmd.name)
    if cmd.impact is not MISSING:
        incident = replace(incident, impact=cmd.impact, impact_override=True)
    elif not incident.impact_override:
        incident = replace(incident, impact=_derived_impact(requirements.values()))
    if status is IncidentStatus.MONITORING and old.monitoring_at is None:
        incident = replace(incident, monitoring_at=now)
    if status is IncidentStatus.RESOLVED and old.active:
        incident = replace(incident, resolved_at=now)
        changes = _plan_restore(tx.state, incident, now)
    else:
        changes = _plan_worsen(tx.state, given, now)
    if timeline_entry:
        body = cmd.body if cmd.body is not MISSING and cmd.body else DEFAULT_BODIES[status.value]
        update = Update(tx.ctx.new_id(), status.value, body, now, tx.ctx.author, _moves(changes))
        incident = replace(incident, updates=(*incident.updates, update))
    if incident == old:
        return old.to_dict()  # nothing changed: no event
    incident = replace(incident, updated_at=now)
    tx.put_incident(incident)
    _emit_changes(tx, changes, old.id)
    return incident.to_dict()


def _resolve_incident(tx: Tx, cmd: c.ResolveIncident) -> Any:
    return _update_incident(
        tx, c.UpdateIncident(incident=cmd.incident, status=IncidentStatus.RESOLVED, body=cmd.body)
    )


def _delete_incident(tx: Tx, cmd: c.DeleteIncident) -> Any:
    incident = find_incident(tx.state, cmd.incident)
    tx.emit("incident.deleted", {"id": incident.id})
    if incident.active:
        # Deleting must not strand services in the statuses it caused.
        _emit_changes(tx, _plan_restore(tx.state, incident, tx.ctx.now), incident.id)
    return {"deleted": incident.id}


# ---------------------------------------------------------------------------
# maintenances


def _start(tx: Tx, maintenance: Maintenance) -> None:
    """Put the maintenance's services under maintenance, remembering each baseline."""
    for service_id in maintenance.service_ids:
        old = tx.state.services.get(service_id)
        if old is None or old.status is ServiceStatus.UNDER_MAINTENANCE:
            continue
        new = replace(
            old,
            status=ServiceStatus.UNDER_MAINTENANCE,
            maintenance_baseline=old.status,
            updated_at=tx.ctx.now,
        )
        tx.put_service(new, extra={"previous_status": old.status.value, "cause": maintenance.id})


def _finish(tx: Tx, maintenance: Maintenance) -> None:
    """Give back the services a maintenance held, unless another still holds them."""
    for service_id in maintenance.service_ids:
        old = tx.state.services.get(service_id)
        if old is None or _in_running_maintenance(tx.state, service_id, exclude=maintenance.id):
            continue
        if old.status is ServiceStatus.UNDER_MAINTENANCE:
            # The baseline already follows incidents opened or resolved meanwhile.
            target = old.maintenance_baseline or ServiceStatus.OPERATIONAL
            new = replace(old, status=target, maintenance_baseline=None, updated_at=tx.ctx.now)
            tx.put_service(
                new, extra={"previous_status": old.status.value, "cause": maintenance.id}
            )
        elif old.maintenance_baseline is not None:
            tx.put_service(replace(old, maintenance_baseline=None), extra={"cause": maintenance.id})


def _move_maintenance(
    tx: Tx, old: Maintenance, new: Maintenance, status: MaintenanceStatus, body: str | None
) -> Maintenance:
    """Record a status move (and its side effects) on ``new``, a changed ``old``."""
    now = tx.ctx.now
    if status is not old.status:
        check_maintenance_move(old.status, status)
        new = replace(new, status=status)
        if status is MaintenanceStatus.IN_PROGRESS and old.started_at is None:
            new = replace(new, started_at=now)
        if status is MaintenanceStatus.COMPLETED:
            new = replace(new, completed_at=now)
    if status is not old.status or body:
        update = Update(
            tx.ctx.new_id(), status.value, body or DEFAULT_BODIES[status.value], now, tx.ctx.author
        )
        new = replace(new, updates=(*new.updates, update))
    new = replace(new, updated_at=now)
    tx.put_maintenance(new, created=old.id not in tx.state.maintenances)
    if new.running and not old.running:
        _start(tx, new)
    elif old.running and not new.running:
        _finish(tx, old)
    return new


def _check_window(start: datetime, until: datetime, now: datetime) -> None:
    if until <= start:
        raise ValidationError(
            "scheduled_until must be after scheduled_for", field="scheduled_until"
        )
    if until <= now:
        raise ValidationError(
            "scheduled_until is already past; a maintenance must end in the future",
            field="scheduled_until",
        )


def _service_ids(state: OrgState, refs: Iterable[str]) -> tuple[str, ...]:
    ids: list[str] = []
    for ref in refs:
        service_id = find_service(state, ref).id
        if service_id not in ids:
            ids.append(service_id)
    return tuple(ids)


def _schedule_maintenance(tx: Tx, cmd: c.ScheduleMaintenance) -> Any:
    now = tx.ctx.now
    _check_window(cmd.scheduled_for, cmd.scheduled_until, now)
    draft = Maintenance(
        id=tx.ctx.new_id(),
        name=cmd.name,
        status=MaintenanceStatus.SCHEDULED,
        scheduled_for=cmd.scheduled_for,
        scheduled_until=cmd.scheduled_until,
        service_ids=_service_ids(tx.state, cmd.services),
        auto_start=cmd.auto_start,
        auto_complete=cmd.auto_complete,
        updates=(),
        created_at=now,
        updated_at=now,
    )
    maintenance = _move_maintenance(
        tx, draft, draft, MaintenanceStatus.SCHEDULED, cmd.body or DEFAULT_BODIES["scheduled"]
    )
    # Already due (scheduled_for is past): start it in the same breath.
    maintenance = _tick_one(tx, maintenance)
    return maintenance.to_dict()


def _update_maintenance(tx: Tx, cmd: c.UpdateMaintenance) -> Any:
    old = find_maintenance(tx.state, cmd.maintenance)
    if old.status in MAINTENANCE_OVER:
        raise InvalidTransition(f"maintenance {old.name!r} is {old.status} and cannot change")
    changes: dict[str, Any] = {}
    for attr in ("name", "scheduled_for", "scheduled_until", "auto_start", "auto_complete"):
        value = getattr(cmd, attr)
        if value is not MISSING:
            changes[attr] = value
    if cmd.services is not MISSING and _service_ids(tx.state, cmd.services) != old.service_ids:
        if old.running:
            raise InvalidTransition(
                "the services of a running maintenance cannot change; complete it and schedule another",
                field="services",
            )
        changes["service_ids"] = _service_ids(tx.state, cmd.services)
    changes = {k: v for k, v in changes.items() if getattr(old, k) != v}
    new = replace(old, **changes)
    if "scheduled_for" in changes or "scheduled_until" in changes:
        if old.status is not MaintenanceStatus.SCHEDULED and "scheduled_for" in changes:
            raise InvalidTransition(
                "a maintenance that has started keeps its start time", field="scheduled_for"
            )
        _check_window(new.scheduled_for, new.scheduled_until, tx.ctx.now)
    status = old.status if cmd.status is MISSING else cmd.status
    body = None if cmd.body is MISSING else cmd.body
    if new == old and status is old.status and not body:
        return old.to_dict()
    new = _move_maintenance(tx, old, new, status, body)
    return _tick_one(tx, new).to_dict()


def _cancel_maintenance(tx: Tx, cmd: c.CancelMaintenance) -> Any:
    old = find_maintenance(tx.state, cmd.maintenance)
    if old.status in MAINTENANCE_OVER:
        raise InvalidTransition(f"maintenance {old.name!r} is {old.status} and cannot change")
    body = None if cmd.body is MISSING else cmd.body
    return _move_maintenance(tx, old, old, MaintenanceStatus.CANCELLED, body).to_dict()


def _delete_maintenance(tx: Tx, cmd: c.DeleteMaintenance) -> Any:
    maintenance = find_maintenance(tx.state, cmd.maintenance)
    tx.emit("maintenance.deleted", {"id": maintenance.id})
    if maintenance.running:
        _finish(tx, maintenance)
    return {"deleted": maintenance.id}


def _tick_one(tx: Tx, maintenance: Maintenance) -> Maintenance:
    """Start or complete one maintenance if its time has come."""
    now = tx.ctx.now
    due = maintenance.next_due()
    while due is not None and due <= now:
        if maintenance.status is MaintenanceStatus.SCHEDULED:
            target = MaintenanceStatus.IN_PROGRESS
        else:
            target = MaintenanceStatus.COMPLETED
        maintenance = _move_maintenance(tx, maintenance, maintenance, target, None)
        due = maintenance.next_due()
    return maintenance


def _tick(tx: Tx, cmd: c.Tick) -> Any:
    for maintenance in list(tx.state.maintenances.values()):
        _tick_one(tx, maintenance)
    _archive_due(tx)
    return None


def _archive_due(tx: Tx) -> None:
    """Incidents resolved longer ago than the context keeps leave the state
    (``incident.archived`` carries the whole incident, which the store keeps
    and serves from then on)."""
    keep = tx.ctx.keep_resolved
    if keep is None:
        return
    for incident in list(tx.state.incidents.values()):
        if (
            not incident.active
            and incident.resolved_at is not None
            and incident.resolved_at + keep <= tx.ctx.now
        ):
            tx.emit("incident.archived", {"id": incident.id, "incident": incident.to_dict()})


_HANDLERS: Mapping[type, Any] = {
    c.UpdateOrg: _update_org,
    c.DeleteOrg: _delete_org,
    c.CreateService: _create_service,
    c.UpdateService: _update_service,
    c.DeleteService: _delete_service,
    c.CreateIncident: _create_incident,
    c.UpdateIncident: _update_incident,
    c.ResolveIncident: _resolve_incident,
    c.DeleteIncident: _delete_incident,
    c.ScheduleMaintenance: _schedule_maintenance,
    c.UpdateMaintenance: _update_maintenance,
    c.CancelMaintenance: _cancel_maintenance,
    c.DeleteMaintenance: _delete_maintenance,
    c.Tick: _tick,
}


def handle(tx: Tx, cmd: Any) -> Any:
    """Carry out one command within a transaction (another command's, maybe)."""
    return _HANDLERS[type(cmd)](tx, cmd)


# Monitors' rules build on the ones above (and call them through `handle`).
from . import monitor_rules, probe_rules  # noqa: E402

_HANDLERS = {**_HANDLERS, **monitor_rules.HANDLERS, **probe_rules.HANDLERS}
