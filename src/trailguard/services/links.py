"""Links for an alert: the resource in the AWS console, the event in CloudTrail, the MITRE technique.

Every part of a URL that comes from an event is validated or percent-encoded here, and the scheme and
host are always ours: an event whose ``awsRegion`` reads ``evil.example/`` must not turn an alert's
"open in the console" button into a link to someone else's site. A value that does not look like
what AWS would write (a region, a security group id, a bucket name) gets no deep link; the service's
console, or nothing, is linked instead.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote

from trailguard.core.event_types import Finding


class Link(NamedTuple):
    """A link to show in an alert. ``label`` is fixed text or a validated technique id, never free
    event text (channels still escape it for their markup); ``kind`` is ``console``, ``cloudtrail``
    or ``mitre``."""

    kind: str
    label: str
    url: str


REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)
_EVENT_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
_TECHNIQUE = re.compile(r"T(\d{4})(?:\.(\d{3}))?", re.ASCII)
_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
_PARTITION = re.compile(r"arn:(aws(?:-cn|-us-gov)?):")

# What AWS ids look like; anything else gets the service console instead of a deep link.
_IDS = {
    "sg": re.compile(r"sg-[0-9a-f]{8,17}"),
    "i": re.compile(r"i-[0-9a-f]{8,17}"),
    "snap": re.compile(r"snap-[0-9a-f]{8,17}"),
    "ami": re.compile(r"ami-[0-9a-f]{8,17}"),
    "vol": re.compile(r"vol-[0-9a-f]{8,17}"),
    "vpc": re.compile(r"vpc-[0-9a-f]{8,17}"),
    "acl": re.compile(r"acl-[0-9a-f]{8,17}"),
    "igw": re.compile(r"igw-[0-9a-f]{8,17}"),
    "rtb": re.compile(r"rtb-[0-9a-f]{8,17}"),
    "pcx": re.compile(r"pcx-[0-9a-f]{8,17}"),
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_LAMBDA_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
_LAYER_VERSION = re.compile(r"([A-Za-z0-9_-]{1,140}):(\d{1,10})", re.ASCII)
_RDS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,254}")
_KMS_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")
_ELB_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:(loadbalancer|listener)/(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}(/[0-9a-f]{16})?",
    re.ASCII,
)
_TRAIL_ARN = re.compile(r"arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:trail/[A-Za-z0-9._-]{3,128}", re.ASCII)

# Services whose console lives under another path than their event source's prefix.
_SERVICE_CONSOLES = {
    "ec2": ("ec2", "EC2"),
    "elasticloadbalancing": ("ec2", "EC2"),
    "s3": ("s3", "S3"),
    "iam": ("iam", "IAM"),
    "sts": ("iam", "IAM"),
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
    "backup": ("backup", "AWS Backup"),
    "ecr": ("ecr", "ECR"),
    "ecr-public": ("ecr", "ECR"),
    "elasticfilesystem": ("efs", "EFS"),
    "es": ("aos", "OpenSearch Service"),
    "glacier": ("glacier", "S3 Glacier"),
}
_GLOBAL_CONSOLES = frozenset({"iam", "organizations", "s3"})


def _partition(finding: Finding) -> str:
    for arn in (finding.resource.arn, finding.actor.arn):
        match = _PARTITION.match(arn)
        if match:
            return match[1]
    return "aws"


class _Console:
    """Builds console URLs for one finding's partition and region (only from validated parts)."""

    def __init__(self, finding: Finding) -> None:
        self.partition = _partition(finding)
        self.host = _HOSTS[self.partition]
        self.region = finding.region if REGION.fullmatch(finding.region) else ""

    def regional(self, path: str, fragment: str = "") -> str:
        if not self.region:
            return ""
        host = f"{self.region}.{self.host}" if self.partition == "aws" else self.host
        url = f"https://{host}/{path}?region={self.region}"
        return f"{url}#{fragment}" if fragment else url

    def global_(self, path: str, fragment: str = "") -> str:
        url = f"https://{self.host}/{path}"
        return f"{url}#{fragment}" if fragment else url

    def s3(self, path: str, query: str = "") -> str:
        host = "s3.console.aws.amazon.com" if self.partition == "aws" else self.host
        parts = [f"region={self.region}"] if self.region else []
        if query:
            parts.append(query)
        return f"https://{host}/s3/{path}" + ("?" + "&".join(parts) if parts else "")


def _q(value: str) -> str:
    return quote(value, safe="")


