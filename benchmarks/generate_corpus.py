"""Generate a large, realistic, deterministic CloudTrail archive for `make bench`.

The archive looks like what CloudTrail delivers to S3::

    <out>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
        <account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<16 random chars>.json.gz

Each file is ``{"Records": [...]}`` (compact JSON, gzipped) with about 1,000 records of one account
and region. The mix is what a busy account produces: mostly read-only Describe/List/Get calls,
STS AssumeRole, KMS Decrypt/GenerateDataKey by services, S3 data events, a little routine write
traffic, and about 1% of calls that the rules (docs/rules.md) subscribe to (RunInstances,
CreateUser, AuthorizeSecurityGroupIngress, PutBucketPolicy, UpdateFunctionCode20150331v2,
ConsoleLogin, StopLogging ...), some of them failed (AccessDenied), a few by the root user.
Global-service events (IAM, sign-in, Organizations) appear in us-east-1 files only, as in AWS.

Output is a pure function of (events, seed, records per file, GENERATOR_VERSION): file ``i`` is built
from its own ``random.Random(f"{seed}:{i}")``, so the worker count does not change a byte.
``manifest.json`` is written last and marks a complete archive; ``ensure_corpus`` reuses an archive
whose manifest matches the parameters.

Usage: ``python benchmarks/generate_corpus.py [--events N] [--seed S] [--out DIR] [--workers N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

try:
    from isal import igzip as _gzip_impl
except ImportError:  # pragma: no cover - isal is a project dependency
    import gzip as _gzip_impl  # type: ignore[no-redef]

# Bump when the output changes, so cached archives are regenerated.
GENERATOR_VERSION = 2
DEFAULT_EVENTS = 1_000_000
DEFAULT_SEED = 20240514
RECORDS_PER_FILE = 1_000
FILE_MINUTES = 5
START = dt.datetime(2024, 5, 14, 0, 0, tzinfo=dt.UTC)
MANIFEST = "manifest.json"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO / ".bench"

ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
GLOBAL_REGION = "us-east-1"
UPPER_ALNUM = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits

Record = dict[str, Any]
Params = Callable[["Ctx"], Any]


# ------------------------------------------------------------------------------------------------
# Who calls
# ------------------------------------------------------------------------------------------------

USER_AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.213-201.855.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off",
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.12.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.156.0",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.45.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1",
    "aws-sdk-java/2.25.28 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS "
    "Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/adaptive",
    "[Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36]",
    "aws-internal/3 aws-sdk-java/1.12.690 Linux/5.10.213-180.891.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard",
)
ROLES = (
    ("AdminRole", "alice@example.com"),
    ("DeployRole", "github-actions-deploy"),
    ("ReadOnlyAuditor", "security-scanner"),
    ("app-backend-role", "i-0a1b2c3d4e5f60718"),
    ("lambda-exec-order-processor", "order-processor"),
    ("ecs-task-web", "3f9c1e0a7b2d4c5e8f6a1b2c3d4e5f60"),
    ("eks-nodegroup-NodeInstanceRole-1X2Y3Z", "i-0f1e2d3c4b5a69788"),
    ("AWSReservedSSO_AdministratorAccess_3f2a9c1e7b5d4a60", "bob@example.com"),
    ("AWSReservedSSO_ReadOnly_8e7d6c5b4a392817", "carol@example.com"),
    ("datadog-integration-role", "DatadogAWSIntegration"),
)
USERS = ("ci-deployer", "terraform", "alice", "backup-agent")
SERVICES = ("lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com", "cloudformation.amazonaws.com")
PRIVATE_NET = ("10.20.", "10.48.", "172.31.")
PUBLIC_IPS = ("203.0.113.", "198.51.100.", "192.0.2.", "54.240.197.", "3.120.181.")


@dataclasses.dataclass
class Ctx:
    """What a record is built from: the file's account and region, and the file's random source.

    Principals come from a small pool per file (the same sessions call again and again, as in a
    real trail), which keeps the compression ratio realistic.
    """

    rng: random.Random
    account: str
    region: str
    roles: list[Record] = dataclasses.field(default_factory=list)
    users: list[Record] = dataclasses.field(default_factory=list)
    services: list[Record] = dataclasses.field(default_factory=list)
    root: Record = dataclasses.field(default_factory=dict)

    def fill_pools(self, issued: str) -> None:
        self.roles = [assumed_role(self, issued) for _ in range(12)]
        self.users = [iam_user(self, issued) for _ in range(4)]
        self.services = [aws_service(self, issued) for _ in range(len(SERVICES))]
        self.root = root_user(self, issued)

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.random() * len(items))]

    def hexid(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def ip(self) -> str:
        return f"{self.pick(PUBLIC_IPS)}{self.rng.randrange(1, 255)}"

    def private_ip(self) -> str:
        return f"{self.pick(PRIVATE_NET)}{self.rng.randrange(0, 255)}.{self.rng.randrange(1, 255)}"


def assumed_role(ctx: Ctx, issued: str) -> Record:
    role, session = ctx.pick(ROLES)
    role_id = "AROA" + ctx.chars(UPPER_ALNUM, 17)
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ctx.account}:assumed-role/{role}/{session}",
        "accountId": ctx.account,
        "accessKeyId": "ASIA" + ctx.chars(UPPER_ALNUM, 16),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ctx.account}:role/{role}",
                "accountId": ctx.account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": issued, "mfaAuthenticated": "false"},
        },
    }


def iam_user(ctx: Ctx, issued: str) -> Record:
    user = ctx.pick(USERS)
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + ctx.chars(UPPER_ALNUM, 17),
        "arn": f"arn:aws:iam::{ctx.account}:user/{user}",
        "accountId": ctx.account,
        "accessKeyId": "AKIA" + ctx.chars(UPPER_ALNUM, 16),
        "userName": user,
        "sessionContext": {"attributes": {"creationDate": issued, "mfaAuthenticated": "false"}},
    }


def root_user(ctx: Ctx, issued: str) -> Record:
    return {
        "type": "Root",
        "principalId": ctx.account,
        "arn": f"arn:aws:iam::{ctx.account}:root",
        "accountId": ctx.account,
        "accessKeyId": "ASIA" + ctx.chars(UPPER_ALNUM, 16),
        "sessionContext": {"attributes": {"creationDate": issued, "mfaAuthenticated": "true"}},
    }


def aws_service(ctx: Ctx, issued: str) -> Record:
    return {"type": "AWSService", "invokedBy": ctx.pick(SERVICES)}


# ------------------------------------------------------------------------------------------------
# What they call
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Api:
    source: str
    name: str
    weight: float
    request: Params | None = None
    response: Params | None = None
    read_only: bool = True
    data_event: bool = False
    service_caller: bool = False  # usually called by an AWS service on someone's behalf
    global_service: bool = False  # logged in us-east-1 only
    interesting: bool = False  # some rule (docs/rules.md) subscribes to it
    extra: Params | None = None  # additionalEventData


def _instance_id(ctx: Ctx) -> str:
    return "i-0" + ctx.hexid(16)


def _sg_id(ctx: Ctx) -> str:
    return "sg-0" + ctx.hexid(16)


def _bucket(ctx: Ctx) -> str:
    return (
        f"{ctx.pick(('app-assets', 'data-lake-raw', 'logs-archive', 'terraform-state', 'ml-datasets'))}-{ctx.account}"
    )


def _key_arn(ctx: Ctx) -> str:
    return f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{ctx.uuid()}"


def _describe_instances(ctx: Ctx) -> Any:
    if ctx.rng.random() < 0.5:
        return {"instancesSet": {"items": [{"instanceId": _instance_id(ctx)}]}, "filterSet": {}}
    return {
        "instancesSet": {},
        "filterSet": {
            "items": [
                {"name": "tag:Environment", "valueSet": {"items": [{"value": "production"}]}},
                {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}},
            ]
        },
    }


def _s3_object(ctx: Ctx) -> Any:
    bucket = _bucket(ctx)
    return {
        "bucketName": bucket,
        "Host": f"{bucket}.s3.{ctx.region}.amazonaws.com",
        "key": f"year=2024/month=05/day=14/part-{ctx.hexid(8)}-{ctx.uuid()}.snappy.parquet",
    }


def _s3_extra(ctx: Ctx) -> Any:
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": ctx.chars(ALNUM, 76) + "=",
        "bytesTransferredOut": ctx.rng.randrange(200, 5_000_000),
    }


def _kms_decrypt(ctx: Ctx) -> Any:
    return {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"aws:lambda:FunctionArn": f"arn:aws:lambda:{ctx.region}:{ctx.account}:function:orders"},
    }


def _assume_role(ctx: Ctx) -> Any:
    role, session = ctx.pick(ROLES)
    return {"roleArn": f"arn:aws:iam::{ctx.account}:role/{role}", "roleSessionName": session, "durationSeconds": 3600}


def _assume_role_response(ctx: Ctx) -> Any:
    role, session = ctx.pick(ROLES)
    return {
        "credentials": {
            "accessKeyId": "ASIA" + ctx.chars(UPPER_ALNUM, 16),
            "sessionToken": ctx.chars(ALNUM, 120),
            "expiration": "May 14, 2024, 1:00:00 PM",
        },
        "assumedRoleUser": {
            "assumedRoleId": "AROA" + ctx.chars(UPPER_ALNUM, 17) + ":" + session,
            "arn": f"arn:aws:sts::{ctx.account}:assumed-role/{role}/{session}",
        },
    }


def _ip_permissions(ctx: Ctx) -> Any:
    port = ctx.pick((22, 443, 3389, 5432, 8080))
    cidr = ctx.pick(("0.0.0.0/0", "10.0.0.0/16", "203.0.113.0/24"))
    return {
        "groupId": _sg_id(ctx),
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": "tcp",
                    "fromPort": port,
                    "toPort": port,
                    "groups": {},
                    "ipRanges": {"items": [{"cidrIp": cidr, "description": "temporary access"}]},
                    "ipv6Ranges": {},
                    "prefixListIds": {},
                }
            ]
        },
    }


def _run_instances(ctx: Ctx) -> Any:
    return {
        "instancesSet": {"items": [{"imageId": "ami-0" + ctx.hexid(16), "minCount": 1, "maxCount": 1}]},
        "instanceType": ctx.pick(("t3.micro", "m6i.large", "c7g.xlarge")),
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "subnetId": "subnet-0" + ctx.hexid(16),
        "metadataOptions": {"httpTokens": ctx.pick(("required", "optional")), "httpEndpoint": "enabled"},
        "clientToken": ctx.uuid(),
    }


def _bucket_policy(ctx: Ctx) -> Any:
    bucket = _bucket(ctx)
    principal: Any = "*" if ctx.rng.random() < 0.3 else {"AWS": f"arn:aws:iam::{ctx.account}:root"}
    return {
        "bucketName": bucket,
        "Host": f"{bucket}.s3.{ctx.region}.amazonaws.com",
        "policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowRead",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        },
    }


def _update_function_code(ctx: Ctx) -> Any:
    return {"functionName": "order-processor", "publish": True, "dryRun": False}


def _console_login_extra(ctx: Ctx) -> Any:
    return {
        "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
        "MobileVersion": "No",
        "MFAUsed": ctx.pick(("Yes", "No")),
    }


def _trail(ctx: Ctx) -> Any:
    return {"name": f"arn:aws:cloudtrail:{ctx.region}:{ctx.account}:trail/org-trail"}


def _user(ctx: Ctx) -> Any:
    return {"userName": ctx.pick(("temp-admin", "svc-backup", "contractor-dave"))}


def _attach_policy(ctx: Ctx) -> Any:
    policy = ctx.pick(("AdministratorAccess", "ReadOnlyAccess", "AmazonS3ReadOnlyAccess"))
    return {"userName": ctx.pick(USERS), "policyArn": f"arn:aws:iam::aws:policy/{policy}"}


def _role_trust(ctx: Ctx) -> Any:
    principal = ctx.pick(({"Service": "lambda.amazonaws.com"}, {"AWS": "arn:aws:iam::999988887777:root"}, {"AWS": "*"}))
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    return {"roleName": "cross-account-reader", "assumeRolePolicyDocument": json.dumps(document)}


def _modify_db(ctx: Ctx) -> Any:
    return {
        "dBInstanceIdentifier": "orders-db",
        "publiclyAccessible": ctx.rng.random() < 0.2,
        "deletionProtection": ctx.rng.random() < 0.8,
        "applyImmediately": True,
    }


def _key_id(ctx: Ctx) -> Any:
    return {"keyId": _key_arn(ctx), "pendingWindowInDays": 7}


def _generic_tags(ctx: Ctx) -> Any:
    return {
        "resourcesSet": {"items": [{"resourceId": _instance_id(ctx)}]},
        "tagSet": {"items": [{"key": "CostCenter", "value": "4711"}, {"key": "Owner", "value": "platform"}]},
    }


def _log_stream(ctx: Ctx) -> Any:
    return {"logGroupName": "/aws/lambda/order-processor", "logStreamName": f"2024/05/14/[$LATEST]{ctx.hexid(32)}"}


def _param(ctx: Ctx) -> Any:
    return {"name": f"/app/{ctx.pick(('db', 'api', 'feature-flags'))}/config", "withDecryption": True}


# An application reads the same few secrets over and over; the suffix is the one Secrets Manager
# gave each secret when it was created (a fresh suffix on every read would be a new secret each time).
SECRETS = ("prod/db-Q7fK2m", "prod/api-keys-w9XcLp", "prod/stripe-webhook-3hTz8R")


def _secret(ctx: Ctx) -> Any:
    return {"secretId": f"arn:aws:secretsmanager:{ctx.region}:{ctx.account}:secret:{ctx.pick(SECRETS)}"}


def _table(ctx: Ctx) -> Any:
    return {"tableName": ctx.pick(("orders", "sessions", "inventory"))}


def _nothing(ctx: Ctx) -> Any:
    return None


CATALOGUE: tuple[Api, ...] = (
    # -- read-only management calls (the bulk of a trail) --------------------------------------
    Api("ec2.amazonaws.com", "DescribeInstances", 9, _describe_instances),
    Api(
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        4,
        lambda c: {"securityGroupIdSet": {"items": [{"groupId": _sg_id(c)}]}},
    ),
    Api("ec2.amazonaws.com", "DescribeVolumes", 3, lambda c: {"volumeSet": {}, "filterSet": {}, "maxResults": 500}),
    Api("ec2.amazonaws.com", "DescribeNetworkInterfaces", 3, lambda c: {"networkInterfaceIdSet": {}, "filterSet": {}}),
    Api("ec2.amazonaws.com", "DescribeSubnets", 2, lambda c: {"subnetSet": {}, "filterSet": {}}),
    Api("ec2.amazonaws.com", "DescribeRegions", 1, lambda c: {"regionSet": {}, "allRegions": False}),
    Api("s3.amazonaws.com", "ListBuckets", 2, lambda c: {"Host": f"s3.{c.region}.amazonaws.com"}),
    Api(
        "s3.amazonaws.com",
        "GetBucketAcl",
        3,
        lambda c: {"bucketName": _bucket(c), "Host": "s3.amazonaws.com", "acl": ""},
    ),
    Api("s3.amazonaws.com", "GetBucketLocation", 2, lambda c: {"bucketName": _bucket(c), "location": ""}),
    Api("s3.amazonaws.com", "GetBucketPolicyStatus", 1, lambda c: {"bucketName": _bucket(c), "policyStatus": ""}),
    Api("iam.amazonaws.com", "GetRole", 2, lambda c: {"roleName": c.pick(ROLES)[0]}, global_service=True),
    Api("iam.amazonaws.com", "ListRoles", 1, lambda c: {"maxItems": 100}, global_service=True),
    Api(
        "iam.amazonaws.com",
        "ListAttachedRolePolicies",
        1,
        lambda c: {"roleName": c.pick(ROLES)[0]},
        global_service=True,
    ),
    Api("lambda.amazonaws.com", "ListFunctions20150331", 2, lambda c: {"maxItems": 50}),
    Api("lambda.amazonaws.com", "GetFunction20150331v2", 1, lambda c: {"functionName": "order-processor"}),
    Api(
        "monitoring.amazonaws.com",
        "DescribeAlarms",
        4,
        lambda c: {"maxRecords": 100, "alarmTypes": ["CompositeAlarm", "MetricAlarm"]},
    ),
    Api(
        "monitoring.amazonaws.com",
        "GetMetricData",
        3,
        lambda c: {"startTime": "May 14, 2024, 12:00:00 AM", "endTime": "May 14, 2024, 1:00:00 AM"},
    ),
    Api("logs.amazonaws.com", "DescribeLogGroups", 3, lambda c: {"logGroupNamePrefix": "/aws/lambda/"}),
    Api(
        "logs.amazonaws.com",
        "DescribeLogStreams",
        2,
        lambda c: {"logGroupName": "/aws/lambda/order-processor", "descending": True},
    ),
    Api("ssm.amazonaws.com", "GetParameter", 3, _param),
    Api(
        "ssm.amazonaws.com",
        "GetParameters",
        1,
        lambda c: {"names": ["/app/db/host", "/app/db/port"], "withDecryption": True},
    ),
    Api(
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        2,
        _secret,
    ),
    Api("rds.amazonaws.com", "DescribeDBInstances", 2, lambda c: {"dBInstanceIdentifier": "orders-db"}),
    Api("config.amazonaws.com", "DescribeConfigRules", 1, lambda c: {"configRuleNames": []}),
    Api("dynamodb.amazonaws.com", "DescribeTable", 2, _table),
    Api("ecr.amazonaws.com", "GetAuthorizationToken", 1, lambda c: {"registryIds": [c.account]}),
    Api(
        "elasticloadbalancing.amazonaws.com",
        "DescribeTargetHealth",
        2,
        lambda c: {
            "targetGroupArn": f"arn:aws:elasticloadbalancing:{c.region}:{c.account}:targetgroup/web/{c.hexid(16)}"
        },
    ),
    Api("sts.amazonaws.com", "GetCallerIdentity", 2, _nothing),
    # -- credentials and crypto, mostly by services ----------------------------------------------
    Api("sts.amazonaws.com", "AssumeRole", 10, _assume_role, _assume_role_response, service_caller=True),
    Api("kms.amazonaws.com", "Decrypt", 9, _kms_decrypt, service_caller=True),
    Api(
        "kms.amazonaws.com",
        "GenerateDataKey",
        3,
        lambda c: {"keyId": _key_arn(c), "keySpec": "AES_256"},
        service_caller=True,
    ),
    Api("kms.amazonaws.com", "DescribeKey", 1, lambda c: {"keyId": "alias/aws/s3"}),
    # -- S3 data events ---------------------------------------------------------------------------
    Api("s3.amazonaws.com", "GetObject", 9, _s3_object, data_event=True, extra=_s3_extra),
    Api("s3.amazonaws.com", "PutObject", 4, _s3_object, data_event=True, read_only=False, extra=_s3_extra),
    Api("s3.amazonaws.com", "HeadObject", 2, _s3_object, data_event=True, extra=_s3_extra),
    # -- routine writes no rule cares about -------------------------------------------------------
    Api("ec2.amazonaws.com", "CreateTags", 0.6, _generic_tags, read_only=False),
    Api("logs.amazonaws.com", "CreateLogStream", 0.8, _log_stream, read_only=False, service_caller=True),
    Api(
        "ssm.amazonaws.com",
        "UpdateInstanceInformation",
        0.6,
        lambda c: {"instanceId": _instance_id(c), "agentVersion": "3.3.131.0", "platformType": "Linux"},
        read_only=False,
    ),
    Api(
        "dynamodb.amazonaws.com",
        "UpdateTimeToLive",
        0.05,
        lambda c: {"tableName": "sessions", "timeToLiveSpecification": {"enabled": True, "attributeName": "ttl"}},
        read_only=False,
    ),
    # -- what the rules subscribe to: ~1% of events -----------------------------------------------
    Api("ec2.amazonaws.com", "RunInstances", 0.25, _run_instances, read_only=False, interesting=True),
    Api("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", 0.15, _ip_permissions, read_only=False, interesting=True),
    Api("ec2.amazonaws.com", "AuthorizeSecurityGroupEgress", 0.04, _ip_permissions, read_only=False, interesting=True),
    Api(
        "ec2.amazonaws.com",
        "ModifyInstanceAttribute",
        0.04,
        lambda c: {"instanceId": _instance_id(c), "userData": "<sensitiveDataRemoved>"},
        read_only=False,
        interesting=True,
    ),
    Api(
        "ec2.amazonaws.com",
        "CreateRoute",
        0.03,
        lambda c: {
            "routeTableId": "rtb-0" + c.hexid(16),
            "destinationCidrBlock": "0.0.0.0/0",
            "gatewayId": "igw-0" + c.hexid(16),
        },
        read_only=False,
        interesting=True,
    ),
    Api(
        "ec2.amazonaws.com",
        "DeleteFlowLogs",
        0.01,
        lambda c: {"flowLogId": ["fl-0" + c.hexid(16)]},
        read_only=False,
        interesting=True,
    ),
    Api("s3.amazonaws.com", "PutBucketPolicy", 0.05, _bucket_policy, read_only=False, interesting=True),
    Api(
        "s3.amazonaws.com",
        "PutBucketAcl",
        0.03,
        lambda c: {"bucketName": _bucket(c), "x-amz-acl": [c.pick(("private", "public-read"))], "acl": ""},
        read_only=False,
        interesting=True,
    ),
    Api(
        "s3.amazonaws.com",
        "PutBucketPublicAccessBlock",
        0.02,
        lambda c: {
            "bucketName": _bucket(c),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": c.rng.random() < 0.7,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        },
        read_only=False,
        interesting=True,
    ),
    Api(
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        0.12,
        _update_function_code,
        read_only=False,
        interesting=True,
    ),
    Api(
        "lambda.amazonaws.com",
        "UpdateFunctionConfiguration20150331v2",
        0.06,
        lambda c: {"functionName": "order-processor", "timeout": 30},
        read_only=False,
        interesting=True,
    ),
    Api(
        "lambda.amazonaws.com",
        "AddPermission20150331v2",
        0.03,
        lambda c: {
            "functionName": "order-processor",
            "statementId": c.uuid(),
            "action": "lambda:InvokeFunction",
            "principal": c.pick(("s3.amazonaws.com", "*")),
        },
        read_only=False,
        interesting=True,
    ),
    Api("iam.amazonaws.com", "CreateUser", 0.05, _user, read_only=False, global_service=True, interesting=True),
    Api("iam.amazonaws.com", "CreateAccessKey", 0.05, _user, read_only=False, global_service=True, interesting=True),
    Api(
        "iam.amazonaws.com",
        "AttachUserPolicy",
        0.05,
        _attach_policy,
        read_only=False,
        global_service=True,
        interesting=True,
    ),
    Api(
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        0.03,
        _role_trust,
        read_only=False,
        global_service=True,
        interesting=True,
    ),
    Api(
        "iam.amazonaws.com",
        "CreateLoginProfile",
        0.02,
        lambda c: {"userName": c.pick(USERS), "passwordResetRequired": True},
        read_only=False,
        global_service=True,
        interesting=True,
    ),
    Api(
        "signin.amazonaws.com",
        "ConsoleLogin",
        0.25,
        _nothing,
        lambda c: {"ConsoleLogin": "Success"},
        read_only=False,
        global_service=True,
        interesting=True,
        extra=_console_login_extra,
    ),
    Api("cloudtrail.amazonaws.com", "StopLogging", 0.005, _trail, read_only=False, interesting=True),
    Api(
        "cloudtrail.amazonaws.com",
        "UpdateTrail",
        0.01,
        lambda c: {**_trail(c), "isMultiRegionTrail": c.rng.random() < 0.5},
        read_only=False,
        interesting=True,
    ),
    Api(
        "cloudtrail.amazonaws.com",
        "PutEventSelectors",
        0.01,
        lambda c: {
            "trailName": "org-trail",
            "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True}],
        },
        read_only=False,
        interesting=True,
    ),
    Api("rds.amazonaws.com", "ModifyDBInstance", 0.04, _modify_db, read_only=False, interesting=True),
    Api("kms.amazonaws.com", "ScheduleKeyDeletion", 0.01, _key_id, read_only=False, interesting=True),
    Api("kms.amazonaws.com", "DisableKey", 0.01, _key_id, read_only=False, interesting=True),
    Api(
        "guardduty.amazonaws.com",
        "UpdateDetector",
        0.01,
        lambda c: {"detectorId": c.hexid(32), "enable": c.rng.random() < 0.5},
        read_only=False,
        interesting=True,
    ),
    Api(
        "config.amazonaws.com",
        "StopConfigurationRecorder",
        0.005,
        lambda c: {"configurationRecorderName": "default"},
        read_only=False,
        interesting=True,
    ),
    Api(
        "elasticloadbalancing.amazonaws.com",
        "CreateListener",
        0.03,
        lambda c: {
            "loadBalancerArn": f"arn:aws:elasticloadbalancing:{c.region}:{c.account}:loadbalancer/app/web/"
            + c.hexid(16),
            "protocol": c.pick(("HTTP", "HTTPS")),
            "port": 80,
        },
        read_only=False,
        interesting=True,
    ),
)
# Share of calls that fail, by kind.
READ_ERROR_RATE = 0.02
INTERESTING_ERROR_RATE = 0.08
ROOT_RATE = 0.0002


def _weights(apis: Sequence[Api]) -> list[float]:
    total = 0.0
    cumulative = []
    for api in apis:
        total += api.weight
        cumulative.append(total)
    return cumulative


GLOBAL_APIS = CATALOGUE
REGIONAL_APIS = tuple(api for api in CATALOGUE if not api.global_service)
GLOBAL_WEIGHTS = _weights(GLOBAL_APIS)
REGIONAL_WEIGHTS = _weights(REGIONAL_APIS)


def interesting_share() -> float:
    """The expected share of interesting calls (the generator's target mix, for the README)."""
    return sum(a.weight for a in CATALOGUE if a.interesting) / sum(a.weight for a in CATALOGUE)


def _host(api: Api, region: str) -> str:
    service = api.source.split(".", 1)[0]
    if api.global_service:
        return f"{service}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def make_record(ctx: Ctx, api: Api, event_time: str) -> Record:
    rng = ctx.rng
    if rng.random() < ROOT_RATE and not api.service_caller:
        identity = ctx.root
    elif api.service_caller and rng.random() < 0.7:
        identity = ctx.pick(ctx.services)
    elif api.name == "ConsoleLogin" or rng.random() < 0.12:
        identity = ctx.pick(ctx.users)
    else:
        identity = ctx.pick(ctx.roles)
    by_service = identity["type"] == "AWSService"
    record: Record = {
        "eventVersion": "1.09" if rng.random() < 0.8 else "1.08",
        "userIdentity": identity,
        "eventTime": event_time,
        "eventSource": api.source,
        "eventName": api.name,
        "awsRegion": ctx.region,
        "sourceIPAddress": identity["invokedBy"]
        if by_service
        else (ctx.ip() if rng.random() < 0.4 else ctx.private_ip()),
        "userAgent": identity["invokedBy"] if by_service else ctx.pick(USER_AGENTS),
    }
    failed_rate = INTERESTING_ERROR_RATE if api.interesting else READ_ERROR_RATE
    if api.name != "ConsoleLogin" and rng.random() < failed_rate:
        record["errorCode"] = "Client.UnauthorizedOperation" if api.source == "ec2.amazonaws.com" else "AccessDenied"
        arn = identity.get("arn", "")
        record["errorMessage"] = (
            f"User: {arn} is not authorized to perform: {api.source.split('.')[0]}:{api.name} "
            "because no identity-based policy allows the action"
        )
    record["requestParameters"] = api.request(ctx) if api.request else None
    record["responseElements"] = api.response(ctx) if api.response and "errorCode" not in record else None
    if api.extra:
        record["additionalEventData"] = api.extra(ctx)
    record["requestID"] = ctx.uuid() if api.source != "s3.amazonaws.com" else ctx.chars(UPPER_ALNUM, 16)
    record["eventID"] = ctx.uuid()
    record["readOnly"] = api.read_only
    if api.data_event:
        bucket = record["requestParameters"]["bucketName"]
        record["resources"] = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{record['requestParameters']['key']}"},
            {"accountId": ctx.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ]
    record["eventType"] = "AwsConsoleSignIn" if api.name == "ConsoleLogin" else "AwsApiCall"
    record["managementEvent"] = not api.data_event
    record["recipientAccountId"] = ctx.account
    if api.data_event and rng.random() < 0.5:
        record["vpcEndpointId"] = "vpce-0" + ctx.hexid(16)
    record["eventCategory"] = "Data" if api.data_event else "Management"
    if not by_service:
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3" if rng.random() < 0.6 else "TLSv1.2",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": _host(api, ctx.region),
        }
    if api.name == "ConsoleLogin" and identity["type"] == "AssumedRole":
        record["sessionCredentialFromConsole"] = "true"
    return record


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CorpusParams:
    events: int = DEFAULT_EVENTS
    seed: int = DEFAULT_SEED
    records_per_file: int = RECORDS_PER_FILE

    @property
    def files(self) -> int:
        return max(1, -(-self.events // self.records_per_file))

    def directory(self, root: Path = DEFAULT_ROOT) -> Path:
        return root / f"corpus-{self.events}-s{self.seed}-r{self.records_per_file}-v{GENERATOR_VERSION}"

    def to_dict(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "generator_version": GENERATOR_VERSION}


@dataclasses.dataclass
class FileResult:
    path: str
    events: int
    bytes_gz: int
    bytes_json: int
    interesting: int
    names: Counter[str]


def file_plan(params: CorpusParams, index: int) -> tuple[str, str, dt.datetime, int]:
    """Account, region, window start and record count of file ``index``."""
    streams = [(a, r) for a in ACCOUNTS for r in REGIONS]
    account, region = streams[index % len(streams)]
    start = START + dt.timedelta(minutes=FILE_MINUTES * (index // len(streams)))
    count = min(params.records_per_file, params.events - index * params.records_per_file)
    return account, region, start, count


def file_records(params: CorpusParams, index: int) -> tuple[Ctx, list[Record], list[Api]]:
    """The records of file ``index`` in time order, the APIs they call, and the context whose random
    source goes on to name the file (tests/soak.py replays these records without writing files)."""
    account, region, start, count = file_plan(params, index)
    rng = random.Random(f"{params.seed}:{index}")
    ctx = Ctx(rng, account, region)
    apis, weights = (GLOBAL_APIS, GLOBAL_WEIGHTS) if region == GLOBAL_REGION else (REGIONAL_APIS, REGIONAL_WEIGHTS)
    chosen = rng.choices(apis, cum_weights=weights, k=count)
    seconds = sorted(rng.random() * FILE_MINUTES * 60 for _ in range(count))
    base = start.timestamp()
    issued = (start - dt.timedelta(minutes=rng.randrange(1, 55))).strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx.fill_pools(issued)
    records = []
    for api, offset in zip(chosen, seconds, strict=True):
        event_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + offset))
        records.append(make_record(ctx, api, event_time))
    return ctx, records, chosen


def write_file(out: Path, params: CorpusParams, index: int) -> FileResult:
    account, region, start, count = file_plan(params, index)
    ctx, records, chosen = file_records(params, index)
    names = Counter(api.name for api in chosen)
    interesting = sum(api.interesting for api in chosen)
    body = orjson.dumps({"Records": records})
    packed = _gzip_impl.compress(body, compresslevel=3, mtime=0)
    delivered = start + dt.timedelta(minutes=FILE_MINUTES)
    folder = out / "AWSLogs" / account / "CloudTrail" / region / delivered.strftime("%Y/%m/%d")
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    name = f"{account}_CloudTrail_{region}_{stamp}_{ctx.chars(ALNUM, 16)}.json.gz"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(packed)
    return FileResult(str(path.relative_to(out)), count, len(packed), len(body), interesting, names)


def _worker(job: tuple[str, CorpusParams, int]) -> FileResult:
    out, params, index = job
    return write_file(Path(out), params, index)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest


def generate(params: CorpusParams, out: Path, workers: int = 2, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the archive under ``out`` (replacing whatever is there) and return its manifest."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.perf_counter()
    jobs = [(str(out), params, index) for index in range(params.files)]
    results: list[FileResult] = []
    workers = max(1, min(workers, os.cpu_count() or 1, len(jobs)))
    iterator: Iterator[FileResult]
    pool = None
    if workers > 1:
        pool = multiprocessing.get_context("fork").Pool(workers)
        iterator = pool.imap_unordered(_worker, jobs, chunksize=4)
    else:
        iterator = map(_worker, jobs)
    try:
        for done, result in enumerate(iterator, start=1):
            results.append(result)
            if done % 100 == 0 or done == len(jobs):
                log(f"  generated {done}/{len(jobs)} files ({time.perf_counter() - started:.1f}s)")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    names: Counter[str] = Counter()
    for result in results:
        names.update(result.names)
    manifest: dict[str, Any] = {
        "params": params.to_dict(),
        "files": len(results),
        "events": sum(r.events for r in results),
        "bytes_gz": sum(r.bytes_gz for r in results),
        "bytes_json": sum(r.bytes_json for r in results),
        "interesting_events": sum(r.interesting for r in results),
        "generated_in_seconds": round(time.perf_counter() - started, 2),
        "event_names": dict(names.most_common()),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure_corpus(
    params: CorpusParams,
    root: Path = DEFAULT_ROOT,
    workers: int = 2,
    reuse_only: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Any]]:
    """The archive for ``params``: reused when a complete one exists, generated otherwise."""
    out = params.directory(root)
    manifest = read_manifest(out)
    if (
        manifest is not None
        and manifest.get("params") == params.to_dict()
        and sum(1 for _ in (out / "AWSLogs").rglob("*.json.gz")) == manifest["files"]
    ):
        log(f"reusing {out}")
        return out, manifest
    if reuse_only:
        raise SystemExit(f"no complete archive at {out}; run without --skip-generate first")
    log(f"generating {params.events:,} events in {params.files:,} files under {out} ({workers} workers)")
    return out, generate(params, out, workers, log)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--records-per-file", type=int, default=RECORDS_PER_FILE)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="cache folder (default .bench/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="regenerate even if a matching archive exists")
    args = parser.parse_args(argv)
    params = CorpusParams(args.events, args.seed, args.records_per_file)
    if args.force:
        out = params.directory(args.root)
        manifest = generate(params, out, args.workers)
    else:
        out, manifest = ensure_corpus(params, args.root, args.workers)
    summary = {k: v for k, v in manifest.items() if k != "event_names"}
    print(json.dumps({"directory": str(out), **summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
