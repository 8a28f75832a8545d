"""Every finding names its resource by ARN when the event identifies it and the type has one.

An ARN is what people paste into the console search, a suppression or an IAM policy: a finding that
could carry one and does not makes the reader look it up.
"""

from __future__ import annotations

import pytest

from trailguard.core.aws_ids import arn_partition
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

from .conftest import RuleTestEvent, load_rule_test_events

POSITIVE = [e for e in load_rule_test_events() if e.expect]

# Resource types whose ARN the events do not let us build, and why.
NO_ARN_TYPES = {
    # A region's opt-in status is an account setting, not a resource.
    "AWS::Account::Region": "no ARN",
    # Marketplace agreement ARNs are not in AcceptAgreementRequest's record.
    "AWS::Marketplace::Agreement": "ARN not logged",
    # A recorder's ARN ends in an id AWS assigns, which Stop/DeleteConfigurationRecorder do not log;
    # delivery channels have no ARN.
    "AWS::Config::ConfigurationRecorder": "ARN id not logged",
    "AWS::Config::DeliveryChannel": "no ARN",
    # Organizations ARNs carry the organization id, which these calls do not log.
    "AWS::Organizations::Account": "organization id not logged",
    "AWS::Organizations::Policy": "organization id not logged",
    "AWS::Organizations::Root": "organization id not logged",
    # Route 53 Domains has no resource-level ARNs.
    "AWS::Route53Domains::Domain": "no ARN",
    # IAM Identity Center ARNs carry the instance or identity store id, which these records omit.
    "AWS::SSO::Assignment": "no ARN (a pairing, not a resource)",
    "AWS::SSO::Instance": "instance id not logged",
    "AWS::IdentityStore::User": "identity store id not logged",
    "AWS::IdentityStore::GroupMembership": "identity store id not logged",
}
# Findings about many calls (bursts) or about a call that was refused name a service or an API, not a
# resource.
NO_RESOURCE_RULE_PREFIXES = ("burst.", "tamper.denied-attempt")
# Events that do not identify the resource (or identify several).
NOT_IDENTIFIED = {
    # Instance credentials used elsewhere: the session names the instance, not its region.
    "baseline/instance_credentials_outside.json",
    # No instance ids in the response: a batch without instance ids, a dry run, calls refused.
    "ec2/run_instances_gpu_batch_string_bool.json",
    "ec2/run_instances_gpu_dry_run.json",
    "ec2/run_instances_gpu_vcpu_limit.json",
    "ec2/run_instances_unauthorized.json",
    # Fields of the wrong type: the function is unnamed.
    "lambda/update_function_code_wrong_types.json",
    # A group by name only (EC2-Classic style): its ARN needs the id.
    "security_group/ingress_loosely_typed_fields.json",
    # Several alarms in one finding.
    "cloudwatch/delete_alarms.json",
}


@pytest.mark.parametrize("case", POSITIVE, ids=[e.name for e in POSITIVE])
def test_finding_has_an_arn_when_the_event_identifies_the_resource(case: RuleTestEvent) -> None:
    engine = Engine(Settings.load(env={}, **case.settings))
    engine.evaluate_all(case.history)
    for finding in engine.evaluate(case.record):
        resource = finding.resource
        if finding.rule_id.startswith(NO_RESOURCE_RULE_PREFIXES) or resource.type in NO_ARN_TYPES:
            continue
        if case.name in NOT_IDENTIFIED:
            continue
        assert resource.arn, f"{finding.rule_id} on {case.name}: {resource.type} {resource.id!r} has no ARN"
        assert arn_partition(resource.arn), resource.arn


def test_the_exemptions_are_still_needed() -> None:
    """An exemption that no longer applies hides a regression: each one must still match a finding."""
    seen_types: set[str] = set()
    seen_events: set[str] = set()
    for case in POSITIVE:
        engine = Engine(Settings.load(env={}, **case.settings))
        engine.evaluate_all(case.history)
        for finding in engine.evaluate(case.record):
            if not finding.resource.arn:
                seen_types.add(finding.resource.type)
                seen_events.add(case.name)
    assert set(NO_ARN_TYPES) <= seen_types
    assert seen_events >= NOT_IDENTIFIED


def test_a_trail_named_by_name_gets_its_arn() -> None:
    engine = Engine(Settings.load(env={}))
    (case,) = [e for e in POSITIVE if e.name == "cloudtrail/delete_trail.json"]
    (finding,) = [f for f in engine.evaluate(case.record) if f.rule_id == "cloudtrail.trail-deleted"]
    record = case.record
    name = record["requestParameters"]["name"]
    assert finding.resource.arn == (
        f"arn:aws:cloudtrail:{record['awsRegion']}:{record['recipientAccountId']}:trail/{name}"
    )
