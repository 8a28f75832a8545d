"""The README and the code must agree (its generated tables: tests/test_generated.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

from trailguard.core.settings import SUPPRESSION_FIELDS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_suppression_field() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in SUPPRESSION_FIELDS:
        assert f"| `{name}` |" in text, name


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:400]
    assert "make demo" in head and "make test" in head


def test_the_code_points_to_the_projects_own_catalogue() -> None:
    source = ROOT / "src" / "trailguard"
    for path in sorted(source.rglob("*.py")):
        assert "DETECTIONS.md" not in path.read_text(encoding="utf-8"), f"{path}: cite docs/rules.md"
    handlers = sorted((source / "handlers").glob("*_handler.py"))
    assert handlers
    for path in handlers:
        module = importlib.import_module(f"trailguard.handlers.{path.stem}")
        assert "docs/rules.md" in (module.__doc__ or ""), path.name
    assert (ROOT / "docs" / "rules.md").is_file()