def _resource_link(finding: Finding, console: _Console) -> Link | None:
    """A deep link to the resource itself, when its type is known and its id looks like one."""
    kind, rid, arn = finding.resource.type, finding.resource.id, finding.resource.arn

    def ok(pattern: re.Pattern[str], value: str = rid) -> bool:
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
        if ok(_IDS[prefix]):
            url, label = console.regional("ec2/home", f"{fragment}={rid}"), f"Open {noun} in EC2"
    elif kind in vpc:
        prefix, fragment, noun = vpc[kind]
        if ok(_IDS[prefix]):
            url, label = console.regional("vpcconsole/home", f"{fragment}={rid}"), f"Open {noun} in VPC console"
    elif kind in ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener"):
        candidate = arn or rid
        if ok(_ELB_ARN, candidate):
            # A listener's ARN names its load balancer: .../listener/app/NAME/LB-ID/LISTENER-ID
            balancer = re.sub(r":listener/(\w+/[^/]+/[0-9a-f]+)/[0-9a-f]+$", r":loadbalancer/\1", candidate)
            url = console.regional("ec2/home", f"LoadBalancer:loadBalancerArn={_q(balancer)}")
            label = "Open load balancer in EC2"
    elif kind == "AWS::S3::Bucket" and ok(_BUCKET):
        url, label = console.s3(f"buckets/{rid}", "tab=permissions"), "Open bucket permissions in S3"
    elif kind == "AWS::S3::Object" and "/" in rid and ok(_BUCKET, rid.split("/", 1)[0]):
        bucket, key = rid.split("/", 1)
        url, label = console.s3(f"object/{bucket}", f"prefix={_q(key)}"), "Open object in S3"
    elif kind in ("AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group") and ok(_IAM_NAME):
        section = {"AWS::IAM::User": "users", "AWS::IAM::Role": "roles", "AWS::IAM::Group": "groups"}[kind]
        noun = section[:-1]
        url, label = console.global_("iam/home", f"/{section}/details/{_q(rid)}"), f"Open {noun} in IAM"
    elif kind in ("AWS::IAM::OIDCProvider", "AWS::IAM::SAMLProvider"):
        url, label = console.global_("iam/home", "/identity_providers"), "Open identity providers in IAM"
    elif kind == "AWS::Lambda::Function" and ok(_LAMBDA_NAME):
        url, label = console.regional("lambda/home", f"/functions/{rid}"), "Open function in Lambda"
    elif kind == "AWS::Lambda::LayerVersion" and ok(_LAYER_VERSION):
        name, version = rid.split(":")
        url = console.regional("lambda/home", f"/layers/{name}/versions/{version}")
        label = "Open layer version in Lambda"
    elif kind in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster") and ok(_RDS_NAME):
        cluster = "true" if kind == "AWS::RDS::DBCluster" else "false"
        url = console.regional("rds/home", f"database:id={rid};is-cluster={cluster}")
        label = "Open database in RDS"
    elif kind in ("AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot"):
        url, label = console.regional("rds/home", "snapshots-list:"), "Open snapshots in RDS"
    elif kind == "AWS::CloudTrail::Trail":
        if ok(_TRAIL_ARN, arn):
            # The form public runbooks link to: the ARN as it is (_TRAIL_ARN allows no character that
            # needs escaping in a fragment), under cloudtrail/, which the console still serves.
            url, label = console.regional("cloudtrail/home", f"/trails/{arn}"), "Open trail in CloudTrail"
        else:
            url, label = console.regional("cloudtrailv2/home", "/trails"), "Open trails in CloudTrail"
    elif kind == "AWS::KMS::Key" and ok(_KMS_KEY):
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


def _service_link(finding: Finding, console: _Console) -> Link | None:
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
    console = _Console(finding)
    return _resource_link(finding, console) or _service_link(finding, console)


def cloudtrail_url(finding: Finding) -> str:
    """The event in CloudTrail's event history, built only from a valid region and event id.

    Unlike ``Finding.cloudtrail_url``, a region or event id that does not look like AWS's gives no
    link rather than a link to somewhere else.
    """
    console = _Console(finding)
    if not console.region or not _EVENT_ID.fullmatch(finding.event_id):
        return ""
    return console.regional("cloudtrailv2/home", f"/events/{finding.event_id}")


def mitre_url(technique: str) -> str:
    """``T1562.007`` -> its page on attack.mitre.org; empty for anything else."""
    match = _TECHNIQUE.fullmatch(technique.strip())
    if not match:
        return ""
    return f"https://attack.mitre.org/techniques/T{match[1]}/" + (f"{match[2]}/" if match[2] else "")


def finding_links(finding: Finding) -> list[Link]:
    """Console, CloudTrail event and MITRE technique, in that order, each only when it can be built."""
    links: list[Link] = []
    console = console_link(finding)
    if console:
        links.append(console)
    event = cloudtrail_url(finding)
    if event:
        links.append(Link("cloudtrail", "Open event in CloudTrail", event))
    technique = mitre_url(finding.mitre)
    if technique:
        links.append(Link("mitre", f"MITRE ATT&CK {finding.mitre.strip()}", technique))
    return links
