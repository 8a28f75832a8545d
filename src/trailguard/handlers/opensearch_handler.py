"""OpenSearch Service rules: domains whose access policy lets anyone in. Both APIs log under
``es.amazonaws.com``: the OpenSearch names (CreateDomain, UpdateDomainConfig) and the legacy
Elasticsearch names (CreateElasticsearchDomain, UpdateElasticsearchDomainConfig). The access policy
is the ``accessPolicies`` JSON string; CloudTrail spells acronyms its own way (``vPCOptions``,
``aRN``), so members are read whatever their case.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_text, items_of, member
from trailguard.core.policy import analyze_policy, public_policy_hit

SOURCE = "es.amazonaws.com"


def _domain(event: CloudTrailEvent) -> Resource:
    name = event.get_str("requestParameters", "domainName")
    status = member(event.response, "domainStatus")
    arn = as_text(member(status, "arn"))
    if not arn and name:
        arn = event.arn("es", f"domain/{name}")
    return Resource(type="AWS::OpenSearchService::Domain", id=name, arn=arn)


def _names_a_vpc(options: Any) -> bool:
    """VPC options that place the domain in subnets (the update response nests them in "options")."""
    inner = member(options, "options")
    if isinstance(inner, dict):
        options = inner
    return bool(items_of(member(options, "subnetIds")) or as_text(member(options, "vpcId")))


def _in_vpc(event: CloudTrailEvent) -> bool:
    """The domain has only a VPC endpoint, as far as the request or response says."""
    status = member(event.response, "domainStatus")
    for part in (event.request, status, member(event.response, "domainConfig")):
        if _names_a_vpc(member(part, "vpcOptions")):
            return True
    return bool(as_text(member(member(status, "endpoints"), "vpc")))


@rule(
    id="opensearch.domain-public",
    resource_placeholder="<domain>",
    severity=Severity.CRITICAL,
    on={
        SOURCE: [
            "CreateDomain",
            "UpdateDomainConfig",
            "CreateElasticsearchDomain",
            "UpdateElasticsearchDomainConfig",
        ]
    },
    title="OpenSearch domain open to everyone",
    description=(
        'An OpenSearch (Elasticsearch) domain\'s access policy now Allows Principal "*" without a '
        "condition limiting callers to an account, organization or source network, on a domain with "
        "a public endpoint: anyone on the internet can query (and, as the actions go, write or "
        "delete) its indices. Exposed search clusters are among the most common large data leaks."
    ),
    remediation=(
        "Put back a restrictive access policy (`aws opensearch update-domain-config --domain-name "
        "<domain> --access-policies file://policy.json`, naming principals or source IP ranges), "
        "enable fine-grained access control, and prefer VPC access for new domains."
    ),
    mitre="T1530",
    quiet=(
        "Quiet on VPC domains (an open policy is what AWS recommends there; security groups gate "
        "them), on policies limited to source IP ranges or named principals, and on updates that do "
        "not touch the access policy. Cannot tell: a public domain whose fine-grained access control "
        "asks for a password (reported, with that fact in the finding)."
    ),
)
def domain_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on VPC domains: AWS recommends an open access policy there, security groups doing the
    gatekeeping, and the endpoint is not reachable from the internet. An update that changes only
    the policy says nothing about the endpoint unless its response lists the VPC options; such an
    update of a VPC domain is reported. Source-IP-limited policies are quiet, and so is an update
    that does not touch the access policy."""
    params = event.request
    document = member(params, "accessPolicies")
    if not document or _in_vpc(event):
        return
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    if not exposure.public:
        return
    domain = _domain(event)
    hit = public_policy_hit(f"OpenSearch domain {domain.label or '(unnamed)'}", domain, exposure)
    security = member(params, "advancedSecurityOptions")
    if as_bool(member(security, "enabled")) is True:
        # Fine-grained access control still asks for a user and password: worth saying.
        hit = hit._replace(details={**hit.details, "Fine-grained access control": "enabled"})
    yield hit
