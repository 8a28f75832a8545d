"""EC2: security group rules opened to the world; snapshots and AMIs made public."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trailguard.core.event_types import as_text, items_of
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, error_code, tag_map

_GROUP_GONE = ("InvalidGroup.NotFound", "InvalidGroupId.Malformed")


def _ids(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or ())
    return [text for text in (as_text(v) for v in values) if text]


@action(
    "sg.ingress-open-to-world",
    "ec2",
    ("ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:RevokeSecurityGroupIngress"),
    "revoke the inbound rules the event added that are open to the world (by securityGroupRuleId), nothing else",
)
def revoke_world_ingress(target: Target) -> Plan:
    finding = target.finding
    if finding.event_name == "ModifySecurityGroupRules":
        raise NotRemediable(
            "ModifySecurityGroupRules rewrote an existing rule whose earlier content the event does not hold; "
            "narrow it by hand"
        )
    group = as_text(finding.remedy.get("<sg>")) or finding.resource.id
    wanted = _ids(finding.remedy.get("<sgr>"))
    if not group.startswith("sg-") or not wanted:
        raise NotRemediable("the event names no security group rule id (securityGroupRuleSet) to revoke")
    try:
        groups = target.read("ec2", "DescribeSecurityGroups", GroupIds=[group])["SecurityGroups"]
    except Exception as exc:
        if error_code(exc) in _GROUP_GONE:
            return Plan(group, reason=f"security group {group} no longer exists")
        raise
    tags = tag_map(groups[0].get("Tags") if groups else ())
    pages = target.client("ec2").get_paginator("describe_security_group_rules")
    present = {
        rule["SecurityGroupRuleId"]
        for page in pages.paginate(Filters=[{"Name": "group-id", "Values": [group]}])
        for rule in page.get("SecurityGroupRules", ())
        if not rule.get("IsEgress")
    }
    revoke = [rule_id for rule_id in wanted if rule_id in present]
    if not revoke:
        return Plan(group, tags=tags, reason=f"the rules the event added ({', '.join(wanted)}) are gone from {group}")
    call = Call(
        "ec2",
        "RevokeSecurityGroupIngress",
        {"GroupId": group, "SecurityGroupRuleIds": revoke},
        f"revoked {', '.join(revoke)} of {group}",
    )
    return Plan(group, (call,), tags)


def _added(target: Target, attribute: str) -> tuple[bool, list[str]]:
    """(``group: all`` was added, the account ids added) of a ``<attribute>.add`` request."""
    permission = target.request.get(attribute)
    added = permission.get("add") if isinstance(permission, Mapping) else None
    public, accounts = False, []
    for item in items_of(added):
        if not isinstance(item, Mapping):
            continue
        if as_text(item.get("group")).lower() == "all":
            public = True
        user = as_text(item.get("userId"))
        if user:
            accounts.append(user)
    return public, accounts


def _untrusted(target: Target, accounts: list[str]) -> list[str]:
    own = target.finding.account_id
    return [account for account in dict.fromkeys(accounts) if account != own and account not in target.trusted]


def _permission_plan(  # noqa: PLR0917 - the two image kinds differ only in these names
    target: Target,
    resource: str,
    request_attribute: str,
    describe: str,
    describe_id: str,
    attribute: str,
    result_key: str,
    modify: str,
    tags: dict[str, str],
) -> Plan:
    public, accounts = _added(target, request_attribute)
    current = target.read("ec2", describe, **{describe_id: resource, "Attribute": attribute})
    granted = current.get(result_key) or []
    still_public = public and any(as_text(p.get("Group")).lower() == "all" for p in granted)
    present = {as_text(p.get("UserId")) for p in granted}
    remove_accounts = [a for a in _untrusted(target, accounts) if a in present]
    removal: list[dict[str, str]] = [{"Group": "all"}] if still_public else []
    removal += [{"UserId": account} for account in remove_accounts]
    if not removal:
        return Plan(resource, tags=tags)
    what = " and ".join(
        part for part in ("the public permission" if still_public else "", ", ".join(remove_accounts)) if part
    )
    params: dict[str, Any] = {describe_id: resource}
    if modify == "ModifySnapshotAttribute":
        # The OperationType form (GroupNames is only ever "all"): as valid as CreateVolumePermission's
        # Remove list, and the one moto implements.
        params.update(Attribute=attribute, OperationType="remove")
        if still_public:
            params["GroupNames"] = ["all"]
        if remove_accounts:
            params["UserIds"] = remove_accounts
    else:
        params["LaunchPermission"] = {"Remove": removal}
    return Plan(resource, (Call("ec2", modify, params, f"removed {what} from {resource}"),), tags)


@action(
    "ec2.snapshot-public",
    "ec2",
    ("ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute"),
    "remove the public createVolumePermission (and accounts outside trusted_accounts) the event added",
)
def unshare_snapshot(target: Target) -> Plan:
    snapshot = as_text(target.request.get("snapshotId")) or target.finding.resource.id
    snapshots = target.read("ec2", "DescribeSnapshots", SnapshotIds=[snapshot])["Snapshots"]
    tags = tag_map(snapshots[0].get("Tags") if snapshots else ())
    return _permission_plan(
        target,
        snapshot,
        "createVolumePermission",
        "DescribeSnapshotAttribute",
        "SnapshotId",
        "createVolumePermission",
        "CreateVolumePermissions",
        "ModifySnapshotAttribute",
        tags,
    )


@action(
    "ec2.ami-public",
    "ec2",
    ("ec2:DescribeImages", "ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute"),
    "remove the public launchPermission (and accounts outside trusted_accounts) the event added",
)
def unshare_image(target: Target) -> Plan:
    image = as_text(target.request.get("imageId")) or target.finding.resource.id
    images = target.read("ec2", "DescribeImages", ImageIds=[image])["Images"]
    tags = tag_map(images[0].get("Tags") if images else ())
    return _permission_plan(
        target,
        image,
        "launchPermission",
        "DescribeImageAttribute",
        "ImageId",
        "launchPermission",
        "LaunchPermissions",
        "ModifyImageAttribute",
        tags,
    )
