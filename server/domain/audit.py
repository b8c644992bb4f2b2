"""What the audit log says of an organization's command: the fields as given,
and, for a change to something that exists, what those fields held before.

Pure: the actor calls it with the state the command was decided on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NotFound
from . import commands as c
from .model import OrgState
from .monitors import redact
from .schema import given
from .transaction import find_incident, find_maintenance, find_monitor, find_service

# For each change: the field naming what it changes, and how to find that.
_TARGETS: dict[type, tuple[str, Callable[[OrgState, str], Any]]] = {
    c.UpdateService: ("service", find_service),
    c.UpdateIncident: ("incident", find_incident),
    c.UpdateMaintenance: ("maintenance", find_maintenance),
    c.UpdateMonitor: ("monitor", find_monitor),
}


def details(before: OrgState, command: Any) -> dict[str, Any]:
    """``command``'s given fields (a monitor's secrets hidden), with ``from``:
    the earlier value of each field it changes, where the thing had one."""
    shown: dict[str, Any] = redact(given(command))
    old = _old(before, command)
    if old is None:
        return shown
    earlier = {k: old[k] for k, v in shown.items() if k in old and old[k] != v}
    return {**shown, "from": earlier} if earlier else shown


def _old(before: OrgState, command: Any) -> Mapping[str, Any] | None:
    if isinstance(command, c.UpdateOrg):
        return before.org.to_dict()
    target = _TARGETS.get(type(command))
    if target is None:
        return None
    field, find = target
    try:
        found = find(before, getattr(command, field))
    except NotFound:
        return None
    old: Mapping[str, Any] = found.to_dict()
    return old
