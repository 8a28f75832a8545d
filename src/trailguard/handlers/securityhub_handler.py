"""AWS Security Hub: the hub disabled or security standards turned off.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

Security Hub's REST API uses PascalCase body members (``StandardsSubscriptionArns``); both that
spelling and the lowerCamelCase one are read.
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "securityhub.amazonaws.com"


HUB_DISABLED_REMEDIATION = (
    "Re-enable Security Hub (`aws securityhub enable-security-hub --region <region>`, which also "
    "re-enables the default standards), and deny these calls with an SCP outside the security account."
)
STANDARDS_DISABLED_REMEDIATION = (
    "Re-enable the standards (`aws securityhub batch-enable-standards --standards-subscription-requests "
    "<standards>`), and deny these calls with an SCP outside the security account."
)


@rule(
    id="securityhub.disabled",
    severity=Severity.HIGH,
    on={SOURCE: ["DisableSecurityHub", "BatchDisableStandards"]},
    title="Security Hub or its standards disabled",
    description=(
        "Security Hub was disabled, or security standards were turned off: their controls stop "
        "running and the posture findings the security team relies on disappear."
    ),
    remediation=(
        "Re-enable Security Hub (`aws securityhub enable-security-hub`) or the standards "
        "(`aws securityhub batch-enable-standards --standards-subscription-requests "
        "StandardsArn=<arn>`), and deny these calls with an SCP outside the security account."
    ),
    mitre="T1562.001",
    quiet=(
        "Calls that failed (a hub that is not enabled). Cannot tell: a standard turned "
        "off as its newer version is turned on (CIS 1.2 for 1.4 or 3.0), or Security Hub disabled "
        "in an unused region, from an intruder (routine by memory; `suppressions` by principal)."
    ),
)
def securityhub_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    hub_arn = ""
    if event.region and event.account_id:
        hub_arn = event.arn("securityhub", "hub/default")
    if event.event_name == "DisableSecurityHub":
        yield Hit(
            summary=f"Security Hub disabled in {event.account_id or 'the account'} ({event.region or '?'})",
            resource=Resource(type="AWS::SecurityHub::Hub", id=hub_arn or "hub/default", arn=hub_arn),
            remediation=HUB_DISABLED_REMEDIATION,
        )
        return
    arns = [
        a
        for a in (
            event.get_list("requestParameters", "StandardsSubscriptionArns")
            or event.get_list("requestParameters", "standardsSubscriptionArns")
        )
        if isinstance(a, str) and a
    ]
    # subscription ARNs end in .../subscription/<standard>/v/<version>: show the standard.
    names = [a.split(":subscription/", 1)[-1] for a in arns]
    shown = ", ".join(names) if names else "(not in the record)"
    subscriptions = event.get_list("responseElements", "StandardsSubscriptions") or event.get_list(
        "responseElements", "standardsSubscriptions"
    )
    standards = [s.get("StandardsArn") or s.get("standardsArn") for s in subscriptions if isinstance(s, dict)]
    yield Hit(
        summary=f"Security Hub standard(s) disabled: {shown}",
        resource=Resource(type="AWS::SecurityHub::Standard", id=shown, arn=arns[0] if len(arns) == 1 else ""),
        details={"Standards": shown},
        remediation=STANDARDS_DISABLED_REMEDIATION,
        # Each standard is a StandardsArn=... word of its own.
        remedy={"<standards>": tuple(f"StandardsArn={arn}" for arn in standards if isinstance(arn, str) and arn)},
    )
