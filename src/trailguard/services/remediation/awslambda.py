"""Lambda: a resource-based permission open to everyone; a function URL with no authentication."""

from __future__ import annotations

import json
from typing import Any

from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, error_code, tag_map


def _function(target: Target) -> tuple[str, dict[str, Any]]:
    """The function's name (or ARN) and its qualifier, as the event gave them."""
    name = as_text(target.request.get("functionName"))
    if not name:
        raise NotRemediable("the event names no function")
    qualifier = as_text(target.request.get("qualifier"))
    return name, ({"Qualifier": qualifier} if qualifier else {})


def _tags(target: Target, name: str) -> dict[str, str]:
    return tag_map(target.read("lambda", "GetFunction", FunctionName=name).get("Tags"))


@action(
    "lambda.permission-public",
    "lambda",
    ("lambda:GetFunction", "lambda:GetPolicy", "lambda:RemovePermission"),
    "remove the permission statement the event added (RemovePermission of its statement id), nothing else",
)
def remove_public_permission(target: Target) -> Plan:
    name, qualifier = _function(target)
    sid = as_text(target.request.get("statementId"))
    if not sid:
        raise NotRemediable("the event names no statement id")
    tags = _tags(target, name)
    try:
        policy = json.loads(target.read("lambda", "GetPolicy", FunctionName=name, **qualifier)["Policy"])
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return Plan(name, tags=tags, reason=f"{name} has no policy any more")
        raise
    sids = {as_text(statement.get("Sid")) for statement in policy.get("Statement", ()) if isinstance(statement, dict)}
    if sid not in sids:
        return Plan(name, tags=tags, reason=f"statement {sid} is gone from {name}")
    call = Call(
        "lambda",
        "RemovePermission",
        {"FunctionName": name, "StatementId": sid, **qualifier},
        f"removed statement {sid} from {name}",
    )
    return Plan(name, (call,), tags)


@action(
    "lambda.function-url-public",
    "lambda",
    ("lambda:GetFunction", "lambda:GetFunctionUrlConfig", "lambda:UpdateFunctionUrlConfig"),
    "set the function URL's auth type to AWS_IAM (the URL stays; callers now need IAM credentials)",
)
def require_iam_for_url(target: Target) -> Plan:
    name, qualifier = _function(target)
    tags = _tags(target, name)
    try:
        config = target.read("lambda", "GetFunctionUrlConfig", FunctionName=name, **qualifier)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return Plan(name, tags=tags, reason=f"{name} has no function URL any more")
        raise
    if config.get("AuthType") != "NONE":
        return Plan(name, tags=tags)
    call = Call(
        "lambda",
        "UpdateFunctionUrlConfig",
        {"FunctionName": name, "AuthType": "AWS_IAM", **qualifier},
        f"set the function URL of {name} to AuthType AWS_IAM",
    )
    return Plan(name, (call,), tags)
