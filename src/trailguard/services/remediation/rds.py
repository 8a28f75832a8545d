"""RDS: an instance made publicly accessible; a snapshot shared with everyone."""

from __future__ import annotations

from typing import Any

from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, tag_map


def _tags(target: Target, arn: str) -> dict[str, str]:
    return tag_map(target.read("rds", "ListTagsForResource", ResourceName=arn).get("TagList"))


@action(
    "rds.instance-public",
    "rds",
    ("rds:DescribeDBInstances", "rds:ListTagsForResource", "rds:ModifyDBInstance"),
    "set PubliclyAccessible back to false (ApplyImmediately); nothing else of the instance",
)
def make_instance_private(target: Target) -> Plan:
    name = as_text(target.request.get("dBInstanceIdentifier")) or target.finding.resource.id
    if not name:
        raise NotRemediable("the event names no DB instance")
    (instance,) = target.read("rds", "DescribeDBInstances", DBInstanceIdentifier=name)["DBInstances"]
    tags = _tags(target, instance["DBInstanceArn"])
    if not instance.get("PubliclyAccessible"):
        return Plan(name, tags=tags)
    call = Call(
        "rds",
        "ModifyDBInstance",
        {"DBInstanceIdentifier": name, "PubliclyAccessible": False, "ApplyImmediately": True},
        f"made {name} not publicly accessible",
    )
    return Plan(name, (call,), tags)


@action(
    "rds.snapshot-public",
    "rds",
    (
        "rds:DescribeDBSnapshotAttributes",
        "rds:DescribeDBSnapshots",
        "rds:ModifyDBSnapshotAttribute",
        "rds:DescribeDBClusterSnapshotAttributes",
        "rds:DescribeDBClusterSnapshots",
        "rds:ModifyDBClusterSnapshotAttribute",
        "rds:ListTagsForResource",
    ),
    'remove "all" (and accounts outside trusted_accounts) from the restore attribute, as the event added them',
)
def unshare_db_snapshot(target: Target) -> Plan:
    cluster = "Cluster" in target.finding.event_name
    kind = "DBClusterSnapshot" if cluster else "DBSnapshot"
    id_key = f"{kind}Identifier"
    name = as_text(target.request.get("dBClusterSnapshotIdentifier" if cluster else "dBSnapshotIdentifier"))
    if not name:
        raise NotRemediable("the event names no snapshot")
    added = [as_text(v) for v in target.request.get("valuesToAdd") or () if as_text(v)]
    (snapshot,) = target.read("rds", f"Describe{kind}s", **{id_key: name})[f"{kind}s"]
    tags = _tags(target, snapshot[f"{kind}Arn"])
    result: dict[str, Any] = target.read("rds", f"Describe{kind}Attributes", **{id_key: name})[
        f"{kind}AttributesResult"
    ]
    present = {
        value
        for attribute in result.get(f"{kind}Attributes", ())
        if attribute.get("AttributeName") == "restore"
        for value in attribute.get("AttributeValues", ())
    }
    own = target.finding.account_id
    remove = [
        value
        for value in dict.fromkeys(added)
        if value in present and (value == "all" or (value != own and value not in target.trusted))
    ]
    if not remove:
        return Plan(name, tags=tags)
    call = Call(
        "rds",
        f"Modify{kind}Attribute",
        {id_key: name, "AttributeName": "restore", "ValuesToRemove": remove},
        f"removed {', '.join(remove)} from the restore attribute of {name}",
    )
    return Plan(name, (call,), tags)
