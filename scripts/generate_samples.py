#!/usr/bin/env python3
"""Generate trailguard's demo data: one day of CloudTrail logs of a small company's AWS account.

Usage: ``python scripts/generate_samples.py OUTDIR`` (deletes and rewrites ``OUTDIR/AWSLogs``).

The output is what a multi-region trail writes to S3 on Monday 2026-11-02 for account
111122223333 (no account alias): gzipped ``{"Records": [...]}`` files, each covering 5 to 15
minutes, under ``AWSLogs/111122223333/CloudTrail/<region>/2026/11/02/``. Most work happens in
eu-west-1; IAM, console sign-in and some STS calls are recorded in us-east-1.

The day mixes routine work (console users with MFA, GitHub Actions deploys, autoscaling, monitoring
polls, services using KMS and S3) with an incident in the afternoon: a leaked access key of the
IAM user ``ci-legacy`` is used to create an administrator ``support-sync``, which opens SSH to the
world, makes a data bucket public, shares an EBS snapshot with an unknown account, is refused
DeleteTrail by an SCP and stops the trail. A second chapter, in the evening, uses the leaked key of
``ml-experiments`` for Bedrock model access, SES production access, an SSM shell script on the web
servers and the deletion of the VPC flow logs; its scenes come last, so that the first chapter's
records stay as they were. Near-misses (calls that look alarming but must not alert, AWS's
service-linked roles at work) are woven in. See samples/README.md for the story and tests/test_samples.py for the exact
findings it must produce.

Everything is deterministic: a fixed seed, fixed timestamps, and gzip members with MTIME 0, so
two runs write byte-identical files. Only the standard library is used. IP addresses of people
and of the attacker come from the documentation ranges of RFC 5737.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import shutil
import string
import struct
import sys
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]

SEED = 20261102
DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
ACCOUNT = "111122223333"
HOME = "eu-west-1"
GLOBAL = "us-east-1"  # IAM, console sign-in and other global-service events land here
DAY_END = DAY + dt.timedelta(hours=23, minutes=59)  # the last file is named 2359 at the latest

# --- the account's resources (fixed, so tests can name them) -----------------------------------
TRAIL_NAME = "management-events"
TRAIL_ARN = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/{TRAIL_NAME}"
VPC_ID = "vpc-0f3a9c2e71b4d5a60"
PRIVATE_SUBNETS = ("subnet-0a41c7d2e9b35f106", "subnet-0b82d6e1f4a73c905", "subnet-0c93e5f0a2b64d817")
WEB_SG = "sg-0c4e1f9a2b7d83e15"  # web servers (autoscaling group web-asg); the attacker opens SSH here
SFTP_SG = "sg-07b2d4e6f8a1c3e59"  # legacy partner SFTP server, SSH already open to the world
LAUNCH_TEMPLATE = "lt-0c1d2e3f4a5b6c7d8"
WEB_AMI = "ami-0e5f1a2b3c4d6e7f8"
DATA_BUCKET = "fernhill-customer-exports"  # SSE-KMS; the attacker makes it public
UPLOADS_BUCKET = "fernhill-app-uploads"  # SSE-S3
REPORTS_BUCKET = "fernhill-internal-reports"  # policy "*" narrowed by aws:SourceVpce (near-miss)
ARTIFACTS_BUCKET = "fernhill-deploy-artifacts"
S3_VPCE = "vpce-0a6e3c1d9b2f47e85"  # S3 gateway endpoint of the main VPC
REPORTS_VPCE = "vpce-0b5d2a91c7e3f4d68"
DATA_KEY_ARN = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/5f1c2b7e-8d3a-4e6f-9b0c-1a2d3e4f5a6b"
SECRETS_KEY_ARN = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/0c9e7d2a-4b1f-4a8e-b6d3-7e8f9a0b1c2d"
ATTACK_SNAPSHOT = "snap-0a7c3e9f51b2d4068"  # reporting-db data volume
DR_SNAPSHOT = "snap-09e1b4c7d2f5a3860"  # nightly copy shared with the DR account (near-miss)
DR_ACCOUNT = "444455556666"  # the organization's disaster-recovery account (trusted)
EXTERNAL_ACCOUNT = "999988887777"  # unknown to the company
ECS_CLUSTER = "prod"

# Terraform run (near-misses suppressed in samples/trailguard.toml by principal).
TF_VPC = "vpc-0d2e7b41a9c6f3850"
TF_IGW = "igw-0a5f3c8e2d1b7a694"
TF_SUBNETS = ("subnet-0e1f2a3b4c5d6e7f8", "subnet-0f2a3b4c5d6e7f809")
TF_ROUTE_TABLE = "rtb-0b7c2d9e4f1a3c586"
TF_SG = "sg-0e91a7c3b5d2f4068"
TF_LB_NAME = "partner-portal"
TF_LB_ARN = f"arn:aws:elasticloadbalancing:{HOME}:{ACCOUNT}:loadbalancer/app/{TF_LB_NAME}/8f3c1a2b4d5e6f70"
TF_TG_ARN = f"arn:aws:elasticloadbalancing:{HOME}:{ACCOUNT}:targetgroup/partner-portal-web/3a4b5c6d7e8f9012"
TF_USER = "partner-portal-smtp"

# Made-up keys, like every key here; written in two parts so that secret scanners, which look
# for real access keys in source, do not flag them.
CI_LEGACY_KEY = "AKIA" + "Q3K7LM2ZP8XWRT4N"  # the leaked key of ci-legacy
SUPPORT_SYNC_KEY = "AKIA" + "W5H2JD9VQ6CEBY3R"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"

# --- people and machines -----------------------------------------------------------------------
OFFICE_IPS = {"anna.schmidt": "198.51.100.34", "ben.okafor": "198.51.100.61", "chloe.dubois": "198.51.100.87"}
JENKINS_IP = "198.51.100.23"
ATTACKER_IP = "203.0.113.77"
NAT_IP = "34.248.71.19"  # NAT gateway of the main VPC

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0"
CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0"
)
BROWSERS = {"anna.schmidt": CHROME_MAC, "ben.okafor": FIREFOX_LINUX, "chloe.dubois": CHROME_WIN}
BOTO_ECS = (
    "Boto3/1.40.61 md/Botocore#1.40.61 ua/2.1 os/linux#5.10.244-240.965.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.12 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE m/b,Z cfg/retry-mode#standard "
    "Botocore/1.40.61"
)
BOTO_LAMBDA = (
    "Boto3/1.40.4 md/Botocore#1.40.4 ua/2.1 os/linux#5.10.240-258.957.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.11 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 m/b,Z cfg/retry-mode#legacy "
    "Botocore/1.40.4"
)
NODE_LAMBDA = (
    "aws-sdk-js/3.901.0 ua/2.1 os/linux#5.10.240-258.957.amzn2.x86_64 lang/js md/nodejs#22.19.0 "
    "exec-env/AWS_Lambda_nodejs22.x api/s3#3.901.0 m/E,b,U"
)
GITHUB_CLI = (
    "aws-cli/2.31.18 md/awscrt#0.28.1 ua/2.1 os/linux#6.11.0-1018-azure md/arch#x86_64 lang/python#3.13.7 "
    "md/pyimpl#CPython m/b,E,Z cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off "
    "md/command#{command}"
)
GITHUB_ACTION = (
    "aws-sdk-nodejs/3.901.0 ua/2.1 os/linux#6.11.0-1018-azure lang/js md/nodejs#20.19.5 api/sts#3.901.0 "
    "m/E configure-aws-credentials-for-github-actions"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.13.4 (+https://www.terraform.io) terraform-provider-aws/6.18.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.39.4 ua/2.1 os/linux "
    "lang/go#1.24.8 md/GOOS#linux md/GOARCH#amd64 api/{api} m/C,g"
)
BEN_CLI = (
    "aws-cli/2.31.10 md/awscrt#0.28.1 ua/2.1 os/linux#6.14.0-33-generic md/arch#x86_64 lang/python#3.13.7 "
    "md/pyimpl#CPython m/b,E,Z cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.25 md/prompt#off "
    "md/command#{command}"
)
JENKINS_CLI = "aws-cli/1.22.34 Python/3.8.10 Linux/5.4.0-150-generic botocore/1.23.34"
ATTACKER_CLI = (
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.11-amd64 md/arch#x86_64 lang/python#3.11.9 "
    "md/pyimpl#CPython exe/x86_64.kali.2024 cfg/retry-mode#standard md/installer#exe md/distrib#kali.2024 "
    "md/prompt#off md/command#{command}"
)
GITHUB_RUNNER_NETS = ("20.57", "20.171", "40.84", "52.159", "172.182")

SERVICE_HOSTS = {
    "iam.amazonaws.com": "iam.amazonaws.com",
    "signin.amazonaws.com": "signin.aws.amazon.com",
    "ecr.amazonaws.com": "api.ecr.{region}.amazonaws.com",
    "health.amazonaws.com": "health.us-east-1.amazonaws.com",
    "ce.amazonaws.com": "ce.us-east-1.amazonaws.com",
}
EVENT_VERSIONS = {
    "s3.amazonaws.com": "1.10",
    "ec2.amazonaws.com": "1.11",
    "signin.amazonaws.com": "1.09",
    "sts.amazonaws.com": "1.08",
    "kms.amazonaws.com": "1.08",
    "lambda.amazonaws.com": "1.08",
}
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"


def ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(hours=hour, minutes=minute, seconds=second)


def aws_date(moment: dt.datetime) -> str:
    """The "Nov 2, 2026, 2:15:12 PM" style IAM and STS use inside responseElements."""
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S} {suffix}"


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1000


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who calls: the userIdentity element plus where the call comes from."""

    identity: Record
    ip: str
    ua: str
    console: bool = False  # sessionCredentialFromConsole
    service_ip: bool = False  # sourceIPAddress is a service name: no tlsDetails
    vpce: str = ""

    def using(self, ua: str) -> Actor:
        return dataclasses.replace(self, ua=ua)


