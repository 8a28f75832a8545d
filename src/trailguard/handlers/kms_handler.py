"""KMS rules: keys disabled or scheduled for deletion, key policies opened to everyone or shared with
outside accounts, and imported key material changed.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_int
from trailguard.core.policy import analyze_policy, external_policy_hit, public_policy_hit

SOURCE = "kms.amazonaws.com"
# ScheduleKeyDeletion's PendingWindowInDays when the caller leaves it out.
DEFAULT_PENDING_WINDOW_DAYS = 30
# The shortest pending window KMS allows: what someone who wants the data gone soon asks for.
MINIMUM_PENDING_WINDOW_DAYS = 7
# In a key policy, a condition on the calling account limits "*" just like aws:PrincipalAccount.
KMS_ACCOUNT_KEYS = ("kms:CallerAccount",)


def _key(event: CloudTrailEvent) -> Resource:
    """The key a call acts on: requests carry an id or ARN, responses and resources the ARN."""
    given = event.get_str("requestParameters", "keyId")
    arn = event.get_str("responseElements", "keyId") or event.get_str("responseElements", "keyMetadata", "arn")
    if not arn.startswith("arn:"):
        arn = ""
    if not arn:
        for item in event.get_list("resources"):
            if isinstance(item, dict) and item.get("type") == "AWS::KMS::Key" and isinstance(item.get("ARN"), str):
                arn = item["ARN"]
                break
    if given.startswith("arn:"):
        arn = arn or given
        given = given.rsplit("/", 1)[-1]
    if not given and arn:
        given = arn.rsplit("/", 1)[-1]
    return Resource(type="AWS::KMS::Key", id=given, arn=arn)


@rule(
    id="kms.key-disabled",
    resource_placeholder="<key>",
    severity=Severity.HIGH,
    on={SOURCE: ["DisableKey", "ScheduleKeyDeletion"]},
    title="KMS key disabled or scheduled for deletion",
    description=(
        "A KMS key was disabled or scheduled for deletion. Everything encrypted under it (S3 "
        "objects, EBS volumes, databases, secrets) becomes unreadable, now or at the end of the "
        "waiting period, and a deleted key cannot be recovered: a sabotage and ransom technique."
    ),
    remediation=(
        "Cancel the deletion while the key is pending (`aws kms cancel-key-deletion --key-id "
        "<key>`), re-enable it (`aws kms enable-key --key-id <key>`), and restrict "
        "kms:ScheduleKeyDeletion and kms:DisableKey to break-glass roles."
    ),
    mitre="T1485",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "AWS managed keys (`aws/...` aliases) cannot be disabled or deleted, and refused calls are "
        "not reported. A deletion scheduled by automation (a CloudFormation stack teardown, "
        "`invokedBy` CloudFormation, or a pipeline's role destroying a short-lived environment) "
        "with more than the minimum 7-day window is MEDIUM: IaC uses its 30-day default, which "
        "leaves time to cancel. Disabling a key, the minimum window, or a person scheduling the "
        "deletion by hand stays HIGH. Cannot tell: a key retired on purpose (routine by memory "
        "for the deploy role)."
    ),
)
def key_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    key = _key(event)
    label = key.label or "(unknown)"
    if event.event_name == "DisableKey":
        yield Hit(summary=f"KMS key {label} disabled", resource=key, details={"Change": "disabled"})
        return
    window = as_int(event.get("requestParameters", "pendingWindowInDays"))
    if window is None:
        window = as_int(event.get("responseElements", "pendingWindowInDays"))
    if window is None:
        window = DEFAULT_PENDING_WINDOW_DAYS
    details = {"Change": "scheduled for deletion", "Pending window": f"{window} days"}
    deletion_date = event.get_str("responseElements", "deletionDate")
    if deletion_date:
        details["Deletion date"] = deletion_date
    # IaC tears keys down with its default window (30 days); the minimum is a choice worth HIGH.
    teardown = not made_by_person(event) and window > MINIMUM_PENDING_WINDOW_DAYS
    if teardown:
        details["Scheduled by"] = "automation"
    yield Hit(
        summary=f"KMS key {label} scheduled for deletion in {window} days",
        resource=key,
        severity=Severity.MEDIUM if teardown else None,
        details=details,
    )


@rule(
    id="kms.key-policy-public",
    resource_placeholder="<key>",
    severity=Severity.CRITICAL,
    on={SOURCE: ["PutKeyPolicy"]},
    title="KMS key policy allows public access",
    description=(
        'A key policy now Allows Principal "*" without a condition limiting callers to an '
        "account (kms:CallerAccount, aws:PrincipalAccount), organization or network: any AWS "
        "principal anywhere can use the key as far as the allowed actions go, for instance to "
        "decrypt data or to change the key."
    ),
    remediation=(
        "Put back the previous key policy (`aws kms put-key-policy --key-id <key> --policy-name "
        "default --policy file://policy.json`) with the public statement removed or narrowed, and "
        "review CloudTrail for use of the key from other accounts."
    ),
    mitre="T1098",
    quiet=(
        'Quiet on the AWS-managed style of "*" narrowed by kms:CallerAccount (or '
        "aws:PrincipalAccount, aws:PrincipalOrgID) to the account or organization, on service "
        "principals (CloudTrail, CloudWatch Logs) and on Deny statements. Cannot tell: nothing "
        "routine opens a key to every account."
    ),
)
def key_policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    exposure = analyze_policy(
        event.get("requestParameters", "policy"),
        lambda account: ctx.is_trusted_account(account, event),
        account_keys=KMS_ACCOUNT_KEYS,
    )
    if not exposure.public:
        return
    key = _key(event)
    yield public_policy_hit(f"KMS key {key.label or '(unknown)'}", key, exposure)


@rule(
    id="kms.key-material-changed",
    resource_placeholder="<key>",
    routine=True,
    severity=Severity.HIGH,
    on={SOURCE: ["ImportKeyMaterial", "DeleteImportedKeyMaterial"]},
    title="KMS imported key material changed",
    description=(
        "Key material was imported into a KMS key, or deleted from it. Deleting it makes "
        "everything encrypted under the key unreadable at once; importing material with an "
        "expiry date does the same when it lapses, and only whoever holds a copy of the material "
        "can bring the data back: a ransom technique that needs no encryption of the data itself."
    ),
    remediation=(
        "Confirm with the key's owners that the change was planned. If not, re-import the known "
        "good key material (`aws kms import-key-material --key-id <key> ...`), restrict "
        "kms:ImportKeyMaterial and kms:DeleteImportedKeyMaterial to break-glass roles, and check "
        "what the key protects."
    ),
    mitre="T1486",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Importing material that never expires (`KEY_MATERIAL_DOES_NOT_EXPIRE`) is MEDIUM: it "
        "cannot lapse by itself, and deleting it later is reported again. Cannot tell: a "
        "bring-your-own-key team's scheduled re-import of expiring material (routine by memory for "
        "its role)."
    ),
)
def key_material_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Bringing your own key material is rare and planned, and the record cannot tell a scheduled
    re-import from a hostile one: always reported, with its expiry."""
    key = _key(event)
    label = key.label or "(unknown)"
    if event.event_name == "DeleteImportedKeyMaterial":
        yield Hit(
            summary=f"Imported key material deleted from KMS key {label}: its data is unreadable",
            resource=key,
            details={"Change": "key material deleted"},
        )
        return
    details = {"Change": "key material imported"}
    model = event.get_str("requestParameters", "expirationModel")
    if model:
        details["Expiration model"] = model
    valid_to = event.get_str("requestParameters", "validTo")
    never_expires = model == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    if valid_to and not never_expires:
        details["Expires"] = valid_to
    yield Hit(
        summary=f"Key material imported into KMS key {label}",
        resource=key,
        severity=Severity.MEDIUM if never_expires else None,
        details=details,
    )


