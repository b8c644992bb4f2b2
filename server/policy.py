"""Who may do what: the one policy every door reads.

The weakest role for each action is :data:`server.domain.access.POLICY`.
What each door performs is written down once:

* an organization's commands, whether they come as REST writes or as
  WebSocket ``command`` frames: the action in the command catalogue
  (:data:`server.domain.commands.CATALOGUE`), beside each command;
* WebSocket topics and room messages: :data:`TOPICS` and :data:`MESSAGES`;
* REST routes: :data:`ROUTES`, enforced before any handler runs
  (:mod:`server.rest.access`). A route missing from the table stops the
  server from starting, so none can go unclassified.

Handlers never choose an action themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .domain import commands as c
from .domain.access import Action

AccessKind = Literal["public", "signed", "operator", "probe", "org", "room", "org-in-body"]


@dataclass(frozen=True, slots=True)
class Access:
    """What a door asks of whoever knocks.

    * ``public``: nobody in particular (a token, if sent, must still be valid);
    * ``signed``: any valid credential;
    * ``operator``: a server-wide operator token;
    * ``probe``: a probe token of the region named (or a server-wide operator);
    * ``org``: ``action`` in the organization the path names;
    * ``room``: ``action`` in the organization that owns the room the path
      names (to anyone else the room does not exist);
    * ``org-in-body``: ``action`` in the organization the request's body names.

    ``command`` is the organization command the door runs, when it runs one:
    its ``action`` is then the command's own, from the catalogue.
    """

    kind: AccessKind
    action: Action | None = None
    command: type | None = None

    def __str__(self) -> str:
        return self.kind if self.action is None else f"{self.kind}:{self.action.value}"


PUBLIC: Final = Access("public")
SIGNED: Final = Access("signed")
OPERATOR: Final = Access("operator")
PROBE: Final = Access("probe")
READ: Final = Access("org", Action.READ)
CHANGE: Final = Access("org", Action.CHANGE)
ADMINISTER: Final = Access("org", Action.ADMINISTER)


def runs(command: type) -> Access:
    """The door runs ``command``: it needs what the command needs."""
    return Access("org", c.action_of(command), command)


def room(action: Action) -> Access:
    return Access("room", action)


#: WebSocket topics, by kind (``status:``, ``org:``, ``room:``, ``probe:``).
TOPICS: Final[dict[str, Access]] = {
    "status": PUBLIC,
    "org": READ,
    "room": room(Action.READ),
    "probe": PROBE,
}

#: WebSocket messages other than subscriptions and commands (which the topics
#: and the catalogue cover); ``hello`` and ``ping`` are open to all.
MESSAGES: Final[dict[str, Access]] = {
    "doc.op": room(Action.CHANGE),
    "presence": room(Action.READ),
}

_ORG = "/api/v1/orgs/<org>"

#: REST routes: (method, Quart rule) -> what it asks. HEAD is GET's.
ROUTES: Final[dict[tuple[str, str], Access]] = {
    # The process, its pages and documents.
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/ws"): PUBLIC,
    ("GET", "/static/<path:name>"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    # The console's pages are shells: their scripts call the API as the login.
    ("GET", "/admin"): PUBLIC,
    ("GET", "/admin/<path:view>"): PUBLIC,
    ("GET", "/admin/incidents/<incident>"): PUBLIC,
    # The public status page, its feeds, badges and Statuspage documents.
    ("GET", "/status/<org>"): PUBLIC,
    ("GET", "/status/<org>/theme.css"): PUBLIC,
    ("GET", "/status/<org>/history"): PUBLIC,
    ("GET", "/status/<org>/incidents/<incident>"): PUBLIC,
    ("GET", "/status/<org>/maintenances/<maintenance>"): PUBLIC,
    ("GET", "/status/<org>/days.json"): PUBLIC,
    ("GET", "/status/<org>/response-times.json"): PUBLIC,
    ("GET", "/status/<org>/history.rss"): PUBLIC,
    ("GET", "/status/<org>/history.atom"): PUBLIC,
    ("GET", "/status/<org>/badge.svg"): PUBLIC,
    ("GET", "/status/<org>/services/<service>/badge.svg"): PUBLIC,
    # A monitor's badges: only of a service the page lists (see pages.public_monitor).
    ("GET", "/status/<org>/monitors/<monitor>/uptime.svg"): PUBLIC,
    ("GET", "/status/<org>/monitors/<monitor>/response-time.svg"): PUBLIC,
    ("GET", "/status/<org>/monitors/<monitor>/certificate.svg"): PUBLIC,
    ("GET", "/status/<org>/api/v2/<path:document>"): PUBLIC,
    # Anyone may subscribe to a status page; the links carry their own secret.
    ("POST", "/status/<org>/subscribe"): PUBLIC,
    ("GET", "/status/<org>/subscribe/confirm/<token>"): PUBLIC,
    ("POST", "/status/<org>/subscribe/confirm/<token>"): PUBLIC,
    ("GET", "/status/<org>/unsubscribe/<token>"): PUBLIC,
    ("POST", "/status/<org>/unsubscribe/<token>"): PUBLIC,
    # A scheduled job's beat: the token in the path is the whole credential.
    ("GET", "/api/v1/heartbeat/<token>"): PUBLIC,
    ("POST", "/api/v1/heartbeat/<token>"): PUBLIC,
    # Logins and invitations: the body or the link is the credential.
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("GET", "/api/v1/invitations/<link>"): PUBLIC,
    ("POST", "/api/v1/invitations/<link>/accept"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): SIGNED,
    ("GET", "/api/v1/me"): SIGNED,
    ("GET", "/api/v1/orgs"): SIGNED,  # lists only the caller's organizations
    # The server's own.
    ("POST", "/api/v1/orgs"): OPERATOR,
    ("GET", "/api/v1/monitoring"): OPERATOR,
    ("DELETE", "/api/v1/monitoring/regions/<region>"): OPERATOR,
    ("GET", "/api/v1/runtime"): OPERATOR,
    ("GET", "/metrics"): OPERATOR,  # Prometheus' scrape (server.metrics)
    ("GET", "/api/v1/audit"): OPERATOR,  # the server's own log: logins
    # An organization and what it holds.
    ("GET", _ORG): READ,
    ("PATCH", _ORG): runs(c.UpdateOrg),
    ("DELETE", _ORG): runs(c.DeleteOrg),
    ("GET", f"{_ORG}/services"): READ,
    ("POST", f"{_ORG}/services"): runs(c.CreateService),
    ("GET", f"{_ORG}/services/<ref>"): READ,
    ("PATCH", f"{_ORG}/services/<ref>"): runs(c.UpdateService),
    ("DELETE", f"{_ORG}/services/<ref>"): runs(c.DeleteService),
    ("GET", f"{_ORG}/incidents"): READ,
    ("POST", f"{_ORG}/incidents"): runs(c.CreateIncident),
    ("GET", f"{_ORG}/incidents/<ref>"): READ,
    ("PATCH", f"{_ORG}/incidents/<ref>"): runs(c.UpdateIncident),
    ("DELETE", f"{_ORG}/incidents/<ref>"): runs(c.DeleteIncident),
    ("POST", f"{_ORG}/incidents/<ref>/resolve"): runs(c.ResolveIncident),
    ("PUT", f"{_ORG}/incidents/<ref>/postmortem"): runs(c.WritePostmortem),
    ("GET", f"{_ORG}/incidents/<incident>/notes"): READ,
    ("GET", f"{_ORG}/maintenances"): READ,
    ("POST", f"{_ORG}/maintenances"): runs(c.ScheduleMaintenance),
    ("GET", f"{_ORG}/maintenances/<ref>"): READ,
    ("PATCH", f"{_ORG}/maintenances/<ref>"): runs(c.UpdateMaintenance),
    ("DELETE", f"{_ORG}/maintenances/<ref>"): runs(c.DeleteMaintenance),
    ("POST", f"{_ORG}/maintenances/<ref>/cancel"): runs(c.CancelMaintenance),
    ("GET", f"{_ORG}/monitors"): READ,
    ("POST", f"{_ORG}/monitors"): runs(c.CreateMonitor),
    ("GET", f"{_ORG}/monitors/<ref>"): READ,
    ("PATCH", f"{_ORG}/monitors/<ref>"): runs(c.UpdateMonitor),
    ("DELETE", f"{_ORG}/monitors/<ref>"): runs(c.DeleteMonitor),
    ("GET", f"{_ORG}/monitors/<ref>/results"): READ,
    ("GET", f"{_ORG}/monitors/<ref>/uptime"): READ,
    ("GET", f"{_ORG}/monitors/<ref>/response-times"): READ,
    ("GET", f"{_ORG}/monitors/<ref>/incidents"): READ,
    ("GET", f"{_ORG}/uptime"): READ,
    ("POST", f"{_ORG}/monitors/<ref>/check"): CHANGE,
    ("POST", f"{_ORG}/monitors/<ref>/token"): runs(c.NewHeartbeatToken),
    ("GET", f"{_ORG}/probes"): READ,
    # Rooms: another organization's room does not exist, as far as answers say.
    ("POST", "/api/v1/rooms"): Access("org-in-body", Action.CHANGE),
    ("GET", "/api/v1/rooms/<room_id>"): room(Action.READ),
    ("GET", "/api/v1/rooms/<room_id>/text"): room(Action.READ),
    ("DELETE", "/api/v1/rooms/<room_id>"): room(Action.ADMINISTER),
    # The team, its tokens and the audit log.
    ("GET", f"{_ORG}/members"): ADMINISTER,
    ("PATCH", f"{_ORG}/members/<user_id>"): ADMINISTER,
    ("DELETE", f"{_ORG}/members/<user_id>"): ADMINISTER,
    ("POST", f"{_ORG}/invitations"): ADMINISTER,
    ("GET", f"{_ORG}/invitations"): ADMINISTER,
    ("DELETE", f"{_ORG}/invitations/<invitation_id>"): ADMINISTER,
    ("POST", f"{_ORG}/tokens"): ADMINISTER,
    ("GET", f"{_ORG}/tokens"): ADMINISTER,
    ("DELETE", f"{_ORG}/tokens/<token_id>"): ADMINISTER,
    ("GET", f"{_ORG}/audit"): ADMINISTER,
    # Notifications.
    ("GET", f"{_ORG}/channels"): ADMINISTER,
    ("POST", f"{_ORG}/channels"): ADMINISTER,
    ("GET", f"{_ORG}/channels/<channel>"): ADMINISTER,
    ("PATCH", f"{_ORG}/channels/<channel>"): ADMINISTER,
    ("DELETE", f"{_ORG}/channels/<channel>"): ADMINISTER,
    ("POST", f"{_ORG}/channels/<channel>/test"): ADMINISTER,
    ("GET", f"{_ORG}/deliveries"): ADMINISTER,
    ("GET", f"{_ORG}/deliveries/<delivery>"): ADMINISTER,
    ("POST", f"{_ORG}/deliveries/<delivery>/retry"): ADMINISTER,
    ("GET", f"{_ORG}/subscribers"): ADMINISTER,
    ("GET", f"{_ORG}/subscribers/counts"): ADMINISTER,
    ("GET", f"{_ORG}/subscribers.csv"): ADMINISTER,
    ("DELETE", f"{_ORG}/subscribers/<subscriber>"): ADMINISTER,
}
