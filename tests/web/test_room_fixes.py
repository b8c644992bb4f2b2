"""The incident room in a real browser: an empty room is ready to write in,
the breadcrumb names the organization, others' name flags hide no text, and
responders post updates and resolve the incident from beside its timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from room_support import notes, open_room


def member(web_server: Any, role: str, email: str, name: str) -> tuple[str, str]:
    """A new member of the demo organization: email, password."""
    invitation = web_server.ok("POST", "/api/v1/orgs/demo/invitations", {"role": role})
    password = "correct horse battery staple"
    response = httpx.post(
        f"{web_server.url}/api/v1/invitations/{invitation['token']}/accept",
        json={"email": email, "name": name, "password": password},
        timeout=30,
    )
    assert response.status_code < 300, response.text
    return email, password


@pytest.fixture(scope="module")
def responder(web_server: Any) -> tuple[str, str]:
    return member(web_server, "responder", "ben@demo.example", "Ben Okafor")


def new_incident(
    web_server: Any, name: str, services: dict[str, str] | None = None
) -> dict[str, Any]:
    incident: dict[str, Any] = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {"name": name, "body": "Looking into it.", "services": services or {}},
    )
    return incident


def test_an_empty_room_is_ready_to_write_in(
    web_server: Any, new_context: Callable[..., Any]
) -> None:
    incident = new_incident(web_server, "Empty notes")
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    page, _ = open_room(new_context(), url, *web_server.login)
    editor = notes(page)
    expect(editor).to_be_visible()
    expect(editor).to_be_editable()
    expect(editor).to_have_value("")
    expect(editor).not_to_have_attribute("placeholder", "Joining the room…")
    expect(editor).to_have_attribute(
        "placeholder", "Nothing written yet: write the first notes here."
    )
    editor.click()
    page.keyboard.type("First note")
    expect(page.locator("#sync")).to_have_text("All changes saved")

    # The breadcrumb names the organization, and leads to its console.
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs).to_have_text("Console › Demo Inc. › Incident room")
    expect(crumbs.get_by_role("link", name="Demo Inc.")).to_have_attribute(
        "href", "/admin/demo/incidents"
    )
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"name": "Demo Incorporated"})
    expect(crumbs.get_by_role("link", name="Demo Incorporated")).to_be_visible()
    web_server.ok("PATCH", "/api/v1/orgs/demo", {"name": "Demo Inc."})


def test_post_an_update_and_resolve_from_the_room(
    web_server: Any, new_context: Callable[..., Any], screenshot: Any
) -> None:
    incident = new_incident(web_server, "Checkout errors", {"Website": "partial_outage"})
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    page, _ = open_room(new_context(), url, *web_server.login)
    form = page.get_by_role("region", name="Post an update")
    updates = page.locator("#updates > li")
    expect(updates).to_have_count(1)

    # Nothing to post: said beside the message, nothing sent.
    form.get_by_role("button", name="Post update").click()
    message = form.get_by_label("Message")
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(message).to_be_focused()
    expect(form).to_contain_text("Write a message, or change the status.")

    form.get_by_label("Status").select_option(label="Identified")
    message.fill("A bad deploy; rolling it back.")
    form.get_by_role("button", name="Post update").click()
    expect(form.get_by_role("status")).to_have_text("Update posted.")
    expect(updates).to_have_count(2)
    expect(updates.first).to_contain_text("Identified A bad deploy; rolling it back.")
    expect(page.locator("#incident-meta .room-status")).to_have_text("Identified")
    expect(message).to_have_value("")
    stored = web_server.ok("GET", f"/api/v1/orgs/demo/incidents/{incident['id']}")
    assert stored["status"] == "identified"
    screenshot(page, "incident-room-update")

    # Resolving asks first, then posts the message with it.
    message.fill("Rolled back; checkout works again.")
    form.get_by_role("button", name="Resolve…").click()
    confirm = form.get_by_role("button", name="Resolve incident")
    expect(confirm).to_be_focused()
    form.get_by_role("button", name="Keep it open").click()
    expect(confirm).to_be_hidden()
    form.get_by_role("button", name="Resolve…").click()
    confirm.click()
    expect(page.locator("#incident-meta .room-status")).to_have_text("Resolved")
    expect(updates.first).to_contain_text("Resolved Rolled back; checkout works again.")
    expect(page.get_by_role("region", name="Resolved")).to_contain_text(
        "This incident is resolved."
    )
    expect(page.get_by_role("region", name="Post an update")).to_have_count(0)
    stored = web_server.ok("GET", f"/api/v1/orgs/demo/incidents/{incident['id']}")
    assert stored["status"] == "resolved"
    assert web_server.ok("GET", "/api/v1/orgs/demo/services/Website")["status"] == "operational"


def test_a_viewer_reads_the_room_without_the_form(
    web_server: Any, new_context: Callable[..., Any]
) -> None:
    incident = new_incident(web_server, "Viewer check")
    viewer = member(web_server, "viewer", "vic@demo.example", "Vic Viewer")
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    page, _ = open_room(new_context(), url, *viewer, editor=False)
    expect(page.locator("#updates > li")).to_have_count(1)
    expect(page.locator("#respond")).to_be_hidden()
    expect(notes(page)).to_have_attribute("placeholder", "Nothing written yet.")
    web_server.ok("POST", f"/api/v1/orgs/demo/incidents/{incident['id']}/resolve")


# Where a name flag is, against its caret and the right edge of the text.
FLAG_PLACE = """(caret) => {
  const flag = caret.querySelector(".mark-flag").getBoundingClientRect();
  const at = caret.getBoundingClientRect();
  const ta = document.getElementById("notes");
  const style = getComputedStyle(ta);
  const textRight = ta.getBoundingClientRect().right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight);
  return {flagTop: flag.top, flagBottom: flag.bottom, flagLeft: flag.left, flagRight: flag.right,
          caretTop: at.top, caretBottom: at.bottom, textRight, editorRight: ta.getBoundingClientRect().right};
}"""


@pytest.mark.parametrize("width", [1100, 390])
def test_name_flags_hide_no_text(
    web_server: Any,
    new_context: Callable[..., Any],
    responder: tuple[str, str],
    width: int,
    screenshot: Any,
) -> None:
    incident = new_incident(web_server, f"Flags at {width}")
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    viewport = {"width": width, "height": 900}
    ana, _ = open_room(new_context(viewport=viewport), url, *web_server.login)
    ben, _ = open_room(new_context(viewport=viewport), url, *responder)
    notes(ana).click()
    ana.keyboard.type("The line above the cursor, long enough to reach the margin\nsecond")
    expect(notes(ben)).to_have_value(
        "The line above the cursor, long enough to reach the margin\nsecond"
    )
    notes(ben).click()
    ben.keyboard.press("Control+End")
    caret = ana.locator(".mark-caret")
    expect(caret).to_have_attribute(
        "data-at", str(len("The line above the cursor, long enough to reach the margin\nsecond"))
    )
    expect(caret.locator(".mark-flag")).to_have_text("Ben Okafor" if width > 600 else "BO")
    ana.evaluate("document.activeElement.blur()")
    place = caret.evaluate(FLAG_PLACE)
    # On the caret's line, not over the one above; right of the text, inside the editor.
    assert place["flagTop"] >= place["caretTop"] - 0.5, place
    assert place["flagLeft"] >= place["textRight"], place
    assert place["flagRight"] <= place["editorRight"], place
    screenshot(ana, f"incident-room-flags-{width}")