class Day:
    """Collects the day's records with a seeded random generator; writes them as CloudTrail does."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records: list[tuple[dt.datetime, int, Record]] = []
        self.gap: tuple[dt.datetime, dt.datetime] | None = None  # the trail was stopped in between
        self.principal_ids: dict[str, str] = {}
        self.consoles: dict[str, Actor] = {}

    # -- random identifiers ---------------------------------------------------------------------
    def pick(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, length: int) -> str:
        return self.pick("0123456789abcdef", length)

    def key_id(self, prefix: str) -> str:
        return prefix + self.pick(UPPER_ALNUM, 16)

    def token(self, length: int) -> str:
        return "IQoJb3JpZ2luX2Vj" + self.pick(B64, length)

    def s3_request_id(self) -> str:
        return self.pick(UPPER_ALNUM, 16)

    def amz_id2(self) -> str:
        return self.pick(B64, 56) + "="

    def jitter(self, moment: dt.datetime, seconds: int) -> dt.datetime:
        return moment + dt.timedelta(seconds=self.rng.randint(0, seconds))

    def runner_ip(self) -> str:
        return f"{self.rng.choice(GITHUB_RUNNER_NETS)}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"

    # -- records --------------------------------------------------------------------------------
    def add(self, moment: dt.datetime, record: Record) -> Record:
        self.records.append((moment, len(self.records), record))
        return record

    def call(  # noqa: PLR0917 - one argument per CloudTrail field, as they read in a record
        self,
        moment: dt.datetime,
        region: str,
        source: str,
        name: str,
        actor: Actor,
        request: Record | None = None,
        response: Record | None = None,
        *,
        read_only: bool,
        error: tuple[str, str] | None = None,
        resources: list[Record] | None = None,
        additional: Record | None = None,
        data_event: bool = False,
        shared_event_id: str = "",
        api_version: str = "",
        request_id: str = "",
        host: str = "",
        event_type: str = "AwsApiCall",
    ) -> Record:
        """One CloudTrail record, fields in the order CloudTrail writes them."""
        record: Record = {
            "eventVersion": EVENT_VERSIONS.get(source, "1.10"),
            "userIdentity": actor.identity,
            "eventTime": ts(moment),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": actor.ip,
            "userAgent": f"[{actor.ua}]" if source == "s3.amazonaws.com" and not actor.service_ip else actor.ua,
        }
        if error is not None:
            code, message = error
            if code:  # a failed console sign-in has a message but no code
                record["errorCode"] = code
            record["errorMessage"] = message
        record["requestParameters"] = request
        record["responseElements"] = response
        if additional is not None:
            record["additionalEventData"] = additional
        if event_type == "AwsApiCall":
            record["requestID"] = request_id or self.uuid()
        record["eventID"] = self.uuid()
        record["readOnly"] = read_only
        if resources:
            record["resources"] = resources
        record["eventType"] = event_type
        if api_version:
            record["apiVersion"] = api_version
        record["managementEvent"] = not data_event
        record["recipientAccountId"] = ACCOUNT
        if shared_event_id:
            record["sharedEventID"] = shared_event_id
        if actor.vpce:
            record["vpcEndpointId"] = actor.vpce
            record["vpcEndpointAccountId"] = ACCOUNT
        record["eventCategory"] = "Data" if data_event else "Management"
        if not actor.service_ip:
            record["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host or self.host(source, region),
            }
        if actor.console:
            record["sessionCredentialFromConsole"] = "true"
        return self.add(moment, record)

    @staticmethod
    def host(source: str, region: str) -> str:
        if source in SERVICE_HOSTS:
            return SERVICE_HOSTS[source].format(region=region)
        return f"{source.split('.', maxsplit=1)[0]}.{region}.amazonaws.com"

    # -- writing --------------------------------------------------------------------------------
    def write(self, outdir: Path) -> list[Path]:
        root = outdir / "AWSLogs"
        if root.exists():
            shutil.rmtree(root)
        kept = sorted(
            (entry for entry in self.records if self.gap is None or not self.gap[0] < entry[0] < self.gap[1]),
            key=lambda entry: (entry[0], entry[1]),
        )
        written: list[Path] = []
        for region in sorted({entry[2]["awsRegion"] for entry in kept}):
            in_region = [entry for entry in kept if entry[2]["awsRegion"] == region]
            folder = root / ACCOUNT / "CloudTrail" / region / DAY.strftime("%Y/%m/%d")
            folder.mkdir(parents=True, exist_ok=True)
            for end, records in self.windows(in_region):
                name = f"{ACCOUNT}_CloudTrail_{region}_{end:%Y%m%dT%H%M}Z_{self.pick(ALNUM, 16)}.json.gz"
                payload = json.dumps({"Records": records}, separators=(",", ":")).encode("utf-8")
                path = folder / name
                path.write_bytes(gzip_member(payload))
                written.append(path)
        return written

    def windows(self, entries: list[tuple[dt.datetime, int, Record]]) -> Iterator[tuple[dt.datetime, list[Record]]]:
        """Consecutive windows of 8-15 minutes; a file per non-empty window, named by its end."""
        start = DAY
        index = 0
        while start < DAY_END and index < len(entries):
            end = min(start + dt.timedelta(minutes=self.rng.randint(8, 15)), DAY_END)
            batch: list[Record] = []
            while index < len(entries) and entries[index][0] < end:
                batch.append(entries[index][2])
                index += 1
            if batch:
                yield end, batch
            start = end
        if index != len(entries):
            raise RuntimeError("events after the last window of the day")


def gzip_member(payload: bytes) -> bytes:
    """A gzip file with MTIME 0, no file name and OS "unknown": the same bytes on every run."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    body = compressor.compress(payload) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    return header + body + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


# =================================================================================================
# Identities
# =================================================================================================
def principal_id(day: Day, name: str, prefix: str) -> str:
    """The stable unique id (AIDA... for users, AROA... for roles) of a principal."""
    if name not in day.principal_ids:
        day.principal_ids[name] = prefix + day.pick(UPPER_ALNUM, 17)
    return day.principal_ids[name]


def iam_user(day: Day, name: str, access_key: str, session: dt.datetime | None = None, mfa: bool = False) -> Record:
    identity: Record = {
        "type": "IAMUser",
        "principalId": principal_id(day, f"user/{name}", "AIDA"),
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": access_key,
        "userName": name,
    }
    if session is not None:
        identity["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(session), "mfaAuthenticated": "true" if mfa else "false"},
        }
    return identity


def role_arn(role: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:role{path}{role}"


def assumed_role(
    day: Day,
    role: str,
    session_name: str,
    access_key: str,
    created: dt.datetime,
    *,
    path: str = "/",
    invoked_by: str = "",
    web_identity: bool = False,
) -> Record:
    role_id = principal_id(day, f"role/{role}", "AROA")
    context: Record = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn(role, path),
            "accountId": ACCOUNT,
            "userName": role,
        },
        "webIdFederationData": {"federatedProvider": OIDC_PROVIDER, "attributes": {}} if web_identity else {},
        "attributes": {"creationDate": ts(created), "mfaAuthenticated": "false"},
    }
    identity: Record = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session_name}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session_name}",
        "accountId": ACCOUNT,
        "accessKeyId": access_key,
        "sessionContext": context,
    }
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return identity


def aws_service(service: str) -> Actor:
    return Actor({"type": "AWSService", "invokedBy": service}, service, service, service_ip=True)


def via_service(actor: Actor, service: str) -> Actor:
    """The same session, but the call made by a service on its behalf (CloudFormation, S3 -> KMS)."""
    identity = dict(actor.identity)
    identity["invokedBy"] = service
    return Actor(identity, service, service, service_ip=True)


# =================================================================================================
# Building blocks
# =================================================================================================
def assume_role_by_service(
    day: Day, moment: dt.datetime, service: str, role: str, session_name: str, *, path: str = "/", region: str = HOME
) -> str:
    """A service (ECS, Lambda, EC2) fetching credentials for a role; returns the new key id."""
    key = day.key_id("ASIA")
    arn = role_arn(role, path)
    day.call(
        moment,
        region,
        "sts.amazonaws.com",
        "AssumeRole",
        aws_service(service),
        {"roleArn": arn, "roleSessionName": session_name, "durationSeconds": 3600},
        {
            "credentials": {
                "accessKeyId": key,
                "sessionToken": day.token(140),
                "expiration": aws_date(moment + dt.timedelta(hours=1)),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{principal_id(day, f'role/{role}', 'AROA')}:{session_name}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session_name}",
            },
        },
        read_only=True,
        resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": arn}],
        shared_event_id=day.uuid(),
    )
    return key


def assume_role_github(day: Day, moment: dt.datetime, role: str, subject: str, ip: str) -> Actor:
    """GitHub Actions' OIDC token exchanged for a role session (configure-aws-credentials)."""
    key = day.key_id("ASIA")
    session = "GitHubActions"
    day.call(
        moment,
        HOME,
        "sts.amazonaws.com",
        "AssumeRoleWithWebIdentity",
        Actor(
            {
                "type": "WebIdentityUser",
                "principalId": f"{OIDC_PROVIDER}:sts.amazonaws.com:{subject}",
                "userName": subject,
                "identityProvider": OIDC_PROVIDER,
            },
            ip,
            GITHUB_ACTION,
        ),
        {"roleArn": role_arn(role), "roleSessionName": session, "durationSeconds": 3600},
        {
            "credentials": {
                "accessKeyId": key,
                "sessionToken": day.token(140),
                "expiration": aws_date(moment + dt.timedelta(hours=1)),
            },
            "subjectFromWebIdentityToken": subject,
            "assumedRoleUser": {
                "assumedRoleId": f"{principal_id(day, f'role/{role}', 'AROA')}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
            },
            "provider": OIDC_PROVIDER,
            "audience": "sts.amazonaws.com",
        },
        read_only=True,
        additional={"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
        resources=[
            {"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn(role)},
            {"accountId": ACCOUNT, "type": "AWS::IAM::OIDCProvider", "ARN": OIDC_PROVIDER},
        ],
    )
    identity = assumed_role(day, role, session, key, moment, web_identity=True)
    return Actor(identity, ip, GITHUB_CLI)


def console_login(day: Day, moment: dt.datetime, user: str, *, success: bool = True) -> None:
    identity: Record = {"type": "IAMUser", "principalId": principal_id(day, f"user/{user}", "AIDA")}
    if success:
        identity.update(arn=f"arn:aws:iam::{ACCOUNT}:user/{user}", accountId=ACCOUNT, userName=user)
    else:  # as CloudTrail records a failed IAM user sign-in: no ARN
        identity.update(accountId=ACCOUNT, accessKeyId="", userName=user)
    day.call(
        moment,
        GLOBAL,
        "signin.amazonaws.com",
        "ConsoleLogin",
        Actor(identity, OFFICE_IPS[user], BROWSERS[user]),
        None,
        {"ConsoleLogin": "Success" if success else "Failure"},
        read_only=False,
        error=None if success else ("", "Failed authentication"),
        additional={
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_"
            + f"{HOME}_{day.hexid(16)}",
            "MobileVersion": "No",
            **({"MFAIdentifier": f"arn:aws:iam::{ACCOUNT}:mfa/{user}"} if success else {}),
            "MFAUsed": "Yes" if success else "No",
        },
        event_type="AwsConsoleSignIn",
    )


def console_actor(day: Day, user: str, signed_in: dt.datetime) -> Actor:
    """The console session of a signed-in user (the same one all day)."""
    if user not in day.consoles:
        identity = iam_user(day, user, day.key_id("ASIA"), session=signed_in, mfa=True)
        day.consoles[user] = Actor(identity, OFFICE_IPS[user], BROWSERS[user], console=True)
    return day.consoles[user]


ConsoleCall = tuple[str, str, str, Record | None]  # region, source, name, request

CONSOLE_READS: tuple[ConsoleCall, ...] = (
    (HOME, "ec2.amazonaws.com", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
    (
        HOME,
        "ec2.amazonaws.com",
        "DescribeInstanceStatus",
        {"instancesSet": {}, "filterSet": {}, "includeAllInstances": True},
    ),
    (
        HOME,
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}},
    ),
    (HOME, "ec2.amazonaws.com", "DescribeVpcs", {"vpcSet": {}, "filterSet": {}}),
    (HOME, "ec2.amazonaws.com", "DescribeSubnets", {"subnetSet": {}, "filterSet": {}}),
    (HOME, "ec2.amazonaws.com", "DescribeVolumes", {"volumeSet": {}, "filterSet": {}}),
    (HOME, "ec2.amazonaws.com", "DescribeLaunchTemplates", {"launchTemplateIdSet": {}, "launchTemplateNameSet": {}}),
    (HOME, "monitoring.amazonaws.com", "DescribeAlarms", {"maxRecords": 100}),
    (HOME, "logs.amazonaws.com", "DescribeLogGroups", {"limit": 50}),
    (HOME, "logs.amazonaws.com", "FilterLogEvents", {"logGroupName": "/ecs/orders-api", "limit": 100}),
    (HOME, "lambda.amazonaws.com", "ListFunctions20150331", None),
    (HOME, "lambda.amazonaws.com", "GetFunction20150331v2", {"functionName": "thumbnailer"}),
    (HOME, "ecs.amazonaws.com", "ListServices", {"cluster": ECS_CLUSTER}),
    (
        HOME,
        "ecs.amazonaws.com",
        "DescribeServices",
        {"cluster": ECS_CLUSTER, "services": ["orders-api", "exports-worker"]},
    ),
    (HOME, "cloudformation.amazonaws.com", "DescribeStacks", {"stackName": "orders-api"}),
    (HOME, "cloudformation.amazonaws.com", "ListStacks", {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]}),
    (HOME, "autoscaling.amazonaws.com", "DescribeAutoScalingGroups", {"autoScalingGroupNames": ["web-asg"]}),
    (HOME, "rds.amazonaws.com", "DescribeDBInstances", None),
    (GLOBAL, "iam.amazonaws.com", "ListRoles", {"maxItems": 1000}),
    (GLOBAL, "iam.amazonaws.com", "GetAccountSummary", None),
    (GLOBAL, "health.amazonaws.com", "DescribeEventAggregates", {"aggregateField": "eventTypeCategory"}),
    (GLOBAL, "ce.amazonaws.com", "GetCostAndUsage", {"granularity": "DAILY", "metrics": ["UnblendedCost"]}),
)


