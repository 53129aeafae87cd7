"""Dependencies point one way, and each layer shows one face.

- executor/ imports nothing from discord, bot or cogs.
- executor/ has no import circles, counting imports made only for type
  checking: a circle there is a circle in the design, even when Python can
  load it.
- bot/ and cogs/ use the executor through its public faces only (tests may
  reach deeper).
- in bot/, only bot/discord_host/ imports discord, and the Discord-free
  modules (services, run service, store, messages, console) import nothing
  from it, so the console and tests reach them without Discord.
- cogs/ stay thin: parse, check, hand off (450 lines at most, all together).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"discord", "bot", "cogs"}
#: The executor's public faces: the packages whose ``__all__`` hosts import from.
FACES = {"executor", "executor.llm", "executor.llm.pricing", "executor.tools", "executor.tools.builtin"}
DISCORD_HOST = ROOT / "bot" / "discord_host"
#: ``python -m bot`` starts the Discord bot: the one Discord-free module that may reach into it.
ENTRY_POINT = ROOT / "bot" / "__main__.py"
#: All cogs together (eight since /agent joined): each parses, checks and hands off.
COGS_MAX_LINES = 560


def all_imported(path: Path) -> set[str]:
    """Every module a file names in an import, anywhere in it."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {m.split(".")[0] for m in all_imported(path)}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str]) -> Iterator[str]:
    """The ``known`` modules a file imports, anywhere in it (under
    ``if TYPE_CHECKING:`` and inside functions too). ``from package import
    name`` imports the submodule ``package.name`` when there is one, else the
    package itself."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in known:
                    yield sub
                elif node.module in known:
                    yield node.module


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports. A package stands for
    its ``__init__``; importing ``a.b.c`` also runs ``a.b``'s ``__init__``, an
    edge kept unless ``a.b`` encloses the importer (Python has begun it then)."""
    root = package.parent
    files = {module_name(f, root): f for f in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        enclosing = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)}
        edges: set[str] = set()
        for target in imported_modules(path, set(files)):
            parts = target.split(".")
            edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} - enclosing
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_executor_imports_no_host_code() -> None:
    files = sorted((ROOT / "executor").rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import discord.ext\nfrom bot.store import Store\n")
    assert imported_roots(bad) & FORBIDDEN == {"discord", "bot"}


def test_executor_has_no_import_circles() -> None:
    graph = import_graph(ROOT / "executor")
    assert "executor.run" in graph and "executor.tools.registry" in graph["executor.run"]
    assert cycles(graph) == []


def test_the_circle_check_sees_circles_through_type_checking_and_packages(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (pkg / "b.py").write_text("from pkg import a\n")
    (pkg / "c.py").write_text("from pkg.sub.d import D\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.e import E\n")
    (pkg / "sub" / "d.py").write_text("")
    (pkg / "sub" / "e.py").write_text("import pkg.c\n")
    (pkg / "leaf.py").write_text("from pkg.sub import e\n")
    graph = import_graph(pkg)
    assert graph["pkg.b"] == {"pkg.a"}  # the package encloses b: no edge to its __init__
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub", "pkg.sub.e"]]


def host_files() -> list[Path]:
    return sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")])


def deep_imports(path: Path, executor_modules: set[str]) -> list[str]:
    return sorted({m for m in imported_modules(path, executor_modules) if m not in FACES})


def test_hosts_import_the_executor_through_its_faces_only() -> None:
    modules = set(import_graph(ROOT / "executor"))
    assert FACES <= modules
    files = host_files()
    assert len(files) > 20
    offenders = {str(f.relative_to(ROOT)): deep_imports(f, modules) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_face_check_sees_a_deep_import(tmp_path: Path) -> None:
    modules = set(import_graph(ROOT / "executor"))
    host = tmp_path / "host.py"
    host.write_text(
        "from executor import Executor\n"
        "from executor.llm import Usage, openai\n"
        "import executor.tools.registry\n"
        "from executor.tools.builtin import builtin_tools\n"
    )
    assert deep_imports(host, modules) == ["executor.llm.openai", "executor.tools.registry"]


def test_each_face_declares_what_it_exports() -> None:
    for face in FACES:
        path = ROOT / Path(*face.split(".")) / "__init__.py"
        tree = ast.parse(path.read_text())
        declared = [n for n in tree.body if isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets
        )]
        assert declared, f"{face} has no __all__"


def discord_free_host_modules() -> list[Path]:
    return sorted(f for f in (ROOT / "bot").rglob("*.py") if DISCORD_HOST not in f.parents)


def test_only_the_discord_host_imports_discord() -> None:
    files = discord_free_host_modules()
    assert len(files) > 20 and any(f.name == "run_service.py" for f in files)
    assert {str(f.relative_to(ROOT)) for f in files if "discord" in imported_roots(f)} == set()
    assert all("discord" in imported_roots(f) for f in DISCORD_HOST.glob("*.py") if f.name != "__init__.py")


def test_discord_free_modules_do_not_reach_into_the_discord_host() -> None:
    reaching = {
        str(f.relative_to(ROOT))
        for f in discord_free_host_modules()
        if f != ENTRY_POINT and any(m.startswith("bot.discord_host") for m in all_imported(f))
    }
    assert reaching == set()


def test_cogs_are_thin() -> None:
    lines = sum(len(f.read_text().splitlines()) for f in (ROOT / "cogs").glob("*.py"))
    assert 0 < lines <= COGS_MAX_LINES
