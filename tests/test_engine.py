"""The engine: O(1) routing, failed calls, error isolation, suppressions, the registry's guards."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.base_handler import RuleContext, RuleRegistry, base_event_name, cidr_prefix_length
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.exceptions import RuleDefinitionError
from trailguard.core.settings import Settings, Suppression

RECORDS = Path(__file__).parent / "data" / "records"


def record(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((RECORDS / name).read_text())
    return value


def stop_logging() -> dict[str, Any]:
    value: dict[str, Any] = json.loads((Path(__file__).parent / "events/cloudtrail/stop_logging.json").read_text())
    return value["record"]  # type: ignore[no-any-return]


def make_registry() -> RuleRegistry:
    """A registry of its own, so these tests do not depend on the shipped catalogue."""
    registry = RuleRegistry()
    registry._loaded = True  # nothing to import: the rules are defined here

    meta: dict[str, Any] = {"description": "Test rule.", "remediation": "Nothing to remediate in a test rule at all."}

    @registry.rule(
        id="test.stop", severity=Severity.HIGH, title="stop", on={"cloudtrail.amazonaws.com": ["StopLogging"]}, **meta
    )
    def stop(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        yield Hit(
            summary="stopped",
            resource=Resource(type="AWS::CloudTrail::Trail", id=event.get_str("requestParameters", "name")),
        )

    @registry.rule(
        id="test.crash", severity=Severity.LOW, title="crash", on={"cloudtrail.amazonaws.com": ["StopLogging"]}, **meta
    )
    def crash(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        raise RuntimeError("boom")

    @registry.rule(
        id="test.failures",
        severity=Severity.MEDIUM,
        title="failures",
        include_failed=True,
        on={"cloudtrail.amazonaws.com": ["StopLogging"]},
        **meta,
    )
    def failures(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        if event.failed:
            yield Hit(summary="denied", severity=Severity.CRITICAL)

    @registry.rule(
        id="test.permission",
        severity=Severity.INFO,
        title="permission",
        on={"lambda.amazonaws.com": ["AddPermission*"]},
        **meta,
    )
    def permission(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        yield Hit(summary=f"permission on {event.get_str('requestParameters', 'functionName')}")

    @registry.rule(id="test.root", severity=Severity.HIGH, title="root", identity_types={"Root"}, **meta)
    def root(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        yield Hit(summary="root did something")

    return registry


@pytest.fixture
def registry() -> RuleRegistry:
    return make_registry()


def ids(findings: list[Any]) -> list[str]:
    return sorted(f.rule_id for f in findings)


def test_routes_to_subscribed_rules_and_isolates_a_crashing_rule(
    registry: RuleRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(Settings(), registry=registry)
    with caplog.at_level(logging.ERROR, logger="trailguard.engine"):
        findings = engine.evaluate(stop_logging())
    assert ids(findings) == ["test.stop"], "the crash of test.crash must not stop test.stop"
    assert engine.stats.rule_errors == 1
    assert engine.failures[0].rule_id == "test.crash"
    message = caplog.records[0].getMessage()
    assert "test.crash" in message and "0a6e1c52-1f0b-4c2d-9a5e-2b7d1e4f6a01" in message and "boom" in message
    finding = findings[0]
    assert finding.severity is Severity.HIGH
    assert finding.resource.id == "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-audit"
    assert finding.actor.name == "alice" and finding.account_id == "111122223333" and finding.region == "eu-west-1"
    assert finding.source_ip == "203.0.113.45"


def test_failed_calls_reach_only_rules_that_opt_in(registry: RuleRegistry) -> None:
    engine = Engine(Settings(), registry=registry)
    findings = engine.evaluate(record("access_denied_stop_logging.json"))
    assert ids(findings) == ["test.failures"]
    assert findings[0].severity is Severity.CRITICAL, "a hit's own severity overrides the rule's"
    assert findings[0].error_code == "AccessDenied"
    assert engine.wants("cloudtrail.amazonaws.com", "StopLogging", "IAMUser", failed=True)
    assert not engine.wants("lambda.amazonaws.com", "AddPermission20150331v2", "IAMUser", failed=True)


def test_versioned_event_names_route_to_base_name(registry: RuleRegistry) -> None:
    assert base_event_name("AddPermission20150331v2") == "AddPermission"
    assert base_event_name("CreateFunction20150331") == "CreateFunction"
    assert base_event_name("PutBucketPolicy") == "PutBucketPolicy"
    assert base_event_name("CreateDBInstance") == "CreateDBInstance"
    engine = Engine(Settings(), registry=registry)
    assert ids(engine.evaluate(record("lambda_add_permission_versioned.json"))) == ["test.permission"]


def test_identity_type_routing(registry: RuleRegistry) -> None:
    engine = Engine(Settings(), registry=registry)
    assert ids(engine.evaluate(record("root_describe.json"))) == ["test.root"]
    assert engine.wants("ec2.amazonaws.com", "DescribeInstances", "Root")
    assert not engine.wants("ec2.amazonaws.com", "DescribeInstances", "IAMUser")
    assert not engine.wants(None, 5, ["Root"])


def test_wrongly_typed_fields_do_not_break_rules(registry: RuleRegistry) -> None:
    engine = Engine(Settings(), registry=registry)
    findings = engine.evaluate(record("stop_logging_wrong_types.json"))
    assert ids(findings) == ["test.stop"]
    assert findings[0].resource.id == "" and findings[0].actor.arn == "" and findings[0].region == ""
    assert engine.stats.rule_errors == 1  # only the rule that always crashes


def test_non_object_records_are_harmless(registry: RuleRegistry) -> None:
    engine = Engine(Settings(), registry=registry)
    for value in ({}, {"eventSource": 3, "eventName": None}, {"userIdentity": {"type": ["Root"]}}):
        assert engine.evaluate(value) == []


def test_suppressions_min_severity_disabled_and_selected_rules(registry: RuleRegistry) -> None:
    terraform = record("stop_logging_terraform.json")
    by_role = Settings(suppressions=(Suppression(principal="arn:aws:iam::111122223333:role/terraform-*"),))
    engine = Engine(by_role, registry=registry)
    assert engine.evaluate(terraform) == [] and engine.stats.suppressed == 1
    assert ids(engine.evaluate(stop_logging())) == ["test.stop"]

    by_agent_and_rule = Settings(suppressions=(Suppression(rules=("test.st*",), user_agent="*terraform/*"),))
    assert ids(Engine(by_agent_and_rule, registry=registry).evaluate(terraform)) == []
    other_rule = Settings(suppressions=(Suppression(rules=("test.root",), user_agent="*terraform*"),))
    assert ids(Engine(other_rule, registry=registry).evaluate(terraform)) == ["test.stop"]
    by_region = Settings(suppressions=(Suppression(region="eu-*", account="111122223333"),))
    assert ids(Engine(by_region, registry=registry).evaluate(stop_logging())) == []
    by_resource = Settings(suppressions=(Suppression(resource="*:trail/org-audit"),))
    assert ids(Engine(by_resource, registry=registry).evaluate(stop_logging())) == []

    assert ids(Engine(Settings(min_severity=Severity.CRITICAL), registry=registry).evaluate(stop_logging())) == []
    assert ids(Engine(Settings(disabled_rules=("test.st*",)), registry=registry).evaluate(stop_logging())) == []
    only = Engine(Settings(), rule_ids=["test.root"], registry=registry)
    assert only.evaluate(stop_logging()) == [] and not only.wants("cloudtrail.amazonaws.com", "StopLogging")


def test_registry_rejects_bad_definitions(registry: RuleRegistry) -> None:
    meta: dict[str, Any] = {
        "severity": Severity.LOW,
        "title": "t",
        "description": "d.",
        "remediation": "r",
        "on": {"s3.amazonaws.com": ["PutBucketAcl"]},
    }

    def noop(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        yield from ()

    with pytest.raises(RuleDefinitionError, match="registered twice"):
        registry.rule(id="test.stop", **meta)(noop)
    with pytest.raises(RuleDefinitionError, match="must look like"):
        registry.rule(id="NoDot", **meta)(noop)
    with pytest.raises(RuleDefinitionError, match="subscribes to no event"):
        registry.rule(id="test.nothing", **{**meta, "on": {}})(noop)
    with pytest.raises(RuleDefinitionError, match="empty description"):
        registry.rule(id="test.empty", **{**meta, "description": " "})(noop)


def test_rule_context_port_and_network_helpers() -> None:
    ctx = Settings.load(env={}, allowed_cidrs=["10.0.0.0/8"]).rule_context()
    assert ctx.touches_admin_port(22, 22) and ctx.touches_admin_port(0, 65535) and ctx.touches_admin_port(None, None)
    assert ctx.touches_admin_port(-1, -1) and ctx.touches_admin_port(1000, 5000)
    assert not ctx.touches_admin_port(8080, 8080)
    assert ctx.only_allowed_ports(443, 443) and ctx.only_allowed_ports(80, 80)
    assert not ctx.only_allowed_ports(80, 443) and not ctx.only_allowed_ports(-1, -1)
    assert ctx.is_allowed_cidr("10.1.2.0/24") and not ctx.is_allowed_cidr("11.0.0.0/24")
    assert ctx.is_world_like("0.0.0.0/0") and ctx.is_world_like("::/0") and ctx.is_world_like("128.0.0.0/1")
    assert ctx.is_world_like(" 1.2.3.4/0 ") and ctx.is_world_like("2000::/3")
    broad = Settings.load(env={}, allowed_cidrs=["0.0.0.0/1"]).rule_context()
    assert not broad.is_world_like("0.0.0.0/2") and broad.is_world_like("128.0.0.0/1")
    assert not ctx.is_world_like("203.0.113.0/24") and not ctx.is_world_like("0.0.0.0/8")
    for junk in ("", "0.0.0.0", "/0", "any/0", "0.0.0.0/33", "::/129", "0.0.0.0/-1", "0.0.0.0/x", "0.0.0.0/\u00b2"):
        assert cidr_prefix_length(junk) is None, junk
    assert cidr_prefix_length("::/0") == 0 and cidr_prefix_length("10.0.0.0/8") == 8
    assert not ctx.is_allowed_cidr("not a cidr")
    event = CloudTrailEvent(stop_logging())
    assert ctx.is_trusted_account("111122223333", event) and not ctx.is_trusted_account("999988887777", event)


def test_suppression_limited_by_severity(registry: RuleRegistry) -> None:
    terraform = record("stop_logging_terraform.json")  # test.stop fires HIGH on it
    routine_only = Settings(suppressions=(Suppression(principal="*:role/terraform-*", max_severity=Severity.MEDIUM),))
    assert ids(Engine(routine_only, registry=registry).evaluate(terraform)) == ["test.stop"]
    up_to_high = Settings(suppressions=(Suppression(principal="*:role/terraform-*", max_severity=Severity.HIGH),))
    assert ids(Engine(up_to_high, registry=registry).evaluate(terraform)) == []


def test_cloudtrail_link_only_from_a_well_formed_region_and_event_id() -> None:
    engine = Engine(Settings())
    finding = engine.evaluate(stop_logging())[0]
    assert finding.cloudtrail_url.startswith("https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home")
    for region in ("evil.example/", "eu-west-1.evil.example", ""):
        assert finding._replace(region=region).cloudtrail_url == "", region
    assert finding._replace(event_id="x#/../y").cloudtrail_url == ""


def test_a_finding_key_is_event_rule_and_resource_preferring_the_arn(registry: RuleRegistry) -> None:
    [finding] = Engine(Settings(), registry=registry).evaluate(stop_logging())
    trail = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-audit"
    assert finding.key == f"0a6e1c52-1f0b-4c2d-9a5e-2b7d1e4f6a01|test.stop|{trail}"
    with_arn = finding._replace(resource=Resource(type="AWS::CloudTrail::Trail", id="org-audit", arn=trail))
    assert with_arn.key == finding.key, "the ARN, when known, names the resource"
    other = finding._replace(resource=Resource(id="other-trail"))
    assert other.key != finding.key and other.key.endswith("|other-trail")


def aws_acting_registry() -> RuleRegistry:
    registry = RuleRegistry()
    registry._loaded = True
    meta: dict[str, Any] = {"description": "Test rule.", "remediation": "Nothing to remediate in a test rule at all."}
    on = {"cloudtrail.amazonaws.com": ["StopLogging"]}
    for rule_id, severity in (("test.routine", Severity.HIGH), ("test.critical", Severity.CRITICAL)):
        registry.rule(id=rule_id, severity=severity, title=rule_id, on=on, **meta)(
            lambda event, ctx: iter([Hit(summary="hit")])
        )
    registry.rule(id="tamper.test", severity=Severity.MEDIUM, title="tamper", on=on, **meta)(
        lambda event, ctx: iter([Hit(summary="hit")])
    )
    return registry


SERVICE_LINKED_SESSION = {
    "type": "AssumedRole",
    "arn": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling",
            "userName": "AWSServiceRoleForAutoScaling",
        }
    },
    "invokedBy": "autoscaling.amazonaws.com",
}


@pytest.mark.parametrize(
    "change",
    [
        {"userIdentity": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}},
        {"eventType": "AwsServiceEvent"},
        {"userIdentity": SERVICE_LINKED_SESSION},
        # The session alone names the role (some services log no sessionIssuer).
        {"userIdentity": {"type": "AssumedRole", "arn": SERVICE_LINKED_SESSION["arn"]}},
    ],
)
def test_aws_acting_by_itself_reaches_only_the_critical_and_tamper_rules(change: dict[str, Any]) -> None:
    findings = Engine(Settings(), registry=aws_acting_registry()).evaluate({**stop_logging(), **change})
    assert ids(findings) == ["tamper.test", "test.critical"]


@pytest.mark.parametrize(
    "identity",
    [
        # CloudFormation applying a person's stack with the person's credentials: the person's change.
        {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "invokedBy": "cloudformation.amazonaws.com"},
        # A role of the customer's own whose name merely mentions a service.
        {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/MyAWSServiceRunner/ci"},
        {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
    ],
)
def test_a_service_acting_for_a_person_is_still_reported(identity: dict[str, Any]) -> None:
    findings = Engine(Settings(), registry=aws_acting_registry()).evaluate({**stop_logging(), "userIdentity": identity})
    assert ids(findings) == ["tamper.test", "test.critical", "test.routine"]
