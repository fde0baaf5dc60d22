"""The console's place inside the ``invoicing`` layer (operator surface), beyond what tests/test_layers.py
checks between packages (nothing below ``invoicing`` imports it, the demo above may; no module cycles):
inside ``invoicing`` only the command line (``invoicing.cli``, which lists the console's command) imports
the console, and the console imports no command-line module (``invoicing.cli``, ``invoicing.*_cli``), not
even inside a function or by a name given to importlib: it reads the pipeline through the layers below."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

#: the console's modules
CONSOLE = ("invoicing.console", "invoicing.console_cli")
#: the one module of its layer that may import the console: the command line lists its command
REGISTERS_THE_CONSOLE = "invoicing.cli"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module *path* imports, at any depth (functions included), and names given to importlib."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("invoicing."):
            found.add(node.value)
    return found


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _command_line(name: str) -> bool:
    """``invoicing.cli`` or an ``invoicing.*_cli`` module (or a name inside one)."""
    parts = name.split(".")
    return parts[0] == "invoicing" and len(parts) > 1 and (parts[1] == "cli" or parts[1].endswith("_cli")) \
        and not _within(name, CONSOLE)


def test_nothing_else_in_the_operator_layer_imports_the_console() -> None:
    offenders = []
    for path in sorted((REPO / "invoicing").rglob("*.py")):
        module = _module(path)
        if _within(module, CONSOLE) or module == REGISTERS_THE_CONSOLE:
            continue
        bad = sorted(n for n in _imports(path) if _within(n, CONSOLE))
        if bad:
            offenders.append(f"{module} imports {', '.join(bad)}")
    assert not offenders, offenders


def test_the_console_imports_no_command_line_module() -> None:
    offenders = []
    for path in [*sorted((REPO / "invoicing" / "console").rglob("*.py")), REPO / "invoicing" / "console_cli.py"]:
        bad = sorted(n for n in _imports(path) if _command_line(n))
        if bad:
            offenders.append(f"{_module(path)} imports {', '.join(bad)}")
    assert not offenders, offenders


def test_the_checks_see_a_late_import_of_a_command_line_module(tmp_path: Path) -> None:
    copy = tmp_path / "services.py"
    copy.write_text((REPO / "invoicing" / "console" / "services.py").read_text()
                    + "\ndef f():\n    from invoicing.cycle_cli import send_close\n")
    assert {n for n in _imports(copy) if _command_line(n)} == {"invoicing.cycle_cli", "invoicing.cycle_cli.send_close"}


def test_the_console_command_is_registered() -> None:
    from invoicing import console_cli
    from invoicing.cli import COMMAND_MODULES, build_parser

    assert console_cli in COMMAND_MODULES
    assert "invoicing console" in (REPO / "invoicing" / "cli.py").read_text().split('"""')[1]
    args = build_parser().parse_args(["console", "--port", "8091"])
    assert args.port == 8091 and args.func.__module__ == "invoicing.console_cli"
    assert build_parser().parse_args(["console"]).port == 8090
