"""Whether each remote probe is alive, region by region.

A region's probe is *offline* when none of its results has arrived for 90 s
(or for three times the shortest interval of the monitors it checks and 15 s,
when that is longer), or when no probe of the region has been connected for
90 s (so that a probe with nothing to check, or only daily checks, is noticed
as gone too). It is
*live* again as soon as a result arrives (or, with nothing to check, a probe
of it connects). The server's own region is live while its probe runs.

While offline, a region counts for no monitor's quorum (see
:mod:`server.monitoring.verdict`), and each organization whose monitors it
checks is told once when it goes offline and once when it comes back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.model import iso_or_none
from .scheduler import SchedulerFigures
from .verdict import STALE_CHECKS, STALE_SLACK

OFFLINE_AFTER = 90.0  # seconds: at least this long silent (or away) before a probe is offline
LIVE, OFFLINE = "live", "offline"


def offline_after(intervals: Iterable[int]) -> float:
    """Seconds without a result after which a probe checking monitors of these
    intervals is offline."""
    shortest = min(intervals, default=None)
    if shortest is None:
        return OFFLINE_AFTER
    return max(OFFLINE_AFTER, STALE_CHECKS * shortest + STALE_SLACK)


@dataclass(slots=True)
class Life:
    """One remote region's probe, as far as the server has heard from it."""

    state: str  # live | offline
    heard: float  # trio time of its last result (or when it appeared, or the server started)
    seen: float  # trio time a probe of it was last connected
    last_seen: datetime | None  # wall time of its last result
    changed_at: datetime  # when it went live or offline
    told: bool  # the organizations were told of that change
    # Organizations told it went offline, so that only they hear it is back
    # (None: not known, after a restart: all whose monitors it checks).
    told_offline: set[str] | None = None
    saved_seen: datetime | None = None  # last_seen as last written to the store
    figures: SchedulerFigures | None = None  # its scheduler's, as last reported here

    def judge(self, now: float, connected: bool, intervals: list[int]) -> str:
        """Live or offline at ``now`` (``connected``: a probe of it is subscribed;
        ``intervals``: of the monitors it checks)."""
        if connected:
            self.seen = now
        if now - self.seen > OFFLINE_AFTER:
            return OFFLINE
        if intervals and now - self.heard > offline_after(intervals):
            return OFFLINE
        return LIVE

    def view(self, region: str, connected: bool, monitors: int) -> dict[str, Any]:
        return {
            "region": region,
            "state": self.state,
            "own": False,
            "connected": connected,
            "monitors": monitors,
            "last_seen": iso_or_none(self.last_seen),
            "since": iso_or_none(self.changed_at),
        }
