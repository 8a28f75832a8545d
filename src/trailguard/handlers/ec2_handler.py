"""EC2 instances and resource exposure: launches, shared AMIs and snapshots, account settings.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_int, as_text, dig, items_of

SOURCE = "ec2.amazonaws.com"

# How many instance ids an alert lists before it says "and N more".
_MAX_LISTED = 10


def _arn(event: CloudTrailEvent, kind: str, resource_id: str, *, owned: bool = True) -> str:
    """An EC2 ARN; AMIs and snapshots have no account in theirs (``owned=False``)."""
    if not resource_id or not event.region:
        return ""
    return event.arn("ec2", f"{kind}/{resource_id}", account=None if owned else "")


def _listing(values: list[str]) -> str:
    shown = ", ".join(values[:_MAX_LISTED])
    extra = len(values) - _MAX_LISTED
    return f"{shown} and {extra} more" if extra > 0 else shown


# --------------------------------------------------------------------------------------------
# RunInstances
# --------------------------------------------------------------------------------------------


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in items_of(value) if isinstance(item, dict)]


def _public_ip(params: Mapping[str, Any], launched: list[dict[str, Any]]) -> tuple[bool, str]:
    """(has a public IPv4, how we know). The response is the truth when it carries the address;
    at launch it usually does not yet, so the request's associatePublicIpAddress is the signal."""
    for instance in launched:
        address = as_text(instance.get("ipAddress"))
        if address:
            return True, address
        for interface in _dicts(instance.get("networkInterfaceSet")):
            address = as_text(dig(interface, "association", "publicIp"))
            if address:
                return True, address
    requested = [as_bool(i.get("associatePublicIpAddress")) for i in _dicts(params.get("networkInterfaceSet"))]
    if True in requested:
        return True, "requested (associatePublicIpAddress)"
    if False in requested:
        return False, "none (associatePublicIpAddress false)"
    # Without an explicit choice the subnet's MapPublicIpOnLaunch decides, which the record
    # does not show: do not claim exposure we cannot see.
    return False, "not requested (subnet default applies)"


def _imds(params: Mapping[str, Any], launched: list[dict[str, Any]]) -> tuple[bool, str]:
    """(IMDSv1 reachable, description). The response's metadataOptions is the effective setting,
    account and AMI defaults included; the request only says what the caller asked for."""
    options = [o for o in (i.get("metadataOptions") for i in launched) if isinstance(o, dict)]
    source = "effective"
    if not options and isinstance(params.get("metadataOptions"), dict):
        options = [params["metadataOptions"]]
        source = "requested"
    if not options:
        # AWS's long-standing default is httpTokens "optional" unless the AMI or account says
        # otherwise, which a record without metadataOptions cannot show.
        return True, "not stated (IMDSv1 assumed allowed)"
    v1_allowed = False
    descriptions: list[str] = []
    for option in options:
        endpoint = as_text(option.get("httpEndpoint")).lower()
        tokens = as_text(option.get("httpTokens")).lower()
        if endpoint == "disabled":
            descriptions.append("IMDS disabled")
        elif tokens == "required":
            descriptions.append("IMDSv2 required")
        else:
            v1_allowed = True
            descriptions.append(f"IMDSv1 allowed (httpTokens {tokens or 'not set'})")
    return v1_allowed, f"{' / '.join(dict.fromkeys(descriptions))} ({source})"


def _first_value(items: list[dict[str, Any]], key: str) -> Any:
    return next((item[key] for item in items if key in item), None)


def _first(values: list[str]) -> str:
    return next((v for v in values if v), "")


