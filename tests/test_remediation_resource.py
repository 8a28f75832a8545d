"""Remediation placeholders that name a hit's resource are filled from it (Rule.resource_placeholder)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from trailguard.core.base_handler import REGISTRY, RuleRegistry
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.exceptions import RuleDefinitionError
from trailguard.core.settings import Settings
from trailguard.examples import example_findings

FILLED = sorted(rule.id for rule in REGISTRY.all() if rule.resource_placeholder)


def test_thirty_rules_name_their_resource_in_their_commands() -> None:
    assert len(FILLED) >= 30


@pytest.mark.parametrize("finding", example_findings(FILLED), ids=lambda f: f.rule_id)
def test_the_example_finding_carries_its_own_resource_in_the_command(finding: Any) -> None:
    named = REGISTRY.get(finding.rule_id).resource_placeholder
    value = finding.resource.arn if named == "<arn>" else finding.resource.id
    assert value and named not in finding.remediation
    assert f" {shlex.quote(value)}" in finding.remediation


def test_a_hostile_resource_name_is_quoted_or_left_as_the_placeholder() -> None:
    registry = RuleRegistry()

    @registry.rule(
        id="test.named",
        severity=Severity.LOW,
        title="t",
        description="d.",
        remediation="Run `aws logs delete-log-group --log-group-name <group>` after a look.",
        on={"logs.amazonaws.com": ["CreateLogGroup"]},
        resource_placeholder="<group>",
    )
    def named(event: CloudTrailEvent, ctx: Any) -> Any:
        yield Hit("x", Resource("AWS::Logs::LogGroup", event.get_str("requestParameters", "logGroupName")))

    engine = Engine(Settings(), registry=registry)
    record: dict[str, Any] = {"eventSource": "logs.amazonaws.com", "eventName": "CreateLogGroup", "eventID": "e-1"}
    for name, expected in (("a; rm -rf ~", "'a; rm -rf ~'"), ("$(id)", "'$(id)'"), ("two\nlines", "<group>")):
        [finding] = engine.evaluate({**record, "requestParameters": {"logGroupName": name}})
        assert f"--log-group-name {expected}`" in finding.remediation, name


def test_a_placeholder_the_remediation_does_not_have_is_a_definition_error() -> None:
    registry = RuleRegistry()
    with pytest.raises(RuleDefinitionError, match="resource_placeholder"):
        registry.rule(
            id="test.wrong",
            severity=Severity.LOW,
            title="t",
            description="d.",
            remediation="Look at it.",
            on={"logs.amazonaws.com": ["CreateLogGroup"]},
            resource_placeholder="<group>",
        )(lambda event, ctx: iter(()))
