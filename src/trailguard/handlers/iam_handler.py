"""IAM: new users and credentials, admin grants, open role trust, MFA and identity providers,
and anything the root user does.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import applied_by_stack
from trailguard.core.aws_ids import EKS_OIDC_ISSUER
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import admin_grant, admin_policy_name, analyze_policy

SOURCE = "iam.amazonaws.com"

_PRINCIPAL_PARAMS = (
    ("userName", "AWS::IAM::User", "user", "IAM user"),
    ("groupName", "AWS::IAM::Group", "group", "IAM group"),
    ("roleName", "AWS::IAM::Role", "role", "IAM role"),
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _iam_arn(event: CloudTrailEvent, kind: str, name: str) -> str:
    account = event.account_id
    if not name or not account:
        return ""
    return f"arn:{event.partition}:iam::{account}:{kind}/{name}"


def _caller_user_name(event: CloudTrailEvent) -> str:
    """The IAM user making the call; empty for roles, federated sessions and root."""
    if event.identity_type != "IAMUser":
        return ""
    return event.get_str("userIdentity", "userName")


def _is_callers_own_user(event: CloudTrailEvent, user_name: str) -> bool:
    """IAM user names are unique regardless of case, so compare them without it."""
    caller = _caller_user_name(event)
    return bool(caller) and caller.lower() == user_name.lower()


def _mfa_authenticated(event: CloudTrailEvent) -> bool:
    """Did the caller's session pass MFA? CloudTrail logs it as the string "true" (console and
    GetSessionToken sessions); a long-lived access key's call has no session at all."""
    value = event.get("userIdentity", "sessionContext", "attributes", "mfaAuthenticated")
    return value is True or value == "true"


def _is_callers_own_principal(event: CloudTrailEvent, target: Resource) -> bool:
    """Is the user or role a call acts on the caller itself (a role's session acting on its role)?"""
    if target.type == "AWS::IAM::User":
        return _is_callers_own_user(event, target.id)
    if target.type == "AWS::IAM::Role" and event.identity_type == "AssumedRole":
        issuer = event.get_str("userIdentity", "sessionContext", "sessionIssuer", "userName")
        return bool(issuer) and issuer.lower() == target.id.lower()
    return False


def _user(event: CloudTrailEvent, name: str, arn: str = "") -> Resource:
    return Resource(type="AWS::IAM::User", id=name, arn=arn or _iam_arn(event, "user", name))


def _target_principal(event: CloudTrailEvent) -> tuple[Resource, str]:
    """The user, group or role a policy call acts on, and a label for it ("IAM role ops")."""
    for param, resource_type, kind, label in _PRINCIPAL_PARAMS:
        name = event.get_str("requestParameters", param)
        if name:
            return Resource(type=resource_type, id=name, arn=_iam_arn(event, kind, name)), f"{label} {name}"
    return Resource(type="AWS::IAM::Policy"), "an unnamed principal"


# The version created is known; the one it replaced is not in the record.
NEW_POLICY_VERSION_REMEDIATION = (
    "Make the previous version the default again (`aws iam list-policy-versions --policy-arn <arn>`, "
    "then `aws iam set-default-policy-version --policy-arn <arn> --version-id <v>`), delete the "
    "unwanted version (`aws iam delete-policy-version --policy-arn <arn> --version-id <new>`), and "
    "review what the policy's principals did since."
)
# Remediation templates: docs/rules.md shows the rules' own; a finding fills its placeholders with
# the event's values (Hit.remedy), and the variants fit the principal kind or the root user.
ACCESS_KEY_REMEDIATION = (
    "Check with the key's owner that they created it. If not, deactivate and delete it "
    "(`aws iam update-access-key --user-name <user> --access-key-id <key> --status Inactive` then "
    "`aws iam delete-access-key --user-name <user> --access-key-id <key>`), and review what it was "
    "used for. Root access keys should not exist at all."
)
# Without --user-name, IAM acts on the caller's own keys: the root user's when signed in as root.
ROOT_ACCESS_KEY_REMEDIATION = (
    "Root access keys should not exist at all: signed in as root, delete it "
    "(`aws iam delete-access-key --access-key-id <key>`), and review what it was used for."
)
_DETACH = "detach-<kind>-policy --<kind>-name <principal> --policy-arn <policy-arn>"
_DELETE = "delete-<kind>-policy --<kind>-name <principal> --policy-name <policy-name>"
_AFTER = "and review what the principal did since. Grant least privilege instead."
ADMIN_POLICY_REMEDIATION = (
    f"If not expected, detach or delete the policy (`aws iam {_DETACH}` for a managed policy, "
    f"`aws iam {_DELETE}` for an inline one; <kind> is user, group or role) {_AFTER}"
)
ADMIN_POLICY_DETACH_REMEDIATION = f"If not expected, detach the policy (`aws iam {_DETACH}`) {_AFTER}"
ADMIN_POLICY_DELETE_REMEDIATION = f"If not expected, delete the inline policy (`aws iam {_DELETE}`) {_AFTER}"


