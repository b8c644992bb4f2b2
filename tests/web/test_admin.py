"""The admin console in a real browser: logging in, services, incidents,
maintenances, the team, API tokens and the audit log, all live.

The server is shared by the module's tests, so each test uses names of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import trio
from playwright.sync_api import expect
from support import TOKENS, sql
from switchboard_client import connect

LIVE = "Live"


def log_in(web_server: Any, page: Any, path: str = "/admin") -> None:
    """Log in as the demo owner through the form, and wait for the live link."""
    email, password = web_server.login
    page.goto(web_server.url + path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#connection")).to_have_text(LIVE)


def server_message(web_server: Any, method: str, path: str, body: Any) -> str:
    """What the server says to a bad request (the words the console must show)."""
    response = web_server.api(method, path, body)
    assert response.status_code >= 400, response.text
    message: str = response.json()["error"]["message"]
    return message


def shown(message: str) -> re.Pattern[str]:
    """The server's message as the console shows it (first letter capitalised)."""
    return re.compile(re.escape(message), re.IGNORECASE)


def field_error(page: Any, control: Any) -> Any:
    """The error a control is described by (aria-describedby's first id)."""
    expect(control).to_have_attribute("aria-invalid", "true")
    ids = control.get_attribute("aria-describedby").split()
    return page.locator(f"#{ids[0]}")


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_admin_declares_an_incident_that_the_public_page_shows(
    web_server: Any, page: Any, new_context: Any, screenshot: Any
) -> None:
    log_in(web_server, page)
    expect(page).to_have_url(f"{web_server.url}/admin/demo/incidents")
    expect(page.get_by_role("heading", level=1, name="Incidents")).to_be_focused()
    email, _ = web_server.login
    expect(page.locator("#who")).to_contain_text("Demo Owner")
    expect(page.locator("#who .user")).to_have_attribute("title", email)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.get_by_role("button", name="Declare incident").click()
    dialog = page.get_by_role("dialog", name="Declare an incident")
    expect(dialog.get_by_label("Name")).to_be_focused()
    dialog.get_by_label("Name").fill("Checkout payments failing")
    dialog.get_by_label("Impact").select_option(label="Critical impact")
    dialog.get_by_label("Message").fill("Card payments fail for some customers.")
    dialog.get_by_label(re.compile(r"^API\b")).select_option(label="Partial outage")
    screenshot(page, "console-declare-incident", full_page=False)
    dialog.get_by_role("button", name="Declare incident").click()
    expect(dialog).to_be_hidden()

    card = page.locator("#active-incidents article", has_text="Checkout payments failing")
    expect(card).to_contain_text("Critical impact")
    expect(card).to_contain_text("Affects API (Partial outage)")
    expect(card).to_contain_text("Card payments fail for some customers.")
    incident = next(
        i
        for i in web_server.ok("GET", "/api/v1/orgs/demo/incidents?status=active")["data"]
        if i["name"] == "Checkout payments failing"
    )
    assert incident["impact"] == "critical"
    link = card.get_by_role("link", name="Checkout payments failing", exact=True)
    expect(link).to_have_attribute("href", f"/admin/incidents/{incident['id']}")
    screenshot(page, "console-incidents")

    public = new_context().new_page()
    public.goto(f"{web_server.url}/status/demo")
    article = public.locator("#incidents article", has_text="Checkout payments failing")
    expect(article).to_contain_text("Critical impact")
    expect(article).to_contain_text("Affects API")
    expect(article).to_contain_text("Card payments fail for some customers.")
    api = public.locator("#components li.service", has_text="API")
    expect(api.locator(".state")).to_have_text("◆ Partial outage")