def console_browse(
    day: Day, actor: Actor, start: dt.datetime, count: int, calls: tuple[ConsoleCall, ...]
) -> dt.datetime:
    """A person clicking around the console: bursts of read-only calls a few seconds apart."""
    moment = start
    for _ in range(count):
        region, source, name, request = day.rng.choice(calls)
        internal = source in {"iam.amazonaws.com", "health.amazonaws.com", "ce.amazonaws.com"}
        caller = dataclasses.replace(actor, ip="AWS Internal", ua="AWS Internal") if internal else actor
        day.call(moment, region, source, name, caller, request, None, read_only=True)
        moment += dt.timedelta(seconds=day.rng.randint(2, 45))
    return moment


def s3_object_call(  # noqa: PLR0917
    day: Day,
    moment: dt.datetime,
    actor: Actor,
    name: str,
    bucket: str,
    key: str,
    size: int,
    *,
    kms: bool,
) -> None:
    """An S3 data event (the trail records data events for the two application buckets)."""
    put = name == "PutObject"
    request: Record = {"bucketName": bucket, "Host": f"{bucket}.s3.{HOME}.amazonaws.com", "key": key}
    response: Record | None = None
    if put:
        response = {"x-amz-server-side-encryption": "aws:kms" if kms else "AES256"}
        if kms:
            response["x-amz-server-side-encryption-aws-kms-key-id"] = DATA_KEY_ARN
    day.call(
        moment,
        HOME,
        "s3.amazonaws.com",
        name,
        actor,
        request,
        response,
        read_only=not put,
        data_event=True,
        request_id=day.s3_request_id(),
        additional={
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": size if put else 0,
            "SSEApplied": "SSE_KMS" if kms else "SSE_S3",
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": day.amz_id2(),
            "bytesTransferredOut": 0 if put else size,
        },
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        host=f"{bucket}.s3.{HOME}.amazonaws.com",
    )
    if kms:
        kms_name = "GenerateDataKey" if put else "Decrypt"
        kms_request: Record = {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}}
        if put:
            kms_request = {"keyId": DATA_KEY_ARN, **kms_request, "keySpec": "AES_256"}
        else:
            kms_request["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        day.call(
            moment,
            HOME,
            "kms.amazonaws.com",
            kms_name,
            via_service(actor, "s3.amazonaws.com"),
            kms_request,
            None,
            read_only=True,
            resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": DATA_KEY_ARN}],
        )


def busy(hour: int) -> float:
    """How busy the company is at an hour (UTC = local time in Dublin in November)."""
    if 8 <= hour < 18:
        return 1.0
    if hour in (7, 18, 19):
        return 0.5
    return 0.12


# =================================================================================================
# Routine work
# =================================================================================================
def monitoring(day: Day) -> None:
    """The observability stack (an ECS task) polls the account every five minutes."""
    task = day.hexid(32)
    role = "observability-readonly"
    polls: tuple[tuple[str, str, str, Record | None], ...] = (
        ("ec2.amazonaws.com", "DescribeInstances", "", {"instancesSet": {}, "filterSet": {}}),
        ("ec2.amazonaws.com", "DescribeVolumes", "", {"volumeSet": {}, "filterSet": {}}),
        (
            "ec2.amazonaws.com",
            "DescribeSecurityGroups",
            "",
            {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}},
        ),
        ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", "2015-12-01", {"pageSize": 400}),
        (
            "elasticloadbalancing.amazonaws.com",
            "DescribeTargetHealth",
            "2015-12-01",
            {"targetGroupArn": f"arn:aws:elasticloadbalancing:{HOME}:{ACCOUNT}:targetgroup/web-asg/6d0ecf831eec9f09"},
        ),
        ("lambda.amazonaws.com", "ListFunctions20150331", "", None),
        ("rds.amazonaws.com", "DescribeDBInstances", "", None),
        ("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", "", None),
        (
            "ecs.amazonaws.com",
            "DescribeServices",
            "",
            {"cluster": ECS_CLUSTER, "services": ["orders-api", "exports-worker"]},
        ),
        ("cloudtrail.amazonaws.com", "GetTrailStatus", "", {"name": TRAIL_ARN}),
        ("ssm.amazonaws.com", "DescribeInstanceInformation", "", {"maxResults": 50}),
        ("monitoring.amazonaws.com", "DescribeAlarms", "", {"stateValue": "ALARM", "maxRecords": 100}),
    )
    actor: Actor | None = None
    rotation = 0
    for hour in range(24):
        issued = day.jitter(at(hour, 0, 5), 40)
        key = assume_role_by_service(day, issued, "ecs-tasks.amazonaws.com", role, task)
        actor = Actor(assumed_role(day, role, task, key, issued), NAT_IP, BOTO_ECS)
        for minute in range(1, 60, 5):
            moment = day.jitter(at(hour, minute), 20)
            for _ in range(4):
                source, name, api_version, request = polls[rotation % len(polls)]
                rotation += 1
                error: tuple[str, str] | None = None
                if name == "DescribeInstanceInformation" and day.rng.random() < 0.12:
                    error = ("ThrottlingException", "Rate exceeded")
                elif name == "DescribeInstances" and day.rng.random() < 0.03:
                    error = ("Client.RequestLimitExceeded", "Request limit exceeded.")
                day.call(
                    moment,
                    HOME,
                    source,
                    name,
                    actor,
                    request,
                    None,
                    read_only=True,
                    error=error,
                    api_version=api_version,
                )
                moment += dt.timedelta(seconds=day.rng.randint(0, 3))
            if minute == 31:
                # The role was never granted rds:DescribeDBClusters; the tool keeps trying hourly.
                day.call(
                    moment,
                    HOME,
                    "rds.amazonaws.com",
                    "DescribeDBClusters",
                    actor,
                    {"includeShared": False},
                    None,
                    read_only=True,
                    error=(
                        "AccessDenied",
                        f"User: {actor.identity['arn']} is not authorized to perform: rds:DescribeDBClusters on "
                        f"resource: arn:aws:rds:{HOME}:{ACCOUNT}:cluster:* because no identity-based policy "
                        "allows the rds:DescribeDBClusters action",
                    ),
                )
            if minute in (16, 46):
                # Inventory of the other enabled region, and of IAM (a global service) once an hour.
                day.call(
                    moment,
                    GLOBAL,
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    actor,
                    {"instancesSet": {}, "filterSet": {}},
                    None,
                    read_only=True,
                )
                if minute == 16:
                    day.call(
                        moment + dt.timedelta(seconds=2),
                        GLOBAL,
                        "iam.amazonaws.com",
                        "ListUsers",
                        actor,
                        None,
                        None,
                        read_only=True,
                    )
                    day.call(
                        moment + dt.timedelta(seconds=3),
                        GLOBAL,
                        "iam.amazonaws.com",
                        "GetAccountSummary",
                        actor,
                        None,
                        None,
                        read_only=True,
                    )


