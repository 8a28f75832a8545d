"""The demo data in samples/: reproducible, well-formed CloudTrail files that tell exactly their story.

The expected findings are written from the catalogue's semantics (docs/rules.md), not from what the rules happen
to return: when this test and a rule disagree, check the rule against the catalogue first.
Files are read with gzip and json directly, independently of trailguard's own readers.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import functools
import gzip
import json
import re
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding, Resource
from trailguard.core.settings import Settings

Record = dict[str, Any]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
GENERATOR = ROOT / "scripts" / "generate_samples.py"
CONFIG = SAMPLES / "trailguard.toml"
ACCOUNT = "111122223333"
DAY = dt.date(2026, 11, 2)
FILE_NAME = re.compile(
    r"^111122223333_CloudTrail_(?P<region>[a-z]{2}-[a-z]+-\d)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
MAX_WINDOW = dt.timedelta(minutes=15)

# Resources of the story (see samples/README.md).
WEB_SG = "sg-0c4e1f9a2b7d83e15"
DATA_BUCKET = "fernhill-customer-exports"
ATTACK_SNAPSHOT = "snap-0a7c3e9f51b2d4068"
TRAIL = "management-events"
# Chapter 2, the evening.
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
FLOW_LOG_GROUP = "/fernhill/vpc-flow-logs"
BUILD_KEY_PAIR = "build-runner-2026-11"
ATTACKERS = {"203.0.113.77", "192.0.2.201"}  # the first chapter's, the second's

# (rule id, severity, resource) for every finding the day must produce with samples/trailguard.toml.
EXPECTED: list[tuple[str, Severity, str]] = [
    # 10:52 Chloe raises a function's timeout in the console: a person by hand -> LOW. Only CI's
    # changes are suppressed.
    ("lambda.function-changed", Severity.LOW, "exports-scheduler"),
    # 14:14-14:15 the leaked ci-legacy key creates an administrator for itself.
    ("iam.user-created", Severity.LOW, "support-sync"),
    ("iam.admin-policy-attached", Severity.HIGH, "support-sync"),
    ("iam.access-key-created", Severity.HIGH, "support-sync"),  # another user's key -> HIGH
    ("iam.login-profile-created", Severity.HIGH, "support-sync"),  # another user's password -> HIGH
    # 14:21-14:38 as support-sync.
    ("sg.ingress-open-to-world", Severity.CRITICAL, WEB_SG),  # port 22 is an admin port -> CRITICAL
    ("s3.public-access-block-removed", Severity.HIGH, DATA_BUCKET),
    ("s3.bucket-policy-public", Severity.CRITICAL, DATA_BUCKET),
    ("ec2.snapshot-shared-external", Severity.MEDIUM, ATTACK_SNAPSHOT),  # 999988887777 is not trusted
    ("tamper.denied-attempt", Severity.MEDIUM, "DeleteTrail"),  # the SCP refused it
    ("cloudtrail.logging-stopped", Severity.CRITICAL, TRAIL),
    # Chapter 2. 17:21 Ben creates a key pair for the new build runner: nothing in the event tells it
    # from an attacker's way in, so it is reported, at LOW, and no suppression hides it.
    ("ec2.key-pair-added", Severity.LOW, BUILD_KEY_PAIR),
    # 19:53 the leaked ml-experiments key enables Bedrock model access: the account's use-case
    # form, then the model's agreement and entitlement. An IAM user's long-term key outside the
    # console -> HIGH.
    ("bedrock.model-access-enabled", Severity.HIGH, ACCOUNT),
    ("bedrock.model-access-enabled", Severity.HIGH, BEDROCK_MODEL),
    ("bedrock.model-access-enabled", Severity.HIGH, BEDROCK_MODEL),
    # 19:58 SES production access requested (out of the sandbox).
    ("ses.sending-unlocked", Severity.MEDIUM, ACCOUNT),
    # 20:11 AWS-RunShellScript on the 4 running web servers: one finding about the document.
    ("ssm.command-sent", Severity.MEDIUM, "AWS-RunShellScript"),
    # 20:21 the VPC flow logs deleted: an audit log group (default audit_log_groups) -> HIGH.
    ("logs.log-group-deleted", Severity.HIGH, FLOW_LOG_GROUP),
    # From one address, within the hour: persistence, privilege escalation, defense evasion... one incident.
    ("incident.attack-chain", Severity.CRITICAL, "support-sync"),
    # Chapter 2: the ml-experiments key, within the hour: execution (SSM), defense evasion (the flow
    # logs) and resource hijacking (Bedrock, SES)... the second incident.
    ("incident.attack-chain", Severity.CRITICAL, "ml-experiments"),
]

# Resources of the near-misses: no finding may be about them.
NEAR_MISS_RESOURCES = {
    "sg-07b2d4e6f8a1c3e59",  # partner SFTP group: the duplicate SSH rule failed
    "sg-0e91a7c3b5d2f4068",  # partner portal load balancer group: 80 and 443 only
    "fernhill-internal-reports",  # "*" policy narrowed by aws:SourceVpce
    "snap-09e1b4c7d2f5a3860",  # shared with the trusted DR account
    # Terraform's partner portal, suppressed by principal in samples/trailguard.toml:
    "partner-portal",
    "vpc-0d2e7b41a9c6f3850",
    "igw-0a5f3c8e2d1b7a694",
    "rtb-0b7c2d9e4f1a3c586",
    "partner-portal-smtp",
    # Chapter 2:
    "fernhill-access-logs",  # logs expire after a year
}
QUIET_PRINCIPALS = {
    "arn:aws:iam::111122223333:role/terraform-deploy",
    "arn:aws:iam::111122223333:role/github-actions-deploy",
    "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
    "arn:aws:iam::111122223333:role/dr-snapshot-share-role",
    "arn:aws:iam::111122223333:user/anna.schmidt",  # the incident responses
    # AWS acting by itself in chapter 2: the engine drops these calls before any rule sees them.
    "arn:aws:iam::111122223333:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup",
    "arn:aws:iam::111122223333:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService",
}


def sample_files(root: Path = SAMPLES) -> list[Path]:
    return sorted(path for path in (root / "AWSLogs").rglob("*") if path.is_file())


def read_records(path: Path) -> list[Record]:
    with gzip.open(path, "rb") as handle:
        document = json.loads(handle.read())
    assert isinstance(document, dict), path
    assert list(document) == ["Records"], path
    records = document["Records"]
    assert isinstance(records, list), path
    assert records, f"{path.name} is empty: CloudTrail writes no file for an empty window"
    return records


@functools.cache
def all_records() -> tuple[tuple[Path, tuple[Record, ...]], ...]:
    return tuple((path, tuple(read_records(path))) for path in sample_files())


def records() -> list[Record]:
    return [copy.deepcopy(record) for _, batch in all_records() for record in batch]


def event_time(record: Record) -> dt.datetime:
    return dt.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def short(resource: Resource) -> str:
    """A resource's id, or the name at the end of its ARN: rules may report either."""
    value = resource.id or resource.arn
    if value.startswith("arn:"):
        value = re.split(r"[/:]", value)[-1]
    return value


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.load(config_file=CONFIG, env={})


