"""The console's Settings page in a real browser: an accent colour that
would not read is refused with the reason, one that does is what the public
page wears (live, without a reload), with its links and footer; an owner
deletes an organization after typing its name. And the Team page and the
audit log follow changes made elsewhere, without a reload.

The server is shared by the module's tests, so each test uses names of its own.
"""

from __future__ import annotations

import re
from typing import Any

from accessibility import in_every_look
from playwright.sync_api import expect
from test_admin import field_error, log_in, nav


def joined(new_context: Any, link: str, name: str, email: str | None = None) -> Any:
    """Someone new follows an invitation link in a browser of their own and signs up."""
    page = new_context().new_page()
    page.goto(link)
    if email is not None:
        page.get_by_label("Email").fill(email)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Create account and join").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
    return page


def colour_of(page: Any, selector: str) -> str:
    found: str = page.eval_on_selector(selector, "el => getComputedStyle(el).color")
    return found


def test_the_accent_colour_and_the_look_reach_the_public_page(
    web_server: Any, page: Any, new_context: Any, screenshot: Any
) -> None:
    public = new_context().new_page()
    public.goto(f"{web_server.url}/status/demo")
    expect(public.locator("#connection")).to_have_text("Live")
    public.evaluate("window.sameDocument = true")
    plain = colour_of(public, ".foot a")

    log_in(web_server, page, "/admin/demo/incidents")
    nav(page, "Settings")
    look = page.locator("form.look-form")
    accent = look.get_by_label("Accent colour")
    accent.fill("#FFCC00")
    expect(look.locator(".hint.contrast")).to_contain_text("Contrast 1.41:1 on the page: too low")
    look.get_by_role("button", name="Save the look").click()
    error = field_error(page, accent)
    expect(error).to_contain_text("Accent colour #ffcc00 has a contrast of 1.41:1")
    expect(error).to_contain_text("#8a6e00 is a darker shade of it that passes")
    assert web_server.ok("GET", "/api/v1/orgs/demo")["accent_color"] is None

    accent.fill("#8a6e00")
    expect(look.locator(".hint.contrast")).to_contain_text("passes WCAG AA")
    look.get_by_role("button", name="Add a link").click()
    look.get_by_label("Label of link 1").fill("Support")
    look.get_by_label("URL of link 1").fill("https://support.example.com/")
    look.get_by_label("Footer text").fill("Demo Inc. status\nWrite to help@demo.example")
    look.get_by_role("button", name="Save the look").click()
    expect(page.locator("#notice")).to_have_text("The public page's look is saved.")
    stored = web_server.ok("GET", "/api/v1/orgs/demo")
    assert stored["accent_color"] == "#8a6e00"
    assert stored["header_links"] == [{"label": "Support", "url": "https://support.example.com/"}]
    screenshot(page, "console-settings")

    # The page open before the change wears it now, without a reload.
    expect(public.locator("#org-theme")).to_have_attribute(
        "href", "/status/demo/theme.css?v=8a6e00"
    )
    expect(public.locator(".foot a").first).to_have_css("color", "rgb(138, 110, 0)")
    assert plain != "rgb(138, 110, 0)"
    links = public.get_by_role("navigation", name="Demo Inc. links")
    expect(links.get_by_role("link", name="Support")).to_have_attribute(
        "href", "https://support.example.com/"
    )
    expect(public.locator("#org-footer")).to_have_text(
        "Demo Inc. status\nWrite to help@demo.example"
    )
    assert public.evaluate("window.sameDocument") is True

    # And a page opened afresh, drawn by the server, in the dark theme too.
    fresh = new_context(color_scheme="dark").new_page()
    fresh.goto(f"{web_server.url}/status/demo")
    dark = colour_of(fresh, ".foot a")
    assert dark not in (plain, "rgb(138, 110, 0)")  # the lighter shade made for the dark page
    expect(fresh.locator("#org-footer")).to_contain_text("Write to help@demo.example")
    in_every_look(fresh, "status page in its own look", f"{web_server.url}/status/demo")

    # Taken away again: the page's own colours.
    accent.fill("")
    look.get_by_role("button", name="Remove link 1").click()
    look.get_by_role("button", name="Save the look").click()
    expect(public.locator(".foot a").first).to_have_css("color", plain)
    expect(links).to_be_hidden()


