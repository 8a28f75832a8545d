"""Each remediation action against moto: the resource is put in the broken state the event describes,
the action runs (dry-run, apply, apply again, exempt tag), and the resource is read back.

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

from .remediation_world import ACCOUNT, Record, Remediation, event_record, finding_of, remediation

__all__ = ["remediation"]  # the fixture, used by name

REGION = "eu-west-1"


def declared(rule_id: str) -> set[str]:
    return set(ACTIONS[rule_id].permissions)


def assert_cycle(world: Remediation, record: Record, rule_id: str, check_fixed: Any, check_broken: Any) -> None:
    """dry-run (nothing changes), apply (fixed), apply again (no write), all within the declared permissions."""
    finding = finding_of(record, rule_id)
    planned = world.run(finding, record, "dry-run")
    assert planned.status is Status.PLANNED, planned
    assert planned.calls and all(call.text().split(" ", 2)[1] in planned.text for call in planned.calls)
    assert world.recorder.writes() == [], "dry-run wrote"
    check_broken()
    # The CLI: without --apply a rule set to apply only plans; a rule set to dry-run never acts.
    for mode, flags in (("apply", ()), ("dry-run", ("--apply",))):
        code, output = world.cli(record, rule_id, mode, *flags)
        assert code == 0 and f"[{mode}] planned: " in output, output
        assert all(f"    {call.text()}" in output for call in planned.calls), output
    assert world.recorder.writes() == [], "a plan wrote"
    check_broken()
    done = world.run(finding, record)
    assert done.status is Status.DONE, done
    assert done.text.startswith("Remediated: ") and " UTC" in done.text
    assert sorted(world.recorder.writes()) == sorted(call.permission for call in done.calls)
    check_fixed()
    writes = len(world.recorder.writes())
    again = world.run(finding, record)
    assert again.status is Status.NOTHING, again
    code, output = world.cli(record, rule_id, "apply", "--apply")
    assert code == 0 and "[apply] nothing: " in output, output
    assert len(world.recorder.writes()) == writes, "the second run wrote"
    check_fixed()
    assert set(world.recorder.calls) <= declared(rule_id), set(world.recorder.calls) - declared(rule_id)


def assert_cli_fixes(world: Remediation, record: Record, rule_id: str, check_fixed: Any) -> None:
    """``trailguard remediate --apply`` alone fixes it (exit 0), and a second run is a no-op."""
    code, output = world.cli(record, rule_id, "apply", "--apply")
    assert code == 0 and "[apply] done: Remediated: " in output, output
    check_fixed()
    writes = len(world.recorder.writes())
    code, output = world.cli(record, rule_id, "apply", "--apply")
    assert code == 0 and "[apply] nothing: " in output, output
    assert len(world.recorder.writes()) == writes


# -- sg.ingress-open-to-world ---------------------------------------------------------------------


def _open_group(world: Remediation, tags: dict[str, str] | None = None) -> tuple[str, str, str, Record]:
    """A group with a restricted rule the event did not add, and the world-open RDP rule it did."""
    ec2 = world.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    if tags:
        ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    kept = ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}
        ],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    opened = ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    def change(record: Record) -> None:
        record["requestParameters"]["groupId"] = group
        (item,) = record["responseElements"]["securityGroupRuleSet"]["items"]
        item.update(groupId=group, securityGroupRuleId=opened)

    return group, kept, opened, event_record("security_group/ingress_rdp_ipv6_world.json", change)


def _ingress_ids(world: Remediation, group: str) -> set[str]:
    rules = world.aws.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]}


def test_sg_revokes_only_the_rule_the_event_added(remediation: Remediation) -> None:
    group, kept, opened, record = _open_group(remediation)
    before = _ingress_ids(remediation, group)
    assert {kept, opened} <= before

    def fixed() -> None:
        assert _ingress_ids(remediation, group) == before - {opened}  # the restricted SSH rule survives

    def broken() -> None:
        assert _ingress_ids(remediation, group) == before

    assert_cycle(remediation, record, "sg.ingress-open-to-world", fixed, broken)
    assert declared("sg.ingress-open-to-world") == set(remediation.recorder.calls)


def test_sg_tagged_exempt_is_not_touched(remediation: Remediation) -> None:
    group, _kept, opened, record = _open_group(remediation, {EXEMPT_TAG: "false"})
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.SKIPPED and EXEMPT_TAG in result.text
    assert opened in _ingress_ids(remediation, group)
    assert remediation.recorder.writes() == []


def test_sg_modify_rules_is_not_undone_since_the_old_rule_is_unknown(remediation: Remediation) -> None:
    record = event_record("security_group/modify_rules_ssh_world.json")
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.NOTHING and "ModifySecurityGroupRules" in result.text
    assert remediation.recorder.calls == []


def test_access_denied_is_an_outcome_not_an_exception(
    remediation: Remediation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    group, _kept, opened, record = _open_group(remediation)

    def refuse(model: Any, **_kwargs: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, model.name)

    remediation.clients.client("ec2").meta.events.register("before-call.*.*", refuse)
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.FAILED
    assert result.text == "Remediation failed: UnauthorizedOperation on ec2 RevokeSecurityGroupIngress"
    assert opened in _ingress_ids(remediation, group)


# -- s3.public-access-block-removed -------------------------------------------------------------


def _bucket(world: Remediation, name: str, tags: dict[str, str] | None = None) -> Any:
    s3 = world.aws.client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    return s3


def test_s3_bucket_block_public_access_is_restored(remediation: Remediation) -> None:
    record = event_record("s3/put_bucket_public_access_block_all_false.json")
    bucket = record["requestParameters"]["bucketName"]
    s3 = _bucket(remediation, bucket)
    off = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), False)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=off)

    def flags() -> dict[str, bool]:
        return dict(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"])

    def fixed() -> None:
        assert flags() == dict.fromkeys(off, True)

    def broken() -> None:
        assert flags() == off

    assert_cycle(remediation, record, "s3.public-access-block-removed", fixed, broken)


def test_s3_deleted_bucket_block_is_put_back(remediation: Remediation) -> None:
    record = event_record("s3/delete_bucket_public_access_block.json")
    bucket = record["requestParameters"]["bucketName"]
    s3 = _bucket(remediation, bucket)

    def fixed() -> None:
        configuration = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(configuration.values()) and len(configuration) == 4

    def broken() -> None:
        with pytest.raises(s3.exceptions.ClientError):
            s3.get_public_access_block(Bucket=bucket)

    assert_cycle(remediation, record, "s3.public-access-block-removed", fixed, broken)


def test_s3_account_block_public_access_is_restored(remediation: Remediation) -> None:
    record = event_record("s3/put_account_public_access_block_off.json")
    control = remediation.aws.client("s3control")
    configuration = record["requestParameters"]["PublicAccessBlockConfiguration"]
    control.put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={k: v for k, v in configuration.items() if k != "xmlns"}
    )

    def flags() -> dict[str, bool]:
        return dict(control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"])

    def fixed() -> None:
        assert flags() == dict.fromkeys(flags(), True) and len(flags()) == 4

    def broken() -> None:
        assert flags()["BlockPublicPolicy"] is False

    assert_cycle(remediation, record, "s3.public-access-block-removed", fixed, broken)


def test_s3_block_public_access_exempt_bucket(remediation: Remediation) -> None:
    record = event_record("s3/delete_bucket_public_access_block.json")
    bucket = record["requestParameters"]["bucketName"]
    _bucket(remediation, bucket, {EXEMPT_TAG: "False"})
    result = remediation.run(finding_of(record, "s3.public-access-block-removed"), record)
    assert result.status is Status.SKIPPED and remediation.recorder.writes() == []


# -- cloudtrail.logging-stopped -----------------------------------------------------------------


def _trail(world: Remediation, tags: dict[str, str] | None = None) -> tuple[Any, Record]:
    _bucket(world, "acme-trail-logs")
    cloudtrail = world.aws.client("cloudtrail")
    trail = cloudtrail.create_trail(
        Name="org-audit",
        S3BucketName="acme-trail-logs",
        TagsList=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )["TrailARN"]
    cloudtrail.start_logging(Name=trail)
    cloudtrail.stop_logging(Name=trail)
    return cloudtrail, event_record("cloudtrail/stop_logging.json", lambda r: r["requestParameters"].update(name=trail))


def test_cloudtrail_logging_is_started_again(remediation: Remediation) -> None:
    cloudtrail, record = _trail(remediation)
    name = record["requestParameters"]["name"]

    def logging() -> bool:
        return bool(cloudtrail.get_trail_status(Name=name)["IsLogging"])

    def fixed() -> None:
        assert logging()

    def broken() -> None:
        assert not logging()

    assert_cycle(remediation, record, "cloudtrail.logging-stopped", fixed, broken)
    assert declared("cloudtrail.logging-stopped") == set(remediation.recorder.calls)


def test_cloudtrail_exempt_trail_stays_stopped(remediation: Remediation) -> None:
    cloudtrail, record = _trail(remediation, {EXEMPT_TAG: "false"})
    result = remediation.run(finding_of(record, "cloudtrail.logging-stopped"), record)
    assert result.status is Status.SKIPPED
    assert not cloudtrail.get_trail_status(Name=record["requestParameters"]["name"])["IsLogging"]


# -- rds.instance-public ------------------------------------------------------------------------


def _instance(world: Remediation, tags: dict[str, str] | None = None) -> tuple[Any, Record]:
    rds = world.aws.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="dbadmin",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=50,
        PubliclyAccessible=True,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {"team": "orders"}).items()],
    )
    return rds, event_record("rds/modify_db_instance_public.json")


def test_rds_instance_is_made_private_and_nothing_else_changes(remediation: Remediation) -> None:
    rds, record = _instance(remediation)

    def described() -> dict[str, Any]:
        (instance,) = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
        return dict(instance)

    before = described()

    def fixed() -> None:
        after = described()
        assert after["PubliclyAccessible"] is False
        unchanged = ("DBInstanceClass", "Engine", "AllocatedStorage", "MasterUsername", "VpcSecurityGroups")
        assert {k: after.get(k) for k in unchanged} == {k: before.get(k) for k in unchanged}

    def broken() -> None:
        assert described()["PubliclyAccessible"] is True

    assert_cycle(remediation, record, "rds.instance-public", fixed, broken)
    assert declared("rds.instance-public") == set(remediation.recorder.calls)


def test_rds_instance_exempt(remediation: Remediation) -> None:
    rds, record = _instance(remediation, {EXEMPT_TAG: "false"})
    result = remediation.run(finding_of(record, "rds.instance-public"), record)
    assert result.status is Status.SKIPPED
    assert rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["PubliclyAccessible"]


def test_the_text_of_a_planned_call_is_json_of_its_parameters(remediation: Remediation) -> None:
    group, _kept, opened, record = _open_group(remediation)
    planned = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record, "dry-run")
    assert f"GroupId={json.dumps(group)}" in planned.text and f'SecurityGroupRuleIds=["{opened}"]' in planned.text


# -- s3.bucket-policy-public / s3.bucket-acl-public ---------------------------------------------

ORG_STATEMENT = {
    "Sid": "OrgRead",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reporting"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::acme-reports/*",
}


def test_s3_policy_loses_only_its_public_statement(remediation: Remediation) -> None:
    record = event_record("s3/put_bucket_policy_public_get_object.json")
    s3 = _bucket(remediation, "acme-reports")
    public = record["requestParameters"]["bucketPolicy"]["Statement"][0]
    s3.put_bucket_policy(
        Bucket="acme-reports", Policy=json.dumps({"Version": "2012-10-17", "Statement": [ORG_STATEMENT, public]})
    )

    def statements() -> list[dict[str, Any]]:
        return list(json.loads(s3.get_bucket_policy(Bucket="acme-reports")["Policy"])["Statement"])

    def fixed() -> None:
        assert [s["Sid"] for s in statements()] == ["OrgRead"]

    def broken() -> None:
        assert [s["Sid"] for s in statements()] == ["OrgRead", "PublicRead"]

    finding = finding_of(record, "s3.bucket-policy-public")
    planned = remediation.run(finding, record, "dry-run")
    assert json.loads(planned.removed) == [public]  # the history keeps the exact statement removed
    assert_cycle(remediation, record, "s3.bucket-policy-public", fixed, broken)


def test_s3_policy_all_public_is_deleted(remediation: Remediation) -> None:
    record = event_record("s3/put_bucket_policy_public_get_object.json")
    s3 = _bucket(remediation, "acme-reports")
    s3.put_bucket_policy(Bucket="acme-reports", Policy=json.dumps(record["requestParameters"]["bucketPolicy"]))

    def fixed() -> None:
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket="acme-reports")

    assert_cli_fixes(remediation, record, "s3.bucket-policy-public", fixed)
    assert set(remediation.recorder.calls) <= declared("s3.bucket-policy-public")


def test_s3_acl_loses_only_its_public_grants(remediation: Remediation) -> None:
    record = event_record("s3/put_bucket_acl_allusers_read.json")
    s3 = _bucket(remediation, "acme-reports")
    owner = s3.get_bucket_acl(Bucket="acme-reports")["Owner"]
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    grants = [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": log_delivery, "Permission": "WRITE"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"},
    ]
    s3.put_bucket_acl(Bucket="acme-reports", AccessControlPolicy={"Grants": grants, "Owner": owner})

    def grantees() -> list[str]:
        found = s3.get_bucket_acl(Bucket="acme-reports")["Grants"]
        return sorted(g["Grantee"].get("URI") or g["Grantee"].get("ID", "") for g in found)

    def fixed() -> None:
        assert grantees() == sorted([owner["ID"], log_delivery["URI"]])

    def broken() -> None:
        assert "http://acs.amazonaws.com/groups/global/AllUsers" in grantees()

    assert_cycle(remediation, record, "s3.bucket-acl-public", fixed, broken)
    assert declared("s3.bucket-acl-public") == set(remediation.recorder.calls)


# -- ec2.snapshot-public / ec2.ami-public -------------------------------------------------------


def _snapshot(world: Remediation, tags: dict[str, str] | None = None) -> tuple[Any, str, Record]:
    ec2 = world.aws.client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    if tags:
        ec2.create_tags(Resources=[snapshot], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    # Shared with a trusted partner before; the event made it public.
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=["444455556666"]
    )
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    record = event_record(
        "ec2/modify_snapshot_public.json", lambda r: r["requestParameters"].update(snapshotId=snapshot)
    )
    return ec2, snapshot, record


def test_ec2_snapshot_public_permission_goes_and_the_partner_stays(remediation: Remediation) -> None:
    ec2, snapshot, record = _snapshot(remediation)

    def permissions() -> list[dict[str, str]]:
        found = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
        return sorted(found["CreateVolumePermissions"], key=json.dumps)

    def fixed() -> None:
        assert permissions() == [{"UserId": "444455556666"}]

    def broken() -> None:
        assert {"Group": "all"} in permissions()

    assert_cycle(remediation, record, "ec2.snapshot-public", fixed, broken)
    assert declared("ec2.snapshot-public") == set(remediation.recorder.calls)


def test_ec2_snapshot_exempt(remediation: Remediation) -> None:
    ec2, snapshot, record = _snapshot(remediation, {EXEMPT_TAG: "false"})
    assert remediation.run(finding_of(record, "ec2.snapshot-public"), record).status is Status.SKIPPED
    found = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
    assert {"Group": "all"} in found["CreateVolumePermissions"]


def test_ec2_ami_public_launch_permission_goes(remediation: Remediation) -> None:
    ec2 = remediation.aws.client("ec2")
    reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    instance = reservation["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name="golden")["ImageId"]
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    record = event_record("ec2/modify_image_public.json", lambda r: r["requestParameters"].update(imageId=image))

    def permissions() -> list[dict[str, str]]:
        return list(ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"])

    def fixed() -> None:
        assert permissions() == []

    def broken() -> None:
        assert permissions() == [{"Group": "all"}]

    assert_cycle(remediation, record, "ec2.ami-public", fixed, broken)
    assert declared("ec2.ami-public") == set(remediation.recorder.calls)


# -- rds.snapshot-public ------------------------------------------------------------------------


def test_rds_snapshot_loses_all_and_keeps_the_trusted_account(remediation: Remediation) -> None:
    rds, _record = _instance(remediation)
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="orders-db-2026-03-09")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="orders-db-2026-03-09", AttributeName="restore", ValuesToAdd=["444455556666", "all"]
    )
    record = event_record("rds/modify_db_snapshot_attribute_public.json")

    def values() -> list[str]:
        result = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier="orders-db-2026-03-09")
        (attribute,) = result["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
        return sorted(attribute["AttributeValues"])

    def fixed() -> None:
        assert values() == ["444455556666"]  # shared before the event, and not by it: kept

    def broken() -> None:
        assert values() == ["444455556666", "all"]

    assert_cycle(remediation, record, "rds.snapshot-public", fixed, broken)


# -- lambda.permission-public / lambda.function-url-public ----------------------------------------


def _function(world: Remediation, name: str, tags: dict[str, str] | None = None) -> Any:
    import io
    import zipfile

    iam = world.aws.client("iam")
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    client = world.aws.client("lambda")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Tags=tags or {"team": "billing"},
    )
    return client


def test_lambda_public_permission_is_removed_and_the_others_stay(remediation: Remediation) -> None:
    client = _function(remediation, "billing-export")
    client.add_permission(
        FunctionName="billing-export",
        StatementId="events-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly",
    )
    client.add_permission(
        FunctionName="billing-export", StatementId="invoke-any", Action="lambda:InvokeFunction", Principal="*"
    )
    record = event_record("lambda/add_permission_public.json")

    def sids() -> list[str]:
        return sorted(
            s["Sid"] for s in json.loads(client.get_policy(FunctionName="billing-export")["Policy"])["Statement"]
        )

    def fixed() -> None:
        assert sids() == ["events-rule"]

    def broken() -> None:
        assert sids() == ["events-rule", "invoke-any"]

    assert_cycle(remediation, record, "lambda.permission-public", fixed, broken)
    assert declared("lambda.permission-public") == set(remediation.recorder.calls)


def test_lambda_permission_exempt(remediation: Remediation) -> None:
    client = _function(remediation, "billing-export", {EXEMPT_TAG: "false"})
    client.add_permission(
        FunctionName="billing-export", StatementId="invoke-any", Action="lambda:InvokeFunction", Principal="*"
    )
    record = event_record("lambda/add_permission_public.json")
    assert remediation.run(finding_of(record, "lambda.permission-public"), record).status is Status.SKIPPED
    assert "invoke-any" in client.get_policy(FunctionName="billing-export")["Policy"]


def test_lambda_function_url_requires_iam(remediation: Remediation) -> None:
    client = _function(remediation, "webhook-receiver")
    client.create_function_url_config(FunctionName="webhook-receiver", AuthType="NONE")
    record = event_record("lambda/create_function_url_none.json")

    def auth() -> str:
        return str(client.get_function_url_config(FunctionName="webhook-receiver")["AuthType"])

    def fixed() -> None:
        assert auth() == "AWS_IAM"

    def broken() -> None:
        assert auth() == "NONE"

    assert_cycle(remediation, record, "lambda.function-url-public", fixed, broken)
    assert declared("lambda.function-url-public") == set(remediation.recorder.calls)


# -- iam.access-key-created ---------------------------------------------------------------------


def _user_with_key(world: Remediation, user: str, tags: dict[str, str] | None = None) -> tuple[Any, str, str]:
    iam = world.aws.client("iam")
    iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    old = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    new = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return iam, old, new


def test_iam_key_for_another_user_is_deactivated_not_deleted(remediation: Remediation) -> None:
    iam, old, new = _user_with_key(remediation, "backup-operator")
    record = event_record(
        "iam/create_access_key_other_user.json", lambda r: r["responseElements"]["accessKey"].update(accessKeyId=new)
    )

    def statuses() -> dict[str, str]:
        keys = iam.list_access_keys(UserName="backup-operator")["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in keys}

    def fixed() -> None:
        assert statuses() == {old: "Active", new: "Inactive"}  # still there, and the older key untouched

    def broken() -> None:
        assert statuses() == {old: "Active", new: "Active"}

    assert_cycle(remediation, record, "iam.access-key-created", fixed, broken)
    assert declared("iam.access-key-created") == set(remediation.recorder.calls)


def test_iam_own_key_and_root_key_are_not_touched(remediation: Remediation) -> None:
    for name, why in (
        ("iam/create_access_key_own.json", "not the suspicious kind"),
        ("iam/create_access_key_root.json", "only by root"),
    ):
        record = event_record(name)
        result = remediation.run(finding_of(record, "iam.access-key-created"), record)
        assert result.status is Status.NOTHING and why in result.text, result
    assert remediation.recorder.calls == []


def test_iam_key_exempt_user(remediation: Remediation) -> None:
    iam, _old, new = _user_with_key(remediation, "backup-operator", {EXEMPT_TAG: "false"})
    record = event_record(
        "iam/create_access_key_other_user.json", lambda r: r["responseElements"]["accessKey"].update(accessKeyId=new)
    )
    assert remediation.run(finding_of(record, "iam.access-key-created"), record).status is Status.SKIPPED
    keys = iam.list_access_keys(UserName="backup-operator")["AccessKeyMetadata"]
    assert {k["Status"] for k in keys} == {"Active"}


# -- wave 2: queue, topic, secret and repository policies made public ------------------------------


def _two_statement_policy(public: dict[str, Any], arn: str, kept_principal: str) -> tuple[str, dict[str, Any]]:
    kept = {
        "Sid": "Own",
        "Effect": "Allow",
        "Principal": {"AWS": kept_principal},
        "Action": public["Action"],
        "Resource": arn,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [kept, public]}), kept


def test_sqs_queue_loses_its_public_statement(remediation: Remediation) -> None:
    record = event_record("sqs/set_queue_attributes_public.json")
    sqs = remediation.aws.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    record["requestParameters"]["queueUrl"] = url
    public = json.loads(record["requestParameters"]["attributes"]["Policy"])["Statement"][0]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    text, kept = _two_statement_policy(public, arn, f"arn:aws:iam::{ACCOUNT}:role/orders-worker")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": text})

    def statements() -> list[dict[str, Any]]:
        return list(
            json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])[
                "Statement"
            ]
        )

    def fixed() -> None:
        assert statements() == [kept]

    def broken() -> None:
        assert len(statements()) == 2

    assert_cycle(remediation, record, "sqs.queue-policy-public", fixed, broken)
    assert declared("sqs.queue-policy-public") == set(remediation.recorder.calls)


def test_sns_topic_loses_its_public_statement(remediation: Remediation) -> None:
    record = event_record("sns/set_topic_attributes_public.json")
    sns = remediation.aws.client("sns")
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    public = json.loads(record["requestParameters"]["attributeValue"])["Statement"][0]
    text, kept = _two_statement_policy(public, arn, f"arn:aws:iam::{ACCOUNT}:role/alerting")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=text)

    def statements() -> list[dict[str, Any]]:
        return list(json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"])

    def fixed() -> None:
        assert statements() == [kept]

    def broken() -> None:
        assert len(statements()) == 2

    assert_cycle(remediation, record, "sns.topic-policy-public", fixed, broken)
    assert declared("sns.topic-policy-public") == set(remediation.recorder.calls)


def test_secret_loses_its_public_policy(remediation: Remediation) -> None:
    record = event_record("secretsmanager/put_resource_policy_public.json")
    secrets = remediation.aws.client("secretsmanager")
    secrets.create_secret(Name="prod/db/admin", SecretString="not-a-real-secret")
    secrets.put_resource_policy(SecretId="prod/db/admin", ResourcePolicy=record["requestParameters"]["resourcePolicy"])

    def policy() -> str:
        return str(secrets.get_resource_policy(SecretId="prod/db/admin").get("ResourcePolicy") or "")

    def fixed() -> None:
        assert policy() == ""

    def broken() -> None:
        assert "secretsmanager:GetSecretValue" in policy()

    assert_cycle(remediation, record, "secretsmanager.policy-public", fixed, broken)


def test_ecr_repository_loses_its_public_statement(remediation: Remediation) -> None:
    record = event_record("ecr/set_repository_policy_public.json")
    ecr = remediation.aws.client("ecr")
    ecr.create_repository(repositoryName="payments-api", tags=[{"Key": "team", "Value": "payments"}])
    public = json.loads(record["requestParameters"]["policyText"])["Statement"][0]
    kept = {
        "Sid": "CiPush",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"},
        "Action": ["ecr:PutImage"],
    }
    ecr.set_repository_policy(
        repositoryName="payments-api", policyText=json.dumps({"Version": "2012-10-17", "Statement": [kept, public]})
    )

    def sids() -> list[str]:
        text = ecr.get_repository_policy(repositoryName="payments-api")["policyText"]
        return [s["Sid"] for s in json.loads(text)["Statement"]]

    def fixed() -> None:
        assert sids() == ["CiPush"]

    def broken() -> None:
        assert sids() == ["CiPush", "PublicPull"]

    assert_cycle(remediation, record, "ecr.repository-public", fixed, broken)


def test_without_the_rate_limits_count_nothing_is_done(
    remediation: Remediation, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, _kept, opened, record = _open_group(remediation)

    def broken_tally(*_args: Any) -> Any:
        raise RuntimeError("table throttled")

    monkeypatch.setattr(remediation.state, "tally", broken_tally)
    result = remediation.run(finding_of(record, "sg.ingress-open-to-world"), record)
    assert result.status is Status.SKIPPED and "rate limit's count is unavailable (RuntimeError)" in result.text
    assert opened in _ingress_ids(remediation, group) and remediation.recorder.writes() == []


def test_the_rate_limit_counts_per_account(remediation: Remediation) -> None:
    first_group, _k, first, first_record = _open_group(remediation)
    second_group, _k2, second, second_record = _open_group(remediation)
    second_record["eventID"] = second_record["eventID"][:-1] + "9"
    outcomes = [
        remediation.run(finding_of(record, "sg.ingress-open-to-world"), record, remediation_max_per_hour=1).status
        for record in (first_record, second_record)
    ]
    assert outcomes == [Status.DONE, Status.SKIPPED]
    assert first not in _ingress_ids(remediation, first_group) and second in _ingress_ids(remediation, second_group)