def test_a_wrong_password_shows_the_servers_words(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    email, password = web_server.login
    wrong = server_message(
        web_server, "POST", "/api/v1/auth/login", {"email": email, "password": "not-it"}
    )
    page.goto(f"{web_server.url}/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Log in").click()
    error = page.locator(".login .form-error")
    expect(error).to_have_text(shown(wrong))
    expect(error).to_have_attribute("role", "alert")
    screenshot(page, "console-login-error")
    # Nothing else happened: still the form, no console, nothing stored.
    expect(page.locator("#views")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('switchboard.session')") is None

    # An error that names a field is shown beside it.
    short = server_message(
        web_server, "POST", "/api/v1/auth/login", {"email": "ab", "password": "x"}
    )
    page.get_by_label("Email").fill("ab")
    page.get_by_role("button", name="Log in").click()
    expect(field_error(page, page.get_by_label("Email"))).to_have_text(shown(short))
    expect(error).to_be_hidden()

    # And the right password still works.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#connection")).to_have_text(LIVE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")


def test_services_create_change_reorder_and_edit(
    web_server: Any, page: Any, new_context: Any, screenshot: Any
) -> None:
    log_in(web_server, page, "/admin/demo/services")
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")

    # A bad input: the server's words beside the field.
    empty = server_message(web_server, "POST", "/api/v1/orgs/demo/services", {"name": ""})
    page.get_by_role("button", name="New service").click()
    dialog = page.get_by_role("dialog", name="New service")
    dialog.get_by_role("button", name="Create service").click()
    name = dialog.get_by_label("Name")
    expect(field_error(page, name)).to_have_text(shown(empty))
    expect(name).to_be_focused()

    name.fill("Payments")
    dialog.get_by_label("Description").fill("Card and bank payments")
    dialog.get_by_label("Group").fill("Billing")
    dialog.get_by_role("button", name="Create service").click()
    expect(dialog).to_be_hidden()
    row = page.locator("tr.service-row[data-name='Payments']")
    expect(row).to_contain_text("Card and bank payments")
    expect(page.locator(".group-row", has_text="Billing")).to_be_visible()
    expect(name).to_have_count(0)

    # Quick status change, seen by the public.
    row.get_by_label("Status of Payments").select_option("major_outage")
    expect(page.locator("#notice")).to_have_text("Payments is now: Major outage.")
    public = new_context().new_page()
    public.goto(f"{web_server.url}/status/demo")
    expect(
        public.locator("#components li.service", has_text="Payments").locator(".state")
    ).to_have_text("✕ Major outage")

    # Reorder: the new group goes up, before the lone "Email delivery".
    after = "tbody:has(tr[data-name='{}']) + tbody:has(tr[data-name='{}'])"
    expect(page.locator(after.format("Email delivery", "Payments"))).to_have_count(1)
    page.get_by_role("button", name="Move the group Billing up").click()
    expect(page.locator("#notice")).to_have_text("The group Billing moved up.")
    expect(page.locator(after.format("Payments", "Email delivery"))).to_have_count(1)
    names = [s["name"] for s in web_server.ok("GET", "/api/v1/orgs/demo/services")["data"]]
    assert names.index("Payments") < names.index("Email delivery")
    expect(page.get_by_role("button", name="Move the group Billing up")).to_be_focused()
    screenshot(page, "console-services")
    # The public page has the same order.
    public.reload()
    public_names = public.locator("#components li.service .name").all_text_contents()
    assert public_names.index("Payments") < public_names.index("Email delivery")

    # Edit: a name too long is refused beside the field; a good one is saved.
    long_name = "P" * 101
    too_long = server_message(
        web_server, "PATCH", "/api/v1/orgs/demo/services/Payments", {"name": long_name}
    )
    row.get_by_role("button", name="Edit Payments").click()
    dialog = page.get_by_role("dialog", name="Edit Payments")
    dialog.get_by_label("Name").fill(long_name)
    dialog.get_by_role("button", name="Save changes").click()
    expect(field_error(page, dialog.get_by_label("Name"))).to_have_text(shown(too_long))
    dialog.get_by_label("Name").fill("Payments gateway")
    dialog.get_by_label("Hide it on the public page while operational").check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    renamed = page.locator("tr.service-row[data-name='Payments gateway']")
    expect(renamed).to_contain_text("Hidden on the public page while operational")
    service = web_server.ok("GET", "/api/v1/orgs/demo/services/Payments gateway")
    assert service["only_show_if_degraded"] is True and service["status"] == "major_outage"


def test_incident_update_resolve_and_postmortem(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    incident = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Slow database queries", "services": {"Database": "degraded_performance"}},
    )
    log_in(web_server, page, "/admin/demo/incidents")
    card = page.locator(f"#incident-{incident['id']}")
    expect(card.locator("xpath=..")).to_have_id("active-incidents")

    card.get_by_role("button", name="Post update to Slow database queries").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Status").select_option("identified")
    dialog.get_by_label("Message").fill("A missing index; adding it now.")
    dialog.get_by_label(re.compile(r"^Database\b")).select_option("partial_outage")
    dialog.get_by_role("button", name="Post update").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".latest")).to_contain_text("Identified A missing index; adding it now.")
    expect(card).to_contain_text("Affects Database (Partial outage)")
    assert web_server.ok("GET", "/api/v1/orgs/demo/services/Database")["status"] == "partial_outage"

    card.get_by_role("button", name="Resolve Slow database queries").click()
    dialog = page.get_by_role("dialog", name="Resolve: Slow database queries")
    dialog.get_by_label("Message").fill("The index is in place; queries are fast again.")
    dialog.get_by_role("button", name="Resolve incident").click()
    expect(dialog).to_be_hidden()
    expect(card.locator("xpath=..")).to_have_id("past-incidents")
    expect(card.locator(".tags")).to_contain_text("Resolved")
    assert web_server.ok("GET", "/api/v1/orgs/demo/services/Database")["status"] == "operational"

    card.get_by_role("button", name="Write postmortem for Slow database queries").click()
    dialog = page.get_by_role("dialog", name="Postmortem: Slow database queries")
    # Required: a blank one is refused before it is sent.
    dialog.get_by_label("Postmortem").fill("  \n ")
    dialog.get_by_role("button", name="Publish postmortem").click()
    expect(field_error(page, dialog.get_by_label("Postmortem"))).to_contain_text(
        "Write the postmortem: what happened, why, and what will change"
    )
    assert web_server.ok("GET", f"/api/v1/orgs/demo/incidents/{incident['id']}")["status"] == (
        "resolved"
    )
    first = "A deploy **dropped an index**.\n\n- We now check indexes in CI."
    dialog.get_by_label("Postmortem").fill(first)
    dialog.get_by_role("button", name="Publish postmortem").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".tags")).to_contain_text("Postmortem")
    expect(card.locator(".latest")).to_contain_text("A postmortem has been published.")
    expect(card.locator("details.postmortem .body")).to_have_text(first)

    # A revision starts from the text published, and replaces it.
    card.get_by_role("button", name="Revise postmortem for Slow database queries").click()
    dialog = page.get_by_role("dialog", name="Postmortem: Slow database queries")
    expect(dialog.get_by_label("Postmortem")).to_have_value(first)
    revised = first + "\n- Deploys wait for the index check."
    dialog.get_by_label("Postmortem").fill(revised)
    dialog.get_by_role("button", name="Publish revision").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".latest")).to_contain_text("The postmortem has been revised.")
    expect(card.locator("details.postmortem .body")).to_have_text(revised)
    stored = web_server.ok("GET", f"/api/v1/orgs/demo/incidents/{incident['id']}")
    assert stored["status"] == "postmortem"
    assert stored["postmortem"]["body"] == revised
    assert [u["status"] for u in stored["updates"]] == [
        "investigating",
        "identified",
        "resolved",
        "postmortem",
        "postmortem",
    ]
    card.locator("details.postmortem summary").click()
    card.locator("details.history summary").click()
    expect(card.locator("details.history li")).to_have_count(4)
    screenshot(page, "console-incident-postmortem")

    # The public page draws it from its Markdown.
    page.goto(f"{web_server.url}/status/demo/incidents/{incident['id']}")
    postmortem = page.locator(".postmortem")
    expect(postmortem.locator("strong")).to_have_text("dropped an index")
    expect(postmortem.locator("li")).to_have_text(
        ["We now check indexes in CI.", "Deploys wait for the index check."]
    )
    screenshot(page, "status-incident-postmortem")

    # A resolved incident is never reopened: the server's refusal is shown.
    refused = server_message(
        web_server,
        "PATCH",
        f"/api/v1/orgs/demo/incidents/{incident['id']}",
        {"status": "investigating"},
    )
    assert "never reopened" in refused


