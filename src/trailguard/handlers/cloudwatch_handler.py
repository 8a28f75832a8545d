"""CloudWatch alarms silenced: actions disabled or alarms deleted. CloudWatch
(``monitoring.amazonaws.com``) logs both calls with ``alarmNames``, a list.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import applied_by_stack
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.utils.text import listing

SOURCE = "monitoring.amazonaws.com"
# Alarm names shown in a summary; the rest are counted.
SHOWN_ALARMS = 5


@rule(
    id="monitoring.alarms-silenced",
    routine=True,
    severity=Severity.MEDIUM,
    escalates_to=(Severity.LOW,),
    on={SOURCE: ["DisableAlarmActions", "DeleteAlarms"]},
    title="CloudWatch alarms deleted or their actions disabled",
    description=(
        "CloudWatch alarms were deleted, or their actions turned off so that they change state "
        "without notifying anyone: the alarm that would have paged on a spike of errors, spend or "
        "sign-ins stays quiet. Alarms that AWS manages itself (target-tracking alarms that "
        "Application Auto Scaling deletes with its service-linked role) are not reported. Alarms "
        "deleted by a CloudFormation stack update or deletion (invokedBy "
        "cloudformation.amazonaws.com) are LOW: a stack removing the alarms it defined, reported "
        "under the name of whoever applied it."
    ),
    remediation=(
        "Re-enable the actions (`aws cloudwatch enable-alarm-actions --alarm-names <names>`) or "
        "re-create the alarms from their source (stack, Terraform), and find out who silenced them."
    ),
    mitre="T1562.001",
    quiet=(
        "Target-tracking alarms (TargetTracking-...) that EC2 Auto Scaling and "
        "Application Auto Scaling create and delete with their service-linked roles. Lower (LOW) "
        "on a stack update or teardown deleting its own alarms (invokedBy "
        "cloudformation.amazonaws.com). Cannot tell: a pipeline muting alarms for a maintenance "
        "window or a person deleting stale alarms by hand (routine by memory; `quiet_periods` for "
        "planned windows)."
    ),
)
def alarms_silenced(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    names = [n for n in event.get_list("requestParameters", "alarmNames") if isinstance(n, str) and n]
    shown = listing(names, SHOWN_ALARMS)
    verb = "deleted" if event.event_name == "DeleteAlarms" else "actions disabled"
    via = event.get_str("userIdentity", "invokedBy")
    details = {"Alarms": shown or "(not in the record)", "Count": str(len(names))}
    if via:
        details["Through"] = via
    first = names[0] if names else ""
    yield Hit(
        summary=f"CloudWatch alarm(s) {shown or '(unknown)'}: {verb}",
        severity=Severity.LOW if applied_by_stack(event) else None,
        resource=Resource(
            type="AWS::CloudWatch::Alarm",
            id=first if len(names) == 1 else shown,
            arn=event.arn("cloudwatch", f"alarm:{first}") if len(names) == 1 else "",
        ),
        details=details,
        remedy={"<names>": tuple(names)},
    )
