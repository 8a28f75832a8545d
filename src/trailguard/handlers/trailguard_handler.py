"""trailguard protects itself: changes to its own pipeline by anyone but its deployer. An intruder who
knows the account is watched silences the watcher first: disables the EventBridge rules, deletes or
freezes the function (concurrency 0), detaches or purges its queue, deletes its table, or replaces
the SMTP secret or the sender identity its alerts need. Which resources are trailguard's comes from
the ``self_resources`` setting (names or ARNs, globs), which infra/template.yaml fills in with the
stack's own; ``self_deployer`` names the principal whose deployments change them legitimately. Each
service names the resource its own way: EventBridge a rule (``name``/``rule``) or an event bus
(``eventBusName``), Lambda a function (``functionName``) or an event source mapping (``uUID``, with
the function and queue ARNs in the response), SQS a queue URL, DynamoDB a table name or ARN,
Secrets Manager a name, partial ARN or full ARN (``secretId``), SES an identity.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from trailguard.core.aws_ids import SECRET_ARN_SUFFIX, SQS_QUEUE_URL
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.handlers.eventbridge_handler import DEFAULT_BUS, rule_resource
from trailguard.handlers.lambda_handler import _change_details, _function
from trailguard.handlers.ses_handler import identity_resource
from trailguard.handlers.tamper_handler import is_access_denied

EVENTS = "events.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
SQS = "sqs.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"
SECRETS_MANAGER = "secretsmanager.amazonaws.com"
SES = "ses.amazonaws.com"
SSM = "ssm.amazonaws.com"


class Touched(NamedTuple):
    """What a call does to which resource, and every name or ARN the resource is known by."""

    resource: Resource
    change: str
    identifiers: tuple[str, ...]
    details: dict[str, str]


def _touching(
    resource: Resource, change: str, details: dict[str, str] | None = None, also: tuple[str, ...] = ()
) -> Touched:
    return Touched(resource, change, (resource.id, resource.arn, *also), details or {})


def _events(event: CloudTrailEvent) -> Touched | None:
    name = event.event_name
    if name in ("PutPermission", "RemovePermission"):
        bus = event.get_str("requestParameters", "eventBusName") or DEFAULT_BUS
        arn = bus if bus.startswith("arn:") else event.arn("events", f"event-bus/{bus}")
        statement = event.get_str("requestParameters", "statementId")
        if name == "RemovePermission":
            every = event.get_bool("requestParameters", "removeAllPermissions")
            change = "every permission removed" if every else "permission removed"
        else:
            change = "policy replaced" if event.get("requestParameters", "policy") else "permission changed"
        bus_resource = Resource(type="AWS::Events::EventBus", id=bus.rsplit("/", 1)[-1], arn=arn)
        return _touching(bus_resource, change, {"Statement": statement} if statement else {})
    target = rule_resource(event)
    details: dict[str, str] = {}
    if name == "PutRule":
        state = event.get_str("requestParameters", "state")
        if state:
            details["State"] = state
        change = "rule replaced" + (f" (state {state})" if state else "")
    elif name == "PutTargets":
        targets = [t for t in event.get_list("requestParameters", "targets") if isinstance(t, dict)]
        arns = [t["arn"] for t in targets if isinstance(t.get("arn"), str)]
        if arns:
            details["Targets"] = ", ".join(arns)
        change = "targets put"
    elif name == "RemoveTargets":
        change = "targets removed"
    else:
        change = "disabled" if name == "DisableRule" else "deleted"
    return _touching(target, change, details)


def _lambda(event: CloudTrailEvent) -> Touched | None:
    name = event.event_name
    if name.startswith(("DeleteEventSourceMapping", "UpdateEventSourceMapping")):
        if name.startswith("UpdateEventSourceMapping") and event.get_bool("requestParameters", "enabled") is not False:
            return None  # batch size, scaling... only switching it off stops the pipeline
        uuid = event.get_str("requestParameters", "uUID")
        function_arn = event.get_str("responseElements", "functionArn")
        source_arn = event.get_str("responseElements", "eventSourceArn")
        details = {key: value for key, value in (("Function", function_arn), ("Event source", source_arn)) if value}
        change = "deleted" if name.startswith("Delete") else "disabled"
        arn = event.arn("lambda", f"event-source-mapping:{uuid}") if uuid else ""
        mapping = Resource(type="AWS::Lambda::EventSourceMapping", id=uuid, arn=arn)
        return _touching(mapping, change, details, also=(function_arn, source_arn))
    function = _function(event)
    if name.startswith("PutFunctionConcurrency"):
        if event.get_int("requestParameters", "reservedConcurrentExecutions") != 0:
            return None
        return _touching(function, "reserved concurrency set to 0 (it can no longer run)")
    if name.startswith("DeleteFunction"):
        return _touching(function, "deleted")
    change, details = _change_details(event)
    return _touching(function, change, details)


def _queue(event: CloudTrailEvent) -> Touched | None:
    url = event.get_str("requestParameters", "queueUrl")
    match = SQS_QUEUE_URL.fullmatch(url)
    name = match.group(2) if match else url.rstrip("/").rsplit("/", 1)[-1]
    arn = event.arn("sqs", name, account=match.group(1)) if match else ""
    if event.event_name == "SetQueueAttributes":
        attributes = event.get_dict("requestParameters", "attributes")
        change = "attributes changed" + (f" ({', '.join(sorted(attributes))})" if attributes else "")
    else:
        change = "deleted" if event.event_name == "DeleteQueue" else "purged (its waiting events are gone)"
    return _touching(Resource(type="AWS::SQS::Queue", id=name, arn=arn), change, also=(url,))


def _table(event: CloudTrailEvent) -> Touched | None:
    given = event.get_str("requestParameters", "tableName")
    arn = event.get_str("responseElements", "tableDescription", "tableArn")
    if given.startswith("arn:"):
        arn = arn or given
        given = given.rsplit("/", 1)[-1]
    if not arn and given:
        arn = event.arn("dynamodb", f"table/{given}")
    return _touching(Resource(type="AWS::DynamoDB::Table", id=given, arn=arn), "deleted")


def _secret(event: CloudTrailEvent, ctx: RuleContext) -> Touched | None:
    given = event.get_str("requestParameters", "secretId")
    if given.startswith("arn:"):
        partial = given  # a full ARN, or a partial one without the suffix
        name = given.split(":secret:", 1)[-1]
    else:
        name = given
        partial = event.arn("secretsmanager", f"secret:{given}") if given else ""
    arn = event.get_str("responseElements", "arn") or event.get_str("responseElements", "aRN") or partial
    # A secret given by name or partial ARN is one of trailguard's when a configured ARN is that ARN
    # plus Secrets Manager's suffix: compared exactly, so that text in the call never acts as a glob.
    suffixed = tuple(
        entry
        for entry in ctx.self_resources
        if partial and entry.startswith(partial + "-") and SECRET_ARN_SUFFIX.fullmatch(entry[len(partial) :])
    )
    if event.event_name == "DeleteSecret":
        force = event.get_bool("requestParameters", "forceDeleteWithoutRecovery")
        change = "deleted without recovery" if force else "scheduled for deletion"
    else:
        change = "value replaced"
    secret = Resource(type="AWS::SecretsManager::Secret", id=event.get_str("responseElements", "name") or name, arn=arn)
    return _touching(secret, change, also=(given, partial, *suffixed))


def _parameter_arn(event: CloudTrailEvent, name: str) -> str:
    if name.startswith("arn:"):
        return name
    # "parameter" + the name when it starts with "/", else "parameter/" + the name.
    return event.arn("ssm", "parameter" + ("" if name.startswith("/") else "/") + name)


def _parameter(event: CloudTrailEvent) -> Touched | None:
    """The function's configuration when it lives in Parameter Store (``TRAILGUARD_CONFIG=ssm:/...``)."""
    listed = event.get_list("requestParameters", "names") or [event.get_str("requestParameters", "name")]
    names = [name for name in listed if isinstance(name, str) and name]
    if not names:
        return None
    given, others = names[0], names[1:]
    name = given.split(":parameter", 1)[-1] if given.startswith("arn:") else given
    deleted = event.event_name != "PutParameter"
    change = ("deleted" if deleted else "value replaced") + " (the function reads its settings from it)"
    also = (*others, *(_parameter_arn(event, other) for other in others))
    parameter = Resource(type="AWS::SSM::Parameter", id=name, arn=_parameter_arn(event, given))
    return _touching(parameter, change, also=also)


