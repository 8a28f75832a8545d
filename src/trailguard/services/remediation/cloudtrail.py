"""CloudTrail: a trail stopped logging."""

from __future__ import annotations

from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, tag_map


@action(
    "cloudtrail.logging-stopped",
    "cloudtrail",
    ("cloudtrail:GetTrailStatus", "cloudtrail:ListTags", "cloudtrail:StartLogging"),
    "start the trail's logging again (StartLogging); the events missed meanwhile are not recovered",
)
def start_logging(target: Target) -> Plan:
    name = as_text(target.request.get("name")) or target.finding.resource.arn or target.finding.resource.id
    if not name:
        raise NotRemediable("the event names no trail")
    status = target.read("cloudtrail", "GetTrailStatus", Name=name)
    tags: dict[str, str] = {}
    if name.startswith("arn:"):
        listed = target.read("cloudtrail", "ListTags", ResourceIdList=[name]).get("ResourceTagList") or []
        tags = tag_map(listed[0].get("TagsList") if listed else ())
    if status.get("IsLogging"):
        return Plan(name, tags=tags)
    return Plan(name, (Call("cloudtrail", "StartLogging", {"Name": name}, f"started logging of {name}"),), tags)
