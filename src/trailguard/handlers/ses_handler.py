"""Amazon SES: sending unlocked and sender identities removed. Spammers and phishers buy stolen keys
for a ready SES account: a verified sender, production access out of the sandbox, sending switched
back on. SES API v1 and v2 both log under ``ses.amazonaws.com``, with their own names and members
in lowerCamelCase: v1 VerifyEmailIdentity ``emailAddress``, VerifyDomainIdentity ``domain``,
UpdateAccountSendingEnabled ``enabled``, DeleteIdentity ``identity``; v2 CreateEmailIdentity and
DeleteEmailIdentity ``emailIdentity``, PutAccountDetails ``productionAccessEnabled``,
PutAccountSendingAttributes ``sendingEnabled`` (v2's spelling of UpdateAccountSendingEnabled).

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "ses.amazonaws.com"
# The request member naming the identity, per call.
_IDENTITY_MEMBER = {
    "CreateEmailIdentity": "emailIdentity",
    "DeleteEmailIdentity": "emailIdentity",
    "VerifyEmailIdentity": "emailAddress",
    "VerifyDomainIdentity": "domain",
    "DeleteIdentity": "identity",
}


def identity_resource(event: CloudTrailEvent) -> Resource:
    """The SES identity (an address or a domain) a call names, with its ARN."""
    member = _IDENTITY_MEMBER.get(event.event_name, "")
    identity = event.get_str("requestParameters", member) if member else ""
    arn = event.arn("ses", f"identity/{identity}") if identity else ""
    return Resource(type="AWS::SES::EmailIdentity", id=identity, arn=arn)


def _identity_kind(identity: str) -> str:
    return "address" if "@" in identity else "domain"


@rule(
    id="ses.sending-unlocked",
    resource_placeholder="<identity>",
    severity=Severity.MEDIUM,
    on={
        SOURCE: [
            "PutAccountDetails",
            "UpdateAccountSendingEnabled",
            "PutAccountSendingAttributes",
            "CreateEmailIdentity",
            "VerifyEmailIdentity",
            "VerifyDomainIdentity",
        ]
    },
    title="SES sending unlocked or new sender identity",
    description=(
        "SES was readied to send: production access requested (out of the sandbox), sending turned "
        "back on for the account, or a new sender address or domain submitted for verification. "
        "Stolen keys are sold for exactly this, to send spam and phishing from a reputable account. "
        "Onboarding a real sender looks the same: tell it by the caller (a deploy role or a known "
        "admin rather than a long-lived user key), the identity (your own domain, not a free-mail "
        "address or an unknown domain) and a change ticket; turning sending off is not reported."
    ),
    remediation=(
        "If nobody in the team asked for it, delete the identity (`aws sesv2 delete-email-identity "
        "--email-identity <identity>`), pause sending (`aws sesv2 put-account-sending-attributes "
        "--no-sending-enabled`), withdraw a production-access request through AWS Support, and "
        "disable the caller's keys."
    ),
    mitre="T1585.002",
    escalates_to=(Severity.LOW,),
    quiet=(
        "Quiet on sending paused (`enabled`/`sendingEnabled` false). A new sender identity "
        "submitted by automation (a deploy role or CloudFormation wiring up a domain or a "
        "notification address) is LOW; by a person by hand it stays MEDIUM, as do production "
        "access requests and sending switched back on, whoever makes them. Cannot tell: an "
        "admin onboarding the company's own domain (use `suppressions` for the identity, or it is "
        "routine by memory)."
    ),
)
def sending_unlocked(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    name = event.event_name
    if name in ("UpdateAccountSendingEnabled", "PutAccountSendingAttributes"):
        member = "enabled" if name == "UpdateAccountSendingEnabled" else "sendingEnabled"
        if event.get_bool("requestParameters", member) is not True:
            return  # pausing sending is the safe direction
        yield Hit(
            summary=f"SES sending turned on for the account in {event.region or 'a region'}",
            resource=event.account_resource(),
            details={"Change": "account-wide sending enabled"},
        )
        return
    if name == "PutAccountDetails":
        production = event.get_bool("requestParameters", "productionAccessEnabled")
        details = {"Production access requested": "yes" if production else "no"}
        website = event.get_str("requestParameters", "websiteURL")
        if website:
            details["Website given"] = website
        mail_type = event.get_str("requestParameters", "mailType")
        if mail_type:
            details["Mail type"] = mail_type
        what = "production access requested" if production else "account details submitted for review"
        yield Hit(
            summary=f"SES {what} in {event.region or 'a region'}",
            resource=event.account_resource(),
            details=details,
        )
        return
    identity = identity_resource(event)
    kind = _identity_kind(identity.id)
    yield Hit(
        summary=f"SES sender {kind} {identity.id or '(unknown)'} submitted for verification",
        resource=identity,
        # Pipelines create senders as part of a stack; a stolen key's buyer adds one by hand.
        severity=None if made_by_person(event) else Severity.LOW,
        details={"Identity": identity.id, "Kind": kind} if identity.id else {},
    )


@rule(
    id="ses.identity-deleted",
    resource_placeholder="<identity>",
    severity=Severity.LOW,
    on={SOURCE: ["DeleteIdentity", "DeleteEmailIdentity"]},
    title="SES sender identity deleted",
    description=(
        "A verified SES sender address or domain was deleted. Routine when a sender is retired; "
        "after abuse, attackers delete the identity they sent from to cover their tracks, and "
        "deleting the identity an alerting system sends from silences its email. When the identity "
        "is trailguard's own, trailguard.pipeline-tampered reports it instead (CRITICAL)."
    ),
    remediation=(
        "Check who deleted it and whether mail still depends on it; re-create it if needed (`aws "
        "sesv2 create-email-identity --email-identity <identity>`) and review what was sent from it "
        "recently (SES sending statistics, the configuration set's event destinations)."
    ),
    mitre="T1070",
    quiet=(
        "Left to trailguard.pipeline-tampered (CRITICAL) when the identity is trailguard's own and "
        "the caller is not its deployer: one alert for one act. Cannot tell: a stack teardown or a "
        "retired sender (routine by memory for the deploy role)."
    ),
)
def identity_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    identity = identity_resource(event)
    if ctx.tampers_with_trailguard(event, identity):
        return  # one alert for one act: the pipeline rule's
    yield Hit(
        summary=f"SES sender {_identity_kind(identity.id)} {identity.id or '(unknown)'} deleted",
        resource=identity,
    )
