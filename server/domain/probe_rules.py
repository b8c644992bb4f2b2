"""The rules for probes going silent and coming back: what an organization is told.

Probes belong to the server, not to an organization; the server notices when
a region's probe stops reporting (server/monitoring) and sends each
organization whose monitors that region checks a
:class:`~server.domain.commands.NoteProbe`. The organization records it as a
members-only event (``probe.offline`` or ``probe.online``), which its
channels may be told of. An organization that has no monitor checked there
is told nothing.
"""

from __future__ import annotations

from typing import Any

from . import commands as c
from .model import iso_or_none
from .monitors import checked_in
from .transaction import Tx


def _note(tx: Tx, cmd: c.NoteProbe) -> Any:
    checked = sorted(
        (m for m in tx.state.monitors.values() if checked_in(m, cmd.region)),
        key=lambda m: m.name.casefold(),
    )
    if not checked:
        return {"told": False}
    tx.emit(
        f"probe.{cmd.state.value}",
        {
            "region": cmd.region,
            "last_seen": iso_or_none(cmd.last_seen),
            "monitors": [{"id": m.id, "name": m.name} for m in checked],
        },
    )
    return {"told": True}


HANDLERS: dict[type, Any] = {c.NoteProbe: _note}
