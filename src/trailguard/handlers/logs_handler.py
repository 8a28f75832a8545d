"""CloudWatch Logs: log groups, streams and subscriptions removed, retention cut to a day. CloudWatch
Logs is a JSON API: CloudTrail records ``logGroupName``, ``logStreamName``, ``filterName`` and
``retentionInDays`` as the caller sent them.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import CLOUDFORMATION, applied_by_stack
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "logs.amazonaws.com"
# The shortest retention CloudWatch Logs offers: a day's logs and the evidence in them vanish.
SHORTEST_RETENTION_DAYS = 1


@rule(
    id="logs.log-group-deleted",
    resource_placeholder="<group>",
    severity=Severity.MEDIUM,
    escalates_to=(Severity.LOW, Severity.HIGH),
    on={SOURCE: ["DeleteLogGroup", "DeleteLogStream", "DeleteSubscriptionFilter", "PutRetentionPolicy"]},
    title="CloudWatch log group, stream or export removed",
    description=(
        "Logs were deleted or set to vanish: a log group or stream deleted, the subscription filter "
        "that exports a group elsewhere removed, or retention cut to one day. HIGH when the group "
        "holds CloudTrail or VPC flow logs (configured `audit_log_groups`, by default names that "
        "contain cloudtrail, flow-log, flowlog or vpc-flow in any case). LOW for other groups when "
        "CloudFormation removes them (or their subscription filters) applying a stack. Other "
        "retention changes are routine and not reported; streams that expire under a group's "
        "retention are removed by CloudWatch Logs itself, not by a DeleteLogStream call, and calls "
        "AWS makes by itself are not reported."
    ),
    remediation=(
        "Find out who removed the logs and why. A deleted group cannot be restored: recover what is "
        "left from its other copies (S3 export, the trail's bucket), restore the subscription "
        "(`aws logs put-subscription-filter ...`) or retention (`aws logs put-retention-policy "
        "--log-group-name <group> --retention-in-days 365`), and deny these calls on audit log "
        "groups with an SCP."
    ),
    mitre="T1070",
    quiet=(
        "Retention changes other than to one day, and streams that CloudWatch Logs "
        "expires itself under a group's retention (no DeleteLogStream call). Lower (LOW) on a "
        "stack update or teardown removing its own groups or subscription filters (invokedBy "
        "cloudformation.amazonaws.com); audit groups stay HIGH whoever removes them. Cannot tell: "
        "a function's /aws/lambda/... group cleaned up after the function was deleted (from one "
        "hiding what a live function did), a pipeline replacing a subscription filter (delete then "
        "put) or setting one day on its test groups (routine by memory; `suppressions` by resource)."
    ),
)
def log_group_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    group = event.get_str("requestParameters", "logGroupName")
    name = event.event_name
    details: dict[str, str] = {}
    if name == "PutRetentionPolicy":
        days = event.get_int("requestParameters", "retentionInDays")
        if days != SHORTEST_RETENTION_DAYS:
            return
        what = "retention set to 1 day"
        details["Retention"] = "1 day"
    elif name == "DeleteLogStream":
        stream = event.get_str("requestParameters", "logStreamName")
        what = f"log stream {stream or '(unknown)'} deleted"
        details["Log stream"] = stream
    elif name == "DeleteSubscriptionFilter":
        subscription = event.get_str("requestParameters", "filterName")
        what = f"subscription filter {subscription or '(unknown)'} removed (logs no longer exported)"
        details["Subscription filter"] = subscription
    else:
        what = "deleted"
    audit = ctx.is_audit_log_group(group)
    severity: Severity | None = None
    if audit:
        details["Holds"] = "audit logs (CloudTrail or VPC flow logs)"
        severity = Severity.HIGH
    elif applied_by_stack(event):
        details["Through"] = CLOUDFORMATION
        severity = Severity.LOW
    arn = event.arn("logs", f"log-group:{group}") if group else ""
    yield Hit(
        summary=f"Log group {group or '(unknown)'}: {what}",
        resource=Resource(type="AWS::Logs::LogGroup", id=group, arn=arn),
        severity=severity,
        details=details,
    )
