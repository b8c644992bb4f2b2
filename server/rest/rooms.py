"""``/api/v1/rooms``: shared notes rooms, their text now and as it was.

Every incident has one (its ``notes_room``); members may also open ad-hoc
rooms. Rooms are edited over the WebSocket (``doc.op``); these routes create
them and read them. A room of an organization the token is not a member of
does not exist, as far as the answer says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from quart import Blueprint, Response, request

from ..auth import ALL_ORGS
from ..domain.commands import Name
from ..domain.schema import Text, convert, parse
from ..domain.transaction import find_incident
from ..errors import HistoryCompacted, NotFound, ValidationError
from ..store.history import texts_at
from .access import authorize_named, caller, room_of
from .common import json_body, json_response, origin, parts

bp = Blueprint("rooms", __name__, url_prefix="/api/v1")

Slug = Annotated[str, Text(1, 40)]


@dataclass(frozen=True, slots=True)
class CreateRoom:
    org: Slug | None = None  # default: the token's organization
    title: Name = "Notes"


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    value: datetime = convert(datetime, raw, where=name)  # as bodies parse times
    return value


@bp.post("/rooms")
async def create_room() -> Response:
    who = caller()
    body = parse(CreateRoom, await json_body(required=False), where="room")
    org = body.org or who.org
    if org is None or org == ALL_ORGS:
        raise ValidationError("say which organization the room belongs to", field="org")
    authorize_named(org)
    meta = await parts().registry.create_room(org, body.title, who.subject, origin(who))
    return json_response(
        {"room_id": meta["id"], **meta}, 201, {"Location": f"/api/v1/rooms/{meta['id']}"}
    )


@bp.get("/rooms/<room_id>")
async def get_room(room_id: str) -> Response:
    handle = room_of()
    now = await handle.read()
    assert handle.meta is not None
    return json_response(
        {
            **handle.meta.to_dict(),
            "rev": now["rev"],
            "length": len(now["text"]),
            "participants": now["participants"],
        }
    )


@bp.delete("/rooms/<room_id>")
async def delete_room(room_id: str) -> Response:
    """Delete an ad-hoc room and its whole log (admin); its subscribers are told."""
    await parts().registry.delete_room(room_id, origin(caller()))
    return Response(b"", 204)


@bp.get("/rooms/<room_id>/text")
async def get_text(room_id: str) -> Response:
    """The text now, or as of ``?rev=N``, or as of ``?at=<time>``."""
    handle = room_of()
    rev_arg, at = request.args.get("rev"), _time("at")
    if rev_arg is not None and at is not None:
        raise ValidationError("give rev or at, not both", field="rev")
    now = await handle.read()
    if rev_arg is None and at is None:
        return json_response({"room": room_id, "rev": now["rev"], "text": now["text"]})
    if rev_arg is not None:
        try:
            rev = int(rev_arg)
        except ValueError:
            raise ValidationError("rev must be an integer", field="rev") from None
        if not 0 <= rev <= now["rev"]:
            raise ValidationError(f"rev must be between 0 and {now['rev']}", field="rev")
        (then,) = await texts_at(parts().store, room_id, revs=[rev])
    else:
        assert at is not None
        (then,) = await texts_at(parts().store, room_id, times=[at])
    if then["text"] is None:
        days = parts().registry.limits.room_history_days
        raise HistoryCompacted(
            f"the room keeps its history for {days:g} days; that text is older",
            field="rev" if rev_arg is not None else "at",
        )
    return json_response({"room": room_id, **then})


@bp.get("/orgs/<org>/incidents/<incident>/notes")
async def incident_notes(org: str, incident: str) -> Response:
    """The incident's timeline beside its notes as they were at each update."""
    state = (await parts().registry.org(org)).state
    found = find_incident(state, incident)
    if found.notes_room is None:
        raise NotFound(f"incident {incident!r} has no notes room", field="incident")
    handle = await parts().registry.reach_room(found.notes_room)
    now = await handle.read()
    notes = await texts_at(
        parts().store, found.notes_room, times=[u.created_at for u in found.updates]
    )
    updates: list[dict[str, Any]] = [
        {**update.to_dict(), "notes": then}
        for update, then in zip(found.updates, notes, strict=True)
    ]
    return json_response(
        {
            "incident": found.id,
            "room": found.notes_room,
            "rev": now["rev"],
            "text": now["text"],
            "updates": updates,
        }
    )
