"""Remediation in the Lambda: the event goes through ``lambda_handler`` with ``[remediation]`` set in its
environment, moto holds the security group, the table and the secret (tests/lambda_world.py), the
folder channel receives the alert. The alert, the event's JSON log line and the findings history
must all say what was done; a failed or refused action must never cost the alert."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trailguard import main
from trailguard.services.remediation.base import EXEMPT_TAG

from .lambda_world import LambdaContext, World, alert_texts, eventbridge
from .remediation_scenarios import ingress_ids, open_group
from .remediation_world import ACCOUNT, Remediation, remediation

__all__ = ["remediation"]
RULE = "sg.ingress-open-to-world"


@pytest.fixture
def lambda_world(remediation: Remediation, world: World) -> World:
    world.monkeypatch.setenv(
        "TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "path": str(world.tmp_path / "out")}])
    )
    world.monkeypatch.setenv("TRAILGUARD_REMEDIATION", json.dumps({RULE: "apply"}))
    return world


def _log_lines(world: World) -> list[dict[str, Any]]:
    return [json.loads(line) for line in world.logs.getvalue().splitlines()]


def _remediation_of(world: World) -> str:
    (line,) = world.events()[-1:]
    (finding,) = line["findings"]
    return str(finding.get("remediation", ""))


def test_the_lambda_revokes_the_rule_and_every_record_says_so(lambda_world: World, remediation: Remediation) -> None:
    group, kept, opened, record = open_group(remediation)
    main.reset()
    result = main.lambda_handler(eventbridge(record), LambdaContext())
    assert result["outcome"] == "delivered"
    assert ingress_ids(remediation, group) == {kept}
    (text,) = alert_texts(lambda_world.tmp_path / "out")
    assert f"Remediated: revoked {opened} of {group} at " in text
    assert _remediation_of(lambda_world).startswith(f"done: Remediated: revoked {opened} of {group} at ")
    (stored,) = lambda_world.records()
    assert stored.remediation.startswith(f"Remediated: revoked {opened}")
    # The CloudWatch metric (EMF) counts the action carried out.
    [counts] = [line for line in _log_lines(lambda_world) if "Remediations" in line]
    assert counts["Remediations"] == 1
    # The same event again (a redelivery) is deduplicated: nothing is sent, nothing called.
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "deduplicated"
    assert [line["Remediations"] for line in _log_lines(lambda_world) if "Remediations" in line] == [1, 0]


def test_dry_run_in_the_lambda_changes_nothing_and_says_what_it_would_do(
    lambda_world: World, remediation: Remediation
) -> None:
    lambda_world.monkeypatch.setenv("TRAILGUARD_REMEDIATION", json.dumps({"sg.*": "dry-run"}))
    group, _kept, opened, record = open_group(remediation)
    main.reset()
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "delivered"
    assert opened in ingress_ids(remediation, group)
    (text,) = alert_texts(lambda_world.tmp_path / "out")
    assert "Dry run, nothing changed: would call ec2 RevokeSecurityGroupIngress" in text
    assert opened in text


def test_access_denied_still_alerts_and_says_so(lambda_world: World, remediation: Remediation) -> None:
    """The role lacks the permission: injected as botocore's own ClientError at the client (moto
    does not enforce IAM without users of its own)."""
    from botocore.exceptions import ClientError

    group, _kept, opened, record = open_group(remediation)
    main.reset()
    state = main.container()
    aws = state.delivery.context.aws

    def refuse(model: Any, **_kwargs: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, model.name)

    aws.client("ec2", record["awsRegion"]).meta.events.register("before-call.*.*", refuse)
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "delivered"
    assert opened in ingress_ids(remediation, group)
    (text,) = alert_texts(lambda_world.tmp_path / "out")
    assert "Remediation failed: AccessDenied on ec2 RevokeSecurityGroupIngress" in text
    assert _remediation_of(lambda_world).startswith("failed: ")


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("TRAILGUARD_REMEDIATION_ACCOUNTS", "999988887777", f"account {ACCOUNT} is not in remediation_accounts"),
        ("TRAILGUARD_REMEDIATION_REGIONS", "us-east-1", "region eu-west-1 is not in remediation_regions"),
        (
            "TRAILGUARD_REMEDIATION_EXEMPT_PRINCIPALS",
            "arn:aws:iam::111122223333:role/NetworkAdmin",
            "the change was made by an exempt principal",
        ),
    ],
)
def test_safeguards_leave_the_group_open_and_alert(
    lambda_world: World, remediation: Remediation, variable: str, value: str, why: str
) -> None:
    lambda_world.monkeypatch.setenv(variable, value)
    group, _kept, opened, record = open_group(remediation)
    main.reset()
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "delivered"
    assert opened in ingress_ids(remediation, group)
    (text,) = alert_texts(lambda_world.tmp_path / "out")
    assert f"Not remediated: {why}" in text


def test_exempt_tag_in_the_lambda(lambda_world: World, remediation: Remediation) -> None:
    group, _kept, opened, record = open_group(remediation, {EXEMPT_TAG: "false"})
    main.reset()
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "delivered"
    assert opened in ingress_ids(remediation, group)
    assert f"is tagged {EXEMPT_TAG}=false" in alert_texts(lambda_world.tmp_path / "out")[0]


def test_the_rate_limit_counts_in_the_table_and_then_only_alerts(lambda_world: World, remediation: Remediation) -> None:
    """Two groups opened; at most one action an hour: the first is revoked, the second only alerted.
    The count lives in the table (the detection state), so a new container still knows it."""
    lambda_world.monkeypatch.setenv("TRAILGUARD_REMEDIATION_MAX_PER_HOUR", "1")
    first_group, _k1, first, first_record = open_group(remediation)
    main.reset()
    assert main.lambda_handler(eventbridge(first_record), LambdaContext())["outcome"] == "delivered"
    second_group, _k2, second, second_record = open_group(remediation)
    second_record["eventID"] = second_record["eventID"][:-1] + "9"
    main.reset()  # a new container: only the table remembers the first action
    assert main.lambda_handler(eventbridge(second_record), LambdaContext())["outcome"] == "delivered"
    assert first not in ingress_ids(remediation, first_group)
    assert second in ingress_ids(remediation, second_group)
    texts = alert_texts(lambda_world.tmp_path / "out")
    assert any(f"rate limit of 1 actions an hour in account {ACCOUNT} reached" in text for text in texts)


@pytest.mark.parametrize("setting", ["", '{"sg.*": "off"}'])
def test_remediation_off_imports_neither_it_nor_boto3(setting: str) -> None:
    """A Lambda event with remediation off (unset, or every rule ``off``) loads no remediation code
    and no boto3 (no table, no channel: nothing else would need AWS)."""
    import os
    import subprocess
    import sys
    import textwrap

    from .conftest import EVENTS_DIR

    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    if setting:
        env["TRAILGUARD_REMEDIATION"] = setting
    event = EVENTS_DIR / "security_group" / "ingress_rdp_ipv6_world.json"
    script = textwrap.dedent(
        f"""
        import json, sys
        from trailguard import main
        record = json.loads(open({str(event)!r}).read())["record"]
        main.lambda_handler({{"detail-type": "AWS API Call via CloudTrail", "detail": record}}, None)
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("boto3", "trailguard.services.remediation")))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_a_quiet_repeat_is_remediated_and_recorded_without_an_alert(
    lambda_world: World, remediation: Remediation
) -> None:
    """Inside a quiet period the same change again (the group re-opened by the same caller) is not
    alerted, but it is undone all the same, and the history says so."""
    lambda_world.monkeypatch.setenv("TRAILGUARD_QUIET_PERIODS", json.dumps({"sg.*": 3600}))
    group, kept, opened, record = open_group(remediation)
    main.reset()
    assert main.lambda_handler(eventbridge(record), LambdaContext())["outcome"] == "delivered"
    ec2 = remediation.aws.client("ec2")
    rdp = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    again = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rdp])["SecurityGroupRules"][0]
    repeat = json.loads(json.dumps(record))
    repeat["eventID"] = repeat["eventID"][:-1] + "7"
    repeat["eventTime"] = "2026-11-03T09:20:00Z"
    repeat["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"] = again["SecurityGroupRuleId"]
    assert main.lambda_handler(eventbridge(repeat), LambdaContext())["outcome"] == "quiet"
    assert ingress_ids(remediation, group) == {kept}
    assert len(alert_texts(lambda_world.tmp_path / "out")) == 1
    assert _remediation_of(lambda_world).startswith(f"done: Remediated: revoked {again['SecurityGroupRuleId']}")
    stored = {r.event_id: r for r in lambda_world.records()}
    assert stored[repeat["eventID"]].outcome == "quiet"
    assert stored[repeat["eventID"]].remediation.startswith("Remediated: revoked")
    assert opened not in ingress_ids(remediation, group)
