"""The server's layers, read from its source: who imports whom.

Every module under ``server/`` is parsed with :mod:`ast` (nothing is imported)
and its imports become the edges of one graph:

* relative imports are resolved against the module's package;
* ``from x import y`` is an edge to ``x.y`` when that is a module, else to ``x``;
* imports inside functions count (they run, only later); imports under
  ``if TYPE_CHECKING:`` do not (they never run);
* ``importlib`` and ``__import__`` are not seen.

Three rules are checked on that graph.

**No import cycle passes through** :data:`ACYCLIC`: each module there can be
imported first, and is built only from modules below it. That is the whole
package; ``python tests/test_layers.py`` lists any cycles it finds.

**The floor is pure.** Each module of :data:`FLOOR` (the domain, the
protocol, and the one family of errors they raise), and each package
``__init__`` above one (importing a module runs them), imports the standard
library, pure libraries (orjson, idna, the client's switchboard_ot...) and the
floor, nothing else: no module of :data:`IO_LIBRARIES`, and no other part of
the server. Within the floor any part may import another (the protocol's codec
speaks the domain's schema); the first rule keeps that from becoming a cycle
through the domain. h11 and wsproto are not on the list: they are sans-IO
(bytes in, events out, and back; they never touch a socket), which is what the
protocol itself is, and the protocol may use them (its handshake reads HTTP
with h11).

**asyncio stays in its bridges.** asyncpg and nats-py run on asyncio, which
trio-asyncio bridges into trio; each library of :data:`BRIDGED` is imported
only by its bridge modules (``store.database``, ``cluster.bus``, and the
PostgreSQL monitors' ``monitoring.pgcheck``), which offer the rest of the
server a trio API.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "server"

#: Where no import cycle may pass (each a module, or a package and all below it).
ACYCLIC: tuple[str, ...] = ("server",)
#: What imports nothing that does I/O, nor any other part of the server.
FLOOR: tuple[str, ...] = ("server.domain", "server.protocol", "server.errors")
#: Libraries that do I/O (each a module, or a package and all below it).
IO_LIBRARIES = frozenset(
    {
        "asyncio",
        "trio",
        "trio_asyncio",
        "trio_websocket",
        "anyio",
        "asyncpg",
        "nats",
        "pgserver",
        "sqlite3",
        "httpx",
        "httpcore",
        "quart",
        "quart_trio",
        "hypercorn",
        "socket",
        "ssl",
        "select",
        "selectors",
        "subprocess",
        "http.client",
        "http.server",
        "urllib.request",
        "smtplib",
        "os",
        "pathlib",
        "shutil",
        "tempfile",
        "apprise",
        "requests",
        "urllib3",
    }
)

#: Libraries of asyncio's world, and the bridge modules that alone may import
#: each (the rest of the server sees only their trio-flavoured API).
BRIDGED: Mapping[str, frozenset[str]] = {
    "asyncio": frozenset(),
    "asyncpg": frozenset({"server.store.database", "server.monitoring.pgcheck"}),
    "nats": frozenset({"server.cluster.bus"}),
    "trio_asyncio": frozenset(
        {"server.store.database", "server.cluster.bus", "server.monitoring.pgcheck"}
    ),
}


def within(module: str, prefixes: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or lies below one."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@cache
def modules() -> Mapping[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(module: str) -> bool:
    return modules()[module].name == "__init__.py"


class _Imports(ast.NodeVisitor):
    """The import statements of a tree that run: all but those under
    ``if TYPE_CHECKING:`` (whose ``else`` runs)."""

    def __init__(self) -> None:
        self.found: list[ast.Import | ast.ImportFrom] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for inner in node.orelse:
                self.visit(inner)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append(node)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    visitor = _Imports()
    visitor.visit(tree)
    return visitor.found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(module: str) -> set[str]:
    """What ``module`` imports when it runs: dotted names, the server's and others'."""
    path = modules()[module]
    package = module if _is_package(module) else module.rpartition(".")[0]
    return names(ast.parse(path.read_text(), filename=str(path)), package, modules())


def names(tree: ast.AST, package: str, known: Iterable[str]) -> set[str]:
    """The names the imports of ``tree`` that run bring in, for a module of
    ``package``; ``known``: the modules a ``from x import y`` may name."""
    known = set(known)
    out: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                out.add(child if child in known or _is_io(child) else base)
    return out


def _is_io(name: str) -> bool:
    return within(name, IO_LIBRARIES)


@cache
def graph() -> Mapping[str, frozenset[str]]:
    """Each server module and the server modules it imports."""
    return {
        module: frozenset(name for name in imported(module) if within(name, [PACKAGE]))
        for module in modules()
    }


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles of ``edges``: each set of modules that all reach each
    other (two or more, or one that imports itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while not members or members[-1] != node:
                members.append(stack.pop())
                on_stack.discard(members[-1])
            if len(members) > 1 or node in edges.get(node, ()):
                found.append(sorted(members))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def loop(edges: Mapping[str, Iterable[str]], members: Iterable[str]) -> list[str]:
    """The shortest way round a cycle: from the first of ``members`` back to it."""
    among = set(members)
    start = min(among)
    came: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [*reversed(path), start]
            if nxt in among and nxt not in came:
                came[nxt] = node
                queue.append(nxt)
    raise ValueError(f"{sorted(among)} is not a cycle")


def describe(edges: Mapping[str, Iterable[str]], found: Iterable[list[str]]) -> str:
    return "\n".join(
        f"{', '.join(members)}\n  e.g. {' -> '.join(loop(edges, members))}" for members in found
    )


def _ancestors(module: str) -> Iterator[str]:
    parts = module.split(".")
    for n in range(1, len(parts)):
        yield ".".join(parts[:n])


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "server.domain.rules" in edges
    assert "server.domain.model" in edges["server.domain.rules"]
    assert "server.domain.commands" in edges["server.domain.rules"]  # from . import commands
    assert "server.errors" in edges["server.protocol.codec"]  # from ..errors import
    assert "httpx" in imported("server.monitoring.checks")


def test_imports_are_read_as_the_module_docstring_says() -> None:
    source = """
