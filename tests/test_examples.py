"""The example records shipped for previews: one finding for every rule (tests/test_generated.py
checks the file is up to date)."""

from __future__ import annotations

from trailguard.core.base_handler import REGISTRY
from trailguard.examples import example_findings


def test_every_rule_has_an_example_finding_at_its_default_severity() -> None:
    findings = example_findings()
    assert [f.rule_id for f in findings] == [r.id for r in REGISTRY.all()]
    for finding in findings:
        assert finding.severity is REGISTRY.get(finding.rule_id).severity, finding.rule_id
    assert [f.rule_id for f in example_findings(["s3.*"])] == [r.id for r in REGISTRY.all() if r.id.startswith("s3.")]