def test_schedule_a_maintenance_and_cancel_it(
    web_server: Any, new_context: Any, screenshot: Any
) -> None:
    page = new_context(timezone_id="UTC").new_page()  # the form takes local times
    log_in(web_server, page, "/admin/demo/maintenances")
    expect(page.get_by_role("heading", level=1)).to_have_text("Maintenance")
    page.get_by_role("button", name="Schedule maintenance").click()
    dialog = page.get_by_role("dialog", name="Schedule maintenance")
    dialog.get_by_label("Name").fill("Website disk swap")
    dialog.get_by_label("Starts").fill("2031-03-10T10:00")
    dialog.get_by_label("Ends").fill("2031-03-10T09:00")
    dialog.get_by_label("Website", exact=True).check()
    dialog.get_by_label("Message").fill("The website may be slow for a few minutes.")
    dialog.get_by_role("button", name="Schedule").click()
    # The end before the start: refused, beside "Ends", in the form's words.
    expect(field_error(page, dialog.get_by_label("Ends"))).to_contain_text(
        "Ends must be after Starts"
    )
    dialog.get_by_label("Ends").fill("2031-03-10T12:00")
    dialog.get_by_role("button", name="Schedule").click()
    expect(dialog).to_be_hidden()

    card = page.locator("#open-maintenances article", has_text="Website disk swap")
    expect(card.locator(".tags")).to_have_text("Scheduled")
    expect(card).to_contain_text("Affects Website")
    expect(card).to_contain_text("The website may be slow for a few minutes.")
    stored = next(
        m
        for m in web_server.ok("GET", "/api/v1/orgs/demo/maintenances?status=upcoming")["data"]
        if m["name"] == "Website disk swap"
    )
    assert stored["auto_start"] is True and len(stored["service_ids"]) == 1
    screenshot(page, "console-maintenances")

    # Move its end later, then cancel it.
    card.get_by_role("button", name="Update Website disk swap").click()
    dialog = page.get_by_role("dialog", name="Update: Website disk swap")
    dialog.get_by_label("Ends").fill("2031-03-10T13:00")
    dialog.get_by_label("Message").fill("We need one more hour.")
    dialog.get_by_role("button", name="Save update").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".latest")).to_contain_text("We need one more hour.")

    card.get_by_role("button", name="Cancel Website disk swap").click()
    dialog = page.get_by_role("dialog", name="Cancel “Website disk swap”?")
    dialog.get_by_label("Message").fill("Postponed to next month.")
    dialog.get_by_role("button", name="Cancel maintenance").click()
    expect(dialog).to_be_hidden()
    past = page.locator("#past-maintenances article", has_text="Website disk swap")
    expect(past.locator(".tags")).to_have_text("Cancelled")
    expect(page.locator("#open-maintenances article", has_text="Website disk swap")).to_have_count(
        0
    )
    after = web_server.ok("GET", f"/api/v1/orgs/demo/maintenances/{stored['id']}")
    assert after["status"] == "cancelled"
    assert after["scheduled_until"].startswith("2031-03-10T13:00")


