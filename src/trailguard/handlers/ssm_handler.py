"""Systems Manager: commands run on instances and interactive sessions opened on them.

SSM logs its JSON requests with the API's member names in camelCase (``documentName``,
``instanceIds``, ``targets[].key``); the command's parameters, which hold the script itself, are
always ``HIDDEN_DUE_TO_SECURITY_REASONS``, so what a command did cannot be read from the record.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_int, as_text, items_of

SOURCE = "ssm.amazonaws.com"

# Users cannot create documents with these prefixes: a name that starts with one is AWS's own.
AWS_DOCUMENT_PREFIXES = ("aws", "amazon", "amzn")
# AWS's documents that run whatever the caller passes in (a script, a playbook, a URL to fetch);
# the other AWS documents (AWS-RunPatchBaseline, AWS-UpdateSSMAgent, AWS-ConfigureAWSPackage...)
# do one fixed job, which is what Quick Setup and State Manager send all day.
AWS_COMMAND_DOCUMENTS = frozenset(
    name.lower()
    for name in (
        "AWS-RunShellScript",
        "AWS-RunPowerShellScript",
        "AWS-RunRemoteScript",
        "AWS-RunDocument",
        "AWS-RunAnsiblePlaybook",
        "AWS-ApplyAnsiblePlaybooks",
        "AWS-RunSaltState",
        "AWS-ApplyChefRecipes",
        "AWS-ApplyDSCMofs",
        "AWS-InstallApplication",
        "AWS-InstallPowerShellModule",
    )
)
# From this many instances on, a command is fleet-wide rather than someone fixing a host.
MANY_INSTANCES = 10
# Target keys that resolve at run time to every instance matching a tag or a resource group.
_FLEET_TARGET_PREFIXES = ("tag:", "tag-key", "resource-groups:")

_MAX_LISTED = 10


def _document_name(value: str) -> str:
    """The name of a document given by name or by ARN (a document shared from another account)."""
    return value.rsplit("document/", 1)[-1] if value.startswith("arn:") else value


def runs_commands(document: str) -> bool:
    """Does sending this document run caller-chosen code? AWS's command documents do, and so does
    any document that is not AWS's: its content is whatever its author wrote."""
    name = _document_name(document).lower()
    if not name:
        return False
    return name in AWS_COMMAND_DOCUMENTS or not name.startswith(AWS_DOCUMENT_PREFIXES)


def _instance_resource(event: CloudTrailEvent, target: str) -> Resource:
    """An EC2 instance (i-...) or a hybrid managed node (mi-...)."""
    if target.startswith("mi-"):
        return Resource(type="AWS::SSM::ManagedInstance", id=target, arn=event.arn("ssm", f"managed-instance/{target}"))
    return Resource(type="AWS::EC2::Instance", id=target, arn=event.arn("ec2", f"instance/{target}") if target else "")


def _listing(values: list[str]) -> str:
    extra = len(values) - _MAX_LISTED
    shown = ", ".join(values[:_MAX_LISTED])
    return f"{shown} and {extra} more" if extra > 0 else shown


def _document_arn(event: CloudTrailEvent, document: str) -> str:
    if document.startswith("arn:"):
        return document
    # AWS's own documents have no account in their ARN.
    owned_by_aws = document.lower().startswith(AWS_DOCUMENT_PREFIXES)
    return event.arn("ssm", f"document/{document}", account="" if owned_by_aws else None)


def _texts(value: Any) -> list[str]:
    return [text for text in (as_text(item) for item in items_of(value)) if text]


