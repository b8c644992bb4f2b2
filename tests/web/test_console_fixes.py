"""The console's small things, in a real browser: a status select shows its
whole status, messages never hide the last row, and a form's errors call
fields by their labels."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

# A select's width beside the width it takes when nothing constrains it (a
# copy of it, with the same classes and place, out of the layout). A select's
# scrollWidth always equals its clientWidth, so it cannot tell a cut text.
SELECT_WIDTHS = """(select) => {
  const probe = select.cloneNode(true);
  probe.style.cssText = "width: auto; min-width: 0; max-width: none; position: absolute; visibility: hidden";
  probe.value = select.value;
  select.after(probe);
  const need = probe.getBoundingClientRect().width;
  probe.remove();
  return [select.getBoundingClientRect().width, need];
}"""

# The last row of the services table, scrolled to the end of the page, against
# the top of the messages shown over the page's foot.
LAST_ROW_CLEAR = """() => {
  const toast = document.querySelector(".toasts .toast:not(:empty)");
  if (!toast) return false;
  scrollTo(0, document.documentElement.scrollHeight);
  const rows = document.querySelectorAll("tr.service-row");
  const last = rows[rows.length - 1].getBoundingClientRect();
  return last.bottom <= toast.getBoundingClientRect().top;
}"""


def log_in(web_server: Any, page: Any, path: str) -> None:
    email, password = web_server.login
    page.goto(web_server.url + path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#connection")).to_have_text("Live")


def test_a_status_select_shows_its_whole_status(web_server: Any, new_context: Any) -> None:
    for width in (1100, 390):
        page = new_context(viewport={"width": width, "height": 900}).new_page()
        log_in(web_server, page, "/admin/demo/services")
        select = page.get_by_label("Status of Database")
        select.select_option("degraded_performance")
        expect(page.locator("#notice")).to_have_text("Database is now: Degraded performance.")
        for status in ("degraded_performance", "under_maintenance", "partial_outage"):
            select.evaluate("(s, v) => { s.value = v; }", status)
            has, needs = select.evaluate(SELECT_WIDTHS)
            assert has >= needs, f"{width} px, {status}: {has} px wide, needs {needs} px"
        page.get_by_label("Status of Database").select_option("operational")
        expect(page.locator("#notice")).to_have_text("Database is now: Operational.")


def test_messages_never_hide_the_last_row(web_server: Any, new_context: Any) -> None:
    # A long message: the server's refusal to show a service better than its incident.
    incident = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": "Mail queue stuck", "services": {"Email delivery": "major_outage"}},
    )
    for viewport in ({"width": 1100, "height": 500}, {"width": 390, "height": 600}):
        page = new_context(viewport=viewport).new_page()
        log_in(web_server, page, "/admin/demo/services")
        rows = page.locator("tr.service-row")
        expect(rows).to_have_count(5)
        expect(rows.last).to_have_attribute("data-name", "Email delivery")
        rows.last.get_by_label("Status of Email delivery").select_option("operational")
        expect(page.locator("#alert")).to_contain_text(
            "The status of Email delivery was not changed."
        )
        page.wait_for_function(LAST_ROW_CLEAR)
    web_server.ok("POST", f"/api/v1/orgs/demo/incidents/{incident['id']}/resolve")


def test_a_forms_errors_call_fields_by_their_labels(web_server: Any, new_context: Any) -> None:
    page = new_context(timezone_id="UTC").new_page()  # the form takes local times
    log_in(web_server, page, "/admin/demo/maintenances")
    page.get_by_role("button", name="Schedule maintenance").click()
    dialog = page.get_by_role("dialog", name="Schedule maintenance")
    dialog.get_by_label("Name").fill("Router swap")
    dialog.get_by_label("Starts").fill("2020-03-10T10:00")
    dialog.get_by_label("Ends").fill("2020-03-10T12:00")
    dialog.get_by_role("button", name="Schedule").click()
    # The server says "scheduled_until is already past; ...": the form says "Ends".
    ends = dialog.get_by_label("Ends")
    expect(ends).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{ends.get_attribute('aria-describedby').split()[0]}")
    expect(error).to_contain_text("Ends is already past")
    expect(dialog).not_to_contain_text("scheduled_")
    dialog.get_by_label("Ends").fill("2031-03-10T11:00")
    dialog.get_by_label("Starts").fill("2031-03-10T12:00")
    dialog.get_by_role("button", name="Schedule").click()
    expect(error).to_contain_text("Ends must be after Starts")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
