"""From results to a verdict: damping in each region, then a quorum of live regions.

A region's state changes only after a run of like results: ``down_after``
failures in a row make it down (or degraded, when they were not all outright
failures), ``up_after`` successes in a row make it up again; anything shorter
leaves it as it was, so one lost packet or one slow answer is not an outage.

Only *live* regions count: a region whose last result for the monitor is
older than :func:`stale_after` (its probe died, or stopped checking this
monitor), or whose probe is offline, is stale and leaves the count. Of the
live regions that have settled:

* at least ``quorum`` down: the monitor is down;
* at least ``quorum`` down or degraded: degraded;
* at least ``quorum`` settled and neither: up;
* fewer than ``quorum`` settled: undecided (:data:`Verdict.UNKNOWN`), and
  the monitor keeps the verdict it has. A restarted server starts with no
  results at all, so until enough fresh ones arrive, the verdict confirmed
  before the restart stands.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from ..domain.monitors import Monitor, MonitorKind, Verdict

STALE_CHECKS = 3  # a region is stale after this many intervals without a result...
STALE_SLACK = 15.0  # ...plus this many seconds (reports come every second or so)


def stale_after(monitor: Monitor) -> float:
    """Seconds without a result after which a region no longer counts for ``monitor``:
    three intervals (or three timeouts, when a check may take longer than its
    interval) and 15 s. A heartbeat's one region is the server's own judgement
    (it reports the silence itself): it never goes stale."""
    if monitor.kind is MonitorKind.HEARTBEAT:
        return float("inf")
    timeout = monitor.spec.get("timeout", 0) if monitor.spec else 0
    pace = max(monitor.interval, timeout if isinstance(timeout, int | float) else 0)
    return STALE_CHECKS * pace + STALE_SLACK


@dataclass(slots=True)
class Region:
    state: Verdict = Verdict.UNKNOWN
    up_run: int = 0  # successes in a row
    bad_run: int = 0  # failures or slow answers in a row
    down_run: int = 0  # outright failures in a row
    error: str | None = None  # the last failure's words
    last: float = 0.0  # trio time of its last result


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the live regions say of a monitor now."""

    verdict: Verdict  # UNKNOWN: undecided, the monitor keeps the verdict it has
    failing: list[str]  # regions that see it down or degraded
    error: str | None  # the words of one of them
    live: list[str]  # regions whose results count
    stale: list[str]  # regions that reported once and count no more


@dataclass(slots=True)
class Tracker:
    """One monitor's regions, since ``born`` (trio time)."""

    down_after: int
    up_after: int
    quorum: int
    born: float = 0.0
    regions: dict[str, Region] = field(default_factory=dict)
    wake: float = float("inf")  # when judging again may say something new

    def record(self, region: str, outcome: str, error: str | None = None, at: float = 0.0) -> None:
        r = self.regions.setdefault(region, Region())
        r.last = at
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

    def live(self, now: float, stale: float, offline: Collection[str] = ()) -> list[str]:
        """The regions whose results count at ``now``, by name."""
        return sorted(
            n for n, r in self.regions.items() if now - r.last <= stale and n not in offline
        )

    def judge(
        self,
        now: float,
        stale: float,
        offline: Collection[str] = (),
        failing_before: Collection[str] = (),
    ) -> Judgement:
        """The verdict of the live regions at ``now``.

        ``stale``: seconds a result counts; ``offline``: regions whose probe is
        gone (stale whatever their last result). ``failing_before``: the regions
        the monitor was last seen failing from; while the tracker is younger than
        ``stale`` (a restart, new settings), those that have not settled since
        are still named as failing, so the list does not shrink and grow back
        as the probes reconnect. They do not count towards the quorum.
        """
        live = self.live(now, stale, offline)
        states = {n: self.regions[n].state for n in live}
        down = [n for n in live if states[n] is Verdict.DOWN]
        failing = [n for n in live if states[n] in (Verdict.DOWN, Verdict.DEGRADED)]
        settled = sum(1 for n in live if states[n] is not Verdict.UNKNOWN)
        error = next((self.regions[n].error for n in down + failing), None)
        if len(down) >= self.quorum:
            verdict = Verdict.DOWN
        elif len(failing) >= self.quorum:
            verdict = Verdict.DEGRADED
        elif settled >= self.quorum:
            verdict = Verdict.UP
        else:
            verdict = Verdict.UNKNOWN
        wakes = [self.regions[n].last + stale for n in live]
        if now - self.born <= stale:
            wakes.append(self.born + stale)
            unsettled = {
                n for n in failing_before if states.get(n, Verdict.UNKNOWN) is Verdict.UNKNOWN
            }
            failing = sorted(set(failing) | (unsettled - set(offline)))
        self.wake = min(wakes, default=float("inf"))
        return Judgement(verdict, failing, error, live, sorted(set(self.regions) - set(live)))