@rule(
    id="ssm.command-sent",
    severity=Severity.MEDIUM,
    on={SOURCE: ["SendCommand"]},
    title="Command sent to instances with SSM Run Command",
    description=(
        "A Systems Manager document that runs commands (AWS-RunShellScript, AWS-RunPowerShellScript "
        "and AWS's other script-running documents, or any document not owned by AWS) was sent to "
        "instances. It runs as root or SYSTEM with no SSH and no inbound network path, and the "
        "instance role's credentials are one command away: the most direct way from cloud "
        "credentials to code on servers. AWS's fixed-purpose documents (patching, agent updates, "
        "inventory) that Quick Setup and State Manager send are not reported. Ten or more "
        "instances, or targets chosen by tag or resource group, are HIGH: that is the whole fleet."
    ),
    remediation=(
        "Find out what ran: `aws ssm list-command-invocations --command-id <id> --details` (and the "
        "S3 or CloudWatch output if configured). If unexpected, isolate the instances, rotate "
        "their roles' credentials, and limit ssm:SendCommand to named documents and instance tags."
    ),
    mitre="T1651",
    escalates_to=(Severity.HIGH,),
    quiet=(
        "AWS's fixed-purpose documents (AWS-RunPatchBaseline, AWS-UpdateSSMAgent, "
        "AWS-ConfigureAWSPackage...), whoever sends them, as Patch Manager and Quick Setup do; Systems "
        "Manager's own runs through its service-linked role; calls refused. Cannot tell: "
        "AWS-RunShellScript from a deploy pipeline or Ansible from an attacker's, since the script is "
        "hidden: routine by memory for the pipeline's role."
    ),
)
def command_sent(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    document = as_text(params.get("documentName"))
    if not runs_commands(document):
        return
    instances = _texts(params.get("instanceIds"))
    fleet_targets: list[str] = []
    for target in items_of(params.get("targets")):
        if not isinstance(target, dict):
            continue
        key = as_text(target.get("key") or target.get("Key"))
        values = _texts(target.get("values") or target.get("Values"))
        if key.lower() == "instanceids":
            instances.extend(values)
        elif key.lower().startswith(_FLEET_TARGET_PREFIXES):
            fleet_targets.append(f"{key}={','.join(values)}" if values else key)
    instances = list(dict.fromkeys(instances))
    count = max(len(instances), as_int(event.get("responseElements", "command", "targetCount")) or 0)
    fleet = bool(fleet_targets) or count >= MANY_INSTANCES

    details = {"Document": document}
    owner = document.split(":")[4] if document.startswith("arn:") and document.count(":") >= 5 else ""
    if owner and owner != event.account_id:
        details["Document owner"] = f"account {owner}" + ("" if ctx.is_trusted_account(owner) else " (not trusted)")
    if instances:
        details["Instances"] = _listing(instances)
    if fleet_targets:
        details["Targets"] = "; ".join(fleet_targets)
    command_id = event.get_str("responseElements", "command", "commandId")
    if command_id:
        details["Command id"] = command_id
    comment = as_text(params.get("comment"))
    if comment:
        details["Comment"] = comment

    if len(instances) == 1 and not fleet_targets:
        resource = _instance_resource(event, instances[0])
        where = f"instance {instances[0]}"
    else:
        # Several instances: one finding about the document sent, so repeats fold together.
        resource = Resource(type="AWS::SSM::Document", id=document, arn=_document_arn(event, document))
        parts = [f"{count} instances"] if count else []
        if fleet_targets:
            parts.append(f"every instance matching {'; '.join(fleet_targets)}")
        where = " and ".join(parts) or "instances"
    yield Hit(
        summary=f"{document} sent to {where} with SSM Run Command",
        resource=resource,
        severity=Severity.HIGH if fleet else None,
        details=details,
        remedy={"<id>": event.get_str("responseElements", "command", "commandId")},
    )


@rule(
    id="ssm.session-started",
    routine=True,
    severity=Severity.LOW,
    on={SOURCE: ["StartSession"]},
    title="Session Manager session started",
    description=(
        "An interactive Session Manager session was opened on an instance: a shell (or a port "
        "forwarded through it) without SSH keys or open ports. People use it every day, hence "
        "LOW; it is also how stolen credentials get a shell on a server, so the record says who, "
        "where and through which document (port forwarding reaches services behind the instance)."
    ),
    remediation=(
        "If the session is not expected, end it (`aws ssm terminate-session --session-id <id>`), "
        "read its log if session logging is on, and limit ssm:StartSession to the people and "
        "instances that need it."
    ),
    mitre="T1021.007",
    quiet=(
        "sessions refused or to a node that is not connected. Cannot tell: an engineer's daily "
        "shell from one opened with stolen credentials, hence LOW for everyone (port forwarding to a "
        "remote host is shown in the details); routine by memory per person and instance."
    ),
)
def session_started(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    target = as_text(params.get("target"))
    document = as_text(params.get("documentName"))
    details = {"Target": target or "unknown", "Document": document or "shell (SSM-SessionManagerRunShell)"}
    forwarded = params.get("parameters")
    if isinstance(forwarded, dict):
        for label, key in (("Remote host", "host"), ("Remote port", "portNumber"), ("Local port", "localPortNumber")):
            values = _texts(forwarded.get(key))
            if values:
                details[label] = ", ".join(values)
    reason = as_text(params.get("reason"))
    if reason:
        details["Reason"] = reason
    session = event.get_str("responseElements", "sessionId")
    if session:
        details["Session"] = session
    how = f" with {document}" if document else ""
    yield Hit(
        summary=f"Session Manager session started on {target or '(unknown target)'}{how}",
        resource=_instance_resource(event, target),
        details=details,
        remedy={"<id>": session},
    )
