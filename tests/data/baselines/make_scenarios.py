"""Writes the baseline scenario (learning.jsonl, attack.jsonl) and tests/events/baseline/*.json.

Run from the repository root: python tests/data/baselines/make_scenarios.py

The account 111122223333 works in eu-west-1. Learning (2026-11-01 to 2026-11-16, one working day
after another): alice (an IAM user) launches instances and logs in to the console from the office
(198.51.100.0/24); the github-actions-deploy role updates the code of the `orders-api` function from
GitHub's runners (192.0.2.0/24); an instance profile session (role `app-server`, session
i-0a1b2c3d4e5f60718) calls STS and EC2 from the instance's public address 54.216.10.20 and STS through
a VPC endpoint too.

Attack, 2026-11-18: alice's key is used in ap-southeast-1; her console login comes from
203.0.113.50; her first CloudShell environment; the instance's credentials are used from
203.0.113.66 (GetCallerIdentity, then ListBuckets, which no rule routes); the deploy role
updates orders-api as every day (routine: quiet) and, for the first time, `billing-export`
(lambda.function-changed MEDIUM). The same day's near misses: alice's usual work, the instance's
own calls, a call through the endpoint.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
EVENTS = HERE.parent.parent / "events" / "baseline"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
INSTANCE = "i-0a1b2c3d4e5f60718"
OFFICE = "198.51.100.23"
RUNNER = "192.0.2.44"
INSTANCE_ADDRESS = "54.216.10.20"
ATTACKER = "203.0.113.50"
THIEF = "203.0.113.66"


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def alice() -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAQXAMPLEALICE0001",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAQXAMPLEALICEKEY1",
        "userName": "alice",
    }


def role_session(role: str, session: str, key: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAQXAMPLE{role.upper().replace('-', '')[:9]}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROAQXAMPLE{role.upper().replace('-', '')[:9]}",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-01T06:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def instance_session() -> dict[str, Any]:
    identity = role_session("app-server", INSTANCE, "ASIAQXAMPLEINSTANCE1")
    identity["sessionContext"]["ec2RoleDelivery"] = "2.0"
    return identity


def record(
    when: str,
    identity: dict[str, Any],
    source: str,
    name: str,
    address: str,
    *,
    region: str = REGION,
    agent: str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    read_only: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    host = source.replace(".amazonaws.com", f".{region}.amazonaws.com")
    entry: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": address,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": _id("request", when, name, address),
        "eventID": _id("event", when, name, address, identity["arn"]),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host,
        },
    }
    entry.update(extra or {})
    return entry


def run_instances(when: str, address: str, region: str = REGION) -> dict[str, Any]:
    instance = "i-0" + _id("instance", when, region).replace("-", "")[:16]
    return record(
        when,
        alice(),
        "ec2.amazonaws.com",
        "RunInstances",
        address,
        region=region,
        request={
            "instancesSet": {"items": [{"imageId": "ami-0c1d2e3f4a5b6c7d8", "minCount": 1, "maxCount": 1}]},
            "instanceType": "t3.micro",
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
        },
        response={
            "requestId": _id("run", when),
            "reservationId": "r-0" + _id("reservation", when).replace("-", "")[:16],
            "ownerId": ACCOUNT,
            "instancesSet": {"items": [{"instanceId": instance, "instanceType": "t3.micro"}]},
        },
    )


def console_login(when: str, address: str, mfa: bool = True) -> dict[str, Any]:
    identity = alice()
    identity.pop("accessKeyId")
    entry = record(
        when,
        identity,
        "signin.amazonaws.com",
        "ConsoleLogin",
        address,
        region="us-east-1",
        agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        response={"ConsoleLogin": "Success"},
        extra={
            "additionalEventData": {
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes" if mfa else "No",
            },
            "eventType": "AwsConsoleSignIn",
        },
    )
    entry["userIdentity"]["sessionContext"] = {}
    for key in ("requestID", "tlsDetails"):
        entry.pop(key)
    entry["requestParameters"] = None
    return entry


def update_code(when: str, function: str) -> dict[str, Any]:
    return record(
        when,
        role_session("github-actions-deploy", "GitHubActions", "ASIAQXAMPLEDEPLOYKEY"),
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        RUNNER,
        agent="aws-sdk-js/3.637.0 ua/2.0 os/linux lang/js md/nodejs#20.17.0 api/lambda#3.637.0",
        request={
            "functionName": function,
            "s3Bucket": "deploy-artifacts-111122223333",
            "s3Key": f"{function}/build.zip",
            "publish": False,
        },
        response={
            "functionName": function,
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
            "runtime": "python3.12",
            "codeSha256": "wZ1jVv6yZ8p0KcJ4x3qTn3q9yJ8f1aQxWcR7hL0sT2c=",
            "version": "$LATEST",
        },
    )


def instance_call(when: str, source: str, name: str, address: str, **extra: Any) -> dict[str, Any]:
    agent = "aws-sdk-java/2.25.60 Linux/6.1.109 OpenJDK_64-Bit_Server_VM/17.0.12 md/internal"
    return record(when, instance_session(), source, name, address, agent=agent, read_only=True, **extra)


def cloudshell(when: str) -> dict[str, Any]:
    identity = alice()
    identity["accessKeyId"] = "ASIAQXAMPLECONSOLE01"
    identity["sessionContext"] = {"attributes": {"creationDate": when, "mfaAuthenticated": "true"}}
    return record(
        when,
        identity,
        "cloudshell.amazonaws.com",
        "CreateEnvironment",
        OFFICE,
        agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        response={"EnvironmentId": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "Status": "CREATING"},
        extra={"sessionCredentialFromConsole": "true"},
    )


def learning() -> list[dict[str, Any]]:
    records = []
    for day in range(1, 17):
        date = f"2026-11-{day:02d}"
        records.append(console_login(f"{date}T08:02:11Z", OFFICE))
        records.append(run_instances(f"{date}T09:14:03Z", OFFICE))
        records.append(update_code(f"{date}T10:30:41Z", "orders-api"))
        records.append(instance_call(f"{date}T11:00:05Z", "sts.amazonaws.com", "GetCallerIdentity", INSTANCE_ADDRESS))
        records.append(instance_call(f"{date}T11:00:06Z", "ec2.amazonaws.com", "DescribeInstances", INSTANCE_ADDRESS))
        records.append(
            instance_call(
                f"{date}T11:00:07Z",
                "sts.amazonaws.com",
                "GetCallerIdentity",
                "10.0.1.25",
                extra={"vpcEndpointId": "vpce-0a1b2c3d"},
            )
        )
    return records


def attack() -> list[dict[str, Any]]:
    date = "2026-11-18"
    return [
        # Routine: alice at work, the deploy role's daily update, the instance's own calls.
        console_login(f"{date}T08:01:40Z", OFFICE),
        run_instances(f"{date}T09:10:00Z", OFFICE),
        update_code(f"{date}T10:31:02Z", "orders-api"),
        instance_call(f"{date}T11:00:04Z", "sts.amazonaws.com", "GetCallerIdentity", INSTANCE_ADDRESS),
        instance_call(
            f"{date}T11:00:08Z",
            "sts.amazonaws.com",
            "GetCallerIdentity",
            "10.0.1.25",
            extra={"vpcEndpointId": "vpce-0a1b2c3d"},
        ),
        # The attack.
        run_instances(f"{date}T13:05:12Z", OFFICE, region="ap-southeast-1"),
        console_login(f"{date}T13:40:09Z", ATTACKER, mfa=False),
        cloudshell(f"{date}T13:41:30Z"),
        instance_call(f"{date}T14:02:15Z", "sts.amazonaws.com", "GetCallerIdentity", THIEF),
        instance_call(f"{date}T14:02:21Z", "s3.amazonaws.com", "ListBuckets", THIEF),
        update_code(f"{date}T15:12:44Z", "billing-export"),
    ]


# The scenario's findings of the rules it is about, in time order.
EXPECTED = [
    ["2026-11-18T13:05:12Z", "baseline.new-region", "MEDIUM"],
    ["2026-11-18T13:40:09Z", "baseline.new-network", "MEDIUM"],
    ["2026-11-18T13:41:30Z", "baseline.new-sensitive-call", "LOW"],
    ["2026-11-18T14:02:15Z", "baseline.instance-credentials-outside", "HIGH"],
    ["2026-11-18T15:12:44Z", "lambda.function-changed", "MEDIUM"],
]


def case(description: str, expect: dict[str, str], target: dict[str, Any], history: list[dict[str, Any]]) -> str:
    document: dict[str, Any] = {"description": description, "expect": expect, "record": target}
    if history:
        document["history"] = history
    return json.dumps(document, indent=2) + "\n"


def events() -> dict[str, str]:
    days = learning()
    logins = [r for r in days if r["eventName"] == "ConsoleLogin"]
    launches = [r for r in days if r["eventName"] == "RunInstances"]
    instance = [r for r in days if r["userIdentity"]["arn"].endswith(INSTANCE)]
    deploys = [r for r in days if r["eventSource"] == "lambda.amazonaws.com"]
    first, last = logins[0]["eventTime"], logins[-1]["eventTime"]
    span = f"daily from {first[:10]} to {last[:10]}"
    new_region = run_instances("2026-11-18T13:05:12Z", OFFICE, region="ap-southeast-1")
    login_new = console_login("2026-11-18T13:40:09Z", ATTACKER, mfa=False)
    stolen = instance_call("2026-11-18T14:02:15Z", "sts.amazonaws.com", "GetCallerIdentity", THIEF)
    first_deploy = update_code("2026-11-18T15:12:44Z", "billing-export")
    first_deploy["userIdentity"] = alice()
    # Her one earlier Lambda call, two weeks before: a configuration change of her sandbox function.
    sandbox = update_code("2026-11-02T07:00:00Z", "alice-sandbox")
    sandbox.update(userIdentity=alice(), eventName="UpdateFunctionConfiguration20150331v2")
    sandbox["requestParameters"] = {"functionName": "alice-sandbox", "timeout": 30}
    launch_new_network = run_instances("2026-11-18T13:05:12Z", "203.0.113.50")
    launch_new_network["requestParameters"]["instanceType"] = "t3.micro"
    return {
        "new_region_cold.json": case(
            "RunInstances in ap-southeast-1 with no baseline (a cold scan): alice's first event starts her "
            "baseline and never fires",
            {"ec2.instance-launched": "INFO"},
            new_region,
            [],
        ),
        "new_region_after_learning.json": case(
            f"alice launched instances in eu-west-1 {span}; a launch in ap-southeast-1 is a region she never used",
            {"baseline.new-region": "MEDIUM", "ec2.instance-launched": "INFO"},
            new_region,
            launches,
        ),
        "new_region_while_learning.json": case(
            "alice's baseline is four days old: a new region is not reported while she is still learning",
            {"ec2.instance-launched": "INFO"},
            run_instances("2026-11-05T13:05:12Z", OFFICE, region="ap-southeast-1"),
            launches[:4],
        ),
        "usual_region_after_learning.json": case(
            "alice launching in eu-west-1 as every day: nothing new",
            {"ec2.instance-launched": "INFO"},
            run_instances("2026-11-18T09:10:00Z", OFFICE),
            launches,
        ),
        "new_network_cold.json": case(
            "A console login without MFA from 203.0.113.50 with no baseline: the first event never fires "
            "(only the event-alone rule does)",
            {"signin.console-login-no-mfa": "HIGH"},
            login_new,
            [],
        ),
        "new_network_login.json": case(
            f"alice signed in with MFA from the office (198.51.100.0/16) {span}; a login without MFA from "
            "203.0.113.0/16 is a new network, MEDIUM because the login is also a finding (console-login-no-mfa)",
            {"baseline.new-network": "MEDIUM", "signin.console-login-no-mfa": "HIGH"},
            login_new,
            logins,
        ),
        "new_network_launch_low.json": case(
            f"alice launched instances from the office {span}; a launch from 203.0.113.0/16 is a new network, "
            "LOW: no rule above INFO reports the launch of a t3.micro",
            {"baseline.new-network": "LOW", "ec2.instance-launched": "INFO"},
            launch_new_network,
            launches,
        ),
        "same_network_login.json": case(
            "alice signing in from another address of the office's /16: not a new network",
            {},
            console_login("2026-11-18T08:01:40Z", "198.51.7.9"),
            logins,
        ),
        "new_sensitive_call_cold.json": case(
            "alice's first CloudShell environment with no baseline: never reported",
            {},
            cloudshell("2026-11-18T13:41:30Z"),
            [],
        ),
        "new_sensitive_call_cloudshell.json": case(
            f"alice worked {span} and never opened CloudShell; her first environment is a baseline_watch call: LOW",
            {"baseline.new-sensitive-call": "LOW"},
            cloudshell("2026-11-18T13:41:30Z"),
            logins,
        ),
        "new_sensitive_call_watched.json": case(
            f"alice only signed in {span}; her first RunInstances is a call other rules watch: MEDIUM",
            {"baseline.new-sensitive-call": "MEDIUM", "ec2.instance-launched": "INFO"},
            run_instances("2026-11-18T09:10:00Z", OFFICE),
            logins,
        ),
        "instance_credentials_cold.json": case(
            "The instance's session calling from 203.0.113.66 with no baseline: the first event never fires",
            {},
            stolen,
            [],
        ),
        "instance_credentials_outside.json": case(
            f"i-0a1b2c3d4e5f60718's session called from the instance's address 54.216.10.20 {span}; "
            "GetCallerIdentity from 203.0.113.66: its credentials are used outside the instance",
            {"baseline.instance-credentials-outside": "HIGH"},
            stolen,
            instance,
        ),
        "instance_credentials_own_address.json": case(
            "The instance's session calling from its own address as every day: quiet",
            {},
            instance_call("2026-11-18T11:00:04Z", "sts.amazonaws.com", "GetCallerIdentity", INSTANCE_ADDRESS),
            instance,
        ),
        "instance_credentials_vpc_endpoint.json": case(
            "The instance's session calling STS through a VPC endpoint from a private address it never used: "
            "the call stayed in the VPC",
            {},
            instance_call(
                "2026-11-18T11:00:08Z",
                "sts.amazonaws.com",
                "GetCallerIdentity",
                "10.0.2.77",
                extra={"vpcEndpointId": "vpce-0a1b2c3d"},
            ),
            instance,
        ),
        "instance_credentials_aws_service.json": case(
            "A call AWS made with the instance's session (source ec2.amazonaws.com): an AWS address",
            {},
            instance_call("2026-11-18T11:00:09Z", "sts.amazonaws.com", "GetCallerIdentity", "ec2.amazonaws.com"),
            instance,
        ),
        "function_changed_routine.json": case(
            f"The deploy role updated orders-api {span}; today's update is routine: no alert",
            {},
            update_code("2026-11-18T10:31:02Z", "orders-api"),
            deploys,
        ),
        "function_changed_new_function.json": case(
            f"The deploy role updated orders-api {span}; its first change to billing-export: MEDIUM",
            {"lambda.function-changed": "MEDIUM"},
            update_code("2026-11-18T15:12:44Z", "billing-export"),
            deploys,
        ),
        "function_changed_first_deploy.json": case(
            f"alice signed in {span} and once changed her sandbox function's timeout; her first "
            "UpdateFunctionCode: lambda.function-changed says so (MEDIUM), and baseline.new-sensitive-call "
            "leaves the call to it (one change, one alert)",
            {"lambda.function-changed": "MEDIUM"},
            first_deploy,
            [*logins, sandbox],
        ),
        "function_changed_while_learning.json": case(
            "Three days of deploys: the role is still learning, so the event alone decides (INFO, repeats too)",
            {"lambda.function-changed": "INFO"},
            update_code("2026-11-04T10:31:02Z", "orders-api"),
            deploys[:3],
        ),
    }


def main() -> None:
    for name, records in (("learning.jsonl", learning()), ("attack.jsonl", attack())):
        (HERE / name).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    (HERE / "expected.json").write_text(json.dumps(EXPECTED, indent=1) + "\n", encoding="utf-8")
    EVENTS.mkdir(parents=True, exist_ok=True)
    for name, text in events().items():
        (EVENTS / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