def test_name_listing_time_zone_and_the_words_of_automatic_incidents(
    web_server: Any, page: Any
) -> None:
    log_in(web_server, page, "/admin/demo/settings")
    settings = page.locator("#settings-org form")
    zone = settings.get_by_label("Time zone")
    zone.fill("Mars/Olympus")
    settings.get_by_role("button", name="Save").click()
    expect(field_error(page, zone)).to_contain_text("is not a time zone")
    zone.fill("Europe/Paris")
    settings.get_by_label("List it on the server's front page").check()
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("The organization's settings are saved.")
    stored = web_server.ok("GET", "/api/v1/orgs/demo")
    assert (stored["time_zone"], stored["listed"]) == ("Europe/Paris", True)

    texts = page.locator("form.texts-form")
    down = texts.get_by_label("Title: a service is down")
    expect(down).to_have_attribute("placeholder", "{service} is down")
    down.fill("{service} is not answering {who}")
    texts.get_by_role("button", name="Save the words").click()
    expect(field_error(page, down)).to_contain_text("uses who; the placeholders are")
    down.fill("Trouble with {service}")
    texts.get_by_role("button", name="Save the words").click()
    expect(page.locator("#notice")).to_have_text("The words of automatic incidents are saved.")
    assert web_server.ok("GET", "/api/v1/orgs/demo")["monitor_texts"] == {
        "down_title": "Trouble with {service}"
    }

    # Changed elsewhere: the form shows it.
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"time_zone": "UTC", "monitor_texts": {}})
    expect(zone).to_have_value("UTC")
    expect(texts.get_by_label("Title: a service is down")).to_have_value("")


def test_custom_domains_are_claimed_with_the_servers_words_for_a_wrong_or_taken_name(
    web_server: Any, page: Any
) -> None:
    root = web_server.token("*", "owner")
    web_server.ok("POST", "/api/v1/orgs", {"slug": "holder", "name": "Holder"}, bearer=root)
    web_server.ok("PATCH", "/api/v1/orgs/holder", {"domains": ["taken.example.test"]}, bearer=root)

    log_in(web_server, page, "/admin/demo/settings")
    domains = page.locator("form.domains-form")
    names = domains.get_by_label("Host names")
    expect(domains.locator(".served-at")).to_have_text(
        "None claimed: the page is at /status/demo only."
    )
    names.fill("https://status.demo.test/page")
    domains.get_by_role("button", name="Save the domains").click()
    expect(field_error(page, names)).to_contain_text("https://status.demo.test/page")
    names.fill("status.demo.test\ntaken.example.test")
    domains.get_by_role("button", name="Save the domains").click()
    expect(field_error(page, names)).to_have_text(
        "taken.example.test is claimed by another organization."
    )
    assert web_server.ok("GET", "/api/v1/orgs/demo")["domains"] == []

    names.fill("Status.Demo.test\n\nstatus.demo.test  www.demo.test")
    domains.get_by_role("button", name="Save the domains").click()
    expect(page.locator("#notice")).to_have_text("The custom domains are saved.")
    assert web_server.ok("GET", "/api/v1/orgs/demo")["domains"] == [
        "status.demo.test",
        "www.demo.test",
    ]
    # As the server keeps them, with a link to each.
    expect(names).to_have_value("status.demo.test\nwww.demo.test")
    served = domains.locator(".served-at a")
    expect(served).to_have_count(2)
    expect(served.first).to_have_attribute("href", "http://status.demo.test/")

    # Given up elsewhere: the form shows it.
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"domains": []})
    expect(names).to_have_value("")
    expect(domains.locator(".served-at")).to_contain_text("None claimed")