def _policy_remedy(event: CloudTrailEvent) -> dict[str, str]:
    """The principal kind and name of an Attach/Put{User,Group,Role}Policy call, from its name."""
    kind = event.event_name.removeprefix("Attach").removeprefix("Put").removesuffix("Policy").lower()
    if kind not in ("user", "group", "role"):
        return {}
    return {"<kind>": kind, "<principal>": event.get_str("requestParameters", f"{kind}Name")}


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="iam.user-created",
    resource_placeholder="<name>",
    severity=Severity.LOW,
    on={SOURCE: ["CreateUser"]},
    title="IAM user created",
    description=(
        "A new IAM user was created. Long-lived users are a classic persistence mechanism: an "
        "attacker with IAM rights creates one to keep access after the original credentials are revoked."
    ),
    remediation=(
        "Confirm the user is expected (ticket, infrastructure code). If not, remove its keys, password "
        "and policies and delete it: `aws iam delete-user --user-name <name>` after detaching everything."
    ),
    mitre="T1136.003",
    quiet=(
        "Failed calls are not reported. Cannot tell: an onboarding ticket or IaC creating a service "
        "user from an attacker's backdoor user (LOW either way; routine by memory for a pipeline "
        "role that creates users)."
    ),
)
def user_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    name = event.get_str("requestParameters", "userName") or event.get_str("responseElements", "user", "userName")
    user = _user(event, name, event.get_str("responseElements", "user", "arn"))
    details = {"User": name or "(unnamed)"}
    path = event.get_str("requestParameters", "path")
    if path and path != "/":
        details["Path"] = path
    yield Hit(summary=f"IAM user {name or '(unnamed)'} created", resource=user, details=details)


@rule(
    id="iam.access-key-created",
    routine=True,
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateAccessKey"]},
    title="IAM access key created",
    description=(
        "A new access key was created. Keys are long-lived credentials usable from anywhere; one "
        "created for another user (HIGH), or for the root user (CRITICAL), is a common way to keep "
        "or widen access. An IAM user creating its own key is MEDIUM, LOW from an MFA session."
    ),
    remediation=ACCESS_KEY_REMEDIATION,
    mitre="T1098.001",
    escalates_to=(Severity.LOW, Severity.HIGH, Severity.CRITICAL),
    quiet=(
        "Lowered to LOW: an IAM user creating its own key (no userName, or its own name in any "
        "case) from a session that passed MFA (console, GetSessionToken with MFA). Cannot tell: a "
        "rotation script using the old key from a leaked key minting a second one (MEDIUM), nor "
        "a pipeline issuing keys to its service user (HIGH, as for any other user's key; routine "
        "by memory, or `suppressions` for the pipeline's role)."
    ),
)
def access_key_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    requested_user = event.get_str("requestParameters", "userName")
    key_id = event.get_str("responseElements", "accessKey", "accessKeyId")
    details = {"Access key": key_id} if key_id else {}
    if event.identity_type == "Root" and not requested_user:
        yield Hit(
            summary="Access key created for the root user",
            resource=event.account_resource(),
            severity=Severity.CRITICAL,
            details={**details, "User": "root"},
            remediation=ROOT_ACCESS_KEY_REMEDIATION,
            remedy={"<key>": key_id},
        )
        return
    if requested_user and not _is_callers_own_user(event, requested_user):
        yield Hit(
            summary=f"Access key created for IAM user {requested_user} by {event.actor.label}",
            resource=_user(event, requested_user),
            severity=Severity.HIGH,
            details={**details, "User": requested_user},
            remedy={"<user>": requested_user, "<key>": key_id},
        )
        return
    owner = (
        _caller_user_name(event)
        or requested_user
        or event.get_str("responseElements", "accessKey", "userName")
        or event.actor.label
    )
    # A user that just proved its MFA device is rotating its own key; a key minting a key (a
    # leaked one keeping access) looks like a rotation script, and stays MEDIUM.
    routine = bool(_caller_user_name(event)) and _mfa_authenticated(event)
    # The key's user by name, not the caller's label (an ARN or a session is not a --user-name).
    key_owner = _caller_user_name(event) or requested_user or event.get_str("responseElements", "accessKey", "userName")
    yield Hit(
        summary=f"{event.actor.label} created an access key for itself" + (" in an MFA session" if routine else ""),
        resource=_user(event, owner),
        severity=Severity.LOW if routine else None,
        details={**details, "User": owner},
        remedy={"<user>": key_owner, "<key>": key_id},
    )


