"""The words of the incidents monitors open, and how regions are named to the public.

An organization may change any of :data:`DEFAULTS` (``monitor_texts``, in its
settings); each text may use the placeholders of :data:`PLACEHOLDERS` and no
others. The public is only ever told the service's name, the labels of the
regions (``region_labels``; a region without one is not named) and a reason
in plain words: never a monitor's name, a URL or a raw error, which stay with
the members.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Final

from ..errors import ValidationError

DEFAULTS: Final[Mapping[str, str]] = {
    "down_title": "{service} is down",
    "degraded_title": "{service} is degraded",
    "down_body": "We are investigating: {service} is not responding{where}.",
    "degraded_body": "{service} is degraded{where}: {reason}.",
    "recovering_body": "{service} is responding again. We are watching it before closing this incident.",
    "resolved_body": "{service} has been working normally for {minutes} minutes.",
    "recovered_body": "{service} is working normally again.",
    "flapping_body": (
        "{service} is unstable: it failed and recovered {changes} times in {minutes} minutes."
        " This incident stays open until it is stable."
    ),
    "stable_body": "{service} has been stable for {minutes} minutes.",
}

PLACEHOLDERS: Final = frozenset({"service", "where", "reason", "changes", "minutes"})
TITLE_MAX, BODY_MAX = 100, 1_000


def check(texts: Mapping[str, str]) -> dict[str, str]:
    """The texts an organization sets, checked: known names, known placeholders."""
    out: dict[str, str] = {}
    for name, text in texts.items():
        where = f"monitor_texts.{name}"
        if name not in DEFAULTS:
            raise ValidationError(
                f"no text called {name!r}; the texts are {', '.join(DEFAULTS)}", field=where
            )
        limit = TITLE_MAX if name.endswith("_title") else BODY_MAX
        if not text.strip() or len(text) > limit:
            raise ValidationError(f"{name} must be 1-{limit} characters", field=where)
        try:
            used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
        except ValueError as exc:
            raise ValidationError(f"{name}: {exc} (write {{{{ for a brace)", field=where) from None
        unknown = sorted(f or "{}" for f in used if f not in PLACEHOLDERS)
        if unknown:
            raise ValidationError(
                f"{name} uses {', '.join(unknown)}; the placeholders are"
                f" {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}",
                field=where,
            )
        out[name] = text
    return out


def render(texts: Mapping[str, str], name: str, **values: object) -> str:
    """One text, the organization's or the default, with its placeholders filled."""
    filled = {p: "" for p in PLACEHOLDERS} | {k: str(v) for k, v in values.items()}
    return texts.get(name, DEFAULTS[name]).format_map(filled)


def where(labels: Mapping[str, str], regions: Iterable[str]) -> str:
    """`` from Frankfurt and Virginia``: the labelled regions among ``regions``."""
    named = sorted({labels[r] for r in regions if labels.get(r)})
    if not named:
        return ""
    if len(named) == 1:
        return f" from {named[0]}"
    return f" from {', '.join(named[:-1])} and {named[-1]}"


_EXPIRES = re.compile(r"certificate expires in [^,]+, on (\d{4}-\d{2}-\d{2})")
_EXPIRED = re.compile(r"certificate expired on (\d{4}-\d{2}-\d{2})")


def reason(verdict: str, error: str | None) -> str:
    """A problem in words the public may read, from a check's own words
    (server/monitoring/checks.py), which may name hosts and addresses."""
    error = error or ""
    if m := _EXPIRES.search(error):
        return f"its certificate expires on {m.group(1)}"
    if m := _EXPIRED.search(error):
        return f"its certificate expired on {m.group(1)}"
    if verdict == "degraded":
        return "it is responding slowly" if error.startswith("slow") else "it is not fully working"
    return "it is not responding"
