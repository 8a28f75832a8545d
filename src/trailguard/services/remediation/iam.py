"""IAM: an access key created for another user (the rule's HIGH case): deactivated, never deleted."""

from __future__ import annotations

from trailguard.core.enums import Severity
from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, tag_map


@action(
    "iam.access-key-created",
    "iam",
    ("iam:ListAccessKeys", "iam:ListUserTags", "iam:UpdateAccessKey"),
    "deactivate (never delete) a key created for another user; a user's own key and root's keys are left alone",
)
def deactivate_key(target: Target) -> Plan:
    finding = target.finding
    key = as_text(finding.remedy.get("<key>"))
    user = as_text(target.request.get("userName"))
    if not user:
        # Root's own keys can be changed only with root's credentials, never by a role.
        raise NotRemediable(
            "a key of the root user can be deactivated only by root: sign in as root and deactivate it"
            if finding.severity is Severity.CRITICAL
            else "the caller created a key for itself (not the suspicious kind)"
        )
    if finding.severity < Severity.HIGH or not key:
        raise NotRemediable("the caller created a key for itself (not the suspicious kind)")
    tags = tag_map(target.read("iam", "ListUserTags", UserName=user).get("Tags"))
    keys = target.read("iam", "ListAccessKeys", UserName=user).get("AccessKeyMetadata", [])
    status = {item.get("AccessKeyId"): item.get("Status") for item in keys}
    if key not in status:
        return Plan(f"{key} of {user}", tags=tags, reason=f"key {key} of {user} no longer exists")
    if status[key] != "Active":
        return Plan(f"{key} of {user}", tags=tags)
    call = Call(
        "iam",
        "UpdateAccessKey",
        {"UserName": user, "AccessKeyId": key, "Status": "Inactive"},
        f"deactivated access key {key} of {user}",
    )
    return Plan(f"{key} of {user}", (call,), tags)
