"""The one family of errors: built from the table of codes, told alike
whichever node answers."""

from __future__ import annotations

from server.errors import CODES, relayed


def test_an_error_relayed_from_another_node_is_told_as_it_was() -> None:
    for code in CODES:
        if code == "internal":
            continue
        told = relayed(code, "as the owner said it", "name")
        assert (told.code, told.message, told.field) == (code, "as the owner said it", "name")
        assert told.http_status == CODES[code].status
    assert relayed("unavailable", "busy").http_headers() == {"Retry-After": "1"}
    assert relayed("from_a_newer_node", "?").code == "internal"