def test_team_invitations_tokens_and_the_audit_log(
    web_server: Any, page: Any, new_context: Any, screenshot: Any
) -> None:
    log_in(web_server, page, "/admin/demo/team")
    expect(page.locator("#members tr", has_text="owner@demo.example")).to_contain_text("(you)")

    # An invitation: its link is shown once.
    invite = page.locator("form", has=page.get_by_role("heading", name="Invite someone"))
    invite.get_by_label("Role").select_option("viewer")
    invite.get_by_label("Email").fill("vera@example.com")
    invite.get_by_label("Valid for (hours)").fill("0")
    invite.get_by_role("button", name="Create invitation link").click()
    zero = server_message(
        web_server, "POST", "/api/v1/orgs/demo/invitations", {"role": "viewer", "hours": 0}
    )
    hours = invite.get_by_label("Valid for (hours)")
    # The server's words, with the field called by its label.
    assert zero.startswith("hours ")
    expect(field_error(page, hours)).to_have_text(shown("Valid for (hours)" + zero[5:]))
    expect(page.locator(".secret")).to_have_count(0)
    hours.fill("48")
    invite.get_by_role("button", name="Create invitation link").click()
    secret = page.locator("#invitation-link .secret-value")
    expect(secret).to_have_text(re.compile(rf"^{re.escape(web_server.url)}/admin/join/sbi_\S+$"))
    expect(secret).to_be_focused()
    link = secret.text_content()
    expect(page.locator("#invitations tr", has_text="vera@example.com")).to_contain_text("Viewer")
    screenshot(page, "console-team")
    nav(page, "Incidents")
    nav(page, "Team")
    expect(page.locator("#invitations tr", has_text="vera@example.com")).to_be_visible()
    expect(page.locator(".secret")).to_have_count(0)
    assert link not in page.content()

    # The link works: Vera signs up and sees the console as a viewer.
    vera = new_context().new_page()
    vera.goto(link)
    expect(vera.get_by_role("heading", level=1)).to_have_text("Join Demo Inc.")
    expect(vera.get_by_label("Email")).to_have_value("vera@example.com")
    vera.get_by_label("Your name").fill("Vera Viewer")
    vera.get_by_label("Password").fill("correct horse battery staple")
    vera.get_by_role("button", name="Create account and join").click()
    expect(vera.get_by_role("heading", level=1)).to_have_text("Incidents")
    expect(vera.locator("#who")).to_contain_text("Vera Viewer")
    expect(vera.locator("#connection")).to_have_text(LIVE)
    expect(vera.get_by_role("button", name="Declare incident")).to_have_count(0)
    expect(vera.get_by_role("link", name="Team")).to_have_count(0)
    vera.get_by_role("link", name="Services").click()
    expect(vera.locator("tr.service-row").first).to_be_visible()
    expect(vera.get_by_role("button", name="New service")).to_have_count(0)
    expect(vera.locator("select.status-select")).to_have_count(0)
    page.reload()
    member = page.locator("#members tr", has_text="vera@example.com")
    expect(member).to_contain_text("Vera Viewer")
    expect(page.locator("#invitations tr", has_text="vera@example.com")).to_have_count(0)

    # Vera becomes a responder: the change is stored, and her console follows
    # (the server closes her connection; reconnected, it reads her new role).
    member.get_by_label("Role of Vera Viewer").select_option("responder")
    expect(page.locator("#notice")).to_have_text("Vera Viewer is now responder.")
    members = web_server.ok("GET", "/api/v1/orgs/demo/members")["data"]
    assert {m["email"]: m["role"] for m in members}["vera@example.com"] == "responder"
    expect(vera.get_by_role("button", name="New service")).to_be_visible()
    expect(vera.locator("#who .role-badge")).to_have_text("Responder")

    # An API token: its secret is shown once, works, and stops when revoked.
    nav(page, "API tokens")
    page.get_by_label("Name").fill("deploy-bot")
    page.get_by_label("Role").select_option("responder")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#token-secret .secret-value")
    expect(token).to_have_text(re.compile(r"^sbt_\S+$"))
    bearer = token.text_content()
    assert bearer
    row = page.locator("#tokens tr[data-token='deploy-bot']")
    expect(row).to_contain_text("Responder")
    screenshot(page, "console-tokens")
    answer = web_server.api("GET", "/api/v1/orgs/demo/services", bearer=bearer)
    assert answer.status_code == 200, answer.text
    changed = web_server.api(
        "PATCH",
        "/api/v1/orgs/demo/services/Website",
        {"description": "Set by deploy-bot"},
        bearer=bearer,
    )
    assert changed.status_code == 200, changed.text
    nav(page, "Services")
    nav(page, "API tokens")
    expect(page.locator(".secret")).to_have_count(0)
    # Names are unique: the conflict is shown beside the name.
    page.get_by_label("Name").fill("deploy-bot")
    page.get_by_role("button", name="Create token").click()
    expect(field_error(page, page.get_by_label("Name"))).to_have_text(
        re.compile("a token named 'deploy-bot' exists", re.IGNORECASE)
    )
    expect(page.locator(".secret")).to_have_count(0)
    page.locator("#tokens tr[data-token='deploy-bot']").get_by_role(
        "button", name="Revoke deploy-bot"
    ).click()
    dialog = page.get_by_role("dialog", name="Revoke “deploy-bot”?")
    dialog.get_by_role("button", name="Revoke token").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#tokens tr[data-token='deploy-bot']")).to_have_count(0)
    assert web_server.api("GET", "/api/v1/orgs/demo/services", bearer=bearer).status_code == 401

    # The audit log has it all, newest first.
    nav(page, "Audit log")
    log = page.locator("#audit tbody tr")
    expect(log.first).to_have_attribute("data-action", "token.revoke")
    expect(log.first).to_contain_text("deploy-bot")
    for action in ("invitation.create", "token.create", "service.update"):
        expect(page.locator(f"#audit tr[data-action='{action}']").first).to_be_visible()
    joined = page.locator("#audit tr[data-action='member.add']", has_text="vera@example.com")
    expect(joined).to_contain_text("role: viewer")
    expect(page.locator("#audit")).not_to_contain_text("MISSING")
    expect(
        page.locator("#audit tr[data-action='service.update']", has_text="Set by deploy-bot")
    ).to_contain_text("token:deploy-bot")
    screenshot(page, "console-audit")


