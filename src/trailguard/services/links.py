"""Links for an alert: the resource in the AWS console, the event in CloudTrail, the MITRE technique.

Every part of a URL that comes from an event is validated (against ``core.aws_ids``) or
percent-encoded, and the scheme and host are always ours (``core.console``): an event whose
``awsRegion`` reads ``evil.example/`` must not turn an alert's "open in the console" button into a
link to someone else's site. A value that does not look like what AWS would write (a region, a
security group id, a bucket name) gets no deep link; the service's console, or nothing, is linked
instead.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote

from trailguard.core import aws_ids
from trailguard.core.console import Console
from trailguard.core.event_types import Finding


class Link(NamedTuple):
    """A link to show in an alert. ``label`` is fixed text or a validated technique id, never free
    event text (channels still escape it for their markup); ``kind`` is ``console``, ``cloudtrail``
    or ``mitre``."""

    kind: str
    label: str
    url: str


_TECHNIQUE = re.compile(r"T(\d{4})(?:\.(\d{3}))?", re.ASCII)

# Services whose console lives under another path than their event source's prefix.
_SERVICE_CONSOLES = {
    "ec2": ("ec2", "EC2"),
    "ec2-instance-connect": ("ec2", "EC2"),
    "elasticloadbalancing": ("ec2", "EC2"),
    "s3": ("s3", "S3"),
    "iam": ("iam", "IAM"),
    "sts": ("iam", "IAM"),
    "rolesanywhere": ("rolesanywhere", "IAM Roles Anywhere"),
    "ssm": ("systems-manager", "Systems Manager"),
    "signin": ("iam", "IAM"),
    "lambda": ("lambda", "Lambda"),
    "rds": ("rds", "RDS"),
    "cloudtrail": ("cloudtrailv2", "CloudTrail"),
    "kms": ("kms", "KMS"),
    "guardduty": ("guardduty", "GuardDuty"),
    "config": ("config", "AWS Config"),
    "securityhub": ("securityhub", "Security Hub"),
    "organizations": ("organizations", "Organizations"),
    "waf": ("wafv2", "WAF"),
    "waf-regional": ("wafv2", "WAF"),
    "wafv2": ("wafv2", "WAF"),
    "cloudformation": ("cloudformation", "CloudFormation"),
    "sns": ("sns", "SNS"),
    "sqs": ("sqs", "SQS"),
    "secretsmanager": ("secretsmanager", "Secrets Manager"),
    "dynamodb": ("dynamodbv2", "DynamoDB"),
    "logs": ("cloudwatch", "CloudWatch"),
    "monitoring": ("cloudwatch", "CloudWatch"),
    "events": ("events", "EventBridge"),
    "sso": ("singlesignon", "IAM Identity Center"),
    "sso-directory": ("singlesignon", "IAM Identity Center"),
    "identitystore": ("singlesignon", "IAM Identity Center"),
    "route53domains": ("route53/domains", "Route 53 domains"),
    "account": ("billing", "account settings"),
    "bedrock": ("bedrock", "Bedrock"),
    "agreement-marketplace": ("marketplace", "AWS Marketplace"),
    "ses": ("ses", "SES"),
    "servicequotas": ("servicequotas", "Service Quotas"),
    "route53resolver": ("route53resolver", "Route 53 Resolver"),
    "access-analyzer": ("access-analyzer", "IAM Access Analyzer"),
    "macie2": ("macie", "Macie"),
    "inspector2": ("inspector/v2", "Inspector"),
    "detective": ("detective", "Detective"),
    "backup": ("backup", "AWS Backup"),
    "ecr": ("ecr", "ECR"),
    "ecr-public": ("ecr", "ECR"),
    "elasticfilesystem": ("efs", "EFS"),
    "es": ("aos", "OpenSearch Service"),
    "glacier": ("glacier", "S3 Glacier"),
}
_GLOBAL_CONSOLES = frozenset({"iam", "organizations", "s3", "route53/domains", "billing", "marketplace"})


def _q(value: str) -> str:
    return quote(value, safe="")


def _resource_link(finding: Finding, console: Console) -> Link | None:
    """A deep link to the resource itself, when its type is known and its id looks like one."""
    kind, rid, arn = finding.resource.type, finding.resource.id, finding.resource.arn

    def ok(pattern: aws_ids.Pattern, value: str = rid) -> bool:
        return bool(pattern.fullmatch(value))

    ec2 = {
        "AWS::EC2::SecurityGroup": ("sg", "SecurityGroup:groupId", "security group"),
        "AWS::EC2::Instance": ("i", "InstanceDetails:instanceId", "instance"),
        "AWS::EC2::Snapshot": ("snap", "SnapshotDetails:snapshotId", "snapshot"),
        "AWS::EC2::Image": ("ami", "ImageDetails:imageId", "AMI"),
        "AWS::EC2::Volume": ("vol", "VolumeDetails:volumeId", "volume"),
    }
    vpc = {
        "AWS::EC2::VPC": ("vpc", "VpcDetails:VpcId", "VPC"),
        "AWS::EC2::NetworkAcl": ("acl", "NetworkAclDetails:networkAclId", "network ACL"),
        "AWS::EC2::InternetGateway": ("igw", "InternetGateway:internetGatewayId", "internet gateway"),
        "AWS::EC2::RouteTable": ("rtb", "RouteTableDetails:RouteTableId", "route table"),
        "AWS::EC2::VPCPeeringConnection": ("pcx", "PeeringConnectionDetails:VpcPeeringConnectionId", "peering"),
    }
    url, label = "", ""
    if kind in ec2:
        prefix, fragment, noun = ec2[kind]
        if ok(aws_ids.EC2_IDS[prefix]):
            url, label = console.regional("ec2/home", f"{fragment}={rid}"), f"Open {noun} in EC2"
    elif kind in vpc:
        prefix, fragment, noun = vpc[kind]
        if ok(aws_ids.EC2_IDS[prefix]):
            url, label = console.regional("vpcconsole/home", f"{fragment}={rid}"), f"Open {noun} in VPC console"
    elif kind in ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener"):
        candidate = arn or rid
        if ok(aws_ids.ELB_ARN, candidate):
            # A listener's ARN names its load balancer: .../listener/app/NAME/LB-ID/LISTENER-ID
            balancer = re.sub(r":listener/(\w+/[^/]+/[0-9a-f]+)/[0-9a-f]+$", r":loadbalancer/\1", candidate)
            url = console.regional("ec2/home", f"LoadBalancer:loadBalancerArn={_q(balancer)}")
            label = "Open load balancer in EC2"
    elif kind == "AWS::S3::Bucket" and ok(aws_ids.BUCKET_NAME):
        url, label = console.s3(f"buckets/{rid}", "tab=permissions"), "Open bucket permissions in S3"
    elif kind == "AWS::S3::Object" and "/" in rid and ok(aws_ids.BUCKET_NAME, rid.split("/", 1)[0]):
        bucket, key = rid.split("/", 1)
        url, label = console.s3(f"object/{bucket}", f"prefix={_q(key)}"), "Open object in S3"
    elif kind in ("AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group") and ok(aws_ids.IAM_NAME):
        section = {"AWS::IAM::User": "users", "AWS::IAM::Role": "roles", "AWS::IAM::Group": "groups"}[kind]
        noun = section[:-1]
        url, label = console.global_("iam/home", f"/{section}/details/{_q(rid)}"), f"Open {noun} in IAM"
    elif kind in ("AWS::IAM::OIDCProvider", "AWS::IAM::SAMLProvider"):
        url, label = console.global_("iam/home", "/identity_providers"), "Open identity providers in IAM"
    elif kind == "AWS::Lambda::Function" and ok(aws_ids.LAMBDA_NAME):
        url, label = console.regional("lambda/home", f"/functions/{rid}"), "Open function in Lambda"
    elif kind == "AWS::Lambda::LayerVersion" and ok(aws_ids.LAMBDA_LAYER_VERSION):
        name, version = rid.split(":")
        url = console.regional("lambda/home", f"/layers/{name}/versions/{version}")
        label = "Open layer version in Lambda"
    elif kind in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster") and ok(aws_ids.RDS_NAME):
        cluster = "true" if kind == "AWS::RDS::DBCluster" else "false"
        url = console.regional("rds/home", f"database:id={rid};is-cluster={cluster}")
        label = "Open database in RDS"
    elif kind in ("AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot"):
        url, label = console.regional("rds/home", "snapshots-list:"), "Open snapshots in RDS"
    elif kind == "AWS::CloudTrail::Trail":
        if ok(aws_ids.TRAIL_ARN, arn):
            # The form public runbooks link to: the ARN as it is (TRAIL_ARN allows no character that
            # needs escaping in a fragment), under cloudtrail/, which the console still serves.
            url, label = console.regional("cloudtrail/home", f"/trails/{arn}"), "Open trail in CloudTrail"
        else:
            url, label = console.regional("cloudtrailv2/home", "/trails"), "Open trails in CloudTrail"
    elif kind == "AWS::KMS::Key" and ok(aws_ids.KMS_KEY_ID):
        url, label = console.regional("kms/home", f"/kms/keys/{rid}"), "Open key in KMS"
    elif kind in ("AWS::GuardDuty::Detector", "AWS::GuardDuty::IPSet"):
        url, label = console.regional("guardduty/home", "/summary"), "Open GuardDuty"
    elif kind == "AWS::SecurityHub::Standard":
        url, label = console.regional("securityhub/home", "/standards"), "Open Security Hub standards"
    elif kind == "AWS::Config::ConfigurationRecorder":
        url, label = console.regional("config/home", "/settings"), "Open AWS Config settings"
    elif kind == "AWS::Organizations::Account":
        url, label = console.global_("organizations/v2/home/accounts"), "Open AWS Organizations"
    elif kind == "AWS::EC2::FlowLog":
        url, label = console.regional("vpcconsole/home", "vpcs:"), "Open VPCs (flow logs) in VPC console"
    return Link("console", label, url) if url else None


def _service_link(finding: Finding, console: Console) -> Link | None:
    """The console of the service the event came from, when the resource has no page of its own."""
    prefix = finding.event_source.removesuffix(".amazonaws.com")
    if prefix not in _SERVICE_CONSOLES:
        return None
    path, name = _SERVICE_CONSOLES[prefix]
    if path == "s3":
        url = console.s3("settings") if finding.resource.type == "AWS::::Account" else console.s3("buckets")
    elif path in _GLOBAL_CONSOLES:
        url = console.global_(f"{path}/home")
    else:
        url = console.regional(f"{path}/home")
    return Link("console", f"Open {name} console", url) if url else None


def console_link(finding: Finding) -> Link | None:
    """The resource's page in the AWS console, else the service's console; None when neither is safe."""
    console = finding.console
    return _resource_link(finding, console) or _service_link(finding, console)


def mitre_url(technique: str) -> str:
    """``T1562.007`` -> its page on attack.mitre.org; empty for anything else."""
    match = _TECHNIQUE.fullmatch(technique.strip())
    if not match:
        return ""
    return f"https://attack.mitre.org/techniques/T{match[1]}/" + (f"{match[2]}/" if match[2] else "")


def cloudtrail_link(finding: Finding) -> Link | None:
    """The event in CloudTrail's event history, when its region and event id are valid."""
    url = finding.cloudtrail_url
    return Link("cloudtrail", "Open event in CloudTrail", url) if url else None


def mitre_link(finding: Finding) -> Link | None:
    """The finding's MITRE ATT&CK technique, when it names one."""
    url = mitre_url(finding.mitre)
    return Link("mitre", f"MITRE ATT&CK {finding.mitre.strip()}", url) if url else None


def finding_links(finding: Finding) -> list[Link]:
    """Console, CloudTrail event and MITRE technique, in that order, each only when it can be built."""
    return [link for link in (console_link(finding), cloudtrail_link(finding), mitre_link(finding)) if link]
