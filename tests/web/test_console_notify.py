"""The console's Notifications and Subscribers pages in a real browser: a
webhook channel pointed at a receiver on loopback, its test message and
deliveries (retried now), and a subscriber who confirmed, found, exported and
removed; every page checked with axe in both themes and on a phone.

The server is shared by the module's tests, so each test uses names of its own.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
from accessibility import in_every_look
from playwright.sync_api import expect
from test_admin import LIVE, log_in, nav
from web_receiver import receiving

from server.notify import verify

# Subscribers' webhooks may reach this machine (the receiver is on loopback).
SERVER_FLAGS = ("--allow-private-webhooks",)


def channel_card(page: Any, name: str) -> Any:
    return page.locator(f"article.channel[data-channel='{name}']")


def test_a_webhook_channel_gets_its_test_and_its_deliveries_are_shown(
    web_server: Any, new_context: Any, screenshot: Any
) -> None:
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()  # every section named
    with receiving() as receiver:
        log_in(web_server, page, "/admin/demo/incidents")
        nav(page, "Notifications")
        expect(page.locator("#channels")).to_contain_text("No channels yet")
        page.evaluate("window.sameDocument = true")

        page.get_by_role("button", name="New channel").click()
        dialog = page.get_by_role("dialog", name="New channel")
        expect(dialog.get_by_label("Kind")).to_have_value("webhook")
        dialog.get_by_label("Name").fill("Ops hook")
        dialog.get_by_label("URL").fill(receiver.url("/ops"))
        dialog.get_by_label("Monitor flapping").uncheck()
        dialog.get_by_label("Monitor stable again").uncheck()
        dialog.get_by_role("button", name="Create channel").click()
        expect(dialog).to_have_count(0)
        secret = page.locator("#channel-secret .secret-value")
        expect(secret).to_have_text(re.compile(r"^whsec_\S+$"))
        signing = secret.text_content()
        assert signing

        card = channel_card(page, "Ops hook")
        expect(card).to_contain_text("Signed webhook")
        expect(card).to_contain_text("Enabled")
        expect(card.locator(".target")).to_contain_text(receiver.url("/ops"))
        expect(card.locator(".events")).not_to_contain_text("Monitor flapping")
        expect(card.locator(".events")).to_contain_text("Incident opened")
        expect(card).to_contain_text("Nothing sent yet.")

        # The test message: the receiver gets it, signed, and the page says so.
        card.get_by_role("button", name="Send test to Ops hook").click()
        expect(card.locator(".test-result")).to_have_text("Test message: Delivered (answer 200).")
        (got,) = receiver.wait(1, "/ops")
        assert got.headers["x-switchboard-event"] == "test"
        assert "sent by owner@demo.example" in got.json()["data"]["message"]
        assert verify(
            signing,
            got.headers["x-switchboard-signature"],
            got.headers["x-switchboard-timestamp"],
            got.body,
        )
        row = card.locator("tr[data-delivery]").first
        expect(row).to_have_attribute("data-status", "sent")
        expect(row).to_contain_text("Test message")
        expect(row.locator("td[data-label='Attempts']")).to_have_text("1")

        # One the receiver refuses waits for its next try; "Retry now" sends it.
        receiver.script = [503]
        card.get_by_role("button", name="Send test to Ops hook").click()
        expect(card.locator(".test-result")).to_contain_text("Not delivered yet. HTTP 503")
        waiting = card.locator("tr[data-status='pending']")
        expect(waiting).to_have_count(1)
        expect(waiting.locator("td[data-label='Last error']")).to_have_text(
            "HTTP 503 Service Unavailable"
        )
        expect(waiting.locator("td[data-label='Next try'] time")).to_have_count(1)
        screenshot(page, "console-notifications")
        waiting.get_by_role("button", name=re.compile("^Retry now")).click()
        expect(page.locator("#notice")).to_contain_text("Test message to Ops hook: Delivered")
        expect(card.locator("tr[data-status='pending']")).to_have_count(0)
        retried = card.locator("tr[data-delivery]").first
        expect(retried.locator("td[data-label='Attempts']")).to_have_text("2")
        expect(retried.locator("td[data-label='Last error']")).to_have_text(
            "HTTP 503 Service Unavailable"
        )
        assert len(receiver.wait(3, "/ops")) == 3

        # Disabled, then its events changed; both stored.
        card.get_by_role("button", name="Disable Ops hook").click()
        expect(card).to_contain_text("Disabled")
        card.get_by_role("button", name="Edit Ops hook").click()
        edit = page.get_by_role("dialog", name="Edit “Ops hook”")
        for words in ("Monitor down", "Monitor degraded", "Monitor back up"):
            edit.get_by_label(words).uncheck()
        edit.get_by_label("Enabled").check()
        edit.get_by_role("button", name="Save").click()
        expect(edit).to_have_count(0)
        expect(card).to_contain_text("Enabled")
        expect(card.locator(".events")).not_to_contain_text("Monitor down")
        (stored,) = [
            c
            for c in web_server.ok("GET", "/api/v1/orgs/demo/channels")["data"]
            if c["name"] == "Ops hook"
        ]
        assert not stored["disabled"]
        assert "monitor.down" not in stored["events"] and "incident.created" in stored["events"]

        # A channel made elsewhere shows up here, and one deleted goes.
        made = web_server.ok(
            "POST",
            "/api/v1/orgs/demo/channels",
            {"kind": "slack", "name": "Team chat", "config": {"url": receiver.url("/chat")}},
        )
        expect(channel_card(page, "Team chat")).to_contain_text("Slack-format webhook")
        web_server.api("DELETE", f"/api/v1/orgs/demo/channels/{made['id']}")
        expect(channel_card(page, "Team chat")).to_have_count(0)
        assert page.evaluate("window.sameDocument") is True  # never reloaded
        expect(page.locator("#connection")).to_have_text(LIVE)


def confirmed_webhook(web_server: Any, receiver: Any, path: str) -> None:
    """A webhook subscriber signs up on the public page and follows its confirmation."""
    answer = httpx.post(
        f"{web_server.url}/status/demo/subscribe", json={"webhook": receiver.url(path)}
    )
    assert answer.status_code == 202, answer.text
    (ping,) = receiver.wait(1, path)
    assert ping.json()["event"] == "subscription.confirm"
    confirm = ping.json()["data"]["confirm_url"]
    assert confirm.startswith(f"{web_server.url}/status/demo/subscribe/confirm/")
    done = httpx.post(confirm, headers={"Accept": "application/json"})
    assert done.status_code == 200 and done.json()["status"] == "confirmed", done.text


def test_a_confirmed_subscriber_is_found_exported_and_removed(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    with receiving() as receiver:
        confirmed_webhook(web_server, receiver, "/reader")
        log_in(web_server, page, "/admin/demo/subscribers")
        counts = page.locator("#subscriber-counts")
        expect(counts.locator("[data-kind='webhook']")).to_contain_text("1 confirmed")
        row = page.locator(f"#subscribers tr[data-subscriber='{receiver.url('/reader')}']")
        expect(row.locator("td[data-label='Kind']")).to_have_text("Webhook")
        expect(row.locator("td[data-label='Confirmed'] time")).to_have_count(1)

        # Found by part of its address (and not by another).
        search = page.locator("form.search-form")
        search.get_by_label("Address contains").fill("nobody-here")
        search.get_by_role("button", name="Search").click()
        expect(page.locator("#subscribers")).to_contain_text("No subscriber matches.")
        search.get_by_label("Address contains").fill("/READER")
        search.get_by_label("Kind").select_option("webhook")
        search.get_by_role("button", name="Search").click()
        expect(page.locator("#subscribers tbody tr")).to_have_count(1)
        expect(row).to_be_visible()

        with page.expect_download() as download:
            search.get_by_role("button", name="Export CSV").click()
        assert download.value.suggested_filename == "demo-subscribers.csv"
        text = Path(download.value.path()).read_text(encoding="utf-8")
        (exported,) = list(csv.DictReader(io.StringIO(text)))
        assert exported["address"] == receiver.url("/reader") and exported["confirmed"] == "true"
        screenshot(page, "console-subscribers")

        row.get_by_role("button", name=f"Remove {receiver.url('/reader')}").click()
        dialog = page.get_by_role("dialog", name=f"Remove {receiver.url('/reader')}?")
        dialog.get_by_role("button", name="Remove subscriber").click()
        expect(dialog).to_have_count(0)
        expect(row).to_have_count(0)
        expect(counts.locator("[data-kind='webhook']")).to_contain_text("0 confirmed")
        assert web_server.ok("GET", "/api/v1/orgs/demo/subscribers?kind=webhook")["data"] == []


def test_the_public_page_offers_only_the_kinds_chosen(web_server: Any, page: Any) -> None:
    log_in(web_server, page, "/admin/demo/subscribers")
    settings = page.locator("#subscription-settings")
    webhook = settings.get_by_label("Webhook")
    expect(webhook).to_be_checked()
    webhook.uncheck()
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("The public page offers sign-up by email.")
    assert web_server.ok("GET", "/api/v1/orgs/demo")["subscriptions"] == ["email"]
    refused = httpx.post(
        f"{web_server.url}/status/demo/subscribe", json={"webhook": "https://hooks.example/x"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "this status page does not offer webhook updates"
    settings.get_by_label("Webhook").check()
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text(
        "The public page offers sign-up by email and webhook."
    )


def test_the_notification_pages_pass_axe(web_server: Any, page: Any) -> None:
    web_server.ok(
        "POST",
        "/api/v1/orgs/demo/channels",
        {"kind": "webhook", "name": "Axe hook", "config": {"url": "http://127.0.0.1:9/never"}},
    )
    log_in(web_server, page, "/admin/demo/notifications")
    for where in ("notifications", "subscribers"):
        in_every_look(page, f"console {where}", f"{web_server.url}/admin/demo/{where}")
