"""The incident room's page, as the browser tests drive it: logged in through
its own form, and maybe behind a gate that holds back or drops its WebSocket."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect


class Gate:
    """Sits between a page and the server's WebSocket."""

    def __init__(self, page: Any) -> None:
        self.holding = False
        self.down = False
        self.held: list[str | bytes] = []
        self.page_side: Any = None
        self.server_side: Any = None
        page.route_web_socket(re.compile(r".*/ws$"), self._route)

    def _route(self, ws: Any) -> None:
        if self.down:
            ws.close(code=1001, reason="gate closed")
            return
        server = ws.connect_to_server()
        self.page_side, self.server_side = ws, server
        server.on_message(lambda message: self._to_page(ws, message))
        ws.on_message(lambda message: server.send(message))

    def _to_page(self, ws: Any, message: str | bytes) -> None:
        if ws is not self.page_side:
            return  # an old connection's
        if self.holding:
            self.held.append(message)
        else:
            ws.send(message)

    def hold(self) -> None:
        """Keep the server's frames back (the page's still go through)."""
        self.holding = True

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for message in held:
            self.page_side.send(message)

    def drop(self) -> None:
        """Cut the connection (frames held back are lost) and refuse new ones."""
        self.down = True
        self.holding = False
        self.held = []
        page_side, server_side = self.page_side, self.server_side
        self.page_side = self.server_side = None
        server_side.close()
        page_side.close(code=1006, reason="gate dropped")

    def reopen(self) -> None:
        self.down = False


def open_room(
    context: Any, url: str, email: str, password: str, *, gate: bool = False, editor: bool = True
) -> tuple[Any, Gate | None]:
    """A page on the room, logged in through its own form, joined and in sync
    (and the notes editable, unless ``editor`` is false: a viewer's)."""
    page = context.new_page()
    through = Gate(page) if gate else None
    page.goto(url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("#sync")).to_have_text("All changes saved")
    if editor:
        expect(notes(page)).to_be_editable()
    return page, through


def notes(page: Any) -> Any:
    return page.get_by_role("textbox", name="Shared notes")
