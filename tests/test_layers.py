"""The layers (STYLE.md §12, README "Layout"): each package imports only the packages below it, and no
module imports itself back through others. Every import counts: module level, inside functions, and
under ``TYPE_CHECKING``."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import REPO

#: bottom to top; packages on one rung (sources, sinks) must not import each other
LAYERS: list[tuple[str, ...]] = [("schemas",), ("domain",), ("infra",), ("sources", "sinks"), ("streams",),
                                 ("invoicing",), ("demo",)]
RUNG = {pkg: i for i, rung in enumerate(LAYERS) for pkg in rung}


def modules(root: Path = REPO) -> dict[str, Path]:
    out = {}
    for pkg in RUNG:
        for path in (root / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module → the project modules it imports (an imported name that is a module counts as that module)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = mod.split(".")[: len(mod.split(".")) - node.level + (path.name == "__init__.py")]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                found = resolve(t)
                if found and found != mod:
                    graph[mod].add(found)
    return graph


def upward(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for a, targets in graph.items():
        for b in targets:
            pa, pb = a.split(".")[0], b.split(".")[0]
            if pa != pb and RUNG[pb] >= RUNG[pa]:
                bad.append(f"{a} imports {b}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert upward(imports(modules())) == []


def test_no_module_imports_itself_back() -> None:
    assert cycles(imports(modules())) == []


def test_every_package_of_the_distribution_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages == set(RUNG)


@pytest.mark.parametrize("source, expected", [
    ("import sinks.base\n", "domain.money imports sinks.base"),  # at module level
    ("def f():\n    from streams import context\n", "domain.money imports streams.context"),  # late import
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from invoicing import cli\n", "domain.money imports invoicing.cli"),
])
def test_the_check_sees_an_upward_import_wherever_it_is(tmp_path: Path, source: str, expected: str) -> None:
    mods = modules()
    copy = tmp_path / "money.py"
    copy.write_text(mods["domain.money"].read_text() + "\n" + source)
    graph = imports({**mods, "domain.money": copy})
    assert expected in upward(graph)


def test_the_check_sees_a_cycle(tmp_path: Path) -> None:
    mods = modules()
    copy = tmp_path / "tax.py"
    copy.write_text(mods["domain.tax"].read_text() + "\ndef f():\n    from domain import billing\n")
    assert any({"domain.tax", "domain.billing"} <= set(c) for c in cycles(imports({**mods, "domain.tax": copy})))


#: folders of tests/ that are no package of the code: the platforms' stand-ins, and deploy/'s checks
TEST_ONLY = {"fakes", "deploy"}
#: whole-tree checks, the only test modules at the top of tests/
WHOLE_TREE = {"test_layers.py", "test_packaging.py"}


def misplaced_tests(tests: Path = REPO / "tests", code: Path = REPO) -> list[str]:
    """Test folders that mirror no package (tests/sinks/register ↔ sinks/register), and test modules at
    the top that are not whole-tree checks."""
    bad = [f"tests/{p.name}" for p in tests.glob("test_*.py") if p.name not in WHOLE_TREE]
    for folder in tests.rglob("*"):
        rel = folder.relative_to(tests)
        if not folder.is_dir() or "__pycache__" in rel.parts or rel.parts[0] in TEST_ONLY:
            continue
        if not (code / rel).is_dir():
            bad.append(f"tests/{rel}")
    return sorted(bad)


def test_tests_mirror_the_layout() -> None:
    assert misplaced_tests() == []


def test_the_mirror_check_sees_a_misplaced_test(tmp_path: Path) -> None:
    (tmp_path / "tests" / "billing").mkdir(parents=True)
    (tmp_path / "tests" / "test_e2e.py").write_text("")
    (tmp_path / "tests" / "sinks").mkdir()
    (tmp_path / "sinks").mkdir()
    assert misplaced_tests(tmp_path / "tests", tmp_path) == ["tests/billing", "tests/test_e2e.py"]
