"""EventBridge rules disabled, deleted or stripped of their targets. Rules are how alerting hears of
events: trailguard's own, and every other tool built the same way. EventBridge is a JSON API:
DisableRule, DeleteRule and PutRule name the rule ``name``, PutTargets and RemoveTargets ``rule``;
``eventBusName`` (a name or an ARN) is absent for the default bus.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import CLOUDFORMATION, applied_by_stack
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.utils.text import listing

SOURCE = "events.amazonaws.com"
DEFAULT_BUS = "default"
# Target ids shown in a summary; the rest are counted.
SHOWN_TARGETS = 5


def rule_resource(event: CloudTrailEvent) -> Resource:
    """The rule a call names, with its ARN (``rule/<name>`` on the default bus, ``rule/<bus>/<name>``
    on another)."""
    name = event.get_str("requestParameters", "name") or event.get_str("requestParameters", "rule")
    arn = event.get_str("responseElements", "ruleArn")
    if name and not arn:
        bus = event.get_str("requestParameters", "eventBusName") or DEFAULT_BUS
        account: str | None = None
        if bus.startswith("arn:"):
            # arn:aws:events:eu-west-1:111122223333:event-bus/<name>: possibly another account's bus.
            parts = bus.split(":", 5)
            account = parts[4] if len(parts) == 6 else None
            bus = bus.rsplit("/", 1)[-1]
        path = f"rule/{name}" if bus == DEFAULT_BUS else f"rule/{bus}/{name}"
        arn = event.arn("events", path, account=account)
    return Resource(type="AWS::Events::Rule", id=name, arn=arn)


@rule(
    id="eventbridge.rule-disabled",
    resource_placeholder="<rule>",
    routine=True,
    severity=Severity.MEDIUM,
    escalates_to=(Severity.LOW,),
    on={SOURCE: ["DisableRule", "DeleteRule", "RemoveTargets"]},
    title="EventBridge rule disabled, deleted or emptied",
    description=(
        "An EventBridge rule was disabled or deleted, or targets were removed from it: whatever it "
        "delivered (security alerts, automated responses, CloudTrail events to a detection tool) "
        "stops arriving. When the rule is trailguard's own (`self_resources`) and the caller is not "
        "its deployer, trailguard.pipeline-tampered reports it instead, as CRITICAL: one alert for "
        "one act. A rule that AWS manages for a service is removed by the service itself and is not "
        "reported; deleting a rule usually removes its targets first, which is reported too. LOW "
        "when CloudFormation makes the call applying a stack (a stack update or teardown removing "
        "the rules it defined)."
    ),
    remediation=(
        "Re-enable the rule (`aws events enable-rule --name <rule>`) or restore it and its targets "
        "from their source (stack, Terraform), and find out who changed it."
    ),
    mitre="T1562.001",
    quiet=(
        "Rules that AWS services manage for themselves, removed by the service's own "
        "service-linked role (AutoScalingManagedRule...). Lower (LOW) on a stack update or teardown "
        "removing its own rules and targets (invokedBy cloudformation.amazonaws.com, with the "
        "caller's session or the stack's service role). Cannot tell: a stack replacing a rule "
        "(DeleteRule then PutRule of the same name), a pipeline's routine disable during a "
        "maintenance window (routine by memory; `suppressions` by principal and resource)."
    ),
)
def rule_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    target = rule_resource(event)
    if ctx.tampers_with_trailguard(event, target):
        return  # one alert for one act: trailguard.pipeline-tampered's
    label = target.id or "(unknown)"
    name = event.event_name
    severity = Severity.LOW if applied_by_stack(event) else None
    details = {"Through": CLOUDFORMATION} if severity else {}
    if name == "RemoveTargets":
        ids = [i for i in event.get_list("requestParameters", "ids") if isinstance(i, str) and i]
        shown = listing(ids, SHOWN_TARGETS)
        yield Hit(
            summary=f"EventBridge rule {label}: target(s) {shown or '(unknown)'} removed",
            resource=target,
            severity=severity,
            details={"Targets removed": shown or "(not in the record)", **details},
        )
        return
    verb = "disabled" if name == "DisableRule" else "deleted"
    yield Hit(summary=f"EventBridge rule {label} {verb}", resource=target, severity=severity, details=details)
