"""Load balancer exposure rules: internet-facing load balancers, plain-HTTP listeners, listeners
that still accept TLS 1.0/1.1, and WAF web ACLs taken off a resource.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

Both ELB APIs log under ``elasticloadbalancing.amazonaws.com``: version 2015-12-01 (Application,
Network and Gateway Load Balancers: ``name``, ``type``, ``responseElements.loadBalancers``) and the
Classic API 2012-06-01 (``loadBalancerName``, ``listeners``, a response with only ``dNSName``).
Both create internet-facing load balancers when ``scheme`` is omitted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_text, dig, items_of

SOURCE = "elasticloadbalancing.amazonaws.com"
CLASSIC_API_VERSION = "2012-06-01"

# Predefined ELB security policies that still negotiate TLS 1.0 or TLS 1.1 (AWS "Security policies
# for your Application/Network Load Balancer" tables: TLS, FIPS, FS and PQ policies).
WEAK_TLS_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-2016-08",
        "ELBSecurityPolicy-2015-05",
        "ELBSecurityPolicy-TLS-1-0-2015-04",
        "ELBSecurityPolicy-TLS-1-1-2017-01",
        "ELBSecurityPolicy-FS-2018-06",
        "ELBSecurityPolicy-FS-1-1-2019-08",
        "ELBSecurityPolicy-TLS13-1-0-2021-06",
        "ELBSecurityPolicy-TLS13-1-1-2021-06",
        "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09",
    }
)
# The naming scheme carries the lowest TLS version, so policies AWS adds later are judged too:
# "-1-0-"/"-1-1-" (TLS13-1-1-..., TLS-1-0-..., FS-1-1-...), and the date-only legacy names
# (ELBSecurityPolicy-2016-08, FS-2018-06, the classic 2011-08 ... 2015-03), which all allow TLS 1.0.
_WEAK_POLICY_PREFIX = "ELBSecurityPolicy-"
_DATE_ONLY_POLICY = re.compile(r"(?:FS-)?\d{4}-\d{2}", re.ASCII)
# AWS policy names are short; anything longer is not one of theirs (and is not scanned).
_POLICY_NAME_LIMIT = 128
# What ELB applies to an HTTPS/TLS listener created through the API, CLI, CloudFormation or CDK
# without an SslPolicy (the console picks a TLS 1.2+ policy itself and sends it).
API_DEFAULT_TLS_POLICY = "ELBSecurityPolicy-2016-08"
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


def is_weak_tls_policy(name: str) -> bool:
    """True for a predefined ELB security policy that allows TLS 1.0 or TLS 1.1."""
    if name in WEAK_TLS_POLICIES:
        return True
    if len(name) > _POLICY_NAME_LIMIT or not name.startswith(_WEAK_POLICY_PREFIX):
        return False
    rest = name[len(_WEAK_POLICY_PREFIX) :]
    # Substring tests, not a ".*-1-[01]-.*" regex: that one backtracks quadratically on hostile names.
    return "-1-0-" in rest or "-1-1-" in rest or bool(_DATE_ONLY_POLICY.fullmatch(rest))


def _oldest_tls(policy: str) -> str:
    """The deprecated versions a weak policy accepts: only the "-1-1-" policies stop at TLS 1.1."""
    return "TLS 1.1" if "-1-1-" in policy else "TLS 1.0 and 1.1"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _first_response_item(event: CloudTrailEvent, key: str) -> dict[str, Any]:
    """The first object of a response list (``listeners``, ``loadBalancers``), or {}."""
    for item in event.get_list("responseElements", key):
        if isinstance(item, dict):
            return item
    return {}


class _Listener:
    """What a CreateListener/ModifyListener record says about the listener after the call."""

    def __init__(self, event: CloudTrailEvent) -> None:
        request = event.request
        response = _first_response_item(event, "listeners")
        self.creating = event.event_name == "CreateListener"
        self.requested_protocol = as_text(request.get("protocol")).upper()
        self.protocol = self.requested_protocol or as_text(response.get("protocol")).upper()
        self.requested_policy = as_text(request.get("sslPolicy"))
        self.policy = self.requested_policy or as_text(response.get("sslPolicy"))
        self.actions_changed = "defaultActions" in request
        actions = request.get("defaultActions") if self.actions_changed else response.get("defaultActions")
        self.actions = [a for a in items_of(actions) if isinstance(a, dict)]
        arn = as_text(request.get("listenerArn")) or as_text(response.get("listenerArn"))
        balancer = as_text(request.get("loadBalancerArn")) or as_text(response.get("loadBalancerArn"))
        port = request.get("port", response.get("port"))
        port_text = str(port) if isinstance(port, int | str) and not isinstance(port, bool) else ""
        if arn:
            self.resource = Resource(type="AWS::ElasticLoadBalancingV2::Listener", id=arn, arn=arn)
        else:
            name = balancer.split("/", 2)[-1] if balancer.count("/") >= 2 else balancer
            label = f"{name or 'load balancer'}:{port_text or '?'}"
            self.resource = Resource(type="AWS::ElasticLoadBalancingV2::Listener", id=label)
        self.port = port_text

    @property
    def label(self) -> str:
        ident = self.resource.id
        # listener ARNs end in .../listener/app/<lb-name>/<lb-id>/<listener-id>: show lb-name.
        parts = ident.split("/")
        if ident.startswith("arn:") and len(parts) >= 5:
            return f"{parts[2]} listener {parts[-1]}" + (f" (port {self.port})" if self.port else "")
        return ident

    def redirects_to_https(self) -> bool:
        for action in self.actions:
            if as_text(action.get("type")).lower() != "redirect":
                continue
            target = as_text(dig(action, "redirectConfig", "protocol"))
            if target.upper() == "HTTPS":
                return True
        return False


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="elb.internet-facing-created",
    severity=Severity.LOW,
    on={SOURCE: ["CreateLoadBalancer"]},
    title="Internet-facing load balancer created",
    description=(
        "A load balancer with a public DNS name and public IP addresses was created: whatever its "
        "listeners forward to is now reachable from the internet."
    ),
    remediation=(
        "Confirm the load balancer is meant to be public and that its security groups and listeners "
        "expose only what they should; recreate it with `--scheme internal` otherwise."
    ),
    mitre="T1133",
    quiet=(
        "internal load balancers (the scheme, or an internal- DNS name) and Gateway Load "
        "Balancers. Cannot tell: a public application's load balancer, which Elastic Beanstalk, the "
        "AWS Load Balancer Controller and stacks create all day, from a stray one: hence LOW, routine "
        "by memory."
    ),
)
def internet_facing_created(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    request = event.request
    created = _first_response_item(event, "loadBalancers")
    classic = event.get_str("apiVersion") == CLASSIC_API_VERSION or (
        "loadBalancerName" in request and "name" not in request
    )
    lb_type = (as_text(request.get("type")) or as_text(created.get("type")) or ("classic" if classic else "")).lower()
    if lb_type == "gateway":
        return  # Gateway Load Balancers have no scheme: they take traffic only from endpoints in VPCs
    dns_name = as_text(created.get("dNSName")) or event.get_str("responseElements", "dNSName")
    scheme = (as_text(request.get("scheme")) or as_text(created.get("scheme"))).lower()
    if not scheme:
        # Both APIs default to internet-facing; an internal load balancer's name says so.
        scheme = "internal" if dns_name.lower().startswith("internal-") else "internet-facing"
    if scheme != "internet-facing":
        return
    name = (
        as_text(request.get("name"))
        or as_text(request.get("loadBalancerName"))
        or as_text(created.get("loadBalancerName"))
    )
    arn = as_text(created.get("loadBalancerArn"))
    if classic and not arn and name:
        # Classic load balancers are named, and CreateLoadBalancer's response carries only the DNS name.
        arn = event.arn("elasticloadbalancing", f"loadbalancer/{name}")
    resource_type = (
        "AWS::ElasticLoadBalancing::LoadBalancer" if classic else "AWS::ElasticLoadBalancingV2::LoadBalancer"
    )
    details = {"Type": lb_type or "application", "Scheme": "internet-facing"}
    if dns_name:
        details["DNS name"] = dns_name
    yield Hit(
        summary=f"Internet-facing {details['Type']} load balancer {name or arn or '(unnamed)'} created",
        resource=Resource(type=resource_type, id=name or arn, arn=arn),
        details=details,
    )


@rule(
    id="elb.http-listener",
    resource_placeholder="<arn>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateListener", "ModifyListener"]},
    title="Load balancer listener serves plain HTTP",
    description=(
        "A load balancer listener accepts plain HTTP and forwards or answers it instead of "
        "redirecting to HTTPS: requests, cookies and credentials cross the network unencrypted."
    ),
    remediation=(
        "Make the listener's default action a redirect to HTTPS (`aws elbv2 modify-listener "
        "--listener-arn <arn> --default-actions "
        "'Type=redirect,RedirectConfig={Protocol=HTTPS,Port=443,StatusCode=HTTP_301}'`) and serve "
        "the application from an HTTPS listener."
    ),
    mitre="T1040",
    quiet=(
        "HTTP listeners whose default action redirects to HTTPS, HTTPS, TLS and TCP listeners, "
        "and modifications that change neither protocol nor default actions (a certificate, the port). "
        "Cannot tell: an internal load balancer meant to speak HTTP (the listener record does not carry "
        "the scheme): suppress it by resource."
    ),
)
def http_listener(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    listener = _Listener(event)
    if not listener.creating and not listener.requested_protocol and not listener.actions_changed:
        return  # a modification that changes neither protocol nor actions (certificates, port...)
    if listener.protocol != "HTTP" or listener.redirects_to_https():
        return
    kinds = sorted({as_text(a.get("type")).lower() or "?" for a in listener.actions})
    action = ", ".join(kinds) if kinds else "unknown"
    yield Hit(
        summary=f"Plain HTTP listener {listener.label} {'created' if listener.creating else 'configured'} "
        f"with default action {action} (no redirect to HTTPS)",
        resource=listener.resource,
        details={"Protocol": "HTTP", "Port": listener.port or "?", "Default action": action},
    )


@rule(
    id="elb.weak-tls-policy",
    resource_placeholder="<arn>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateListener", "ModifyListener"]},
    title="Load balancer listener allows TLS 1.0/1.1",
    description=(
        "An HTTPS or TLS listener uses a security policy that still negotiates TLS 1.0 or TLS 1.1, "
        "deprecated protocol versions with known weaknesses that compliance standards forbid."
    ),
    remediation=(
        "Switch the listener to a TLS 1.2+ policy: `aws elbv2 modify-listener --listener-arn <arn> "
        "--ssl-policy ELBSecurityPolicy-TLS13-1-2-Res-2021-06` (pass --ssl-policy explicitly when "
        "creating listeners: the API default is ELBSecurityPolicy-2016-08)."
    ),
    mitre="T1557",
    quiet=(
        "TLS 1.2+ policies, HTTP and TCP listeners, and modifications that leave the policy "
        "alone. Listeners created without an SslPolicy are reported: the API default allows TLS 1.0, and "
        "templates that omit it are the usual cause. Cannot tell: TLS 1.0 kept for old clients on "
        "purpose (suppress that listener by resource)."
    ),
)
def weak_tls_policy(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    listener = _Listener(event)
    if listener.creating:
        if listener.protocol not in TLS_PROTOCOLS:
            return
        policy = listener.policy
        defaulted = not policy
        policy = policy or API_DEFAULT_TLS_POLICY
    else:
        # Judge only modifications that set the policy or turn the listener into HTTPS/TLS: an
        # unrelated change to a listener whose policy was already weak was alerted on before.
        if listener.requested_policy:
            if listener.protocol and listener.protocol not in TLS_PROTOCOLS:
                return
        elif listener.requested_protocol not in TLS_PROTOCOLS:
            return
        policy = listener.policy
        defaulted = False
        if not policy:
            return
    if not is_weak_tls_policy(policy):
        return
    shown = f"{policy} (API default)" if defaulted else policy
    yield Hit(
        summary=f"{listener.protocol or 'TLS'} listener {listener.label} uses security policy {shown}, "
        f"which allows {_oldest_tls(policy)}",
        resource=listener.resource,
        details={"Protocol": listener.protocol or "?", "Security policy": shown, "Allows": _oldest_tls(policy)},
    )


# Resource types for the ARNs a web ACL protects (regional WAF: no CloudFront here).
_WAF_TARGET_TYPES = {
    "elasticloadbalancing": "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "apigateway": "AWS::ApiGateway::Stage",
    "appsync": "AWS::AppSync::GraphQLApi",
    "cognito-idp": "AWS::Cognito::UserPool",
    "apprunner": "AWS::AppRunner::Service",
    "ec2": "AWS::EC2::VerifiedAccessInstance",
    "amplify": "AWS::Amplify::App",
}


@rule(
    id="elb.waf-removed",
    severity=Severity.HIGH,
    # waf-regional is the classic WAF that protected load balancers before WAFv2: removing its web
    # ACL takes the same protection away, so it is watched too.
    on={"wafv2.amazonaws.com": ["DisassociateWebACL"], "waf-regional.amazonaws.com": ["DisassociateWebACL"]},
    title="WAF web ACL removed from a resource",
    description=(
        "A web ACL was disassociated from a load balancer, API or other resource: requests now reach "
        "it without WAF filtering, rate limiting or managed rule protection."
    ),
    remediation=(
        "Re-associate the web ACL (`aws wafv2 associate-web-acl --web-acl-arn <acl-arn> "
        "--resource-arn <resource-arn>`) and review the traffic the resource received meanwhile."
    ),
    mitre="T1562.001",
    quiet=(
        "disassociations that fail (nothing was associated) and Firewall Manager acting "
        "through its service-linked role. Cannot tell: a stack update or deletion that takes the "
        "association away with the load balancer from someone removing the WAF (routine by memory for "
        "the deploy role)."
    ),
)
def waf_removed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    arn = event.get_str("requestParameters", "resourceArn")
    parts = arn.split(":", 5)
    service = parts[2] if len(parts) == 6 else ""
    resource_type = _WAF_TARGET_TYPES.get(service, "AWS::WAFv2::WebACLAssociation")
    name = arn
    if service == "elasticloadbalancing" and arn.count("/") >= 3:
        name = arn.split("/")[2]
    waf = "classic WAF" if event.event_source.startswith("waf-regional") else "WAF"
    yield Hit(
        summary=f"{waf} web ACL removed from {name or '(unknown resource)'}",
        resource=Resource(type=resource_type, id=name, arn=arn),
        details={"Resource": arn or "(not in the record)"},
        remedy={"<resource-arn>": arn},  # the web ACL that was removed is not in the record
    )