def aws_config(day: Day) -> None:
    """AWS Config's service-linked role describes resources to record configuration items."""
    key = day.key_id("ASIA")
    role = "AWSServiceRoleForConfig"
    actor = via_service(
        Actor(
            assumed_role(
                day, role, "AWSConfig-Describe", key, at(0, 0, 12), path="/aws-service-role/config.amazonaws.com/"
            ),
            "",
            "",
        ),
        "config.amazonaws.com",
    )
    calls: tuple[tuple[str, Record], ...] = (
        ("DescribeSecurityGroups", {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
        ("DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
        ("DescribeNetworkInterfaces", {"networkInterfaceIdSet": {}, "filterSet": {}}),
        ("DescribeSubnets", {"subnetSet": {}, "filterSet": {}}),
        ("DescribeVpcs", {"vpcSet": {}, "filterSet": {}}),
    )
    for hour in range(24):
        moment = day.jitter(at(hour, 20), 300)
        for name, request in calls:
            day.call(moment, HOME, "ec2.amazonaws.com", name, actor, request, None, read_only=True)
            moment += dt.timedelta(seconds=day.rng.randint(1, 6))


def applications(day: Day) -> None:
    """ECS services and a Lambda function at work: S3 objects, KMS by S3, secrets at start-up."""
    workloads = {
        "orders-api": ("orders-api-task", [day.hexid(32), day.hexid(32)]),
        "exports-worker": ("exports-worker-task", [day.hexid(32)]),
    }
    actors: dict[str, list[Actor]] = {}
    for hour in range(24):
        for service, (role, tasks) in workloads.items():
            actors[service] = []
            for task in tasks:
                issued = day.jitter(at(hour, 0), 50)
                key = assume_role_by_service(day, issued, "ecs-tasks.amazonaws.com", role, task)
                identity = assumed_role(day, role, task, key, issued)
                private_ip = f"10.20.{day.rng.choice((11, 12, 13))}.{day.rng.randint(10, 250)}"
                actors[service].append(Actor(identity, private_ip, BOTO_ECS, vpce=S3_VPCE))
        issued = day.jitter(at(hour, 0), 50)
        thumb_key = assume_role_by_service(day, issued, "lambda.amazonaws.com", "thumbnailer-role", "thumbnailer")
        thumbnailer = Actor(
            assumed_role(day, "thumbnailer-role", "thumbnailer", thumb_key, issued), "3.250.17.40", NODE_LAMBDA
        )
        if hour == 6:
            # The day's first tasks read their database credentials.
            for service, task_actors in actors.items():
                for actor in task_actors:
                    moment = day.jitter(at(hour, 3), 120)
                    secret = f"arn:aws:secretsmanager:{HOME}:{ACCOUNT}:secret:prod/{service}/db-AbC123"
                    day.call(
                        moment,
                        HOME,
                        "secretsmanager.amazonaws.com",
                        "GetSecretValue",
                        dataclasses.replace(actor, vpce=""),
                        {"secretId": f"prod/{service}/db"},
                        None,
                        read_only=True,
                    )
                    day.call(
                        moment,
                        HOME,
                        "kms.amazonaws.com",
                        "Decrypt",
                        via_service(actor, "secretsmanager.amazonaws.com"),
                        {
                            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                            "encryptionContext": {"SecretARN": secret, "SecretVersionId": day.uuid()},
                        },
                        None,
                        read_only=True,
                        resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": SECRETS_KEY_ARN}],
                    )
        for slot in range(6):
            base = at(hour, slot * 10, 60)
            level = busy(hour)
            # Customers upload pictures; the thumbnailer reads them and writes thumbnails.
            for _ in range(day.rng.randint(0, round(4 * level) + (1 if level > 0.5 else 0))):
                moment = day.jitter(base, 530)
                key = f"uploads/2026/11/02/{day.uuid()}.jpg"
                size = day.rng.randint(80_000, 4_000_000)
                s3_object_call(
                    day, moment, day.rng.choice(actors["orders-api"]), "PutObject", UPLOADS_BUCKET, key, size, kms=False
                )
                later = moment + dt.timedelta(seconds=day.rng.randint(1, 4))
                s3_object_call(day, later, thumbnailer, "GetObject", UPLOADS_BUCKET, key, size, kms=False)
                thumb = key.replace("uploads/", "thumbnails/").replace(".jpg", "-320.webp")
                s3_object_call(
                    day,
                    later + dt.timedelta(seconds=2),
                    thumbnailer,
                    "PutObject",
                    UPLOADS_BUCKET,
                    thumb,
                    size // 40,
                    kms=False,
                )
            # The exports worker writes customer exports; the API serves them back (SSE-KMS).
            for _ in range(day.rng.randint(0, round(3 * level))):
                moment = day.jitter(base, 530)
                customer = f"c-{day.rng.randint(10000, 99999)}"
                key = f"exports/{customer}/2026-11-02/orders-{day.hexid(8)}.csv.gz"
                size = day.rng.randint(20_000, 900_000)
                s3_object_call(day, moment, actors["exports-worker"][0], "PutObject", DATA_BUCKET, key, size, kms=True)
                if day.rng.random() < 0.7:
                    later = moment + dt.timedelta(seconds=day.rng.randint(20, 400))
                    s3_object_call(
                        day, later, day.rng.choice(actors["orders-api"]), "GetObject", DATA_BUCKET, key, size, kms=True
                    )


def autoscaling(day: Day) -> None:
    """The web tier scales out in the morning and back in at night, as autoscaling's role."""
    role = "AWSServiceRoleForAutoScaling"
    path = "/aws-service-role/autoscaling.amazonaws.com/"
    actor = via_service(
        Actor(assumed_role(day, role, "AutoScaling", day.key_id("ASIA"), at(0, 0, 3), path=path), "", ""),
        "autoscaling.amazonaws.com",
    )
    running: list[str] = []
    for hour, minute in ((7, 48), (8, 22), (9, 57), (12, 3), (13, 31), (16, 12)):
        moment = at(hour, minute, day.rng.randint(0, 59))
        instance = "i-0" + day.hexid(16)
        subnet = day.rng.choice(PRIVATE_SUBNETS)
        zone = {PRIVATE_SUBNETS[0]: "eu-west-1a", PRIVATE_SUBNETS[1]: "eu-west-1b", PRIVATE_SUBNETS[2]: "eu-west-1c"}[
            subnet
        ]
        private_ip = f"10.20.{11 + PRIVATE_SUBNETS.index(subnet)}.{day.rng.randint(10, 250)}"
        token = f"fleet-{day.uuid()}-0"
        tags = {
            "items": [{"resourceType": "instance", "tags": [{"key": "aws:autoscaling:groupName", "value": "web-asg"}]}]
        }
        day.call(
            moment,
            HOME,
            "ec2.amazonaws.com",
            "RunInstances",
            actor,
            {
                "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
                "blockDeviceMapping": {},
                "availabilityZone": zone,
                "monitoring": {"enabled": False},
                "subnetId": subnet,
                "disableApiTermination": False,
                "disableApiStop": False,
                "clientToken": token,
                "tagSpecificationSet": tags,
                "launchTemplate": {"launchTemplateId": LAUNCH_TEMPLATE, "version": "14"},
            },
            {
                "requestId": day.uuid(),
                "reservationId": "r-0" + day.hexid(16),
                "ownerId": ACCOUNT,
                "groupSet": {},
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance,
                            "imageId": WEB_AMI,
                            "instanceState": {"code": 0, "name": "pending"},
                            "privateDnsName": f"ip-{private_ip.replace('.', '-')}.eu-west-1.compute.internal",
                            "amiLaunchIndex": 0,
                            "productCodes": {},
                            "instanceType": "t3.medium",
                            "launchTime": epoch_ms(moment),
                            "placement": {"availabilityZone": zone, "tenancy": "default"},
                            "monitoring": {"state": "disabled"},
                            "subnetId": subnet,
                            "vpcId": VPC_ID,
                            "privateIpAddress": private_ip,
                            "stateReason": {"code": "pending", "message": "pending"},
                            "architecture": "x86_64",
                            "rootDeviceType": "ebs",
                            "rootDeviceName": "/dev/xvda",
                            "blockDeviceMapping": {},
                            "virtualizationType": "hvm",
                            "hypervisor": "xen",
                            "tagSet": {"items": [{"key": "aws:autoscaling:groupName", "value": "web-asg"}]},
                            "clientToken": token,
                            "groupSet": {"items": [{"groupId": WEB_SG, "groupName": "web-servers"}]},
                            "sourceDestCheck": True,
                            "networkInterfaceSet": {
                                "items": [
                                    {
                                        "networkInterfaceId": "eni-0" + day.hexid(16),
                                        "subnetId": subnet,
                                        "vpcId": VPC_ID,
                                        "ownerId": ACCOUNT,
                                        "status": "in-use",
                                        "privateIpAddress": private_ip,
                                        "sourceDestCheck": True,
                                        "interfaceType": "interface",
                                        "groupSet": {"items": [{"groupId": WEB_SG, "groupName": "web-servers"}]},
                                    }
                                ]
                            },
                            "iamInstanceProfile": {
                                "arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web-server",
                                "id": "AIPA" + day.pick(UPPER_ALNUM, 17),
                            },
                            "ebsOptimized": False,
                            "enaSupport": True,
                            "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                            "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                            "enclaveOptions": {"enabled": False},
                            "metadataOptions": {
                                "state": "pending",
                                "httpTokens": "required",
                                "httpPutResponseHopLimit": 2,
                                "httpEndpoint": "enabled",
                                "httpProtocolIpv4": "enabled",
                                "httpProtocolIpv6": "disabled",
                                "instanceMetadataTags": "disabled",
                            },
                            "maintenanceOptions": {"autoRecovery": "default"},
                            "privateDnsNameOptions": {
                                "hostnameType": "ip-name",
                                "enableResourceNameDnsARecord": False,
                                "enableResourceNameDnsAAAARecord": False,
                            },
                        }
                    ]
                },
            },
            read_only=False,
        )
        running.append(instance)
        assume_role_by_service(
            day,
            moment + dt.timedelta(seconds=day.rng.randint(40, 90)),
            "ec2.amazonaws.com",
            "web-server-role",
            instance,
        )
    for hour, minute in ((18, 44), (19, 31), (20, 15), (21, 58), (23, 20), (23, 41)):
        moment = at(hour, minute, day.rng.randint(0, 59))
        instance = running.pop()
        day.call(
            moment,
            HOME,
            "ec2.amazonaws.com",
            "TerminateInstances",
            actor,
            {"instancesSet": {"items": [{"instanceId": instance}]}},
            {
                "requestId": day.uuid(),
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance,
                            "currentState": {"code": 32, "name": "shutting-down"},
                            "previousState": {"code": 16, "name": "running"},
                        }
                    ]
                },
            },
            read_only=False,
        )


def people(day: Day) -> None:
    """Three engineers sign in with MFA and use the console; a few changes by hand."""
    console_login(day, at(8, 41, 12), "ben.okafor", success=False)  # mistyped password
    console_login(day, at(8, 41, 37), "ben.okafor")
    console_login(day, at(8, 55, 4), "anna.schmidt")
    console_login(day, at(9, 20, 48), "chloe.dubois")
    ben = console_actor(day, "ben.okafor", at(8, 41, 37))
    anna = console_actor(day, "anna.schmidt", at(8, 55, 4))
    chloe = console_actor(day, "chloe.dubois", at(9, 20, 48))
    for actor, sessions in (
        (ben, ((8, 42, 40), (10, 2, 30), (13, 40, 30), (16, 35, 25))),
        (anna, ((8, 56, 35), (11, 30, 25), (13, 5, 30), (17, 10, 20))),
        (chloe, ((9, 21, 40), (10, 45, 30), (14, 50, 35), (16, 55, 30))),
    ):
        for hour, minute, count in sessions:
            console_browse(day, actor, at(hour, minute, day.rng.randint(0, 59)), count, CONSOLE_READS)

    # Chloe (a developer) may not see VPN connections: a denied Describe.
    day.call(
        at(10, 47, 3),
        HOME,
        "ec2.amazonaws.com",
        "DescribeVpnConnections",
        chloe,
        {"vpnConnectionSet": {}, "filterSet": {}},
        None,
        read_only=True,
        error=(
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: "
            f"arn:aws:iam::{ACCOUNT}:user/chloe.dubois is not authorized to perform: ec2:DescribeVpnConnections "
            "because no identity-based policy allows the ec2:DescribeVpnConnections action",
        ),
    )
    # Chloe raises the timeout of a Lambda function by hand: not through CI, so trailguard reports it.
    moment = at(10, 52, 18)
    day.call(
        moment - dt.timedelta(seconds=20),
        HOME,
        "lambda.amazonaws.com",
        "GetFunction20150331v2",
        chloe,
        {"functionName": "exports-scheduler"},
        None,
        read_only=True,
    )
    day.call(
        moment,
        HOME,
        "lambda.amazonaws.com",
        "UpdateFunctionConfiguration20150331v2",
        chloe,
        {"functionName": "exports-scheduler", "timeout": 300, "memorySize": 512},
        {
            "functionName": "exports-scheduler",
            "functionArn": f"arn:aws:lambda:{HOME}:{ACCOUNT}:function:exports-scheduler",
            "runtime": "python3.12",
            "role": role_arn("exports-scheduler-role"),
            "handler": "app.handler",
            "codeSize": 48213,
            "description": "",
            "timeout": 300,
            "memorySize": 512,
            "lastModified": moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "codeSha256": "q2X3dS1Jw0yN8Lq3c0h4c9mWfY7V1Zy2nYbU0gXw5aE=",
            "version": "$LATEST",
            "tracingConfig": {"mode": "PassThrough"},
            "revisionId": day.uuid(),
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "packageType": "Zip",
            "architectures": ["arm64"],
            "ephemeralStorage": {"size": 512},
            "snapStart": {"applyOn": "None", "optimizationStatus": "Off"},
            "loggingConfig": {"logFormat": "Text", "logGroup": "/aws/lambda/exports-scheduler"},
        },
        read_only=False,
    )

    # Ben, from his terminal with MFA session credentials.
    session = at(11, 36, 2)
    ben_key = day.key_id("AKIA")
    session_key = day.key_id("ASIA")
    day.call(
        session,
        HOME,
        "sts.amazonaws.com",
        "GetSessionToken",
        Actor(
            iam_user(day, "ben.okafor", ben_key),
            OFFICE_IPS["ben.okafor"],
            BEN_CLI.format(command="sts.get-session-token"),
        ),
        {"durationSeconds": 43200, "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/ben.okafor"},
        {
            "credentials": {
                "accessKeyId": session_key,
                "sessionToken": day.token(120),
                "expiration": aws_date(session + dt.timedelta(hours=12)),
            }
        },
        read_only=True,
    )
    ben_cli = Actor(iam_user(day, "ben.okafor", session_key, session=session, mfa=True), OFFICE_IPS["ben.okafor"], "")

    # Near-miss: re-applying the partner SFTP rule from a runbook fails, the rule already exists.
    day.call(
        at(11, 41, 27),
        HOME,
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        ben_cli.using(BEN_CLI.format(command="ec2.authorize-security-group-ingress")),
        {
            "groupId": SFTP_SG,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
        None,
        read_only=False,
        error=(
            "Client.InvalidPermission.Duplicate",
            'the specified rule "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW" already exists',
        ),
    )
    # Near-miss: a bucket policy for "*" that only works through the reporting VPC endpoint.
    reports = f"arn:aws:s3:::{REPORTS_BUCKET}"
    day.call(
        at(11, 48, 9),
        HOME,
        "s3.amazonaws.com",
        "PutBucketPolicy",
        ben_cli.using(BEN_CLI.format(command="s3api.put-bucket-policy")),
        {
            "bucketPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadThroughReportingEndpoint",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [reports, f"{reports}/*"],
                        "Condition": {"StringEquals": {"aws:SourceVpce": REPORTS_VPCE}},
                    },
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [reports, f"{reports}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
            "bucketName": REPORTS_BUCKET,
            "Host": f"{REPORTS_BUCKET}.s3.{HOME}.amazonaws.com",
            "policy": "",
        },
        None,
        read_only=False,
        request_id=day.s3_request_id(),
        additional={
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 612,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": day.amz_id2(),
            "bytesTransferredOut": 0,
        },
        resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": reports}],
        host=f"{REPORTS_BUCKET}.s3.{HOME}.amazonaws.com",
    )


def nightly_jobs(day: Day) -> None:
    """ci-legacy's one legitimate job from the office Jenkins, and the snapshot copy to DR."""
    jenkins = Actor(iam_user(day, "ci-legacy", CI_LEGACY_KEY), JENKINS_IP, JENKINS_CLI)
    moment = at(1, 30, 14)
    day.call(
        moment,
        HOME,
        "ecr.amazonaws.com",
        "GetAuthorizationToken",
        jenkins,
        {"registryIds": [ACCOUNT]},
        None,
        read_only=True,
    )
    day.call(
        moment + dt.timedelta(seconds=3),
        HOME,
        "ecr.amazonaws.com",
        "DescribeImages",
        jenkins,
        {"repositoryName": "reporting-batch", "imageIds": [{"imageTag": "stable"}]},
        None,
        read_only=True,
    )
    day.call(
        moment + dt.timedelta(seconds=5),
        HOME,
        "ecr.amazonaws.com",
        "BatchGetImage",
        jenkins,
        {
            "repositoryName": "reporting-batch",
            "imageIds": [{"imageTag": "stable"}],
            "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json"],
        },
        None,
        read_only=True,
    )

    role = "dr-snapshot-share-role"
    moment = at(3, 0, 2)
    key = assume_role_by_service(day, moment, "lambda.amazonaws.com", role, "dr-snapshot-share")
    actor = Actor(assumed_role(day, role, "dr-snapshot-share", key, moment), "3.252.84.117", BOTO_LAMBDA)
    day.call(
        moment + dt.timedelta(seconds=2),
        HOME,
        "ec2.amazonaws.com",
        "DescribeSnapshots",
        actor,
        {
            "snapshotSet": {},
            "ownersSet": {"items": [{"owner": "self"}]},
            "restorableBySet": {},
            "filterSet": {"items": [{"name": "tag:dr-copy", "valueSet": {"items": [{"value": "pending"}]}}]},
        },
        None,
        read_only=True,
    )
    # Near-miss: sharing with the organization's DR account, listed in trusted_accounts.
    share_request: Record = {
        "snapshotId": DR_SNAPSHOT,
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": [{"userId": DR_ACCOUNT}]}},
    }
    request_id = day.uuid()
    day.call(
        moment + dt.timedelta(seconds=3),
        HOME,
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        actor,
        share_request,
        {"requestId": request_id, "_return": True},
        read_only=False,
        request_id=request_id,
    )
    day.call(
        moment + dt.timedelta(seconds=4),
        HOME,
        "ec2.amazonaws.com",
        "CreateTags",
        actor,
        {
            "resourcesSet": {"items": [{"resourceId": DR_SNAPSHOT}]},
            "tagSet": {"items": [{"key": "dr-copy", "value": "shared"}]},
        },
        {"requestId": day.uuid(), "_return": True},
        read_only=False,
    )