@rule(
    id="iam.admin-policy-attached",
    routine=True,
    severity=Severity.HIGH,
    on={
        SOURCE: [
            "AttachUserPolicy",
            "AttachGroupPolicy",
            "AttachRolePolicy",
            "PutUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
        ]
    },
    title="Administrator policy granted",
    description=(
        "AdministratorAccess or IAMFullAccess was attached to a user, group or role, or an inline "
        "policy allowing every action on every resource was added. Whoever holds that principal "
        "now controls the account. MEDIUM when CloudFormation applies it to another principal "
        "(a stack's or StackSet's role, `invokedBy`), HIGH otherwise."
    ),
    remediation=ADMIN_POLICY_REMEDIATION,
    mitre="T1098.003",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Never fires on AWS managed or customer policies other than AdministratorAccess and "
        "IAMFullAccess, nor on inline policies scoped to some actions or resources. Lowered to "
        "MEDIUM: CloudFormation granting admin to another principal (`invokedBy`), as stacks do "
        "for break-glass roles, CDK's deploy role and Control Tower's StackSets in new accounts. "
        "A principal granting admin to itself, a person, or any other role (a CI role running "
        "Terraform looks exactly like a stolen one) stays HIGH; its repeats to the same principal "
        "are routine by memory."
    ),
)
def admin_policy_attached(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    target, label = _target_principal(event)
    # A stack grants admin to the roles its template names (break-glass, deploy roles); anyone
    # else doing it, or a principal widening itself, is the escalation. A CI role's calls look
    # exactly like a thief's with that role, so only CloudFormation's own application lowers it.
    by_pipeline = applied_by_stack(event) and not _is_callers_own_principal(event, target)
    severity = Severity.MEDIUM if by_pipeline else None
    if event.event_name.startswith("Attach"):
        policy_arn = event.get_str("requestParameters", "policyArn")
        name = admin_policy_name(policy_arn)
        if not name:
            return
        yield Hit(
            summary=f"{name} attached to {label}",
            resource=target,
            severity=severity,
            details={"Policy": policy_arn},
            remediation=ADMIN_POLICY_DETACH_REMEDIATION,
            remedy={**_policy_remedy(event), "<policy-arn>": policy_arn},
        )
        return
    grant = admin_grant(event.get("requestParameters", "policyDocument"))
    if not grant:
        return
    policy_name = event.get_str("requestParameters", "policyName") or "(unnamed)"
    yield Hit(
        summary=f"Inline policy {policy_name} granting {grant} put on {label}",
        resource=target,
        severity=severity,
        details={"Inline policy": policy_name, "Grants": grant},
        remediation=ADMIN_POLICY_DELETE_REMEDIATION,
        remedy={**_policy_remedy(event), "<policy-name>": event.get_str("requestParameters", "policyName")},
    )


@rule(
    id="iam.login-profile-created",
    resource_placeholder="<name>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateLoginProfile", "UpdateLoginProfile"]},
    title="Console password set for an IAM user",
    description=(
        "A console password was created or reset for an IAM user. Setting another user's password "
        "is how an attacker with IAM rights takes over that user in the console: HIGH when the "
        "password need not be changed at the next sign-in (the setter keeps a working password), "
        "MEDIUM for the helpdesk's reset that forces a change (passwordResetRequired true), and for "
        "a user setting its own."
    ),
    remediation=(
        "Confirm with the user. If unexpected, remove the password (`aws iam delete-login-profile "
        "--user-name <name>`), require MFA, and review the user's recent console activity."
    ),
    mitre="T1098",
    escalates_to=(Severity.HIGH,),
    quiet=(
        "Lowered to MEDIUM: another user's password set with passwordResetRequired true (the "
        "helpdesk's reset: the setter does not keep a working password), and a user setting its "
        "own. Changing one's own password (ChangePassword) is not watched. Cannot tell: the "
        "helpdesk's reset without a forced change from an attacker's (HIGH)."
    ),
)
def login_profile_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    requested_user = event.get_str("requestParameters", "userName")
    verb = "created" if event.event_name == "CreateLoginProfile" else "changed"
    details: dict[str, str] = {}
    reset = event.get_bool("requestParameters", "passwordResetRequired")
    if reset is not None:
        details["Password reset required"] = "yes" if reset else "no"
    if requested_user and not _is_callers_own_user(event, requested_user):
        yield Hit(
            summary=f"Console password {verb} for IAM user {requested_user} by {event.actor.label}",
            resource=_user(event, requested_user),
            severity=Severity.MEDIUM if reset else Severity.HIGH,
            details={"User": requested_user, **details},
        )
        return
    owner = requested_user or _caller_user_name(event) or event.actor.label
    resource = event.account_resource() if event.identity_type == "Root" and not requested_user else _user(event, owner)
    yield Hit(
        summary=f"Console password {verb} by {event.actor.label} for itself",
        resource=resource,
        details={"User": owner, **details},
    )


