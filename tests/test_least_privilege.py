"""The function's role grants exactly what the Lambda calls, found by running it, not by reading it.

The Lambda is driven through every path that touches AWS (a delivery, a duplicate, a failed
delivery and its retry, a quiet period with a folded repeat), with a botocore hook recording each
operation on the clients the container built; the template's statements for the table and the
secret must be exactly those operations.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from trailguard import main
from trailguard.core.exceptions import DeliveryError
from trailguard.utils.aws_helpers import AwsClients

from .lambda_world import LambdaContext, World, sg_event
from .test_infra import TEMPLATE, as_list, load_template


def granted(sid: str, condition: str | None = None) -> set[str]:
    """The actions of statement ``sid`` (the one granted under ``condition``, when several share it)."""
    statements = load_template(TEMPLATE)["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    for written in statements:
        statement = written["Fn::If"][1] if "Fn::If" in written else written
        when = written["Fn::If"][0] if "Fn::If" in written else None
        if statement.get("Sid") == sid and condition in (None, when):
            return set(as_list(statement["Action"]))
    raise AssertionError(f"no statement {sid}" + (f" under {condition}" if condition else ""))


def record_calls(state: main._Container, calls: list[str]) -> None:
    """Append every AWS operation the container's clients make from now on, as IAM action names."""
    aws = state.delivery.context.aws

    def hook(model: Any, **_kwargs: Any) -> None:
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    for service in ("dynamodb", "secretsmanager"):
        aws.client(service).meta.events.register("before-call.*.*", hook)


def test_the_role_grants_the_table_and_secret_operations_the_lambda_uses_and_no_more(world: World) -> None:
    world.monkeypatch.setenv("TRAILGUARD_QUIET_PERIODS", json.dumps({"sg.*": 3600}))
    calls: list[str] = []
    world.start_smtp("smtp-down").stop()
    record_calls(world.new_container(), calls)
    with pytest.raises(DeliveryError):  # a failed delivery: the claim and the quiet window are given back
        main.lambda_handler(sg_event(1), LambdaContext())
    world.start_smtp("smtp")
    record_calls(world.new_container(), calls)
    # Delivered (and the window it opened), a repeat folded into it, a duplicate.
    outcomes = [main.lambda_handler(sg_event(number), LambdaContext())["outcome"] for number in (1, 2, 1)]
    assert outcomes == ["delivered", "quiet", "deduplicated"]
    used = {call.split(":", 1)[1] for call in calls if call.startswith("dynamodb:")}
    assert used, calls
    assert granted("OwnTableOnly") == {f"dynamodb:{operation}" for operation in used}
    secret_calls = {call.split(":", 1)[1] for call in calls if call.startswith("secretsmanager:")}
    assert granted("ReadSmtpSecret") == {f"secretsmanager:{operation}" for operation in secret_calls}


SENDER = "alerts@example.com"
PARAMETER = "/trailguard/config"