from typing import TYPE_CHECKING
import json, p.q.r
from . import sibling, Thing
from .mod import name
from .. import other
from ..up.sub import deep
from urllib import request, parse
if TYPE_CHECKING:
    import never
else:
    import always
def later():
    import inside
"""
    known = {"p.sub.sibling", "p.up.sub", "p.other"}
    assert names(ast.parse(source), "p.sub", known) == {
        "typing",
        "json",
        "p.q.r",
        "p.sub.sibling",  # a module
        "p.sub",  # Thing, a name in the package
        "p.sub.mod",
        "p.other",
        "p.up.sub",
        "urllib.request",  # on the list of I/O libraries
        "urllib",  # parse is not
        "always",
        "inside",
    }


def test_cycles_are_found_and_walked() -> None:
    edges = {"a": ["b"], "b": ["c", "a"], "c": ["a"], "d": ["a"], "e": ["e"], "f": ["d"]}
    assert cycles(edges) == [["a", "b", "c"], ["e"]]
    assert loop(edges, ["c", "b", "a"]) == ["a", "b", "a"]
    assert loop(edges, ["e"]) == ["e", "e"]
    assert cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycle_passes_through_the_acyclic_part() -> None:
    edges = graph()
    found = [members for members in cycles(edges) if any(within(m, ACYCLIC) for m in members)]
    assert not found, "import cycles among:\n" + describe(edges, found)


def test_the_floor_imports_nothing_that_does_io_nor_the_rest_of_the_server() -> None:
    floor = {m for m in modules() if within(m, FLOOR)}
    checked = floor | {a for m in floor for a in _ancestors(m) if a in modules()}
    assert floor and PACKAGE in checked
    wrong = sorted(
        f"{module} imports {name}"
        for module in checked
        for name in imported(module)
        if _is_io(name)
        or (within(name, [PACKAGE]) and not (within(name, FLOOR) or name in checked))
    )
    assert not wrong, "\n".join(wrong)


def test_asyncio_libraries_are_imported_only_by_their_bridges() -> None:
    assert any(within(name, ["nats"]) for name in imported("server.cluster.bus"))
    wrong = sorted(
        f"{module} imports {name}"
        for module in modules()
        for name in imported(module)
        for library, bridges in BRIDGED.items()
        if within(name, [library]) and module not in bridges
    )
    assert not wrong, "\n".join(wrong)


def test_each_domain_module_can_be_imported_first() -> None:
    """What the two rules promise, seen by Python itself: in a fresh interpreter,
    each domain module imports first without error, and with it no I/O library."""
    domain = sorted(m for m in modules() if within(m, ["server.domain"]))
    script = (
        "import importlib, sys\n"
        f"io = {sorted(IO_LIBRARIES)!r}\n"
        "before = set(sys.modules)  # what the interpreter loads for itself (os, for one)\n"
        f"for name in {domain!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'server' or m.startswith('server.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "    pulled = sorted(m for m in io if m in sys.modules and m not in before)\n"
        "    assert not pulled, f'{name} brings in {pulled}'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


if __name__ == "__main__":
    print(describe(graph(), cycles(graph())) or "no import cycles")