@rule(
    id="iam.role-trust-public",
    resource_placeholder="<role>",
    severity=Severity.CRITICAL,
    on={SOURCE: ["CreateRole", "UpdateAssumeRolePolicy"]},
    title="Role trust policy open to anyone or outsiders",
    description=(
        'A role\'s trust policy lets any AWS principal ("*" without an organisation, account or '
        "network condition) or an account outside the trusted accounts assume it: a backdoor into "
        "the account with the role's permissions."
    ),
    remediation=(
        "Restore a trust policy naming only the intended principals (`aws iam update-assume-role-policy "
        "--role-name <role> --policy-document file://trust.json`), add aws:PrincipalOrgID where '*' "
        "is needed, and check CloudTrail for AssumeRole calls on the role from unknown accounts."
    ),
    mitre="T1098.003",
    escalates_to=(Severity.HIGH,),
    quiet=(
        "Not reported: trust in the account itself, in `trusted_accounts`, in AWS services "
        "(Principal Service), '*' narrowed by aws:PrincipalOrgID or an account, ARN or network "
        "condition; service-linked roles (CreateServiceLinkedRole, /aws-service-role/) are not "
        "CreateRole. Cannot tell: a vendor's or your other organisation accounts (HIGH until listed "
        "in `trusted_accounts`), such as the management account trusted by Control Tower's roles."
    ),
)
def role_trust_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "CreateRole":
        document = event.get("requestParameters", "assumeRolePolicyDocument")
        if document is None:
            document = event.get("responseElements", "role", "assumeRolePolicyDocument")
    else:
        document = event.get("requestParameters", "policyDocument")
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    if not exposure.public and not exposure.external:
        return
    name = event.get_str("requestParameters", "roleName") or event.get_str("responseElements", "role", "roleName")
    role = Resource(
        type="AWS::IAM::Role",
        id=name,
        arn=event.get_str("responseElements", "role", "arn") or _iam_arn(event, "role", name),
    )
    role_label = name or "(unnamed)"
    details: dict[str, str] = {}
    if exposure.external_accounts:
        details["External accounts"] = ", ".join(exposure.external_accounts)
    if exposure.public:
        details["Open statements"] = ", ".join(exposure.world_statements)
        if exposure.world_actions:
            details["Actions"] = ", ".join(exposure.world_actions)
        yield Hit(summary=f"Role {role_label} can be assumed by any AWS principal", resource=role, details=details)
        return
    yield Hit(
        summary=f"Role {role_label} can be assumed from untrusted account(s) {details['External accounts']}",
        resource=role,
        severity=Severity.HIGH,
        details=details,
    )


