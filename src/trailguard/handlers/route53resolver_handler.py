"""Route 53 Resolver: DNS query logging removed. Resolver query logs record every name a VPC's
instances look up: command-and-control domains, exfiltration over DNS. Requests name the
configuration by ``resolverQueryLogConfigId`` (and, to disassociate, the VPC by ``resourceId``);
responses describe the configuration or association.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "route53resolver.amazonaws.com"


@rule(
    id="dns.query-logging-deleted",
    severity=Severity.HIGH,
    on={SOURCE: ["DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig"]},
    title="DNS query logging removed",
    description=(
        "A Route 53 Resolver query logging configuration was deleted, or a VPC was detached from it: "
        "the DNS lookups of the VPC's instances stop being recorded, which hides command-and-control "
        "and DNS exfiltration. A configuration being replaced is usually deleted after its successor "
        "is associated; check that the VPCs are still logged."
    ),
    remediation=(
        "Re-create or re-associate query logging (`aws route53resolver "
        "associate-resolver-query-log-config --resolver-query-log-config-id <id> --resource-id "
        "<vpc-id>`), and deny these calls outside the network team's roles."
    ),
    mitre="T1562.008",
    quiet=(
        "Calls that failed. Cannot tell: a configuration deleted after its successor was "
        "associated, or a VPC detached just before it is deleted, from logging switched off (the "
        "record does not say whether another configuration still logs the VPC; routine by memory "
        "for a network pipeline)."
    ),
)
def query_logging_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    config_id = event.get_str("requestParameters", "resolverQueryLogConfigId")
    config_name = event.get_str("responseElements", "resolverQueryLogConfig", "name")
    arn = event.get_str("responseElements", "resolverQueryLogConfig", "arn")
    if not arn and config_id:
        arn = event.arn("route53resolver", f"resolver-query-log-config/{config_id}")
    details: dict[str, str] = {}
    if config_name:
        details["Name"] = config_name
    destination = event.get_str("responseElements", "resolverQueryLogConfig", "destinationArn")
    if destination:
        details["Destination"] = destination
    vpc = ""  # a deleted configuration's VPCs are not in the record
    if event.event_name == "DisassociateResolverQueryLogConfig":
        vpc = event.get_str("requestParameters", "resourceId")
        details["VPC"] = vpc
        summary = f"DNS query logging {config_id or '(unknown)'} detached from {vpc or 'a VPC'}"
    else:
        summary = f"DNS query logging configuration {config_name or config_id or '(unknown)'} deleted"
    yield Hit(
        summary=summary,
        resource=Resource(type="AWS::Route53Resolver::ResolverQueryLoggingConfig", id=config_id, arn=arn),
        details=details,
        remedy={"<id>": config_id, "<vpc-id>": vpc},
    )
