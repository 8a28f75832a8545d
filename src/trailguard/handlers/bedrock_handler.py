"""Amazon Bedrock: model access enabled and invocation logging removed. Stolen keys are resold for LLM
access ("LLMjacking"): the buyer's first calls enable the models in the victim's account and make
sure nothing records the prompts. Bedrock is a REST API: CloudTrail records its body members in
lowerCamelCase (``modelId``); PutUseCaseForModelAccess logs neither request nor response.
Marketplace models are subscribed through the AWS Marketplace Agreement API (``agreement-
marketplace.amazonaws.com``), whose AcceptAgreementRequest names only the agreement, not the
product.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import from_console
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "bedrock.amazonaws.com"
MARKETPLACE_AGREEMENTS = "agreement-marketplace.amazonaws.com"
# Long-term access keys (an IAM user's) start so; session credentials start with ASIA.
LONG_TERM_KEY_PREFIX = "AKIA"


def _access_severity(event: CloudTrailEvent) -> Severity | None:
    """LOW for a person at the console (an ML team ticking model access), HIGH for an IAM user's
    long-term key outside the console (what LLMjacking buyers hold), the rule's MEDIUM otherwise."""
    if from_console(event):
        return Severity.LOW
    if event.identity_type == "IAMUser" and event.get_str("userIdentity", "accessKeyId").startswith(
        LONG_TERM_KEY_PREFIX
    ):
        return Severity.HIGH
    return None


@rule(
    id="bedrock.model-access-enabled",
    routine=True,
    severity=Severity.MEDIUM,
    on={
        SOURCE: ["PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement"],
        MARKETPLACE_AGREEMENTS: ["AcceptAgreementRequest"],
    },
    title="Bedrock model access enabled",
    description=(
        "Access to a Bedrock foundation model was requested or granted: the use-case form, a model's "
        "offer accepted, or its entitlement put in place. This is what a buyer of stolen keys does "
        "first, before running up model bills in the account (LLMjacking). A Marketplace agreement "
        "accepted looks the same for any product: the record names the agreement, not what was "
        "bought. Access that AWS enables by itself (AWSService callers) is not reported."
    ),
    remediation=(
        "Confirm that the caller and the team are expected to use this model. If not, disable the "
        "caller's keys (`aws iam update-access-key --status Inactive`), cancel the subscription in "
        "AWS Marketplace (Manage subscriptions), and deny bedrock:* and aws-marketplace:Subscribe "
        "outside approved roles with an SCP."
    ),
    mitre="T1496",
    escalates_to=(Severity.HIGH, Severity.LOW),
    quiet=(
        "LOW when a person enables access at the console (`sessionCredentialFromConsole`): how ML "
        "teams switch models on. HIGH when an IAM user's long-term access key (`AKIA...`) does it "
        "outside the console: stolen keys are sold for exactly this. MEDIUM for roles and "
        "Identity Center sessions at the CLI. Access Bedrock grants by itself on a first "
        "invocation (AWSService callers) is not reported. Cannot tell: a team's own key enabling "
        "a model it planned to use (routine by memory; a key used from a new network is "
        "`baseline.new-network`'s)."
    ),
)
def model_access_enabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    name = event.event_name
    severity = _access_severity(event)
    if name == "AcceptAgreementRequest":
        agreement = event.get_str("responseElements", "agreementId")
        request = event.get_str("requestParameters", "agreementRequestId")
        details = {"Agreement request": request} if request else {}
        yield Hit(
            summary=f"AWS Marketplace agreement {agreement or request or '(unknown)'} accepted "
            "(Bedrock models from Marketplace sellers are subscribed this way)",
            resource=Resource(type="AWS::Marketplace::Agreement", id=agreement or request),
            severity=severity,
            details=details,
        )
        return
    model = event.get_str("requestParameters", "modelId")
    if name == "PutUseCaseForModelAccess":
        summary = "Bedrock model access use case submitted (the form that unlocks Anthropic models)"
        resource = event.account_resource()
    else:
        verb = "offer accepted" if name == "CreateFoundationModelAgreement" else "entitlement granted"
        summary = f"Bedrock model {model or '(unknown)'}: {verb}"
        resource = Resource(
            type="AWS::Bedrock::FoundationModel",
            id=model,
            arn=event.arn("bedrock", f"foundation-model/{model}", account="") if model else "",
        )
    yield Hit(summary=summary, resource=resource, severity=severity, details={"Model": model} if model else {})


@rule(
    id="bedrock.logging-disabled",
    severity=Severity.HIGH,
    on={SOURCE: ["DeleteModelInvocationLoggingConfiguration"]},
    title="Bedrock invocation logging disabled",
    description=(
        "Bedrock's model invocation logging was removed: prompts and responses stop being recorded "
        "to CloudWatch Logs or S3, so abuse of the account's models (or data sent to them) leaves no "
        "trace beyond the bill. Stolen-key buyers check for it and turn it off."
    ),
    remediation=(
        "Put the logging configuration back (`aws bedrock put-model-invocation-logging-configuration "
        "--logging-config file://logging.json`), find out who removed it, and deny "
        "bedrock:DeleteModelInvocationLoggingConfiguration outside break-glass roles."
    ),
    mitre="T1562.008",
    quiet=(
        "Refused calls are not reported, and changing the configuration (a new Put) is not this "
        "call. Cannot tell: an account's planned teardown (use `suppressions` for its role); "
        "nothing else routine removes it."
    ),
)
def logging_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    yield Hit(
        summary=f"Bedrock model invocation logging removed in {event.region or 'a region'}",
        resource=event.account_resource(),
        details={"Change": "prompts and responses no longer logged"},
    )
