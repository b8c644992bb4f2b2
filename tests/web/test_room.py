"""The incident room in real browsers: two responders edit the notes at once.

Each responder is a browser context of its own, logged in through the page's
login form. One of them talks to the server through a gate (Playwright's
WebSocket routing) that can hold the server's frames back, which makes the
two sides' operations truly concurrent, and can drop the connection and keep
it down for a while, which exercises the reconnect rules (resubscribe with
``since``, own operations replayed as acks, unacknowledged ones resent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from room_support import notes, open_room

FIREFIGHTER = "🔥👩‍🚒"  # 1 + 3 code points, 2 + 5 UTF-16 units


@pytest.fixture(scope="module")
def responder(web_server: Any) -> tuple[str, str]:
    """A second member of the demo organization (a responder): email, password."""
    invitation = web_server.ok("POST", "/api/v1/orgs/demo/invitations", {"role": "responder"})
    email, password = "ben@demo.example", "correct horse battery staple"
    response = httpx.post(
        f"{web_server.url}/api/v1/invitations/{invitation['token']}/accept",
        json={"email": email, "name": "Ben Okafor", "password": password},
        timeout=30,
    )
    assert response.status_code < 300, response.text
    return email, password


def new_incident(web_server: Any, name: str = "Database failover") -> dict[str, Any]:
    incident: dict[str, Any] = web_server.ok(
        "POST",
        "/api/v1/orgs/demo/incidents",
        {
            "name": name,
            "status": "investigating",
            "impact": "major",
            "body": "Writes to the primary are failing.",
            "services": {"API": "major_outage"},
        },
    )
    return incident


def server_text(web_server: Any, room: str) -> str:
    text: str = web_server.ok("GET", f"/api/v1/rooms/{room}/text")["text"]
    return text


def expect_converged(web_server: Any, room: str, *pages: Any) -> str:
    """Once every page has nothing unacknowledged, all show the room's text."""
    for page in pages:
        expect(page.locator("#sync")).to_have_text("All changes saved", timeout=20_000)
    text = server_text(web_server, room)
    for page in pages:
        expect(notes(page)).to_have_value(text, timeout=20_000)
    return text


def type_in_turns(pages: tuple[Any, ...], *pieces: list[str]) -> None:
    """The pages type their pieces in turns, without waiting for anything in between."""
    for turn in zip(*pieces, strict=True):
        for page, text in zip(pages, turn, strict=True):
            page.keyboard.type(text)


def test_two_responders_edit_the_notes_at_once(
    web_server: Any,
    new_context: Callable[..., Any],
    responder: tuple[str, str],
    screenshot: Any,
) -> None:
    incident = new_incident(web_server)
    room = incident["notes_room"]
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    ana, _ = open_room(new_context(), url, *web_server.login)
    ben, gate = open_room(new_context(), url, *responder, gate=True)
    assert gate is not None

    # Both are listed, each with their colour, in both pages.
    for page in (ana, ben):
        people = page.locator("#participants li")
        expect(people).to_have_count(2)
        expect(people.filter(has_text="Demo Owner")).to_have_count(1)
        expect(people.filter(has_text="Ben Okafor")).to_have_count(1)
    expect(ana.locator("#participants li", has_text="Demo Owner")).to_contain_text("you")
    swatches = ana.locator("#participants .swatch")
    colours = {
        swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(2)
    }
    assert len(colours) == 2 and all(c.startswith("rgb(") for c in colours), colours

    # Ana writes the skeleton; Ben sees it.
    notes_a, notes_b = notes(ana), notes(ben)
    notes_a.click()
    ana.keyboard.type("Timeline\n\nActions\n")
    expect(notes_b).to_have_value("Timeline\n\nActions\n")

    # Ana fills the empty line under "Timeline", Ben writes under "Actions", in
    # turns and without waiting. Ben's page gets nothing from the server while
    # it types, so his operations are made on revisions Ana has moved past.
    notes_b.click()
    ben.keyboard.press("Control+End")
    ana.keyboard.press("Control+Home")
    ana.keyboard.press("ArrowDown")
    gate.hold()
    ana_pieces = ["09:12 primary down ", FIREFIGHTER, " paged on-call"]
    ben_pieces = ["- fail over ", FIREFIGHTER, " to the replica"]
    type_in_turns((ana, ben), ana_pieces, ben_pieces)
    expect(notes_a).to_have_value(re.compile("paged on-call"))
    expect(ben.locator("#sync")).to_contain_text("pending")
    gate.release()

    text = expect_converged(web_server, room, ana, ben)
    assert text == (
        f"Timeline\n09:12 primary down {FIREFIGHTER} paged on-call\n"
        f"Actions\n- fail over {FIREFIGHTER} to the replica"
    )

    # Ben's caret, after his emoji and the words behind it, shows in Ana's page
    # at that place, counted in code points (what Python's len counts).
    caret = ana.locator(".mark-caret")
    expect(caret).to_have_count(1)
    expect(caret.locator(".mark-flag")).to_have_text("Ben Okafor")
    expect(caret).to_have_attribute("data-at", str(len(text)))
    # Ben selects "to the replica" backwards: Ana sees the range, over the text.
    for _ in range(len("to the replica")):
        ben.keyboard.press("Shift+ArrowLeft")
    expect(caret).to_have_attribute("data-at", str(len(text) - len("to the replica")))
    expect(ana.locator(".mark-range")).not_to_have_count(0)
    expect(ana.locator("#participants li", has_text="Ben Okafor")).to_contain_text("active")

    # Ana's own caret stays where she was typing while Ben's edits arrive above it.
    ana.keyboard.press("Control+End")
    ana.keyboard.type("\n")
    ben.keyboard.press("Control+Home")
    ben.keyboard.type("## ")
    expect(notes_a).to_have_value(re.compile("^## Timeline"))
    ana.keyboard.type("09:20 writes back")
    text = expect_converged(web_server, room, ana, ben)
    assert text.endswith("to the replica\n09:20 writes back")

    # The timeline beside the notes is live.
    updates = ana.locator("#updates > li")
    expect(updates).to_have_count(1)
    web_server.ok(
        "PATCH",
        f"/api/v1/orgs/demo/incidents/{incident['id']}",
        {"status": "identified", "body": "Replica promoted; writes are recovering."},
    )
    expect(updates).to_have_count(2)
    expect(updates.first).to_contain_text("Identified")
    expect(updates.first).to_contain_text("Replica promoted; writes are recovering.")
    expect(ana.locator("#incident-meta .room-status")).to_have_text("Identified")
    expect(ben.locator("#updates > li").first).to_contain_text("Identified")

    ana.evaluate("document.activeElement.blur()")
    screenshot(ana, "incident-room")


