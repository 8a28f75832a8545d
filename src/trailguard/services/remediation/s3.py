"""S3: Block Public Access turned off; bucket policies and ACLs made public."""

from __future__ import annotations

import json
from typing import Any

from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, error_code, tag_map
from trailguard.services.remediation.policies import NO_PUBLIC_STATEMENT, split_policy

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
BLOCK_ALL = dict.fromkeys(FLAGS, True)
PUBLIC_GROUP_URIS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _bucket(target: Target) -> str:
    name = as_text(target.request.get("bucketName")) or target.finding.resource.id
    if not name:
        raise NotRemediable("the event names no bucket")
    return name


def bucket_tags(target: Target, bucket: str) -> dict[str, str]:
    try:
        return tag_map(target.read("s3", "GetBucketTagging", Bucket=bucket).get("TagSet"))
    except Exception as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise


def _current_block(target: Target, service: str, **where: str) -> dict[str, Any]:
    try:
        configuration = target.read(service, "GetPublicAccessBlock", **where)["PublicAccessBlockConfiguration"]
    except Exception as exc:
        if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return {}
        raise
    return dict(configuration)


@action(
    "s3.public-access-block-removed",
    "s3",
    (
        "s3:GetBucketTagging",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
    ),
    "turn all four Block Public Access flags back on, for the bucket or the account the event changed",
)
def restore_public_access_block(target: Target) -> Plan:
    event_name = target.finding.event_name
    if "Account" in event_name:
        account = target.finding.account_id
        current = _current_block(target, "s3control", AccountId=account)
        if all(current.get(flag) is True for flag in FLAGS):
            return Plan(f"account {account}")
        call = Call(
            "s3control",
            "PutPublicAccessBlock",
            {"AccountId": account, "PublicAccessBlockConfiguration": BLOCK_ALL},
            f"turned Block Public Access back on for account {account}",
        )
        return Plan(f"account {account}", (call,))  # an account has no tags to exempt it
    bucket = _bucket(target)
    tags = bucket_tags(target, bucket)
    current = _current_block(target, "s3", Bucket=bucket)
    if all(current.get(flag) is True for flag in FLAGS):
        return Plan(bucket, tags=tags)
    call = Call(
        "s3",
        "PutPublicAccessBlock",
        {"Bucket": bucket, "PublicAccessBlockConfiguration": BLOCK_ALL},
        f"turned Block Public Access back on for bucket {bucket}",
    )
    return Plan(bucket, (call,), tags)


@action(
    "s3.bucket-policy-public",
    "s3",
    ("s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    "remove the public statements of the bucket policy, keep the others (the removed text goes into the history)",
)
def remove_public_bucket_statements(target: Target) -> Plan:
    bucket = _bucket(target)
    tags = bucket_tags(target, bucket)
    try:
        text = target.read("s3", "GetBucketPolicy", Bucket=bucket)["Policy"]
    except Exception as exc:
        if error_code(exc) == "NoSuchBucketPolicy":
            return Plan(bucket, tags=tags, reason=f"bucket {bucket} has no policy any more")
        raise
    kept, removed = split_policy(target, text)
    if not removed:
        return Plan(bucket, tags=tags, reason=NO_PUBLIC_STATEMENT)
    if kept is None:
        call = Call("s3", "DeleteBucketPolicy", {"Bucket": bucket}, f"deleted the policy of {bucket} (all public)")
    else:
        document = json.dumps(kept, separators=(",", ":"))
        call = Call(
            "s3", "PutBucketPolicy", {"Bucket": bucket, "Policy": document}, f"removed public statements from {bucket}"
        )
    return Plan(bucket, (call,), tags, removed=removed)


@action(
    "s3.bucket-acl-public",
    "s3",
    ("s3:GetBucketTagging", "s3:GetBucketAcl", "s3:PutBucketAcl"),
    "remove the ACL grants to AllUsers and AuthenticatedUsers, keep the others (removed grants go into the history)",
)
def remove_public_bucket_grants(target: Target) -> Plan:
    bucket = _bucket(target)
    tags = bucket_tags(target, bucket)
    acl = target.read("s3", "GetBucketAcl", Bucket=bucket)
    grants = acl.get("Grants") or []
    public = [g for g in grants if as_text((g.get("Grantee") or {}).get("URI")) in PUBLIC_GROUP_URIS]
    if not public:
        return Plan(bucket, tags=tags)
    kept = [g for g in grants if g not in public]
    removed = json.dumps(public, separators=(",", ":"))
    call = Call(
        "s3",
        "PutBucketAcl",
        {"Bucket": bucket, "AccessControlPolicy": {"Grants": kept, "Owner": acl["Owner"]}},
        f"removed {len(public)} public grant(s) from {bucket}",
    )
    return Plan(bucket, (call,), tags, removed=removed)