def test_ses_api_and_the_configuration_parameter_need_exactly_their_grants(
    world: World, fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EmailDelivery ses-api with ConfigSource ssm:/...: every client the container makes, the one
    that reads the configuration at its cold start included, is recorded from its creation."""
    fake_aws.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    fake_aws.client("ssm").put_parameter(Name=PARAMETER, Value='min_severity = "low"\n', Type="String")
    # What the stack sets in this mode (tests/test_infra.py checks the stack sets exactly this).
    channel = {"type": "ses", "name": "email", "sender": SENDER, "recipients": "secops@example.com"}
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([channel]))
    world.monkeypatch.setenv("TRAILGUARD_CONFIG", f"ssm:{PARAMETER}")
    calls: list[str] = []

    def hook(model: Any, **_kwargs: Any) -> None:
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    made = AwsClients.client

    def recorded(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = made(self, service, region)
        client.meta.events.register_first("before-call.*.*", hook, unique_id="least-privilege")
        return client

    monkeypatch.setattr(AwsClients, "client", recorded)
    world.new_container()
    assert main.lambda_handler(sg_event(1), LambdaContext())["outcome"] == "delivered"
    assert "ssm:GetParameter" in calls and "ses:SendEmail" in calls, calls
    by_service = {
        prefix: {c for c in calls if c.startswith(prefix + ":")} for prefix in ("ssm", "ses", "secretsmanager")
    }
    assert granted("ReadOwnConfig", "ConfigFromSsm") == by_service["ssm"]
    assert granted("SendAsSenderOnly") == by_service["ses"]
    assert by_service["secretsmanager"] == set(), "SES's API needs no secret"


def test_the_securityhub_channel_needs_exactly_its_grant(
    world: World, fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SecurityHubFindings true: the channel imports through the one action granted; it learns its
    account from STS GetCallerIdentity, which IAM cannot deny (it needs no permission)."""
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "securityhub", "name": "hub"}]))
    calls: list[str] = []

    def hook(model: Any, **_kwargs: Any) -> None:
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    made = AwsClients.client

    def recorded(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = made(self, service, region)
        client.meta.events.register_first("before-call.*.*", hook, unique_id="least-privilege")
        return client

    monkeypatch.setattr(AwsClients, "client", recorded)
    world.new_container()
    assert main.lambda_handler(sg_event(1), LambdaContext())["outcome"] == "delivered"
    hub = {call for call in calls if call.startswith("securityhub:")}
    assert hub == {"securityhub:BatchImportFindings"}
    assert granted("ImportOwnFindings", "UseSecurityHub") == hub
    assert {call for call in calls if call.startswith("sts:")} == {"sts:GetCallerIdentity"}


def test_s3_ingestion_reads_the_log_file_with_exactly_its_grant(
    world: World, fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IngestionMode S3: a notified log file is read with s3:GetObject, the one action ReadLogFilesOnly grants."""
    import gzip

    from .lambda_world import SG_EVENT
    from .test_lambda_s3 import BUCKET, KEY, S3_EVENT

    s3 = fake_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=gzip.compress(json.dumps({"Records": [SG_EVENT["detail"]]}).encode()))
    calls: list[str] = []

    def hook(model: Any, **_kwargs: Any) -> None:
        calls.append(f"{model.service_model.signing_name}:{model.name}")

    made = AwsClients.client

    def recorded(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = made(self, service, region)
        client.meta.events.register_first("before-call.*.*", hook, unique_id="least-privilege")
        return client

    monkeypatch.setattr(AwsClients, "client", recorded)
    world.start_smtp("smtp")
    world.new_container()
    assert main.lambda_handler(S3_EVENT, LambdaContext())["objects"][0]["findings"] == 1
    assert granted("ReadLogFilesOnly", "ReadLogFiles") == {c for c in calls if c.startswith("s3:")} == {"s3:GetObject"}


FAMILY_PARAMETERS = {
    "ec2": "RemediateEc2",
    "s3": "RemediateS3",
    "cloudtrail": "RemediateCloudTrail",
    "rds": "RemediateRds",
    "lambda": "RemediateLambda",
    "iam": "RemediateIam",
    "policies": "RemediatePolicies",
}


@pytest.mark.parametrize("family", sorted(FAMILY_PARAMETERS))
def test_each_remediation_family_is_granted_exactly_what_its_actions_declare(family: str) -> None:
    """Granted only under the family's condition, and exactly the declared permissions, which the tests of
    every action (tests/test_remediation_actions.py) show to be the operations each action makes."""
    from trailguard.services.remediation import ACTIONS

    condition = FAMILY_PARAMETERS[family]
    statements = load_template(TEMPLATE)["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    sids = [
        written["Fn::If"][1]["Sid"]
        for written in statements
        if "Fn::If" in written and written["Fn::If"][0] == condition and isinstance(written["Fn::If"][1], dict)
    ]
    assert sids and all(sid.startswith(condition) for sid in sids)
    grants = set().union(*(granted(sid, condition) for sid in sids))
    declared = {p for action in ACTIONS.values() if action.family == family for p in action.permissions}
    assert grants == declared
    assert load_template(TEMPLATE)["Parameters"][condition]["Default"] == "false"


def test_every_action_belongs_to_a_family_the_stack_has() -> None:
    from trailguard.services.remediation import ACTIONS

    assert {action.family for action in ACTIONS.values()} == set(FAMILY_PARAMETERS)
