"""Example findings for every rule, from real-shaped records shipped with the package.

Used to preview alert templates (`trailguard render`) and to send test alerts (`trailguard send-test`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

from trailguard.core.base_handler import REGISTRY, Rule
from trailguard.core.engine import select_rules
from trailguard.core.event_types import Finding
from trailguard.core.settings import Settings

# A stateful rule fires on one record only with its thresholds at one: its example is such a record
# (a test event with exactly these settings, scripts/generate.py).
ONE_EVENT_THRESHOLDS = {"count": 1, "distinct": 1}


def example_settings(rule: Rule) -> Settings:
    """The settings a rule's example record fires it under."""
    if not rule.stateful:
        return Settings()
    return Settings(thresholds=((rule.id, tuple(ONE_EVENT_THRESHOLDS.items())),))


def example_records() -> dict[str, dict[str, object]]:
    """rule id -> an example CloudTrail record that fires it."""
    text = resources.files("trailguard.data").joinpath("examples.jsonl").read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {entry["rule_id"]: entry["record"] for entry in entries}


def example_findings(rule_patterns: Sequence[str] = ()) -> list[Finding]:
    """One finding per selected rule (globs; all rules when empty), in rule-id order."""
    from trailguard.core.engine import Engine

    records = example_records()
    findings: list[Finding] = []
    for rule in select_rules(REGISTRY.all(), rule_patterns, ()):
        record = records.get(rule.id)
        if record is None:
            continue
        engine = Engine(example_settings(rule), rule_ids=[rule.id])
        findings.extend(engine.evaluate(record))
    return findings
