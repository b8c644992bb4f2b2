"""``/api/v1``: organizations and their services, incidents and maintenances.

Every mutation is a domain command sent to the organization's actor, so a
change made here is pushed live to WebSocket subscribers. Reads come from the
actor's last committed state. The three collections share one shape, declared
once in :data:`COLLECTIONS` (which the OpenAPI document is built from too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Response, g, request

from ..actors.mailbox import Replay
from ..auth import ALL_ORGS, Principal
from ..domain import commands as c
from ..domain import texts, transaction, views
from ..domain.model import OrgState
from ..domain.monitors import Monitor
from ..domain.schema import given, parse
from ..errors import InvalidTransition, NotFound, ValidationError
from .access import access, caller
from .common import (
    json_body,
    json_response,
    origin,
    page_window,
    paginate,
    parts,
    query_choice,
    query_int,
    receipt_for,
)
from .past import find_incident, incidents_newest_first, is_archived

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass(frozen=True, slots=True)
class Collection:
    """One kind of thing an organization has, and the commands that change it."""

    name: str  # URL segment: services
    ref: str  # the command field naming one: service
    create: type
    update: type
    delete: type
    find: Callable[[OrgState, str], Any]
    list: Callable[[OrgState, str], list[Any]]
    filters: tuple[str, ...] = ("all",)
    default_filter: str = "all"
    actions: dict[str, type] = field(default_factory=dict)  # POST /{id}/{action}
    view: Callable[[Any], dict[str, Any]] = lambda item: item.to_dict()  # what a read shows


COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        "services",
        "service",
        c.CreateService,
        c.UpdateService,
        c.DeleteService,
        transaction.find_service,
        lambda state, _: views.ordered_services(state),
    ),
    Collection(
        "incidents",
        "incident",
        c.CreateIncident,
        c.UpdateIncident,
        c.DeleteIncident,
        transaction.find_incident,
        views.filter_incidents,
        views.INCIDENT_FILTERS,
        "all",
        {"resolve": c.ResolveIncident},
    ),
    Collection(
        "maintenances",
        "maintenance",
        c.ScheduleMaintenance,
        c.UpdateMaintenance,
        c.DeleteMaintenance,
        transaction.find_maintenance,
        views.filter_maintenances,
        views.MAINTENANCE_FILTERS,
        "all",
        {"cancel": c.CancelMaintenance},
    ),
    Collection(
        "monitors",
        "monitor",
        c.CreateMonitor,
        c.UpdateMonitor,
        c.DeleteMonitor,
        transaction.find_monitor,
        lambda state, _: sorted(state.monitors.values(), key=lambda m: m.name.casefold()),
        actions={"token": c.NewHeartbeatToken},
        view=lambda monitor: _monitor_view(monitor),
    ),
)


def _monitor_view(monitor: Monitor) -> dict[str, Any]:
    """A monitor as stored, and what is true of its regions now (see
    Monitoring.live_view)."""
    monitoring = parts().monitoring
    live = monitoring.live_view(monitor) if monitoring is not None else {}
    return {**monitor.to_dict(), **live}


async def _execute(org: str, cls: type, from_url: dict[str, str], *, body_required: bool) -> Any:
    """Build the command from body + URL and run it through the actor (the
    route's policy entry, which authorized the caller, names this command)."""
    assert access().command is cls, f"{request.url_rule} runs {cls.__name__}, not its policy's"
    who = caller()
    body = await json_body(required=body_required)
    for key in from_url:
        if key in body:
            raise ValidationError(f"{key} is given by the URL, not the body", field=key)
    name = c.COMMAND_NAMES.get(cls, cls.__name__)
    command: Any = parse(cls, {**body, **from_url}, where=name)
    receipt = receipt_for(who, org, name, given(command))
    try:
        result = await parts().registry.execute(org, command, who.subject, origin(who), receipt)
    except NotFound as error:
        ref = from_url.get("incident")
        if error.field == "incident" and ref and await is_archived(org, ref):
            days = parts().registry.limits.incident_memory_days
            raise InvalidTransition(
                f"incident {ref!r} was resolved more than {days:g} days ago and is archived:"
                " it can be read, not changed",
                field="incident",
            ) from None
        raise
    if isinstance(result, Replay):
        g.replayed = True  # said in a header by the app
        return result.answer
    return result


async def _state(org: str) -> OrgState:
    handle = await parts().registry.org(org)
    return handle.state


def _org_view(state: OrgState) -> dict[str, Any]:
    return {
        **state.org.to_dict(),
        "status": state.status.to_dict(),
        "version": state.version,
        "services": len(state.services),
        "active_incidents": sum(1 for i in state.incidents.values() if i.active),
    }


# -- organizations ------------------------------------------------------------------


@bp.get("/orgs")
async def list_orgs() -> Response:
    who = caller()
    registry = parts().registry
    if who.org != ALL_ORGS:
        data = []
        for slug in sorted(_orgs_of(who)):
            try:
                data.append(
                    {**_org_view((await registry.org(slug)).state), "role": str(who.role_in(slug))}
                )
            except NotFound:
                continue  # deleted
        return json_response({"data": data, "next": None})
    limit = query_int("limit", 50, 1, 200)
    after = request.args.get("after", "")
    slugs = await registry.slugs(after=after, limit=limit + 1)
    data = []
    for slug in slugs[:limit]:
        try:
            data.append(_org_view((await registry.org(slug)).state))
        except NotFound:
            continue  # deleted
    following = (
        f"/api/v1/orgs?after={slugs[limit - 1]}&limit={limit}" if len(slugs) > limit else None
    )
    return json_response({"data": data, "next": following})


def _orgs_of(who: Principal) -> list[str]:
    """The organizations a principal belongs to (not for server-wide tokens)."""
    if who.kind == "user":
        return list(parts().auth.directory.memberships.get(who.id, {}))
    return [who.org] if who.org else []


@bp.post("/orgs")
async def create_org() -> Response:
    who = caller()
    command = parse(c.CreateOrg, await json_body(), where="org.create")
    created = await parts().registry.create_org(command, who.subject, origin(who))
    location = f"/api/v1/orgs/{command.slug}"
    return json_response(created, 201, {"Location": location})


@bp.get("/orgs/<org>")
async def get_org(org: str) -> Response:
    """The organization, with the words its automatic incidents use unless it
    changes them (``monitor_text_defaults``), for the console's settings."""
    view = _org_view(await _state(org))
    return json_response({**view, "monitor_text_defaults": dict(texts.DEFAULTS)})


@bp.patch("/orgs/<org>")
async def update_org(org: str) -> Response:
    result = await _execute(org, c.UpdateOrg, {}, body_required=True)
    return json_response(result)


@bp.delete("/orgs/<org>")
async def delete_org(org: str) -> Response:
    result = await _execute(org, c.DeleteOrg, {}, body_required=False)
    return json_response(result)


# -- collections ------------------------------------------------------------------


def _register(col: Collection) -> None:
    base = f"/orgs/<org>/{col.name}"

    async def list_items(org: str) -> Response:
        handle = await parts().registry.org(org)
        which = query_choice("status", col.filters, col.default_filter)
        if col.name == "incidents":  # the past ones may be archived out of memory
            limit, offset = page_window()
            items, total = await incidents_newest_first(handle, which, offset + limit)
            return json_response(paginate(items, lambda item: item.to_dict(), total))
        return json_response(paginate(col.list(handle.state, which), col.view))

    async def create_item(org: str) -> Response:
        created = await _execute(org, col.create, {}, body_required=True)
        return json_response(
            created, 201, {"Location": f"/api/v1/orgs/{org}/{col.name}/{created['id']}"}
        )

    async def get_item(org: str, ref: str) -> Response:
        if col.name == "incidents":
            found = await find_incident(await parts().registry.org(org), ref)
            return json_response(found.to_dict())
        return json_response(col.view(col.find(await _state(org), ref)))

    async def update_item(org: str, ref: str) -> Response:
        result = await _execute(org, col.update, {col.ref: ref}, body_required=True)
        return json_response(result)

    async def delete_item(org: str, ref: str) -> Response:
        result = await _execute(org, col.delete, {col.ref: ref}, body_required=False)
        return json_response(result)

    bp.add_url_rule(base, f"list_{col.name}", list_items, methods=["GET"])
    bp.add_url_rule(base, f"create_{col.ref}", create_item, methods=["POST"])
    bp.add_url_rule(f"{base}/<ref>", f"get_{col.ref}", get_item, methods=["GET"])
    bp.add_url_rule(f"{base}/<ref>", f"update_{col.ref}", update_item, methods=["PATCH"])
    bp.add_url_rule(f"{base}/<ref>", f"delete_{col.ref}", delete_item, methods=["DELETE"])
    for action, cls in col.actions.items():
        _register_action(col, action, cls)


def _register_action(col: Collection, action: str, cls: type) -> None:
    async def act(org: str, ref: str) -> Response:
        result = await _execute(org, cls, {col.ref: ref}, body_required=False)
        return json_response(result)

    bp.add_url_rule(
        f"/orgs/<org>/{col.name}/<ref>/{action}", f"{action}_{col.ref}", act, methods=["POST"]
    )


for _collection in COLLECTIONS:
    _register(_collection)


@bp.put("/orgs/<org>/incidents/<ref>/postmortem")
async def write_postmortem(org: str, ref: str) -> Response:
    """Publish a resolved incident's postmortem, or revise it (one per incident)."""
    result = await _execute(org, c.WritePostmortem, {"incident": ref}, body_required=True)
    return json_response(result)
