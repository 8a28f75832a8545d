"""Console sign-in: root sign-ins (successful or not) and IAM users signing in without MFA.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

ConsoleLogin records report the outcome in ``responseElements.ConsoleLogin`` ("Success" or
"Failure") and, for failures, an ``errorMessage`` without an ``errorCode``; MFA use is in
``additionalEventData.MFAUsed`` ("Yes"/"No").
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "signin.amazonaws.com"
CONSOLE_LOGIN = {SOURCE: ["ConsoleLogin"]}


def _succeeded(event: CloudTrailEvent) -> bool:
    return not event.failed and event.get_str("responseElements", "ConsoleLogin") == "Success"


def _mfa_used(event: CloudTrailEvent) -> str:
    """ "Yes", "No", or "" when the record does not say."""
    value = event.get_str("additionalEventData", "MFAUsed").strip()
    return value.capitalize() if value else ""


def _sign_in_details(event: CloudTrailEvent) -> dict[str, str]:
    details: dict[str, str] = {}
    mfa = _mfa_used(event)
    if mfa:
        details["MFA used"] = mfa
    login_to = event.get_str("additionalEventData", "LoginTo")
    if login_to:
        details["Console URL"] = login_to
    return details


@rule(
    id="signin.root-console-login",
    severity=Severity.CRITICAL,
    on=CONSOLE_LOGIN,
    title="Root user signed in to the console",
    description=(
        "Someone signed in to the AWS console as the root user, which no IAM policy can restrict. "
        "Only a handful of tasks need root; any other sign-in may mean its password was stolen. "
        "HIGH when the sign-in used MFA."
    ),
    remediation=(
        "Find out who signed in and why, at once. If nobody can account for it, reset the root "
        "password, check the root MFA device and email address, delete any root access keys, and "
        "review every call made by root since the sign-in."
    ),
    mitre="T1078.004",
    escalates_to=(Severity.HIGH,),
    quiet=(
        "Lowered to HIGH: a sign-in with MFA (additionalEventData MFAUsed Yes), the break-glass "
        "done right: a stolen password alone does not get there. Failed sign-ins are the next "
        "rule's. Cannot tell: a documented root-only task from misuse."
    ),
)
def root_console_login(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.identity_type != "Root" or not _succeeded(event):
        return
    mfa = _mfa_used(event)
    how = " without MFA" if mfa == "No" else (" with MFA" if mfa == "Yes" else "")
    yield Hit(
        summary=f"Root user signed in to the console{how}",
        resource=event.account_resource(),
        severity=Severity.HIGH if mfa == "Yes" else None,
        details=_sign_in_details(event),
    )


@rule(
    id="signin.console-login-no-mfa",
    severity=Severity.HIGH,
    on=CONSOLE_LOGIN,
    title="IAM user signed in without MFA",
    description=(
        "An IAM user signed in to the console with a password alone. A stolen or guessed password is "
        "then all an attacker needs; federated and SSO sign-ins are left to the identity provider."
    ),
    remediation=(
        "Confirm the sign-in with the user, enable an MFA device for them (`aws iam "
        "enable-mfa-device` or the console), and enforce MFA with a policy that denies actions "
        "when aws:MultiFactorAuthPresent is false."
    ),
    mitre="T1078.004",
    quiet=(
        "Not reported: sign-ins with MFA, failed ones, roles, federated, SAML and Identity Center "
        "sign-ins (their identity provider does the MFA). Cannot tell: a user whose MFA is enforced "
        "elsewhere, or a shared test user without MFA (`suppressions` by principal)."
    ),
)
def console_login_no_mfa(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    # Roles (SAML, IAM Identity Center) and federated users authenticate at their identity
    # provider, whose MFA CloudTrail cannot see; root has a rule of its own.
    if event.identity_type != "IAMUser" or not _succeeded(event):
        return
    if event.get_str("additionalEventData", "SamlProviderArn"):
        return
    mfa = _mfa_used(event)
    if not mfa or mfa == "Yes":
        return
    name = event.get_str("userIdentity", "userName") or event.actor.label
    yield Hit(
        summary=f"IAM user {name} signed in to the console without MFA",
        resource=Resource(type="AWS::IAM::User", id=name, arn=event.get_str("userIdentity", "arn")),
        details=_sign_in_details(event),
    )


@rule(
    id="signin.root-login-failed",
    severity=Severity.HIGH,
    on=CONSOLE_LOGIN,
    include_failed=True,
    title="Failed root console sign-in",
    description=(
        "A console sign-in as the root user failed. Someone knows the account's root email address "
        "and is trying passwords, or a legitimate holder mistyped; repeated failures mean an attack."
    ),
    remediation=(
        "Check whether the source IP and time match a known root credential holder. If not, make "
        "sure the root password is long and unique and MFA is enabled, and watch for further attempts."
    ),
    mitre="T1110.001",
    quiet=(
        "Cannot tell: the root holder mistyping once from a password being tried many times (HIGH "
        "each; routine by memory, or the burst rules for the count)."
    ),
)
def root_login_failed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.identity_type != "Root" or not event.failed:
        return
    reason = event.error_message or event.error_code or "failure"
    yield Hit(
        summary=f"Failed root console sign-in: {reason}",
        resource=event.account_resource(),
        details={"Reason": reason, **_sign_in_details(event)},
    )
