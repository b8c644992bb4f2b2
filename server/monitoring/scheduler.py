"""When each monitor is checked, in one region.

Every monitor has a due time; the scheduler sleeps until the earliest, starts
that check (at most ``concurrency`` at once: a slow target holds one slot, not
the schedule) and makes it due again one interval after it was due, not after
it finished, so the pace does not drift. A monitor's first check comes at a
random moment within its first interval: a thousand monitors made at once do
not all fire in the same second.

How late each check started (its lag) is kept, for the benchmark, the
console and the metrics: lag is the measure of a scheduler that keeps up. A
remote probe reports its scheduler's figures with its results
(:class:`SchedulerFigures`), so the server shows every region's.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Final

import trio

from ..domain.monitors import Monitor
from ..domain.schema import Items, Range

log = logging.getLogger(__name__)

Check = Callable[[str, Monitor], Awaitable[None]]  # (org, monitor) -> runs and reports it


@dataclass(slots=True)
class Entry:
    org: str
    monitor: Monitor
    generation: int  # the entry is current while it matches the scheduler's


#: Upper bounds (seconds) of the lag histogram's buckets; then +Inf.
LAG_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class Lag:
    """How late checks started (the last 100,000, in seconds, and every one
    counted in LAG_BUCKETS), and checks missed."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    skipped: int = 0  # due while the previous check of the same monitor still ran
    started: int = 0  # checks started
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    total: float = 0.0  # seconds, summed

    def record(self, lag: float) -> None:
        self.samples.append(lag)
        self.started += 1
        self.total += lag
        self.buckets[bisect.bisect_left(LAG_BUCKETS, lag)] += 1

    def percentiles(self) -> dict[str, float | None]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"p50": None, "p99": None, "max": None}

        def at(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

        return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 4)}


_COUNTS: Final = len(LAG_BUCKETS) + 1  # a histogram's counts, +Inf's the last


@dataclass(frozen=True, slots=True)
class LagPercentiles:
    """Seconds; None before the first check."""

    p50: Annotated[float, Range(0)] | None = None
    p99: Annotated[float, Range(0)] | None = None
    max: Annotated[float, Range(0)] | None = None


@dataclass(frozen=True, slots=True)
class SchedulerFigures:
    """What a scheduler did since its probe started: ``probe.report``'s
    ``scheduler``, as :meth:`Scheduler.figures` makes it."""

    checks_started: Annotated[int, Range(0)] = 0
    checks_skipped: Annotated[int, Range(0)] = 0
    running: Annotated[int, Range(0)] = 0
    lag_seconds: LagPercentiles = LagPercentiles()
    # Checks counted per bucket of LAG_BUCKETS, then +Inf (when given: all of
    # them); and their lags summed.
    lag_buckets: Annotated[list[Annotated[int, Range(0)]], Items(_COUNTS, min=_COUNTS)] = field(
        default_factory=list
    )
    lag_sum: Annotated[float, Range(0)] = 0.0

    def view(self) -> dict[str, Any]:
        """For people (GET /api/v1/monitoring, a region's): all but the histogram."""
        shown = asdict(self)
        del shown["lag_buckets"], shown["lag_sum"]
        return shown


class Scheduler:
    def __init__(self, check: Check, *, concurrency: int = 1_000) -> None:
        self.check = check
        self.limiter = trio.CapacityLimiter(concurrency)
        self.entries: dict[str, Entry] = {}  # by monitor id
        self.heap: list[tuple[float, int, str]] = []  # (due, generation, monitor id)
        self.running: set[str] = set()
        self.lag = Lag()
        self._generation = 0
        self._changed = trio.Event()

    def put(self, org: str, monitor: Monitor) -> None:
        """Check ``monitor`` from now on (again, if its settings changed)."""
        old = self.entries.get(monitor.id)
        if old is not None and same_pace(old.monitor, monitor):
            # Only its verdict or words changed: keep its place in the schedule.
            self.entries[monitor.id] = Entry(org, monitor, old.generation)
            return
        self._generation += 1
        self.entries[monitor.id] = Entry(org, monitor, self._generation)
        due = trio.current_time() + random.uniform(0, min(monitor.interval, 60))
        heapq.heappush(self.heap, (due, self._generation, monitor.id))
        self._changed.set()

    def figures(self) -> SchedulerFigures:
        """What it did so far (sorting up to 100,000 lags: not for every request)."""
        lag = self.lag
        return SchedulerFigures(
            checks_started=lag.started,
            checks_skipped=lag.skipped,
            running=len(self.running),
            lag_seconds=LagPercentiles(**lag.percentiles()),
            lag_buckets=list(lag.buckets),
            lag_sum=round(lag.total, 6),
        )

    def drop(self, monitor_id: str) -> None:
        self.entries.pop(monitor_id, None)  # its heap entry is skipped when it comes up

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                if not self.heap:
                    self._changed = trio.Event()
                    await self._changed.wait()
                    continue
                due, generation, monitor_id = self.heap[0]
                now = trio.current_time()
                if due > now:
                    self._changed = trio.Event()
                    with trio.move_on_after(due - now):
                        await self._changed.wait()
                    continue
                heapq.heappop(self.heap)
                entry = self.entries.get(monitor_id)
                if entry is None or entry.generation != generation:
                    continue  # dropped or changed since
                heapq.heappush(self.heap, (due + entry.monitor.interval, generation, monitor_id))
                if monitor_id in self.running:
                    self.lag.skipped += 1  # still at the last one: a missed check
                    continue
                await self.limiter.acquire_on_behalf_of(monitor_id)
                self.lag.record(trio.current_time() - due)
                self.running.add(monitor_id)
                nursery.start_soon(self._one, entry, name=f"check {monitor_id}")

    async def _one(self, entry: Entry) -> None:
        try:
            await self.check(entry.org, entry.monitor)
        except Exception:
            log.exception("check of monitor %s failed", entry.monitor.id)
        finally:
            self.running.discard(entry.monitor.id)
            self.limiter.release_on_behalf_of(entry.monitor.id)


def same_pace(a: Monitor, b: Monitor) -> bool:
    """Whether ``b`` is checked exactly like ``a`` (only its verdict differs)."""
    return (a.kind, a.spec, a.interval, a.regions, a.paused) == (
        b.kind,
        b.spec,
        b.interval,
        b.regions,
        b.paused,
    )
