"""Lambda exposure and change rules: resource-policy permissions, function URLs, layer sharing
and code/configuration changes.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

Lambda logs most of its API calls with the API version appended (``AddPermission20150331v2``,
``AddLayerVersionPermission20181031``, ``CreateFunction20150331``); newer APIs such as
``CreateFunctionUrlConfig`` carry no suffix. Every subscription here ends in ``*`` so both
spellings route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.actors import made_by_person
from trailguard.core.aws_ids import ARN_ACCOUNT, LAMBDA_FUNCTION_ARN, LAMBDA_LAYER_ARN, LAMBDA_PARTIAL_ARN
from trailguard.core.base_handler import RuleContext, base_event_name, rule
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_int
from trailguard.core.policy import account_of_principal

SOURCE = "lambda.amazonaws.com"

# Request parameters that identify the call rather than change the function.
_IDENTIFYING_PARAMETERS = frozenset({"functionName", "revisionId", "fullyQualifiedArn", "dryRun"})


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _function(event: CloudTrailEvent) -> Resource:
    """The function a call acts on; callers pass a name, a full ARN or a partial ARN."""
    given = event.get_str("requestParameters", "functionName")
    arn = event.get_str("responseElements", "functionArn")
    name = ""
    match = LAMBDA_FUNCTION_ARN.match(given)
    if match:
        name = match.group(4)
        arn = arn or f"arn:{match.group(1)}:lambda:{match.group(2)}:{match.group(3)}:function:{name}"
    elif partial := LAMBDA_PARTIAL_ARN.match(given):
        name = partial.group(2)
        account = partial.group(1)
        arn = arn or f"arn:{event.partition}:lambda:{event.region}:{account}:function:{name}"
    else:
        name = given.split(":", 1)[0]
    if not name:
        name = event.get_str("responseElements", "functionName")
    if name and not arn and event.region and event.account_id:
        arn = f"arn:{event.partition}:lambda:{event.region}:{event.account_id}:function:{name}"
    # A qualified ARN (…:function:name:1) names a version; the finding is about the function.
    if arn.count(":") > 6:
        arn = ":".join(arn.split(":")[:7])
    return Resource(type="AWS::Lambda::Function", id=name, arn=arn)


def _layer(event: CloudTrailEvent) -> Resource:
    given = event.get_str("requestParameters", "layerName")
    version = as_int(event.get("requestParameters", "versionNumber"))
    match = LAMBDA_LAYER_ARN.match(given)
    if match:
        name = match.group(4)
        base = f"arn:{match.group(1)}:lambda:{match.group(2)}:{match.group(3)}:layer:{name}"
    else:
        name = given
        base = (
            f"arn:{event.partition}:lambda:{event.region}:{event.account_id}:layer:{name}"
            if name and event.region and event.account_id
            else ""
        )
    label = f"{name}:{version}" if name and version is not None else name
    arn = f"{base}:{version}" if base and version is not None else base
    return Resource(type="AWS::Lambda::LayerVersion", id=label, arn=arn)


def _is_specific_arn(arn: str) -> bool:
    """True when a source ARN names something: not "*", and not a resource part of only wildcards."""
    parts = arn.strip().split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    account, resource = parts[4], parts[5]
    return bool(resource.strip("*?/:")) or bool(account.strip("*?"))


def _untrusted_source(source_account: str, source_arn: str, event: CloudTrailEvent, ctx: RuleContext) -> str:
    """The account a SourceAccount/SourceArn condition names, when it is not trusted; else ''."""
    arn_account = ARN_ACCOUNT.match(source_arn) if source_arn and _is_specific_arn(source_arn) else None
    narrowed_to = source_account or (arn_account.group(1) if arn_account else "")
    if not narrowed_to or ctx.is_trusted_account(narrowed_to, event):
        return ""
    return narrowed_to


def _is_service_principal(principal: str) -> bool:
    """``s3.amazonaws.com``, ``alexa-appkit.amazon.com``: an AWS service, not an account."""
    return "." in principal and not principal.startswith("arn:") and principal != "*"


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="lambda.permission-public",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["AddPermission*"]},
    title="Lambda function opened to everyone or another account",
    description=(
        'A statement was added to a function\'s resource policy that lets any principal ("*") '
        "invoke or manage it without a source account, source ARN or organization condition, or "
        "that grants an AWS account outside the trusted set (directly, or through an AWS service "
        "whose source account or source ARN is that account's). It is a classic persistence "
        "backdoor: the function can be called from anywhere, with its role's permissions."
    ),
    remediation=(
        "Remove the statement (`aws lambda remove-permission --function-name <function> "
        "--statement-id <sid>`), review `aws lambda get-policy --function-name <function>`, and "
        "check what the function's role can do and whether it was invoked since."
    ),
    mitre="T1098",
    quiet=(
        "AWS service principals (s3, sns, events, apigateway...), with or without a source "
        'condition, unless the condition names an untrusted account; "*" narrowed by the '
        "organization, by the account itself or a trusted account, or by a specific source ARN of one; "
        "and grants to trusted accounts. Cannot tell: a partner's account not listed (add it to "
        "`trusted_accounts`)."
    ),
)
def permission_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    principal = event.get_str("requestParameters", "principal").strip()
    if not principal:
        return
    source_account = event.get_str("requestParameters", "sourceAccount").strip()
    source_arn = event.get_str("requestParameters", "sourceArn").strip()
    org_id = event.get_str("requestParameters", "principalOrgID").strip()
    function = _function(event)
    action = event.get_str("requestParameters", "action") or "(unknown action)"
    details = {"Principal": principal, "Action": action}
    statement_id = event.get_str("requestParameters", "statementId")
    if statement_id:
        details["Statement"] = statement_id
    # The function as the call named it (name or ARN: the CLI takes either), and its qualifier's
    # policy is the one the statement went into.
    qualifier = event.get_str("requestParameters", "qualifier")
    named = (event.get_str("requestParameters", "functionName"), *(("--qualifier", qualifier) if qualifier else ()))
    remedy: dict[str, str | tuple[str, ...]] = {"<function>": named, "<sid>": statement_id}
    external = ""
    if principal == "*":
        if org_id:
            return  # limited to one organization's principals
        specific_arn = bool(source_arn) and _is_specific_arn(source_arn)
        if not source_account and not specific_arn:
            yield Hit(
                summary=f"Function {function.label or '(unnamed)'} can be called by anyone ({action})",
                resource=function,
                details=details,
                remedy=remedy,
            )
            return
        # Narrowed to a source: fine unless that source belongs to an untrusted account.
        external = _untrusted_source(source_account, source_arn, event, ctx)
        if not external:
            return
    elif _is_service_principal(principal):
        # A service principal without a source condition lets that service act for any account
        # (confused deputy), but it is how many integrations are wired and it does not grant an
        # identity outside AWS: not reported here, to keep the rule quiet on routine set-ups. One
        # narrowed to another account's topic, bucket or rule lets that account invoke it.
        external = _untrusted_source(source_account, source_arn, event, ctx)
        if not external:
            return
    else:
        account = account_of_principal(principal)
        if not account or ctx.is_trusted_account(account, event):
            return
        external = account
    details["External account"] = external
    yield Hit(
        summary=f"Function {function.label or '(unnamed)'} opened to external account {external} ({action})",
        resource=function,
        severity=Severity.HIGH,
        details=details,
        remedy=remedy,
    )


@rule(
    id="lambda.function-url-public",
    resource_placeholder="<function>",
    severity=Severity.HIGH,
    on={SOURCE: ["CreateFunctionUrlConfig*", "UpdateFunctionUrlConfig*"]},
    title="Lambda function URL with no authentication",
    description=(
        "A function URL was created or changed with AuthType NONE: the function now has a public "
        "HTTPS endpoint that anyone on the internet can invoke without AWS credentials."
    ),
    remediation=(
        "Require IAM auth (`aws lambda update-function-url-config --function-name <function> "
        "--auth-type AWS_IAM`) or delete the URL (`aws lambda delete-function-url-config "
        "--function-name <function>`), unless the endpoint is meant to be public and checks "
        "callers itself."
    ),
    mitre="T1098",
    quiet=(
        "URLs with AWS_IAM auth, and updates that leave the auth type alone (CORS, invoke "
        "mode). Cannot tell: a webhook or public API that checks callers itself (suppress that "
        "function by resource)."
    ),
)
def function_url_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    # Only the request says what changed: an update that leaves an already public URL alone
    # (a CORS change, say) is not a new exposure.
    if event.get_str("requestParameters", "authType").strip().upper() != "NONE":
        return
    function = _function(event)
    details = {"Auth type": "NONE"}
    url = event.get_str("responseElements", "functionUrl")
    if url:
        details["URL"] = url
    qualifier = event.get_str("requestParameters", "qualifier")
    if qualifier:
        details["Qualifier"] = qualifier
    verb = "created" if event.event_name.startswith("Create") else "changed"
    yield Hit(
        summary=f"Public function URL {verb} for function {function.label or '(unnamed)'} (no authentication)",
        resource=function,
        details=details,
    )


@rule(
    id="lambda.layer-public",
    severity=Severity.MEDIUM,
    on={SOURCE: ["AddLayerVersionPermission*"]},
    title="Lambda layer version shared publicly",
    description=(
        'A layer version was shared with every AWS account (principal "*" without an '
        "organization ID). Anyone can download its code, and whatever secrets or internal logic "
        "it bundles."
    ),
    remediation=(
        "Remove the grant (`aws lambda remove-layer-version-permission --layer-name <layer> "
        "--version-number <n> --statement-id <sid>`) and check the layer for embedded secrets."
    ),
    mitre="T1537",
    quiet=(
        "layers shared with one account or with an organization (organizationId). Cannot "
        "tell: a publisher whose job is public layers, such as a vendor's extension (suppress its "
        "layers by resource)."
    ),
)
def layer_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.get_str("requestParameters", "principal").strip() != "*":
        return
    if event.get_str("requestParameters", "organizationId").strip():
        return  # shared with one organization, which is how layers are meant to be shared
    layer = _layer(event)
    action = event.get_str("requestParameters", "action") or "lambda:GetLayerVersion"
    yield Hit(
        summary=f"Layer version {layer.label or '(unnamed)'} shared with every AWS account",
        resource=layer,
        details={"Principal": "*", "Action": action},
        remedy={
            "<layer>": event.get_str("requestParameters", "layerName"),
            "<n>": str(as_int(event.get("requestParameters", "versionNumber")) or ""),
            "<sid>": event.get_str("requestParameters", "statementId"),
        },
    )


def _code_source(code: Any) -> str:
    if not isinstance(code, dict):
        return ""
    if isinstance(code.get("imageUri"), str):
        return f"image {code['imageUri']}"
    bucket, key = code.get("s3Bucket"), code.get("s3Key")
    if isinstance(bucket, str) and isinstance(key, str):
        return f"s3://{bucket}/{key}"
    if "zipFile" in code:
        return "uploaded zip"
    return ""


def _change_details(event: CloudTrailEvent) -> tuple[str, dict[str, str]]:
    """What a create/update call did, as a short phrase and labelled facts."""
    params = event.request
    response = event.response
    details: dict[str, str] = {}
    name = event.event_name
    raw_layers = params.get("layers")
    layers = [layer for layer in raw_layers if isinstance(layer, str)] if isinstance(raw_layers, list) else []
    if layers:
        details["Layers"] = ", ".join(layers)
    role = params.get("role")
    if isinstance(role, str) and role:
        details["Role"] = role
    if name.startswith("CreateFunction"):
        runtime = params.get("runtime") or response.get("runtime")
        if isinstance(runtime, str) and runtime:
            details["Runtime"] = runtime
        source = _code_source(params.get("code"))
        if source:
            details["Code"] = source
        return "created", details
    if name.startswith("UpdateFunctionCode"):
        source = _code_source(params)
        if source:
            details["Code"] = source
        sha = response.get("codeSha256")
        if isinstance(sha, str) and sha:
            details["Code SHA-256"] = sha
        version = response.get("version")
        if isinstance(version, str) and version and version != "$LATEST":
            details["Published version"] = version
        return "code replaced", details
    changed = sorted(key for key in params if key not in _IDENTIFYING_PARAMETERS)
    if changed:
        details["Settings changed"] = ", ".join(changed)
    return "configuration changed" + (f" ({', '.join(changed)})" if changed else ""), details


@rule(
    id="lambda.function-changed",
    severity=Severity.INFO,
    kind=FindingKind.INFO,
    escalates_to=(Severity.LOW, Severity.MEDIUM),
    on={SOURCE: ["CreateFunction*", "UpdateFunctionCode*", "UpdateFunctionConfiguration*"]},
    stateful=True,
    title="Lambda function created or changed",
    description=(
        "A function was created, or its code or configuration replaced. Overwriting code, adding a "
        "layer (extension) or swapping the role are ways to run attacker code with the function's "
        "permissions, so unexpected changes deserve a look. The event alone: INFO for automation "
        "(a deploy role), LOW for a person changing it by hand (console or CLI), which is rarer and "
        "more notable. Routine by memory: once a principal's baseline is past `learning_days`, its "
        "first change of a kind (create, code, configuration) to a function is reported (MEDIUM "
        "when it never changed that function before) and its repeats go to the history only."
    ),
    remediation=(
        "Confirm the change came from the usual deployment pipeline; if not, roll back to a known "
        "version (`aws lambda update-function-code ...` from the trusted artifact), remove unknown "
        "layers and review the execution role."
    ),
    mitre="T1648",
    quiet=(
        "The deploy role that updates the same function again and again: routine by memory (history "
        "only). AWS's own changes (service-linked roles) are dropped by the engine. Cannot tell, "
        "without memory, a pipeline's change from an intruder's with the pipeline's role: those "
        "stay INFO, for the record."
    ),
)
def function_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    from trailguard.core.routine import remembered_change

    function = _function(event)
    what, details = _change_details(event)
    by_hand = made_by_person(event)
    hit = Hit(
        summary=f"Function {function.label or '(unnamed)'} {what}" + (" by hand" if by_hand else ""),
        resource=function,
        details=details,
        severity=Severity.LOW if by_hand else None,
    )
    memory = remembered_change(
        event, ctx, "lambda.function-changed", function.arn or function.id, base_event_name(event.event_name)
    )
    if memory is None:
        yield hit  # no verdict from memory: the event alone decides
    elif memory.routine:
        yield hit._replace(routine=True)
    else:
        yield hit._replace(severity=Severity.MEDIUM) if memory.first_on_resource else hit