def deploys(day: Day) -> None:
    """GitHub Actions deploys: Lambda code straight from the CLI, ECS services via CloudFormation."""
    for hour, minute, target in (
        (9, 42, "thumbnailer"),
        (10, 31, "orders-api"),
        (11, 58, "exports-scheduler"),
        (13, 15, "orders-api"),
        (14, 2, "thumbnailer"),
        (15, 47, "orders-api"),
        (16, 20, "exports-scheduler"),
        (17, 5, "orders-api"),
    ):
        start = at(hour, minute, day.rng.randint(0, 59))
        repo = "orders-api" if target == "orders-api" else "serverless-jobs"
        actor = assume_role_github(
            day, start, "github-actions-deploy", f"repo:fernhill/{repo}:ref:refs/heads/main", day.runner_ip()
        )
        moment = start + dt.timedelta(seconds=2)
        day.call(
            moment,
            HOME,
            "sts.amazonaws.com",
            "GetCallerIdentity",
            actor.using(GITHUB_CLI.format(command="sts.get-caller-identity")),
            None,
            None,
            read_only=True,
        )
        sha = day.hexid(40)
        if target == "orders-api":
            ecs_deploy(day, actor, moment + dt.timedelta(seconds=day.rng.randint(40, 90)), sha)
        else:
            lambda_deploy(day, actor, moment + dt.timedelta(seconds=day.rng.randint(20, 40)), target, sha)


def lambda_deploy(day: Day, actor: Actor, moment: dt.datetime, function: str, sha: str) -> None:
    arn = f"arn:aws:lambda:{HOME}:{ACCOUNT}:function:{function}"
    code_sha = day.pick(B64, 43) + "="
    runtime = "nodejs22.x" if function == "thumbnailer" else "python3.12"

    def config(version: str, status: str) -> Record:
        return {
            "functionName": function,
            "functionArn": arn if version == "$LATEST" else f"{arn}:{version}",
            "runtime": runtime,
            "role": role_arn(f"{function}-role"),
            "handler": "index.handler" if function == "thumbnailer" else "app.handler",
            "codeSize": day.rng.randint(40_000, 9_000_000),
            "timeout": 300 if function == "exports-scheduler" else 30,
            "memorySize": 512,
            "lastModified": moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "codeSha256": code_sha,
            "version": version,
            "revisionId": day.uuid(),
            "state": "Active",
            "lastUpdateStatus": status,
            "packageType": "Zip",
            "architectures": ["arm64"],
        }

    day.call(
        moment,
        HOME,
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        actor.using(GITHUB_CLI.format(command="lambda.update-function-code")),
        {
            "functionName": function,
            "s3Bucket": ARTIFACTS_BUCKET,
            "s3Key": f"{function}/{sha}.zip",
            "publish": False,
            "dryRun": False,
        },
        config("$LATEST", "InProgress"),
        read_only=False,
    )
    waiter = actor.using(GITHUB_CLI.format(command="lambda.wait"))
    for step in (5, 10):
        day.call(
            moment + dt.timedelta(seconds=step),
            HOME,
            "lambda.amazonaws.com",
            "GetFunctionConfiguration20150331v2",
            waiter,
            {"functionName": function},
            None,
            read_only=True,
        )
    version = str(day.rng.randint(40, 180))
    day.call(
        moment + dt.timedelta(seconds=12),
        HOME,
        "lambda.amazonaws.com",
        "PublishVersion20150331",
        actor.using(GITHUB_CLI.format(command="lambda.publish-version")),
        {"functionName": function, "codeSha256": code_sha, "description": sha[:12]},
        config(version, "Successful"),
        read_only=False,
    )
    day.call(
        moment + dt.timedelta(seconds=14),
        HOME,
        "lambda.amazonaws.com",
        "UpdateAlias20150331",
        actor.using(GITHUB_CLI.format(command="lambda.update-alias")),
        {"functionName": function, "name": "live", "functionVersion": version},
        {"aliasArn": f"{arn}:live", "name": "live", "functionVersion": version, "revisionId": day.uuid()},
        read_only=False,
    )


def ecs_deploy(day: Day, actor: Actor, moment: dt.datetime, sha: str) -> None:
    repository = f"{ACCOUNT}.dkr.ecr.{HOME}.amazonaws.com/orders-api"
    day.call(
        moment,
        HOME,
        "ecr.amazonaws.com",
        "GetAuthorizationToken",
        actor.using(GITHUB_CLI.format(command="ecr.get-login-password")),
        None,
        None,
        read_only=True,
    )
    pusher = Actor(
        actor.identity,
        actor.ip,
        "docker/28.0.4 go/go1.23.7 git-commit/6430e49 kernel/6.11.0-1018-azure os/linux arch/amd64 "
        "UpstreamClient(Docker-Client/28.0.4 \\(linux\\))",
    )
    moment += dt.timedelta(seconds=6)
    digest = "sha256:" + day.hexid(64)
    for name, request in (
        ("BatchCheckLayerAvailability", {"repositoryName": "orders-api", "layerDigests": [digest]}),
        ("InitiateLayerUpload", {"repositoryName": "orders-api"}),
        (
            "UploadLayerPart",
            {"repositoryName": "orders-api", "uploadId": day.uuid(), "partFirstByte": 0, "partLastByte": 31_457_279},
        ),
        ("CompleteLayerUpload", {"repositoryName": "orders-api", "layerDigests": [digest]}),
        ("PutImage", {"repositoryName": "orders-api", "imageTag": sha[:12]}),
    ):
        day.call(
            moment,
            HOME,
            "ecr.amazonaws.com",
            name,
            pusher,
            request,
            None,
            read_only=name == "BatchCheckLayerAvailability",
        )
        moment += dt.timedelta(seconds=day.rng.randint(1, 8))
    stack = f"arn:aws:cloudformation:{HOME}:{ACCOUNT}:stack/orders-api/1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f"
    change_set = f"arn:aws:cloudformation:{HOME}:{ACCOUNT}:changeSet/deploy-{sha[:12]}/{day.uuid()}"
    cfn = actor.using(GITHUB_CLI.format(command="cloudformation.deploy"))
    day.call(
        moment,
        HOME,
        "cloudformation.amazonaws.com",
        "CreateChangeSet",
        cfn,
        {
            "stackName": "orders-api",
            "templateURL": f"https://s3.{HOME}.amazonaws.com/{ARTIFACTS_BUCKET}/orders-api/{sha}.template.json",
            "parameters": [{"parameterKey": "ImageTag", "parameterValue": sha[:12]}],
            "capabilities": ["CAPABILITY_IAM"],
            "changeSetName": f"deploy-{sha[:12]}",
            "changeSetType": "UPDATE",
        },
        {"id": change_set, "stackId": stack},
        read_only=False,
    )
    for step in (3, 8):
        day.call(
            moment + dt.timedelta(seconds=step),
            HOME,
            "cloudformation.amazonaws.com",
            "DescribeChangeSet",
            cfn,
            {"changeSetName": change_set, "stackName": "orders-api"},
            None,
            read_only=True,
        )
    moment += dt.timedelta(seconds=10)
    day.call(
        moment,
        HOME,
        "cloudformation.amazonaws.com",
        "ExecuteChangeSet",
        cfn,
        {"changeSetName": change_set, "stackName": "orders-api"},
        None,
        read_only=False,
    )
    by_cfn = via_service(actor, "cloudformation.amazonaws.com")
    revision = day.rng.randint(200, 400)
    task_def = f"arn:aws:ecs:{HOME}:{ACCOUNT}:task-definition/orders-api:{revision}"
    day.call(
        moment + dt.timedelta(seconds=4),
        HOME,
        "ecs.amazonaws.com",
        "RegisterTaskDefinition",
        by_cfn,
        {
            "family": "orders-api",
            "taskRoleArn": role_arn("orders-api-task"),
            "executionRoleArn": role_arn("orders-api-execution"),
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {
                    "name": "orders-api",
                    "image": f"{repository}:{sha[:12]}",
                    "cpu": 512,
                    "memory": 1024,
                    "essential": True,
                    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                }
            ],
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "512",
            "memory": "1024",
        },
        {
            "taskDefinition": {
                "taskDefinitionArn": task_def,
                "family": "orders-api",
                "revision": revision,
                "status": "ACTIVE",
            }
        },
        read_only=False,
    )
    service = f"arn:aws:ecs:{HOME}:{ACCOUNT}:service/{ECS_CLUSTER}/orders-api"
    day.call(
        moment + dt.timedelta(seconds=7),
        HOME,
        "ecs.amazonaws.com",
        "UpdateService",
        by_cfn,
        {"cluster": ECS_CLUSTER, "service": "orders-api", "taskDefinition": task_def},
        {
            "service": {
                "serviceArn": service,
                "serviceName": "orders-api",
                "clusterArn": f"arn:aws:ecs:{HOME}:{ACCOUNT}:cluster/{ECS_CLUSTER}",
                "status": "ACTIVE",
                "desiredCount": 2,
                "taskDefinition": task_def,
            }
        },
        read_only=False,
    )
    for step in (40, 100, 160):
        day.call(
            moment + dt.timedelta(seconds=step),
            HOME,
            "ecs.amazonaws.com",
            "DescribeServices",
            by_cfn,
            {"cluster": ECS_CLUSTER, "services": ["orders-api"]},
            None,
            read_only=True,
        )
        day.call(
            moment + dt.timedelta(seconds=step + 5),
            HOME,
            "cloudformation.amazonaws.com",
            "DescribeStacks",
            cfn,
            {"stackName": "orders-api"},
            None,
            read_only=True,
        )
    day.call(
        moment + dt.timedelta(seconds=190),
        HOME,
        "ecs.amazonaws.com",
        "DeregisterTaskDefinition",
        by_cfn,
        {"taskDefinition": f"arn:aws:ecs:{HOME}:{ACCOUNT}:task-definition/orders-api:{revision - 1}"},
        None,
        read_only=False,
    )


