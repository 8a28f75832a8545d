"""``trailguard remediate``: in-process against moto, and as a separate process against a moto server
on 127.0.0.1 (``AWS_ENDPOINT_URL``), for a representative set of actions: the exit codes, the plan
printed, ``--apply`` acting only for rules set to ``apply``, and the second run a no-op."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .remediation_world import ACCOUNT, Remediation, event_record, remediation
from .test_remediation_actions import _ingress_ids, _open_group, assert_cli_fixes

__all__ = ["remediation"]
RULE = "sg.ingress-open-to-world"


def test_the_cli_alone_fixes_and_the_second_run_does_nothing(remediation: Remediation) -> None:
    group, kept, _opened, record = _open_group(remediation)

    def fixed() -> None:
        assert _ingress_ids(remediation, group) == {kept}

    assert_cli_fixes(remediation, record, RULE, fixed)


def test_a_failed_action_exits_2_and_says_why(remediation: Remediation, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from trailguard.utils.aws_helpers import AwsClients

    group, _kept, opened, record = _open_group(remediation)
    made = AwsClients.client

    def refuse(model: Any, **_kwargs: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, model.name)

    def refusing(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = made(self, service, region)
        if self is not remediation.aws:
            client.meta.events.register("before-call.*.*", refuse, unique_id="refuse")
        return client

    monkeypatch.setattr(AwsClients, "client", refusing)
    code, output = remediation.cli(record, RULE, "apply", "--apply")
    assert code == 2
    assert "[apply] failed: Remediation failed: AccessDenied on ec2 RevokeSecurityGroupIngress" in output
    assert opened in _ingress_ids(remediation, group)


def test_nothing_turned_on_is_nothing_to_do(remediation: Remediation) -> None:
    _group, _kept, _opened, record = _open_group(remediation)
    code, output = remediation.cli(record, RULE, "off", "--apply")
    assert code == 0 and "sets no rule to dry-run or apply" in output
    assert remediation.recorder.calls == []


def test_the_rate_limit_is_kept_in_the_state_file_across_runs(remediation: Remediation, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    first_group, kept, first, first_record = _open_group(remediation)
    second_group, _kept, second, second_record = _open_group(remediation)
    second_record["eventID"] = second_record["eventID"][:-1] + "9"
    config = tmp_path / "limit.toml"
    config.write_text(f'remediation_max_per_hour = 1\n[remediation]\n"{RULE}" = "apply"\n', encoding="utf-8")
    from trailguard import cli

    for record in (first_record, second_record):
        events = tmp_path / f"{record['eventID']}.json"
        events.write_text(json.dumps({"Records": [record]}), encoding="utf-8")
        assert cli.main(["remediate", str(events), "--config", str(config), "--apply", "--state", str(state)]) == 0
    assert _ingress_ids(remediation, first_group) == {kept}
    assert second in _ingress_ids(remediation, second_group)
    assert first not in _ingress_ids(remediation, first_group)


# -- a separate process, against a moto server ------------------------------------------------------


@pytest.fixture
def moto_server(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _run(endpoint: str, tmp_path: Path, rule_id: str, record: dict[str, Any], *flags: str) -> tuple[int, str]:
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [record]}), encoding="utf-8")
    config = tmp_path / "trailguard.toml"
    config.write_text(f'[remediation]\n"{rule_id}" = "apply"\n', encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    env["AWS_ENDPOINT_URL"] = endpoint
    done = subprocess.run(
        [sys.executable, "-m", "trailguard", "remediate", str(events), "--config", str(config), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _clients(endpoint: str) -> Any:
    return lambda service: boto3.client(service, region_name="eu-west-1", endpoint_url=endpoint)


def test_against_a_moto_server_sg_and_cloudtrail_and_s3_and_rds(moto_server: str, tmp_path: Path) -> None:
    client = _clients(moto_server)
    # Security group: the world-open rule the event added goes, the restricted one stays.
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}
    kept = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])["SecurityGroupRules"][0]
    rdp = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    opened = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rdp])["SecurityGroupRules"][0]

    def sg(record: dict[str, Any]) -> None:
        record["requestParameters"]["groupId"] = group
        (item,) = record["responseElements"]["securityGroupRuleSet"]["items"]
        item.update(groupId=group, securityGroupRuleId=opened["SecurityGroupRuleId"])

    def ingress() -> set[str]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        return {r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]}

    record = event_record("security_group/ingress_rdp_ipv6_world.json", sg)
    code, output = _run(moto_server, tmp_path, RULE, record)
    assert code == 0 and "[apply] planned: " in output and opened["SecurityGroupRuleId"] in ingress(), output
    code, output = _run(moto_server, tmp_path, RULE, record, "--apply")
    assert code == 0 and "[apply] done: Remediated: revoked" in output, output
    assert ingress() == {kept["SecurityGroupRuleId"]}
    code, output = _run(moto_server, tmp_path, RULE, record, "--apply")
    assert code == 0 and "[apply] nothing: " in output, output

    # CloudTrail: logging started again.
    client("s3").create_bucket(Bucket="acme-trail-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    cloudtrail = client("cloudtrail")
    trail = cloudtrail.create_trail(Name="org-audit", S3BucketName="acme-trail-logs")["TrailARN"]
    record = event_record("cloudtrail/stop_logging.json", lambda r: r["requestParameters"].update(name=trail))
    code, output = _run(moto_server, tmp_path, "cloudtrail.logging-stopped", record, "--apply")
    assert code == 0 and "started logging" in output, output
    assert cloudtrail.get_trail_status(Name=trail)["IsLogging"] is True

    # S3 Block Public Access of the bucket, all four flags back on.
    record = event_record("s3/put_bucket_public_access_block_all_false.json")
    bucket = record["requestParameters"]["bucketName"]
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(flags, False))
    code, output = _run(moto_server, tmp_path, "s3.public-access-block-removed", record, "--apply")
    assert code == 0, output
    configuration = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert configuration == dict.fromkeys(flags, True)

    # RDS: the instance made private.
    rds = client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="dbadmin",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=50,
        PubliclyAccessible=True,
    )
    record = event_record("rds/modify_db_instance_public.json")
    code, output = _run(moto_server, tmp_path, "rds.instance-public", record, "--apply")
    assert code == 0, output
    assert rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["PubliclyAccessible"] is False
    code, output = _run(moto_server, tmp_path, "rds.instance-public", record, "--apply")
    assert code == 0 and "[apply] nothing: " in output, output
