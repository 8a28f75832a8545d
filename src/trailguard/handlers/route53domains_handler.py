"""Route 53 domain registration: a registered domain moved to another account, unlocked for transfer,
or its contacts changed. The domains API has one endpoint, in us-east-1, so its events are logged
there whatever region the rest of the account uses (a trailguard stack elsewhere needs the us-
east-1 forwarder).

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "route53domains.amazonaws.com"

_CHANGES = {
    "TransferDomainToAnotherAwsAccount": "transfer to another AWS account started",
    "DisableDomainTransferLock": "transfer lock disabled",
    "UpdateDomainContact": "contacts changed",
}

# UpdateDomainContact's contacts (CloudTrail logs each one sent as HIDDEN_DUE_TO_SECURITY_REASONS).
# The registrant and, under ICANN's transfer policy, the administrative contact can approve a
# transfer; the technical and billing contacts cannot.
APPROVING_CONTACTS = ("registrantContact", "adminContact")
_CONTACTS = {
    "registrantContact": "registrant",
    "adminContact": "administrative",
    "techContact": "technical",
    "billingContact": "billing",
}


def _domain_name(event: CloudTrailEvent) -> str:
    # The API's DomainName is a string; AWS's own sample events show it as {"name": ...}.
    return event.get_str("requestParameters", "domainName") or event.get_str("requestParameters", "domainName", "name")


@rule(
    id="route53.domain-transfer",
    resource_placeholder="<d>",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM,),
    on={SOURCE: list(_CHANGES)},
    title="Route 53 domain transfer or contact change",
    description=(
        "A domain registered with Route 53 was offered to another AWS account, unlocked for transfer "
        "to another registrar, or had its contacts changed (the registrant contact approves "
        "transfers and receives the authorisation code). Whoever gets the domain controls its DNS: "
        "mail, certificates, every service under it. Every such call is reported: each is rare and "
        "deliberate, and none is undone without the registrar once the domain has left. MEDIUM "
        "for a transfer to a trusted account (`trusted_accounts`), and for a contact change that "
        "leaves the contacts who can approve a transfer (registrant, administrative) as they were."
    ),
    remediation=(
        "Cancel a pending transfer to another account (`aws route53domains "
        "cancel-domain-transfer-to-another-aws-account --domain-name <d> --region us-east-1`), lock the "
        "domain again (`enable-domain-transfer-lock`), restore the contacts, and deny these calls by "
        "SCP outside a break-glass role."
    ),
    mitre="T1584.001",
    quiet=(
        "Lower (MEDIUM) on a transfer to one of `trusted_accounts` (moving a domain between the "
        "organization's accounts) and on contact updates that leave the registrant and "
        "administrative contacts alone (the request names only technical or billing contacts). Cannot tell: a "
        "registrant's routine address or phone change from a takeover (CloudTrail hides the "
        "contacts' values), or a transfer lock lifted for a planned registrar move."
    ),
)
def domain_transfer(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    domain = _domain_name(event) or "(unknown domain)"
    change = _CHANGES.get(event.event_name, "changed")
    details = {"Domain": domain, "Change": change}
    operation = event.get_str("responseElements", "operationId")
    if operation:
        details["Operation"] = operation
    summary = f"Domain {domain}: {change}"
    severity: Severity | None = None
    if event.event_name == "TransferDomainToAnotherAwsAccount":
        account = event.get_str("requestParameters", "accountId") or "(unknown)"
        trusted = ctx.is_trusted_account(account, event)
        details["To account"] = account + ("" if trusted else " (not a trusted account)")
        summary = f"Domain {domain} offered to AWS account {account}"
        severity = Severity.MEDIUM if trusted else None
    elif event.event_name == "UpdateDomainContact":
        changed = [label for key, label in _CONTACTS.items() if key in event.request]
        if changed:
            details["Contacts"] = ", ".join(changed)
        if changed and not any(key in event.request for key in APPROVING_CONTACTS):
            severity = Severity.MEDIUM  # those who can approve a transfer stay as they were
    yield Hit(
        summary=summary,
        resource=Resource(type="AWS::Route53Domains::Domain", id=domain),
        severity=severity,
        details=details,
    )
