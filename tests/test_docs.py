"""The reference pages name everything the server can say."""

from __future__ import annotations

import re
from pathlib import Path

from server.domain.commands import COMMANDS
from server.domain.events import PUBLIC_EVENTS
from server.protocol import frames

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs/protocol.md").read_text()
API = (ROOT / "docs/api.md").read_text()
SOURCE = "\n".join(p.read_text() for p in (ROOT / "server").rglob("*.py"))


def test_every_command_is_documented() -> None:
    for name in COMMANDS:
        assert f"`{name}`" in PROTOCOL, name


def test_every_event_is_documented() -> None:
    for name in PUBLIC_EVENTS | {"org.deleted"}:
        assert name in PROTOCOL, name


def test_every_error_code_the_server_sends_is_documented() -> None:
    codes = set(re.findall(r'ProtocolError\(\s*"([a-z_]+)"', SOURCE))
    codes |= set(re.findall(r'\bcode = "([a-z_]+)"', SOURCE))
    codes |= set(re.findall(r'_error\(\s*conn,\s*"([a-z_]+)"', SOURCE))
    codes -= {"domain_error"}  # the abstract base; never sent
    assert len(codes) > 10
    for code in codes:
        assert f"`{code}`" in PROTOCOL, code


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
