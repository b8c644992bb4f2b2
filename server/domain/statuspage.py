"""The organization rendered as Atlassian Statuspage's public v2 API.

Same field names, value sets and shapes as ``/api/v2/*.json`` on a Statuspage
page, so that clients, exporters and widgets written for Statuspage work when
pointed at ``http://host/status/{org}``:

* a service is a *component*; a group is a component with ``group: true`` and
  the ids of its ``components``; a service in a group has its ``group_id``;
* timelines are ``incident_updates``, newest first, each with its
  ``affected_components`` (``code``, ``name``, ``old_status``, ``new_status``);
* maintenances are incidents with ``scheduled_for``/``scheduled_until`` and the
  impact ``maintenance``; cancelled ones are not listed (Statuspage deletes them);
* an incident's postmortem is ``postmortem_body`` (its Markdown source),
  ``postmortem_published_at`` and ``postmortem_body_last_updated_at``, null
  until there is one (and on maintenances).

:func:`render` returns one document by name; the organization's actor caches
the encoded result until its state next changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .model import (
    MAINTENANCE_RUNNING,
    SEVERITY,
    Group,
    Incident,
    Maintenance,
    MaintenanceStatus,
    OrgState,
    Service,
    ServiceStatus,
    Update,
    iso,
    iso_or_none,
    worst,
)
from .views import (
    active_incidents,
    incidents_newest_first,
    maintenances_newest_first,
    ordered_services,
)

HISTORY_LIMIT = 50  # Statuspage lists the 50 most recent incidents/maintenances
POSTMORTEM_KEYS = ("postmortem_body", "postmortem_body_last_updated_at", "postmortem_published_at")


class Renderer:
    """Renders one organization; ``base_url`` is where the server is reached,
    ``page_url`` (if given) where the reader found the page (the root of a
    custom domain, say)."""

    def __init__(self, state: OrgState, base_url: str, page_url: str | None = None) -> None:
        self.state = state
        self.page_id = state.org.id
        self.page_url = page_url or f"{base_url.rstrip('/')}/status/{state.org.slug}"

    # -- pieces -------------------------------------------------------------

    def page(self) -> dict[str, Any]:
        org = self.state.org
        updated = self.state.updated_at or org.updated_at
        return {
            "id": org.id,
            "name": org.name,
            "url": self.page_url,
            "time_zone": "Etc/UTC" if org.time_zone == "UTC" else org.time_zone,
            "updated_at": iso(updated),
        }

    def component(self, service: Service) -> dict[str, Any]:
        return {
            "id": service.id,
            "name": service.name,
            "status": service.status.value,
            "created_at": iso(service.created_at),
            "updated_at": iso(service.updated_at),
            "position": service.position,
            "description": service.description,
            "showcase": service.showcase,
            "start_date": service.created_at.date().isoformat(),
            "group_id": service.group_id,
            "page_id": self.page_id,
            "group": False,
            "only_show_if_degraded": service.only_show_if_degraded,
        }

    def group_component(self, group: Group, members: list[Service]) -> dict[str, Any]:
        statuses = [s.status for s in members]
        on_chain = [s for s in statuses if s in SEVERITY]
        if on_chain and SEVERITY[worst(*on_chain)] > 0:
            status = worst(*on_chain)
        elif ServiceStatus.UNDER_MAINTENANCE in statuses:
            status = ServiceStatus.UNDER_MAINTENANCE
        else:
            status = ServiceStatus.OPERATIONAL
        return {
            "id": group.id,
            "name": group.name,
            "status": status.value,
            "created_at": iso(group.created_at),
            "updated_at": iso(max([group.updated_at, *(s.updated_at for s in members)])),
            "position": min(s.position for s in members),
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [s.id for s in members],
        }

    def components(self) -> list[dict[str, Any]]:
        """Groups and services in page order: each group just before its members."""
        services = ordered_services(self.state)
        members: dict[str, list[Service]] = {}
        for service in services:
            if service.group_id in self.state.groups:
                members.setdefault(service.group_id, []).append(service)
        out: list[dict[str, Any]] = []
        placed: set[str] = set()
        for service in services:
            group_id = service.group_id
            if group_id is None or group_id not in self.state.groups:
                out.append(self.component(service))
            elif group_id not in placed:
                placed.add(group_id)
                group = self.state.groups[group_id]
                out.append(self.group_component(group, members[group_id]))
                out.extend(self.component(s) for s in members[group_id])
        return out

    def _update(self, update: Update, parent_id: str) -> dict[str, Any]:
        created = iso(update.created_at)
        return {
            "id": update.id,
            "status": update.status,
            "body": update.body,
            "incident_id": parent_id,
            "created_at": created,
            "updated_at": created,
            "display_at": created,
            "affected_components": [
                {
                    "code": a.service_id,
                    "name": a.name,
                    "old_status": a.old_status.value,
                    "new_status": a.new_status.value,
                }
                for a in update.affected
            ]
            or None,
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
        }

    def _affected_components(self, service_ids: Any) -> list[dict[str, Any]]:
        """The services named, in page order."""
        wanted = set(service_ids)
        return [self.component(s) for s in ordered_services(self.state) if s.id in wanted]

    def incident(self, incident: Incident) -> dict[str, Any]:
        return {
            "id": incident.id,
            "name": incident.name,
            "status": incident.status.value,
            "created_at": iso(incident.created_at),
            "updated_at": iso(incident.updated_at),
            "monitoring_at": iso_or_none(incident.monitoring_at),
            "resolved_at": iso_or_none(incident.resolved_at),
            "impact": incident.impact.value,
            "shortlink": f"{self.page_url}/incidents/{incident.id}",
            "started_at": iso(incident.started_at),
            "page_id": self.page_id,
            "incident_updates": [self._update(u, incident.id) for u in reversed(incident.updates)],
            "components": self._affected_components(incident.services),
            **self._postmortem(incident),
        }

    @staticmethod
    def _postmortem(incident: Incident | None) -> dict[str, Any]:
        """Statuspage's postmortem fields: the Markdown source and its times (null
        when there is none, and on maintenances)."""
        postmortem = None if incident is None else incident.postmortem
        if postmortem is None:
            return dict.fromkeys(POSTMORTEM_KEYS)
        return {
            "postmortem_body": postmortem.body,
            "postmortem_body_last_updated_at": iso(postmortem.updated_at),
            "postmortem_published_at": iso(postmortem.published_at),
        }

    def maintenance(self, maintenance: Maintenance) -> dict[str, Any]:
        resolved = maintenance.completed_at
        return {
            "id": maintenance.id,
            "name": maintenance.name,
            "status": maintenance.status.value,
            "created_at": iso(maintenance.created_at),
            "updated_at": iso(maintenance.updated_at),
            "monitoring_at": None,
            "resolved_at": iso_or_none(resolved),
            "impact": "maintenance",
            "shortlink": f"{self.page_url}/maintenances/{maintenance.id}",
            "started_at": iso(maintenance.started_at or maintenance.scheduled_for),
            "page_id": self.page_id,
            "incident_updates": [
                self._update(u, maintenance.id) for u in reversed(maintenance.updates)
            ],
            "components": self._affected_components(maintenance.service_ids),
            **self._postmortem(None),
            "scheduled_for": iso(maintenance.scheduled_for),
            "scheduled_until": iso(maintenance.scheduled_until),
        }

    # -- documents ----------------------------------------------------------

    def _maintenances(self, keep: Callable[[Maintenance], bool]) -> list[dict[str, Any]]:
        return [
            self.maintenance(m)
            for m in maintenances_newest_first(self.state)
            if m.status is not MaintenanceStatus.CANCELLED and keep(m)
        ]

    def summary(self) -> dict[str, Any]:
        upcoming_or_running = self._maintenances(
            lambda m: m.status is MaintenanceStatus.SCHEDULED or m.status in MAINTENANCE_RUNNING
        )
        return {
            "page": self.page(),
            "components": self.components(),
            "incidents": [self.incident(i) for i in active_incidents(self.state)],
            "scheduled_maintenances": upcoming_or_running,
            "status": self.state.status.to_dict(),
        }

    def status(self) -> dict[str, Any]:
        return {"page": self.page(), "status": self.state.status.to_dict()}

    def components_doc(self) -> dict[str, Any]:
        return {"page": self.page(), "components": self.components()}

    def incidents(self) -> dict[str, Any]:
        recent = incidents_newest_first(self.state)[:HISTORY_LIMIT]
        return {"page": self.page(), "incidents": [self.incident(i) for i in recent]}

    def unresolved(self) -> dict[str, Any]:
        return {
            "page": self.page(),
            "incidents": [self.incident(i) for i in active_incidents(self.state)],
        }

    def maintenances(self) -> dict[str, Any]:
        return {
            "page": self.page(),
            "scheduled_maintenances": self._maintenances(lambda m: True)[:HISTORY_LIMIT],
        }

    def upcoming(self) -> dict[str, Any]:
        items = self._maintenances(lambda m: m.status is MaintenanceStatus.SCHEDULED)
        return {"page": self.page(), "scheduled_maintenances": items[::-1]}

    def active(self) -> dict[str, Any]:
        items = self._maintenances(lambda m: m.status in MAINTENANCE_RUNNING)
        return {"page": self.page(), "scheduled_maintenances": items}


DOCUMENTS: Mapping[str, Callable[[Renderer], dict[str, Any]]] = {
    "summary.json": Renderer.summary,
    "status.json": Renderer.status,
    "components.json": Renderer.components_doc,
    "incidents.json": Renderer.incidents,
    "incidents/unresolved.json": Renderer.unresolved,
    "scheduled-maintenances.json": Renderer.maintenances,
    "scheduled-maintenances/upcoming.json": Renderer.upcoming,
    "scheduled-maintenances/active.json": Renderer.active,
}


def render(
    state: OrgState, document: str, base_url: str, page_url: str | None = None
) -> dict[str, Any]:
    """One Statuspage v2 document (a key of :data:`DOCUMENTS`) for ``state``;
    its links start with ``page_url`` when given."""
    return DOCUMENTS[document](Renderer(state, base_url, page_url))
