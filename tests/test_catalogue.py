"""Walks the registry and every test event: each event fires exactly the rules it declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trailguard.core.base_handler import REGISTRY, base_event_name
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.settings import Settings
from trailguard.handlers import _manifest

from .conftest import RuleTestEvent, load_rule_test_events

EVENTS = load_rule_test_events()


@pytest.mark.parametrize("case", EVENTS, ids=[e.name for e in EVENTS])
def test_event_fires_exactly_the_expected_rules(case: RuleTestEvent) -> None:
    settings = Settings.load(env={}, **case.settings)
    engine = Engine(settings)
    engine.evaluate_all(case.history)
    findings = engine.evaluate(case.record)
    assert engine.stats.rule_errors == 0, engine.failures
    fired: dict[str, str] = {}
    for finding in (finding for finding in findings if not finding.routine):  # routine: history only
        assert finding.rule_id not in fired, f"{finding.rule_id} fired twice on {case.name}"
        fired[finding.rule_id] = finding.severity.name
        assert finding.summary.strip(), f"{finding.rule_id} gave an empty summary"
        assert finding.event_id == case.record.get("eventID", "")
    assert fired == case.expect, case.description


def test_every_catalogue_rule_is_registered() -> None:
    listed = set(_manifest.RULES)
    registered = {r.id for r in REGISTRY.all()}
    assert listed - registered == set(), "rules in the manifest but not registered: run `make generated`"
    assert registered - listed == set(), "registered rules missing from the manifest: run `make generated`"


@pytest.mark.parametrize("rule", REGISTRY.all(), ids=lambda r: r.id)
def test_rule_has_positive_and_negative_events(rule: object) -> None:
    from trailguard.core.base_handler import Rule

    assert isinstance(rule, Rule)
    names = {(k.source, k.name) for k in REGISTRY.subscriptions(rule)}
    positives = [e for e in EVENTS if rule.id in e.expect]
    negatives = [
        e
        for e in EVENTS
        if rule.id not in e.expect
        and (
            (e.record.get("eventSource"), base_event_name(str(e.record.get("eventName", "")))) in names
            or (e.record.get("userIdentity") or {}).get("type") in rule.identity_types
        )
    ]
    if not names and not rule.identity_types:
        # A rule on findings (incident.attack-chain): the events whose findings it let pass.
        negatives = [e for e in EVENTS if e.expect and rule.id not in e.expect]
    assert positives, f"{rule.id} has no positive test event"
    assert negatives, f"{rule.id} has no negative test event (same event name, rule must not fire)"
    seen = {Severity[e.expect[rule.id]] for e in positives}
    # A stateful rule escalates on what it remembers, which no single event carries: its scenario
    # tests show the escalations (tests/test_bursts.py...).
    for severity in (rule.severity, *(() if rule.stateful else rule.escalates_to)):
        assert severity in seen, f"{rule.id}: no test event shows severity {severity.name}"


@pytest.mark.parametrize("rule", REGISTRY.all(), ids=lambda r: r.id)
def test_rule_metadata_is_complete(rule: object) -> None:
    from trailguard.core.base_handler import Rule

    assert isinstance(rule, Rule)
    assert len(rule.title) <= 60, "titles go into email subjects: keep them short"
    assert rule.description.endswith("."), rule.description
    assert len(rule.remediation) > 40
    if rule.mitre:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", rule.mitre), rule.mitre
    # What routine activity it stays quiet on, and what it cannot tell apart (docs/rules.md).
    assert len(rule.quiet) > 40 and rule.quiet.endswith((".", ")")), rule.quiet
    assert not rule.quiet.lower().startswith("quiet on:"), "docs/rules.md labels it already"


def test_docs_list_every_rules_quiet_cases() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    rules = REGISTRY.all()
    assert doc.count("- **Quiet cases**: ") == len(rules) + 1  # and the legend at the top
    assert doc.count("- **Routine by memory**: ") == sum(rule.routine for rule in rules) + 1 > 10