@rule(
    id="ec2.instance-launched",
    severity=Severity.INFO,
    kind=FindingKind.INFO,
    on={SOURCE: ["RunInstances"]},
    title="EC2 instance launched",
    description=(
        "Instances were launched. Kept for the record: unexpected launches are how stolen "
        "credentials turn into crypto-mining bills or footholds. A launch with a public IP whose "
        "metadata service still answers IMDSv1 is raised, since one SSRF bug then hands out the "
        "instance role's credentials."
    ),
    remediation=(
        "Confirm the launch was intended. Otherwise stop it (`aws ec2 stop-instances "
        "--instance-ids <id>`, or terminate it after taking a snapshot for forensics). For an "
        "exposed IMDSv1 instance run `aws ec2 modify-instance-metadata-options --instance-id <id> "
        "--http-tokens required`."
    ),
    mitre="T1578.002",
    escalates_to=(Severity.MEDIUM,),
)
def instance_launched(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    launched = _dicts(event.get("responseElements", "instancesSet"))
    requested = _dicts(params.get("instancesSet"))
    interfaces = _dicts(params.get("networkInterfaceSet"))
    instance_ids = [i for i in (as_text(x.get("instanceId")) for x in launched) if i]

    count = len(launched) or as_int(_first_value(requested, "maxCount")) or 0
    instance_type = as_text(params.get("instanceType")) or _first([as_text(i.get("instanceType")) for i in launched])
    image = _first([as_text(i.get("imageId")) for i in requested + launched])
    subnet = (
        as_text(params.get("subnetId"))
        or _first([as_text(i.get("subnetId")) for i in interfaces])
        or _first([as_text(i.get("subnetId")) for i in launched])
    )
    template = event.get_dict("requestParameters", "launchTemplate")
    template_id = as_text(template.get("launchTemplateId")) or as_text(template.get("launchTemplateName"))
    public, public_label = _public_ip(params, launched)
    v1_allowed, imds_label = _imds(params, launched)

    if len(instance_ids) == 1:
        resource = Resource(type="AWS::EC2::Instance", id=instance_ids[0], arn=_arn(event, "instance", instance_ids[0]))
    else:
        # Several instances share one reservation: one finding about the reservation.
        reservation = event.get_str("responseElements", "reservationId")
        label = reservation or _first(instance_ids)
        resource = Resource(type="AWS::EC2::Instance", id=label)

    details: dict[str, str] = {
        "Count": str(count) if count else "unknown",
        "Instance type": instance_type or "unknown",
        "Image": image or "unknown",
        "Subnet": subnet or "not specified (default VPC)",
        "Public IP": public_label,
        "IMDS": imds_label,
    }
    if instance_ids:
        details["Instances"] = _listing(instance_ids)
    if template_id:
        details["Launch template"] = template_id
    profile = event.get_dict("requestParameters", "iamInstanceProfile")
    role = as_text(profile.get("name")) or as_text(profile.get("arn"))
    if role:
        details["Instance profile"] = role

    what = f"{count or 'Unknown number of'} {instance_type or 'EC2'} instance{'s' if count != 1 else ''}"
    where = f" in {subnet}" if subnet else ""
    summary = f"Launched {what} from {image or 'an unknown image'}{where}; public IP {public_label}; {imds_label}"
    exposed = public and v1_allowed
    yield Hit(
        summary=summary,
        resource=resource,
        severity=Severity.MEDIUM if exposed else None,
        details=details,
    )


# --------------------------------------------------------------------------------------------
# AMI and snapshot sharing
# --------------------------------------------------------------------------------------------


class _Grants:
    """Who a ModifyImageAttribute / ModifySnapshotAttribute call adds."""

    __slots__ = ("accounts", "organizations", "public")

    def __init__(self) -> None:
        self.public = False
        self.accounts: list[str] = []
        self.organizations: list[str] = []


def _account_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).zfill(12)  # a JSON number loses the leading zeros of an account id
    return as_text(value)


def _collect(grants: _Grants, entry: Any) -> None:
    """One ``{"group": "all"}`` / ``{"userId": ...}`` / organization entry of an add list."""
    if not isinstance(entry, dict):
        return
    if as_text(entry.get("group", entry.get("Group"))).lower() == "all":
        grants.public = True
    account = _account_id(entry.get("userId", entry.get("UserId")))
    if account:
        grants.accounts.append(account)
    for key in ("organizationArn", "organizationalUnitArn", "OrganizationArn", "OrganizationalUnitArn"):
        arn = as_text(entry.get(key))
        if arn:
            grants.organizations.append(arn)


# The legacy Attribute/OperationType/UserId.N/UserGroup.N form of the same APIs (the AWS CLI
# examples still use it). How CloudTrail spells those lists is not documented, so accept the
# plausible names; the current form (launchPermission.add.items) is what real records show.
_LEGACY_ACCOUNT_KEYS = ("userId", "userIds", "userIdSet")
_LEGACY_GROUP_KEYS = ("userGroup", "userGroups", "userGroupSet", "groupNames")


