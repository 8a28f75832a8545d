"""The example records shipped for previews: up to date, and one finding for every rule."""

from __future__ import annotations

import sys
from pathlib import Path

from trailguard.core.base_handler import REGISTRY
from trailguard.examples import example_findings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import update_examples


def test_examples_file_is_up_to_date() -> None:
    assert update_examples.main(["--check"]) == 0


def test_every_rule_has_an_example_finding_at_its_default_severity() -> None:
    findings = example_findings()
    assert [f.rule_id for f in findings] == [r.id for r in REGISTRY.all()]
    for finding in findings:
        assert finding.severity is REGISTRY.get(finding.rule_id).severity, finding.rule_id
    assert [f.rule_id for f in example_findings(["s3.*"])] == [r.id for r in REGISTRY.all() if r.id.startswith("s3.")]
