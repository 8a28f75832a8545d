"""AWS Organizations: accounts leaving or joining the organization, and service control policies
weakened. Organizations logs in us-east-1, in the management account (or the delegated
administrator's).

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, shown

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
    quiet=(
        "Cannot tell: a planned migration to another organisation or the removal of a closed "
        "account from an escape: CRITICAL every time."
    ),
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
        remedy={"<account>": account},
    )


# Control Tower's Account Factory creates accounts as the service role Control Tower made for itself
# in the management account (not a service-linked role, so the engine does not drop it), and always
# names AWSControlTowerExecution as the new account's access role. A role's ARN is logged by AWS
# and cannot be chosen by the caller; the role name alone could be.
CONTROL_TOWER_ROLE_ARN_SUFFIX = ":role/service-role/AWSControlTowerAdmin"
CONTROL_TOWER_EXECUTION_ROLE = "AWSControlTowerExecution"


def _by_control_tower(event: CloudTrailEvent) -> bool:
    """A session of the service role Control Tower assumes (only controltower.amazonaws.com can)."""
    issuer = event.get_str("userIdentity", "sessionContext", "sessionIssuer", "arn")
    return event.identity_type == "AssumedRole" and issuer.endswith(CONTROL_TOWER_ROLE_ARN_SUFFIX)


def _is_account_factory(event: CloudTrailEvent) -> bool:
    return _by_control_tower(event) and (event.get_str("requestParameters", "roleName") == CONTROL_TOWER_EXECUTION_ROLE)


@rule(
    id="organizations.account-created",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateAccount", "InviteAccountToOrganization"]},
    title="Account created in or invited to the organization",
    description=(
        "A new member account was created, or an existing account invited, into the organization. "
        "An attacker with Organizations rights creates an account to run resources (mining, phishing) "
        "where nobody looks, or to keep a foothold: the management account can assume the new "
        "account's access role. Accounts created by Control Tower's Account Factory (its "
        "AWSControlTowerAdmin service role, naming AWSControlTowerExecution as the access role) are "
        "not reported: the person who asked for the account did so in Service Catalog."
    ),
    remediation=(
        "Confirm the account with the cloud platform team. If unexpected, close it (`aws organizations "
        "close-account --account-id <account>`) or cancel the invitation (`aws organizations "
        "cancel-handshake --handshake-id <handshake>`), and review what was done with the access role."
    ),
    mitre="T1136.003",
    quiet=(
        "Not reported: Control Tower's Account Factory (also behind Account Factory for Terraform) "
        "creating an account: the AWSControlTowerAdmin service role's session (issuer ARN under "
        "/service-role/, assumable by Control Tower only) naming AWSControlTowerExecution. Cannot "
        "tell: the platform team's own account vending pipeline or an invitation it sends (MEDIUM; "
        "routine by memory)."
    ),
)
def account_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "InviteAccountToOrganization":
        target = event.get_str("requestParameters", "target", "id") or "(unknown)"
        handshake = event.get_str("responseElements", "handshake", "id")
        details = {"Invited": target}
        if handshake:
            details["Handshake"] = handshake
        yield Hit(
            summary=f"Account {target} invited to the organization",
            resource=Resource(type="AWS::Organizations::Account", id=target),
            details=details,
            remediation=INVITATION_REMEDIATION,
            remedy={"<handshake>": handshake},
        )
        return
    if _is_account_factory(event):
        return
    name = shown(event.get_str("requestParameters", "accountName")) or shown(
        event.get_str("responseElements", "createAccountStatus", "accountName")
    )
    request = event.get_str("responseElements", "createAccountStatus", "id")
    role = event.get_str("requestParameters", "roleName") or "OrganizationAccountAccessRole (default)"
    details = {"Account name": name or "(hidden)", "Access role": role}
    if request:
        details["Request"] = request
    yield Hit(
        summary=f"Account {name or request or '(unnamed)'} created in the organization",
        resource=Resource(type="AWS::Organizations::Account", id=name or request),
        details=details,
        remediation=NEW_ACCOUNT_REMEDIATION,
        remedy={"<request>": request},
    )


# Each call's own part of the rules' remediations, so that the alert names only the command that undoes it.
INVITATION_REMEDIATION = (
    "Confirm the invitation with the cloud platform team. If unexpected, cancel it (`aws organizations "
    "cancel-handshake --handshake-id <handshake>`) before it is accepted."
)
NEW_ACCOUNT_REMEDIATION = (
    "Confirm the account with the cloud platform team. If unexpected, find its id (`aws organizations "
    "describe-create-account-status --create-account-request-id <request>`), close it (`aws "
    "organizations close-account --account-id <account>`), and review what was done with the access role."
)
_SCP_CHECK = "and check what the accounts below did meanwhile."
SCP_TYPE_REMEDIATION = (
    "Re-enable service control policies (`aws organizations enable-policy-type --root-id <r> "
    "--policy-type SERVICE_CONTROL_POLICY`), re-attach the SCPs that were detached with them, " + _SCP_CHECK
)
SCP_DETACHED_REMEDIATION = (
    "Re-attach the policy (`aws organizations attach-policy --policy-id <p> --target-id <t>`) " + _SCP_CHECK
)
SCP_DELETED_REMEDIATION = (
    "Re-create the policy from its source (`aws organizations create-policy --type SERVICE_CONTROL_POLICY "
    "--content file://policy.json ...`: its content is not in the record), attach it where it was, " + _SCP_CHECK
)
SCP_UPDATED_REMEDIATION = (
    "Restore the previous content (`aws organizations update-policy --policy-id <p> --content "
    "file://previous.json`: the record holds the new content only) " + _SCP_CHECK
)

SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"
# The AWS managed SCP that allows everything: detaching it can only take permissions away.
FULL_ACCESS_POLICY_ID = "p-FullAWSAccess"


@rule(
    id="organizations.scp-weakened",
    routine=True,
    severity=Severity.HIGH,
    on={SOURCE: ["DetachPolicy", "DeletePolicy", "DisablePolicyType", "UpdatePolicy"]},
    title="Service control policy detached, deleted or changed",
    description=(
        "A service control policy was detached or deleted, service control policies were disabled "
        "for the organization, or an SCP's content changed: the guardrails that bound every account "
        "below (deny leaving the organization, deny stopping CloudTrail, region limits) may be gone. "
        "Attaching a policy is not reported, nor is detaching FullAWSAccess (which only takes "
        "permissions away) or changing or disabling another policy type (tag, backup policies). "
        "DetachPolicy and DeletePolicy do not say the policy's type, so a tag or backup policy "
        "detached or deleted is reported too. UpdatePolicy without new content (a new name or "
        "description) is not reported; Control Tower maintaining its own SCPs is LOW."
    ),
    remediation=(
        "Re-attach the policy (`aws organizations attach-policy --policy-id <p> --target-id <t>`), "
        "re-enable the policy type (`aws organizations enable-policy-type --root-id <r> --policy-type "
        "SERVICE_CONTROL_POLICY`) or restore the previous content (`aws organizations update-policy`), "
        "and check what the accounts below did meanwhile."
    ),
    mitre="T1484",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Not reported: attaching a policy, detaching FullAWSAccess, other policy types changed "
        "or disabled, and UpdatePolicy renaming or re-describing a policy without new content. "
        "Lowered to LOW: Control Tower's own AWSControlTowerAdmin service role (its session "
        "issuer's ARN, /service-role/) maintaining its guardrail SCPs as controls are enabled, "
        "disabled or the landing zone updated. Cannot tell: whether new content is tighter or "
        "looser (IaC adding a deny is HIGH; routine by memory for the pipeline)."
    ),
)
def scp_weakened(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    policy_id = event.get_str("requestParameters", "policyId")
    policy = Resource(
        type="AWS::Organizations::Policy",
        id=policy_id,
        arn=event.get_str("responseElements", "policy", "policySummary", "arn"),
    )
    label = policy_id or "(unknown)"
    name = event.event_name
    # Control Tower rewrites its own guardrail SCPs whenever a control changes.
    severity = Severity.LOW if _by_control_tower(event) else None
    if name == "DisablePolicyType":
        policy_type = event.get_str("requestParameters", "policyType")
        if policy_type != SERVICE_CONTROL_POLICY:
            return
        root = event.get_str("requestParameters", "rootId") or "(unknown root)"
        yield Hit(
            summary=f"Service control policies disabled for the organization root {root}",
            resource=Resource(type="AWS::Organizations::Root", id=root),
            severity=severity,
            details={"Change": "SCPs disabled", "Root": root},
            remediation=SCP_TYPE_REMEDIATION,
            remedy={"<r>": event.get_str("requestParameters", "rootId")},
        )
        return
    if name == "DetachPolicy":
        if policy_id == FULL_ACCESS_POLICY_ID:
            return
        target = event.get_str("requestParameters", "targetId") or "(unknown target)"
        yield Hit(
            summary=f"Policy {label} detached from {target}",
            resource=policy,
            severity=severity,
            details={"Change": "detached", "Policy": label, "Target": target},
            remediation=SCP_DETACHED_REMEDIATION,
            remedy={"<p>": policy_id, "<t>": event.get_str("requestParameters", "targetId")},
        )
        return
    if name == "DeletePolicy":
        yield Hit(
            summary=f"Policy {label} deleted",
            resource=policy,
            severity=severity,
            details={"Change": "deleted", "Policy": label},
            remediation=SCP_DELETED_REMEDIATION,
        )
        return
    policy_type = event.get_str("responseElements", "policy", "policySummary", "type")
    if policy_type and policy_type != SERVICE_CONTROL_POLICY:
        return
    policy_name = event.get_str("responseElements", "policy", "policySummary", "name") or event.get_str(
        "requestParameters", "name"
    )
    if "content" not in event.request:
        return  # a new name or description changes no permission
    changed = [field for field in ("content", "name", "description") if field in event.request]
    yield Hit(
        summary=f"Service control policy {policy_name or label} changed",
        resource=policy,
        severity=severity,
        details={"Change": "updated: " + (", ".join(changed) or "(nothing named)"), "Policy": label},
        remediation=SCP_UPDATED_REMEDIATION,
        remedy={"<p>": policy_id},
    )
