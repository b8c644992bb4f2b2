"""Every command as a typed method: written by clients/python/tools/generate_commands.py
from the server's command catalogue (server/domain/commands.py). Do not edit by hand.

A keyword left out is left out of the command: the server applies its default
(on ``*.create``) or leaves the field as it is (on ``*.update``); ``None``,
where a field takes it, clears it.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from ._unset import UNSET, Unset, _given

if TYPE_CHECKING:
    from .types import Deleted, Incident, Maintenance, Monitor, Org, Service

Impact = Literal["none", "minor", "major", "critical"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved", "postmortem"]
MaintenanceStatus = Literal["scheduled", "in_progress", "verifying", "completed", "cancelled"]
MonitorKind = Literal[
    "http", "tcp", "tls", "dns", "ping", "websocket", "postgres", "grpc", "heartbeat"
]
MonitorPolicy = Literal["status", "incident", "none"]
ServiceStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
SignUp = Literal["email", "webhook"]


#: The commands, by their name on the wire.
COMMANDS = (
    "org.update",
    "service.create",
    "service.update",
    "service.delete",
    "incident.create",
    "incident.update",
    "incident.resolve",
    "incident.postmortem",
    "incident.delete",
    "maintenance.schedule",
    "maintenance.update",
    "maintenance.cancel",
    "maintenance.delete",
    "monitor.create",
    "monitor.update",
    "monitor.delete",
    "monitor.token",
)


class CommandMethods:
    """The commands as methods of :class:`~switchboard_client.Client`: each
    waits for the server's acknowledgement (the change is durable when it
    returns) and returns the result."""

    async def command(
        self,
        org: str,
        name: str,
        /,
        *,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
        **data: Any,
    ) -> Any:
        """Run the command called ``name`` on ``org`` (the client does)."""
        raise NotImplementedError

    async def org_update(
        self,
        org: str,
        /,
        *,
        name: str | Unset = UNSET,
        listed: bool | Unset = UNSET,
        region_labels: dict[str, str] | Unset = UNSET,
        monitor_texts: dict[str, str] | Unset = UNSET,
        domains: list[str] | Unset = UNSET,
        subscriptions: list[SignUp] | Unset = UNSET,
        logo_url: str | Unset | None = UNSET,
        accent_color: str | Unset | None = UNSET,
        header_links: list[dict[str, Any]] | Unset = UNSET,
        footer_text: str | Unset = UNSET,
        time_zone: str | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Org:
        """The ``org.update`` command (needs the role admin)."""
        answer = await self.command(
            org,
            "org.update",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                name=name,
                listed=listed,
                region_labels=region_labels,
                monitor_texts=monitor_texts,
                domains=domains,
                subscriptions=subscriptions,
                logo_url=logo_url,
                accent_color=accent_color,
                header_links=header_links,
                footer_text=footer_text,
                time_zone=time_zone,
            ),
        )
        return cast("Org", answer)

    async def service_create(
        self,
        org: str,
        /,
        *,
        name: str,
        description: str | Unset | None = UNSET,
        group: str | Unset | None = UNSET,
        position: int | Unset | None = UNSET,
        status: ServiceStatus | Unset = UNSET,
        showcase: bool | Unset = UNSET,
        only_show_if_degraded: bool | Unset = UNSET,
        show_response_times: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Service:
        """The ``service.create`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "service.create",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                name=name,
                description=description,
                group=group,
                position=position,
                status=status,
                showcase=showcase,
                only_show_if_degraded=only_show_if_degraded,
                show_response_times=show_response_times,
            ),
        )
        return cast("Service", answer)

    async def service_update(
        self,
        org: str,
        /,
        *,
        service: str,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        group: str | Unset | None = UNSET,
        position: int | Unset = UNSET,
        status: ServiceStatus | Unset = UNSET,
        showcase: bool | Unset = UNSET,
        only_show_if_degraded: bool | Unset = UNSET,
        show_response_times: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Service:
        """The ``service.update`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "service.update",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                service=service,
                name=name,
                description=description,
                group=group,
                position=position,
                status=status,
                showcase=showcase,
                only_show_if_degraded=only_show_if_degraded,
                show_response_times=show_response_times,
            ),
        )
        return cast("Service", answer)

    async def service_delete(
        self,
        org: str,
        /,
        *,
        service: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Deleted:
        """The ``service.delete`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "service.delete",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(service=service),
        )
        return cast("Deleted", answer)

    async def incident_create(
        self,
        org: str,
        /,
        *,
        name: str,
        status: IncidentStatus | Unset = UNSET,
        impact: Impact | Unset | None = UNSET,
        body: str | Unset = UNSET,
        services: dict[str, ServiceStatus] | Unset = UNSET,
        started_at: str | datetime.datetime | Unset | None = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Incident:
        """The ``incident.create`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "incident.create",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                name=name,
                status=status,
                impact=impact,
                body=body,
                services=services,
                started_at=started_at,
            ),
        )
        return cast("Incident", answer)

    async def incident_update(
        self,
        org: str,
        /,
        *,
        incident: str,
        status: IncidentStatus | Unset = UNSET,
        body: str | Unset = UNSET,
        services: dict[str, ServiceStatus] | Unset = UNSET,
        name: str | Unset = UNSET,
        impact: Impact | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Incident:
        """The ``incident.update`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "incident.update",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                incident=incident,
                status=status,
                body=body,
                services=services,
                name=name,
                impact=impact,
            ),
        )
        return cast("Incident", answer)

    async def incident_resolve(
        self,
        org: str,
        /,
        *,
        incident: str,
        body: str | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Incident:
        """The ``incident.resolve`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "incident.resolve",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(incident=incident, body=body),
        )
        return cast("Incident", answer)

    async def incident_postmortem(
        self,
        org: str,
        /,
        *,
        incident: str,
        body: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Incident:
        """The ``incident.postmortem`` command (needs the role responder). Publish a resolved incident's postmortem, or revise it (Markdown)."""
        answer = await self.command(
            org,
            "incident.postmortem",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(incident=incident, body=body),
        )
        return cast("Incident", answer)

    async def incident_delete(
        self,
        org: str,
        /,
        *,
        incident: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Deleted:
        """The ``incident.delete`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "incident.delete",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(incident=incident),
        )
        return cast("Deleted", answer)

    async def maintenance_schedule(
        self,
        org: str,
        /,
        *,
        name: str,
        scheduled_for: str | datetime.datetime,
        scheduled_until: str | datetime.datetime,
        services: list[str] | Unset = UNSET,
        body: str | Unset = UNSET,
        auto_start: bool | Unset = UNSET,
        auto_complete: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Maintenance:
        """The ``maintenance.schedule`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "maintenance.schedule",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                name=name,
                scheduled_for=scheduled_for,
                scheduled_until=scheduled_until,
                services=services,
                body=body,
                auto_start=auto_start,
                auto_complete=auto_complete,
            ),
        )
        return cast("Maintenance", answer)

    async def maintenance_update(
        self,
        org: str,
        /,
        *,
        maintenance: str,
        status: MaintenanceStatus | Unset = UNSET,
        body: str | Unset = UNSET,
        name: str | Unset = UNSET,
        scheduled_for: str | datetime.datetime | Unset = UNSET,
        scheduled_until: str | datetime.datetime | Unset = UNSET,
        services: list[str] | Unset = UNSET,
        auto_start: bool | Unset = UNSET,
        auto_complete: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Maintenance:
        """The ``maintenance.update`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "maintenance.update",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                maintenance=maintenance,
                status=status,
                body=body,
                name=name,
                scheduled_for=scheduled_for,
                scheduled_until=scheduled_until,
                services=services,
                auto_start=auto_start,
                auto_complete=auto_complete,
            ),
        )
        return cast("Maintenance", answer)

    async def maintenance_cancel(
        self,
        org: str,
        /,
        *,
        maintenance: str,
        body: str | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Maintenance:
        """The ``maintenance.cancel`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "maintenance.cancel",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(maintenance=maintenance, body=body),
        )
        return cast("Maintenance", answer)

    async def maintenance_delete(
        self,
        org: str,
        /,
        *,
        maintenance: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Deleted:
        """The ``maintenance.delete`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "maintenance.delete",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(maintenance=maintenance),
        )
        return cast("Deleted", answer)

    async def monitor_create(
        self,
        org: str,
        /,
        *,
        name: str,
        service: str,
        kind: MonitorKind,
        spec: dict[str, Any] | Unset = UNSET,
        interval: int | Unset = UNSET,
        regions: list[str] | Unset = UNSET,
        quorum: int | Unset = UNSET,
        down_after: int | Unset = UNSET,
        up_after: int | Unset = UNSET,
        policy: MonitorPolicy | Unset = UNSET,
        down_status: ServiceStatus | Unset = UNSET,
        grace: int | Unset = UNSET,
        resolve_after: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Monitor:
        """The ``monitor.create`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "monitor.create",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                name=name,
                service=service,
                kind=kind,
                spec=spec,
                interval=interval,
                regions=regions,
                quorum=quorum,
                down_after=down_after,
                up_after=up_after,
                policy=policy,
                down_status=down_status,
                grace=grace,
                resolve_after=resolve_after,
                paused=paused,
            ),
        )
        return cast("Monitor", answer)

    async def monitor_update(
        self,
        org: str,
        /,
        *,
        monitor: str,
        name: str | Unset = UNSET,
        service: str | Unset = UNSET,
        spec: dict[str, Any] | Unset = UNSET,
        interval: int | Unset = UNSET,
        regions: list[str] | Unset = UNSET,
        quorum: int | Unset = UNSET,
        down_after: int | Unset = UNSET,
        up_after: int | Unset = UNSET,
        policy: MonitorPolicy | Unset = UNSET,
        down_status: ServiceStatus | Unset = UNSET,
        grace: int | Unset = UNSET,
        resolve_after: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Monitor:
        """The ``monitor.update`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "monitor.update",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(
                monitor=monitor,
                name=name,
                service=service,
                spec=spec,
                interval=interval,
                regions=regions,
                quorum=quorum,
                down_after=down_after,
                up_after=up_after,
                policy=policy,
                down_status=down_status,
                grace=grace,
                resolve_after=resolve_after,
                paused=paused,
            ),
        )
        return cast("Monitor", answer)

    async def monitor_delete(
        self,
        org: str,
        /,
        *,
        monitor: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Deleted:
        """The ``monitor.delete`` command (needs the role responder)."""
        answer = await self.command(
            org,
            "monitor.delete",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(monitor=monitor),
        )
        return cast("Deleted", answer)

    async def monitor_token(
        self,
        org: str,
        /,
        *,
        monitor: str,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> Monitor:
        """The ``monitor.token`` command (needs the role responder). A heartbeat monitor's push URL is replaced: the old one stops working."""
        answer = await self.command(
            org,
            "monitor.token",
            idempotency_key=idempotency_key,
            request_timeout=request_timeout,
            **_given(monitor=monitor),
        )
        return cast("Monitor", answer)


__all__ = [
    "COMMANDS",
    "CommandMethods",
    "Impact",
    "IncidentStatus",
    "MaintenanceStatus",
    "MonitorKind",
    "MonitorPolicy",
    "ServiceStatus",
    "SignUp",
]