def findings_of(settings: Settings, batch: list[Record]) -> tuple[list[Finding], Engine]:
    engine = Engine(settings)
    found = [finding for record in batch for finding in engine.evaluate(record)]
    return found, engine


# --- (a) reproducible --------------------------------------------------------------------------
def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    stale = tmp_path / "AWSLogs" / ACCOUNT / "stale.json.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over from an older run")
    keep = tmp_path / "README.md"
    keep.write_text("not ours")

    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True, capture_output=True, text=True)

    assert not stale.exists(), "the generator must replace OUTDIR/AWSLogs"
    assert keep.read_text() == "not ours", "the generator must leave the rest of OUTDIR alone"
    committed = {path.relative_to(SAMPLES): path for path in sample_files()}
    fresh = {path.relative_to(tmp_path): path for path in sample_files(tmp_path)}
    assert sorted(fresh) == sorted(committed), "regenerate with `make samples` and commit the result"
    # Compare what the files hold, not their compressed bytes: another zlib build may compress the
    # same JSON differently, and that is no reason to fail.
    different = [
        name
        for name, path in committed.items()
        if zlib.decompress(path.read_bytes(), 31) != zlib.decompress(fresh[name].read_bytes(), 31)
    ]
    assert not different, f"{len(different)} files differ, e.g. {different[0]}: regenerate with `make samples`"


