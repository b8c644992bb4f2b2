"""The console's monitoring screens in a real browser: monitors made, watched
going down and up live, their page and chart, a heartbeat's push URL, and the
server's probes for its operators. The checks reach a small web server the
test runs on loopback, whose answer it switches between 200 and 500.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trio
from accessibility import in_every_look
from playwright.sync_api import expect
from support import TEST_SECRET, TOKENS
from switchboard_client import connect
from test_admin import _probe_reports, field_error, log_in, server_message, shown

ORG = "/api/v1/orgs/demo"


class Target(ThreadingHTTPServer):
    """What the monitor checks: ``status`` is what it answers, as the test sets it."""

    daemon_threads = True
    status = 200


class Answer(BaseHTTPRequestHandler):
    server: Target

    def do_GET(self) -> None:
        status = 500 if self.path == "/down" else self.server.status
        body = b"ok\n" if status < 400 else b"broken\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the probe's checks are not news


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def url_of(target: Target, path: str = "/health") -> str:
    host, port = target.server_address[:2]
    return f"http://{host}:{port}{path}"


def monitor_named(web_server: Any, name: str) -> dict[str, Any]:
    listed = web_server.ok("GET", f"{ORG}/monitors?limit=200")["data"]
    found: dict[str, Any] = next(m for m in listed if m["name"] == name)
    return found


def stored(web_server: Any, monitor_id: str, count: int) -> None:
    """Wait until ``count`` results of the monitor are stored (they are written
    about once a second); a hang guard of 15 s."""
    path = f"{ORG}/monitors/{monitor_id}/results?limit=1000"
    deadline = time.monotonic() + 15
    while len(web_server.ok("GET", path)["data"]) < count:
        assert time.monotonic() < deadline, f"{count} results of {monitor_id} were never stored"
        time.sleep(0.1)


def test_an_http_monitor_goes_down_and_up_live_and_draws_its_chart(
    web_server: Any, page: Any, target: Target, screenshot: Any
) -> None:
    log_in(web_server, page, "/admin/demo/monitors")
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitors")
    page.get_by_role("button", name="New monitor").click()
    dialog = page.get_by_role("dialog", name="New monitor")
    expect(dialog.get_by_label("Name")).to_be_focused()
    dialog.get_by_label("Name").fill("Checkout API")
    dialog.get_by_label("Service", exact=True).select_option(label="API")

    # The server's words, beside the field they name.
    bad_url = server_message(
        web_server,
        "POST",
        f"{ORG}/monitors",
        {"name": "x", "service": "API", "kind": "http", "spec": {"url": "ftp://example.com/"}},
    )
    dialog.get_by_label("URL").fill("ftp://example.com/")
    dialog.get_by_role("button", name="Create monitor").click()
    expect(field_error(page, dialog.get_by_label("URL"))).to_have_text(shown(bad_url))
    screenshot(page, "console-new-monitor", full_page=False)

    dialog.get_by_label("URL").fill(url_of(target))
    dialog.get_by_label("Expected status").fill("200")
    dialog.get_by_label("Every (seconds)").fill("10")
    dialog.get_by_label("Down after (results in a row)").fill("1")
    dialog.get_by_label("Up after (results in a row)").fill("1")
    dialog.get_by_label("Then").select_option("incident")
    dialog.get_by_label("Resolve after up for (seconds)").fill("0")
    dialog.get_by_role("button", name="Create monitor").click()
    expect(dialog).to_have_count(0)
    made = monitor_named(web_server, "Checkout API")
    assert made["spec"]["url"] == url_of(target) and made["spec"]["expected_status"] == ["200"]
    assert (made["interval"], made["down_after"], made["policy"]) == (10, 1, "incident")

    row = page.locator("tr.monitor-row[data-name='Checkout API']")
    page.evaluate("window.sameDocument = true")
    check = f"{ORG}/monitors/{made['id']}/check"
    web_server.ok("POST", check)  # checked by the server: the page hears it over the topic
    expect(row.locator(".verdict")).to_have_text("✓ Up")
    expect(row.locator(".chip")).to_have_text(re.compile(r"local\s+up"))

    target.status = 500
    web_server.ok("POST", check)
    expect(row.locator(".verdict")).to_have_text("✕ Down")
    expect(row.locator(".chip")).to_have_text(re.compile(r"local\s+down"))
    target.status = 200
    web_server.ok("POST", check)
    expect(row.locator(".verdict")).to_have_text("✓ Up")
    expect(row.locator(".latency")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(row.locator(".uptime-cell")).to_contain_text("24 h")
    assert page.evaluate("window.sameDocument") is True  # never reloaded
    expect(row.locator(".spark svg")).to_be_visible()  # read again after the verdict moved
    stored(web_server, made["id"], 3)

    row.get_by_role("link", name="Checkout API").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout API")
    expect(page).to_have_url(f"{web_server.url}/admin/demo/monitors/{made['id']}")
    results = page.locator(".results-table")
    expect(results).to_contain_text("status 500, expected 200")
    opened = page.locator(".opened li")
    expect(opened).to_contain_text("API is down")
    expect(opened).to_contain_text("Resolved")
    page.get_by_role("button", name="7 days").click()
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="24 hours").click()
    points = page.locator(".chart-svg .series[data-region='local'] .pt")
    expect(points.first).to_be_visible()
    expect(page.locator(".chart-legend")).to_contain_text("local")
    plot = page.locator(".chart-plot")
    plot.focus()
    page.keyboard.press("End")
    expect(page.locator(".chart .readout")).to_contain_text(re.compile(r"local \d+ ms"))
    expect(page.locator(".monitor-bar .d")).to_have_count(90)

    # Edit it: a quorum that cannot be met is refused beside its field.
    page.get_by_role("button", name="Edit Checkout API").click()
    edit = page.get_by_role("dialog", name="Edit Checkout API")
    edit.get_by_label("Regions").fill("local")
    edit.get_by_label("Quorum").fill("2")
    edit.get_by_role("button", name="Save changes").click()
    expect(field_error(page, edit.get_by_label("Quorum"))).to_have_text(
        "Quorum 2 is more than the 1 regions named."
    )
    edit.get_by_label("Quorum").fill("1")
    edit.get_by_label("Keyword", exact=True).fill("ok")
    edit.get_by_label("Every (seconds)").fill("20")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_have_count(0)
    saved = web_server.ok("GET", f"{ORG}/monitors/{made['id']}")
    assert (saved["interval"], saved["regions"], saved["spec"]["keyword"]) == (20, ["local"], "ok")
    assert saved["spec"]["url"] == url_of(target)  # what was not touched stays

    # Pause and resume.
    page.get_by_role("button", name="Pause Checkout API").click()
    expect(page.locator(".monitor-line .verdict")).to_have_text("⏸ Paused")
    assert web_server.ok("GET", f"{ORG}/monitors/{made['id']}")["paused"] is True
    page.get_by_role("button", name="Resume Checkout API").click()
    expect(page.get_by_role("button", name="Pause Checkout API")).to_be_visible()
    assert web_server.ok("GET", f"{ORG}/monitors/{made['id']}")["paused"] is False

    own_page = page.url
    in_every_look(page, "monitors", f"{web_server.url}/admin/demo/monitors")
    in_every_look(page, "a monitor", own_page)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator(".chart-svg .pt").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the monitor's page is {width}px wide on a 390px phone"

    page.get_by_role("button", name="Delete Checkout API").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete monitor").click()
    expect(page).to_have_url(f"{web_server.url}/admin/demo/monitors")
    expect(page.locator("tr.monitor-row[data-name='Checkout API']")).to_have_count(0)


def test_a_heartbeat_shows_its_push_url_and_a_ready_line(
    web_server: Any, new_context: Any, screenshot: Any
) -> None:
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_server.url)
    page = context.new_page()
    log_in(web_server, page, "/admin/demo/monitors")
    page.get_by_role("button", name="New monitor").click()
    dialog = page.get_by_role("dialog", name="New monitor")
    dialog.get_by_label("Name").fill("Nightly backup")
    dialog.get_by_label("Kind").select_option(label="Heartbeat (a job calls in)")
    expect(dialog.get_by_label("URL")).to_have_count(0)
    expect(dialog.get_by_label("Quorum")).to_be_hidden()
    dialog.get_by_label("Every (seconds)").fill("3600")
    dialog.get_by_label("Grace (seconds)").fill("600")
    dialog.get_by_label("Up after (results in a row)").fill("1")
    dialog.get_by_role("button", name="Create monitor").click()
    expect(dialog).to_have_count(0)

    box = page.get_by_role("status").filter(has_text="Push URL of Nightly backup")
    url = box.locator("code").first.inner_text()
    assert re.fullmatch(rf"{re.escape(web_server.url)}/api/v1/heartbeat/sbh_[\w-]+", url), url
    expect(box.locator("code").nth(1)).to_have_text(
        f'curl -fsS -m 10 --retry 3 "{url}?status=up&msg=OK"'
    )
    expect(box.locator("code").nth(2)).to_contain_text(
        f'0 * * * * /path/to/job && curl -fsS -m 10 --retry 3 "{url}"'
    )
    box.get_by_role("button", name="Copy push URL").click()
    expect(page.locator("#notice")).to_have_text("The push URL was copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    screenshot(page, "console-heartbeat", full_page=False)

    row = page.locator("tr.monitor-row[data-name='Nightly backup']")
    expect(row.locator(".verdict")).to_have_text("? Unknown")
    assert httpx.get(f"{url}?status=up&msg=OK", timeout=10).status_code == 200  # the job ran
    expect(row.locator(".verdict")).to_have_text("✓ Up")

    # A new push URL replaces the old one.
    row.get_by_role("link", name="Nightly backup").click()
    page.get_by_role("button", name="New push URL").click()
    page.get_by_role("dialog").get_by_role("button", name="Make a new push URL").click()
    renewed = page.get_by_role("status").filter(has_text="Push URL of Nightly backup")
    new_url = renewed.locator("code").first.inner_text()
    assert new_url != url
    assert httpx.get(url, timeout=10).status_code == 404
    assert httpx.get(new_url, timeout=10).status_code == 200
    in_every_look(page, "a heartbeat's page", page.url)


def test_a_monitor_checked_from_two_regions_draws_a_line_each(
    web_server: Any, page: Any, target: Target, screenshot: Any
) -> None:
    def make(**fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = web_server.ok("POST", f"{ORG}/monitors", fields)
        return made

    site = make(
        name="Website",
        service="Website",
        kind="http",
        regions=["eu-west", "us-east"],
        interval=60,
        spec={"url": url_of(target, "/"), "keyword": "ok"},
    )
    host, port = target.server_address[:2]
    database = make(
        name="Database",
        service="Database",
        kind="tcp",
        up_after=1,
        spec={"host": host, "port": port},
    )
    search = make(
        name="Search",
        service="Dashboard",
        kind="http",
        down_after=1,
        down_status="partial_outage",
        spec={"url": url_of(target, "/down"), "expected_status": ["200"]},
    )
    trio.run(_a_day_of_results, web_server.url, site["id"])
    for monitor in (database, search):
        web_server.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")
    stored(web_server, site["id"], 2 * 97)

    log_in(web_server, page, "/admin/demo/monitors")
    row = page.locator("tr.monitor-row[data-name='Website']")
    expect(row.locator(".verdict")).to_have_text("✓ Up")
    expect(row.locator(".chip")).to_have_text(
        [re.compile(r"eu-west\s+up"), re.compile(r"us-east\s+up")]
    )
    expect(row.locator(".spark path")).to_be_visible()
    expect(page.locator("tr.monitor-row[data-name='Search'] .verdict")).to_have_text("✕ Down")
    expect(page.locator("tr.monitor-row[data-name='Database'] .verdict")).to_have_text("✓ Up")
    screenshot(page, "console-monitors")

    row.get_by_role("link", name="Website").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Website")
    lines = page.locator(".chart-svg .series")
    expect(lines).to_have_count(2)
    for region in ("eu-west", "us-east"):
        expect(page.locator(f".chart-svg .series[data-region='{region}'] path")).to_be_visible()
    expect(page.locator(".chart-legend li")).to_have_text(["eu-west", "us-east"])
    expect(page.locator(".results-table")).to_contain_text("timed out after 10 s")
    screenshot(page, "console-monitor-chart", full_page=False)
    page.get_by_role("button", name="90 days").click()
    expect(page.locator(".chart-svg .series[data-region='us-east'] .pt").first).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    expect(page.locator(".chart-svg")).to_have_attribute("width", re.compile(r"^3\d\d$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "console-monitor-chart-phone-dark", full_page=False)
    page.get_by_role("link", name="← All monitors").click()
    expect(page.locator("tr.monitor-row[data-name='Website'] .spark path")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "console-monitors-phone-dark")


async def _a_day_of_results(url: str, monitor_id: str) -> None:
    """What probes in eu-west and us-east made over the last day, every quarter
    of an hour: the times go up and down with the day, us-east's slower and
    once timed out. (Sent as a probe that was cut off sends what it kept.)"""
    now = datetime.now(UTC)
    for region, base in (("eu-west", 42.0), ("us-east", 118.0)):
        results = []
        for n in range(96, -1, -1):
            at = now - timedelta(minutes=15 * n)
            wave = 1 + 0.3 * math.sin(2 * math.pi * (at.hour + at.minute / 60) / 24)
            result = {"id": f"{region}-{n}", "monitor": monitor_id, "at": at.isoformat()}
            if region == "us-east" and n == 3:
                result.update(outcome="down", error="timed out after 10 s")
            else:
                result.update(outcome="up", latency_ms=round(base * wave + (n * 7) % 11, 1))
            results.append(result)
        async with connect(url, TOKENS.issue_probe(region)) as probe:
            await probe.report(region, results)


def test_the_server_s_operators_see_its_probes(web_server: Any, page: Any, screenshot: Any) -> None:
    env = {
        **os.environ,
        "SWITCHBOARD_PASSWORD": "operator's long password",
        "SWITCHBOARD_SECRET": TEST_SECRET,
    }
    command = [sys.executable, "-m", "server", "user", "create", "--email", "ops@example.com"]
    command += ["--operator", "--database-url", web_server.database_url]
    command += ["--data-dir", str(web_server.data_dir)]
    made = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert made.returncode == 0, made.stderr
    web_server.restart()  # the directory is read at start
    edge = web_server.ok(
        "POST",
        f"{ORG}/monitors",
        {
            "name": "Edge from eu-west",
            "service": "API",
            "kind": "http",
            "regions": ["eu-west"],
            "spec": {"url": "http://edge.test/"},
        },
    )
    trio.run(_probe_reports, web_server.url, "ap-south", edge["id"])

    # A member who is no operator has no Probes page.
    log_in(web_server, page, "/admin/probes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Probes")
    expect(page.locator("main")).to_contain_text("This page is for the server's operators.")
    nav = page.get_by_role("navigation", name="Console sections")
    expect(nav.get_by_role("link", name="Probes")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Password").fill("operator's long password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("No organization yet")
    nav.get_by_role("link", name="Probes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Probes")
    expect(nav.get_by_role("link", name="Probes")).to_have_attribute("aria-current", "page")
    local = page.locator(".probes-table tr[data-region='local']")
    expect(local).to_contain_text("Online")
    expect(local).to_contain_text("this server's own")
    remote = page.locator(".probes-table tr[data-region='ap-south']")
    expect(remote).to_contain_text("Online")
    expect(remote.locator("td[data-label='Lag']")).to_have_text(re.compile(r"^\d+ s ago$"))
    # How late its checks start, as the probe said with its results.
    expect(remote.locator("td[data-label='Checks start late']")).to_have_text(
        "p50 4 ms · p99 20 ms"
    )
    expect(local.locator("td[data-label='Checks start late']")).to_have_text(
        re.compile(r"^p50 \d+ ms · p99 \d+ ms$|^not reported yet$")
    )
    stats = web_server.ok("GET", "/api/v1/monitoring", bearer=web_server.token("*", "admin"))
    for region, row in (("local", local), ("ap-south", remote)):
        checks = next(r for r in stats["regions"] if r["region"] == region)["monitors"]
        expect(row.locator("td[data-label='Monitors']")).to_have_text(str(checks))
    figures = page.locator(".figures")
    expect(figures).to_contain_text("Start lag p50")
    expect(figures).to_contain_text("Start lag p99")
    expect(figures.locator("div", has_text="Checks started").locator("dd")).to_have_text(
        re.compile(r"^\d+$")
    )
    assert stats["lag_seconds"].keys() >= {"p50", "p99"}
    screenshot(page, "console-probes")
    in_every_look(page, "probes", f"{web_server.url}/admin/probes")
    web_server.ok("DELETE", f"{ORG}/monitors/{edge['id']}")
