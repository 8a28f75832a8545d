"""S3 exposure and protection rules: public ACLs and policies, Block Public Access, encryption,
logging and versioning.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

S3 records are peculiar: request bodies are XML converted to JSON, so a list of one element is
written as a single object, booleans may arrive as strings, and request headers such as
``x-amz-acl`` appear as a string or as a list of strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_int, items_of
from trailguard.core.policy import action_matches, analyze_policy, external_policy_hit, public_policy_hit

SOURCE = "s3.amazonaws.com"

# Canned ACLs that grant something to everyone or to every AWS account holder.
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
# Group grantees, matched on the path so that http/https spellings both count.
PUBLIC_GROUPS = {
    "/groups/global/allusers": "AllUsers",
    "/groups/global/authenticatedusers": "AuthenticatedUsers",
}
# Headers that grant a permission to explicit grantees (x-amz-grant-read: uri="...AllUsers").
GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _remedy(bucket: Resource) -> dict[str, str]:
    """The bucket's name for a remediation's ``<bucket>``."""
    return {"<bucket>": bucket.id}


_BLOCK_ALL = (
    "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
    "BlockPublicPolicy=true,RestrictPublicBuckets=true"
)
BUCKET_BLOCK_REMEDIATION = (
    f"Turn all four settings back on: `aws s3api put-public-access-block --bucket <bucket> {_BLOCK_ALL}`, "
    "then review the bucket's ACL and policy."
)
ACCOUNT_BLOCK_REMEDIATION = (
    f"Turn all four settings back on for the account: `aws s3control put-public-access-block --account-id <id> "
    f"{_BLOCK_ALL}`, then review the ACLs and policies of its buckets."
)


def _bucket(event: CloudTrailEvent) -> Resource:
    """The bucket a call acts on: the request names it; data events also list its ARN."""
    name = event.get_str("requestParameters", "bucketName")
    arn = ""
    for item in event.get_list("resources"):
        if isinstance(item, dict) and item.get("type") == "AWS::S3::Bucket" and isinstance(item.get("ARN"), str):
            arn = item["ARN"]
            break
    if not name and arn.startswith("arn:"):
        name = arn.rsplit(":", 1)[-1]
    if name and not arn:
        arn = event.arn("s3", name, region="", account="")
    return Resource(type="AWS::S3::Bucket", id=name, arn=arn)


def _object(event: CloudTrailEvent) -> Resource:
    bucket = _bucket(event).id
    key = event.get_str("requestParameters", "key") or event.get_str("requestParameters", "Key")
    object_id = f"{bucket}/{key}" if bucket and key else bucket or key
    return Resource(type="AWS::S3::Object", id=object_id, arn=event.arn("s3", object_id, region="", account=""))


def _header_values(value: Any) -> list[str]:
    """A request header as CloudTrail writes it: a string, or a list of strings."""
    return [item for item in items_of(value) if isinstance(item, str)]


def _public_group(uri: str) -> str:
    """ "AllUsers"/"AuthenticatedUsers" when ``uri`` names one of the public groups, else ''."""
    lowered = uri.strip().strip("\"'").lower()
    for path, label in PUBLIC_GROUPS.items():
        if lowered.endswith(path):
            return label
    return ""


def _public_acl_grants(params: dict[str, Any]) -> list[str]:
    """Every public grant a PutBucketAcl/PutObjectAcl/CreateBucket request makes, as text."""
    found: list[str] = []
    for canned in _header_values(params.get("x-amz-acl")):
        if canned.strip().lower() in PUBLIC_CANNED_ACLS:
            found.append(f"canned ACL {canned.strip()}")
    for header, permission in GRANT_HEADERS.items():
        for value in _header_values(params.get(header)):
            # uri="http://acs.amazonaws.com/groups/global/AllUsers", id="...", possibly several
            for part in value.split(","):
                kind, _, target = part.strip().partition("=")
                group = _public_group(target) if kind.strip().lower() == "uri" else ""
                if group:
                    found.append(f"{permission} to {group}")
    policy = params.get("AccessControlPolicy")
    acl = policy.get("AccessControlList") if isinstance(policy, dict) else None
    grants = items_of(acl.get("Grant")) if isinstance(acl, dict) else []
    for grant in grants:
        if not isinstance(grant, dict):
            continue
        grantee = grant.get("Grantee")
        uri = grantee.get("URI") if isinstance(grantee, dict) else None
        group = _public_group(uri) if isinstance(uri, str) else ""
        if group:
            granted = grant.get("Permission")
            found.append(f"{granted if isinstance(granted, str) and granted else 'access'} to {group}")
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="s3.bucket-acl-public",
    severity=Severity.HIGH,
    on={SOURCE: ["PutBucketAcl", "CreateBucket"]},
    title="S3 bucket ACL made public",
    description=(
        "A bucket's ACL grants access to AllUsers (anyone on the internet) or AuthenticatedUsers "
        "(anyone with an AWS account), directly or through a public canned ACL. Unless Block "
        "Public Access ignores public ACLs, the bucket's listing or contents are now exposed."
    ),
    remediation=(
        "Reset the ACL (`aws s3api put-bucket-acl --bucket <bucket> --acl private`), turn on Block "
        "Public Access for the bucket and the account, and prefer disabling ACLs altogether "
        "(Object Ownership: BucketOwnerEnforced)."
    ),
    mitre="T1530",
    quiet=(
        "Quiet on private and log-delivery ACLs (`log-delivery-write`, grants to the S3 log delivery "
        "group or to a named account such as CloudFront's log writer): only the AllUsers and "
        "AuthenticatedUsers groups count. Cannot tell: a legacy static website or public download "
        "bucket made public-read on purpose (use `suppressions` for that bucket)."
    ),
)
def bucket_acl_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    grants = _public_acl_grants(event.request)
    if not grants:
        return
    bucket = _bucket(event)
    verb = "created with a public ACL" if event.event_name == "CreateBucket" else "ACL made public"
    yield Hit(
        summary=f"Bucket {bucket.label or '(unnamed)'} {verb}: {', '.join(grants)}",
        resource=bucket,
        remedy=_remedy(bucket),
        details={"Public grants": ", ".join(grants)},
    )


@rule(
    id="s3.object-acl-public",
    severity=Severity.MEDIUM,
    on={SOURCE: ["PutObjectAcl"]},
    title="S3 object ACL made public",
    description=(
        "An object's ACL now grants access to AllUsers or AuthenticatedUsers, so anyone can read "
        "(or rewrite) that object unless Block Public Access ignores public ACLs. Only recorded "
        "when the trail logs S3 data events."
    ),
    remediation=(
        "Reset the object ACL (`aws s3api put-object-acl --bucket <bucket> --key <key> --acl "
        "private`), turn on Block Public Access, and consider disabling ACLs on the bucket."
    ),
    mitre="T1530",
    quiet=(
        "Quiet on `bucket-owner-full-control` and other grants to named accounts (cross-account "
        "uploads). Cannot tell: assets published public-read on purpose by a website or download "
        "pipeline (use `suppressions` for the bucket, or it is routine by memory)."
    ),
)
def object_acl_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    grants = _public_acl_grants(event.request)
    if not grants:
        return
    obj = _object(event)
    yield Hit(
        summary=f"Object {obj.label or '(unnamed)'} made public: {', '.join(grants)}",
        resource=obj,
        details={"Public grants": ", ".join(grants)},
        remedy={**_remedy(_bucket(event)), "<key>": event.get_str("requestParameters", "key")},
    )


@rule(
    id="s3.bucket-policy-public",
    severity=Severity.CRITICAL,
    on={SOURCE: ["PutBucketPolicy"]},
    title="S3 bucket policy allows public access",
    description=(
        'A bucket policy now Allows Principal "*" without a condition that limits callers to an '
        "organization, account, source ARN, VPC or non-public network: anyone on the internet can "
        "perform the allowed actions on the bucket unless Block Public Access restricts it."
    ),
    remediation=(
        "Remove or narrow the public statement (`aws s3api delete-bucket-policy --bucket <bucket>` "
        "or put back the previous policy), and enable Block Public Access (BlockPublicPolicy, "
        "RestrictPublicBuckets) on the bucket and the account."
    ),
    mitre="T1530",
    quiet=(
        "Quiet on AWS services as principals (CloudFront origin access control, "
        "`cloudfront.amazonaws.com` with aws:SourceArn; CloudTrail, Config, log delivery), on the "
        'legacy CloudFront origin access identity (a `cloudfront` user ARN, not "*"), on Deny-only '
        'statements and on "*" narrowed to an organization, account, VPC endpoint or source IP '
        "range. Cannot tell: a static website bucket made public-read on purpose (use "
        "`suppressions` for that bucket)."
    ),
)
def bucket_policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    # CloudTrail writes the parsed document under bucketPolicy; older records carry text in policy.
    document = params.get("bucketPolicy") or params.get("policy")
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    if not exposure.public:
        return
    bucket = _bucket(event)
    yield public_policy_hit(f"Bucket {bucket.label or '(unnamed)'}", bucket, exposure)._replace(remedy=_remedy(bucket))


# The regional accounts Elastic Load Balancing writes access logs from (regions opened before
# August 2022; newer ones use the logdelivery.elasticloadbalancing.amazonaws.com principal). A
# bucket policy letting them PutObject is how ELB access logging is switched on: AWS, not an outsider.
ELB_LOG_DELIVERY_ACCOUNTS = frozenset(
    {
        "127311923021",  # us-east-1
        "033677994240",  # us-east-2
        "027434742980",  # us-west-1
        "797873946194",  # us-west-2
        "098369216593",  # af-south-1
        "754344448648",  # ap-east-1
        "589379963580",  # ap-southeast-3
        "718504428378",  # ap-south-1
        "383597477331",  # ap-northeast-3
        "600734575887",  # ap-northeast-2
        "114774131450",  # ap-southeast-1
        "783225319266",  # ap-southeast-2
        "582318560864",  # ap-northeast-1
        "985666609251",  # ca-central-1
        "054676820928",  # eu-central-1
        "156460612806",  # eu-west-1
        "652711504416",  # eu-west-2
        "635631232127",  # eu-south-1
        "009996457667",  # eu-west-3
        "897822967062",  # eu-north-1
        "076674570225",  # me-south-1
        "507241528517",  # sa-east-1
        "048591011584",  # us-gov-west-1
        "190560391635",  # us-gov-east-1
        "638102146993",  # cn-north-1
        "037604701340",  # cn-northwest-1
    }
)
# Actions standing for every way S3 lets a caller change or destroy data or the bucket's settings;
# a wildcard pattern that covers one of them grants writing.
S3_WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectRetention",
    "s3:PutBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:ReplicateObject",
    "s3:RestoreObject",
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
)
S3_READ_VERBS = ("s3:get", "s3:list")


def _grants_writing(action: str) -> bool:
    """A granted action (or pattern) that writes or deletes; "all except ..." does."""
    if action.startswith("* except"):
        return True
    if "*" in action or "?" in action:
        return any(action_matches(action, write) for write in S3_WRITE_ACTIONS)
    return not action.lower().startswith(S3_READ_VERBS)


@rule(
    id="s3.bucket-policy-external",
    severity=Severity.MEDIUM,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["PutBucketPolicy"]},
    title="S3 bucket policy shared with an outside account",
    description=(
        "A bucket policy now Allows an AWS account outside the trusted accounts, by name or through "
        '"*" narrowed to that account: it can read the data (MEDIUM), or write, overwrite and delete '
        "it (HIGH). A grant to a stranger's account is a quiet exfiltration path that Block Public "
        "Access does not stop."
    ),
    remediation=(
        "Put back the previous policy without the outside principal (`aws s3api put-bucket-policy "
        "--bucket <bucket> --policy file://policy.json`), add the account to trusted_accounts if it "
        "is a partner, and review its access in S3 server access logs or CloudTrail data events."
    ),
    mitre="T1537",
    quiet=(
        "Quiet on trusted accounts, on AWS service principals (log delivery, CloudTrail, Config, "
        "S3 inventory and replication, with or without aws:SourceAccount naming another account) "
        "and on Elastic Load Balancing's regional log-delivery accounts. Cannot tell: a partner's "
        "account that is not in `trusted_accounts` (add it there)."
    ),
)
def bucket_policy_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on trusted accounts, service principals (CloudTrail, Config, log delivery) and Elastic
    Load Balancing's regional log-delivery accounts. A public policy is s3.bucket-policy-public's
    finding, not this one."""
    params = event.request
    document = params.get("bucketPolicy") or params.get("policy")
    exposure = analyze_policy(
        document,
        lambda account: account in ELB_LOG_DELIVERY_ACCOUNTS or ctx.is_trusted_account(account, event),
    )
    if exposure.public or not exposure.external:
        return
    writes = any(_grants_writing(action) for action in exposure.external_actions)
    bucket = _bucket(event)
    hit = external_policy_hit(
        f"Bucket {bucket.label or '(unnamed)'}", bucket, exposure, Severity.HIGH if writes else None
    )
    yield hit._replace(remedy=_remedy(bucket))


