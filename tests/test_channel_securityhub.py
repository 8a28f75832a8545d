"""The Security Hub channel: findings imported in moto with BatchImportFindings, read back with GetFindings.

What moto does and does not do (moto 5): it keeps imported findings by ``Id`` (a second import with
the same Id updates the first), rejects only findings without ``Resources``, ignores GetFindings'
filters, and validates nothing of the ASFF itself. botocore does validate every request against
Security Hub's API model (required members, types, the 1-100 findings of a call) before moto sees
it; the ASFF limits the model does not carry (lengths, counts) are asserted here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from moto.securityhub.models import SecurityHubBackend

from trailguard.core.event_types import Resource
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels.securityhub import MAX_FINDINGS_PER_CALL, SCHEMA_VERSION, SecurityHubChannel, asff
from trailguard.utils.aws_helpers import AwsClients

from .test_channels_http import HOSTILE, LOW, NORMAL

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account, which STS GetCallerIdentity answers
# AwsSecurityFinding's members that the ASFF documentation lists as required at the top level.
REQUIRED = {
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def fake_aws_region() -> str:
    return REGION


@pytest.fixture
def context(fake_aws: AwsClients) -> ChannelContext:
    return ChannelContext(fake_aws)


def channel(context: ChannelContext, **options: Any) -> SecurityHubChannel:
    built = build_channel({"type": "securityhub", **options}, "test", context)
    assert isinstance(built, SecurityHubChannel)
    return built


def imported(context: ChannelContext) -> list[dict[str, Any]]:
    client = context.aws.client("securityhub", REGION)
    findings: list[dict[str, Any]] = []
    for page in client.get_paginator("get_findings").paginate():
        findings.extend(page["Findings"])
    return findings


def record_calls(context: ChannelContext) -> list[int]:
    """The number of findings of each BatchImportFindings call, from now on."""
    sizes: list[int] = []

    def hook(params: dict[str, Any], **_kwargs: Any) -> None:
        sizes.append(len(params["Findings"]))

    client = context.aws.client("securityhub", REGION)
    client.meta.events.register("provide-client-params.securityhub.BatchImportFindings", hook)
    return sizes


def assert_asff_limits(finding: dict[str, Any]) -> None:
    assert set(finding) >= REQUIRED, REQUIRED - set(finding)
    assert len(finding["Id"]) <= 512 and len(finding["GeneratorId"]) <= 512
    assert 1 <= len(finding["Title"]) <= 256 and 1 <= len(finding["Description"]) <= 1024
    assert 1 <= len(finding["Resources"]) <= 32 and 1 <= len(finding["Types"]) <= 50
    assert len(finding["ProductFields"]) <= 50
    assert all(len(k) <= 128 and 1 <= len(v) <= 2048 for k, v in finding["ProductFields"].items())
    assert ISO.fullmatch(finding["CreatedAt"]) and ISO.fullmatch(finding["UpdatedAt"])
    for kind in finding["Types"]:
        namespace = kind.split("/")[0]
        assert namespace in {"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors"}
    text = finding.get("Remediation", {}).get("Recommendation", {}).get("Text", "")
    assert len(text) <= 512


def test_each_finding_is_imported_once_and_a_repeat_updates_it(context: ChannelContext) -> None:
    hub = channel(context)
    hub.send(Alert((NORMAL,)))
    hub.send(Alert((HOSTILE, LOW), digest=True))
    first = {finding["Id"]: finding for finding in imported(context)}
    assert len(first) == 3
    # Sent again (a redelivered event, a retry after another channel failed), by a new container.
    channel(context).send(Alert((NORMAL, HOSTILE, LOW), digest=True))
    again = imported(context)
    assert sorted(finding["Id"] for finding in again) == sorted(first), "updated, not duplicated"

    normal = next(f for f in again if f["ProductFields"]["trailguard/rule_id"] == NORMAL.rule_id)
    assert_asff_limits(normal)
    assert normal["SchemaVersion"] == SCHEMA_VERSION
    assert normal["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert normal["AwsAccountId"] == ACCOUNT, "the default product imports the caller's own findings only"
    assert normal["GeneratorId"] == f"trailguard/{NORMAL.rule_id}"
    assert normal["Severity"] == {"Label": "CRITICAL"} and normal["FindingProviderFields"]["Severity"]["Label"]
    assert normal["Types"] == ["TTPs/Defense Evasion/T1562.007"]
    assert (normal["Title"], normal["CreatedAt"]) == (NORMAL.title, NORMAL.event_time)
    assert normal["Resources"][0] == {
        "Type": "AwsEc2SecurityGroup",
        "Id": NORMAL.resource.arn,
        "Partition": "aws",
        "Region": "eu-west-1",
        "Details": {"Other": {"trailguard/resource_type": "AWS::EC2::SecurityGroup"}},
    }
    # The event's own account (not the caller's): named as a resource and in the product fields.
    assert normal["Resources"][1] == {"Type": "AwsAccount", "Id": "AWS::::Account:111122223333"}
    assert normal["ProductFields"]["trailguard/account_id"] == "111122223333"
    assert normal["SourceUrl"].startswith("https://") and "cloudtrail" in normal["SourceUrl"]
    assert next(f for f in again if f["ProductFields"]["trailguard/rule_id"] == LOW.rule_id)["Severity"] == {
        "Label": "LOW"
    }


def test_a_different_resource_of_the_same_event_is_another_finding(context: ChannelContext) -> None:
    other = NORMAL._replace(resource=Resource("AWS::EC2::SecurityGroup", "sg-0aaaaaaaaaaaaaaaa"))
    channel(context).send(Alert((NORMAL, other), digest=True))
    assert len(imported(context)) == 2


def test_hostile_and_huge_text_stays_within_the_asff_limits(context: ChannelContext) -> None:
    huge = HOSTILE._replace(
        title="T" * 5000,
        description="D" * 50_000,
        remediation="R" * 5000,
        details={f"key-{i}" * 20: "v" * 5000 for i in range(80)},
        rule_id="r" * 1000,
    )
    channel(context).send(Alert((huge,)))
    [finding] = imported(context)
    assert_asff_limits(finding)
    assert finding["Title"].endswith("…") and finding["Description"].endswith("…")


def test_a_digest_is_imported_in_calls_of_at_most_100(context: ChannelContext) -> None:
    sizes = record_calls(context)
    many = tuple(NORMAL._replace(event_id=f"e-{index:04d}") for index in range(250))
    receipt = channel(context).send(Alert(many, digest=True))
    assert sizes == [MAX_FINDINGS_PER_CALL, MAX_FINDINGS_PER_CALL, 50]
    assert len(imported(context)) == 250 and "250 finding(s) imported" in receipt


def test_failed_findings_in_the_answer_fail_the_delivery(
    context: ChannelContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reject_one(self: SecurityHubBackend, findings: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
        failed = [{"Id": findings[0]["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "Invalid Title"}]
        return 1, len(findings) - 1, failed

    monkeypatch.setattr(SecurityHubBackend, "batch_import_findings", reject_one)
    with pytest.raises(ChannelError, match=r"1 of 2 finding\(s\) rejected \(InvalidInput: Invalid Title\)") as caught:
        channel(context).send(Alert((NORMAL, LOW), digest=True))
    assert caught.value.transient is False, "the same finding would be rejected again"


def test_an_api_error_is_a_channel_error(context: ChannelContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")  # botocore: no credentials at all
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    hub = channel(context, account_id=ACCOUNT, region="us-west-2")
    context.aws.client("securityhub", "us-west-2").meta.events.register(
        "before-call.securityhub.BatchImportFindings", _throttled
    )
    with pytest.raises(ChannelError, match="ThrottlingException") as caught:
        hub.send(Alert((NORMAL,)))
    assert caught.value.transient is True


def _throttled(**_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
    response = AWSResponse("https://securityhub.us-west-2.amazonaws.com", 429, {}, None)
    return response, {**error, "ResponseMetadata": {"HTTPStatusCode": 429}}


def test_options_are_checked(context: ChannelContext) -> None:
    with pytest.raises(ConfigError, match="account_id: must be a 12-digit AWS account id"):
        channel(context, account_id="12345")
    with pytest.raises(ConfigError, match="region: must be an AWS region"):
        channel(context, region="mars")
    with pytest.raises(ConfigError, match="unknown option"):
        channel(context, product_arn="arn:aws:securityhub:::product/x")
    described = channel(context, region="us-east-2").describe()
    assert described == "securityhub channel 'securityhub' (Security Hub in us-east-2)"


def test_the_product_arn_is_of_the_hubs_partition_and_created_is_never_after_updated() -> None:
    future = NORMAL._replace(event_time="2099-01-01T00:00:00Z")
    document = asff(future, "123456789012", "cn-north-1", now=1_800_000_000.0)
    assert document["ProductArn"] == "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    assert document["CreatedAt"] == document["UpdatedAt"] == "2027-01-15T08:00:00Z"
    assert asff(NORMAL, "123456789012", "us-gov-west-1", now=0.0)["ProductArn"].startswith("arn:aws-us-gov:")