# --- (b) well-formed -------------------------------------------------------------------------
def test_files_follow_the_cloudtrail_s3_layout() -> None:
    files = sample_files()
    assert 100 <= len(files) <= 400
    assert sum(path.stat().st_size for path in files) < 800_000, "keep the demo data small"
    stamps: set[tuple[str, str]] = set()
    for path in files:
        relative = path.relative_to(SAMPLES).parts
        match = FILE_NAME.match(path.name)
        assert match, path.name
        region = match["region"]
        assert relative[:-1] == ("AWSLogs", ACCOUNT, "CloudTrail", region, "2026", "11", "02"), path
        assert match["stamp"].startswith("20261102T")
        assert (region, match["stamp"]) not in stamps, f"two files for the same window: {path.name}"
        stamps.add((region, match["stamp"]))
    assert {region for region, _ in stamps} == {"eu-west-1", "us-east-1"}


def test_records_are_unique_sorted_and_inside_their_file_window() -> None:
    seen: set[str] = set()
    last_end: dict[str, dt.datetime] = {}
    total = 0
    for path, batch in sorted(all_records(), key=lambda item: item[0].name):
        match = FILE_NAME.match(path.name)
        assert match
        region = match["region"]
        end = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
        times = [event_time(record) for record in batch]
        assert times == sorted(times), f"{path.name}: records not sorted by eventTime"
        assert all(end - MAX_WINDOW <= moment < end for moment in times), f"{path.name}: eventTime outside window"
        assert times[0] >= last_end.get(region, end - MAX_WINDOW), f"{path.name} overlaps the previous file"
        last_end[region] = end
        for record in batch:
            total += 1
            assert record["eventID"] not in seen, f"duplicate eventID {record['eventID']}"
            seen.add(record["eventID"])
            assert event_time(record).date() == DAY
            assert record["awsRegion"] == region, f"{path.name}: a record of {record['awsRegion']}"
            assert record["recipientAccountId"] == ACCOUNT
            for field in ("eventVersion", "userIdentity", "eventSource", "eventName", "eventType", "userAgent"):
                assert record.get(field), f"{record['eventID']} lacks {field}"
            assert "sourceIPAddress" in record
    assert 2_900 <= total <= 5_000


def test_nothing_is_recorded_while_the_trail_is_stopped() -> None:
    batch = records()
    stopped = [event_time(r) for r in batch if r["eventName"] == "StopLogging"]
    started = [event_time(r) for r in batch if r["eventName"] == "StartLogging"]
    assert len(stopped) == len(started) == 1
    assert not [r for r in batch if stopped[0] < event_time(r) < started[0]]


# --- (c) the story -----------------------------------------------------------------------------
def test_the_day_produces_exactly_the_story_findings(settings: Settings) -> None:
    found, engine = findings_of(settings, records())

    assert engine.failures == [], f"rules raised: {engine.failures}"
    actual = collections.Counter((f.rule_id, f.severity, short(f.resource)) for f in found)
    expected = collections.Counter(EXPECTED)
    assert actual == expected, f"unexpected: {sorted(actual - expected)}; missing: {sorted(expected - actual)}"
    for finding in found:
        assert {finding.resource.id, finding.resource.arn, short(finding.resource)}.isdisjoint(NEAR_MISS_RESOURCES), (
            finding
        )
        assert finding.actor.principal_arn not in QUIET_PRINCIPALS, finding
    people = {"lambda.function-changed", "ec2.key-pair-added"}  # Chloe's and Ben's own changes
    attacker = {f.source_ip for f in found if f.rule_id not in people}
    assert attacker == ATTACKERS


def test_the_intrusion_is_one_incident_in_a_scan() -> None:
    """In the order `make demo` reads the files (by the time in their names), the third tactic from
    203.0.113.77 is the SSH rule at 14:21: the incident lists the steps so far, and the rest fold in."""
    from trailguard.cli import scan

    found = scan([str(SAMPLES)], Settings.load(config_file=CONFIG, env={})).findings
    incident, evening = [f for f in found if f.rule_id == "incident.attack-chain"]
    assert evening.details["Linked by"] != incident.details["Linked by"], "chapter 2's key is another chain"
    assert (incident.event_name, incident.event_time) == ("AuthorizeSecurityGroupIngress", "2026-11-02T14:21:40Z")
    assert incident.details["Linked by"] == "source address 203.0.113.77"
    assert incident.summary.startswith("source address 203.0.113.77: 3 ATT&CK tactics in 8 min")
    assert incident.details["Tactics"] == "Persistence, Privilege Escalation, Defense Evasion"
    steps = [
        value.split(": ", 1)[1].split(" ")[0] for name, value in incident.details.items() if name.startswith("Step")
    ]
    assert steps == [
        "iam.user-created",
        "iam.admin-policy-attached",
        "iam.access-key-created",
        "iam.login-profile-created",
        "sg.ingress-open-to-world",
    ]
    assert len(found) == len(EXPECTED)