@rule(
    id="kms.key-policy-external",
    resource_placeholder="<key>",
    severity=Severity.HIGH,
    on={SOURCE: ["PutKeyPolicy", "CreateKey"]},
    title="KMS key policy shared with an outside account",
    description=(
        "A key policy grants use of the key to an account outside the trusted accounts, directly or "
        'through "*" narrowed to that account. That account can decrypt what the key protects, or '
        "(with the right actions) re-encrypt and schedule the key's deletion: a way both to steal "
        "data and to hold it to ransom."
    ),
    remediation=(
        "Put back the previous key policy without the outside principal (`aws kms put-key-policy "
        "--key-id <key> --policy-name default --policy file://policy.json`), revoke grants made to "
        "it (`aws kms list-grants --key-id <key>`), and review the key's use from that account."
    ),
    mitre="T1098",
    quiet=(
        "Quiet on trusted and own accounts, on the organization (aws:PrincipalOrgID), on service "
        "principals, and on CreateKey without a policy (the default policy names the own account "
        "only). Cannot tell: a key shared with a workload account that is not in "
        "`trusted_accounts` (add it there)."
    ),
)
def key_policy_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on trusted and own accounts, service principals, and the AWS-managed style of "*"
    narrowed by kms:CallerAccount to the own account. CreateKey without a policy gets the default
    policy (the own account only) and is quiet."""
    exposure = analyze_policy(
        event.get("requestParameters", "policy"),
        lambda account: ctx.is_trusted_account(account, event),
        account_keys=KMS_ACCOUNT_KEYS,
    )
    if not exposure.external:
        return
    key = _key(event)
    yield external_policy_hit(f"KMS key {key.label or '(unknown)'}", key, exposure)
