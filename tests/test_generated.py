"""Every file `make generated` writes is up to date, and a stale one is named with the command."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import generate  # noqa: E402


def test_every_generated_file_is_up_to_date() -> None:
    stale = generate.regenerate(write=False)
    assert stale == [], f"out of date: {', '.join(stale)}: run `make generated`"


def test_the_check_names_what_is_stale_and_the_command_that_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target in generate.TARGETS:
        (tmp_path / target.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / target.path, tmp_path / target.path)
    template = tmp_path / "infra" / "template.yaml"
    template.write_text(template.read_text("utf-8").replace('"CreateAccessKey"', '"CreateAccessKeys"'), "utf-8")
    (tmp_path / "src/trailguard/handlers/_manifest.py").unlink()
    assert generate.main(["--check"], root=tmp_path) == 1
    assert capsys.readouterr().out == (
        "out of date: src/trailguard/handlers/_manifest.py, infra/template.yaml: run `make generated`\n"
    )
    assert generate.main([], root=tmp_path) == 0
    for target in generate.TARGETS:
        assert (tmp_path / target.path).read_bytes() == (ROOT / target.path).read_bytes(), target.path
    assert generate.main(["--check"], root=tmp_path) == 0
