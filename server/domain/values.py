"""The plain values the domain's entities are made of: moments as they are
stored and written, and the statuses a service can show.

It imports nothing of the domain, so that monitors (:mod:`server.domain.monitors`)
and the organization's other entities (:mod:`server.domain.model`) can both
build on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

# ---------------------------------------------------------------------------
# time


def to_millisecond(moment: datetime) -> datetime:
    """The precision (and zone) every stored time has: what :func:`iso` keeps."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-22T12:00:00.123Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`; accepts any RFC 3339 offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone")
    return moment.astimezone(UTC)


def parse_iso_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


# ---------------------------------------------------------------------------
# statuses


class ServiceStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
