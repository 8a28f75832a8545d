"""One home for every remediation action's test resource: a builder per action puts the resource in
AWS (moto in-process or moto's server, as the ``fake_aws`` fixture gives) in the broken state its
event describes, with what the event did not touch beside it, and says how to tell fixed from broken.

The action tests (tests/test_remediation_actions.py) take each one through dry-run, the CLI, apply and
a second run; the Lambda tests (tests/test_remediation_lambda_actions.py) through ``lambda_handler``.
``tags`` tags the resource (``{EXEMPT_TAG: "false"}`` for the exempt case); the account-level Block
Public Access setting has no tags (``taggable=False``).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from trailguard.services.remediation.base import ACTIONS
from trailguard.services.remediation.runner import Status

from .remediation_world import ACCOUNT, Record, Remediation, event_record, finding_of

REGION = "eu-west-1"
PARTNER = "444455556666"  # shared with before the event, and not by it: kept
Tags = dict[str, str] | None
Check = Callable[[], None]


class Scenario(NamedTuple):
    rule_id: str
    record: Record
    fixed: Check  # raises AssertionError unless the action's fix is in place and nothing else changed
    broken: Check  # raises AssertionError unless the resource is as the event left it


@dataclass(frozen=True)
class Setup:
    rule_id: str
    build: Callable[[Remediation, Tags], Scenario]
    taggable: bool = True
    # The cycle calls every permission the action declares (not only a subset).
    exact: bool = False


SCENARIOS: dict[str, Setup] = {}


def scenario(
    name: str, rule_id: str, *, taggable: bool = True, exact: bool = False
) -> Callable[[Callable[[Remediation, Tags], Scenario]], Callable[[Remediation, Tags], Scenario]]:
    def register(build: Callable[[Remediation, Tags], Scenario]) -> Callable[[Remediation, Tags], Scenario]:
        SCENARIOS[name] = Setup(rule_id, build, taggable, exact)
        return build

    return register


def tag_list(tags: Tags, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in (tags or {}).items()]


def declared(rule_id: str) -> set[str]:
    return set(ACTIONS[rule_id].permissions)


# -- the cycles -----------------------------------------------------------------------------------


def assert_cycle(world: Remediation, found: Scenario) -> None:
    """dry-run (nothing changes), apply (fixed), apply again (no write), all within the declared permissions."""
    rule_id, record, check_fixed, check_broken = found
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


def assert_cli_fixes(world: Remediation, record: Record, rule_id: str, check_fixed: Check) -> None:
    """``trailguard remediate --apply`` alone fixes it (exit 0), and a second run is a no-op."""
    code, output = world.cli(record, rule_id, "apply", "--apply")
    assert code == 0 and "[apply] done: Remediated: " in output, output
    check_fixed()
    writes = len(world.recorder.writes())
    code, output = world.cli(record, rule_id, "apply", "--apply")
    assert code == 0 and "[apply] nothing: " in output, output
    assert len(world.recorder.writes()) == writes


# -- sg.ingress-open-to-world ---------------------------------------------------------------------


def open_group(world: Remediation, tags: Tags = None) -> tuple[str, str, str, Record]:
    """A group with a restricted rule the event did not add, and the world-open RDP rule it did."""
    ec2 = world.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    if tags:
        ec2.create_tags(Resources=[group], Tags=tag_list(tags))
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


def ingress_ids(world: Remediation, group: str) -> set[str]:
    rules = world.aws.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]}


@scenario("sg", "sg.ingress-open-to-world", exact=True)
def _sg(world: Remediation, tags: Tags) -> Scenario:
    group, kept, opened, record = open_group(world, tags)
    before = ingress_ids(world, group)
    assert {kept, opened} <= before

    def fixed() -> None:
        assert ingress_ids(world, group) == before - {opened}  # the restricted SSH rule survives

    def broken() -> None:
        assert ingress_ids(world, group) == before

    return Scenario("sg.ingress-open-to-world", record, fixed, broken)


# -- s3 ---------------------------------------------------------------------------------------------


def bucket(world: Remediation, name: str, tags: Tags = None) -> Any:
    s3 = world.aws.client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
    return s3


FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@scenario("s3-bucket-block-off", "s3.public-access-block-removed")
def _s3_bucket_block_off(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("s3/put_bucket_public_access_block_all_false.json")
    name = record["requestParameters"]["bucketName"]
    s3 = bucket(world, name, tags)
    off = dict.fromkeys(FLAGS, False)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=off)

    def flags() -> dict[str, bool]:
        return dict(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"])

    def fixed() -> None:
        assert flags() == dict.fromkeys(FLAGS, True)

    def broken() -> None:
        assert flags() == off

    return Scenario("s3.public-access-block-removed", record, fixed, broken)


@scenario("s3-bucket-block-deleted", "s3.public-access-block-removed")
def _s3_bucket_block_deleted(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("s3/delete_bucket_public_access_block.json")
    name = record["requestParameters"]["bucketName"]
    s3 = bucket(world, name, tags)

    def fixed() -> None:
        configuration = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(configuration.values()) and len(configuration) == 4

    def broken() -> None:
        with pytest.raises(s3.exceptions.ClientError):
            s3.get_public_access_block(Bucket=name)

    return Scenario("s3.public-access-block-removed", record, fixed, broken)


@scenario("s3-account-block-off", "s3.public-access-block-removed", taggable=False)
def _s3_account_block_off(world: Remediation, tags: Tags) -> Scenario:
    assert tags is None, "an account's Block Public Access setting has no tags"
    record = event_record("s3/put_account_public_access_block_off.json")
    control = world.aws.client("s3control")
    configuration = record["requestParameters"]["PublicAccessBlockConfiguration"]
    control.put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={k: v for k, v in configuration.items() if k != "xmlns"}
    )

    def flags() -> dict[str, bool]:
        return dict(control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"])

    def fixed() -> None:
        assert flags() == dict.fromkeys(FLAGS, True)

    def broken() -> None:
        assert flags()["BlockPublicPolicy"] is False

    return Scenario("s3.public-access-block-removed", record, fixed, broken)


ORG_STATEMENT = {
    "Sid": "OrgRead",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reporting"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::acme-reports/*",
}


@scenario("s3-policy", "s3.bucket-policy-public")
def _s3_policy(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("s3/put_bucket_policy_public_get_object.json")
    s3 = bucket(world, "acme-reports", tags)
    public = record["requestParameters"]["bucketPolicy"]["Statement"][0]
    s3.put_bucket_policy(
        Bucket="acme-reports", Policy=json.dumps({"Version": "2012-10-17", "Statement": [ORG_STATEMENT, public]})
    )

    def sids() -> list[str]:
        return [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket="acme-reports")["Policy"])["Statement"]]

    def fixed() -> None:
        assert sids() == ["OrgRead"]

    def broken() -> None:
        assert sids() == ["OrgRead", "PublicRead"]

    return Scenario("s3.bucket-policy-public", record, fixed, broken)


@scenario("s3-acl", "s3.bucket-acl-public", exact=True)
def _s3_acl(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("s3/put_bucket_acl_allusers_read.json")
    s3 = bucket(world, "acme-reports", tags)
    owner = s3.get_bucket_acl(Bucket="acme-reports")["Owner"]
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    all_users = "http://acs.amazonaws.com/groups/global/AllUsers"
    grants = [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": log_delivery, "Permission": "WRITE"},
        {"Grantee": {"Type": "Group", "URI": all_users}, "Permission": "READ"},
    ]
    s3.put_bucket_acl(Bucket="acme-reports", AccessControlPolicy={"Grants": grants, "Owner": owner})

    def grantees() -> list[str]:
        found = s3.get_bucket_acl(Bucket="acme-reports")["Grants"]
        return sorted(g["Grantee"].get("URI") or g["Grantee"].get("ID", "") for g in found)

    def fixed() -> None:
        assert grantees() == sorted([owner["ID"], log_delivery["URI"]])

    def broken() -> None:
        assert all_users in grantees()

    return Scenario("s3.bucket-acl-public", record, fixed, broken)


# -- cloudtrail.logging-stopped ---------------------------------------------------------------------


@scenario("cloudtrail", "cloudtrail.logging-stopped", exact=True)
def _cloudtrail(world: Remediation, tags: Tags) -> Scenario:
    bucket(world, "acme-trail-logs")
    cloudtrail = world.aws.client("cloudtrail")
    trail = cloudtrail.create_trail(Name="org-audit", S3BucketName="acme-trail-logs", TagsList=tag_list(tags))[
        "TrailARN"
    ]
    cloudtrail.start_logging(Name=trail)
    cloudtrail.stop_logging(Name=trail)
    record = event_record("cloudtrail/stop_logging.json", lambda r: r["requestParameters"].update(name=trail))

    def fixed() -> None:
        assert cloudtrail.get_trail_status(Name=trail)["IsLogging"] is True

    def broken() -> None:
        assert cloudtrail.get_trail_status(Name=trail)["IsLogging"] is False

    return Scenario("cloudtrail.logging-stopped", record, fixed, broken)


# -- rds --------------------------------------------------------------------------------------------


def db_instance(world: Remediation, tags: Tags = None) -> Any:
    rds = world.aws.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="dbadmin",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=50,
        PubliclyAccessible=True,
        Tags=tag_list(tags or {"team": "orders"}),
    )
    return rds


@scenario("rds-instance", "rds.instance-public", exact=True)
def _rds_instance(world: Remediation, tags: Tags) -> Scenario:
    rds = db_instance(world, tags)
    record = event_record("rds/modify_db_instance_public.json")

    def described() -> dict[str, Any]:
        (instance,) = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
        return dict(instance)

    unchanged = ("DBInstanceClass", "Engine", "AllocatedStorage", "MasterUsername", "VpcSecurityGroups")
    before = {k: described().get(k) for k in unchanged}

    def fixed() -> None:
        after = described()
        assert after["PubliclyAccessible"] is False
        assert {k: after.get(k) for k in unchanged} == before

    def broken() -> None:
        assert described()["PubliclyAccessible"] is True

    return Scenario("rds.instance-public", record, fixed, broken)


@scenario("rds-snapshot", "rds.snapshot-public")
def _rds_snapshot(world: Remediation, tags: Tags) -> Scenario:
    rds = db_instance(world)
    name = "orders-db-2026-03-09"
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier=name, Tags=tag_list(tags))
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=[PARTNER, "all"])
    record = event_record("rds/modify_db_snapshot_attribute_public.json")

    def values() -> list[str]:
        result = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=name)
        (attribute,) = result["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
        return sorted(attribute["AttributeValues"])

    def fixed() -> None:
        assert values() == [PARTNER]

    def broken() -> None:
        assert values() == [PARTNER, "all"]

    return Scenario("rds.snapshot-public", record, fixed, broken)


# -- ec2 snapshots and images -----------------------------------------------------------------------


@scenario("ec2-snapshot", "ec2.snapshot-public", exact=True)
def _ec2_snapshot(world: Remediation, tags: Tags) -> Scenario:
    ec2 = world.aws.client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    if tags:
        ec2.create_tags(Resources=[snapshot], Tags=tag_list(tags))
    for who in ({"UserIds": [PARTNER]}, {"GroupNames": ["all"]}):
        ec2.modify_snapshot_attribute(
            SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", **who
        )
    record = event_record(
        "ec2/modify_snapshot_public.json", lambda r: r["requestParameters"].update(snapshotId=snapshot)
    )

    def permissions() -> list[dict[str, str]]:
        found = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
        return sorted(found["CreateVolumePermissions"], key=json.dumps)

    def fixed() -> None:
        assert permissions() == [{"UserId": PARTNER}]

    def broken() -> None:
        assert {"Group": "all"} in permissions()

    return Scenario("ec2.snapshot-public", record, fixed, broken)


@scenario("ec2-ami", "ec2.ami-public", exact=True)
def _ec2_ami(world: Remediation, tags: Tags) -> Scenario:
    ec2 = world.aws.client("ec2")
    reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    image = ec2.create_image(InstanceId=reservation["Instances"][0]["InstanceId"], Name="golden")["ImageId"]
    if tags:
        ec2.create_tags(Resources=[image], Tags=tag_list(tags))
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    record = event_record("ec2/modify_image_public.json", lambda r: r["requestParameters"].update(imageId=image))

    def permissions() -> list[dict[str, str]]:
        return list(ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"])

    def fixed() -> None:
        assert permissions() == []

    def broken() -> None:
        assert permissions() == [{"Group": "all"}]

    return Scenario("ec2.ami-public", record, fixed, broken)


# -- lambda -----------------------------------------------------------------------------------------


def function(world: Remediation, name: str, tags: Tags = None) -> Any:
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


@scenario("lambda-permission", "lambda.permission-public", exact=True)
def _lambda_permission(world: Remediation, tags: Tags) -> Scenario:
    client = function(world, "billing-export", tags)
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
        policy = json.loads(client.get_policy(FunctionName="billing-export")["Policy"])
        return sorted(s["Sid"] for s in policy["Statement"])

    def fixed() -> None:
        assert sids() == ["events-rule"]

    def broken() -> None:
        assert sids() == ["events-rule", "invoke-any"]

    return Scenario("lambda.permission-public", record, fixed, broken)


@scenario("lambda-url", "lambda.function-url-public", exact=True)
def _lambda_url(world: Remediation, tags: Tags) -> Scenario:
    client = function(world, "webhook-receiver", tags)
    client.create_function_url_config(FunctionName="webhook-receiver", AuthType="NONE")
    record = event_record("lambda/create_function_url_none.json")

    def auth() -> str:
        return str(client.get_function_url_config(FunctionName="webhook-receiver")["AuthType"])

    def fixed() -> None:
        assert auth() == "AWS_IAM"

    def broken() -> None:
        assert auth() == "NONE"

    return Scenario("lambda.function-url-public", record, fixed, broken)


# -- iam.access-key-created -------------------------------------------------------------------------


def user_with_keys(world: Remediation, user: str, tags: Tags = None) -> tuple[Any, str, str]:
    iam = world.aws.client("iam")
    iam.create_user(UserName=user, Tags=tag_list(tags))
    old = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    new = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return iam, old, new


@scenario("iam-key", "iam.access-key-created", exact=True)
def _iam_key(world: Remediation, tags: Tags) -> Scenario:
    iam, old, new = user_with_keys(world, "backup-operator", tags)
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

    return Scenario("iam.access-key-created", record, fixed, broken)


# -- wave 2: queue, topic, secret and repository policies made public --------------------------------


def two_statement_policy(public: dict[str, Any], arn: str, kept_principal: str) -> tuple[str, dict[str, Any]]:
    kept = {
        "Sid": "Own",
        "Effect": "Allow",
        "Principal": {"AWS": kept_principal},
        "Action": public["Action"],
        "Resource": arn,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [kept, public]}), kept


@scenario("sqs", "sqs.queue-policy-public", exact=True)
def _sqs(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("sqs/set_queue_attributes_public.json")
    sqs = world.aws.client("sqs")
    url = sqs.create_queue(QueueName="orders", tags=tags or {})["QueueUrl"]
    record["requestParameters"]["queueUrl"] = url
    public = json.loads(record["requestParameters"]["attributes"]["Policy"])["Statement"][0]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    text, kept = two_statement_policy(public, arn, f"arn:aws:iam::{ACCOUNT}:role/orders-worker")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": text})

    def statements() -> list[dict[str, Any]]:
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        return list(json.loads(policy)["Statement"])

    def fixed() -> None:
        assert statements() == [kept]

    def broken() -> None:
        assert len(statements()) == 2

    return Scenario("sqs.queue-policy-public", record, fixed, broken)


@scenario("sns", "sns.topic-policy-public", exact=True)
def _sns(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("sns/set_topic_attributes_public.json")
    sns = world.aws.client("sns")
    arn = sns.create_topic(Name="alerts", Tags=tag_list(tags))["TopicArn"]
    public = json.loads(record["requestParameters"]["attributeValue"])["Statement"][0]
    text, kept = two_statement_policy(public, arn, f"arn:aws:iam::{ACCOUNT}:role/alerting")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=text)

    def statements() -> list[dict[str, Any]]:
        return list(json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"])

    def fixed() -> None:
        assert statements() == [kept]

    def broken() -> None:
        assert len(statements()) == 2

    return Scenario("sns.topic-policy-public", record, fixed, broken)


@scenario("secret", "secretsmanager.policy-public")
def _secret(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("secretsmanager/put_resource_policy_public.json")
    secrets = world.aws.client("secretsmanager")
    secrets.create_secret(Name="prod/db/admin", SecretString="not-a-real-secret", Tags=tag_list(tags))
    secrets.put_resource_policy(SecretId="prod/db/admin", ResourcePolicy=record["requestParameters"]["resourcePolicy"])

    def policy() -> str:
        return str(secrets.get_resource_policy(SecretId="prod/db/admin").get("ResourcePolicy") or "")

    def fixed() -> None:
        assert policy() == ""

    def broken() -> None:
        assert "secretsmanager:GetSecretValue" in policy()

    return Scenario("secretsmanager.policy-public", record, fixed, broken)


@scenario("ecr", "ecr.repository-public")
def _ecr(world: Remediation, tags: Tags) -> Scenario:
    record = event_record("ecr/set_repository_policy_public.json")
    ecr = world.aws.client("ecr")
    ecr.create_repository(repositoryName="payments-api", tags=tag_list(tags or {"team": "payments"}))
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

    return Scenario("ecr.repository-public", record, fixed, broken)


TAGGABLE = [name for name, setup in SCENARIOS.items() if setup.taggable]