def _identity(event: CloudTrailEvent) -> Touched | None:
    return _touching(identity_resource(event), "deleted (alerts cannot be sent from it)")


_KINDS = {
    "AWS::Events::Rule": "EventBridge rule",
    "AWS::Events::EventBus": "event bus",
    "AWS::Lambda::Function": "function",
    "AWS::Lambda::EventSourceMapping": "queue trigger",
    "AWS::SQS::Queue": "queue",
    "AWS::DynamoDB::Table": "table",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SES::EmailIdentity": "sender identity",
    "AWS::SSM::Parameter": "configuration parameter",
}


def what_changed(event: CloudTrailEvent, ctx: RuleContext) -> Touched | None:
    """The resource a watched call changes, or None when the call cannot stop the pipeline."""
    source = event.event_source
    if source == EVENTS:
        return _events(event)
    if source == LAMBDA:
        return _lambda(event)
    if source == SQS:
        return _queue(event)
    if source == DYNAMODB:
        return _table(event)
    if source == SECRETS_MANAGER:
        return _secret(event, ctx)
    if source == SSM:
        return _parameter(event)
    return _identity(event)


def _rule_remedy(resource: Resource) -> dict[str, str]:
    """``<rule>`` names an EventBridge rule: filled only when that is what was changed."""
    return {"<rule>": resource.id} if resource.type == "AWS::Events::Rule" else {}


