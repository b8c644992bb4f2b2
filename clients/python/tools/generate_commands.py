"""Writes ``switchboard_client/_commands.py`` from the server's command catalogue.

Run from the repository's root (it imports the server)::

    python clients/python/tools/generate_commands.py

Each command clients may send over the WebSocket (``server.domain.commands.SPECS``)
becomes a method with the command's fields as typed keyword arguments, and
each enumeration a field takes becomes a ``Literal``. tests/client checks that
the file is what this script writes now, so the client cannot fall out of
step with the server.
"""

from __future__ import annotations

import dataclasses
import enum
import subprocess
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TARGET = ROOT / "clients/python/switchboard_client/_commands.py"

# What each command answers (TypedDicts in switchboard_client.types).
RESULTS = {
    "org": "Org",
    "service": "Service",
    "incident": "Incident",
    "maintenance": "Maintenance",
    "monitor": "Monitor",
}

HEADER = '''"""Every command as a typed method: written by clients/python/tools/generate_commands.py
from the server's command catalogue (server/domain/commands.py). Do not edit by hand.

A keyword left out is left out of the command: the server applies its default
(on ``*.create``) or leaves the field as it is (on ``*.update``); ``None``,
where a field takes it, clears it.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from ._unset import UNSET, Unset, _given

if TYPE_CHECKING:
    from .types import Deleted, Incident, Maintenance, Monitor, Org, Service

'''


def _literal_name(cls: type[enum.Enum]) -> str:
    return cls.__name__


def _type(hint: Any, enums: dict[str, type[enum.Enum]]) -> tuple[str, bool]:
    """(the client's annotation for a server hint, whether the field may be left out)."""
    from server.domain.schema import Missing

    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _type(typing.get_args(hint)[0], enums)
    if origin in (typing.Union, types.UnionType):
        parts: list[str] = []
        optional = False
        for arg in typing.get_args(hint):
            if arg is Missing:
                optional = True
            elif arg is type(None):
                parts.append("None")
            else:
                text, _ = _type(arg, enums)
                parts.append(text)
        return " | ".join(parts), optional
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        enums[_literal_name(hint)] = hint
        return _literal_name(hint), False
    if hint is datetime:
        return "str | datetime.datetime", False
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"dict[{_type(key, enums)[0]}, {_type(value, enums)[0]}]", False
    if origin is list:
        (item,) = typing.get_args(hint)
        return f"list[{_type(item, enums)[0]}]", False
    if hint is Any:
        return "Any", False
    if dataclasses.is_dataclass(hint):  # a nested object of the command: given as a dict
        return "dict[str, Any]", False
    if isinstance(hint, type):
        return hint.__name__, False
    raise TypeError(f"no client type for {hint!r}")


def _result(name: str) -> str:
    entity, action = name.split(".")
    return "Deleted" if action == "delete" else RESULTS[entity]


def render() -> str:
    """The module's source, formatted as the project formats it."""
    return format_source(_render())


def format_source(source: str, target: Path = TARGET) -> str:
    """``source`` as ``ruff`` fixes and formats it in this repository."""
    for command in (
        ["check", "--fix", "--exit-zero", "--quiet", "--select", "I,RUF022,RUF036"],
        ["format"],
    ):
        source = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(target), "-"],
            input=source,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    return source


def _render() -> str:
    from server.domain.access import POLICY
    from server.domain.commands import SPECS

    enums: dict[str, type[enum.Enum]] = {}
    methods: list[str] = []
    for name, spec in SPECS.items():
        hints = typing.get_type_hints(spec.cls, include_extras=True)
        params: list[str] = []
        passes: list[str] = []
        for f in dataclasses.fields(spec.cls):
            if f.metadata.get("parse") is False:
                continue
            text, optional = _type(hints[f.name], enums)
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if optional or has_default:
                params.append(f"        {f.name}: {text} | Unset = UNSET,")
            else:
                params.append(f"        {f.name}: {text},")
            passes.append(f"{f.name}={f.name}")
        result = _result(name)
        doc = (spec.cls.__doc__ or "").strip()
        if doc.startswith(spec.cls.__name__ + "("):  # dataclass's generated signature
            doc = ""
        summary = f"The ``{name}`` command (needs the role {POLICY[spec.action].name.lower()})."
        if doc:
            summary += " " + " ".join(doc.split())
        body = ", ".join(passes)
        methods.append(
            f"    async def {name.replace('.', '_')}(\n"
            "        self,\n"
            "        org: str,\n"
            "        /,\n"
            "        *,\n"
            + "\n".join(params)
            + ("\n" if params else "")
            + "        idempotency_key: str | None = None,\n"
            "        request_timeout: float | None = None,\n"
            f"    ) -> {result}:\n"
            f'        """{summary}"""\n'
            "        answer = await self.command(\n"
            "            org,\n"
            f'            "{name}",\n'
            "            idempotency_key=idempotency_key,\n"
            "            request_timeout=request_timeout,\n"
            f"            **_given({body}),\n"
            "        )\n"
            f'        return cast("{result}", answer)\n'
        )
    literals = []
    for alias, cls in sorted(enums.items()):
        values = ", ".join(f'"{member.value}"' for member in cls)
        literals.append(f"{alias} = Literal[{values}]")
    names = sorted([*enums, "CommandMethods", "COMMANDS"])
    catalogue = "\n".join(f'    "{name}",' for name in SPECS)
    return (
        HEADER
        + "\n".join(literals)
        + "\n"
        + f"\n\n#: The commands, by their name on the wire.\nCOMMANDS = (\n{catalogue}\n)\n"
        + "\n\nclass CommandMethods:\n"
        '    """The commands as methods of :class:`~switchboard_client.Client`: each\n'
        "    waits for the server's acknowledgement (the change is durable when it\n"
        '    returns) and returns the result."""\n\n'
        "    async def command(\n"
        "        self,\n"
        "        org: str,\n"
        "        name: str,\n"
        "        /,\n"
        "        *,\n"
        "        idempotency_key: str | None = None,\n"
        "        request_timeout: float | None = None,\n"
        "        **data: Any,\n"
        "    ) -> Any:\n"
        '        """Run the command called ``name`` on ``org`` (the client does)."""\n'
        "        raise NotImplementedError\n\n"
        + "\n".join(methods)
        + "\n\n__all__ = [\n"
        + "\n".join(f'    "{n}",' for n in names)
        + "\n]\n"
    )


def main() -> None:
    sys.path.insert(0, str(ROOT))
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
