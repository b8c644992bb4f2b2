"""What checks come to, and what probes and heartbeats say: the records
that cross the boundary (``probe.report``, a heartbeat's push URL, a node's
relay), each read with :func:`~server.domain.schema.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from ..domain.schema import Items, Range, Text
from .scheduler import SchedulerFigures


@dataclass(frozen=True, slots=True)
class Outcome:
    """One check's result, as any probe reports it."""

    outcome: str  # up | degraded | down
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    expires_at: datetime | None = None  # TLS: when the certificate seen expires


class ProbeOutcome(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One result in a probe's ``probe.report``."""

    id: Annotated[str, Text(1, 100)]  # the probe's own id for it: resent results count once
    monitor: Annotated[str, Text(1, 100)]
    at: datetime
    outcome: ProbeOutcome
    latency_ms: float | None = None
    status_code: Annotated[int, Range(100, 599)] | None = None
    error: Annotated[str, Text(0, 1_000, lines=True)] | None = None
    cert_expires_at: datetime | None = None  # TLS: when the certificate seen expires


class BeatStatus(StrEnum):
    UP = "up"
    DOWN = "down"


MAX_BEAT_MESSAGE = 1_000  # code points of a beat's msg kept (the rest is cut off)


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat says, as Uptime Kuma's push URL takes it."""

    status: BeatStatus = BeatStatus.UP
    msg: Annotated[str, Text(0, MAX_BEAT_MESSAGE, lines=True)] | None = None
    ping: Annotated[float, Range(0, 86_400_000)] | None = None  # milliseconds


@dataclass(frozen=True, slots=True)
class ProbeReport:
    results: Annotated[list[ProbeResult], Items(5_000)]
    scheduler: SchedulerFigures | None = None  # the probe's, now and then