def test_each_suppression_and_trusted_account_is_needed(settings: Settings) -> None:
    """Without its configuration the day alerts on routine work: no line of the config is dead weight."""

    def keys(found: list[Finding]) -> collections.Counter[tuple[str, str, str]]:
        return collections.Counter(
            (f.rule_id, short(f.resource), f.actor.principal_arn.rsplit("/", 1)[-1]) for f in found
        )

    configured, _ = findings_of(settings, records())
    bare, _ = findings_of(settings._replace(suppressions=(), trusted_accounts=()), records())
    extra = keys(bare) - keys(configured)
    assert not keys(configured) - keys(bare)
    assert collections.Counter((rule_id, principal) for rule_id, _, principal in extra.elements()) == {
        ("lambda.function-changed", "github-actions-deploy"): 4,
        ("elb.internet-facing-created", "terraform-deploy"): 1,
        ("vpc.internet-gateway-attached", "terraform-deploy"): 1,
        ("vpc.route-to-internet", "terraform-deploy"): 1,
        ("iam.user-created", "terraform-deploy"): 1,
        ("iam.login-profile-deleted", "anna.schmidt"): 1,  # the clean-up removes support-sync's password
        ("ec2.snapshot-shared-external", "dr-snapshot-share-role"): 1,  # trusted_accounts
    }


Mutation = Callable[[Record], None]


def _drop_error(record: Record) -> None:
    del record["errorCode"], record["errorMessage"]


def _drop_vpce_condition(record: Record) -> None:
    del record["requestParameters"]["bucketPolicy"]["Statement"][0]["Condition"]


def _ports_to_8080(record: Record) -> None:
    for permission in record["requestParameters"]["ipPermissions"]["items"]:
        permission["fromPort"] = permission["toPort"] = 8080


def _share_with_stranger(record: Record) -> None:
    record["requestParameters"]["createVolumePermission"]["add"]["items"][0]["userId"] = "999988887777"


def _forward_instead_of_redirect(record: Record) -> None:
    record["requestParameters"]["defaultActions"] = [{"type": "forward", "targetGroupArn": "arn:aws:tg"}]


def _old_tls_policy(record: Record) -> None:
    record["requestParameters"]["sslPolicy"] = "ELBSecurityPolicy-2016-08"


