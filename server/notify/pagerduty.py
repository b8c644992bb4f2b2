"""PagerDuty channels: PagerDuty's Events API v2, an alert's whole life.

Each thing that can go wrong has one alert, named by a ``dedup_key`` that
stays the same for its whole life:

* an incident: ``switchboard/{org}/incident/{incident id}``. Opened: trigger
  (severity by its impact). Identified or monitoring: acknowledge, since
  someone is on it; back to investigating: trigger again, which PagerDuty adds
  to the open alert. Resolved (and any later entry, a postmortem's): resolve.
  An incident opened as identified or monitoring is triggered, then
  acknowledged; one opened as resolved (written up afterwards) only resolves,
  which opens nothing.
* a monitor: ``switchboard/{org}/monitor/{monitor id}``. Down: trigger
  (critical); degraded: trigger (warning); flapping: trigger (error); up:
  resolve; stable again: resolve if it is up, else trigger as what it is.
* a probe's region: ``switchboard/{org}/probe/{region}``. Offline: trigger
  (error); online: resolve.

A test notification triggers an alert of severity info and resolves it at
once, under a key of its own. Maintenances are not sent: a PagerDuty channel
cannot choose them.

This module only says what to send; :mod:`.deliveries` sends it, in order,
and does not send a delivery being retried once a later one of the same
alert was sent (see :meth:`.deliveries.Notifier._to_pagerduty`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .senders import Rendered, Tone, tone

DEFAULT_URL: Final = "https://events.pagerduty.com/v2/enqueue"

TRIGGER: Final = "trigger"
ACKNOWLEDGE: Final = "acknowledge"
RESOLVE: Final = "resolve"

SUMMARY: Final = 1024  # characters PagerDuty keeps of a summary

_SEVERITIES = {Tone.CRITICAL: "critical", Tone.MAJOR: "error", Tone.MINOR: "warning"}
_WORKED_ON = ("identified", "monitoring")
_OVER = ("resolved", "postmortem")


@dataclass(frozen=True, slots=True)
class Subject:
    """What one alert is about: an incident, a monitor, a probe's region, a test."""

    kind: str
    id: str

    def dedup_key(self, org: str) -> str:
        return f"switchboard/{org}/{self.kind}/{self.id}"

    @property
    def events(self) -> str:
        """The events about subjects of this kind, as a LIKE pattern."""
        return f"{self.kind}.%"

    @property
    def path(self) -> list[str]:
        """Where the id is in those events' payloads."""
        return ["region"] if self.kind == "probe" else [self.kind, "id"]


def _part(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = payload.get(name)
    return found if isinstance(found, Mapping) else {}


def subject(event: str, payload: Mapping[str, Any], delivery_id: str) -> Subject | None:
    kind = event.partition(".")[0]
    if kind in ("incident", "monitor"):
        found = _part(payload, kind).get("id")
        return Subject(kind, str(found)) if found else None
    if kind == "probe":
        region = payload.get("region")
        return Subject("probe", str(region)) if region else None
    if event == "test":
        return Subject("test", delivery_id)
    return None


def actions(event: str, payload: Mapping[str, Any]) -> list[str]:
    """What to tell PagerDuty of ``event``, in order (empty: nothing it takes)."""
    if event.startswith("incident."):
        status = _part(payload, "incident").get("status")
        if status in _OVER:
            return [RESOLVE]
        if status in _WORKED_ON:
            return [TRIGGER, ACKNOWLEDGE] if event == "incident.created" else [ACKNOWLEDGE]
        return [TRIGGER]
    if event in ("monitor.down", "monitor.degraded", "monitor.flapping", "probe.offline"):
        return [TRIGGER]
    if event in ("monitor.up", "probe.online"):
        return [RESOLVE]
    if event == "monitor.stable":
        return [RESOLVE] if _part(payload, "monitor").get("verdict") == "up" else [TRIGGER]
    if event == "test":
        return [TRIGGER, RESOLVE]
    return []


def _details(event: str, payload: Mapping[str, Any], rendered: Rendered) -> dict[str, Any]:
    details: dict[str, Any] = {"event": event, "text": "\n\n".join(rendered.paragraphs)}
    if event.startswith("incident."):
        incident = _part(payload, "incident")
        details.update({k: incident.get(k) for k in ("name", "status", "impact")})
    elif event.startswith("monitor."):
        monitor = _part(payload, "monitor")
        details.update({k: monitor.get(k) for k in ("name", "kind", "verdict")})
        details["service"] = _part(payload, "service").get("name")
        details["failing_regions"] = monitor.get("failing_regions") or []
        for extra in ("target", "message"):
            if payload.get(extra):
                details[extra] = payload[extra]
    elif event.startswith("probe."):
        details["region"] = payload.get("region")
        details["last_seen"] = payload.get("last_seen")
    return details


def _source(org: str, event: str, payload: Mapping[str, Any], page: str) -> str:
    """What PagerDuty calls the affected system: what the monitor checks, the
    probe's region, else the status page."""
    if event.startswith("monitor."):
        return str(payload.get("target") or _part(payload, "monitor").get("name") or page)
    if event.startswith("probe."):
        return f"probe {payload.get('region', '?')} of {org}"
    return page


def _timestamp(event: str, payload: Mapping[str, Any]) -> Any:
    if event.startswith("incident."):
        return _part(payload, "incident").get("updated_at")
    if event.startswith("monitor."):
        return _part(payload, "monitor").get("verdict_since")
    return None


def messages(
    *,
    org: str,
    event: str,
    payload: Mapping[str, Any],
    rendered: Rendered,
    routing_key: str,
    delivery_id: str,
    page: str,
) -> list[dict[str, Any]]:
    """The Events API v2 requests ``event`` makes, in the order to send them
    (``page``: the organization's public page, which they link to)."""
    about = subject(event, payload, delivery_id)
    if about is None:
        return []
    key = about.dedup_key(org)
    out: list[dict[str, Any]] = []
    for action in actions(event, payload):
        message: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": key,
        }
        if action == TRIGGER:
            summary = " ".join(rendered.subject.split())
            body: dict[str, Any] = {
                "summary": summary[: SUMMARY - 1] + "…" if len(summary) > SUMMARY else summary,
                "source": _source(org, event, payload, page),
                "severity": _SEVERITIES.get(tone(event, payload), "info"),
                "group": org,
                "class": about.kind,
                "custom_details": _details(event, payload, rendered),
            }
            if event.startswith("monitor."):
                service = _part(payload, "service").get("name")
                if service:
                    body["component"] = service
            if when := _timestamp(event, payload):
                body["timestamp"] = when
            message.update(
                payload=body,
                links=[{"href": rendered.link, "text": rendered.link_text}],
                client="Switchboard",
                client_url=page,
            )
        out.append(message)
    return out
