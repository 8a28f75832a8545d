"""SQS rules: queue policies opened to everyone or to accounts outside the trusted set. SQS logs a
queue's attributes as a map of strings: the access policy is a JSON document serialised into its
``Policy`` entry (``""`` removes the policy). SetQueueAttributes logs the map as ``attributes``;
CreateQueue records of the Query API logged it as ``attribute``, those of the JSON protocol as
``attributes``.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, exposure_hit

SOURCE = "sqs.amazonaws.com"


def _queue(event: CloudTrailEvent) -> Resource:
    """The queue: its URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``) names both."""
    url = event.get_str("requestParameters", "queueUrl") or event.get_str("responseElements", "queueUrl")
    name = event.get_str("requestParameters", "queueName")
    account = ""
    parts = url.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2].isascii() and parts[-2].isdigit():
        account = parts[-2]
        name = name or parts[-1]
    arn = event.arn("sqs", name, account=account or None) if name else ""
    return Resource(type="AWS::SQS::Queue", id=name or url, arn=arn)


def _policy(event: CloudTrailEvent) -> object:
    for key in ("attributes", "attribute"):
        attributes = event.get_dict("requestParameters", key)
        if "Policy" in attributes:
            return attributes["Policy"]
    return None


@rule(
    id="sqs.queue-policy-public",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["SetQueueAttributes", "CreateQueue"]},
    title="SQS queue policy open to everyone or outsiders",
    description=(
        'A queue\'s access policy now Allows Principal "*" without a condition limiting callers to '
        "an organization, account, source ARN or network, or grants an account outside the trusted "
        "accounts: anyone (or that account) can read, inject or purge its messages, as the allowed "
        "actions go: a way to steal or poison what flows through it."
    ),
    remediation=(
        "Put back a policy naming only the intended principals (`aws sqs set-queue-attributes "
        "--queue-url <url> --attributes file://policy.json`) or remove it (`--attributes Policy=`), "
        "and check who received or sent messages since (CloudTrail data events, queue metrics)."
    ),
    mitre="T1537",
    quiet=(
        "Quiet on service principals (S3 event notifications, EventBridge targets, SNS subscriptions, "
        'with or without aws:SourceArn), on "*" narrowed by aws:SourceArn/aws:SourceAccount to the '
        "account's own resources, on removing the policy, on attributes other than the policy, and on "
        'trusted accounts. "*" narrowed to another account\'s topic or bucket is HIGH. Cannot tell: a '
        "partner's topic feeding the queue from an account not in `trusted_accounts` (add it there)."
    ),
)
def queue_policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on the normal wiring: a service principal (S3 event notifications, EventBridge
    targets, SNS subscriptions), with or without aws:SourceArn, is not the public, and "*" narrowed
    by aws:SourceArn/aws:SourceAccount of the account's own resources is not external. "*" narrowed
    to another account's topic or bucket is external (HIGH), unless that account is trusted."""
    document = _policy(event)
    if not document:
        return
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    queue = _queue(event)
    hit = exposure_hit(f"Queue {queue.label or '(unnamed)'}", queue, exposure, Severity.HIGH)
    if hit:
        url = event.get_str("requestParameters", "queueUrl") or event.get_str("responseElements", "queueUrl")
        yield hit._replace(remedy={"<url>": url})