def test_an_owner_deletes_an_organization_after_typing_its_name(web_server: Any, page: Any) -> None:
    root = web_server.token("*", "owner")
    web_server.ok("POST", "/api/v1/orgs", {"slug": "doomed", "name": "Doomed Ltd"}, bearer=root)
    invitation = web_server.ok(
        "POST", "/api/v1/orgs/doomed/invitations", {"role": "owner"}, bearer=root
    )
    log_in(web_server, page)
    page.goto(f"{web_server.url}/admin/join/{invitation['token']}")
    page.get_by_role("button", name="Join as owner@demo.example").click()
    expect(page).to_have_url(f"{web_server.url}/admin/doomed/incidents")
    nav(page, "Settings")
    page.get_by_role("button", name="Delete this organization…").click()
    dialog = page.get_by_role("dialog", name="Delete Doomed Ltd?")
    dialog.get_by_label("Short name").fill("demo")
    dialog.get_by_role("button", name="Delete it for good").click()
    expect(field_error(page, dialog.get_by_label("Short name"))).to_have_text(
        re.compile("type “doomed” to confirm", re.IGNORECASE)
    )
    assert web_server.api("GET", "/api/v1/orgs/doomed", bearer=root).status_code == 200
    dialog.get_by_label("Short name").fill("doomed")
    dialog.get_by_role("button", name="Delete it for good").click()
    expect(page).to_have_url(f"{web_server.url}/admin/demo/incidents")
    expect(page.get_by_label("Organization").locator("option")).to_have_text(["Demo Inc."])
    assert web_server.api("GET", "/api/v1/orgs/doomed", bearer=root).status_code == 404


def test_an_admin_who_is_no_owner_cannot_delete(web_server: Any, new_context: Any) -> None:
    invitation = web_server.ok("POST", "/api/v1/orgs/demo/invitations", {"role": "admin"})
    page = joined(new_context, invitation["accept_url"], "Ada Admin", "ada@example.com")
    nav(page, "Settings")
    expect(page.locator("#settings-danger")).to_have_text(
        "Only an owner can delete the organization."
    )


def test_the_team_page_and_the_audit_log_follow_changes_made_elsewhere(
    web_server: Any, page: Any, new_context: Any
) -> None:
    log_in(web_server, page, "/admin/demo/team")
    expect(page.locator("#members tr", has_text="owner@demo.example")).to_be_visible()
    page.evaluate("window.sameDocument = true")
    invitation = web_server.ok(
        "POST", "/api/v1/orgs/demo/invitations", {"role": "responder", "email": "rui@example.com"}
    )
    pending = page.locator("#invitations tr", has_text="rui@example.com")
    expect(pending).to_contain_text("Responder")  # made elsewhere, shown here

    # Rui accepts in another browser; the Team page open here shows him.
    joined(new_context, invitation["accept_url"], "Rui Responder")
    member = page.locator("#members tr", has_text="rui@example.com")
    expect(member).to_contain_text("Rui Responder")
    expect(member.get_by_label("Role of Rui Responder")).to_have_value("responder")
    expect(pending).to_have_count(0)

    # His role changed elsewhere: shown here too.
    rui_id = next(
        m["id"]
        for m in web_server.ok("GET", "/api/v1/orgs/demo/members")["data"]
        if m["email"] == "rui@example.com"
    )
    web_server.ok("PATCH", f"/api/v1/orgs/demo/members/{rui_id}", {"role": "viewer"})
    expect(member.get_by_label("Role of Rui Responder")).to_have_value("viewer")
    assert page.evaluate("window.sameDocument") is True

    # The audit log's newest page follows too.
    nav(page, "Audit log")
    expect(page.locator("#audit tbody tr").first).to_have_attribute("data-action", "member.role")
    web_server.ok("POST", "/api/v1/orgs/demo/tokens", {"name": "live-bot", "role": "viewer"})
    newest = page.locator("#audit tbody tr").first
    expect(newest).to_have_attribute("data-action", "token.create")
    expect(newest).to_contain_text("live-bot")
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/API", {"description": "Audited live"})
    expect(page.locator("#audit tbody tr").first).to_contain_text("Audited live")
    assert page.evaluate("window.sameDocument") is True


def test_the_settings_page_passes_axe(web_server: Any, page: Any) -> None:
    log_in(web_server, page, "/admin/demo/settings")
    in_every_look(page, "console settings", f"{web_server.url}/admin/demo/settings")
