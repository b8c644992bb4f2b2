"""The reference pages name everything the server can say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.app import HTTP_CODES
from server.domain.commands import COMMANDS
from server.domain.events import PUBLIC_EVENTS
from server.errors import CODES, PeerError, ProtocolError
from server.protocol import frames
from server.store import StoreUnavailable, WriteUnconfirmed

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs/protocol.md").read_text()
API = (ROOT / "docs/api.md").read_text()


def test_every_command_is_documented() -> None:
    for name in COMMANDS:
        assert f"`{name}`" in PROTOCOL, name


def test_every_event_is_documented() -> None:
    for name in PUBLIC_EVENTS | {"org.deleted"}:
        assert name in PROTOCOL, name


def _table_rows(doc: str, heading: str) -> str:
    """The text of a section, from its heading to the next of its level."""
    level = heading.split(" ")[0]
    start = doc.index(heading + "\n")
    end = doc.find("\n" + level + " ", start + len(heading))
    return doc[start : end if end != -1 else None]


def test_every_error_code_is_documented_where_it_travels() -> None:
    """Each code of the table: in protocol.md's error table if error frames
    carry it, in api.md's with its HTTP status if HTTP answers do."""
    frames_table = _table_rows(PROTOCOL, "## Errors")
    http_table = _table_rows(API, "## Conventions")
    assert len(CODES) > 20
    for code, where in CODES.items():
        if where.ws:
            assert f"| `{code}` |" in frames_table, code
        if where.http:
            assert f"| {where.status} | `{code}` |" in http_table, (code, where.status)


def test_no_code_outside_the_table() -> None:
    """Errors are built from the table: a code it does not hold cannot be raised."""
    with pytest.raises(LookupError):
        ProtocolError("made_up", "no such code")
    for status, code in HTTP_CODES.items():  # what the HTTP layer refuses, too
        assert code in CODES, (status, code)
    assert issubclass(StoreUnavailable, PeerError) and issubclass(WriteUnconfirmed, PeerError)


def test_every_close_code_is_documented() -> None:
    for name in dir(frames):
        if name.startswith("CLOSE_"):
            assert f"| {getattr(frames, name)} |" in PROTOCOL, name


def test_every_rest_route_is_documented() -> None:
    from server.rest.openapi import document

    for path in document()["paths"]:
        if path.startswith("/status/"):
            assert path.rsplit("/api/v2/", 1)[1] in API, path
            continue
        generic = re.sub(r"\{(service|incident|maintenance)\}", lambda m: "{" + m[1] + "}", path)
        assert generic in API, path


def test_the_readme_names_the_two_commands_and_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    for page in ("protocol.md", "api.md", "operations.md", "benchmarks.md", "design.md"):
        assert f"docs/{page}" in readme
        assert (ROOT / "docs" / page).exists() or page == "benchmarks.md"
