"""AWS Security Hub: each finding imported with BatchImportFindings in the AWS Security Finding Format.

Options: ``region`` (default: the AWS region of the run), the hub the findings go to;
``account_id`` (default: the caller's, from STS GetCallerIdentity, which needs no permission).

Security Hub's rules for the default product (its API reference, BatchImportFindings): the
findings are this account's own (``ProductArn`` arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default)
and their ``AwsAccountId`` must be the calling account. A finding about another account (events
forwarded from an organization's members) is therefore imported under the calling account, its
own account named in ``ProductFields`` and as an ``AwsAccount`` resource.

One ASFF finding per trailguard finding, with a stable ``Id`` (the rule and ``Finding.key``:
event, rule, resource): a redelivered or re-sent finding updates the one imported before instead of
adding a second. A digest's findings are imported in calls of at most 100 (the API's limit). A
finding Security Hub lists in ``FailedFindings`` fails the alert (a retry re-imports it, which the
stable Id makes harmless); throttling and AWS-side errors are transient.

Limits kept (API reference, AwsSecurityFinding): Id and GeneratorId 512 characters, Title 256,
Description 1024, ProductFields 50 pairs (keys 128, values 2048), Resources 32, a recommendation's
text 512, a finding 240 KB.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from trailguard.core.aws_ids import ACCOUNT_ID
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.rendering.ocsf import finding_uid
from trailguard.utils.aws_helpers import botocore_error_is_transient, client_error_to_channel_error
from trailguard.utils.text import clip

SCHEMA_VERSION = "2018-10-08"
MAX_FINDINGS_PER_CALL = 100
_TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "LimitExceededException", "InternalException"}
)
_TRANSIENT_FAILED = frozenset({"ThrottlingException", "InternalException", "InternalError", "ServiceUnavailable"})
SEVERITY_LABELS = {
    Severity.INFO: "INFORMATIONAL",
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}
# ASFF types (namespace/category/classifier) from the MITRE ATT&CK technique of the rule: the
# technique's first tactic among ASFF's TTPs categories, or the Effects category for Impact and
# Exfiltration. Techniques of tactics ASFF has no category for (Resource Development) are left out.
_TECHNIQUE_TYPES = {
    "T1021": "TTPs/Lateral Movement",
    "T1037": "TTPs/Persistence",
    "T1040": "TTPs/Credential Access",
    "T1070": "TTPs/Defense Evasion",
    "T1078": "TTPs/Initial Access",
    "T1098": "TTPs/Persistence",
    "T1110": "TTPs/Credential Access",
    "T1133": "TTPs/Initial Access",
    "T1136": "TTPs/Persistence",
    "T1190": "TTPs/Initial Access",
    "T1484": "TTPs/Privilege Escalation",
    "T1485": "Effects/Data Destruction",
    "T1486": "Effects/Data Destruction",
    "T1490": "Effects/Data Destruction",
    "T1496": "Effects/Resource Consumption",
    "T1530": "TTPs/Collection",
    "T1531": "Effects/Denial of Service",
    "T1535": "TTPs/Defense Evasion",
    "T1537": "Effects/Data Exfiltration",
    "T1550": "TTPs/Defense Evasion",
    "T1552": "TTPs/Credential Access",
    "T1555": "TTPs/Credential Access",
    "T1556": "TTPs/Credential Access",
    "T1557": "TTPs/Credential Access",
    "T1562": "TTPs/Defense Evasion",
    "T1578": "TTPs/Defense Evasion",
    "T1580": "TTPs/Discovery",
    "T1599": "TTPs/Defense Evasion",
    "T1648": "TTPs/Execution",
    "T1651": "TTPs/Execution",
    "T1666": "TTPs/Defense Evasion",
}
DEFAULT_TYPE = "Unusual Behaviors/User"
# CloudFormation resource types (as rules name them) -> ASFF resource types; the rest are "Other".
_RESOURCE_TYPES = {
    "AWS::EC2::SecurityGroup": "AwsEc2SecurityGroup",
    "AWS::EC2::Instance": "AwsEc2Instance",
    "AWS::EC2::VPC": "AwsEc2Vpc",
    "AWS::EC2::Volume": "AwsEc2Volume",
    "AWS::IAM::User": "AwsIamUser",
    "AWS::IAM::Role": "AwsIamRole",
    "AWS::IAM::Policy": "AwsIamPolicy",
    "AWS::IAM::AccessKey": "AwsIamAccessKey",
    "AWS::S3::Bucket": "AwsS3Bucket",
    "AWS::KMS::Key": "AwsKmsKey",
    "AWS::Lambda::Function": "AwsLambdaFunction",
    "AWS::CloudTrail::Trail": "AwsCloudTrailTrail",
    "AWS::SNS::Topic": "AwsSnsTopic",
    "AWS::SQS::Queue": "AwsSqsQueue",
    "AWS::SecretsManager::Secret": "AwsSecretsManagerSecret",
    "AWS::RDS::DBInstance": "AwsRdsDbInstance",
    "AWS::RDS::DBSnapshot": "AwsRdsDbSnapshot",
    "AWS::ECR::Repository": "AwsEcrRepository",
    "AWS::DynamoDB::Table": "AwsDynamoDbTable",
    "AWS::GuardDuty::Detector": "AwsGuardDutyDetector",
    "AWS::CloudWatch::Alarm": "AwsCloudWatchAlarm",
    "AWS::Backup::BackupVault": "AwsBackupBackupVault",
}


def _text(value: str, limit: int, fallback: str = "-") -> str:
    """A non-empty string of at most ``limit`` characters (ASFF rejects empty strings)."""
    return clip(value.strip(), limit) or fallback


def _iso(event_time: str, now: float) -> str:
    """CloudTrail's ``2026-12-04T03:45:00Z`` as it is; anything else (a hostile record) is replaced by now."""
    if len(event_time) == 20 and event_time[4] == "-" and event_time[10] == "T" and event_time.endswith("Z"):
        return event_time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def finding_id(finding: Finding) -> str:
    """The same for the same event, rule and resource: a repeat updates the imported finding."""
    return f"trailguard/{clip(finding.rule_id, 200)}/{finding_uid(finding)}"


