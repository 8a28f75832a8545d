"""VPC and network changes: NACLs, routes, gateways, peering, flow logs.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.core.actors import CLOUDFORMATION, applied_by_stack
from trailguard.core.base_handler import RuleContext, is_all_ports, rule
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_int, as_text, dig, items_of

SOURCE = "ec2.amazonaws.com"


def _arn(event: CloudTrailEvent, kind: str, resource_id: str) -> str:
    return event.arn("ec2", f"{kind}/{resource_id}") if resource_id else ""


# --------------------------------------------------------------------------------------------
# Network ACLs
# --------------------------------------------------------------------------------------------

_NACL_ALL = {"-1", "all"}
# NACLs are stateless, so public subnets need an inbound allow for return traffic on the client's
# ephemeral ports (1024-65535 in AWS's own examples). Such a wide high range happens to contain
# database ports, but it is the standard set-up, not an exposure: reporting it would be noise.
_EPHEMERAL_LOW = 1024
_EPHEMERAL_MIN_WIDTH = 4096


def _is_ephemeral_return_range(from_port: int | None, to_port: int | None) -> bool:
    if from_port is None or to_port is None or is_all_ports(from_port, to_port):
        return False
    low, high = sorted((from_port, to_port))
    return low >= _EPHEMERAL_LOW and high - low >= _EPHEMERAL_MIN_WIDTH


_NACL_PORTS = {"6": "tcp", "tcp": "tcp", "17": "udp", "udp": "udp"}


@rule(
    id="vpc.nacl-open-to-world",
    resource_placeholder="<acl>",
    severity=Severity.HIGH,
    on={SOURCE: ["CreateNetworkAclEntry", "ReplaceNetworkAclEntry"]},
    title="Network ACL allows inbound traffic from the internet",
    description=(
        "A network ACL entry now allows inbound traffic from the whole internet to every port or "
        "to an admin/database port, removing the subnet-level guard that backs up security groups."
    ),
    remediation=(
        "Replace or delete the entry (`aws ec2 delete-network-acl-entry --network-acl-id <acl> "
        "--rule-number <n> --ingress`) and allow only the ports and source networks needed."
    ),
    mitre="T1562.007",
    quiet=(
        "deny entries, outbound entries, sources narrower than /8 or in `allowed_cidrs`, "
        "ports that are neither admin nor database ports, ICMP, and the inbound 1024-65535 return-traffic "
        "range every public subnet's NACL needs. Cannot tell: a NACL left all-open on purpose because "
        "security groups do the filtering (routine by memory)."
    ),
)
def nacl_open_to_world(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    if as_text(params.get("ruleAction")).lower() != "allow":
        return
    # egress is required by the API; a record without it is ambiguous, so treat it as inbound.
    if as_bool(params.get("egress")) is True:
        return
    cidr = as_text(params.get("cidrBlock")) or as_text(params.get("ipv6CidrBlock"))
    if not ctx.is_world_like(cidr):
        return
    # CloudTrail logs the protocol as aclProtocol; the API parameter is Protocol.
    protocol = (as_text(params.get("aclProtocol")) or as_text(params.get("protocol"))).lower()
    if protocol in _NACL_ALL:
        ports = "all traffic"
    elif protocol in _NACL_PORTS:
        port_range = params.get("portRange")
        from_port = as_int(dig(port_range, "from"))
        to_port = as_int(dig(port_range, "to"))
        if not ctx.touches_admin_port(from_port, to_port):
            return
        if _is_ephemeral_return_range(from_port, to_port):
            return
        if is_all_ports(from_port, to_port):
            label = "all"
        else:
            low, high = sorted((from_port or 0, to_port or 0))
            label = str(low) if low == high else f"{low}-{high}"
        ports = f"{_NACL_PORTS[protocol]} {label}"
    else:
        return  # ICMP and other port-less protocols are not a service exposure
    acl_id = as_text(params.get("networkAclId"))
    rule_number = as_text(params.get("ruleNumber"))
    yield Hit(
        summary=f"Network ACL {acl_id or '(unknown)'} rule {rule_number or '?'} allows {ports} from {cidr}",
        resource=Resource(type="AWS::EC2::NetworkAcl", id=acl_id, arn=_arn(event, "network-acl", acl_id)),
        details={"Rule number": rule_number, "Ports": ports, "CIDR": cidr},
        remedy={"<n>": rule_number},
    )


# --------------------------------------------------------------------------------------------
# Routes and gateways
# --------------------------------------------------------------------------------------------


@rule(
    id="vpc.route-to-internet",
    resource_placeholder="<rtb>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateRoute", "ReplaceRoute"]},
    title="Route to an internet gateway added",
    description=(
        "A route table now sends internet-wide traffic to an internet gateway, so every subnet "
        "associated with it becomes public: instances with public IPs there are reachable directly. "
        "A replaced route (a private subnet's default route moved to the gateway) is MEDIUM; a new "
        "one, how public subnets are built, is LOW."
    ),
    remediation=(
        "If the subnets must stay private, delete the route (`aws ec2 delete-route --route-table-id "
        "<rtb> --destination-cidr-block 0.0.0.0/0`) or point it at a NAT gateway instead."
    ),
    mitre="T1599",
    escalates_to=(Severity.LOW,),
    quiet=(
        "routes to NAT gateways, peering, transit gateways or endpoints, and destinations "
        "narrower than /8. LOW instead of MEDIUM for CreateRoute: a new default route to an internet "
        "gateway is how every public subnet is built; ReplaceRoute, which moves a table's existing "
        "default route (a NAT gateway's, so a private subnet's) to the gateway, stays MEDIUM. Cannot "
        "tell: whether the table's subnets were meant to be public."
    ),
)
def route_to_internet(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    gateway = as_text(params.get("gatewayId"))
    if not gateway.startswith("igw-"):
        return
    destinations = [
        cidr
        for cidr in (as_text(params.get("destinationCidrBlock")), as_text(params.get("destinationIpv6CidrBlock")))
        if cidr and ctx.is_world_like(cidr)
    ]
    if not destinations:
        return
    table = as_text(params.get("routeTableId"))
    # CreateRoute fails when the table already has a route for the destination: a new default
    # route is a public subnet being built. ReplaceRoute moves an existing one (a NAT gateway's,
    # typically) to the internet gateway: a private subnet made public.
    replaced = event.event_name == "ReplaceRoute"
    yield Hit(
        summary=f"Route table {table or '(unknown)'} routes {', '.join(destinations)} to internet gateway {gateway}"
        + (" (replacing its previous route)" if replaced else ""),
        resource=Resource(type="AWS::EC2::RouteTable", id=table, arn=_arn(event, "route-table", table)),
        severity=None if replaced else Severity.LOW,
        details={"Destination": ", ".join(destinations), "Gateway": gateway, "Change": event.event_name},
    )


@rule(
    id="vpc.internet-gateway-attached",
    severity=Severity.LOW,
    on={SOURCE: ["AttachInternetGateway"]},
    title="Internet gateway attached to a VPC",
    description=(
        "An internet gateway was attached to a VPC: with a route to it, the VPC's subnets can be "
        "reached from and can send data to the internet."
    ),
    remediation=(
        "Confirm the VPC is meant to be internet-facing; if not, detach the gateway "
        "(`aws ec2 detach-internet-gateway --internet-gateway-id <igw> --vpc-id <vpc>`)."
    ),
    mitre="T1599",
    quiet=(
        "calls refused. Cannot tell: a new VPC built by a stack or Terraform from an "
        "attacker's: every public VPC gets a gateway, hence LOW (routine by memory for a network "
        "pipeline)."
    ),
)
def internet_gateway_attached(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    gateway = event.get_str("requestParameters", "internetGatewayId")
    vpc = event.get_str("requestParameters", "vpcId")
    yield Hit(
        summary=f"Internet gateway {gateway or '(unknown)'} attached to VPC {vpc or '(unknown)'}",
        resource=Resource(type="AWS::EC2::VPC", id=vpc, arn=_arn(event, "vpc", vpc)),
        details={"Internet gateway": gateway, "VPC": vpc},
        remedy={"<igw>": gateway, "<vpc>": vpc},
    )


# --------------------------------------------------------------------------------------------
# Peering
# --------------------------------------------------------------------------------------------


def _peer_accounts(event: CloudTrailEvent) -> list[str]:
    """Account ids on either side of the peering connection, as far as the record says."""
    connection = event.get_dict("responseElements", "vpcPeeringConnection")
    accounts = [
        as_text(event.get("requestParameters", "peerOwnerId")),
        as_text(dig(connection, "accepterVpcInfo", "ownerId")),
        as_text(dig(connection, "requesterVpcInfo", "ownerId")),
    ]
    return [a for a in dict.fromkeys(accounts) if a]


@rule(
    id="vpc.peering-external",
    resource_placeholder="<pcx>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateVpcPeeringConnection", "AcceptVpcPeeringConnection"]},
    title="VPC peering with an untrusted account",
    description=(
        "A VPC peering connection was requested with, or accepted from, an account that is not a "
        "trusted account: once routes exist, that account's network can reach this VPC directly."
    ),
    remediation=(
        "Verify who owns the peer account; if unexpected, delete the connection "
        "(`aws ec2 delete-vpc-peering-connection --vpc-peering-connection-id <pcx>`) and remove "
        "routes that point at it."
    ),
    mitre="T1599",
    quiet=(
        "peering inside the account and with accounts in `trusted_accounts`. Cannot tell: a "
        "partner's or a vendor's VPC not listed (add the account to `trusted_accounts`)."
    ),
)
def peering_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    # A missing peerOwnerId on CreateVpcPeeringConnection means the caller's own account.
    external = [a for a in _peer_accounts(event) if not ctx.is_trusted_account(a, event)]
    if not external:
        return
    connection = event.get_dict("responseElements", "vpcPeeringConnection")
    pcx = as_text(connection.get("vpcPeeringConnectionId")) or event.get_str(
        "requestParameters", "vpcPeeringConnectionId"
    )
    verb = "accepted from" if event.event_name == "AcceptVpcPeeringConnection" else "requested with"
    details = {"Peer account": ", ".join(external)}
    peer_vpc = event.get_str("requestParameters", "peerVpcId") or as_text(
        dig(connection, "requesterVpcInfo" if verb.startswith("accepted") else "accepterVpcInfo", "vpcId")
    )
    if peer_vpc:
        details["Peer VPC"] = peer_vpc
    yield Hit(
        summary=f"VPC peering {pcx or '(unknown)'} {verb} untrusted account {', '.join(external)}",
        resource=Resource(
            type="AWS::EC2::VPCPeeringConnection", id=pcx, arn=_arn(event, "vpc-peering-connection", pcx)
        ),
        details=details,
    )


# --------------------------------------------------------------------------------------------
# Flow logs and deletions
# --------------------------------------------------------------------------------------------


def _flow_log_ids(event: CloudTrailEvent) -> list[str]:
    """DeleteFlowLogs logs ``DeleteFlowLogsRequest.FlowLogId`` as {"content", "tag"} (or a list)."""
    request = event.get_dict("requestParameters", "DeleteFlowLogsRequest") or event.request
    raw: Any = None
    for key in ("FlowLogId", "FlowLogIds", "flowLogId", "flowLogIds", "flowLogIdSet"):
        if key in request:
            raw = request[key]
            break
    ids: list[str] = []
    for item in items_of(raw):
        value = item.get("content") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            ids.append(value.strip())
    return list(dict.fromkeys(ids))


def _unsuccessful_ids(event: CloudTrailEvent) -> set[str]:
    """Flow logs EC2 reports it could not delete (they are still there)."""
    response = event.get_dict("responseElements", "DeleteFlowLogsResponse") or event.response
    failed: set[str] = set()
    unsuccessful = response.get("unsuccessful")
    if isinstance(unsuccessful, dict) and "item" in unsuccessful:
        unsuccessful = unsuccessful.get("item")
    for item in items_of(unsuccessful):
        resource_id = dig(item, "resourceId")
        if isinstance(resource_id, str):
            failed.add(resource_id)
    return failed


@rule(
    id="vpc.flow-logs-deleted",
    severity=Severity.HIGH,
    on={SOURCE: ["DeleteFlowLogs"]},
    title="VPC flow logs deleted",
    description=(
        "Flow logs were deleted: network traffic to and from the VPC, subnet or interface is no "
        "longer recorded, which hides scanning, lateral movement and exfiltration. MEDIUM when a "
        "CloudFormation stack deletes them while applying a template (a stack tearing down its own "
        "network)."
    ),
    remediation=(
        "Recreate the flow log (`aws ec2 create-flow-logs --resource-type VPC --resource-ids <vpc> "
        "--traffic-type ALL ...`) and deny ec2:DeleteFlowLogs outside the network admin role."
    ),
    mitre="T1562.008",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "calls refused, flow logs EC2 could not delete (listed as unsuccessful), and MEDIUM "
        "instead of HIGH when CloudFormation deletes the flow log while applying a stack (invokedBy "
        "cloudformation.amazonaws.com: a stack tearing down its own network). Cannot tell: Terraform "
        "destroying its own flow log, which looks like the caller's own call."
    ),
)
def flow_logs_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    # A stack removing the flow log it created, with the rest of its network, is tear-down, not
    # evasion; still reported, one step lower, since anyone who may apply a stack can use one.
    by_stack = applied_by_stack(event)
    severity = Severity.MEDIUM if by_stack else None
    details = {"Through": CLOUDFORMATION} if by_stack else {}
    ids = _flow_log_ids(event)
    if not ids:
        yield Hit(
            summary="VPC flow logs deleted",
            resource=Resource(type="AWS::EC2::FlowLog"),
            severity=severity,
            details=details,
        )
        return
    failed = _unsuccessful_ids(event)
    for flow_log in ids:
        if flow_log in failed:
            continue
        yield Hit(
            summary=f"VPC flow log {flow_log} deleted" + (" by a CloudFormation stack" if by_stack else ""),
            resource=Resource(type="AWS::EC2::FlowLog", id=flow_log, arn=_arn(event, "vpc-flow-log", flow_log)),
            severity=severity,
            details=details,
        )


_DELETED: dict[str, tuple[str, str, str, str]] = {
    # event name: (request key, resource type, ARN resource kind, human noun)
    "DeleteVpc": ("vpcId", "AWS::EC2::VPC", "vpc", "VPC"),
    "DeleteSubnet": ("subnetId", "AWS::EC2::Subnet", "subnet", "Subnet"),
    "DeleteInternetGateway": ("internetGatewayId", "AWS::EC2::InternetGateway", "internet-gateway", "Internet gateway"),
}


@rule(
    id="vpc.network-deleted",
    severity=Severity.INFO,
    on={SOURCE: list(_DELETED)},
    title="VPC network resource deleted",
    description=(
        "A VPC, subnet or internet gateway was deleted. Usually routine clean-up, kept for the "
        "record because it can also be an outage in the making or an attacker removing evidence."
    ),
    remediation=(
        "Check the deletion was planned (a change ticket, infrastructure code); if not, recreate "
        "the resource from infrastructure code and review what else the caller removed."
    ),
    kind=FindingKind.INFO,
    quiet=(
        "deletions refused (a VPC that still has dependencies). Cannot tell: clean-up from "
        "sabotage; it is INFO, for the record."
    ),
)
def network_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    key, resource_type, arn_kind, noun = _DELETED.get(event.event_name, ("", "", "", "Network resource"))
    resource_id = event.get_str("requestParameters", key) if key else ""
    yield Hit(
        summary=f"{noun} {resource_id or '(unknown)'} deleted",
        resource=Resource(type=resource_type, id=resource_id, arn=_arn(event, arn_kind, resource_id)),
    )