@rule(
    id="trailguard.pipeline-tampered",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.MEDIUM,),
    include_failed=True,
    on={
        EVENTS: [
            "DisableRule",
            "DeleteRule",
            "RemoveTargets",
            "PutRule",
            "PutTargets",
            "RemovePermission",
            "PutPermission",
        ],
        LAMBDA: [
            "DeleteFunction*",
            "PutFunctionConcurrency*",
            "DeleteEventSourceMapping*",
            "UpdateEventSourceMapping*",
            "UpdateFunctionConfiguration*",
            "UpdateFunctionCode*",
        ],
        SQS: ["DeleteQueue", "PurgeQueue", "SetQueueAttributes"],
        DYNAMODB: ["DeleteTable"],
        SECRETS_MANAGER: ["DeleteSecret", "PutSecretValue"],
        SES: ["DeleteIdentity", "DeleteEmailIdentity"],
        SSM: ["PutParameter", "DeleteParameter", "DeleteParameters"],
    },
    title="trailguard's own pipeline changed",
    description=(
        "One of trailguard's own resources (`self_resources`: its EventBridge rules, function, queue "
        "trigger, queues, table, SMTP secret, sender identity, its configuration in Parameter Store "
        "(`TRAILGUARD_CONFIG=ssm:/...`), and with an organization the home "
        "event bus whose policy admits the forwarders; the stack fills them in) was "
        "changed by someone other than its deployer (`self_deployer`): disabled, deleted, frozen, "
        "purged, redirected or given new code, credentials or settings. Silencing the watcher comes "
        "before the rest of an intrusion, and after it nothing else may be reported. CRITICAL; a "
        "denied attempt is MEDIUM (someone tried). Routine look-alikes: an upgrade or `sam delete` "
        "by a principal not listed in `self_deployer`, and filling in the SMTP secret after the first "
        "deployment (docs/deploy.md): set `self_deployer` (the stack's DeployerPrincipal) to the role "
        "that deploys. Where another rule covers the same act (eventbridge.rule-disabled, "
        "ses.identity-deleted), only this one fires."
    ),
    remediation=(
        "Treat it as an incident until the change is explained: restore the stack (`sam deploy` "
        "from the released template, or re-enable the rule with `aws events enable-rule --name "
        "<rule>`), check the SMTP secret and sender identity, disable the caller's keys, and review "
        "CloudTrail directly for what happened while trailguard was not watching."
    ),
    mitre="T1562.001",
    quiet=(
        "Every change by the deployer (`self_deployer`: the role's or the session's "
        "ARN), changes to resources that are not trailguard's, calls that failed for another "
        "reason than permission, reserved concurrency set to anything but 0, and queue triggers "
        "updated without being disabled. Cannot tell: an upgrade by a principal not listed in "
        "`self_deployer` (with a CloudFormation service role, the calls are that role's), or the "
        "SMTP secret filled in after the first deployment: list them in `self_deployer`."
    ),
)
def pipeline_tampered(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    denied = event.failed
    if denied and not is_access_denied(event.error_code):
        return  # a call that failed for another reason changed nothing and tried nothing
    change = what_changed(event, ctx)
    if change is None or not ctx.is_self_resource(*change.identifiers) or ctx.is_self_deployer(event):
        return
    kind = _KINDS.get(change.resource.type, "resource")
    label = change.resource.label or "(unknown)"
    details = dict(change.details)
    if not ctx.self_deployer:
        details["Deployer"] = "none configured (self_deployer): deployments are reported too"
    if denied:
        details["Error"] = event.error_code
        yield Hit(
            summary=f"{event.actor.label} was denied changing trailguard's own {kind} {label} ({event.event_name})",
            resource=change.resource,
            severity=Severity.MEDIUM,
            details=details,
            remedy=_rule_remedy(change.resource),
        )
        return
    yield Hit(
        summary=f"trailguard's own {kind} {label}: {change.change}",
        resource=change.resource,
        details=details,
        remedy=_rule_remedy(change.resource),
    )
