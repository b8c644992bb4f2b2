"""An automated accessibility check of a page as it stands: axe-core (from the
npm registry, pinned in tests/web/js, installed by ``make test``), run in the
page against WCAG 2.1 A and AA. Pages that matter are checked in light and
dark themes and at a phone's width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page: Any) -> list[dict[str, Any]]:
    """What axe finds on the page now. (Evaluated through the browser's
    debugging protocol, so the pages' Content-Security-Policy lets it in.)"""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: `make test` installs it (tests/setup-system)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate("(rules) => axe.run(document, rules)", RULES)[
        "violations"
    ]
    return found


def assert_accessible(page: Any, where: str) -> None:
    """No violation on the page; if there are, each rule with the elements it names."""
    found = violations(page)
    told = [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in found
    ]
    assert not found, f"{where}: accessibility violations:\n" + "\n".join(told)


def in_every_look(page: Any, where: str, url: str) -> None:
    """Check ``url`` in the light and dark themes, and at 390 px wide."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": 1100, "height": 900})
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert_accessible(page, f"{where} ({scheme})")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert_accessible(page, f"{where} (390 px)")
    page.emulate_media(color_scheme="light")
