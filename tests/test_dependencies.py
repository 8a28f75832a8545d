"""Data flows one way: entry points -> services -> core. Core imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import trailguard.core

ABOVE_CORE = (
    "trailguard.services",
    "trailguard.handlers",
    "trailguard.cli",
    "trailguard.cli_alerts",
    "trailguard.main",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside functions (``from a import b`` counts ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_imports_nothing_above_it() -> None:
    core = Path(trailguard.core.__file__).parent
    modules = sorted(core.rglob("*.py"))
    assert len(modules) > 5
    for path in modules:
        wrong = sorted(
            name
            for name in imported_modules(path)
            if any(name == top or name.startswith(top + ".") for top in ABOVE_CORE)
        )
        assert wrong == [], f"{path.name} imports {wrong}"


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("def f():\n    from trailguard import handlers\n    import trailguard.main\n", encoding="utf-8")
    assert {"trailguard.handlers", "trailguard.main"} <= imported_modules(module)
