"""The public status page in a real browser: live, resumable, and whole without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import trio
from playwright.sync_api import expect
from support import TOKENS, eventually
from switchboard_client import connect


def test_page_updates_live_when_a_status_changes(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#connection")).to_have_text("Live")
    api = page.locator("#components li.service", has_text="API")
    expect(api.locator(".state")).to_have_text("✓ Operational")

    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "major_outage"})

    expect(api.locator(".state")).to_have_text("✕ Major outage")
    expect(page.locator("#overall .banner-text")).to_have_text("Major System Outage")
    expect(api.locator(".bar .d").last).to_have_class("d s-major_outage")
    screenshot(page, "status-page-outage")
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "operational"})
    expect(page.locator("#overall .banner-text")).to_have_text("All Systems Operational")
    # The day keeps the worst status it saw.
    expect(api.locator(".bar .d").last).to_have_class("d s-major_outage")


def _normalized(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", markup)).strip()


def test_the_script_draws_what_the_server_drew(web_server: Any, page: Any) -> None:
    incident = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {
            "name": "Draw check <b>",
            "body": "Line one\nline & two",
            "services": {"Dashboard": "partial_outage"},
        },
    )
    resolved = web_server.ok("POST", "/api/v1/orgs/demo/incidents", {"name": "Over already"})
    web_server.ok(
        "POST", f"/api/v1/orgs/demo/incidents/{resolved['id']}/resolve", {"body": "Fixed"}
    )
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    web_server.ok(
        "POST",
        "/api/v1/orgs/demo/maintenances",
        {
            "name": "Disk swap",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "services": ["Database"],
        },
    )
    monitor = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/monitors",
        {
            "name": "Primary",
            "service": "Database",
            "kind": "http",
            "regions": ["eu-west", "us-east"],
            "quorum": 2,
            "down_after": 1,
            "spec": {"url": "http://db.test/"},
        },
    )
    # The public reads a region's label, never its name.
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"region_labels": {"eu-west": "Europe (Ireland)"}})
    trio.run(_probe_reports_down, web_server.url, "eu-west", monitor["id"])
    _until_drawn(f"{web_server.url}/status/demo", "Problems seen from Europe (Ireland)")
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator(".regions")).to_have_text("Problems seen from Europe (Ireland)")
    assert "eu-west" not in page.content()
    drawn = {s: _normalized(page.inner_html(f"#{s}")) for s in SECTIONS}
    page.evaluate("window.switchboard.draw()")
    for section in SECTIONS:
        assert _normalized(page.inner_html(f"#{section}")) == drawn[section], section
    assert "Draw check &lt;b&gt;" in drawn["incidents"]
    web_server.ok("POST", f"/api/v1/orgs/demo/incidents/{incident['id']}/resolve")


SECTIONS = ("overall", "incidents", "maintenances", "components", "history-days")


async def _probe_reports_down(url: str, region: str, monitor_id: str) -> None:
    """A probe in ``region`` sees the monitor down (one region: below the quorum)."""
    async with connect(url, TOKENS.issue_probe(region)) as probe:
        result = {
            "id": f"{region}-1",
            "monitor": monitor_id,
            "at": "2026-11-22T12:00:00Z",
            "outcome": "down",
            "error": "connection refused",
        }
        await probe.report(region, [result])


def _until_drawn(url: str, text: str) -> None:
    """The verdict travels on its own: wait until the server's drawing shows it."""
    trio.run(eventually, lambda: text in httpx.get(url).text, f"{text!r} on {url}")


def test_the_page_works_with_javascript_off(
    web_server: Any, new_context: Any, screenshot: Any
) -> None:
    web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {
            "name": "Mail is slow",
            "body": "Queues are long.",
            "services": {"Email delivery": "degraded_performance"},
        },
    )
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#incidents")).to_be_visible()
    expect(page.locator("#incidents article", has_text="Mail is slow")).to_contain_text(
        "Queues are long."
    )
    expect(
        page.locator("#service-" + _service_id(web_server, "Email delivery") + " .state")
    ).to_have_text("▲ Degraded performance")
    expect(page.locator("#connection")).to_have_text("")
    expect(page.locator("#theme")).to_be_hidden()  # needs the script
    screenshot(page, "status-page-no-javascript")
    page.click("text=Incident history")
    expect(page.locator("h1")).to_have_text("Incident history")


def _service_id(web_server: Any, name: str) -> str:
    found = web_server.ok("GET", f"/api/v1/orgs/demo/services/{name}")
    return str(found["id"])


def test_the_page_resumes_after_the_server_restarts(web_server: Any, page: Any) -> None:
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#connection")).to_have_text("Live")
    web_server.kill()  # no goodbye: the socket just dies
    expect(page.locator("#connection")).to_have_text("Reconnecting…")
    web_server.start()  # same port, same database
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/Website", {"status": "partial_outage"})
    expect(page.locator("#connection")).to_have_text("Live", timeout=60_000)
    website = page.locator("#service-" + _service_id(web_server, "Website"))
    expect(website.locator(".state")).to_have_text("◆ Partial outage")
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/Website", {"status": "operational"})
    expect(website.locator(".state")).to_have_text("✓ Operational")


def test_the_page_is_usable_from_the_keyboard(web_server: Any, page: Any) -> None:
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#connection")).to_have_text("Live")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Then the page's own links and buttons, in reading order.
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "Incident history" in order
    # The theme button takes Enter and says what it does.
    page.keyboard.press("Shift+Tab")
    page.focus("#theme")
    page.keyboard.press("Enter")
    expect(page.locator("#theme")).to_have_text("Theme: light")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible


def test_themes_and_contrast(web_server: Any, new_context: Any, screenshot: Any) -> None:
    for scheme in ("light", "dark"):
        page = new_context(color_scheme=scheme).new_page()
        page.goto(f"{web_server.url}/status/demo")
        expect(page.locator("#connection")).to_have_text("Live")
        ratios = page.evaluate(CONTRAST)
        low = {what: ratio for what, ratio in ratios.items() if ratio < 4.5}
        assert not low, f"{scheme}: below WCAG AA 4.5:1: {low}"
        screenshot(page, f"status-page-{scheme}")


def test_the_page_fits_a_phone(web_server: Any, new_context: Any, screenshot: Any) -> None:
    page = new_context(
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ).new_page()
    page.goto(f"{web_server.url}/status/demo")
    expect(page.locator("#connection")).to_have_text("Live")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sideways
    visible_days = page.locator("#components li.service").first.locator(".bar .d:visible")
    expect(visible_days).to_have_count(30)  # a month on a phone
    screenshot(page, "status-page-phone")


# Text against its background, for the elements that carry status.
CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const out = {};
  const selectors = ["#overall .banner-text", "#components .state", ".name", ".desc", ".when", ".muted", "a", ".bar-legend", ".brand"];
  for (const s of selectors) {
    document.querySelectorAll(s).forEach((el, n) => {
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
      out[`${s}[${n}] ${el.textContent.trim().slice(0, 20)}`] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    });
  }
  return out;
}"""