def finding_types(finding: Finding) -> list[str]:
    technique = finding.mitre.strip()
    category = _TECHNIQUE_TYPES.get(technique.split(".", 1)[0])
    return [f"{category}/{technique}"] if category else [DEFAULT_TYPE]


_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov"})


def region_partition(region: str) -> str:
    """The partition of a region: the hub's (and so the product ARN's) is the caller's, not the event's."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _partition(arn: str, region: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] in _PARTITIONS else region_partition(region)


def _resources(finding: Finding) -> list[dict[str, Any]]:
    resource = finding.resource
    resources: list[dict[str, Any]] = []
    identifier = resource.arn or resource.id
    if identifier:
        entry: dict[str, Any] = {
            "Type": _RESOURCE_TYPES.get(resource.type, "Other"),
            "Id": _text(identifier, 512),
            "Partition": _partition(resource.arn or finding.actor.arn, finding.region),
        }
        if finding.region:
            entry["Region"] = _text(finding.region, 64)
        if resource.type:
            entry["Details"] = {"Other": {"trailguard/resource_type": _text(resource.type, 1024)}}
        resources.append(entry)
    if ACCOUNT_ID.fullmatch(finding.account_id):
        # The account the event happened in (ASFF's account resource: AWS::::Account:<id>).
        resources.append({"Type": "AwsAccount", "Id": f"AWS::::Account:{finding.account_id}"})
    return resources or [{"Type": "Other", "Id": _text(finding.event_id, 512, "unknown")}]


def asff(finding: Finding, account: str, region: str, now: float) -> dict[str, Any]:
    """One trailguard finding in the AWS Security Finding Format."""
    label = SEVERITY_LABELS[finding.severity]
    types = finding_types(finding)
    fields = {
        "trailguard/rule_id": finding.rule_id,
        "trailguard/event_id": finding.event_id,
        "trailguard/event_name": finding.event_name,
        "trailguard/event_source": finding.event_source,
        "trailguard/account_id": finding.account_id,
        "trailguard/actor": finding.actor.label,
        "trailguard/actor_arn": finding.actor.arn,
        "trailguard/source_ip": finding.source_ip,
        "trailguard/mitre": finding.mitre,
    }
    fields.update({f"trailguard/detail/{key}"[:128]: value for key, value in list(finding.details.items())[:30]})
    product_fields = {key[:128]: _text(value, 2048) for key, value in fields.items() if value.strip()}
    updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    # Not after UpdatedAt: a record's eventTime in the future (a forged log in a scan) is capped at now.
    created = min(_iso(finding.event_time, now), updated)
    document: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(finding),
        "ProductArn": f"arn:{region_partition(region)}:securityhub:{region}:{account}:product/{account}/default",
        "ProductName": "trailguard",
        "CompanyName": "trailguard",
        "GeneratorId": _text(f"trailguard/{finding.rule_id}", 512),
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": created,
        "FirstObservedAt": created,
        "UpdatedAt": updated,
        "Severity": {"Label": label},
        # What a provider may change on an update (BatchImportFindings ignores top-level Severity and
        # Types of an existing finding).
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": types},
        "Title": _text(finding.title, 256),
        "Description": _text(finding.description or finding.summary, 1024),
        "Resources": _resources(finding)[:32],
        "ProductFields": dict(list(product_fields.items())[:50]),
        "RecordState": "ACTIVE",
    }
    if finding.remediation.strip():
        document["Remediation"] = {"Recommendation": {"Text": _text(finding.remediation, 512)}}
    if finding.cloudtrail_url:
        document["SourceUrl"] = finding.cloudtrail_url
    return document


class SecurityHubChannel(Channel):
    kind = "securityhub"
    needs_aws = True

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        self.region = options.region("region", default=context.aws.region)
        self.account_id = options.text("account_id", default="")
        if self.account_id and not ACCOUNT_ID.fullmatch(self.account_id):
            raise ConfigError(
                f"{options.where}: account_id: must be a 12-digit AWS account id, got {self.account_id!r}"
            )

    def _account(self) -> str:
        if not self.account_id:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self.account_id = str(self.context.aws.client("sts", self.region).get_caller_identity()["Account"])
            except ClientError as exc:
                raise client_error_to_channel_error(exc, "STS GetCallerIdentity", _TRANSIENT_CODES) from None
            except BotoCoreError as exc:
                transient = botocore_error_is_transient(exc)
                raise ChannelError(f"STS GetCallerIdentity failed: {type(exc).__name__}", transient=transient) from None
        return self.account_id

    def send(self, alert: Alert) -> str:
        account = self._account()
        now = time.time()
        documents = [asff(finding, account, self.region, now) for finding in alert.findings]
        imported = 0
        for start in range(0, len(documents), MAX_FINDINGS_PER_CALL):
            imported += self._import(documents[start : start + MAX_FINDINGS_PER_CALL])
        return f"Security Hub: {imported} finding(s) imported in {self.region}"

    def _import(self, documents: Sequence[dict[str, Any]]) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"Security Hub BatchImportFindings in {self.region}"
        try:
            response = self.context.aws.client("securityhub", self.region).batch_import_findings(
                Findings=list(documents)
            )
        except ClientError as exc:
            raise client_error_to_channel_error(exc, where, _TRANSIENT_CODES) from None
        except BotoCoreError as exc:
            raise ChannelError(
                f"{where} failed: {type(exc).__name__}", transient=botocore_error_is_transient(exc)
            ) from None
        failed = response.get("FailedFindings") or []
        if failed or int(response.get("FailedCount") or 0):
            codes = sorted({str(item.get("ErrorCode", "?")) for item in failed}) or ["?"]
            first = failed[0] if failed else {}
            detail = clip(str(first.get("ErrorMessage", "")), 200)
            raise ChannelError(
                f"{where}: {len(failed) or response.get('FailedCount')} of {len(documents)} finding(s) rejected "
                f"({', '.join(codes)}{': ' + detail if detail else ''})",
                transient=all(code in _TRANSIENT_FAILED for code in codes),
            )
        return int(response.get("SuccessCount", len(documents)))

    def describe(self) -> str:
        return f"{super().describe()} (Security Hub in {self.region})"
