"""What the pages keep between requests: each organization's bars and
response times, and pages, feeds and badges as drawn (with their gzip), until
what they show changes.

A crowd arriving during an outage then costs a lookup, not a rendering: what
is kept is found by the organization's version (and, for the figures read
from the store, the time), and a drawing under way is waited for rather than
made again.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import trio
from quart import current_app

log = logging.getLogger(__name__)

T = TypeVar("T")

# Figures read from the store (bars, response times) are worked out again after
# a change, and at least this often (uptime moves, checks go on).
BARS_TTL = 300.0
# Drawn pages, feeds and badges kept at most (then all are forgotten at once).
_DRAWN_MAX = 4096
# A monitor's figures on its badges (uptime, response time) are worked out again
# after a change of its organization, and at least this often.
FIGURES_TTL = 60.0


class Drawings:
    """What the pages keep between requests: each organization's figures, and
    pages, feeds and badges as drawn. One per app (``app.config["DRAWINGS"]``)."""

    def __init__(self) -> None:
        # (what, stream) -> (version, when worked out, the figures)
        self.figures: dict[tuple[str, str], tuple[int, float, Any]] = {}
        self.figures_lock = trio.Lock()
        self.drawn: dict[tuple[str, ...], tuple[tuple[float, ...], bytes, bytes]] = {}
        self.drawing: dict[tuple[str, ...], trio.Lock] = {}
        # A monitor's figures on its badges: key -> (version, when, the figure)
        self.badge_figures: dict[tuple[str, ...], tuple[int, float, object]] = {}
        self.badge_figures_lock = trio.Lock()


def _kept() -> Drawings:
    found: Drawings = current_app.config["DRAWINGS"]
    return found


async def figures(
    what: str, stream: str, version: int, work: Callable[[], Awaitable[T]]
) -> tuple[float, T]:
    """An organization's figures (``what``: its bars, its response times) as
    ``work`` finds them at ``version``, and when they were worked out: kept per
    organization version for a while (they move with the clock too)."""
    kept = _kept()
    key = (what, stream)

    def fresh() -> tuple[float, T] | None:
        cached = kept.figures.get(key)
        if cached and cached[0] == version and time.monotonic() - cached[1] < BARS_TTL:
            found: T = cached[2]
            return cached[1], found
        return None

    if found := fresh():
        return found
    async with kept.figures_lock:  # one query at a time, not one per visitor
        if found := fresh():
            return found
        made_figures = await work()
        made = time.monotonic()
        kept.figures[key] = (version, made, made_figures)
        return made, made_figures


async def figure(
    key: tuple[str, ...], version: int, work: Callable[[], Awaitable[T]], ttl: float = FIGURES_TTL
) -> T:
    """What ``work`` finds (a monitor's uptime, say), kept per organization
    ``version`` for ``ttl`` seconds: a crowd asking for a badge costs one query."""
    kept = _kept()

    def fresh() -> T | None:
        cached = kept.badge_figures.get(key)
        if cached and cached[0] == version and time.monotonic() - cached[1] < ttl:
            return cast(T, cached[2])
        return None

    if (found := fresh()) is not None:
        return found
    async with kept.badge_figures_lock:
        if (found := fresh()) is not None:
            return found
        made = await work()
        if len(kept.badge_figures) >= _DRAWN_MAX:
            kept.badge_figures.clear()
        kept.badge_figures[key] = (version, time.monotonic(), made)
        return made


async def drawn(
    key: tuple[str, ...], stamp: tuple[float, ...], draw: Callable[[], Awaitable[str]]
) -> tuple[bytes, bytes]:
    """What ``draw`` gives, drawn once per ``stamp`` (and compressed once).

    Stamps grow with what they stand for (versions, times): requests that
    arrive while a drawing is under way wait for it instead of drawing
    again, and take it if it is as new as what they saw."""
    kept = _kept()
    cached = kept.drawn.get(key)
    if cached is None or cached[0] != stamp:
        lock = kept.drawing.setdefault(key, trio.Lock())
        async with lock:
            cached = kept.drawn.get(key)
            if cached is None or cached[0] < stamp:
                started = time.perf_counter()
                body = (await draw()).encode()
                if len(kept.drawn) >= _DRAWN_MAX:
                    kept.drawn.clear()
                    kept.drawing.clear()
                cached = kept.drawn[key] = (stamp, body, gzip.compress(body, 6))
                log.debug("drew %s in %.1f ms", key, (time.perf_counter() - started) * 1000)
    return cached[1], cached[2]
