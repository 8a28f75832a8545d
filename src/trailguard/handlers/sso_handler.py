"""IAM Identity Center: account assignments, permission sets, the identity source, and the users and
group memberships of its directory. Identity Center logs under three event sources:
``sso.amazonaws.com`` (its admin API: permission sets, account assignments, and the console's
directory and configuration calls), ``identitystore.amazonaws.com`` (the public Identity Store API:
what the CLI, SDKs and Terraform call) and ``sso-directory.amazonaws.com`` (the console's calls on
the same directory, and the external identity provider settings). The same change therefore comes
under two names, one per source, and both are watched. Events land in the instance's home region.
Users and groups are named by ids: CloudTrail hides user names and, since July 2025, group display
names (``HIDDEN_DUE_TO_SECURITY_REASONS``), so no rule here can tell an administrators' group by
name.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import applied_by_stack, made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, shown
from trailguard.core.policy import admin_grant, admin_policy_name

SSO = "sso.amazonaws.com"
DIRECTORY = "sso-directory.amazonaws.com"
IDENTITY_STORE = "identitystore.amazonaws.com"


def _permission_set(event: CloudTrailEvent) -> Resource:
    """``arn:aws:sso:::permissionSet/ssoins-.../ps-...``: the ps- id is what people see."""
    arn = event.get_str("requestParameters", "permissionSetArn") or event.get_str(
        "responseElements", "permissionSet", "permissionSetArn"
    )
    name = event.get_str("requestParameters", "name") or event.get_str("responseElements", "permissionSet", "name")
    return Resource(type="AWS::SSO::PermissionSet", id=name or arn.rsplit("/", 1)[-1], arn=arn)


# --------------------------------------------------------------------------------------------
# Who gets into which account
# --------------------------------------------------------------------------------------------


@rule(
    id="sso.account-assignment",
    routine=True,
    severity=Severity.MEDIUM,
    on={SSO: ["CreateAccountAssignment"]},
    title="Identity Center access to an account granted",
    description=(
        "An Identity Center user or group was given a permission set in an AWS account: its members "
        "can now sign in to that account with the permission set's rights, a quiet way to keep or "
        "widen access across the organisation. Every assignment is reported, LOW when a pipeline "
        "makes it. The event names the "
        "permission set only by its ARN, never by name or content, so the catalogue's HIGH for an "
        "administrator permission set needs detection state (which remembers what each permission "
        "set holds) and comes with it."
    ),
    remediation=(
        "Confirm the assignment with the account owner. If unexpected, remove it (`aws sso-admin "
        "delete-account-assignment --instance-arn <i> --target-id <account> --target-type AWS_ACCOUNT "
        "--permission-set-arn <ps> --principal-type <type> --principal-id <id>`) and review the "
        "principal's sign-ins to the account."
    ),
    mitre="T1098.003",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Lowered to LOW: assignments made by a pipeline (Terraform, CloudFormation, Control "
        "Tower's Account Factory: any assumed role other than a person's), as IaC manages them "
        "by the dozen; a person assigning access by hand at the console or CLI stays MEDIUM. "
        "Cannot tell: which permission set it is (the event has its ARN only) nor a stolen "
        "pipeline role (routine by memory)."
    ),
)
def account_assignment(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    account = event.get_str("requestParameters", "targetId") or "(unknown account)"
    principal_type = event.get_str("requestParameters", "principalType") or "principal"
    principal = event.get_str("requestParameters", "principalId") or "(unknown)"
    permission_set = _permission_set(event)
    kind = principal_type.lower()
    yield Hit(
        summary=f"Identity Center {kind} {principal} given permission set {permission_set.id} in account {account}",
        severity=None if made_by_person(event) else Severity.LOW,
        resource=Resource(
            type="AWS::SSO::Assignment",
            # No ARN: the permission set's would make every assignment of it one finding.
            id=f"{account}/{permission_set.id}/{kind}/{principal}",
        ),
        details={
            "Account": account,
            "Permission set": permission_set.arn or permission_set.id,
            "Principal": f"{kind} {principal}",
        },
        remedy={
            "<i>": event.get_str("requestParameters", "instanceArn"),
            "<account>": event.get_str("requestParameters", "targetId"),
            "<ps>": permission_set.arn,
            "<type>": event.get_str("requestParameters", "principalType"),
            "<id>": event.get_str("requestParameters", "principalId"),
        },
    )


def _permission_set_remedy(event: CloudTrailEvent, permission_set: Resource) -> dict[str, str]:
    return {"<i>": event.get_str("requestParameters", "instanceArn"), "<ps>": permission_set.arn}


INLINE_POLICY_REMEDIATION = (
    "Delete the inline policy (`aws sso-admin delete-inline-policy-from-permission-set --instance-arn <i> "
    "--permission-set-arn <ps>`), re-provision the permission set (`aws sso-admin provision-permission-set "
    "--instance-arn <i> --permission-set-arn <ps> --target-type ALL_PROVISIONED_ACCOUNTS`), and review "
    "who it is assigned to (`list-accounts-for-provisioned-permission-set`)."
)


@rule(
    id="sso.permission-set-escalated",
    routine=True,
    severity=Severity.HIGH,
    on={SSO: ["AttachManagedPolicyToPermissionSet", "PutInlinePolicyToPermissionSet", "CreatePermissionSet"]},
    title="Identity Center permission set made administrator",
    description=(
        "AdministratorAccess or IAMFullAccess was attached to a permission set, or an inline policy "
        "allowing every action (or every IAM action) on every resource was put on it: everyone "
        "assigned the permission set, in every account, becomes an administrator once it is "
        "provisioned. Read-only and scoped policies are not reported, nor is an inline policy whose "
        "document CloudTrail hides. CreatePermissionSet carries no policy at all (policies come with "
        "the calls above), so a new permission set alone is never reported, whatever its name. "
        "MEDIUM when CloudFormation applies it (`invokedBy`)."
    ),
    remediation=(
        "Detach the policy (`aws sso-admin detach-managed-policy-from-permission-set --instance-arn <i> "
        "--permission-set-arn <ps> --managed-policy-arn <arn>`) or delete the inline policy "
        "(`delete-inline-policy-from-permission-set`), re-provision the permission set, and review "
        "who it is assigned to (`list-accounts-for-provisioned-permission-set`)."
    ),
    mitre="T1098.003",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Not reported: AWS managed or customer policies other than AdministratorAccess and "
        "IAMFullAccess, scoped inline policies, and new permission sets. Lowered to MEDIUM: "
        "CloudFormation (`invokedBy`) building the organisation's administrator permission set, as "
        "stacks and Control Tower do. Cannot tell: a CI role running Terraform from a stolen one "
        "(HIGH, as a person's)."
    ),
)
def permission_set_escalated(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    permission_set = _permission_set(event)
    label = permission_set.id or "(unknown)"
    # Every organisation has an administrator permission set, and stacks define it; a CI role's
    # calls look exactly like a thief's with that role, so only CloudFormation's lower it.
    severity = Severity.MEDIUM if applied_by_stack(event) else None
    if event.event_name == "AttachManagedPolicyToPermissionSet":
        policy_arn = event.get_str("requestParameters", "managedPolicyArn")
        name = admin_policy_name(policy_arn)
        if name:
            yield Hit(
                summary=f"{name} attached to permission set {label}",
                resource=permission_set,
                severity=severity,
                details={"Permission set": permission_set.arn or label, "Policy": policy_arn},
                remedy={**_permission_set_remedy(event, permission_set), "<arn>": policy_arn},
            )
        return
    if event.event_name != "PutInlinePolicyToPermissionSet":
        return
    grant = admin_grant(event.get("requestParameters", "inlinePolicy"))
    if grant:
        yield Hit(
            summary=f"Inline policy granting {grant} put on permission set {label}",
            resource=permission_set,
            severity=severity,
            details={"Permission set": permission_set.arn or label, "Grants": grant},
            remediation=INLINE_POLICY_REMEDIATION,
            remedy=_permission_set_remedy(event, permission_set),
        )


# --------------------------------------------------------------------------------------------
# Who Identity Center trusts to say who someone is
# --------------------------------------------------------------------------------------------

_IDENTITY_SOURCE_EVENTS: dict[str, dict[str, str]] = {
    # The catalogue's UpdateSsoConfiguration is the IAM action sso:UpdateSSOConfiguration; CloudTrail
    # names events after the API operation, so the action's spelling is the one watched.
    SSO: {
        "UpdateSSOConfiguration": "configuration updated",
        "AssociateDirectory": "directory connected as the identity source",
        "DisassociateDirectory": "directory disconnected",
    },
    DIRECTORY: {
        "CreateExternalIdPConfigurationForDirectory": "external identity provider configured",
        "UpdateExternalIdPConfigurationForDirectory": "external identity provider settings changed",
        "EnableExternalIdPConfigurationForDirectory": "external identity provider enabled",
        "DisableExternalIdPConfigurationForDirectory": "external identity provider disabled",
        "DeleteExternalIdPConfigurationForDirectory": "external identity provider deleted",
    },
}


@rule(
    id="sso.identity-source-changed",
    severity=Severity.HIGH,
    on={source: list(names) for source, names in _IDENTITY_SOURCE_EVENTS.items()},
    title="Identity Center identity source changed",
    description=(
        "Identity Center's identity source changed: an external SAML identity provider was set up, "
        "changed (metadata, certificate), enabled, disabled or removed, or a directory connected or "
        "disconnected. Whoever controls the identity source can sign in as any Identity Center user, "
        "in every account they are assigned to. Every change is reported: it is rare and done by "
        "the identity team, never by automation. The Identity Store API (identitystore) has no "
        "identity-provider calls; the console's are logged under sso-directory."
    ),
    remediation=(
        "Confirm the change with the identity team. Check the identity source and the identity "
        "provider's metadata and certificate in the Identity Center console (Settings, Identity "
        "source), revert the change, and review sign-ins since it."
    ),
    mitre="T1484.002",
    quiet=(
        "Cannot tell: the identity team renewing the identity provider's certificate or metadata "
        "(a yearly task) from a swapped provider: every change is HIGH."
    ),
)
def identity_source_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    change = _IDENTITY_SOURCE_EVENTS.get(event.event_source, {}).get(event.event_name, "identity source changed")
    store = (
        event.get_str("requestParameters", "identityStoreId")
        or event.get_str("requestParameters", "directoryId")
        or event.get_str("requestParameters", "instanceArn")
    )
    yield Hit(
        summary=f"Identity Center: {change}" + (f" ({store})" if store else ""),
        resource=Resource(type="AWS::SSO::Instance", id=store or event.account_id),
        details={"Change": change, **({"Directory": store} if store else {})},
    )


# --------------------------------------------------------------------------------------------
# Who is in the directory and in which group
# --------------------------------------------------------------------------------------------


@rule(
    id="sso.user-created",
    severity=Severity.LOW,
    on={DIRECTORY: ["CreateUser"], IDENTITY_STORE: ["CreateUser"]},
    title="Identity Center user created",
    description=(
        "A user was created in the Identity Center directory, from the console (sso-directory) or "
        "the Identity Store API (identitystore): a new identity that can be assigned to any account. "
        "Users an external identity provider provisions arrive through SCIM, logged as other events; "
        "with an external identity source, a user created here by hand is the unusual one. CloudTrail "
        "hides the user's name, so the finding names the user id."
    ),
    remediation=(
        "Look the user up (`aws identitystore describe-user --identity-store-id <d> --user-id <id>`) "
        "and confirm it with the identity team. If unexpected, delete it (`aws identitystore "
        "delete-user --identity-store-id <d> --user-id <id>`) and remove its assignments."
    ),
    mitre="T1136.003",
    quiet=(
        "Users provisioned by an external identity provider (SCIM) are other events, not watched. "
        "Cannot tell: onboarding from a backdoor user (LOW either way; routine by memory for the "
        "pipeline that creates users)."
    ),
)
def user_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    user_id = event.get_str("responseElements", "userId") or event.get_str("responseElements", "user", "userId")
    name = shown(event.get_str("requestParameters", "userName"))
    store = event.get_str("requestParameters", "identityStoreId")
    label = name or user_id or "(unknown)"
    details = {"User id": user_id or "(not in the event)"}
    if store:
        details["Identity store"] = store
    yield Hit(
        summary=f"Identity Center user {label} created",
        resource=Resource(type="AWS::IdentityStore::User", id=user_id or name),
        details=details,
        remedy={"<d>": store, "<id>": user_id},
    )


@rule(
    id="sso.group-membership-changed",
    severity=Severity.LOW,
    on={DIRECTORY: ["AddMemberToGroup"], IDENTITY_STORE: ["CreateGroupMembership"]},
    title="User added to an Identity Center group",
    description=(
        "A user was added to an Identity Center group: the user gets every account and permission "
        "set assigned to the group. Every addition is reported at LOW. The events name the group "
        "only by id (CloudTrail hides group names), so the catalogue's MEDIUM for a group assigned "
        "an administrator permission set needs detection state, which remembers the group's "
        "assignments, and comes with it."
    ),
    remediation=(
        "Check the group's assignments (`aws sso-admin list-account-assignments-for-principal "
        "--principal-type GROUP --principal-id <group>`); if the membership is unexpected, remove it "
        "(`aws identitystore delete-group-membership --identity-store-id <d> --membership-id "
        "<membership>`) and review the user's sign-ins."
    ),
    mitre="T1098",
    quiet=(
        "Cannot tell: which group it is (the event names its id; CloudTrail hides the name) nor "
        "onboarding from an escalation (LOW either way; routine by memory)."
    ),
)
def group_membership_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    group = event.get_str("requestParameters", "groupId") or "(unknown group)"
    member = (
        event.get_str("requestParameters", "memberId", "userId")
        or event.get_str("requestParameters", "member", "memberId")
        or "(unknown)"
    )
    details = {"Group": group, "Member": member}
    store = event.get_str("requestParameters", "identityStoreId")
    if store:
        details["Identity store"] = store
    yield Hit(
        summary=f"Identity Center user {member} added to group {group}",
        resource=Resource(type="AWS::IdentityStore::GroupMembership", id=f"{group}/{member}"),
        details=details,
        remedy={
            "<group>": event.get_str("requestParameters", "groupId"),
            "<d>": store,
            "<membership>": event.get_str("responseElements", "membershipId"),
        },
    )