def test_the_audit_log_is_paged(web_server: Any, page: Any) -> None:
    web_server.ok("POST", "/api/v1/orgs/demo/services", {"name": "Pager test"})
    for n in range(30):
        web_server.ok("PATCH", "/api/v1/orgs/demo/services/Pager test", {"description": f"rev {n}"})
    log_in(web_server, page, "/admin/demo/audit")
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("login")  # the login that opened the page, newest
    expect(rows.nth(1)).to_contain_text("rev 29")
    newer = page.get_by_role("button", name="← Newer")
    older = page.get_by_role("button", name="Older →")
    expect(newer).to_be_disabled()
    older.click()
    expect(page.locator(".pager")).to_contain_text("Page 2")
    expect(rows.first).to_contain_text("rev 5")
    expect(page.locator("#audit", has_text="rev 29")).to_have_count(0)
    newer.click()
    expect(page.locator(".pager")).to_contain_text("Page 1")
    expect(rows.nth(1)).to_contain_text("rev 29")


def test_the_console_follows_changes_made_elsewhere(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    log_in(web_server, page, "/admin/demo/services")
    page.evaluate("window.sameDocument = true")

    web_server.ok("POST", "/api/v1/orgs/demo/services", {"name": "Search", "group": "Discovery"})
    row = page.locator("tr.service-row[data-name='Search']")
    expect(row.get_by_label("Status of Search")).to_have_value("operational")
    web_server.ok("PATCH", "/api/v1/orgs/demo/services/Search", {"status": "degraded_performance"})
    expect(row.get_by_label("Status of Search")).to_have_value("degraded_performance")

    incident = web_server.ok(
        "POST", "/api/v1/orgs/demo/incidents", {"name": "Search index lagging", "impact": "minor"}
    )
    nav(page, "Incidents")
    card = page.locator(f"#incident-{incident['id']}")
    expect(card).to_contain_text("Minor impact")
    web_server.ok(
        "PATCH",
        f"/api/v1/orgs/demo/incidents/{incident['id']}",
        {"status": "monitoring", "body": "Reindexing is done; watching it."},
    )
    expect(card.locator(".latest")).to_contain_text("Monitoring Reindexing is done; watching it.")
    web_server.ok("POST", f"/api/v1/orgs/demo/incidents/{incident['id']}/resolve")
    expect(card.locator("xpath=..")).to_have_id("past-incidents")

    web_server.ok("DELETE", "/api/v1/orgs/demo/services/Search")
    nav(page, "Services")
    expect(page.locator("tr.service-row[data-name='Search']")).to_have_count(0)
    expect(page.locator(".group-row", has_text="Discovery")).to_have_count(0)
    assert page.evaluate("window.sameDocument") is True  # never reloaded


def test_keyboard_dialogs_logout_and_a_phone(
    web_server: Any, new_context: Any, screenshot: Any
) -> None:
    page = new_context(viewport={"width": 375, "height": 812}).new_page()
    log_in(web_server, page, "/admin/demo/services")
    expect(page.locator("tr.service-row").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px phone"
    screenshot(page, "console-phone-services")

    # A dialog opens from the keyboard, takes the focus, and Escape gives it back.
    opener = page.get_by_role("button", name="New service")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New service")
    expect(dialog.get_by_label("Name")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "console-phone-dialog", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(opener).to_be_focused()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page).to_have_url(f"{web_server.url}/admin")
    assert page.evaluate("localStorage.getItem('switchboard.session')") is None
    page.goto(f"{web_server.url}/admin/demo/team")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


def test_join_another_organization_and_switch_between_them(web_server: Any, page: Any) -> None:
    root = web_server.token("*", "admin")
    web_server.ok("POST", "/api/v1/orgs", {"slug": "acme", "name": "Acme Rockets"}, bearer=root)
    web_server.ok("POST", "/api/v1/orgs/acme/services", {"name": "Launchpad"}, bearer=root)
    invitation = web_server.ok(
        "POST", "/api/v1/orgs/acme/invitations", {"role": "admin"}, bearer=root
    )

    log_in(web_server, page)
    switcher = page.get_by_label("Organization")
    expect(switcher.locator("option")).to_have_count(1)
    page.goto(f"{web_server.url}/admin/join/{invitation['token']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Acme Rockets")
    page.get_by_role("button", name="Join as owner@demo.example").click()
    expect(page).to_have_url(f"{web_server.url}/admin/acme/incidents")
    expect(page.locator("#who .role-badge")).to_have_text("Admin")
    expect(switcher.locator("option")).to_have_text(["Acme Rockets", "Demo Inc."])
    expect(switcher).to_have_value("acme")

    page.get_by_role("link", name="Services").click()
    expect(page.locator("tr.service-row")).to_have_count(1)
    expect(page.locator("tr.service-row")).to_have_attribute("data-name", "Launchpad")

    switcher.select_option(label="Demo Inc.")
    expect(page).to_have_url(f"{web_server.url}/admin/demo/services")
    expect(page.locator("#who .role-badge")).to_have_text("Owner")
    expect(page.locator("tr.service-row[data-name='Launchpad']")).to_have_count(0)
    expect(page.locator("tr.service-row[data-name='Website']")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(f"{web_server.url}/admin/acme/services")
    expect(page.locator("tr.service-row")).to_have_attribute("data-name", "Launchpad")
    expect(switcher).to_have_value("acme")

    # The link was used: it cannot be used again.
    page.goto(f"{web_server.url}/admin/join/{invitation['token']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This invitation cannot be used")


def test_the_console_names_a_probe_that_is_offline_until_it_reports(
    web_server: Any, page: Any, screenshot: Any
) -> None:
    monitor = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/monitors",
        {
            "name": "Checked from ap-south",
            "service": "API",
            "kind": "http",
            "regions": ["ap-south"],
            "spec": {"url": "http://edge.test/"},
        },
    )
    # Its probe went silent before the server stopped (the server remembers).
    web_server.stop()
    trio.run(
        sql,
        web_server.database_url,
        "INSERT INTO probe_regions (name, state, last_seen, changed_at, told)"
        " VALUES ('ap-south', 'offline', '2026-01-31T09:00:00Z', now(), true)",
    )
    web_server.start()
    log_in(web_server, page, "/admin/demo/services")
    banner = page.get_by_role("status").filter(has_text="probe is offline")
    expect(banner).to_contain_text("ap-south: last result Jan 31")
    expect(banner).to_contain_text("counts for no monitor's quorum")
    screenshot(page, "console-probe-offline")

    trio.run(_probe_reports, web_server.url, "ap-south", monitor["id"])  # back
    expect(page.locator("#probes")).to_be_hidden()
    web_server.ok("DELETE", f"/api/v1/orgs/demo/monitors/{monitor['id']}")


# What a probe's scheduler says with its results, now and then.
PROBE_SCHEDULER = {
    "checks_started": 12,
    "checks_skipped": 1,
    "running": 2,
    "lag_seconds": {"p50": 0.004, "p99": 0.02, "max": 0.3},
    "lag_buckets": [9, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    "lag_sum": 0.352,
}


async def _probe_reports(url: str, region: str, monitor_id: str) -> None:
    async with connect(url, TOKENS.issue_probe(region)) as probe:
        result = {"id": f"{region}-1", "monitor": monitor_id, "at": iso_now(), "outcome": "up"}
        await probe.report(region, [result], scheduler=PROBE_SCHEDULER)


def iso_now() -> str:
    return datetime.now(UTC).isoformat()
