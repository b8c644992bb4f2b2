"""From results to a verdict: damping in each region, then a quorum of regions.

A region's state changes only after a run of like results: ``down_after``
failures in a row make it down (or degraded, when they were not all outright
failures), ``up_after`` successes in a row make it up again; anything shorter
leaves it as it was, so one lost packet or one slow answer is not an outage.
The monitor is down when at least ``quorum`` regions are down, degraded when
at least ``quorum`` are down or degraded, up when some region has settled and
that is not so, and unknown before any region has settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.monitors import Verdict


@dataclass(slots=True)
class Region:
    state: Verdict = Verdict.UNKNOWN
    up_run: int = 0  # successes in a row
    bad_run: int = 0  # failures or slow answers in a row
    down_run: int = 0  # outright failures in a row
    error: str | None = None  # the last failure's words


@dataclass(slots=True)
class Tracker:
    """One monitor's regions."""

    down_after: int
    up_after: int
    quorum: int
    regions: dict[str, Region] = field(default_factory=dict)

    def record(self, region: str, outcome: str, error: str | None = None) -> None:
        r = self.regions.setdefault(region, Region())
        if outcome == "up":
            r.up_run += 1
            r.bad_run = r.down_run = 0
        else:
            r.up_run = 0
            r.bad_run += 1
            r.down_run = r.down_run + 1 if outcome == "down" else 0
            r.error = error
        if r.down_run >= self.down_after:
            r.state = Verdict.DOWN
        elif r.bad_run >= self.down_after:
            r.state = Verdict.DEGRADED
        elif r.up_run >= self.up_after:
            r.state = Verdict.UP

    def forget(self, region: str) -> None:
        self.regions.pop(region, None)

    def verdict(self) -> tuple[Verdict, list[str], str | None]:
        """The verdict, the regions that see a problem, and the words of one of them."""
        down = sorted(n for n, r in self.regions.items() if r.state is Verdict.DOWN)
        degraded = sorted(n for n, r in self.regions.items() if r.state is Verdict.DEGRADED)
        failing = sorted(down + degraded)
        error = next((self.regions[n].error for n in down + degraded), None)
        if len(down) >= self.quorum:
            return Verdict.DOWN, failing, error
        if len(failing) >= self.quorum:
            return Verdict.DEGRADED, failing, error
        if any(r.state is not Verdict.UNKNOWN for r in self.regions.values()):
            return Verdict.UP, failing, error if failing else None
        return Verdict.UNKNOWN, failing, None
