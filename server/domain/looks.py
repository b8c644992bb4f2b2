"""How an organization's public page looks: its accent colour, and the zone
its times are shown in.

The accent colour becomes the page's links, focus ring and primary buttons
(``web/static/switchboard.css`` reads ``--link``, ``--focus`` and
``--accent``), so it must read as text on the page's light backgrounds: WCAG
2.1 AA asks 4.5:1. A colour that does not is refused, with the contrast it
has and a darker shade of it that passes. The dark theme cannot use the same
colour (no colour has 4.5:1 against both white and near-black), so it gets
:func:`for_dark`: the accent mixed toward white until it passes there.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, timedelta

from ..errors import ValidationError

#: switchboard.css's ``--bg`` and ``--surface`` (the header), light and dark.
LIGHT_BACKGROUNDS = ("#ffffff", "#f6f7f9")
DARK_BACKGROUNDS = ("#111418", "#1a1e24")
AA = 4.5  # WCAG 2.1 AA, for text of any size

RGB = tuple[int, int, int]


def rgb(colour: str) -> RGB:
    """``#1a5fb4`` as its three channels (the caller has checked the pattern)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def hex_of(channels: RGB) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in channels)


def luminance(colour: str) -> float:
    """Relative luminance, as WCAG 2.1 defines it."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def worst(colour: str, backgrounds: tuple[str, ...]) -> tuple[float, str]:
    """The lowest contrast ``colour`` has on ``backgrounds``, and that background."""
    return min((contrast(colour, bg), bg) for bg in backgrounds)


def passes(colour: str, backgrounds: tuple[str, ...]) -> bool:
    return worst(colour, backgrounds)[0] >= AA


def darkened(colour: str) -> str:
    """The lightest shade of ``colour`` (its channels scaled down together,
    which keeps its hue) that passes on the light backgrounds."""
    channels = rgb(colour)
    for step in range(101):
        shade = hex_of(tuple(c * (100 - step) / 100 for c in channels))  # type: ignore[arg-type]
        if passes(shade, LIGHT_BACKGROUNDS):
            return shade
    return "#000000"  # not reached: black passes


def for_dark(colour: str) -> str:
    """``colour`` mixed toward white, as little as it takes to pass on the dark
    backgrounds: the accent of the dark theme."""
    channels = rgb(colour)
    for step in range(101):
        tint = hex_of(tuple(c + (255 - c) * step / 100 for c in channels))  # type: ignore[arg-type]
        if passes(tint, DARK_BACKGROUNDS):
            return tint
    return "#ffffff"  # not reached: white passes


def check_accent(colour: str) -> str:
    """``colour`` in lower case, or ValidationError saying why it cannot be
    the accent and which shade of it can."""
    colour = colour.lower()
    ratio, background = worst(colour, LIGHT_BACKGROUNDS)
    if ratio < AA:
        raise ValidationError(
            f"accent_color {colour} has a contrast of {ratio:.2f}:1 on the page's light"
            f" background ({background}); links and buttons need at least {AA}:1 (WCAG AA)."
            f" {darkened(colour)} is a darker shade of it that passes",
            field="accent_color",
        )
    return colour


# -- time zones ---------------------------------------------------------------------------


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def check_zone(name: str) -> str:
    """An IANA time zone name (``Europe/Paris``), or ValidationError."""
    if name not in _zones():
        raise ValidationError(
            f"time_zone {name!r} is not a time zone; use an IANA name such as"
            " 'UTC', 'Europe/Paris' or 'America/New_York'",
            field="time_zone",
        )
    return name


def zone_label(offset: timedelta | None) -> str:
    """``UTC``, ``UTC+1``, ``UTC+5:30``, ``UTC\u22123`` (with a minus sign): a
    moment's offset in words (web/static/status.js: ``zoneLabel``)."""
    minutes = round((offset or timedelta()).total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def local(moment: datetime, zone: str) -> datetime:
    """``moment`` in ``zone`` (a name :func:`check_zone` accepted)."""
    return moment.astimezone(zoneinfo.ZoneInfo(zone))
