"""Writes the burst scenarios next to this script, as JSON Lines of CloudTrail records named the way
CloudTrail names its files (so that `trailguard scan` orders them by time):

- a normal day (2026-11-03): an application role reading its three secrets every hour, an operator
  fetching two Windows passwords, a deploy role reading two instances' user data, a data pipeline
  deleting 40 objects, a developer invoking Bedrock models, a few denied calls;
- the attack, in two files a few minutes apart: a leaked CI key reads 12 distinct secrets within
  three minutes (6 in each file), then reads two of them again (still the same window);
- an enumeration (2026-11-04): the same key denied 32 calls of 8 kinds within six minutes (24 of
  6 kinds that some rule subscribes to: the others never reach trailguard in AWS);
- ransomware (2026-11-04): 150 DeleteObject calls within five minutes, and DeleteObjects in three
  buckets by another principal;
- Bedrock (2026-11-05 to 2026-11-20): a developer invoking a model every day for 16 days (the
  account's invokers are learnt), then on the last day a stolen key enables model access and makes
  120 Converse calls within five minutes.

Run: python tests/data/bursts/make_bursts.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ACCOUNT = "111122223333"
REGION = "eu-west-1"
CLI_AGENT = "aws-cli/2.18.12 md/awscrt#0.22.0 ua/2.0 os/linux#6.1.112 md/arch#x86_64 lang/python#3.12.6"
SDK_AGENT = (
    "Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE cfg/retry-mode#legacy Botocore/1.35.54"
)


def user(name: str, key: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper(),
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": name,
    }


def role_session(role: str, session: str, key: str) -> dict[str, Any]:
    role_id = "AROA" + hashlib.sha256(role.encode()).hexdigest()[:17].upper()
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-03T06:00:00Z", "mfaAuthenticated": "false"},
        },
    }


APP = role_session("orders-api", "i-0abc1234def567890", "ASIAQXAMPLEORDERS001")
OPERATOR = user("maria", "AKIAQXAMPLEMARIA0001")
DEPLOYER = role_session("deploy", "github-actions-1762156800", "ASIAQXAMPLEDEPLOY001")
PIPELINE = role_session("etl-pipeline", "etl-run-20261103", "ASIAQXAMPLEETLRUN001")
DEVELOPER = role_session("developer", "sam@example.com", "ASIAQXAMPLEDEVSAM001")
LEAKED = user("ci-deployer", "AKIAQXAMPLECIDEPL001")
INTRUDER = user("old-intern", "AKIAQXAMPLEINTERN001")
ATTACKER_IP = "203.0.113.77"


def record(
    when: str,
    source: str,
    name: str,
    who: dict[str, Any],
    params: dict[str, Any] | None,
    *,
    ip: str = "198.51.100.23",
    agent: str = CLI_AGENT,
    error: str = "",
    read_only: bool = True,
    data: bool = False,
    resources: list[dict[str, Any]] | None = None,
    host: str = "",
) -> dict[str, Any]:
    digest = hashlib.sha256(f"{when}{source}{name}{json.dumps(params)}{who['arn']}{error}".encode()).hexdigest()
    entry: dict[str, Any] = {
        "eventVersion": "1.10" if data else "1.11",
        "userIdentity": who,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": params,
    }
    if error:
        entry["errorCode"] = error
        entry["errorMessage"] = f"User: {who['arn']} is not authorized to perform: {name}"
    entry["responseElements"] = None
    entry["requestID"] = (
        digest[:16].upper() if data else f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    )
    entry["eventID"] = f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}"
    entry["readOnly"] = read_only
    if resources is not None:
        entry["resources"] = resources
    entry["eventType"] = "AwsApiCall"
    entry["managementEvent"] = not data
    entry["recipientAccountId"] = ACCOUNT
    entry["eventCategory"] = "Data" if data else "Management"
    entry["tlsDetails"] = {
        "tlsVersion": "TLSv1.3",
        "cipherSuite": "TLS_AES_128_GCM_SHA256",
        "clientProvidedHostHeader": host or f"{source.split('.', maxsplit=1)[0]}.{REGION}.amazonaws.com",
    }
    return entry


def at(day: str, seconds: int) -> str:
    return f"{day}T{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}Z"


def secret_read(when: str, who: dict[str, Any], name: str, **options: Any) -> dict[str, Any]:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
    return record(when, "secretsmanager.amazonaws.com", "GetSecretValue", who, {"secretId": arn}, **options)


def object_deletion(when: str, who: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    host = f"{bucket}.s3.{REGION}.amazonaws.com"
    resources = [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]
    params = {"bucketName": bucket, "Host": host, "key": key, "x-id": "DeleteObject"}
    return record(
        when,
        "s3.amazonaws.com",
        "DeleteObject",
        who,
        params,
        read_only=False,
        data=True,
        resources=resources,
        host=host,
    )


def objects_deletion(when: str, who: dict[str, Any], bucket: str) -> dict[str, Any]:
    host = f"{bucket}.s3.{REGION}.amazonaws.com"
    resources = [
        {"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]
    params = {"bucketName": bucket, "Host": host, "delete": "", "x-id": "DeleteObjects"}
    return record(
        when,
        "s3.amazonaws.com",
        "DeleteObjects",
        who,
        params,
        read_only=False,
        data=True,
        resources=resources,
        host=host,
    )


def invocation(when: str, who: dict[str, Any], name: str = "InvokeModel", **options: Any) -> dict[str, Any]:
    params = {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    return record(
        when, "bedrock.amazonaws.com", name, who, params, host=f"bedrock-runtime.{REGION}.amazonaws.com", **options
    )


def normal_day() -> list[dict[str, Any]]:
    day = "2026-11-03"
    records = []
    for hour in range(8, 19):
        for offset, name in enumerate(
            ("prod/orders/db-AbCdEf", "prod/orders/stripe-Gh12Ij", "prod/orders/smtp-Kl34Mn")
        ):
            records.append(secret_read(at(day, hour * 3600 + offset), APP, name, ip="10.0.12.34", agent=SDK_AGENT))
    for index, instance in enumerate(("i-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60719")):
        records.append(
            record(
                at(day, 10 * 3600 + 60 * index),
                "ec2.amazonaws.com",
                "GetPasswordData",
                OPERATOR,
                {"instanceId": instance},
            )
        )
    for index, instance in enumerate(("i-0f9e8d7c6b5a43210", "i-0f9e8d7c6b5a43211")):
        params = {"instanceId": instance, "attribute": "userData"}
        records.append(
            record(at(day, 11 * 3600 + index), "ec2.amazonaws.com", "DescribeInstanceAttribute", DEPLOYER, params)
        )
    for index in range(40):
        records.append(
            object_deletion(
                at(day, 12 * 3600 + 10 * index), PIPELINE, "orders-staging", f"2026/11/02/part-{index:05d}.parquet"
            )
        )
    for index in range(30):
        records.append(invocation(at(day, 13 * 3600 + 120 * index), DEVELOPER))
    for index, call in enumerate(("iam:ListUsers", "s3:PutBucketPolicy", "ec2:GetPasswordData")):
        service, name = call.split(":")
        params = {"bucketName": "orders-staging"} if service == "s3" else {"instanceId": "i-0a1b2c3d4e5f60718"}
        records.append(
            record(
                at(day, 15 * 3600 + 30 * index),
                f"{service}.amazonaws.com",
                name,
                OPERATOR,
                params,
                error="AccessDenied",
            )
        )
    return sorted(records, key=lambda entry: entry["eventTime"])


def leaked_key_secrets() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    day = "2026-11-03"
    names = [
        f"prod/{team}/{kind}-Xy{index:02d}Ab"
        for index, (team, kind) in enumerate(
            (team, kind) for team in ("orders", "payments", "search", "billing") for kind in ("db", "api-key", "admin")
        )
    ]
    start = 14 * 3600 + 120  # 14:02:00
    reads = [secret_read(at(day, start + 15 * index), LEAKED, name, ip=ATTACKER_IP) for index, name in enumerate(names)]
    again = [secret_read(at(day, start + 240 + index), LEAKED, names[index], ip=ATTACKER_IP) for index in range(2)]
    return reads[:6], reads[6:] + again


def enumeration() -> list[dict[str, Any]]:
    day = "2026-11-04"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("iam", "CreateUser", {"userName": "backup-admin"}),
        ("iam", "CreateAccessKey", {"userName": "admin"}),
        (
            "iam",
            "AttachUserPolicy",
            {"userName": "ci-deployer", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        ("iam", "ListUsers", {}),
        ("ec2", "GetPasswordData", {"instanceId": "i-0a1b2c3d4e5f60718"}),
        (
            "ec2",
            "DescribeInstanceAttribute",
            {"instanceId": "i-0a1b2c3d4e5f60718", "attribute": "disableApiTermination"},
        ),
        ("secretsmanager", "GetSecretValue", {"secretId": "prod/payments/root-Zz99Yy"}),
        ("sts", "GetSessionToken", {"durationSeconds": 129600}),
    ]
    records = []
    for index in range(32):
        service, name, params = calls[index % len(calls)]
        error = "Client.UnauthorizedOperation" if service == "ec2" else "AccessDenied"
        records.append(
            record(
                at(day, 9 * 3600 + 10 * index),
                f"{service}.amazonaws.com",
                name,
                LEAKED,
                params,
                ip=ATTACKER_IP,
                error=error,
            )
        )
    return records


def ransomware() -> list[dict[str, Any]]:
    day = "2026-11-04"
    records = [
        object_deletion(
            at(day, 16 * 3600 + 2 * index),
            LEAKED,
            "orders-archive",
            f"2025/{index // 30 + 1:02d}/orders-{index:05d}.json",
        )
        for index in range(150)
    ]
    for index, bucket in enumerate(("finance-reports", "hr-exports", "legal-archive")):
        records.append(objects_deletion(at(day, 17 * 3600 + 20 * index), INTRUDER, bucket))
    return records


def bedrock_month() -> list[dict[str, Any]]:
    records = []
    for number in range(5, 21):
        records.append(invocation(at(f"2026-11-{number:02d}", 10 * 3600), DEVELOPER))
    day = "2026-11-20"
    records.append(
        record(
            at(day, 20 * 3600 + 9 * 60),
            "bedrock.amazonaws.com",
            "PutUseCaseForModelAccess",
            INTRUDER,
            None,
            ip=ATTACKER_IP,
            read_only=False,
        )
    )
    start = 20 * 3600 + 11 * 60
    records += [invocation(at(day, start + 2 * index), INTRUDER, "Converse", ip=ATTACKER_IP) for index in range(120)]
    return records


def write(name: str, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in records)
    (HERE / name).write_text(text, encoding="utf-8")


def main() -> None:
    first, second = leaked_key_secrets()
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261103T0800Z_normal-day.jsonl", normal_day())
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261103T1400Z_leaked-key-1.jsonl", first)
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261103T1405Z_leaked-key-2.jsonl", second)
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261104T0900Z_enumeration.jsonl", enumeration())
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261104T1600Z_ransomware.jsonl", ransomware())
    write(f"{ACCOUNT}_CloudTrail_{REGION}_20261105T1000Z_bedrock.jsonl", bedrock_month())


if __name__ == "__main__":
    main()
