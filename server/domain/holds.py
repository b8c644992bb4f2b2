"""What holds a service, and so what it shows.

The status policy is stated in :mod:`server.domain.rules`' docstring: a
service shows what holds it (a running maintenance; else the worst of what a
person set, its active incidents' requirements and its monitors' asks), and
its status is never remembered apart from that. Here is the working out,
shared by the rules for services, incidents and maintenances and by those for
monitors: :func:`shown_status` for one service, :func:`service_moves` for what
a change would do before it is made, and :func:`settle` to show it in a
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from .model import AffectedService, Incident, Maintenance, OrgState, Service, worst
from .transaction import Tx
from .values import ServiceStatus


def shown_status(
    state: OrgState,
    service: Service,
    *,
    incidents: Mapping[str, Incident] | None = None,
    maintenances: Mapping[str, Maintenance] | None = None,
) -> ServiceStatus:
    """What ``service`` shows, from what holds it (see rules.py's docstring).

    ``incidents`` and ``maintenances`` stand in for the state's: what a change
    would do is seen before it is made.
    """
    maintenances = state.maintenances if maintenances is None else maintenances
    if service.manual is ServiceStatus.UNDER_MAINTENANCE or any(
        m.running and service.id in m.service_ids for m in maintenances.values()
    ):
        return ServiceStatus.UNDER_MAINTENANCE
    return worst(service.manual, *(need for _, need in holders_of(state, service.id, incidents)))


def holders_of(
    state: OrgState, service_id: str, incidents: Mapping[str, Incident] | None = None
) -> Iterator[tuple[str, ServiceStatus]]:
    """What holds a service besides a person: (who, what it requires) for each
    active incident naming it and each monitor asking something of it."""
    for incident in (state.incidents if incidents is None else incidents).values():
        if incident.active and service_id in incident.services:
            yield f"the incident {incident.name!r}", incident.services[service_id]
    for monitor in state.monitors.values():
        if monitor.service_id == service_id and (asked := monitor.asks()) is not None:
            yield f"the monitor {monitor.name!r}", asked


def _settled(
    state: OrgState,
    service_ids: Iterable[str],
    *,
    incidents: Mapping[str, Incident] | None = None,
    maintenances: Mapping[str, Maintenance] | None = None,
    release: bool = False,
) -> Iterator[tuple[Service, Service]]:
    """(before, after) for each of ``service_ids`` that would change. With
    ``release`` (a maintenance ending), what a person put under maintenance by
    hand is released: the work is over."""
    for service_id in dict.fromkeys(service_ids):
        old = state.services.get(service_id)
        if old is None:
            continue
        new = old
        if release and old.manual is ServiceStatus.UNDER_MAINTENANCE:
            new = replace(new, manual=ServiceStatus.OPERATIONAL)
        shown = shown_status(state, new, incidents=incidents, maintenances=maintenances)
        new = replace(new, status=shown)
        if new != old:
            yield old, new


def service_moves(state: OrgState, service_ids: Iterable[str], **how: Any) -> list[AffectedService]:
    """The services among ``service_ids`` whose status would change (old -> new)."""
    return [
        AffectedService(old.id, old.name, old.status, new.status)
        for old, new in _settled(state, service_ids, **how)
        if new.status is not old.status
    ]


def settle(
    tx: Tx, service_ids: Iterable[str], cause: str, *, release: bool = False
) -> tuple[AffectedService, ...]:
    """Show on each of ``service_ids`` what holds it now; ``cause`` (an incident,
    maintenance or monitor id) is recorded on the changes it makes."""
    moves = []
    for old, new in list(_settled(tx.state, service_ids, release=release)):
        extra = {"cause": cause}
        if new.status is not old.status:
            extra["previous_status"] = old.status.value
            moves.append(AffectedService(old.id, old.name, old.status, new.status))
        tx.put_service(replace(new, updated_at=tx.ctx.now), extra=extra)
    return tuple(moves)
