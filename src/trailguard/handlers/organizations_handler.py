"""AWS Organizations: an account leaving, or being removed from, the organization.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "organizations.amazonaws.com"


@rule(
    id="organizations.account-left",
    severity=Severity.CRITICAL,
    on={SOURCE: ["LeaveOrganization", "RemoveAccountFromOrganization"]},
    title="Account left the AWS organization",
    description=(
        "An account left or was removed from the organization. Service control policies, "
        "organization trails, delegated GuardDuty/Security Hub and consolidated billing no longer "
        "apply to it: an attacker who controls it is free of every guardrail."
    ),
    remediation=(
        "Find out who made the call and whether it was planned; invite the account back "
        "(`aws organizations invite-account-to-organization --target Id=<account>,Type=ACCOUNT`) "
        "and deny organizations:LeaveOrganization with an SCP on every member account."
    ),
    mitre="T1666",
)
def account_left(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "RemoveAccountFromOrganization":
        account = event.get_str("requestParameters", "accountId")
        summary = f"Account {account or '(unknown)'} removed from the organization"
    else:
        # LeaveOrganization is called from the member account itself and takes no parameters.
        account = event.account_id
        summary = f"Account {account or '(unknown)'} left the organization"
    yield Hit(
        summary=summary,
        resource=Resource(type="AWS::Organizations::Account", id=account),
        details={"Account": account or "(unknown)"},
    )
