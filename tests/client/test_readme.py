"""The client README's Python examples are true: readme_examples.py holds
them, one after another; mypy --strict passes on it; and some run against a
real server."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from switchboard_client import Backoff, connect
from switchboard_client.testing import RunningServer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "clients/python/README.md"
EXAMPLES = Path(__file__).with_name("readme_examples.py")
HEADER = '''"""The Python examples of clients/python/README.md, one after another, as
tests/client/test_readme.py writes them: rewrite this file with
``python tests/client/test_readme.py`` after changing the README."""
# ruff: noqa

'''


def render() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    source = HEADER + "\n\n".join(block.strip() + "\n" for block in blocks)
    script = ROOT / "clients/python/tools/generate_commands.py"
    loaded = importlib.util.spec_from_file_location("generate_commands", script)
    assert loaded is not None and loaded.loader is not None
    generator = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(generator)
    formatted: str = generator.format_source(source, EXAMPLES)
    return formatted


def test_the_examples_file_holds_the_readmes_examples() -> None:
    assert EXAMPLES.read_text() == render(), "run: python tests/client/test_readme.py"


@pytest.mark.slow
def test_the_examples_pass_mypy_strict(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nstrict = True\npython_version = 3.11\n"
        f"mypy_path = {ROOT / 'clients/python'}\n"
        f"cache_dir = {tmp_path / 'cache'}\n"
        # The examples' types, not the server's (the pytest kit runs one).
        "[mypy-server.*]\nfollow_imports = skip\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), str(EXAMPLES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_examples_run(switchboard_server: RunningServer) -> None:
    import readme_examples as examples

    async with switchboard_server_api(switchboard_server) as api:
        incident = await api.ok(
            "POST", "/api/v1/orgs/demo/incidents", {"name": "Example"}, status=201
        )
    quick = Backoff(base=0.05, cap=0.3)
    async with connect(
        switchboard_server.url, switchboard_server.token(role="responder"), backoff=quick
    ) as client:
        with trio.fail_after(30):  # a hang guard
            await examples.set_status(client, "API", "example-key")
            await examples.set_status(client, "nosuch", "example-key-2")
            text = await examples.notes(client, incident["notes_room"])
    assert text == "Replica down. "


def switchboard_server_api(server: RunningServer) -> Any:
    from support import Api

    return Api.open(server.url, server.token())


if __name__ == "__main__":
    EXAMPLES.write_text(render())


def test_every_public_name_has_a_docstring() -> None:
    import inspect

    import switchboard_client
    from switchboard_client import cli, errors, room, testing, types

    missing = []
    for module in (switchboard_client, errors, room, testing, types, cli):
        names = getattr(module, "__all__", None) or [
            n for n in vars(module) if not n.startswith("_")
        ]
        for name in names:
            value = getattr(module, name)
            if getattr(value, "__module__", "").split(".")[0] != "switchboard_client":
                continue
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not value.__doc__ or value.__doc__.startswith(f"{name}("):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") or (
                        not callable(member) and not isinstance(member, property)
                    ):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert not missing, missing
