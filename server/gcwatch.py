"""How long the garbage collector stops the process: every connection waits
while it runs, so its pauses are latency. Measured with ``gc.callbacks``.

:class:`GcPauses` keeps a histogram of pauses by generation (what
``GET /api/v1/runtime`` and the benchmarks print) and logs the long ones.
:func:`tune` sets the collector up for a server: long-lived objects made at
start-up are frozen out of the full scans, and the young generation is
collected less often (each collection of it costs little, but there are
many).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, Final

import trio

log = logging.getLogger(__name__)

BUCKETS_MS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # upper bounds; then "more"
LOG_OVER: Final = 0.05  # seconds; a longer pause is logged
THRESHOLDS: Final = (2_000, 10, 100)  # gen0 allocations, gen0 runs, gen1 runs
SETTLE_EVERY: Final = 1.0  # seconds between looks at the oldest generation
SETTLE_OVER: Final = 50_000  # objects in it (about 10 ms of scanning) before freezing
RECLAIM_EVERY: Final = 24 * 3600.0  # seconds between full collections of everything


class GcPauses:
    """A histogram of collector pauses, per generation; install() to start."""

    def __init__(self) -> None:
        self.counts = [[0] * (len(BUCKETS_MS) + 1) for _ in range(3)]
        self.longest = [0.0, 0.0, 0.0]
        self.total = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]  # unreachable objects found: garbage that had cycles
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = max(0, min(2, info.get("generation", 2)))
        ms = pause * 1000
        bucket = next((i for i, bound in enumerate(BUCKETS_MS) if ms <= bound), len(BUCKETS_MS))
        self.counts[generation][bucket] += 1
        self.collected[generation] += info.get("collected", 0)
        self.total[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)
        if pause > LOG_OVER:
            log.warning(
                "garbage collection of generation %d paused the server for %.0f ms",
                generation,
                ms,
            )

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def summary(self) -> dict[str, Any]:
        """Per generation: collections, pauses by bucket (``"<=N ms"``), the
        longest and the total, in milliseconds."""
        out: dict[str, Any] = {}
        for generation in range(3):
            counts = self.counts[generation]
            labels = [f"<={bound} ms" for bound in BUCKETS_MS] + [f">{BUCKETS_MS[-1]} ms"]
            out[str(generation)] = {
                "collections": sum(counts),
                "pauses": dict(zip(labels, counts, strict=True)),
                "longest_ms": round(self.longest[generation] * 1000, 2),
                "total_ms": round(self.total[generation] * 1000, 1),
                "collected": self.collected[generation],
            }
        out["frozen_objects"] = gc.get_freeze_count()
        return out


def tune() -> None:
    """The collector's settings for a long-running server (see the module docstring)."""
    import os

    raw = os.environ.get("SWITCHBOARD_GC_THRESHOLDS")
    gc.set_threshold(*(tuple(int(x) for x in raw.split(",")) if raw else THRESHOLDS))


async def settle(
    every: float = SETTLE_EVERY, over: int = SETTLE_OVER, reclaim: float = RECLAIM_EVERY
) -> None:
    """Keep the full collection short, for good.

    What survives into the oldest generation (connections, subscriptions,
    monitors, room histories: the server's long-lived state) would be scanned
    by every full collection, the pause growing with the server. Every
    ``every`` seconds, once more than ``over`` such objects wait there, the
    young generations are collected and everything alive is frozen: out of
    the scans, freed by reference counting as usual when it goes. The price is
    that what dies *in a reference cycle* after being frozen is not freed
    until the next full collection of everything, once a day (``reclaim``
    seconds): the server's own paths make next to none, HTTP checks a few
    hundred objects a minute at 10,000 monitors. That daily collection is the
    one long pause left (about 30 ms at 5,000 connections, 60 ms at 10,000
    monitors).
    """
    reclaim_at = trio.current_time() + reclaim
    while True:
        await trio.sleep(every)
        if trio.current_time() >= reclaim_at:
            reclaim_at = trio.current_time() + reclaim
            gc.unfreeze()
            freed = gc.collect()
            gc.freeze()
            log.info("full collection of everything (daily): %d objects freed", freed)
        elif len(gc.get_objects(generation=2)) > over:
            gc.collect(1)
            gc.freeze()


def freeze(reason: str) -> None:
    """Move every object alive now out of the collector's scans: what start-up or a
    bulk load made lives on, and scanning it again and again is the long pause."""
    gc.collect()
    before = gc.get_freeze_count()
    gc.freeze()
    log.info("froze %d objects (%s)", gc.get_freeze_count() - before, reason)
