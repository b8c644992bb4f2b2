"""The public status page in a real browser: live, resumable, and whole without JavaScript."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_page_updates_live_when_a_status_changes(web_server: Any, page: Any, screenshot: Any) -> None:
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