def _flags_turned_off(config: dict[str, Any]) -> list[str]:
    """The Block Public Access flags a configuration leaves off.

    S3 treats an omitted flag as false, so a flag counts as off when it is false or absent; a
    value of some other type is unknown and does not count.
    """
    return [flag for flag in BLOCK_FLAGS if config.get(flag) is None or as_bool(config.get(flag)) is False]


@rule(
    id="s3.public-access-block-removed",
    severity=Severity.HIGH,
    on={
        SOURCE: [
            "DeleteBucketPublicAccessBlock",
            "PutBucketPublicAccessBlock",
            "DeleteAccountPublicAccessBlock",
            "PutAccountPublicAccessBlock",
        ]
    },
    title="S3 Block Public Access removed or weakened",
    description=(
        "Block Public Access was deleted or one of its four settings turned off, for a bucket or "
        "for the whole account. It is the guard rail that stops a public ACL or policy from taking "
        "effect; removing it is usually the step right before exposing data."
    ),
    remediation=(
        "Turn all four settings back on: `aws s3api put-public-access-block --bucket <bucket> "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
        "BlockPublicPolicy=true,RestrictPublicBuckets=true` (or `aws s3control "
        "put-public-access-block --account-id <id> ...` at account level), then review the "
        "bucket's ACL and policy."
    ),
    mitre="T1562.007",
    quiet=(
        "Quiet on a configuration that keeps all four settings on (what IaC writes for every new "
        "bucket). Cannot tell: a static website or public dataset bucket that needs its policy "
        "public (use `suppressions` for that bucket; the account-level setting rarely has a reason "
        "to go)."
    ),
)
def public_access_block_removed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    account_level = "Account" in event.event_name
    if account_level:
        target = event.account_resource()
        account = target.id
        label = f"account {account or '(unknown)'}"
        remedy: dict[str, Any] = {"remediation": ACCOUNT_BLOCK_REMEDIATION, "remedy": {"<id>": account}}
    else:
        target = _bucket(event)
        label = f"bucket {target.label or '(unnamed)'}"
        remedy = {"remediation": BUCKET_BLOCK_REMEDIATION, "remedy": _remedy(target)}
    if event.event_name.startswith("Delete"):
        yield Hit(
            summary=f"Block Public Access configuration deleted for {label}",
            resource=target,
            details={"Change": "configuration deleted"},
            **remedy,
        )
        return
    config = event.get_dict("requestParameters", "PublicAccessBlockConfiguration")
    if not config:
        return  # no configuration recorded: nothing to judge
    off = _flags_turned_off(config)
    if off:
        yield Hit(
            summary=f"Block Public Access weakened for {label}: {', '.join(off)} off",
            resource=target,
            details={"Settings off": ", ".join(off)},
            **remedy,
        )


