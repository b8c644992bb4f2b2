"""The page's overall status, blended the way Statuspage blends it.

The indicator is the worst of two things: what the services show (degraded
performance counts as ``minor``, a partial outage as ``major``, a major outage
as ``critical``) and the impact of the unresolved incidents. When neither says
anything is wrong but work is under way (a running maintenance, or a service
under maintenance), the indicator is ``maintenance``.

=============  ==================================================
indicator      description
=============  ==================================================
none           All Systems Operational
minor          Minor Service Outage, or Partially Degraded Service
               when only degraded services (no incident) say so
major          Partial System Outage
critical       Major System Outage
maintenance    Service Under Maintenance
=============  ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from .model import (
    ALL_OPERATIONAL,
    IMPACT_LEVEL,
    SEVERITY,
    Impact,
    Indicator,
    OrgState,
    OverallStatus,
    ServiceStatus,
)

_BY_LEVEL: Mapping[int, Indicator] = {
    1: Indicator.MINOR,
    2: Indicator.MAJOR,
    3: Indicator.CRITICAL,
}
_DESCRIPTIONS: Mapping[Indicator, str] = {
    Indicator.MINOR: "Minor Service Outage",
    Indicator.MAJOR: "Partial System Outage",
    Indicator.CRITICAL: "Major System Outage",
    Indicator.MAINTENANCE: "Service Under Maintenance",
}


def overall_status(state: OrgState) -> OverallStatus:
    services = state.services.values()
    from_services = max((SEVERITY[s.status] for s in services if s.status in SEVERITY), default=0)
    from_incidents = max(
        (IMPACT_LEVEL[i.impact] for i in state.incidents.values() if i.active),
        default=IMPACT_LEVEL[Impact.NONE],
    )
    level = max(from_services, from_incidents)
    if level:
        indicator = _BY_LEVEL[level]
        if indicator is Indicator.MINOR and from_incidents == 0:
            return OverallStatus(indicator, "Partially Degraded Service")
        return OverallStatus(indicator, _DESCRIPTIONS[indicator])
    if any(s.status is ServiceStatus.UNDER_MAINTENANCE for s in services) or any(
        m.running for m in state.maintenances.values()
    ):
        return OverallStatus(Indicator.MAINTENANCE, _DESCRIPTIONS[Indicator.MAINTENANCE])
    return ALL_OPERATIONAL
