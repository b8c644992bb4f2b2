"""Incidents past and present, for the routes that list or show them: those an
organization's actor holds, and those archived out of its memory (resolved
longer ago than ``Limits.incident_memory_days``), read from the store."""

from __future__ import annotations

from ..actors.org import OrgHandle
from ..domain import transaction, views
from ..domain.model import Incident
from ..errors import NotFound
from ..store.history import archived_incident, archived_incidents
from .common import parts


async def find_incident(handle: OrgHandle, ref: str) -> Incident:
    """The incident ``ref`` names (id or name; an archived one by id)."""
    try:
        return transaction.find_incident(handle.state, ref)
    except NotFound:
        found = await archived_incident(parts().store, handle.stream, ref)
        if found is None:
            raise
        return Incident.from_dict(found)


async def is_archived(org: str, ref: str) -> bool:
    """Whether ``ref`` is the id of an incident archived out of ``org``'s memory."""
    handle = await parts().registry.org(org)
    return await archived_incident(parts().store, handle.stream, ref) is not None


async def incidents_newest_first(
    handle: OrgHandle, which: str, upto: int
) -> tuple[list[Incident], int]:
    """The first ``upto`` incidents (all, active or resolved), most recently
    started first, and how many there are in all."""
    state = handle.state
    live = views.filter_incidents(state, which)
    archived = 0 if which == "active" else state.archived_incidents
    if len(live) >= upto or not archived:
        return live, len(live) + archived
    older = [
        Incident.from_dict(d) for d in await archived_incidents(parts().store, handle.stream, upto)
    ]
    merged = sorted([*live, *older], key=lambda i: i.started_at, reverse=True)
    return merged, len(live) + archived
