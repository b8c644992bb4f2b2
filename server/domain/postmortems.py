"""The rules for postmortems: one per incident, with words, revised in place.

A resolved incident takes a postmortem (``incident.postmortem``, or
``incident.update`` moving it to ``postmortem`` with a body). Its text is
required; it is kept as Markdown source on the incident (:class:`Postmortem`)
and rendered where it is shown. Publishing it adds a timeline entry saying so;
a revision replaces the text and adds an entry saying that it was revised. The
timeline never repeats the text itself. Writing the same text again changes
nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ValidationError
from . import commands as c
from .model import (
    DEFAULT_BODIES,
    Incident,
    IncidentStatus,
    Postmortem,
    Update,
    check_incident_move,
)
from .schema import MISSING
from .transaction import Tx, find_incident

# What the timeline says when the postmortem is revised (DEFAULT_BODIES
# has the words for its first publication).
POSTMORTEM_REVISED = "The postmortem has been revised."
EMPTY = "a postmortem needs its text: say what happened and why"


def writes(old: Incident, cmd: c.UpdateIncident) -> bool:
    """Whether an ``incident.update`` writes the postmortem: it moves the incident
    to postmortem, or gives words to one already there. (Naming services is
    refused on a finished incident by the ordinary update.)"""
    if cmd.services is not MISSING:
        return False
    if old.status is IncidentStatus.POSTMORTEM:
        return cmd.body is not MISSING
    return cmd.status is IncidentStatus.POSTMORTEM


def write(tx: Tx, old: Incident, cmd: c.UpdateIncident) -> Any:
    """Publish or revise ``old``'s postmortem with ``cmd.body`` (name and impact
    may change in the same breath)."""
    status = old.status if cmd.status is MISSING else cmd.status
    check_incident_move(old.status, status)
    body = "" if cmd.body is MISSING else cmd.body
    if not body.strip():
        raise ValidationError(EMPTY, field="body")
    now = tx.ctx.now
    incident = replace(old, status=IncidentStatus.POSTMORTEM)
    if cmd.name is not MISSING:
        incident = replace(incident, name=cmd.name)
    if cmd.impact is not MISSING:
        incident = replace(incident, impact=cmd.impact, impact_override=True)
    said: str | None = None
    if old.postmortem is None:
        incident = replace(incident, postmortem=Postmortem(body, now, now))
        said = DEFAULT_BODIES["postmortem"]
    elif old.postmortem.body != body:
        incident = replace(incident, postmortem=replace(old.postmortem, body=body, updated_at=now))
        said = POSTMORTEM_REVISED
    if said is not None:
        update = Update(tx.ctx.new_id(), IncidentStatus.POSTMORTEM.value, said, now, tx.ctx.author)
        incident = replace(incident, updates=(*incident.updates, update))
    if incident == old:
        return old.to_dict()  # the same text again: no event
    incident = replace(incident, updated_at=now)
    tx.put_incident(incident)
    return incident.to_dict()


def _write_postmortem(tx: Tx, cmd: c.WritePostmortem) -> Any:
    old = find_incident(tx.state, cmd.incident)
    update = c.UpdateIncident(
        incident=cmd.incident, status=IncidentStatus.POSTMORTEM, body=cmd.body
    )
    return write(tx, old, update)


HANDLERS: dict[type, Any] = {c.WritePostmortem: _write_postmortem}
