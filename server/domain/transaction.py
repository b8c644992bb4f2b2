"""A command in the making, what it decides, and how the rules find what a
command names.

:class:`Tx` is the transaction every rule works in: a fork of the
organization's state, the events emitted so far (each applied to the fork as
it is emitted), and the dispatch table through which one command may carry
out another. :class:`Decision` is what a finished one gives the caller. The
lookups turn a command's reference (an id, or for services and monitors a
name) into the entity, or :class:`~server.errors.NotFound`.

Pure, like the rest of the domain; the rules themselves are in
:mod:`server.domain.rules` and the modules it builds on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from ..errors import NotFound
from . import commands as c
from .events import PUBLIC_EVENTS, Event, apply
from .model import Incident, Maintenance, OrgState, Service
from .monitors import Monitor
from .status import overall_status

#: A rule: carries out one kind of command within a transaction, and returns
#: what the caller is told.
Handler: TypeAlias = Callable[["Tx", Any], Any]


class Tx:
    """A command in the making: a fork of the state and the events so far.

    ``handlers`` is the dispatch table, the rule for each kind of command
    (:mod:`server.domain.rules` assembles it); through :meth:`handle` a rule
    may carry out another command in the same transaction.
    """

    def __init__(self, state: OrgState, ctx: c.Context, handlers: Mapping[type, Handler]) -> None:
        self.state = state.fork()
        self.ctx = ctx
        self.handlers = handlers
        self.events: list[Event] = []

    def handle(self, cmd: Any) -> Any:
        """Carry out one command within this transaction (another command's, maybe)."""
        return self.handlers[type(cmd)](self, cmd)

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
        # Its services by name too, for those it is told to (notifications).
        services = [
            {"id": s.id, "name": s.name}
            for sid in maintenance.service_ids
            if (s := self.state.services.get(sid)) is not None
        ]
        self.emit(name, {"maintenance": maintenance.to_dict(), "services": services})

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


def find_monitor(state: Any, ref: str) -> Monitor:
    found = state.monitors.get(ref)
    if found is None:
        folded = ref.casefold()
        found = next((m for m in state.monitors.values() if m.name.casefold() == folded), None)
    if found is None:
        raise NotFound(f"no monitor {ref!r}", field="monitor")
    assert isinstance(found, Monitor)
    return found
