"""Example findings for every rule, from real-shaped records shipped with the package.

Used to preview alert templates (`trailguard render`) and to send test alerts (`trailguard send-test`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import select_rules
from trailguard.core.event_types import Finding
from trailguard.core.settings import Settings

# A stateful rule fires on one record only with its thresholds at one: its example is such a record
# (a test event with exactly these settings, scripts/generate.py).
ONE_EVENT_THRESHOLDS = {"count": 1, "distinct": 1}


def example_settings(entry: dict[str, Any]) -> Settings:
    """The settings a rule's example record fires it under (a burst rule's thresholds at one)."""
    return Settings.load(env={}, **entry.get("settings", {}))


def _example_entries() -> dict[str, dict[str, Any]]:
    text = resources.files("trailguard.data").joinpath("examples.jsonl").read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {entry["rule_id"]: entry for entry in entries}


def example_records() -> dict[str, dict[str, object]]:
    """rule id -> an example CloudTrail record that fires it (after its ``history``, if any)."""
    return {rule_id: entry["record"] for rule_id, entry in _example_entries().items()}


def example_findings(rule_patterns: Sequence[str] = ()) -> list[Finding]:
    """One finding per selected rule (globs; all rules when empty), in rule-id order."""
    from trailguard.core.engine import Engine

    entries = _example_entries()
    findings: list[Finding] = []
    for rule in select_rules(REGISTRY.all(), rule_patterns, ()):
        entry = entries.get(rule.id)
        if entry is None:
            continue
        # Every rule runs (an incident is made of the other rules' findings), after the history a
        # baseline rule's example needs for its record to be new against, with a burst rule's
        # thresholds at one (example_settings).
        engine = Engine(example_settings(entry))
        engine.evaluate_all(entry.get("history", ()))
        findings.extend(finding for finding in engine.evaluate(entry["record"]) if finding.rule_id == rule.id)
    return findings
