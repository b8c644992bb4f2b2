"""Reading the past back out of the event log: services' status changes,
incidents archived out of their organization's memory, and rooms' texts as
they were."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..domain.history import Change
from ..domain.model import ServiceStatus, iso_or_none
from ..domain.room import RoomState
from ..domain.text_buffer import TextBuffer
from .eventlog import Store

# Every service.updated event that moved a status carries ``previous_status``.
# The event's JSON is read whole and picked apart here: PostgreSQL's json
# operators stop at text it cannot hold (a NUL in a name stored before such
# text was refused), and one such event must not break the page for good.
_CHANGES = """
SELECT at, data FROM events
 WHERE stream = $1 AND name = 'service.updated' AND at >= $2
 ORDER BY version
"""


async def status_changes(store: Store, stream: str, since: datetime) -> list[Change]:
    """The status changes of an organization's services since ``since``, oldest first."""
    changes = []
    for row in await store.fetch(_CHANGES, stream, since):
        data = row["data"]
        previous = data.get("previous_status")
        service = data.get("service") or {}
        if previous is None:
            continue
        changes.append(
            Change(
                row["at"], service["id"], ServiceStatus(service["status"]), ServiceStatus(previous)
            )
        )
    return changes


# Incidents that left their organization's memory: the incident.archived
# event holds each one's last state (read whole: see above about json).
_ARCHIVED = """
SELECT e.data FROM incident_archive a
  JOIN events e ON e.stream = a.stream AND e.version = a.version
 WHERE a.stream = $1
"""


async def archived_incident(store: Store, stream: str, incident_id: str) -> dict[str, Any] | None:
    """An archived incident of ``stream``, as it was when it left memory."""
    rows = await store.fetch(_ARCHIVED + " AND a.id = $2", stream, incident_id)
    return dict(rows[0]["data"]["incident"]) if rows else None


async def archived_incidents(store: Store, stream: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently started of ``stream``'s archived incidents."""
    rows = await store.fetch(_ARCHIVED + " ORDER BY a.started_at DESC LIMIT $2", stream, limit)
    return [dict(r["data"]["incident"]) for r in rows]


async def texts_at(
    store: Store,
    room_id: str,
    *,
    revs: Sequence[int] = (),
    times: Sequence[datetime] = (),
) -> list[dict[str, Any]]:
    """The text as of each revision in ``revs``, or as of each moment in ``times``.

    Read from the log, which only ever grows at its end, so no actor is
    involved: from the newest snapshot at or before the earliest mark (or the
    log's beginning), the operations are replayed once for all the marks.
    Returns ``{"rev", "text", "at"}`` per mark, in the order given (``at`` is
    when that revision was made). A mark past the end gets the latest text; a
    mark older than the history kept (``Limits.room_history_days``: the log
    behind it is compacted) gets ``"text": None``.
    """
    if bool(revs) == bool(times):
        raise ValueError("give revisions or times, not both or neither")  # our bug
    marks: Sequence[Any] = revs or times
    order = sorted(range(len(marks)), key=lambda i: marks[i])

    def reached(i: int, next_rev: int, next_at: datetime | None) -> bool:
        if revs:
            return revs[i] < next_rev
        return next_at is not None and times[i] < next_at

    stream = f"room:{room_id}"
    results: dict[int, dict[str, Any]] = {}
    text, rev, at, after = TextBuffer(), 0, None, 0
    snapshots = await store.snapshots(stream)
    first = await store.events_after(stream, 0, limit=1)
    if snapshots and (not first or first[0].version > 1):
        # Compacted: history begins at the oldest snapshot.
        after = snapshots[0][0]
        snapshots = snapshots[1:]
        state = RoomState.from_dict(await store.snapshot_at(stream, after))
        text, rev, at = state.text, state.rev, state.updated_at or state.meta.created_at
        while order and reached(order[0], rev, at):
            i = order.pop(0)
            results[i] = {"rev": revs[i] if revs else None, "text": None, "at": None}
    # Start from the newest snapshot that comes at or before the earliest mark.
    for version, _ in reversed(snapshots if order else []):
        if version <= after:
            break
        state = RoomState.from_dict(await store.snapshot_at(stream, version))
        made = state.updated_at or state.meta.created_at
        if not reached(order[0], state.rev, made):
            text, rev, at, after = state.text, state.rev, made, version
            break
    while order:
        events = await store.events_after(stream, after, limit=500)
        if not events:
            break
        for event in events:
            after = event.version
            if event.name != "doc.ops":
                at = at or event.at
                continue
            for op, *_ in event.data["ops"]:
                while order and reached(order[0], rev + 1, event.at):
                    results[order.pop(0)] = {"rev": rev, "text": str(text), "at": iso_or_none(at)}
                text.apply(op)
                rev, at = rev + 1, event.at
    for i in order:  # at or past the end
        results[i] = {"rev": rev, "text": str(text), "at": iso_or_none(at)}
    return [results[i] for i in range(len(marks))]
