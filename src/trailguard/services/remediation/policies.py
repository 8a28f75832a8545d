"""Resource policies made public: SQS queues, SNS topics, Secrets Manager secrets, ECR repositories.

Each action removes the policy's public statements (as ``core.policy`` judges them, the rules'
own judgement) and keeps every other statement; the removed text goes into the finding's history.
A policy left with no statement is deleted (SQS: set to empty), except SNS's, which a topic cannot
be without: that one is left for a person to narrow. Sharing with named accounts is not undone.
"""

from __future__ import annotations

import json
from typing import Any

from trailguard.core.event_types import as_text
from trailguard.services.remediation.base import Call, NotRemediable, Plan, Target, action, error_code, tag_map

NO_PUBLIC_STATEMENT = "no statement of its policy is public any more (sharing with named accounts is not undone)"


def _public_statements(target: Target, statements: list[Any]) -> list[int]:
    """Indexes of the statements that open the resource to the world, by core.policy's judgement."""
    from trailguard.core.policy import analyze_policy

    def trusted(account: str) -> bool:
        return account == target.finding.account_id or account in target.trusted

    return [
        index
        for index, statement in enumerate(statements)
        if analyze_policy({"Version": "2012-10-17", "Statement": [statement]}, trusted).public
    ]


def split_policy(target: Target, text: str) -> tuple[dict[str, Any] | None, str]:
    """(the policy without its public statements, or None when none is left; the removed text),
    or (the policy unchanged, "") when no statement is public."""
    from trailguard.core.policy import load_policy, statements

    policy = load_policy(text)
    if policy is None:
        raise NotRemediable("the resource's policy cannot be read as JSON")
    current = statements(policy)
    public = _public_statements(target, current)
    if not public:
        return policy, ""
    removed = json.dumps([current[index] for index in public], separators=(",", ":"))
    kept = [statement for index, statement in enumerate(current) if index not in public]
    if not kept:
        return None, removed
    return {**policy, "Statement": kept}, removed


def _compact(policy: dict[str, Any]) -> str:
    return json.dumps(policy, separators=(",", ":"))


# -- SQS --------------------------------------------------------------------------------------


@action(
    "sqs.queue-policy-public",
    "policies",
    ("sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:SetQueueAttributes"),
    "remove the queue policy's public statements, keep the others (removed text in the history)",
)
def unshare_queue(target: Target) -> Plan:
    url = as_text(target.request.get("queueUrl")) or as_text(target.response.get("queueUrl"))
    if not url:
        raise NotRemediable("the event names no queue URL")
    sqs = "sqs"
    text = target.read(sqs, "GetQueueAttributes", QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    tags = tag_map(target.read(sqs, "ListQueueTags", QueueUrl=url).get("Tags"))
    policy = text.get("Policy")
    if not policy:
        return Plan(url, tags=tags, reason="the queue has no policy any more")
    kept, removed = split_policy(target, policy)
    if not removed:
        return Plan(url, tags=tags, reason=NO_PUBLIC_STATEMENT)
    value = _compact(kept) if kept is not None else ""
    call = Call(
        sqs,
        "SetQueueAttributes",
        {"QueueUrl": url, "Attributes": {"Policy": value}},
        f"removed public statements from {url}",
    )
    return Plan(url, (call,), tags, removed=removed)


# -- SNS --------------------------------------------------------------------------------------


@action(
    "sns.topic-policy-public",
    "policies",
    ("sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:SetTopicAttributes"),
    "remove the topic policy's public statements, keep the others (a topic left with none is for a person)",
)
def unshare_topic(target: Target) -> Plan:
    arn = as_text(target.request.get("topicArn")) or as_text(target.response.get("topicArn"))
    if not arn:
        raise NotRemediable("the event names no topic")
    attributes = target.read("sns", "GetTopicAttributes", TopicArn=arn).get("Attributes", {})
    tags = tag_map(target.read("sns", "ListTagsForResource", ResourceArn=arn).get("Tags"))
    kept, removed = split_policy(target, attributes.get("Policy") or "{}")
    if not removed:
        return Plan(arn, tags=tags, reason=NO_PUBLIC_STATEMENT)
    if kept is None:
        return Plan(
            arn,
            tags=tags,
            reason="every statement of the topic policy is public and a topic needs one: narrow it by hand",
        )
    call = Call(
        "sns",
        "SetTopicAttributes",
        {"TopicArn": arn, "AttributeName": "Policy", "AttributeValue": _compact(kept)},
        f"removed public statements from {arn}",
    )
    return Plan(arn, (call,), tags, removed=removed)


# -- Secrets Manager --------------------------------------------------------------------------


@action(
    "secretsmanager.policy-public",
    "policies",
    (
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:DeleteResourcePolicy",
    ),
    "remove the secret policy's public statements, keep the others (removed text in the history)",
)
def unshare_secret(target: Target) -> Plan:
    secret = as_text(target.request.get("secretId"))
    if not secret:
        raise NotRemediable("the event names no secret")
    tags = tag_map(target.read("secretsmanager", "DescribeSecret", SecretId=secret).get("Tags"))
    policy = target.read("secretsmanager", "GetResourcePolicy", SecretId=secret).get("ResourcePolicy")
    if not policy:
        return Plan(secret, tags=tags, reason="the secret has no policy any more")
    kept, removed = split_policy(target, policy)
    if not removed:
        return Plan(secret, tags=tags, reason=NO_PUBLIC_STATEMENT)
    if kept is None:
        call = Call(
            "secretsmanager",
            "DeleteResourcePolicy",
            {"SecretId": secret},
            f"deleted the policy of {secret} (all public)",
        )
    else:
        call = Call(
            "secretsmanager",
            "PutResourcePolicy",
            {"SecretId": secret, "ResourcePolicy": _compact(kept)},
            f"removed public statements from {secret}",
        )
    return Plan(secret, (call,), tags, removed=removed)


# -- ECR --------------------------------------------------------------------------------------


@action(
    "ecr.repository-public",
    "policies",
    (
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",
        "ecr:GetRepositoryPolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:DeleteRepositoryPolicy",
    ),
    "remove the repository policy's public statements, keep the others (ECR Public repositories are left alone)",
)
def unshare_repository(target: Target) -> Plan:
    if target.finding.event_source != "ecr.amazonaws.com":
        raise NotRemediable("an ECR Public repository is public by design: delete it by hand if it should not exist")
    name = as_text(target.request.get("repositoryName"))
    if not name:
        raise NotRemediable("the event names no repository")
    (repository,) = target.read("ecr", "DescribeRepositories", repositoryNames=[name])["repositories"]
    tags = tag_map(target.read("ecr", "ListTagsForResource", resourceArn=repository["repositoryArn"]).get("tags"))
    try:
        policy = target.read("ecr", "GetRepositoryPolicy", repositoryName=name)["policyText"]
    except Exception as exc:
        if error_code(exc) == "RepositoryPolicyNotFoundException":
            return Plan(name, tags=tags, reason="the repository has no policy any more")
        raise
    kept, removed = split_policy(target, policy)
    if not removed:
        return Plan(name, tags=tags, reason=NO_PUBLIC_STATEMENT)
    if kept is None:
        call = Call(
            "ecr", "DeleteRepositoryPolicy", {"repositoryName": name}, f"deleted the policy of {name} (all public)"
        )
    else:
        call = Call(
            "ecr",
            "SetRepositoryPolicy",
            {"repositoryName": name, "policyText": _compact(kept)},
            f"removed public statements from {name}",
        )
    return Plan(name, (call,), tags, removed=removed)