def _added_grants(event: CloudTrailEvent, attribute: str) -> _Grants:
    """What the call adds; ``remove`` lists only narrow access and are ignored."""
    grants = _Grants()
    params = event.request
    container = params.get(attribute)
    if isinstance(container, dict):
        for entry in items_of(container.get("add")):
            _collect(grants, entry)
    if as_text(params.get("operationType")).lower() == "add":
        for key in _LEGACY_ACCOUNT_KEYS:
            for entry in items_of(params.get(key)):
                account = _account_id(entry)
                if account:
                    grants.accounts.append(account)
                else:
                    _collect(grants, entry)
        for key in _LEGACY_GROUP_KEYS:
            for entry in items_of(params.get(key)):
                if as_text(entry).lower() == "all":
                    grants.public = True
                else:
                    _collect(grants, entry)
    return grants


def _organization_owner(arn: str) -> str:
    """The management account in an organization or OU ARN (arn:aws:organizations::ACCT:...)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _external(grants: _Grants, event: CloudTrailEvent, ctx: RuleContext) -> list[str]:
    outsiders = [a for a in dict.fromkeys(grants.accounts) if not ctx.is_trusted_account(a, event)]
    for arn in dict.fromkeys(grants.organizations):
        if not ctx.is_trusted_account(_organization_owner(arn), event):
            outsiders.append(arn)
    return outsiders


def _image(event: CloudTrailEvent) -> Resource:
    image = event.get_str("requestParameters", "imageId")
    return Resource(type="AWS::EC2::Image", id=image, arn=_arn(event, "image", image, owned=False))


def _snapshot(event: CloudTrailEvent) -> Resource:
    snapshot = event.get_str("requestParameters", "snapshotId")
    return Resource(type="AWS::EC2::Snapshot", id=snapshot, arn=_arn(event, "snapshot", snapshot, owned=False))


_UNSHARE_AMI = (
    "`aws ec2 modify-image-attribute --image-id <ami> --launch-permission "
    "'Remove=[{Group=all}]'` (or `Remove=[{UserId=<account>}]`)"
)
_UNSHARE_SNAPSHOT = (
    "`aws ec2 modify-snapshot-attribute --snapshot-id <snap> --attribute createVolumePermission "
    "--operation-type remove --group-names all` (or `--user-ids <account>`)"
)


@rule(
    id="ec2.ami-public",
    severity=Severity.HIGH,
    on={SOURCE: ["ModifyImageAttribute"]},
    title="AMI made public",
    description=(
        "An AMI's launch permission was granted to everyone. Anyone can launch it and read its "
        "disks: whatever was baked into the image (code, keys, credentials) is now public."
    ),
    remediation=(
        f"Remove the public permission: {_UNSHARE_AMI}. Then rotate any secret the image contains. "
        "Block it for the future with `aws ec2 enable-image-block-public-access "
        "--image-block-public-access-state block-new-sharing`."
    ),
    mitre="T1537",
)
def ami_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if _added_grants(event, "launchPermission").public:
        image = _image(event)
        yield Hit(
            summary=f"AMI {image.label or '(unknown)'} made public (launchPermission for all)",
            resource=image,
            details={"Granted to": "all (public)"},
        )


@rule(
    id="ec2.ami-shared-external",
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifyImageAttribute"]},
    title="AMI shared with an external account",
    description=(
        "An AMI's launch permission was granted to an account (or organization) outside the "
        "trusted accounts: that account can copy the image and read everything on its disks."
    ),
    remediation=(
        f"If the share is not intended, remove it: {_UNSHARE_AMI}. Add the account to trusted "
        "accounts if it belongs to the organization."
    ),
    mitre="T1537",
)
def ami_shared_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    outsiders = _external(_added_grants(event, "launchPermission"), event, ctx)
    if outsiders:
        image = _image(event)
        yield Hit(
            summary=f"AMI {image.label or '(unknown)'} shared with {_listing(outsiders)}",
            resource=image,
            details={"Shared with": _listing(outsiders)},
        )


@rule(
    id="ec2.snapshot-public",
    severity=Severity.HIGH,
    on={SOURCE: ["ModifySnapshotAttribute"]},
    title="EBS snapshot made public",
    description=(
        "An EBS snapshot's create-volume permission was granted to everyone: any AWS account can "
        "create a volume from it and read the disk's data."
    ),
    remediation=(
        f"Remove the public permission: {_UNSHARE_SNAPSHOT}. Treat the data as exposed. Block it "
        "for the future with `aws ec2 enable-snapshot-block-public-access --state "
        "block-all-sharing`."
    ),
    mitre="T1537",
)
def snapshot_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if _added_grants(event, "createVolumePermission").public:
        snapshot = _snapshot(event)
        yield Hit(
            summary=f"EBS snapshot {snapshot.label or '(unknown)'} made public (createVolumePermission for all)",
            resource=snapshot,
            details={"Granted to": "all (public)"},
        )


@rule(
    id="ec2.snapshot-shared-external",
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifySnapshotAttribute"]},
    title="EBS snapshot shared with an external account",
    description=(
        "An EBS snapshot's create-volume permission was granted to an account outside the trusted "
        "accounts: that account can copy the disk and read its data, a common exfiltration path."
    ),
    remediation=(
        f"If the share is not intended, remove it: {_UNSHARE_SNAPSHOT}. Add the account to "
        "trusted accounts if it belongs to the organization."
    ),
    mitre="T1537",
)
def snapshot_shared_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    outsiders = _external(_added_grants(event, "createVolumePermission"), event, ctx)
    if outsiders:
        snapshot = _snapshot(event)
        yield Hit(
            summary=f"EBS snapshot {snapshot.label or '(unknown)'} shared with {_listing(outsiders)}",
            resource=snapshot,
            details={"Shared with": _listing(outsiders)},
        )


# --------------------------------------------------------------------------------------------
# Account settings and instance changes
# --------------------------------------------------------------------------------------------


@rule(
    id="ec2.ebs-encryption-default-disabled",
    severity=Severity.MEDIUM,
    on={SOURCE: ["DisableEbsEncryptionByDefault"]},
    title="EBS encryption by default disabled",
    description=(
        "EBS encryption by default was turned off for the region: new volumes and snapshot copies "
        "are created unencrypted unless each request asks otherwise."
    ),
    remediation=(
        "Turn it back on with `aws ec2 enable-ebs-encryption-by-default --region <region>` and "
        "look for volumes created unencrypted since."
    ),
    mitre="T1562",
)
def ebs_encryption_default_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    region = event.region or "(unknown region)"
    yield Hit(
        summary=f"EBS encryption by default disabled in {region}",
        resource=event.account_resource(),
        details={"Region": region},
    )


@rule(
    id="ec2.serial-console-enabled",
    severity=Severity.MEDIUM,
    on={SOURCE: ["EnableSerialConsoleAccess"]},
    title="EC2 serial console access enabled",
    description=(
        "Serial console access was enabled for the region: anyone allowed to push an SSH key "
        "through EC2 Instance Connect can reach instances' consoles, bypassing security groups."
    ),
    remediation=(
        "Disable it unless needed for recovery: `aws ec2 disable-serial-console-access --region "
        "<region>`, and review ec2-instance-connect:SendSerialConsoleSSHPublicKey calls."
    ),
    mitre="T1021",
)
def serial_console_enabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    region = event.region or "(unknown region)"
    yield Hit(
        summary=f"EC2 serial console access enabled in {region}",
        resource=event.account_resource(),
        details={"Region": region},
    )


def _changes_user_data(params: Mapping[str, Any]) -> bool:
    # CloudTrail redacts the script ("<sensitiveDataRemoved>"), so the key's presence is the
    # signal; the legacy form names the attribute instead (attribute=userData, value=...).
    if params.get("userData") is not None or params.get("UserData") is not None:
        return True
    return as_text(params.get("attribute")).lower() == "userdata"


@rule(
    id="ec2.userdata-modified",
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifyInstanceAttribute"]},
    title="EC2 instance user data modified",
    description=(
        "An instance's user data was replaced. User data runs as root at boot, so changing it on a "
        "stopped instance is a way to run code with the instance role's permissions at next start."
    ),
    remediation=(
        "Read the new user data (`aws ec2 describe-instance-attribute --instance-id <id> "
        "--attribute userData`), restore the intended script, and check what the instance ran "
        "since its last start."
    ),
    mitre="T1037",
)
def userdata_modified(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if not _changes_user_data(event.request):
        return
    instance = event.get_str("requestParameters", "instanceId")
    yield Hit(
        summary=f"User data of instance {instance or '(unknown)'} replaced (content redacted in CloudTrail)",
        resource=Resource(type="AWS::EC2::Instance", id=instance, arn=_arn(event, "instance", instance)),
        details={"Instance": instance or "unknown"},
    )