@rule(
    id="iam.mfa-removed",
    severity=Severity.HIGH,
    on={SOURCE: ["DeactivateMFADevice", "DeleteVirtualMFADevice"]},
    title="MFA device deactivated or deleted",
    description=(
        "An MFA device was deactivated, so the user can sign in with a password alone: attackers "
        "remove MFA to lock out the owner or to register their own device. LOW for a user replacing "
        "its own device from an MFA session, and for deleting a virtual device no user has."
    ),
    remediation=(
        "Ask the user whether they did it. Re-enable MFA (`aws iam enable-mfa-device`), rotate the "
        "user's password and keys if the change was not theirs, and require MFA by policy."
    ),
    mitre="T1556.006",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Lowered to LOW: a user (or root) deactivating its own device from a session that passed "
        "MFA (userIdentity's mfaAuthenticated true): replacing a lost or new phone; and "
        "DeleteVirtualMFADevice, which succeeds only for a device no user has (deleting an "
        "assigned one fails), so the removal itself was the DeactivateMFADevice before it. Cannot "
        "tell: the helpdesk deactivating a user's lost device from an attacker doing it (HIGH)."
    ),
)
def mfa_removed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    serial = event.get_str("requestParameters", "serialNumber")
    details = {"MFA device": serial} if serial else {}
    if event.event_name == "DeactivateMFADevice":
        requested_user = event.get_str("requestParameters", "userName")
        user = requested_user or _caller_user_name(event) or event.actor.label
        own_root = event.identity_type == "Root" and not requested_user
        own = own_root or _is_callers_own_user(event, requested_user or _caller_user_name(event))
        # Whoever proved the device a moment ago is replacing it; a key or password alone is not.
        routine = own and _mfa_authenticated(event)
        yield Hit(
            summary=f"MFA device deactivated for {user}" + (" by itself, in an MFA session" if routine else ""),
            resource=event.account_resource() if own_root else _user(event, user),
            severity=Severity.LOW if routine else None,
            details={**details, "User": user},
        )
        return
    device = serial.rsplit("/", 1)[-1] if serial else "(unnamed)"
    yield Hit(
        summary=f"Unassigned virtual MFA device {device} deleted",
        resource=Resource(
            type="AWS::IAM::VirtualMFADevice", id=device, arn=serial if serial.startswith("arn:") else ""
        ),
        severity=Severity.LOW,
        details=details,
    )


# EKS hosts one OIDC issuer per cluster; IRSA needs an IAM provider for it. Only EKS can sign
# tokens for this host, so the provider trusts a cluster, not an arbitrary identity provider.

_PROVIDER_EVENTS: dict[str, tuple[str, str]] = {
    # event name -> (provider kind, what happened)
    "CreateSAMLProvider": ("SAML", "created"),
    "UpdateSAMLProvider": ("SAML", "updated"),
    "DeleteSAMLProvider": ("SAML", "deleted"),
    "CreateOpenIDConnectProvider": ("OIDC", "created"),
    "UpdateOpenIDConnectProviderThumbprint": ("OIDC", "updated (thumbprints)"),
    "AddClientIDToOpenIDConnectProvider": ("OIDC", "updated (client id added)"),
    "DeleteOpenIDConnectProvider": ("OIDC", "deleted"),
}


@rule(
    id="iam.identity-provider-changed",
    severity=Severity.MEDIUM,
    on={SOURCE: list(_PROVIDER_EVENTS)},
    title="IAM identity provider changed",
    description=(
        "A SAML or OpenID Connect identity provider was created, changed or deleted. Whoever controls "
        "a trusted provider can sign in to every role that trusts it, without any IAM credential. "
        "LOW for a deletion and for an EKS cluster's OIDC issuer."
    ),
    remediation=(
        "Confirm the change with the identity team. Check the provider's metadata, URL and thumbprints "
        "(`aws iam get-saml-provider` / `aws iam get-open-id-connect-provider`) and which roles trust it."
    ),
    mitre="T1484.002",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Lowered to LOW: a provider deleted (it only takes sign-in away), and an OIDC provider "
        "for an EKS cluster's issuer (oidc.eks.<region>.amazonaws.com/id/..., what eksctl and "
        "Terraform create for every cluster's service accounts). Cannot tell: a yearly SAML "
        "certificate renewal from a swapped metadata document, nor the platform team's GitHub "
        "Actions provider from an attacker's (MEDIUM)."
    ),
)
def identity_provider_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    kind, happened = _PROVIDER_EVENTS.get(event.event_name, ("", "changed"))
    if kind == "SAML":
        arn = event.get_str("requestParameters", "sAMLProviderArn") or event.get_str(
            "responseElements", "sAMLProviderArn"
        )
        name = event.get_str("requestParameters", "name") or arn.rsplit("/", 1)[-1]
        resource = Resource(type="AWS::IAM::SAMLProvider", id=name, arn=arn)
    else:
        arn = event.get_str("requestParameters", "openIDConnectProviderArn") or event.get_str(
            "responseElements", "openIDConnectProviderArn"
        )
        name = arn.split(":oidc-provider/", 1)[-1] if ":oidc-provider/" in arn else ""
        name = name or event.get_str("requestParameters", "url").removeprefix("https://")
        resource = Resource(type="AWS::IAM::OIDCProvider", id=name, arn=arn)
    label = resource.id or "(unnamed)"
    routine = happened == "deleted" or (kind == "OIDC" and bool(EKS_OIDC_ISSUER.fullmatch(resource.id)))
    yield Hit(
        summary=f"{kind or 'Identity'} provider {label} {happened}",
        resource=resource,
        severity=Severity.LOW if routine else None,
        details={"Provider": arn or label, "Change": happened},
    )


