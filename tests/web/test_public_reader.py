"""The public status page as a reader uses it, in a real browser: getting
updates (feeds, a webhook, email only where there is a mail server), the
days of the bars as popovers, from the keyboard and by touch, and a service's
response times once its organization turns them on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from accessibility import assert_accessible, in_every_look
from notify.notify_support import Mailbox
from playwright.sync_api import expect
from support import eventually

ORG = "/api/v1/orgs/demo"


def service_id(web_server: Any, name: str) -> str:
    return str(web_server.ok("GET", f"{ORG}/services/{name}")["id"])


def open_page(context: Any, web_server: Any, path: str = "/status/demo") -> Any:
    page = context.new_page()
    page.goto(web_server.url + path)
    expect(page.locator("#connection")).to_have_text("Live")
    return page


# -- getting updates ---------------------------------------------------------------


def test_without_a_mail_server_the_page_offers_feeds_and_a_webhook(
    web_server: Any, new_context: Callable[..., Any], screenshot: Any
) -> None:
    page = open_page(new_context(), web_server)
    offer = page.get_by_role("region", name="Get updates")
    expect(offer.get_by_role("link", name="Atom feed")).to_have_attribute(
        "href", "/status/demo/history.atom"
    )
    expect(offer.get_by_role("link", name="RSS feed")).to_have_attribute(
        "href", "/status/demo/history.rss"
    )
    expect(offer.get_by_label("Email address")).to_have_count(0)
    url = offer.get_by_label("Webhook URL")
    expect(url).to_be_visible()

    # The server's refusal, beside the field, in the form's words.
    url.fill("hooks.example/status")
    offer.get_by_role("button", name="Subscribe a webhook").click()
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(url).to_be_focused()
    error = page.locator("#subscribe-webhook-error")
    expect(error).to_have_text("Webhook URL must be an http(s):// URL; got 'hooks.example/status'.")
    assert url.get_attribute("aria-describedby").split()[0] == "subscribe-webhook-error"
    assert_accessible(page, "status page, a sign-up refused")
    screenshot(page, "status-page-subscribe-error", full_page=False)

    url.fill("https://hooks.example/status")
    offer.get_by_role("button", name="Subscribe a webhook").click()
    said = offer.get_by_role("status")
    expect(said).to_contain_text("a confirmation is on its way")
    expect(error).to_be_hidden()
    expect(url).not_to_have_attribute("aria-invalid", "true")
    expect(url).to_have_value("")

    # Email is refused by the server too, whatever a page says.
    response = web_server.api("POST", "/status/demo/subscribe", {"email": "a@example.com"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "this status page does not offer email updates"


def test_signing_up_works_without_javascript(
    web_server: Any, new_context: Callable[..., Any]
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{web_server.url}/status/demo")
    page.get_by_label("Webhook URL").fill("https://hooks.example/plain-form")
    page.get_by_role("button", name="Subscribe a webhook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your webhook")
    page.get_by_role("link", name="Back to the status page").click()
    expect(page.get_by_role("heading", name="Get updates")).to_be_visible()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox.running() as box:
        yield box


def test_with_a_mail_server_the_page_offers_email_too(
    web_servers: Callable[..., Any], mailbox: Mailbox, new_context: Callable[..., Any]
) -> None:
    smtp = ["--smtp-host", "127.0.0.1", "--smtp-port", str(mailbox.port), "--no-smtp-starttls"]
    mail_server = web_servers(*smtp)
    page = open_page(new_context(), mail_server)
    offer = page.get_by_role("region", name="Get updates")
    email = offer.get_by_label("Email address")
    expect(offer.get_by_label("Webhook URL")).to_be_visible()
    email.fill("nope")
    offer.get_by_role("button", name="Subscribe by email").click()
    expect(page.locator("#subscribe-email-error")).to_have_text(
        "Email address must be an email address; got 'nope'."
    )
    email.fill("reader@example.com")
    offer.get_by_role("button", name="Subscribe by email").click()
    expect(offer.get_by_role("status").first).to_contain_text("a confirmation is on its way")
    (confirmation,) = trio.run(mailbox.count, "reader@example.com", 1)
    body = confirmation.get_body(("plain",))
    assert body is not None and "/status/demo/subscribe/confirm/" in body.get_content()

    # The organization keeps to the feeds: no form at all, email refused.
    mail_server.ok("PATCH", ORG, {"subscriptions": []})
    page.reload()
    expect(offer.get_by_role("link", name="RSS feed")).to_be_visible()
    expect(offer.locator("form")).to_have_count(0)
    refused = mail_server.api("POST", "/status/demo/subscribe", {"email": "x@example.com"})
    assert refused.status_code == 422


# -- the days of the bars --------------------------------------------------------------


@pytest.fixture(scope="module")
def troubled_day(web_server: Any) -> dict[str, Any]:
    """Today, an incident on the API and a running maintenance on the database."""
    incident: dict[str, Any] = web_server.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "API timeouts", "impact": "major", "services": {"API": "partial_outage"}},
    )
    start = datetime.now(UTC) + timedelta(hours=2)
    work = web_server.ok(
        "POST",
        f"{ORG}/maintenances",
        {
            "name": "Replica rebuild",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "services": ["Database"],
        },
    )
    web_server.ok("PATCH", f"{ORG}/maintenances/{work['id']}", {"status": "in_progress"})
    return {"incident": incident, "maintenance": work}


def test_a_day_opens_from_the_keyboard(
    web_server: Any, troubled_day: dict[str, Any], new_context: Callable[..., Any], screenshot: Any
) -> None:
    page = open_page(new_context(), web_server)
    api = page.locator(f"#service-{service_id(web_server, 'API')}")
    days = api.locator(".bar button.d")
    expect(days).to_have_count(90)
    today = days.last
    # Reached with Tab, one stop for a whole bar: on today.
    page.locator("#main").focus()
    bars: list[str] = []  # the service of each day Tab stopped on
    for _ in range(60):
        page.keyboard.press("Tab")
        found = page.evaluate(
            "(e => e.matches('.bar .d') ? e.closest('li.service').id : '')(document.activeElement)"
        )
        if found:
            bars.append(found)
        if today.evaluate("d => d === document.activeElement"):
            break
    expect(today).to_be_focused()
    assert len(bars) == len(set(bars)), bars
    expect(api.locator(".bar")).to_have_attribute("role", "group")
    page.keyboard.press("ArrowLeft")
    expect(days.nth(88)).to_be_focused()
    page.keyboard.press("Home")
    expect(days.first).to_be_focused()
    page.keyboard.press("End")
    expect(today).to_be_focused()

    page.keyboard.press("Enter")
    expect(today).to_have_attribute("aria-expanded", "true")
    pop = page.locator("#day-pop")
    expect(pop).to_be_visible()
    expect(today).to_have_attribute("aria-controls", "day-pop")
    expect(pop.locator(".day-pop-date")).to_have_text(today.get_attribute("title").split(": ")[0])
    expect(pop).to_contain_text("Partial outage")
    link = pop.get_by_role("link", name="API timeouts")
    expect(link).to_have_attribute(
        "href", f"/status/demo/incidents/{troubled_day['incident']['id']}"
    )
    expect(pop).to_contain_text("Major impact")
    assert_accessible(page, "status page, a day open")
    screenshot(page, "status-page-day-popover", full_page=False)

    # Escape closes it and gives the focus back to the day.
    page.keyboard.press("Tab")
    expect(pop.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(pop).to_have_count(0)
    expect(today).to_be_focused()
    expect(today).to_have_attribute("aria-expanded", "false")

    # Space opens it again; Tab goes on into it, and its link works.
    page.keyboard.press("Space")
    expect(link).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("API timeouts")


def test_a_day_opens_by_touch_on_a_phone(
    web_server: Any, troubled_day: dict[str, Any], new_context: Callable[..., Any], screenshot: Any
) -> None:
    context = new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = open_page(context, web_server)
    database = page.locator(f"#service-{service_id(web_server, 'Database')}")
    expect(database.locator(".bar button.d:visible")).to_have_count(30)
    # Fewer days, and the legend says how many.
    expect(database.locator(".bar-legend")).to_contain_text("30 days ago")
    expect(database.locator(".bar-legend .all-days")).to_be_hidden()
    today = database.locator(".bar button.d").last
    today.tap()
    pop = page.locator("#day-pop")
    link = pop.get_by_role("link", name="Replica rebuild")
    expect(link).to_have_attribute(
        "href", f"/status/demo/maintenances/{troubled_day['maintenance']['id']}"
    )
    expect(pop).to_contain_text("Maintenance")
    box = pop.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "status-page-day-popover-phone", full_page=False)
    # A tap elsewhere closes it; another day opens its own.
    page.locator("#overall").tap()
    expect(pop).to_have_count(0)
    today.tap()
    expect(link).to_be_visible()
    link.tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Replica rebuild")
    expect(page.locator(".maintenance .tag")).to_have_text("In progress")


def test_a_day_without_trouble_says_so(
    web_server: Any, troubled_day: dict[str, Any], new_context: Callable[..., Any]
) -> None:
    page = open_page(new_context(), web_server)
    website = page.locator(f"#service-{service_id(web_server, 'Website')}")
    website.locator(".bar button.d").last.click()
    pop = page.locator("#day-pop")
    expect(pop).to_contain_text("No incidents or maintenance.")
    # A live change reaches the open popover's next opening.
    incident = web_server.ok(
        "POST",
        f"{ORG}/incidents",
        {"name": "Website slow", "services": {"Website": "degraded_performance"}},
    )
    expect(website.locator(".state")).to_have_text("▲ Degraded performance")
    website.locator(".bar button.d").last.click()  # closes
    expect(pop).to_have_count(0)
    website.locator(".bar button.d").last.click()
    expect(pop.get_by_role("link", name="Website slow")).to_be_visible()
    web_server.ok("POST", f"{ORG}/incidents/{incident['id']}/resolve")


# -- response times ---------------------------------------------------------------------


def test_a_service_shows_its_response_times_once_enabled(
    web_server: Any, new_context: Callable[..., Any], screenshot: Any
) -> None:
    monitor = web_server.ok(
        "POST",
        f"{ORG}/monitors",
        {
            "name": "Checkout health",
            "service": "Dashboard",
            "kind": "http",
            "spec": {"url": f"{web_server.url}/health"},
        },
    )
    web_server.ok("POST", f"{ORG}/monitors/{monitor['id']}/check")

    def measured() -> bool:
        uptime = web_server.ok("GET", f"{ORG}/monitors/{monitor['id']}/uptime")
        return any(p["avg_ms"] is not None for p in uptime["response_times"])

    trio.run(eventually, measured, "a measured hour")
    dashboard = service_id(web_server, "Dashboard")
    page = open_page(new_context(), web_server)
    chart = page.locator(f"#chart-{dashboard}")
    expect(chart).to_have_count(0)  # off by default

    # Turned on from the console's services form: the open page draws it.
    console = new_context().new_page()
    email, password = web_server.login
    console.goto(f"{web_server.url}/admin/demo/services")
    console.get_by_label("Email").fill(email)
    console.get_by_label("Password").fill(password)
    console.get_by_role("button", name="Log in").click()
    console.get_by_role("button", name="Edit Dashboard").click()
    dialog = console.get_by_role("dialog", name="Edit Dashboard")
    dialog.get_by_label("Show its response times on the public page").check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    expect(console.locator("tr.service-row[data-name='Dashboard']")).to_contain_text(
        "Response times on the public page"
    )
    assert web_server.ok("GET", f"{ORG}/services/Dashboard")["show_response_times"] is True

    expect(chart).to_be_visible()
    expect(chart.locator("figcaption")).to_contain_text("Response time")
    expect(chart.locator("figcaption")).to_contain_text(" ms on average")
    plot = chart.get_by_role("img")
    expect(plot).to_have_attribute("aria-label", re_startswith("Average response time in each"))
    assert chart.locator("path.chart-line").get_attribute("d").startswith("M")
    assert "Checkout health" not in chart.inner_html() and "/health" not in chart.inner_html()
    live = chart.evaluate("c => c.outerHTML")
    # The server draws the same chart.
    page.reload()
    expect(chart).to_be_visible()
    assert chart.evaluate("c => c.outerHTML") == live
    assert_accessible(page, "status page with a chart")
    screenshot(page, "status-page-response-times")

    # Turned off (the REST update): gone at once.
    web_server.ok("PATCH", f"{ORG}/services/Dashboard", {"show_response_times": False})
    expect(chart).to_have_count(0)
    web_server.ok("DELETE", f"{ORG}/monitors/{monitor['id']}")


def re_startswith(text: str) -> Any:
    import re

    return re.compile("^" + re.escape(text))


# -- accessibility -------------------------------------------------------------------


def test_the_public_pages_pass_axe_with_these_parts(
    web_server: Any, troubled_day: dict[str, Any], page: Any
) -> None:
    web_server.ok("PATCH", f"{ORG}/services/API", {"show_response_times": True})
    incident, work = troubled_day["incident"], troubled_day["maintenance"]
    for where, path in (
        ("status page", "/status/demo"),
        ("history", "/status/demo/history"),
        ("incident page", f"/status/demo/incidents/{incident['id']}"),
        ("maintenance page", f"/status/demo/maintenances/{work['id']}"),
    ):
        in_every_look(page, where, f"{web_server.url}{path}")
    web_server.ok("PATCH", f"{ORG}/services/API", {"show_response_times": False})
