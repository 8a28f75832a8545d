"""SNS rules: topic policies opened to everyone or to accounts outside the trusted set. A topic's
policy arrives three ways: SetTopicAttributes with ``attributeName`` ``Policy`` and the document as
the ``attributeValue`` string; CreateTopic with it in the ``attributes`` map; and AddPermission,
which names accounts (``aWSAccountId``) and actions (``actionName``) and lets SNS write the
statement. The default topic policy Allows ``{"AWS": "*"}`` narrowed by ``AWS:SourceOwner`` (the
topic's own account), so it is not public.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_text, items_of, member
from trailguard.core.policy import analyze_policy, exposure_hit

SOURCE = "sns.amazonaws.com"


def _topic(event: CloudTrailEvent) -> Resource:
    arn = event.get_str("requestParameters", "topicArn") or event.get_str("responseElements", "topicArn")
    name = arn.rsplit(":", 1)[-1] if arn.startswith("arn:") else event.get_str("requestParameters", "name")
    return Resource(type="AWS::SNS::Topic", id=name, arn=arn if arn.startswith("arn:") else "")


def _policy(event: CloudTrailEvent) -> Any:
    """The topic policy the call sets, as the shared policy analysis reads it; None if it sets none."""
    params = event.request
    if event.event_name == "SetTopicAttributes":
        if as_text(params.get("attributeName")) != "Policy":
            return None
        return params.get("attributeValue")
    if event.event_name == "CreateTopic":
        attributes = params.get("attributes")
        return attributes.get("Policy") if isinstance(attributes, dict) else None
    # AddPermission: the statement SNS writes from the named accounts and actions.
    accounts = [as_text(item) for item in items_of(member(params, "AWSAccountId")) if as_text(item)]
    if not accounts:
        return None
    actions = [f"SNS:{as_text(item)}" for item in items_of(member(params, "ActionName")) if as_text(item)]
    statement = {"Sid": as_text(params.get("label")), "Effect": "Allow", "Principal": {"AWS": accounts}}
    return {"Statement": [{**statement, "Action": actions}]}


POLICY_REMEDIATION = (
    "Put back a policy naming only the intended principals (`aws sns set-topic-attributes --topic-arn <arn> "
    "--attribute-name Policy --attribute-value file://policy.json`), and review the topic's subscriptions "
    "(`aws sns list-subscriptions-by-topic --topic-arn <arn>`)."
)


@rule(
    id="sns.topic-policy-public",
    resource_placeholder="<arn>",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["SetTopicAttributes", "AddPermission", "CreateTopic"]},
    title="SNS topic policy open to everyone or outsiders",
    description=(
        'A topic\'s access policy now Allows Principal "*" without a condition limiting callers to '
        "an organization, account, source ARN or network, or grants an account outside the trusted "
        "accounts: anyone (or that account) can publish to its subscribers (phishing, fake alerts), "
        "subscribe to read every message, or change the topic, as the allowed actions go."
    ),
    remediation=(
        "Put back a policy naming only the intended principals (`aws sns set-topic-attributes "
        "--topic-arn <arn> --attribute-name Policy --attribute-value file://policy.json`), or "
        "`aws sns remove-permission --topic-arn <arn> --label <label>`, and review the topic's "
        "subscriptions (`aws sns list-subscriptions-by-topic --topic-arn <arn>`)."
    ),
    mitre="T1537",
    quiet=(
        'Quiet on the default policy ("*" narrowed by AWS:SourceOwner to the own account), on service '
        "principals (CloudWatch alarms, EventBridge, S3 event notifications, with or without "
        'aws:SourceArn), on "*" narrowed to the account\'s own sources, on attributes other than the '
        "policy, and on topics shared with trusted accounts. Cannot tell: another team's account "
        "subscribing that is not in `trusted_accounts` (add it there)."
    ),
)
def topic_policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on the default policy ("*" narrowed by AWS:SourceOwner), on service principals
    (CloudWatch alarms, EventBridge, S3 notifications publishing), on "*" narrowed to the account's
    own sources, and on topics shared with trusted accounts."""
    document = _policy(event)
    if not document:
        return
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    topic = _topic(event)
    hit = exposure_hit(f"Topic {topic.label or '(unnamed)'}", topic, exposure, Severity.HIGH)
    if hit:
        label = event.get_str("requestParameters", "label")
        # Only AddPermission's statement has a label to remove; a whole policy is put back.
        yield hit._replace(remedy={"<label>": label}) if label else hit._replace(remediation=POLICY_REMEDIATION)
