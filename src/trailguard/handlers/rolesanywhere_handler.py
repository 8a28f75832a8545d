"""IAM Roles Anywhere: certificate authorities trusted to hand out role credentials (the rule id
keeps the iam. prefix: what changes is who may assume IAM roles).

Roles Anywhere logs its REST requests with the API's camelCase members; the trust anchor's
certificate bundle is logged in full (it is public material).

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_text, items_of

SOURCE = "rolesanywhere.amazonaws.com"

_SOURCE_TYPES = {
    "CERTIFICATE_BUNDLE": "a CA certificate the caller uploaded",
    "AWS_ACM_PCA": "an AWS Private CA",
    "SELF_SIGNED_REPOSITORY": "a self-signed repository",
}


def _pca_arn(source: object) -> str:
    data = source.get("sourceData") if isinstance(source, dict) else None
    return as_text(data.get("acmPcaArn")) if isinstance(data, dict) else ""


# Each call's own half of the rule's remediation.
TRUST_ANCHOR_REMEDIATION = (
    "If unexpected, disable and delete it: `aws rolesanywhere disable-trust-anchor --trust-anchor-id "
    "<anchor>`, then `aws rolesanywhere delete-trust-anchor --trust-anchor-id <anchor>`, and look for "
    "profiles and roles that trust rolesanywhere.amazonaws.com."
)
PROFILE_REMEDIATION = (
    "If unexpected, delete it (`aws rolesanywhere delete-profile --profile-id <profile>`) and remove "
    "rolesanywhere.amazonaws.com from the trust policies of the roles the profile names."
)


@rule(
    id="iam.roles-anywhere-trust",
    severity=Severity.HIGH,
    on={SOURCE: ["CreateTrustAnchor", "UpdateTrustAnchor", "CreateProfile"]},
    title="IAM Roles Anywhere trust anchor or profile created",
    description=(
        "A certificate authority was made a Roles Anywhere trust anchor (or changed), or a profile "
        "naming the roles it may hand out was created. Whoever holds a certificate from that CA "
        "gets those roles' credentials from anywhere on the internet, with no IAM user or key to "
        "find and deactivate: a persistence technique. Setting up Roles Anywhere for servers "
        "outside AWS is the legitimate reason; it happens rarely and deliberately. MEDIUM for a "
        "trust anchor on the account's own AWS Private CA."
    ),
    remediation=(
        "If unexpected, disable and delete it: `aws rolesanywhere disable-trust-anchor "
        "--trust-anchor-id <anchor>` / `delete-trust-anchor`, `aws rolesanywhere delete-profile "
        "--profile-id <profile>`, and remove rolesanywhere.amazonaws.com from the trust policies of "
        "the roles the profile names."
    ),
    mitre="T1098.001",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Lowered to MEDIUM: a trust anchor on an AWS Private CA of this account or of one in "
        "`trusted_accounts` (source acmPcaArn): its certificates are issued through ACM PCA, in "
        "the account's own CloudTrail, not by a CA the caller brought along. Cannot tell: the "
        "platform team uploading its own CA bundle or creating a profile for servers outside AWS "
        "from a backdoor (HIGH)."
    ),
)
def roles_anywhere_trust(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    if event.event_name == "CreateProfile":
        profile = event.get_dict("responseElements", "profile")
        name = as_text(params.get("name")) or as_text(profile.get("name"))
        listed = items_of(params.get("roleArns")) or items_of(profile.get("roleArns"))
        roles = [role for role in (as_text(x) for x in listed) if role]
        details = {"Profile": name or "unknown", "Roles": ", ".join(roles) or "none"}
        enabled = as_bool(params.get("enabled"))
        if enabled is not None:
            details["Enabled"] = "yes" if enabled else "no"
        yield Hit(
            summary=f"Roles Anywhere profile {name or '(unnamed)'} created for {', '.join(roles) or 'no roles'}",
            resource=Resource(
                type="AWS::RolesAnywhere::Profile",
                id=as_text(profile.get("profileId")) or name,
                arn=as_text(profile.get("profileArn")),
            ),
            details=details,
            remediation=PROFILE_REMEDIATION,
            remedy={"<profile>": as_text(profile.get("profileId"))},
        )
        return
    anchor = event.get_dict("responseElements", "trustAnchor")
    name = as_text(params.get("name")) or as_text(anchor.get("name"))
    source = params.get("source") if isinstance(params.get("source"), dict) else anchor.get("source")
    source_type = as_text(source.get("sourceType")) if isinstance(source, dict) else ""
    details = {
        "Trust anchor": name or "unknown",
        "Certificate authority": _SOURCE_TYPES.get(source_type, source_type or "unchanged"),
    }
    anchor_id = as_text(params.get("trustAnchorId")) or as_text(anchor.get("trustAnchorId"))
    if anchor_id:
        details["Trust anchor id"] = anchor_id
    verb = "updated" if event.event_name == "UpdateTrustAnchor" else "created"
    label = name or anchor_id or "(unnamed)"
    # arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/...: the CA's own account.
    pca_arn = _pca_arn(source) if source_type == "AWS_ACM_PCA" else ""
    pca_account = pca_arn.split(":")[4] if pca_arn.count(":") >= 5 else ""
    own_ca = bool(pca_account) and ctx.is_trusted_account(pca_account, event)
    if pca_arn:
        details["Private CA"] = pca_arn
    yield Hit(
        summary=f"Roles Anywhere trust anchor {label} {verb}: trusts {details['Certificate authority']}",
        severity=Severity.MEDIUM if own_ca else None,
        resource=Resource(
            type="AWS::RolesAnywhere::TrustAnchor", id=anchor_id or name, arn=as_text(anchor.get("trustAnchorArn"))
        ),
        details=details,
        remediation=TRUST_ANCHOR_REMEDIATION,
        remedy={"<anchor>": anchor_id},
    )
