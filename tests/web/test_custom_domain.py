"""A custom domain in a real browser: Atlassian's embeddable status widget
(``@statuspage/status-widget``, pinned in tests/web/js) on another site reads
the root of the domain, and the live status page is served there.

Chromium resolves the domain to loopback (``--host-resolver-rules``), as DNS
would once the name points at the server; the embedding site is a plain
static server on loopback, another origin, run for the test.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import expect

HOST = "status.widget.test"
WIDGET = Path(__file__).parent / "js/node_modules/@statuspage/status-widget/dist/index.js"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Another site on loopback: its folder, and its address."""
    if not WIDGET.exists():
        pytest.fail(f"{WIDGET} is missing: run tests/setup-system (npm ci in tests/web/js)")
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "status-widget.js").write_bytes(WIDGET.read_bytes())
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def resolving(browser: Any) -> Iterator[Any]:
    """A context of a Chromium of our own, which resolves HOST to loopback;
    page errors fail the test."""
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"],
    )
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda e: errors.append(str(e))))
    yield context
    context.close()
    chromium.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def domain(web_server: Any) -> Iterator[str]:
    """The demo organization's custom domain, as readers write it."""
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"domains": [HOST]})
    yield f"http://{HOST}:{web_server.port}"
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"domains": []})
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "operational"})


def test_the_statuspage_widget_shows_the_status_from_the_root_of_a_custom_domain(
    web_server: Any, site: tuple[Path, str], resolving: Any, domain: str, screenshot: Any
) -> None:
    folder, address = site
    (folder / "index.html").write_text(
        "<!doctype html><html><head><title>Our product</title></head><body>\n"
        f'<p id="basic"><statuspage-widget src="{domain}"></statuspage-widget></p>\n'
        f'<p id="badge"><statuspage-widget src="{domain}" appearance="badge"'
        ' title="Demo status"></statuspage-widget></p>\n'
        # The bundle assigns the global parcelRequire in strict mode: declared
        # first, or the widget (which works) throws after it has drawn.
        "<script>var parcelRequire;</script>\n"
        '<script src="/status-widget.js"></script>\n</body></html>\n'
    )
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "major_outage"})
    page = resolving.new_page()
    fetched: list[str] = []
    page.on("requestfinished", lambda request: fetched.append(request.url))
    page.goto(f"{address}/")

    basic = page.locator("#basic statuspage-widget")
    expect(basic.locator(".status-text")).to_have_text("Major System Outage")
    expect(basic.locator(".status-indicator")).to_have_class("status-indicator critical")
    expect(basic.locator("a")).to_have_attribute("href", domain)
    badge = page.locator("#badge statuspage-widget")
    expect(badge.locator(".status-text")).to_have_text("Demo status")
    expect(badge.locator(".status-indicator")).to_contain_text("Major System Outage")
    # Read across origins, from the root of the domain, not from /status/demo.
    assert f"{domain}/api/v2/summary.json" in fetched
    screenshot(page, "statuspage-widget-custom-domain", full_page=False)


def test_the_live_status_page_is_at_the_root_of_a_custom_domain(
    web_server: Any, resolving: Any, domain: str
) -> None:
    page = resolving.new_page()
    page.goto(f"{domain}/")
    expect(page).to_have_title("Demo Inc. status")
    expect(page.locator("#connection")).to_have_text("Live")
    api = page.locator("#components li.service", has_text="API")
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"status": "partial_outage"})
    expect(api.locator(".state")).to_have_text("◆ Partial outage")
    page.get_by_role("link", name="Incident history").first.click()
    expect(page).to_have_url(f"{domain}/history")
    page.get_by_role("link", name="Demo Inc.").click()
    expect(page).to_have_url(f"{domain}/")
