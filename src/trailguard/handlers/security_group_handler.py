"""Security groups opened to the internet.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from trailguard.core.base_handler import RuleContext, is_all_ports, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_int, as_text, items_of

SOURCE = "ec2.amazonaws.com"

_ALL_PROTOCOLS = {"-1", "all"}
_PORT_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}
_ICMP_PROTOCOLS = {"icmp", "1", "icmpv6", "58"}


class _Permission(NamedTuple):
    """One (protocol, port range, source CIDR) triple, whatever shape the record used."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str
    # The rule EC2 created or rewrote (sgr-...), when the record says.
    rule_id: str = ""


def _field(value: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``value``: CloudTrail spells EC2 keys in either case."""
    for name in names:
        if name in value:
            return value[name]
    return None


def _cidrs(entries: Any, *keys: str) -> list[str]:
    found: list[str] = []
    for entry in items_of(entries):
        if isinstance(entry, dict):
            cidr = as_text(_field(entry, *keys))
            if cidr:
                found.append(cidr)
        elif isinstance(entry, str) and entry.strip():
            found.append(entry.strip())
    return found


def _ip_permissions(container: Mapping[str, Any]) -> list[_Permission]:
    """Permissions from ``ipPermissions.items[]`` and from the simplified top-level form."""
    permissions: list[_Permission] = []
    for item in items_of(_field(container, "ipPermissions", "IpPermissions")):
        if not isinstance(item, dict):
            continue
        protocol = as_text(_field(item, "ipProtocol", "IpProtocol")).lower()
        from_port = as_int(_field(item, "fromPort", "FromPort"))
        to_port = as_int(_field(item, "toPort", "ToPort"))
        cidrs = _cidrs(_field(item, "ipRanges", "IpRanges"), "cidrIp", "CidrIp")
        cidrs += _cidrs(_field(item, "ipv6Ranges", "Ipv6Ranges"), "cidrIpv6", "CidrIpv6")
        permissions += [_Permission(protocol, from_port, to_port, cidr) for cidr in cidrs]
    # Older SDKs and some tools send CidrIp/IpProtocol/FromPort/ToPort at the top level instead.
    protocol = as_text(_field(container, "ipProtocol", "IpProtocol")).lower()
    from_port = as_int(_field(container, "fromPort", "FromPort"))
    to_port = as_int(_field(container, "toPort", "ToPort"))
    for key in ("cidrIp", "CidrIp", "cidrIpv6", "CidrIpv6"):
        cidr = as_text(container.get(key))
        if cidr:
            permissions.append(_Permission(protocol, from_port, to_port, cidr))
    return permissions


def _response_rules(event: CloudTrailEvent, egress: bool) -> list[_Permission]:
    """The rules EC2 says it created (``securityGroupRuleSet``), used when the request is opaque."""
    permissions: list[_Permission] = []
    for item in event.get_list("responseElements", "securityGroupRuleSet"):
        if not isinstance(item, dict) or as_bool(item.get("isEgress")) is not egress:
            continue
        protocol = as_text(item.get("ipProtocol")).lower()
        for key in ("cidrIpv4", "cidrIpv6"):
            cidr = as_text(item.get(key))
            if cidr:
                from_port, to_port = as_int(item.get("fromPort")), as_int(item.get("toPort"))
                rule_id = as_text(item.get("securityGroupRuleId"))
                permissions.append(_Permission(protocol, from_port, to_port, cidr, rule_id))
    return permissions


def _modified_rules(event: CloudTrailEvent) -> tuple[str, list[_Permission]]:
    """ModifySecurityGroupRules: the group id and the new content of every rule it rewrites."""
    request = event.get_dict("requestParameters", "ModifySecurityGroupRulesRequest") or event.request
    group_id = as_text(_field(request, "GroupId", "groupId"))
    permissions: list[_Permission] = []
    updates = _field(request, "SecurityGroupRule", "SecurityGroupRules", "securityGroupRuleSet")
    for update in items_of(updates):
        if not isinstance(update, dict):
            continue
        new_rule = _field(update, "SecurityGroupRule", "securityGroupRule")
        if not isinstance(new_rule, dict):
            continue
        rule_id = as_text(_field(update, "SecurityGroupRuleId", "securityGroupRuleId"))
        # The request does not say which direction the rule has; only an explicit egress flag
        # lets us skip it, otherwise it is checked as ingress (docs/rules.md lists
        # ModifySecurityGroupRules among sg.ingress-open-to-world's events).
        if as_bool(_field(new_rule, "IsEgress", "isEgress")) or as_bool(_field(update, "IsEgress", "isEgress")):
            continue
        protocol = as_text(_field(new_rule, "IpProtocol", "ipProtocol")).lower()
        from_port = as_int(_field(new_rule, "FromPort", "fromPort"))
        to_port = as_int(_field(new_rule, "ToPort", "toPort"))
        for keys in (("CidrIpv4", "cidrIpv4"), ("CidrIpv6", "cidrIpv6")):
            cidr = as_text(_field(new_rule, *keys))
            if cidr:
                permissions.append(_Permission(protocol, from_port, to_port, cidr, rule_id))
    return group_id, permissions


def _port_label(from_port: int | None, to_port: int | None) -> str:
    if is_all_ports(from_port, to_port):
        return "all"
    low, high = sorted((from_port or 0, to_port or 0))
    return str(low) if low == high else f"{low}-{high}"


def _exposure(permission: _Permission, ctx: RuleContext) -> tuple[Severity, str] | None:
    """How bad one ingress permission from a world-like CIDR is (None: not a port exposure)."""
    protocol = permission.protocol
    if protocol in _ALL_PROTOCOLS:
        return Severity.CRITICAL, "all traffic"
    if protocol in _ICMP_PROTOCOLS:
        return None  # ICMP carries no ports: ping from anywhere is not a service exposure
    name = _PORT_PROTOCOLS.get(protocol)
    if name is None and protocol:
        # EC2 ignores ports for other protocols (GRE, ESP, SCTP...): the whole protocol is open.
        return Severity.HIGH, f"protocol {protocol}"
    if ctx.only_allowed_ports(permission.from_port, permission.to_port):
        return None
    ports = _port_label(permission.from_port, permission.to_port)
    label = f"{name or 'unspecified protocol'} {ports}"
    if not protocol and permission.from_port is None and permission.to_port is None:
        return Severity.HIGH, "unspecified protocol and ports"
    if ctx.touches_admin_port(permission.from_port, permission.to_port):
        return Severity.CRITICAL, label
    return Severity.HIGH, label


def _group(event: CloudTrailEvent, group_id: str, group_name: str = "") -> Resource:
    arn = event.arn("ec2", f"security-group/{group_id}") if group_id else ""
    return Resource(type="AWS::EC2::SecurityGroup", id=group_id or group_name, arn=arn)


def _join(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(values))


def _same_rule(permission: _Permission) -> tuple[str, int | None, int | None]:
    # A rule for every protocol has no ports: the request leaves them out, the response says -1.
    if permission.protocol in _ALL_PROTOCOLS:
        return permission.cidr, None, None
    return permission.cidr, permission.from_port, permission.to_port


def _remedy(event: CloudTrailEvent, group_id: str, exposed: list[_Permission], egress: bool) -> dict[str, Any]:
    """The group and the ids of the rules behind ``exposed``, for the remediation's command: the
    rules' own ids, else those of the response's rules with the same source and ports
    (AuthorizeSecurityGroup*'s request has no ids; its response does)."""
    ids = [p.rule_id for p in exposed if p.rule_id]
    if not ids:
        wanted = {_same_rule(p) for p in exposed}
        for created in _response_rules(event, egress):
            if created.rule_id and _same_rule(created) in wanted:
                ids.append(created.rule_id)
    return {"<sg>": group_id, "<sgr>": tuple(dict.fromkeys(ids))}


@rule(
    id="sg.ingress-open-to-world",
    severity=Severity.HIGH,
    on={SOURCE: ["AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"]},
    title="Security group opened to the internet",
    description=(
        "An inbound security group rule now lets any address on the internet (or a range broad "
        "enough to be most of it) reach a port that is not an allowed web port. Exposed SSH, RDP "
        "and database ports are scanned within minutes and are a common way in."
    ),
    remediation=(
        "Remove the rule (`aws ec2 revoke-security-group-ingress --group-id <sg> "
        "--security-group-rule-ids <sgr>`) or narrow its source to known networks; reach admin "
        "ports through SSM Session Manager or a VPN instead of the internet."
    ),
    mitre="T1562.007",
    escalates_to=(Severity.CRITICAL,),
    quiet=(
        "ports in `allowed_ports` (80 and 443 by default: a load balancer's or web server's "
        "group), ICMP, sources narrower than /8 or inside `allowed_cidrs`, other security groups and "
        "prefix lists as sources, and calls refused. Cannot tell: a load balancer controller or a game "
        "server opening another port to the world on purpose (add the port to `allowed_ports`, or "
        "suppress that group by resource)."
    ),
)
def ingress_open_to_world(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "ModifySecurityGroupRules":
        group_id, permissions = _modified_rules(event)
        group_name = ""
    else:
        group_id = event.get_str("requestParameters", "groupId")
        group_name = event.get_str("requestParameters", "groupName")
        permissions = _ip_permissions(event.request) or _response_rules(event, egress=False)
    severity: Severity | None = None
    exposures: list[str] = []
    cidrs: list[str] = []
    exposed: list[_Permission] = []
    for permission in permissions:
        if not ctx.is_world_like(permission.cidr):
            continue
        found = _exposure(permission, ctx)
        if found is None:
            continue
        level, label = found
        severity = level if severity is None else max(severity, level)
        exposures.append(label)
        cidrs.append(permission.cidr)
        exposed.append(permission)
    if severity is None:
        return
    group = _group(event, group_id, group_name)
    yield Hit(
        summary=f"Security group {group.label or '(unknown)'} opened to {_join(cidrs)} on {_join(exposures)}",
        resource=group,
        severity=severity,
        details={"Ports": _join(exposures), "CIDR": _join(cidrs)},
        remedy=_remedy(event, group_id, exposed, egress=False),
    )


@rule(
    id="sg.egress-open-to-world",
    routine=True,
    severity=Severity.LOW,
    on={SOURCE: ["AuthorizeSecurityGroupEgress"]},
    title="Security group allows all outbound traffic",
    description=(
        "A security group now lets its members send any traffic to any address. Unrestricted "
        "egress is what data exfiltration and command-and-control channels rely on."
    ),
    remediation=(
        "If the group does not need it, remove the rule (`aws ec2 revoke-security-group-egress "
        "--group-id <sg> --security-group-rule-ids <sgr>`) and allow only the destinations and "
        "ports the workload needs."
    ),
    mitre="T1562.007",
    quiet=(
        "the default group, egress narrower than all protocols (HTTPS out), and private "
        "destinations. Cannot tell: Terraform or CloudFormation writing back the all-traffic egress "
        "rule every new group starts with (they remove AWS's default rule first) from someone opening "
        "a locked-down group: hence LOW, routine by memory for the deploy role."
    ),
)
def egress_open_to_world(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    group_id = event.get_str("requestParameters", "groupId")
    group_name = event.get_str("requestParameters", "groupName")
    if group_name == "default":
        return  # the default group allows all egress from the start: nothing new
    permissions = _ip_permissions(event.request) or _response_rules(event, egress=True)
    exposed = [p for p in permissions if p.protocol in _ALL_PROTOCOLS and ctx.is_world_like(p.cidr)]
    cidrs = [p.cidr for p in exposed]
    if not cidrs:
        return
    group = _group(event, group_id, group_name)
    yield Hit(
        summary=f"Security group {group.label or '(unknown)'} allows all outbound traffic to {_join(cidrs)}",
        resource=group,
        details={"Protocol": "all", "CIDR": _join(cidrs)},
        remedy=_remedy(event, group_id, exposed, egress=True),
    )