@rule(
    id="s3.encryption-removed",
    routine=True,
    severity=Severity.MEDIUM,
    on={SOURCE: ["DeleteBucketEncryption"]},
    title="S3 bucket default encryption removed",
    description=(
        "A bucket's default encryption configuration was deleted. S3 falls back to SSE-S3, so a "
        "customer-managed KMS key (and the access control and audit it gives) no longer applies "
        "to new objects."
    ),
    remediation=(
        "Restore the configuration (`aws s3api put-bucket-encryption --bucket <bucket> "
        "--server-side-encryption-configuration ...` with the previous KMS key) and check who "
        "removed it."
    ),
    mitre="T1562",
    quiet=(
        "Cannot tell: an IaC change that drops a bucket's explicit encryption block (S3 then keeps "
        "SSE-S3) from the removal of a customer-managed key's encryption; the record does not say "
        "what the bucket had before. Routine by memory for a deploy role that does it again and "
        "again."
    ),
)
def encryption_removed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    bucket = _bucket(event)
    yield Hit(
        summary=f"Default encryption removed from bucket {bucket.label or '(unnamed)'}",
        resource=bucket,
        remedy=_remedy(bucket),
    )


@rule(
    id="s3.logging-or-versioning-off",
    routine=True,
    severity=Severity.LOW,
    on={SOURCE: ["PutBucketLogging", "PutBucketVersioning"]},
    title="S3 access logging removed or versioning suspended",
    description=(
        "Server access logging was turned off for a bucket, or its versioning suspended. Without "
        "access logs reads go unrecorded; without versioning overwritten or deleted objects "
        "cannot be recovered, a common step before ransomware-style deletion."
    ),
    remediation=(
        "Re-enable logging (`aws s3api put-bucket-logging --bucket <bucket> "
        "--bucket-logging-status file://logging.json`) or versioning (`aws s3api "
        "put-bucket-versioning --bucket <bucket> --versioning-configuration Status=Enabled`)."
    ),
    mitre="T1562.008",
    quiet=(
        "Quiet on logging switched on or changed to another target, on versioning enabled, and on "
        "a PutBucketLogging whose body was not recorded. Cannot tell: a scratch or test bucket "
        "whose versioning or logging is turned off on purpose (use `suppressions`, or it is "
        "routine by memory)."
    ),
)
def logging_or_versioning_off(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    bucket = _bucket(event)
    name = bucket.label or "(unnamed)"
    if event.event_name == "PutBucketLogging":
        if "BucketLoggingStatus" not in params:
            return  # shape not recorded: do not guess
        status = params.get("BucketLoggingStatus")
        enabled = status.get("LoggingEnabled") if isinstance(status, dict) else None
        if isinstance(enabled, dict) and enabled:
            return
        yield Hit(
            summary=f"Server access logging removed from bucket {name}",
            resource=bucket,
            remedy=_remedy(bucket),
            details={"Change": "access logging removed"},
        )
        return
    versioning = event.get_str("requestParameters", "VersioningConfiguration", "Status")
    if versioning.strip().lower() == "suspended":
        yield Hit(
            summary=f"Versioning suspended on bucket {name}",
            resource=bucket,
            remedy=_remedy(bucket),
            details={"Change": "versioning suspended"},
        )


# --------------------------------------------------------------------------------------------
# Data destruction and ransomware
# --------------------------------------------------------------------------------------------


@rule(
    id="s3.bucket-deleted",
    severity=Severity.MEDIUM,
    on={SOURCE: ["DeleteBucket"]},
    title="S3 bucket deleted",
    description=(
        "A bucket was deleted. S3 only deletes empty buckets, so its objects were removed first; "
        "and once the name is free anyone can create a bucket of that name and receive whatever "
        "still writes to it (logs, uploads, a CDN origin). Tearing down a stack deletes buckets "
        "too: LOW when automation deletes it, MEDIUM when a person does."
    ),
    remediation=(
        "Confirm the deletion was intended. If not, recreate the bucket at once to hold the name "
        "(`aws s3api create-bucket --bucket <bucket>`), restore from backups or replicas, and "
        "review the DeleteObject calls before it."
    ),
    mitre="T1485",
    escalates_to=(Severity.LOW,),
    quiet=(
        "LOW when automation deletes it (a CloudFormation stack teardown, `invokedBy` "
        "cloudformation.amazonaws.com, or a pipeline's role destroying a short-lived environment); "
        "MEDIUM when a person does it by hand. Not quieter for well-known names: a deleted "
        "`cdk-*-assets-*` or `aws-sam-cli-managed-*` bucket is the one whose predictable name an "
        "outsider can claim. Cannot tell: a person cleaning up their own test bucket (routine by "
        "memory)."
    ),
)
def bucket_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    bucket = _bucket(event)
    by_hand = made_by_person(event)
    yield Hit(
        summary=f"Bucket {bucket.label or '(unnamed)'} deleted" + ("" if by_hand else " by automation"),
        resource=bucket,
        remedy=_remedy(bucket),
        severity=None if by_hand else Severity.LOW,
    )


# A lifecycle rule that expires current objects this soon deletes the data before anyone reviews it.
SHORT_EXPIRY_DAYS = 7
# Noncurrent versions (what versioning keeps of overwritten and deleted objects) gone after a day.
NONCURRENT_EXPIRY_DAYS = 1


def _enabled(rule_config: dict[str, Any]) -> bool:
    status = rule_config.get("Status")
    return isinstance(status, str) and status.strip().lower() == "enabled"


def _filter_layers(rule_config: dict[str, Any]) -> list[dict[str, Any]]:
    """A rule's Filter and the And inside it: where prefix, tag and size conditions sit."""
    conditions = rule_config.get("Filter")
    if not isinstance(conditions, dict):
        return []
    conjunction = conditions.get("And")
    return [conditions, conjunction] if isinstance(conjunction, dict) else [conditions]


def _prefixes(rule_config: dict[str, Any]) -> list[str]:
    """The key prefixes a rule is limited to: the legacy top-level Prefix and the filter's."""
    found = [rule_config.get("Prefix")] + [layer.get("Prefix") for layer in _filter_layers(rule_config)]
    return [prefix for prefix in found if isinstance(prefix, str) and prefix]


def _scope(rule_config: dict[str, Any]) -> str:
    """What a lifecycle or replication rule applies to: '' for the whole bucket, else a label.

    An empty filter (``"Filter": ""`` as CloudTrail writes ``<Filter/>``), an empty prefix, or no
    filter at all means every object; a prefix, tag or size condition narrows it.
    """
    parts = [f"prefix {prefix}" for prefix in _prefixes(rule_config)]
    for layer in _filter_layers(rule_config):
        if layer.get("Tag") or layer.get("Tags"):
            parts.append("tagged objects")
        if layer.get("ObjectSizeGreaterThan") is not None or layer.get("ObjectSizeLessThan") is not None:
            parts.append("objects of some sizes")
    return ", ".join(dict.fromkeys(parts))


# Prefixes that hold throw-away data by convention (temporary files, caches, query results). A rule
# scoped to one of them destroys only what lives there, so the name itself bounds the damage.
SCRATCH_PREFIXES = ("tmp/", "temp/", "scratch/", "cache/", "athena-results/", "athena-query-results/", "query-results/")


def _scratch_only(rule_config: dict[str, Any]) -> bool:
    """Does a lifecycle rule apply only under a scratch prefix? Conditions are ANDed, so one is enough."""
    return any(prefix.lower().startswith(SCRATCH_PREFIXES) for prefix in _prefixes(rule_config))


def _days_until(date_text: str, event_time: str) -> int | None:
    """Whole days from the event to a lifecycle Expiration Date (negative when already past)."""
    from datetime import datetime

    try:
        expires = datetime.fromisoformat(date_text.strip().replace("Z", "+00:00"))
        now = datetime.fromisoformat(event_time.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if (expires.tzinfo is None) != (now.tzinfo is None):
        expires, now = expires.replace(tzinfo=None), now.replace(tzinfo=None)
    return (expires - now).days


def _destructive_expiry(rule_config: dict[str, Any], event_time: str) -> str:
    """Why this lifecycle rule destroys data quickly, or '' when it does not."""
    scope = _scope(rule_config)
    where = f"objects with {scope}" if scope else "every object in the bucket"
    expiration = rule_config.get("Expiration")
    if isinstance(expiration, dict):
        days = as_int(expiration.get("Days"))
        if days is not None and days <= SHORT_EXPIRY_DAYS:
            return f"expires {where} after {days} day{'s' if days != 1 else ''}"
        date = expiration.get("Date")
        date_text = date.strip() if isinstance(date, str) else ""
        until = _days_until(date_text, event_time) if date_text and event_time else None
        if until is not None and until <= SHORT_EXPIRY_DAYS:
            return f"expires {where} on {date_text}"
    noncurrent = rule_config.get("NoncurrentVersionExpiration")
    if isinstance(noncurrent, dict) and not scope:
        days = as_int(noncurrent.get("NoncurrentDays"))
        # Keeping a few newer versions (NewerNoncurrentVersions) is ordinary cost control.
        kept = as_int(noncurrent.get("NewerNoncurrentVersions")) or 0
        if days is not None and days <= NONCURRENT_EXPIRY_DAYS and kept == 0:
            return "deletes every noncurrent version across the whole bucket after 1 day"
    return ""


@rule(
    id="s3.lifecycle-expiry",
    severity=Severity.HIGH,
    on={SOURCE: ["PutBucketLifecycle"]},
    title="S3 lifecycle rule deletes data within days",
    description=(
        "A lifecycle rule now expires current objects after 7 days or fewer, or deletes the whole "
        "bucket's noncurrent versions after a day. S3 then deletes the data by itself, with no "
        "DeleteObject call to notice: a ransomware and evidence-destruction technique. Rules that "
        "expire logs after months, abort incomplete uploads or move objects to cheaper storage are "
        "not reported; a short expiry on a scratch prefix (tmp/, athena-results/...) is MEDIUM, with "
        "its scope in the finding."
    ),
    remediation=(
        "Remove or fix the rule before it runs (S3 applies lifecycle rules about once a day): `aws "
        "s3api get-bucket-lifecycle-configuration --bucket <bucket>`, then put back the intended "
        "configuration or `aws s3api delete-bucket-lifecycle --bucket <bucket>`. Versioning and "
        "Object Lock protect against the next attempt."
    ),
    mitre="T1485.001",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Quiet on expiry after more than 7 days (log retention), on noncurrent-version expiry that "
        "keeps newer versions or takes more than a day, on expired delete markers, incomplete "
        "multipart upload aborts, storage class transitions and disabled rules. MEDIUM when every "
        "fast rule is scoped to a scratch prefix by name (`tmp/`, `temp/`, `scratch/`, `cache/`, "
        "`athena-results/`, `query-results/`): only throw-away data goes. Cannot tell: other "
        "prefixes, or a whole bucket of short-lived data (CI artifacts) expired on purpose (use "
        "`suppressions` for the bucket)."
    ),
)
def lifecycle_expiry(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    config = event.get_dict("requestParameters", "LifecycleConfiguration")
    findings: list[str] = []
    beyond_scratch = False
    for rule_config in items_of(config.get("Rule")):
        if not isinstance(rule_config, dict) or not _enabled(rule_config):
            continue
        why = _destructive_expiry(rule_config, event.event_time)
        if why:
            rule_id = rule_config.get("ID")
            findings.append(f"rule {rule_id} {why}" if isinstance(rule_id, str) and rule_id else f"a rule {why}")
            beyond_scratch = beyond_scratch or not _scratch_only(rule_config)
    if not findings:
        return
    bucket = _bucket(event)
    yield Hit(
        summary=f"Lifecycle on bucket {bucket.label or '(unnamed)'}: {'; '.join(findings)}",
        resource=bucket,
        remedy=_remedy(bucket),
        # Emptying a scratch area daily is housekeeping; the data elsewhere in the bucket stays.
        severity=None if beyond_scratch else Severity.MEDIUM,
        details={"Rules": "; ".join(findings)},
    )


@rule(
    id="s3.replication-external",
    severity=Severity.HIGH,
    on={SOURCE: ["PutBucketReplication"]},
    title="S3 bucket replicated to an external account",
    description=(
        "A replication rule now copies the bucket's new objects to a bucket owned by an account "
        "outside the trusted accounts: every object written from now on leaves the organization, "
        "with no further call to notice. Replication to the organization's own backup accounts "
        "(trusted accounts) is not reported. S3 names the destination's owner only when the rule "
        "says so (Account, needed to hand ownership of replicas over); a rule that omits it cannot "
        "be judged from the event and is not reported."
    ),
    remediation=(
        "Remove the rule (`aws s3api delete-bucket-replication --bucket <bucket>`, or put back the "
        "previous configuration), check what was replicated (S3 replication metrics, the "
        "replication role's activity), and limit s3:PutReplicationConfiguration and the "
        "iam:PassRole of replication roles."
    ),
    mitre="T1537",
    quiet=(
        "Quiet on replication within the account or to trusted accounts (the organization's backup "
        "or DR accounts), on disabled rules, and on rules that do not name the destination's owner "
        "(the record cannot tell whose bucket it is). Cannot tell: a partner's account left out of "
        "`trusted_accounts` (add it there)."
    ),
)
def replication_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    config = event.get_dict("requestParameters", "ReplicationConfiguration")
    outside: list[str] = []
    for rule_config in items_of(config.get("Rule")):
        if not isinstance(rule_config, dict) or not _enabled(rule_config):
            continue
        destination = rule_config.get("Destination")
        if not isinstance(destination, dict):
            continue
        account = destination.get("Account")
        account = str(account) if isinstance(account, int) and not isinstance(account, bool) else account
        if not isinstance(account, str) or not account.strip() or ctx.is_trusted_account(account.strip(), event):
            continue
        target = destination.get("Bucket")
        name = target.rsplit(":", 1)[-1] if isinstance(target, str) else ""
        outside.append(f"{name or '(unnamed bucket)'} in account {account.strip()}")
    if not outside:
        return
    bucket = _bucket(event)
    destinations = ", ".join(dict.fromkeys(outside))
    yield Hit(
        summary=f"Bucket {bucket.label or '(unnamed)'} now replicates to {destinations}",
        resource=bucket,
        remedy=_remedy(bucket),
        details={"Destination": destinations},
    )


SSE_C_HEADER = "x-amz-server-side-encryption-customer-algorithm"


def _customer_key_algorithm(event: CloudTrailEvent) -> str:
    """The SSE-C algorithm a write used: the request header, or S3's own account of it
    (additionalEventData SSEApplied "SSE_C"). A copy's *source* header only decrypts the source."""
    for value in _header_values(event.get("requestParameters", SSE_C_HEADER)):
        if value.strip():
            return value.strip()
    if event.get_str("additionalEventData", "SSEApplied").strip().upper() == "SSE_C":
        return "SSE-C"
    return ""


@rule(
    id="s3.sse-c-write",
    severity=Severity.HIGH,
    on={SOURCE: ["PutObject", "CopyObject"]},
    title="S3 object written with a customer-provided key",
    description=(
        "An object was written or copied with server-side encryption under a customer-provided "
        "key (SSE-C). AWS keeps no copy of that key: without it nobody, the bucket owner included, "
        "can read the object again. Copying a bucket's objects over themselves this way is "
        "ransomware that needs no download. Applications that manage their own keys use SSE-C by "
        "design; suppress their roles by principal. Only recorded when the trail logs S3 data "
        "events."
    ),
    remediation=(
        "Stop the writer (deactivate its credentials) and restore the previous object versions if "
        "versioning is on (`aws s3api list-object-versions --bucket <bucket> --prefix <key>`). "
        "Where nobody needs SSE-C, deny it in the bucket policy (or an SCP/RCP): Deny s3:PutObject "
        'with the condition {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": '
        '"false"}}.'
    ),
    mitre="T1486",
    quiet=(
        "Quiet on SSE-S3 and SSE-KMS writes, and on copies that only read an SSE-C source (the "
        "copy-source key header) into an object the owner can read. Cannot tell: an application "
        "that manages its own keys and writes SSE-C by design (use `suppressions` for its role, or "
        "it is routine by memory)."
    ),
)
def sse_c_write(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    algorithm = _customer_key_algorithm(event)
    if not algorithm:
        return
    bucket = _bucket(event)
    obj = _object(event)
    verb = "copied" if event.event_name == "CopyObject" else "written"
    details = {"Object": obj.label or "unknown", "Encryption": f"customer-provided key ({algorithm})"}
    source = event.get_str("requestParameters", "x-amz-copy-source")
    if source:
        details["Copied from"] = source
    # One finding per bucket and caller: a ransomware run rewrites thousands of objects.
    yield Hit(
        summary=f"Object {obj.label or '(unknown)'} {verb} with a customer-provided key (SSE-C): "
        "only the key's holder can read it",
        resource=bucket,
        remedy={**_remedy(bucket), "<key>": event.get_str("requestParameters", "key")},
        details=details,
    )