def terraform_run(day: Day) -> None:
    """The infrastructure pipeline builds a partner portal: public VPC, internet-facing ALB, an IAM user.

    All of it by the role terraform-deploy, whose routine findings samples/trailguard.toml suppresses.
    """
    start = at(10, 50, 11)
    session = assume_role_github(
        day, start, "terraform-deploy", "repo:fernhill/infrastructure:environment:production", day.runner_ip()
    )

    def tf(api: str) -> Actor:
        return session.using(TERRAFORM.format(api=api))

    ec2 = tf("ec2#1.258.0")
    elb = tf("elasticloadbalancingv2#1.50.3")
    moment = start + dt.timedelta(seconds=4)

    def step(seconds: int = 1) -> dt.datetime:
        nonlocal moment
        moment += dt.timedelta(seconds=seconds)
        return moment

    def ec2_call(name: str, request: Record, response: Record | None = None, *, read_only: bool = False) -> None:
        if response is None and not read_only:
            response = {"requestId": day.uuid(), "_return": True}
        day.call(
            step(day.rng.randint(1, 3)), HOME, "ec2.amazonaws.com", name, ec2, request, response, read_only=read_only
        )

    day.call(step(), HOME, "sts.amazonaws.com", "GetCallerIdentity", tf("sts#1.38.9"), None, None, read_only=True)
    ec2_call("DescribeAvailabilityZones", {"availabilityZoneSet": {}, "availabilityZoneIdSet": {}}, read_only=True)
    ec2_call("DescribeVpcs", {"vpcSet": {}, "filterSet": {}}, read_only=True)
    ec2_call(
        "CreateVpc",
        {
            "cidrBlock": "10.42.0.0/16",
            "instanceTenancy": "default",
            "amazonProvidedIpv6CidrBlock": False,
            "tagSpecificationSet": {
                "items": [{"resourceType": "vpc", "tags": [{"key": "Name", "value": "partner-portal"}]}]
            },
        },
        {
            "requestId": day.uuid(),
            "vpc": {
                "vpcId": TF_VPC,
                "state": "pending",
                "ownerId": ACCOUNT,
                "cidrBlock": "10.42.0.0/16",
                "instanceTenancy": "default",
                "isDefault": False,
            },
        },
    )
    ec2_call("DescribeVpcs", {"vpcSet": {"items": [{"vpcId": TF_VPC}]}, "filterSet": {}}, read_only=True)
    ec2_call("ModifyVpcAttribute", {"vpcId": TF_VPC, "enableDnsHostnames": {"value": True}})
    ec2_call(
        "CreateInternetGateway",
        {
            "tagSpecificationSet": {
                "items": [{"resourceType": "internet-gateway", "tags": [{"key": "Name", "value": "partner-portal"}]}]
            }
        },
        {
            "requestId": day.uuid(),
            "internetGateway": {"internetGatewayId": TF_IGW, "ownerId": ACCOUNT, "attachmentSet": {}},
        },
    )
    ec2_call("AttachInternetGateway", {"internetGatewayId": TF_IGW, "vpcId": TF_VPC})
    for index, (subnet, zone) in enumerate(zip(TF_SUBNETS, ("eu-west-1a", "eu-west-1b"), strict=True)):
        ec2_call(
            "CreateSubnet",
            {"vpcId": TF_VPC, "cidrBlock": f"10.42.{index}.0/24", "availabilityZone": zone},
            {
                "requestId": day.uuid(),
                "subnet": {
                    "subnetId": subnet,
                    "state": "available",
                    "vpcId": TF_VPC,
                    "cidrBlock": f"10.42.{index}.0/24",
                    "availabilityZone": zone,
                    "mapPublicIpOnLaunch": False,
                },
            },
        )
    ec2_call(
        "CreateRouteTable",
        {"vpcId": TF_VPC},
        {"requestId": day.uuid(), "routeTable": {"routeTableId": TF_ROUTE_TABLE, "vpcId": TF_VPC, "ownerId": ACCOUNT}},
    )
    ec2_call("CreateRoute", {"routeTableId": TF_ROUTE_TABLE, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": TF_IGW})
    for subnet in TF_SUBNETS:
        ec2_call(
            "AssociateRouteTable",
            {"routeTableId": TF_ROUTE_TABLE, "subnetId": subnet},
            {
                "requestId": day.uuid(),
                "associationId": "rtbassoc-0" + day.hexid(16),
                "associationState": {"state": "associated"},
            },
        )
    ec2_call(
        "CreateSecurityGroup",
        {"groupName": "partner-portal-alb", "groupDescription": "Partner portal load balancer", "vpcId": TF_VPC},
        {"requestId": day.uuid(), "_return": True, "groupId": TF_SG},
    )
    ec2_call(
        "RevokeSecurityGroupEgress",
        {
            "groupId": TF_SG,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "-1",
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
    )
    # Near-miss: 80 and 443 open to the world on a load balancer are allowed ports.
    ingress = [
        {
            "ipProtocol": "tcp",
            "fromPort": port,
            "toPort": port,
            "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "public web"}]},
            "ipv6Ranges": {},
            "prefixListIds": {},
        }
        for port in (443, 80)
    ]
    ec2_call(
        "AuthorizeSecurityGroupIngress",
        {"groupId": TF_SG, "ipPermissions": {"items": ingress}},
        {
            "requestId": day.uuid(),
            "_return": True,
            "securityGroupRuleSet": {
                "items": [
                    {
                        "groupOwnerId": ACCOUNT,
                        "groupId": TF_SG,
                        "securityGroupRuleId": "sgr-0" + day.hexid(16),
                        "description": "public web",
                        "isEgress": False,
                        "ipProtocol": "tcp",
                        "fromPort": port,
                        "toPort": port,
                        "cidrIpv4": "0.0.0.0/0",
                    }
                    for port in (443, 80)
                ]
            },
        },
    )
    ec2_call(
        "AuthorizeSecurityGroupEgress",
        {
            "groupId": TF_SG,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 8080,
                        "toPort": 8080,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "10.42.0.0/16"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
    )
    moment = step(4)
    day.call(
        moment,
        HOME,
        "elasticloadbalancing.amazonaws.com",
        "CreateLoadBalancer",
        elb,
        {
            "name": TF_LB_NAME,
            "subnets": list(TF_SUBNETS),
            "securityGroups": [TF_SG],
            "scheme": "internet-facing",
            "type": "application",
            "ipAddressType": "ipv4",
        },
        {
            "loadBalancers": [
                {
                    "loadBalancerArn": TF_LB_ARN,
                    "dNSName": f"{TF_LB_NAME}-1187642203.{HOME}.elb.amazonaws.com",
                    "canonicalHostedZoneId": "Z32O12XQLNTSW2",
                    "createdTime": aws_date(moment),
                    "loadBalancerName": TF_LB_NAME,
                    "scheme": "internet-facing",
                    "vpcId": TF_VPC,
                    "state": {"code": "provisioning"},
                    "type": "application",
                    "availabilityZones": [
                        {"zoneName": z, "subnetId": s, "loadBalancerAddresses": []}
                        for s, z in zip(TF_SUBNETS, ("eu-west-1a", "eu-west-1b"), strict=True)
                    ],
                    "securityGroups": [TF_SG],
                    "ipAddressType": "ipv4",
                }
            ]
        },
        read_only=False,
        api_version="2015-12-01",
    )
    day.call(
        step(3),
        HOME,
        "elasticloadbalancing.amazonaws.com",
        "CreateTargetGroup",
        elb,
        {
            "name": "partner-portal-web",
            "protocol": "HTTP",
            "port": 8080,
            "vpcId": TF_VPC,
            "targetType": "ip",
            "healthCheckPath": "/healthz",
        },
        {
            "targetGroups": [
                {
                    "targetGroupArn": TF_TG_ARN,
                    "targetGroupName": "partner-portal-web",
                    "protocol": "HTTP",
                    "port": 8080,
                    "vpcId": TF_VPC,
                    "targetType": "ip",
                }
            ]
        },
        read_only=False,
        api_version="2015-12-01",
    )
    # Near-misses: HTTP only redirects to HTTPS; HTTPS uses a TLS 1.2+ policy.
    listeners: tuple[Record, ...] = (
        {
            "loadBalancerArn": TF_LB_ARN,
            "protocol": "HTTPS",
            "port": 443,
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "certificates": [
                {"certificateArn": f"arn:aws:acm:{HOME}:{ACCOUNT}:certificate/7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"}
            ],
            "defaultActions": [{"type": "forward", "targetGroupArn": TF_TG_ARN}],
        },
        {
            "loadBalancerArn": TF_LB_ARN,
            "protocol": "HTTP",
            "port": 80,
            "defaultActions": [
                {
                    "type": "redirect",
                    "redirectConfig": {
                        "protocol": "HTTPS",
                        "port": "443",
                        "host": "#{host}",
                        "path": "/#{path}",
                        "query": "#{query}",
                        "statusCode": "HTTP_301",
                    },
                }
            ],
        },
    )
    for listener in listeners:
        arn = (
            f"arn:aws:elasticloadbalancing:{HOME}:{ACCOUNT}:listener/app/{TF_LB_NAME}/8f3c1a2b4d5e6f70/{day.hexid(16)}"
        )
        day.call(
            step(2),
            HOME,
            "elasticloadbalancing.amazonaws.com",
            "CreateListener",
            elb,
            listener,
            {"listeners": [{"listenerArn": arn, **listener}]},
            read_only=False,
            api_version="2015-12-01",
        )
    iam = tf("iam#1.47.8")
    moment = step(3)
    day.call(
        moment,
        GLOBAL,
        "iam.amazonaws.com",
        "CreateUser",
        iam,
        {
            "userName": TF_USER,
            "path": "/service/",
            "tags": [{"key": "purpose", "value": "SES SMTP for the partner portal"}],
        },
        {
            "user": {
                "path": "/service/",
                "userName": TF_USER,
                "userId": "AIDA" + day.pick(UPPER_ALNUM, 17),
                "arn": f"arn:aws:iam::{ACCOUNT}:user/service/{TF_USER}",
                "createDate": aws_date(moment),
                "tags": [{"key": "purpose", "value": "SES SMTP for the partner portal"}],
            }
        },
        read_only=False,
    )
    day.call(step(1), GLOBAL, "iam.amazonaws.com", "GetUser", iam, {"userName": TF_USER}, None, read_only=True)


# =================================================================================================
# The incident
# =================================================================================================


def incident(day: Day) -> None:
    """The leaked ci-legacy key in the afternoon, the trail stopped, and anna's response."""
    leaked = Actor(iam_user(day, "ci-legacy", CI_LEGACY_KEY), ATTACKER_IP, "")

    def cli(actor: Actor, command: str) -> Actor:
        return actor.using(ATTACKER_CLI.format(command=command))

    moment = at(14, 7, 3)
    day.call(
        moment,
        GLOBAL,
        "sts.amazonaws.com",
        "GetCallerIdentity",
        cli(leaked, "sts.get-caller-identity"),
        None,
        None,
        read_only=True,
    )
    day.call(
        at(14, 7, 31),
        GLOBAL,
        "iam.amazonaws.com",
        "ListUsers",
        cli(leaked, "iam.list-users"),
        None,
        None,
        read_only=True,
    )
    day.call(
        at(14, 7, 52),
        GLOBAL,
        "iam.amazonaws.com",
        "ListAttachedUserPolicies",
        cli(leaked, "iam.list-attached-user-policies"),
        {"userName": "ci-legacy"},
        None,
        read_only=True,
    )
    day.call(
        at(14, 8, 40),
        GLOBAL,
        "s3.amazonaws.com",
        "ListBuckets",
        cli(leaked, "s3.ls"),
        {"Host": "s3.amazonaws.com"},
        None,
        read_only=True,
        request_id=day.s3_request_id(),
        additional={
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": day.amz_id2(),
            "bytesTransferredOut": 2418,
        },
        host="s3.amazonaws.com",
    )
    day.call(
        at(14, 9, 5),
        GLOBAL,
        "ec2.amazonaws.com",
        "DescribeInstances",
        cli(leaked, "ec2.describe-instances"),
        {"instancesSet": {}, "filterSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(14, 9, 20),
        GLOBAL,
        "ec2.amazonaws.com",
        "DescribeRegions",
        cli(leaked, "ec2.describe-regions"),
        {"regionSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(14, 10, 30),
        HOME,
        "ec2.amazonaws.com",
        "DescribeInstances",
        cli(leaked, "ec2.describe-instances"),
        {"instancesSet": {}, "filterSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(14, 10, 58),
        HOME,
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        cli(leaked, "ec2.describe-security-groups"),
        {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(14, 11, 25),
        HOME,
        "ec2.amazonaws.com",
        "DescribeSnapshots",
        cli(leaked, "ec2.describe-snapshots"),
        {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "restorableBySet": {}, "filterSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(14, 11, 50),
        HOME,
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        cli(leaked, "cloudtrail.describe-trails"),
        {"trailNameList": [], "includeShadowTrails": True},
        None,
        read_only=True,
    )

    # Persistence: a new administrator with a key and a console password.
    moment = at(14, 14, 10)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/support-sync"
    day.call(
        moment,
        GLOBAL,
        "iam.amazonaws.com",
        "CreateUser",
        cli(leaked, "iam.create-user"),
        {"userName": "support-sync"},
        {
            "user": {
                "path": "/",
                "userName": "support-sync",
                "userId": principal_id(day, "user/support-sync", "AIDA"),
                "arn": user_arn,
                "createDate": aws_date(moment),
            }
        },
        read_only=False,
    )
    day.call(
        at(14, 14, 38),
        GLOBAL,
        "iam.amazonaws.com",
        "AttachUserPolicy",
        cli(leaked, "iam.attach-user-policy"),
        {"userName": "support-sync", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        None,
        read_only=False,
    )
    moment = at(14, 15, 2)
    day.call(
        moment,
        GLOBAL,
        "iam.amazonaws.com",
        "CreateAccessKey",
        cli(leaked, "iam.create-access-key"),
        {"userName": "support-sync"},
        {
            "accessKey": {
                "userName": "support-sync",
                "accessKeyId": SUPPORT_SYNC_KEY,
                "status": "Active",
                "createDate": aws_date(moment),
            }
        },
        read_only=False,
    )
    moment = at(14, 15, 30)
    day.call(
        moment,
        GLOBAL,
        "iam.amazonaws.com",
        "CreateLoginProfile",
        cli(leaked, "iam.create-login-profile"),
        {"userName": "support-sync", "passwordResetRequired": False},
        {"loginProfile": {"userName": "support-sync", "createDate": aws_date(moment), "passwordResetRequired": False}},
        read_only=False,
    )

    # As the new administrator.
    admin = Actor(iam_user(day, "support-sync", SUPPORT_SYNC_KEY), ATTACKER_IP, "")
    day.call(
        at(14, 18, 12),
        GLOBAL,
        "sts.amazonaws.com",
        "GetCallerIdentity",
        cli(admin, "sts.get-caller-identity"),
        None,
        None,
        read_only=True,
    )
    rule_id = "sgr-0" + day.hexid(16)
    day.call(
        at(14, 21, 40),
        HOME,
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        cli(admin, "ec2.authorize-security-group-ingress"),
        {
            "groupId": WEB_SG,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
        {
            "requestId": day.uuid(),
            "_return": True,
            "securityGroupRuleSet": {
                "items": [
                    {
                        "groupOwnerId": ACCOUNT,
                        "groupId": WEB_SG,
                        "securityGroupRuleId": rule_id,
                        "isEgress": False,
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "cidrIpv4": "0.0.0.0/0",
                    }
                ]
            },
        },
        read_only=False,
    )
    data = f"arn:aws:s3:::{DATA_BUCKET}"
    s3_extra = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "AuthenticationMethod": "AuthHeader",
    }
    day.call(
        at(14, 26, 5),
        HOME,
        "s3.amazonaws.com",
        "PutBucketPublicAccessBlock",
        cli(admin, "s3api.put-public-access-block"),
        {
            "publicAccessBlock": "",
            "bucketName": DATA_BUCKET,
            "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "RestrictPublicBuckets": False,
                "BlockPublicPolicy": False,
                "BlockPublicAcls": False,
                "IgnorePublicAcls": False,
            },
            "Host": f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
        },
        None,
        read_only=False,
        request_id=day.s3_request_id(),
        additional={**s3_extra, "bytesTransferredIn": 282, "x-amz-id-2": day.amz_id2(), "bytesTransferredOut": 0},
        resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": data}],
        host=f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
    )
    day.call(
        at(14, 26, 41),
        HOME,
        "s3.amazonaws.com",
        "PutBucketPolicy",
        cli(admin, "s3api.put-bucket-policy"),
        {
            "bucketPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "sync",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [data, f"{data}/*"],
                    }
                ],
            },
            "bucketName": DATA_BUCKET,
            "Host": f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
            "policy": "",
        },
        None,
        read_only=False,
        request_id=day.s3_request_id(),
        additional={**s3_extra, "bytesTransferredIn": 231, "x-amz-id-2": day.amz_id2(), "bytesTransferredOut": 0},
        resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": data}],
        host=f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
    )
    request_id = day.uuid()
    day.call(
        at(14, 33, 18),
        HOME,
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        cli(admin, "ec2.modify-snapshot-attribute"),
        {
            "snapshotId": ATTACK_SNAPSHOT,
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": EXTERNAL_ACCOUNT}]}},
        },
        {"requestId": request_id, "_return": True},
        read_only=False,
        request_id=request_id,
    )
    # An SCP denies cloudtrail:DeleteTrail, but not StopLogging.
    day.call(
        at(14, 38, 2),
        HOME,
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        cli(admin, "cloudtrail.delete-trail"),
        {"name": TRAIL_NAME},
        None,
        read_only=False,
        error=(
            "AccessDenied",
            f"User: {user_arn} is not authorized to perform: cloudtrail:DeleteTrail on resource: {TRAIL_ARN} "
            "with an explicit deny in a service control policy",
        ),
    )
    stopped = at(14, 38, 30)
    day.call(
        stopped,
        HOME,
        "cloudtrail.amazonaws.com",
        "StopLogging",
        cli(admin, "cloudtrail.stop-logging"),
        {"name": TRAIL_NAME},
        None,
        read_only=False,
    )

    # Nothing is recorded until anna, alerted, restarts the trail from her console session.
    anna = console_actor(day, "anna.schmidt", at(8, 55, 4))
    restarted = at(14, 44, 51)
    day.gap = (stopped, restarted)
    day.call(
        restarted, HOME, "cloudtrail.amazonaws.com", "StartLogging", anna, {"name": TRAIL_ARN}, None, read_only=False
    )
    moment = console_browse(
        day,
        anna,
        restarted + dt.timedelta(seconds=20),
        6,
        tuple(c for c in CONSOLE_READS if c[1] == "iam.amazonaws.com"),
    )

    def respond(region: str, source: str, name: str, request: Record, response: Record | None = None) -> None:
        nonlocal moment
        moment += dt.timedelta(seconds=day.rng.randint(15, 70))
        extra: dict[str, Any] = {}
        if source == "s3.amazonaws.com":
            extra = {
                "request_id": day.s3_request_id(),
                "resources": [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": data}],
                "host": f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
            }
        day.call(moment, region, source, name, anna, request, response, read_only=False, **extra)

    # Containment, then clean-up: none of these must raise a finding.
    respond(
        GLOBAL,
        "iam.amazonaws.com",
        "UpdateAccessKey",
        {"userName": "ci-legacy", "accessKeyId": CI_LEGACY_KEY, "status": "Inactive"},
    )
    respond(
        GLOBAL,
        "iam.amazonaws.com",
        "UpdateAccessKey",
        {"userName": "support-sync", "accessKeyId": SUPPORT_SYNC_KEY, "status": "Inactive"},
    )
    respond(GLOBAL, "iam.amazonaws.com", "DeleteLoginProfile", {"userName": "support-sync"})
    respond(
        HOME,
        "ec2.amazonaws.com",
        "RevokeSecurityGroupIngress",
        {"groupId": WEB_SG, "securityGroupRuleIds": {"items": [{"securityGroupRuleId": rule_id}]}},
        {"requestId": day.uuid(), "_return": True},
    )
    respond(
        HOME,
        "s3.amazonaws.com",
        "DeleteBucketPolicy",
        {"bucketName": DATA_BUCKET, "Host": f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com", "policy": ""},
    )
    respond(
        HOME,
        "s3.amazonaws.com",
        "PutBucketPublicAccessBlock",
        {
            "publicAccessBlock": "",
            "bucketName": DATA_BUCKET,
            "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "RestrictPublicBuckets": True,
                "BlockPublicPolicy": True,
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
            },
            "Host": f"{DATA_BUCKET}.s3.{HOME}.amazonaws.com",
        },
    )
    respond(
        HOME,
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        {
            "snapshotId": ATTACK_SNAPSHOT,
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"remove": {"items": [{"userId": EXTERNAL_ACCOUNT}]}},
        },
        {"requestId": day.uuid(), "_return": True},
    )
    respond(
        GLOBAL,
        "iam.amazonaws.com",
        "DetachUserPolicy",
        {"userName": "support-sync", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    respond(
        GLOBAL, "iam.amazonaws.com", "DeleteAccessKey", {"userName": "support-sync", "accessKeyId": SUPPORT_SYNC_KEY}
    )
    respond(GLOBAL, "iam.amazonaws.com", "DeleteUser", {"userName": "support-sync"})


# =================================================================================================
# Chapter 2, the evening: wave-2 attacks with a second leaked key, and AWS at work by itself
# =================================================================================================
ML_KEY = "AKIA" + "M4T8QX2VN6RJ3KDH"  # the key of ml-experiments, pasted into a public notebook
SECOND_ATTACKER_IP = "192.0.2.201"
ATTACKER_BOTO = (
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.8.0-45-generic md/arch#x86_64 lang/python#3.12.3 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36"
)
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
FLOW_LOG_GROUP = "/fernhill/vpc-flow-logs"  # an audit log group by the default audit_log_groups
ACCESS_LOGS_BUCKET = "fernhill-access-logs"  # the load balancers' and buckets' access logs
BACKUP_VAULT = "fernhill-daily"
BUILD_KEY_PAIR = "build-runner-2026-11"
ECS_SCALING_ROLE = "AWSServiceRoleForApplicationAutoScaling_ECSService"
ECS_SCALING_PATH = "/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
BACKUP_ROLE = "AWSServiceRoleForBackup"
BACKUP_PATH = "/aws-service-role/backup.amazonaws.com/"


def web_servers_running(day: Day, moment: dt.datetime) -> list[str]:
    """The web servers Auto Scaling has launched and not yet terminated at ``moment``."""
    running: list[str] = []
    for when, _, record in sorted(day.records, key=lambda entry: (entry[0], entry[1])):
        if when >= moment or record["eventSource"] != "ec2.amazonaws.com":
            continue
        items = (record["responseElements"] or {}).get("instancesSet", {}).get("items", [])
        if record["eventName"] == "RunInstances":
            running.extend(item["instanceId"] for item in items)
        elif record["eventName"] == "TerminateInstances":
            running = [instance for instance in running if instance not in {item["instanceId"] for item in items}]
    return running


def evening_routine(day: Day) -> None:
    """Near-misses of the evening: people's routine changes and AWS's service-linked roles at work."""
    ben = console_actor(day, "ben.okafor", at(8, 41, 37))
    chloe = console_actor(day, "chloe.dubois", at(9, 20, 48))

    # A key pair for the new build runner: reported LOW on purpose (see samples/README.md).
    moment = at(17, 21, 14)
    day.call(
        moment,
        HOME,
        "ec2.amazonaws.com",
        "CreateKeyPair",
        ben,
        {"keyName": BUILD_KEY_PAIR, "keyType": "ed25519", "keyFormat": "pem"},
        {
            "requestId": day.uuid(),
            "keyName": BUILD_KEY_PAIR,
            "keyFingerprint": day.pick(B64, 43) + "=",
            "keyPairId": "key-0" + day.hexid(16),
            "keyMaterial": "<sensitiveDataRemoved>",
        },
        read_only=False,
    )

    # Near-miss: access logs expire after a year (and half-finished uploads after a week).
    logs_bucket = f"arn:aws:s3:::{ACCESS_LOGS_BUCKET}"
    day.call(
        at(17, 48, 33),
        HOME,
        "s3.amazonaws.com",
        "PutBucketLifecycle",
        ben,
        {
            "bucketName": ACCESS_LOGS_BUCKET,
            "Host": f"{ACCESS_LOGS_BUCKET}.s3.{HOME}.amazonaws.com",
            "LifecycleConfiguration": {
                "Rule": [
                    {
                        "Expiration": {"Days": 365},
                        "Filter": {"Prefix": "logs/"},
                        "ID": "expire-logs",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        "Status": "Enabled",
                    },
                    {
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        "Filter": "",
                        "ID": "abort-uploads",
                        "Status": "Enabled",
                    },
                ],
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            },
            "lifecycle": "",
        },
        None,
        read_only=False,
        request_id=day.s3_request_id(),
        additional={
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 398,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": day.amz_id2(),
            "bytesTransferredOut": 0,
        },
        resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": logs_bucket}],
        host=f"{ACCESS_LOGS_BUCKET}.s3.{HOME}.amazonaws.com",
    )

    # Chloe replaces the orders-api service's CPU target with a request-count one; Application Auto
    # Scaling's service-linked role then deletes the old policy's alarms (AWS acting by itself).
    resource_id = f"service/{ECS_CLUSTER}/orders-api"
    scaling = {"serviceNamespace": "ecs", "resourceId": resource_id, "scalableDimension": "ecs:service:DesiredCount"}
    moment = at(18, 27, 40)
    day.call(
        moment,
        HOME,
        "application-autoscaling.amazonaws.com",
        "DeleteScalingPolicy",
        chloe,
        {"policyName": "orders-api-cpu60", **scaling},
        None,
        read_only=False,
    )
    policy_id = day.uuid()
    new_alarms = [f"TargetTracking-{resource_id}-Alarm{kind}-{day.uuid()}" for kind in ("High", "Low")]
    day.call(
        moment + dt.timedelta(seconds=41),
        HOME,
        "application-autoscaling.amazonaws.com",
        "PutScalingPolicy",
        chloe,
        {
            "policyName": "orders-api-requests800",
            **scaling,
            "policyType": "TargetTrackingScaling",
            "targetTrackingScalingPolicyConfiguration": {
                "targetValue": 800.0,
                "predefinedMetricSpecification": {
                    "predefinedMetricType": "ALBRequestCountPerTarget",
                    "resourceLabel": "app/orders-api/4b7d9e1f3a5c7e90/targetgroup/orders-api/1c3e5a7b9d2f4a6c",
                },
                "scaleOutCooldown": 60,
                "scaleInCooldown": 300,
            },
        },
        {
            "policyARN": (
                f"arn:aws:autoscaling:{HOME}:{ACCOUNT}:scalingPolicy:{policy_id}:resource/ecs/{resource_id}"
                ":policyName/orders-api-requests800"
            ),
            "alarms": [
                {"alarmName": name, "alarmARN": f"arn:aws:cloudwatch:{HOME}:{ACCOUNT}:alarm:{name}"}
                for name in new_alarms
            ],
        },
        read_only=False,
    )
    scaler = via_service(
        Actor(
            assumed_role(day, ECS_SCALING_ROLE, "AutoScaling", day.key_id("ASIA"), at(0, 12, 9), path=ECS_SCALING_PATH),
            "",
            "",
        ),
        "ecs.application-autoscaling.amazonaws.com",
    )
    day.call(
        moment + dt.timedelta(seconds=3),
        HOME,
        "monitoring.amazonaws.com",
        "DeleteAlarms",
        scaler,
        {"alarmNames": [f"TargetTracking-{resource_id}-Alarm{kind}-{day.uuid()}" for kind in ("High", "Low")]},
        None,
        read_only=False,
    )

    # Near-miss: AWS Backup deletes a recovery point at the end of its 35-day retention.
    backup = via_service(
        Actor(
            assumed_role(
                day, BACKUP_ROLE, f"AWSBackup-{BACKUP_ROLE}", day.key_id("ASIA"), at(19, 0, 2), path=BACKUP_PATH
            ),
            "",
            "",
        ),
        "backup.amazonaws.com",
    )
    day.call(
        at(19, 0, 27),
        HOME,
        "backup.amazonaws.com",
        "DeleteRecoveryPoint",
        backup,
        {
            "backupVaultName": BACKUP_VAULT,
            "recoveryPointArn": f"arn:aws:backup:{HOME}:{ACCOUNT}:recovery-point:{day.uuid().upper()}",
        },
        None,
        read_only=False,
    )


def second_incident(day: Day) -> None:
    """19:52-20:21: the leaked key of ml-experiments buys an LLM and a mail service, runs a script
    on the web servers and deletes the VPC flow logs; Anna deactivates the key at 20:34."""
    leaked = Actor(iam_user(day, "ml-experiments", ML_KEY), SECOND_ATTACKER_IP, ATTACKER_BOTO)

    day.call(at(19, 52, 8), GLOBAL, "sts.amazonaws.com", "GetCallerIdentity", leaked, None, None, read_only=True)
    day.call(
        at(19, 52, 40),
        GLOBAL,
        "bedrock.amazonaws.com",
        "ListFoundationModels",
        leaked,
        {"byProvider": "anthropic"},
        None,
        read_only=True,
    )
    # Model access: the use-case form, the offer accepted, the entitlement put in place.
    day.call(
        at(19, 53, 15),
        GLOBAL,
        "bedrock.amazonaws.com",
        "PutUseCaseForModelAccess",
        leaked,
        None,
        None,
        read_only=False,
    )
    day.call(
        at(19, 53, 31),
        GLOBAL,
        "bedrock.amazonaws.com",
        "ListFoundationModelAgreementOffers",
        leaked,
        {"modelId": BEDROCK_MODEL},
        None,
        read_only=True,
    )
    day.call(
        at(19, 53, 34),
        GLOBAL,
        "bedrock.amazonaws.com",
        "CreateFoundationModelAgreement",
        leaked,
        {"modelId": BEDROCK_MODEL},
        {"modelId": BEDROCK_MODEL.rsplit(":", 1)[0]},
        read_only=False,
    )
    day.call(
        at(19, 53, 36),
        GLOBAL,
        "bedrock.amazonaws.com",
        "PutFoundationModelEntitlement",
        leaked,
        {"modelId": BEDROCK_MODEL},
        {"status": "SUCCESS"},
        read_only=False,
    )

    # SES: out of the sandbox, to send mail in the company's name.
    ses_host = f"email.{HOME}.amazonaws.com"
    day.call(at(19, 58, 2), HOME, "ses.amazonaws.com", "GetAccount", leaked, None, None, read_only=True, host=ses_host)
    day.call(
        at(19, 58, 49),
        HOME,
        "ses.amazonaws.com",
        "PutAccountDetails",
        leaked,
        {
            "mailType": "TRANSACTIONAL",
            "websiteURL": "https://fernhill-billing.example.net",
            "contactLanguage": "EN",
            "useCaseDescription": "Invoices and payment reminders for our customers.",
            "additionalContactEmailAddresses": ["billing@fernhill-billing.example.net"],
            "productionAccessEnabled": True,
        },
        None,
        read_only=False,
        host=ses_host,
    )

    # A script on every running web server, through SSM Run Command.
    day.call(
        at(20, 9, 12),
        HOME,
        "ec2.amazonaws.com",
        "DescribeInstances",
        leaked,
        {"instancesSet": {}, "filterSet": {}},
        None,
        read_only=True,
    )
    day.call(
        at(20, 9, 40),
        HOME,
        "ssm.amazonaws.com",
        "DescribeInstanceInformation",
        leaked,
        {"maxResults": 50},
        None,
        read_only=True,
    )
    moment = at(20, 11, 5)
    instances = web_servers_running(day, moment)
    command_id = day.uuid()
    day.call(
        moment,
        HOME,
        "ssm.amazonaws.com",
        "SendCommand",
        leaked,
        {
            "documentName": "AWS-RunShellScript",
            "instanceIds": instances,
            "interactive": False,
            "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS",
        },
        {
            "command": {
                "alarmConfiguration": {"alarms": [], "ignorePollAlarmFailure": False},
                "clientName": "",
                "clientSourceId": "",
                "cloudWatchOutputConfig": {"cloudWatchLogGroupName": "", "cloudWatchOutputEnabled": False},
                "commandId": command_id,
                "comment": "",
                "completedCount": 0,
                "deliveryTimedOutCount": 0,
                "documentName": "AWS-RunShellScript",
                "documentVersion": "$DEFAULT",
                "errorCount": 0,
                "expiresAfter": aws_date(moment + dt.timedelta(hours=2)),
                "hasCancelCommandSignature": False,
                "hasSendCommandSignature": False,
                "instanceIds": instances,
                "interactive": False,
                "maxConcurrency": "50",
                "maxErrors": "0",
                "notificationConfig": {"notificationArn": "", "notificationEvents": [], "notificationType": ""},
                "outputS3BucketName": "",
                "outputS3KeyPrefix": "",
                "outputS3Region": HOME,
                "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS",
                "requestedDateTime": aws_date(moment),
                "serviceRole": "",
                "status": "Pending",
                "statusDetails": "Pending",
                "targetCount": len(instances),
                "targets": [],
                "timeoutSeconds": 3600,
                "triggeredAlarms": [],
            }
        },
        read_only=False,
    )
    day.call(
        at(20, 13, 2),
        HOME,
        "ssm.amazonaws.com",
        "ListCommandInvocations",
        leaked,
        {"commandId": command_id, "details": True},
        None,
        read_only=True,
    )

    # Tracks covered: the flow logs that show where the servers now connect to.
    day.call(
        at(20, 20, 18),
        HOME,
        "logs.amazonaws.com",
        "DescribeLogGroups",
        leaked,
        {"limit": 50},
        None,
        read_only=True,
    )
    day.call(
        at(20, 21, 3),
        HOME,
        "logs.amazonaws.com",
        "DeleteLogGroup",
        leaked,
        {"logGroupName": FLOW_LOG_GROUP},
        None,
        read_only=False,
    )

    # Anna, alerted, deactivates the key from her console session.
    anna = console_actor(day, "anna.schmidt", at(8, 55, 4))
    day.call(
        at(20, 34, 27),
        GLOBAL,
        "iam.amazonaws.com",
        "UpdateAccessKey",
        anna,
        {"userName": "ml-experiments", "accessKeyId": ML_KEY, "status": "Inactive"},
        None,
        read_only=False,
    )


# =================================================================================================
SCENES: tuple[Callable[[Day], None], ...] = (
    monitoring,
    aws_config,
    applications,
    autoscaling,
    people,
    nightly_jobs,
    deploys,
    terraform_run,
    incident,
    # Chapter 2, added after the first so that the first day's records stay as they were.
    evening_routine,
    second_incident,
)


def generate(outdir: Path) -> list[Path]:
    day = Day(SEED)
    for scene in SCENES:
        scene(day)
    late = [entry for entry in day.records if entry[0] >= DAY_END]
    if late:
        raise RuntimeError(f"{len(late)} events fall after {DAY_END:%H:%M}")
    return day.write(outdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path, help="directory to write AWSLogs/ into (AWSLogs/ is replaced)")
    args = parser.parse_args(argv)
    outdir: Path = args.outdir
    outdir.mkdir(parents=True, exist_ok=True)
    files = generate(outdir)
    records = sum(len(json.loads(zlib.decompress(path.read_bytes(), 31))["Records"]) for path in files)
    size = sum(path.stat().st_size for path in files)
    print(f"wrote {records} records in {len(files)} files ({size / 1024:.0f} KiB) under {outdir / 'AWSLogs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
