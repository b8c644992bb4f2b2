"""Wall-clock time, injectable so that actor tests can run on trio's MockClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio


class Clock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def deadline(self, moment: datetime) -> float:
        """The trio deadline (``trio.current_time()`` scale) at which ``moment`` arrives."""
        return trio.current_time() + max(0.0, (moment - self.now()).total_seconds())


class TrioClock(Clock):
    """Wall time that follows trio's clock: ``epoch`` plus trio's current time.

    With ``trio.testing.MockClock(autojump_threshold=0)`` a test can wait for a
    maintenance scheduled hours ahead and be done in milliseconds.
    """

    def __init__(self, epoch: datetime) -> None:
        self.epoch = epoch

    def now(self) -> datetime:
        return self.epoch + timedelta(seconds=trio.current_time())