@rule(
    id="iam.root-activity",
    severity=Severity.HIGH,
    identity_types={"Root"},
    title="Root user activity",
    description=(
        "The root user made an API call. Root cannot be restricted by IAM policies, and day-to-day "
        "work should never need it: any use outside a documented break-glass task is suspicious."
    ),
    remediation=(
        "Confirm who holds the root credentials and why they were used. If unexpected, change the "
        "root password, delete any root access keys, check the root MFA device, and review the calls."
    ),
    mitre="T1078.004",
    quiet=(
        "Not reported: console sign-in events (the signin rules judge them) and calls AWS makes for "
        "root (invokedBy). Cannot tell: a documented break-glass or root-only task (billing, "
        "account settings) from misuse: every root call is HIGH (`quiet_periods` folds the repeats "
        "of one session's calls into one alert)."
    ),
)
def root_activity(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.identity_type != "Root":
        return
    # The sign-in rules cover console sign-in events (ConsoleLogin and the CheckMfa-style steps
    # around it, which EventBridge delivers under another detail-type that the root-activity
    # pattern does not match); invokedBy marks an AWS service acting for root.
    if event.get_str("eventType") == "AwsConsoleSignIn" or event.event_name == "ConsoleLogin":
        return
    if event.get_str("userIdentity", "invokedBy"):
        return
    source = event.event_source.removesuffix(".amazonaws.com") or "(unknown service)"
    yield Hit(
        summary=f"Root user called {source}:{event.event_name or '(unknown)'}",
        resource=event.account_resource(),
        details={"Call": f"{source}:{event.event_name}"},
    )


# --------------------------------------------------------------------------------------------
# Wave 2: policy versions, admin groups, boundaries, the password policy, console passwords
# --------------------------------------------------------------------------------------------


@rule(
    id="iam.policy-version-changed",
    severity=Severity.HIGH,
    on={SOURCE: ["CreatePolicyVersion", "SetDefaultPolicyVersion"]},
    title="Managed policy default version changed",
    description=(
        "A customer managed policy got a new default version that allows every action, every IAM "
        "action, or sts:AssumeRole on every resource: every user, group and role the policy is "
        "attached to now holds that grant, and no attach call shows it. A version created without "
        "setAsDefault is not in effect and is not reported, nor is a default version without such a "
        "grant. SetDefaultPolicyVersion names the version but not its document, so switching the "
        "default (back to an old, wider version is a known escalation) is reported whatever the "
        "version holds; with detection state the rule will know the version from its creation."
    ),
    remediation=(
        "Make the previous version the default again (`aws iam set-default-policy-version --policy-arn "
        "<arn> --version-id <v>`), delete the unwanted version (`aws iam delete-policy-version "
        "--policy-arn <arn> --version-id <v>`), and review what the policy's principals did since."
    ),
    mitre="T1098.003",
    quiet=(
        "Not reported: a version created without setAsDefault, and a default version without an "
        "admin grant (IaC updating a scoped policy). Cannot tell: SetDefaultPolicyVersion's "
        "version content (a rollback to a safe version looks like one to a wide one; HIGH)."
    ),
)
def policy_version_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    policy_arn = event.get_str("requestParameters", "policyArn")
    name = policy_arn.rsplit("/", 1)[-1] or "(unnamed)"
    policy = Resource(type="AWS::IAM::ManagedPolicy", id=name, arn=policy_arn)
    if event.event_name == "SetDefaultPolicyVersion":
        version = event.get_str("requestParameters", "versionId") or "(unknown)"
        yield Hit(
            summary=f"Default version of policy {name} switched to {version}",
            resource=policy,
            details={"Policy": policy_arn, "Version": version, "Grants": "not in the event: check the version"},
            remedy={"<arn>": policy_arn},  # the version it replaced is not in the record
        )
        return
    made_default = event.get_bool("requestParameters", "setAsDefault") or event.get_bool(
        "responseElements", "policyVersion", "isDefaultVersion"
    )
    if not made_default:
        return
    grant = admin_grant(event.get("requestParameters", "policyDocument"), assume_any_role=True)
    if not grant:
        return
    version = event.get_str("responseElements", "policyVersion", "versionId") or "(new)"
    yield Hit(
        summary=f"New default version {version} of policy {name} grants {grant}",
        resource=policy,
        details={"Policy": policy_arn, "Version": version, "Grants": grant},
        remediation=NEW_POLICY_VERSION_REMEDIATION,
        remedy={"<arn>": policy_arn, "<new>": event.get_str("responseElements", "policyVersion", "versionId")},
    )


@rule(
    id="iam.admin-group-membership",
    severity=Severity.HIGH,
    on={SOURCE: ["AddUserToGroup"]},
    title="User added to an administrators' group",
    description=(
        "An IAM user was added to a group whose name matches the configured admin_groups (default "
        '"*admin*", in any case): the user now holds every permission of the group, and no policy '
        "call shows it. Adding users to other groups is not reported. Knowing a group as an "
        "administrators' group because an earlier event attached an administrator policy to it "
        "needs detection state and comes with it; until then the group's name is what tells."
    ),
    remediation=(
        "Confirm the membership with the group's owner. If unexpected, remove it (`aws iam "
        "remove-user-from-group --group-name <group> --user-name <user>`) and review the user's "
        "access keys, password and recent activity."
    ),
    mitre="T1098.003",
    quiet=(
        "Not reported: groups whose name does not match `admin_groups`. Cannot tell: onboarding a "
        "new administrator from an escalation (HIGH; routine by memory for IaC managing the "
        "group)."
    ),
)
def admin_group_membership(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    group = event.get_str("requestParameters", "groupName")
    if not ctx.is_admin_group(group):
        return
    user = event.get_str("requestParameters", "userName") or "(unnamed)"
    who = "itself" if _is_callers_own_user(event, user) else event.actor.label
    yield Hit(
        summary=f"IAM user {user} added to administrators' group {group} by {who}",
        resource=_user(event, user),
        details={"User": user, "Group": group, "Admin because": "the group's name matches admin_groups"},
        remedy={"<group>": group, "<user>": event.get_str("requestParameters", "userName")},
    )


@rule(
    id="iam.permissions-boundary-removed",
    severity=Severity.MEDIUM,
    on={SOURCE: ["DeleteUserPermissionsBoundary", "DeleteRolePermissionsBoundary"]},
    title="Permissions boundary removed",
    description=(
        "The permissions boundary of an IAM user or role was removed. A boundary caps what the "
        "principal's policies can grant; delegated administration (developers who may create roles "
        "only with the boundary) depends on it, and removing it is how a capped principal gets "
        "everything its policies name. HIGH when the principal removes its own boundary."
    ),
    remediation=(
        "Put the boundary back (`aws iam put-<kind>-permissions-boundary --<kind>-name <principal> "
        "--permissions-boundary <policy-arn>`, the boundary's ARN not being in the record) and find out who "
        "was allowed to delete it: iam:Delete*PermissionsBoundary belongs to administrators only."
    ),
    mitre="T1098",
    escalates_to=(Severity.HIGH,),
    quiet=(
        "Louder, HIGH: a user or a role's session removing its own boundary, the capped principal "
        "freeing itself. Cannot tell: an administrator or IaC retiring a boundary on purpose from "
        "an escalation (MEDIUM; routine by memory for a deploy role)."
    ),
)
def permissions_boundary_removed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    target, label = _target_principal(event)
    own = _is_callers_own_principal(event, target)
    yield Hit(
        summary=f"Permissions boundary removed from {label}" + (" by itself" if own else ""),
        resource=target,
        severity=Severity.HIGH if own else None,
        details={"Principal": label},
        remedy={"<kind>": "role" if "Role" in event.event_name else "user", "<principal>": target.id},
    )


# A password policy weaker than this (CIS AWS Foundations) is reported.
STRONG_PASSWORD_LENGTH = 14


@rule(
    id="iam.password-policy-weakened",
    severity=Severity.MEDIUM,
    on={SOURCE: ["UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"]},
    title="Account password policy weakened",
    description=(
        f"The account password policy was deleted, or set with a minimum length below "
        f"{STRONG_PASSWORD_LENGTH}, without reuse prevention, or without expiry: guessed and sprayed "
        "console passwords work more often. UpdateAccountPasswordPolicy replaces the whole policy, so "
        "a setting the call leaves out is back at its default (a shorter length, reuse allowed, no "
        "expiry): the event alone says what the policy now is. A policy meeting all three is not "
        "reported; one whose only gap is no expiry (as NIST SP 800-63B advises, and CIS since v1.4 "
        "no longer asks for) is LOW."
    ),
    remediation=(
        "Restore the baseline policy (`aws iam update-account-password-policy --minimum-password-length "
        f"{STRONG_PASSWORD_LENGTH} --password-reuse-prevention 24 --max-password-age 90 ...`) and ask "
        "who changed it; prefer Identity Center or federation over IAM user passwords."
    ),
    mitre="T1556",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Not reported: a policy with length 14 or more, reuse prevention and expiry. Lowered to "
        "LOW: the modern baseline with no expiry (length and reuse prevention met), as baselines "
        "re-apply it. Cannot tell: an old baseline re-applied on purpose with a shorter length "
        "(`suppressions` for its pipeline role)."
    ),
)
def password_policy_weakened(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    account = event.account_resource()
    if event.event_name == "DeleteAccountPasswordPolicy":
        yield Hit(
            summary="Account password policy deleted: IAM user passwords have no rules",
            resource=account,
            details={"Change": "deleted"},
        )
        return
    length = event.get_int("requestParameters", "minimumPasswordLength")
    reuse = event.get_int("requestParameters", "passwordReusePrevention")
    max_age = event.get_int("requestParameters", "maxPasswordAge")
    weaknesses = []
    if length is None or length < STRONG_PASSWORD_LENGTH:
        length_text = "the default" if length is None else str(length)
        weaknesses.append(f"minimum length {length_text} (below {STRONG_PASSWORD_LENGTH})")
    if not reuse:
        weaknesses.append("passwords may be reused")
    if not max_age:
        weaknesses.append("passwords never expire")
    if not weaknesses:
        return
    # Length and reuse met, no expiry: today's baseline (NIST SP 800-63B, CIS AWS Foundations
    # since v1.4 no longer ask for expiry), not a weakening; kept on record at LOW.
    expiry_only = weaknesses == ["passwords never expire"]
    yield Hit(
        summary="Account password policy weakened: " + ", ".join(weaknesses),
        resource=account,
        severity=Severity.LOW if expiry_only else None,
        details={
            "Weaknesses": ", ".join(weaknesses),
            "Minimum length": "default" if length is None else str(length),
            "Reuse prevention": f"{reuse} passwords" if reuse else "none",
            "Maximum age": f"{max_age} days" if max_age else "none",
        },
    )


@rule(
    id="iam.login-profile-deleted",
    resource_placeholder="<name>",
    severity=Severity.LOW,
    on={SOURCE: ["DeleteLoginProfile"]},
    title="Console password deleted for an IAM user",
    description=(
        "An IAM user's console password was deleted, so the user can no longer sign in to the "
        "console. Offboarding does this routinely; an attacker does it to lock an administrator out, "
        "or just before CreateLoginProfile to give the user a password of their own."
    ),
    remediation=(
        "Check the offboarding ticket or ask the user's manager. If unexpected, restore access "
        "(`aws iam create-login-profile --user-name <name> --password-reset-required`) and look for "
        "a CreateLoginProfile or UpdateLoginProfile that followed."
    ),
    mitre="T1531",
    quiet=(
        "Cannot tell: offboarding from an attacker locking a user out (LOW either way; routine by "
        "memory for the offboarding pipeline)."
    ),
)
def login_profile_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    requested_user = event.get_str("requestParameters", "userName")
    user = requested_user or _caller_user_name(event) or event.actor.label
    own = not requested_user or _is_callers_own_user(event, requested_user)
    yield Hit(
        summary=f"Console password deleted for IAM user {user}" + (" by itself" if own else f" by {event.actor.label}"),
        resource=_user(event, user),
        details={"User": user},
    )