def test_edits_made_while_disconnected_are_sent_after_the_reconnect(
    web_server: Any, new_context: Callable[..., Any], responder: tuple[str, str]
) -> None:
    incident = new_incident(web_server, "Queue backlog")
    room = incident["notes_room"]
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    ana, _ = open_room(new_context(), url, *web_server.login)
    ben, gate = open_room(new_context(), url, *responder, gate=True)
    assert gate is not None
    notes_a, notes_b = notes(ana), notes(ben)
    notes_a.click()
    ana.keyboard.type("Start\n")
    expect(notes_b).to_have_value("Start\n")
    notes_b.click()
    ben.keyboard.press("Control+End")

    # Ben's edit reaches the server, but its acknowledgement is lost with the
    # connection: after the reconnect, the replay names it as his own.
    gate.hold()
    ben.keyboard.insert_text("ben 1 ")  # one input, one operation
    expect(notes_a).to_have_value("Start\nben 1 ")
    gate.drop()
    expect(ben.locator("#connection")).to_have_text("Reconnecting…")

    # Offline, both keep writing.
    ben.keyboard.type(f"offline {FIREFIGHTER} note")
    expect(ben.locator("#sync")).to_contain_text("Offline")
    expect(ben.locator("#sync")).to_contain_text("pending")
    ana.keyboard.press("Control+Home")
    ana.keyboard.type("Ana was here. ")
    expect(ana.locator("#sync")).to_have_text("All changes saved")
    expect(ana.locator("#participants li")).to_have_count(1)  # Ben left

    gate.reopen()
    ben.evaluate("dispatchEvent(new Event('online'))")  # as the browser does: retry now
    expect(ben.locator("#connection")).to_have_text("Live")
    text = expect_converged(web_server, room, ana, ben)
    assert text == f"Ana was here. Start\nben 1 offline {FIREFIGHTER} note"
    expect(ana.locator("#participants li")).to_have_count(2)


def test_narrow_screens_put_the_timeline_below_the_notes(
    web_server: Any, new_context: Callable[..., Any], screenshot: Any
) -> None:
    incident = new_incident(web_server, "Slow checkout")
    url = f"{web_server.url}/admin/incidents/{incident['id']}"
    context = new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page, _ = open_room(context, url, *web_server.login)
    notes(page).click()
    page.keyboard.type("Carts time out after 30 s in eu-west; a long line that wraps on a phone.")
    expect(page.locator("#sync")).to_have_text("All changes saved")
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "incident-room-narrow")
    editor = page.locator("#editor").bounding_box()
    timeline = page.locator("#updates").bounding_box()
    assert editor is not None and timeline is not None
    assert timeline["y"] > editor["y"] + editor["height"]
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_logged_out_the_page_offers_a_login_and_the_console(web_server: Any, page: Any) -> None:
    incident = new_incident(web_server, "Login check")
    page.goto(f"{web_server.url}/admin/incidents/{incident['id']}")
    expect(page.get_by_role("heading", name="Incident room")).to_be_visible()
    expect(page.get_by_role("link", name="console")).to_have_attribute("href", "/admin")
    page.get_by_label("Email").fill(web_server.login[0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).not_to_be_empty()
    page.get_by_label("Password").fill(web_server.login[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Login check")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("Live")
