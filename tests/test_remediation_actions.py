"""Each remediation action against moto, in-process and its server on 127.0.0.1: the resource is put in
the broken state the event describes (tests/remediation_scenarios.py), the action runs (dry-run, the
CLI's plan, apply, apply again, exempt tag), and the resource is read back.

What each test proves: dry-run changes nothing and prints the exact call; apply fixes exactly what
the event did and leaves the rest (other rules, statements, grants, flags) as it was; a second run
plans nothing and makes no write; the ``trailguard:remediate = false`` tag keeps the resource
untouched; the operations made are among the action's declared permissions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from trailguard.services.remediation.base import ACTIONS, EXEMPT_TAG
from trailguard.services.remediation.runner import Status

from .remediation_scenarios import (
    SCENARIOS,
    TAGGABLE,
    assert_cli_fixes,
    assert_cycle,
    bucket,
    declared,
    ingress_ids,
    open_group,
)
from .remediation_world import Remediation, event_record, fake_aws, finding_of, remediation

__all__ = ["fake_aws", "remediation"]  # the fixtures, used by name


def test_every_action_has_a_scenario() -> None:
    assert {setup.rule_id for setup in SCENARIOS.values()} == set(ACTIONS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_action_fixes_what_the_event_did_and_only_that(remediation: Remediation, name: str) -> None:
    setup = SCENARIOS[name]
    assert_cycle(remediation, setup.build(remediation, None))
    if setup.exact:
        assert declared(setup.rule_id) == set(remediation.recorder.calls)


@pytest.mark.parametrize("name", TAGGABLE)
def test_every_action_leaves_a_resource_tagged_exempt(remediation: Remediation, name: str) -> None:
    setup = SCENARIOS[name]
    found = setup.build(remediation, {EXEMPT_TAG: "false", "team": "platform"})
    result = remediation.run(finding_of(found.record, found.rule_id), found.record)
    assert result.status is Status.SKIPPED and f"{EXEMPT_TAG}=false" in result.text, result
    assert remediation.recorder.writes() == []
    found.broken()


def test_the_exempt_tag_value_is_read_without_case(remediation: Remediation) -> None:
    found = SCENARIOS["s3-bucket-block-deleted"].build(remediation, {EXEMPT_TAG: "False"})
    result = remediation.run(finding_of(found.record, found.rule_id), found.record)
    assert result.status is Status.SKIPPED and remediation.recorder.writes() == []


def test_sg_modify_rules_is_not_undone_since_the_old_rule_is_unknown(remediation: Remediation) -> None:
    record = event_record("security_group/modify_rules_ssh_world.json")
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.NOTHING and "ModifySecurityGroupRules" in result.text
    assert remediation.recorder.calls == []


def test_access_denied_is_an_outcome_not_an_exception(remediation: Remediation) -> None:
    from botocore.exceptions import ClientError

    group, _kept, opened, record = open_group(remediation)

    def refuse(model: Any, **_kwargs: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, model.name)

    remediation.clients.client("ec2").meta.events.register("before-call.*.*", refuse)
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.FAILED
    assert result.text == "Remediation failed: UnauthorizedOperation on ec2 RevokeSecurityGroupIngress"
    assert opened in ingress_ids(remediation, group)


def test_the_text_of_a_planned_call_is_json_of_its_parameters(remediation: Remediation) -> None:
    group, _kept, opened, record = open_group(remediation)
    planned = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record, "dry-run")
    assert f"GroupId={json.dumps(group)}" in planned.text and f'SecurityGroupRuleIds=["{opened}"]' in planned.text


def test_the_history_keeps_the_exact_policy_statement_removed(remediation: Remediation) -> None:
    found = SCENARIOS["s3-policy"].build(remediation, None)
    public = found.record["requestParameters"]["bucketPolicy"]["Statement"][0]
    planned = remediation.run(finding_of(found.record, found.rule_id), found.record, "dry-run")
    assert json.loads(planned.removed) == [public]


def test_s3_policy_all_public_is_deleted(remediation: Remediation) -> None:
    record = event_record("s3/put_bucket_policy_public_get_object.json")
    s3 = bucket(remediation, "acme-reports")
    s3.put_bucket_policy(Bucket="acme-reports", Policy=json.dumps(record["requestParameters"]["bucketPolicy"]))

    def fixed() -> None:
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket="acme-reports")

    assert_cli_fixes(remediation, record, "s3.bucket-policy-public", fixed)
    assert set(remediation.recorder.calls) <= declared("s3.bucket-policy-public")


def test_iam_own_key_and_root_key_are_not_touched(remediation: Remediation) -> None:
    for name, why in (
        ("iam/create_access_key_own.json", "not the suspicious kind"),
        ("iam/create_access_key_root.json", "only by root"),
    ):
        record = event_record(name)
        result = remediation.run(finding_of(record, "iam.access-key-created"), record)
        assert result.status is Status.NOTHING and why in result.text, result
    assert remediation.recorder.calls == []


def test_without_the_rate_limits_count_nothing_is_done(
    remediation: Remediation, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, _kept, opened, record = open_group(remediation)

    def broken_tally(*_args: Any) -> Any:
        raise RuntimeError("table throttled")

    monkeypatch.setattr(remediation.state, "tally", broken_tally)
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.SKIPPED and "rate limit's count is unavailable (RuntimeError)" in result.text
    assert opened in ingress_ids(remediation, group) and remediation.recorder.writes() == []


def test_the_rate_limit_counts_per_account(remediation: Remediation) -> None:
    first_group, _k, first, first_record = open_group(remediation)
    second_group, _k2, second, second_record = open_group(remediation)
    second_record["eventID"] = second_record["eventID"][:-1] + "9"
    outcomes = [
        remediation.run(finding_of(record, "sg.ingress-open-to-world"), record, remediation_max_per_hour=1).status
        for record in (first_record, second_record)
    ]
    assert outcomes == [Status.DONE, Status.SKIPPED]
    assert first not in ingress_ids(remediation, first_group) and second in ingress_ids(remediation, second_group)