def _egress_everything(record: Record) -> None:
    record["requestParameters"]["ipPermissions"]["items"] = [
        {"ipProtocol": "-1", "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
    ]


def _succeed_without_mfa(record: Record) -> None:
    del record["errorMessage"]
    record["responseElements"]["ConsoleLogin"] = "Success"
    record["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{record['userIdentity']['userName']}"


def _block_nothing(record: Record) -> None:
    config = record["requestParameters"]["PublicAccessBlockConfiguration"]
    for flag in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"):
        config[flag] = False


def _remove_becomes_add(record: Record) -> None:
    permission = record["requestParameters"]["createVolumePermission"]
    permission["add"] = permission.pop("remove")


def _expire_after_a_day(record: Record) -> None:
    record["requestParameters"]["LifecycleConfiguration"]["Rule"][0]["Expiration"]["Days"] = 1


def _by_a_person(record: Record) -> None:
    """The same call, made by an IAM user instead of AWS's service-linked role."""
    record["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDAQ3K7LM2ZP8XWRT4NB",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci-legacy",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIA" + "Q3K7LM2ZP8XWRT4N",
        "userName": "ci-legacy",
    }
    record["sourceIPAddress"] = "203.0.113.77"
    record["userAgent"] = "aws-cli/2.17.20"


@dataclasses.dataclass(frozen=True)
class NearMiss:
    """A call that must stay quiet, and a small change to it that would fire ``fires``."""

    name: str
    event_name: str
    select: Callable[[Record], bool]
    mutate: Mutation
    fires: tuple[str, Severity]


NEAR_MISSES: list[NearMiss] = [
    NearMiss(
        "duplicate SSH rule on the SFTP group",
        "AuthorizeSecurityGroupIngress",
        lambda r: r.get("errorCode") == "Client.InvalidPermission.Duplicate",
        _drop_error,
        ("sg.ingress-open-to-world", Severity.CRITICAL),
    ),
    NearMiss(
        "bucket policy narrowed by aws:SourceVpce",
        "PutBucketPolicy",
        lambda r: r["requestParameters"]["bucketName"] == "fernhill-internal-reports",
        _drop_vpce_condition,
        ("s3.bucket-policy-public", Severity.CRITICAL),
    ),
    NearMiss(
        "80 and 443 open to the world",
        "AuthorizeSecurityGroupIngress",
        lambda r: r["requestParameters"]["groupId"] == "sg-0e91a7c3b5d2f4068",
        _ports_to_8080,
        ("sg.ingress-open-to-world", Severity.HIGH),
    ),
    NearMiss(
        "snapshot shared with the trusted DR account",
        "ModifySnapshotAttribute",
        lambda r: r["requestParameters"]["snapshotId"] == "snap-09e1b4c7d2f5a3860",
        _share_with_stranger,
        ("ec2.snapshot-shared-external", Severity.MEDIUM),
    ),
    NearMiss(
        "HTTP listener redirecting to HTTPS",
        "CreateListener",
        lambda r: r["requestParameters"]["protocol"] == "HTTP",
        _forward_instead_of_redirect,
        ("elb.http-listener", Severity.MEDIUM),
    ),
    NearMiss(
        "HTTPS listener with a TLS 1.2+ policy",
        "CreateListener",
        lambda r: r["requestParameters"]["protocol"] == "HTTPS",
        _old_tls_policy,
        ("elb.weak-tls-policy", Severity.MEDIUM),
    ),
    NearMiss(
        "egress limited to the VPC on 8080",
        "AuthorizeSecurityGroupEgress",
        lambda r: True,
        _egress_everything,
        ("sg.egress-open-to-world", Severity.LOW),
    ),
    NearMiss(
        "failed console sign-in",
        "ConsoleLogin",
        lambda r: r["responseElements"]["ConsoleLogin"] == "Failure",
        _succeed_without_mfa,
        ("signin.console-login-no-mfa", Severity.HIGH),
    ),
    NearMiss(
        "Block Public Access switched back on",
        "PutBucketPublicAccessBlock",
        lambda r: r["requestParameters"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True,
        _block_nothing,
        ("s3.public-access-block-removed", Severity.HIGH),
    ),
    NearMiss(
        "snapshot share removed",
        "ModifySnapshotAttribute",
        lambda r: "remove" in r["requestParameters"]["createVolumePermission"],
        _remove_becomes_add,
        ("ec2.snapshot-shared-external", Severity.MEDIUM),
    ),
    # Chapter 2.
    NearMiss(
        "access logs expire after a year",
        "PutBucketLifecycle",
        lambda r: r["requestParameters"]["bucketName"] == "fernhill-access-logs",
        _expire_after_a_day,
        ("s3.lifecycle-expiry", Severity.HIGH),
    ),
    NearMiss(
        "AWS Backup's service-linked role expires a recovery point",
        "DeleteRecoveryPoint",
        lambda r: True,
        _by_a_person,
        ("backup.recovery-destroyed", Severity.HIGH),
    ),
    NearMiss(
        "Application Auto Scaling's service-linked role deletes its alarms",
        "DeleteAlarms",
        lambda r: True,
        _by_a_person,
        ("monitoring.alarms-silenced", Severity.MEDIUM),
    ),
]


@pytest.mark.parametrize("case", NEAR_MISSES, ids=[case.name for case in NEAR_MISSES])
def test_near_misses_are_near(settings: Settings, case: NearMiss) -> None:
    """Each near-miss stays quiet, and one small change to it would fire: it is really near."""
    candidates = [r for r in records() if r["eventName"] == case.event_name and case.select(r)]
    assert len(candidates) == 1, f"{case.name}: {len(candidates)} records match"
    record = candidates[0]
    quiet, _ = findings_of(settings, [record])
    assert quiet == [], f"{case.name}: {[(f.rule_id, f.severity) for f in quiet]}"
    case.mutate(record)
    loud, _ = findings_of(settings, [record])
    fired = [(f.rule_id, f.severity) for f in loud]
    assert case.fires in fired, f"{case.name}, once changed, fires only {fired}"
