"""EC2 instances and resource exposure: launches, shared AMIs and snapshots, account settings, and
the ways into an instance and its credentials: SSH keys, instance profiles, the metadata service,
exports, unusual instance types.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, as_int, as_text, dig, items_of
from trailguard.handlers.tamper_handler import is_access_denied

SOURCE = "ec2.amazonaws.com"
INSTANCE_CONNECT_SOURCE = "ec2-instance-connect.amazonaws.com"

# How many instance ids an alert lists before it says "and N more".
_MAX_LISTED = 10


def _arn(event: CloudTrailEvent, kind: str, resource_id: str, *, owned: bool = True) -> str:
    """An EC2 ARN; AMIs and snapshots have no account in theirs (``owned=False``)."""
    if not resource_id or not event.region:
        return ""
    return event.arn("ec2", f"{kind}/{resource_id}", account=None if owned else "")


def _instance(event: CloudTrailEvent, instance_id: str) -> Resource:
    return Resource(type="AWS::EC2::Instance", id=instance_id, arn=_arn(event, "instance", instance_id))


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
    resource_placeholder="<id>",
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
    quiet=(
        "launches by Auto Scaling, and so by EKS managed node groups and Elastic Beanstalk, "
        "which launch through it (its service-linked role); Karpenter launches with CreateFleet, which "
        "this rule does not watch. Every other launch is INFO, kept for the "
        "record; MEDIUM only for a public IP with IMDSv1. Cannot tell: a launch template that still "
        "allows IMDSv1 from a person's test instance (fix the template or account default)."
    ),
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
        resource = _instance(event, instance_ids[0])
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


def _outsider_remedy(outsiders: list[str], several: bool) -> dict[str, str | tuple[str, ...]]:
    """``<account>``: the accounts to remove (organizations are removed by their own option).
    The AMI's ``Remove=[{UserId=...}]`` takes one account per entry: filled for one account only."""
    accounts = tuple(outsider for outsider in outsiders if not outsider.startswith("arn:"))
    if not accounts or (len(accounts) > 1 and not several):
        return {}
    return {"<account>": accounts}


_UNPUBLISH_AMI = "`aws ec2 modify-image-attribute --image-id <ami> --launch-permission 'Remove=[{Group=all}]'`"
_UNSHARE_AMI = "`aws ec2 modify-image-attribute --image-id <ami> --launch-permission 'Remove=[{UserId=<account>}]'`"
_UNSHARE_SNAPSHOT = (
    "`aws ec2 modify-snapshot-attribute --snapshot-id <snap> --attribute createVolumePermission "
    "--operation-type remove --user-ids <account>`"
)
_UNPUBLISH_SNAPSHOT = (
    "`aws ec2 modify-snapshot-attribute --snapshot-id <snap> --attribute createVolumePermission "
    "--operation-type remove --group-names all`"
)


@rule(
    id="ec2.ami-public",
    resource_placeholder="<ami>",
    severity=Severity.HIGH,
    on={SOURCE: ["ModifyImageAttribute"]},
    title="AMI made public",
    description=(
        "An AMI's launch permission was granted to everyone. Anyone can launch it and read its "
        "disks: whatever was baked into the image (code, keys, credentials) is now public."
    ),
    remediation=(
        f"Remove the public permission: {_UNPUBLISH_AMI}. Then rotate any secret the image contains. "
        "Block it for the future with `aws ec2 enable-image-block-public-access "
        "--image-block-public-access-state block-new-sharing`."
    ),
    mitre="T1537",
    quiet=(
        "removals, and shares with accounts or organizations (ec2.ami-shared-external judges "
        "those). Cannot tell: a vendor or community publisher whose job is public AMIs (suppress that "
        "publishing role by principal and resource)."
    ),
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
    resource_placeholder="<ami>",
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
    quiet=(
        "accounts in `trusted_accounts`, the account itself, and organizations and OUs whose "
        "management account is trusted. Cannot tell: an image pipeline (EC2 Image Builder "
        "distribution, Packer) sharing with an account not listed (add it to `trusted_accounts`)."
    ),
)
def ami_shared_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    outsiders = _external(_added_grants(event, "launchPermission"), event, ctx)
    if outsiders:
        image = _image(event)
        yield Hit(
            summary=f"AMI {image.label or '(unknown)'} shared with {_listing(outsiders)}",
            resource=image,
            details={"Shared with": _listing(outsiders)},
            remedy=_outsider_remedy(outsiders, several=False),
        )


@rule(
    id="ec2.snapshot-public",
    resource_placeholder="<snap>",
    severity=Severity.HIGH,
    on={SOURCE: ["ModifySnapshotAttribute"]},
    title="EBS snapshot made public",
    description=(
        "An EBS snapshot's create-volume permission was granted to everyone: any AWS account can "
        "create a volume from it and read the disk's data."
    ),
    remediation=(
        f"Remove the public permission: {_UNPUBLISH_SNAPSHOT}. Treat the data as exposed. Block it "
        "for the future with `aws ec2 enable-snapshot-block-public-access --state "
        "block-all-sharing`."
    ),
    mitre="T1537",
    quiet=(
        "removals, and shares with named accounts (ec2.snapshot-shared-external judges "
        "those). Cannot tell: a snapshot meant to be public (public data sets): suppress it by resource."
    ),
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
    resource_placeholder="<snap>",
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
    quiet=(
        "accounts in `trusted_accounts` and the account itself, and removals. Cannot tell: "
        "Data Lifecycle Manager or a backup tool sharing with an account not listed (add the backup "
        "account to `trusted_accounts`)."
    ),
)
def snapshot_shared_external(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    outsiders = _external(_added_grants(event, "createVolumePermission"), event, ctx)
    if outsiders:
        snapshot = _snapshot(event)
        yield Hit(
            summary=f"EBS snapshot {snapshot.label or '(unknown)'} shared with {_listing(outsiders)}",
            resource=snapshot,
            details={"Shared with": _listing(outsiders)},
            remedy=_outsider_remedy(outsiders, several=True),
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
    quiet=(
        "calls refused. Cannot tell: a deliberate opt-out in a sandbox region; it is rare and "
        "always worth a look, so nothing else is quieted."
    ),
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
    quiet=(
        "calls refused. Cannot tell: a person enabling it to recover a broken instance (the "
        "legitimate reason); disable it again after the recovery."
    ),
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
    resource_placeholder="<id>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifyInstanceAttribute"]},
    title="EC2 instance user data modified",
    description=(
        "An instance's user data was replaced. User data runs as root at boot, so changing it on a "
        "stopped instance is a way to run code with the instance role's permissions at next start. "
        "A person doing it by hand is MEDIUM; automation (a stack update, a pipeline's role) is LOW."
    ),
    remediation=(
        "Read the new user data (`aws ec2 describe-instance-attribute --instance-id <id> "
        "--attribute userData`), restore the intended script, and check what the instance ran "
        "since its last start."
    ),
    mitre="T1037",
    escalates_to=(Severity.LOW,),
    quiet=(
        "attribute changes other than user data, calls refused (a running instance refuses "
        "the change), and LOW instead of MEDIUM when automation makes the change: a CloudFormation "
        "stack update of an instance's UserData (invokedBy), or any role that is not a person's session. "
        "A person replacing user data by hand stays MEDIUM. Cannot tell: what the new script does."
    ),
)
def userdata_modified(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if not _changes_user_data(event.request):
        return
    instance = event.get_str("requestParameters", "instanceId")
    by_hand = made_by_person(event)
    yield Hit(
        summary=f"User data of instance {instance or '(unknown)'} replaced (content redacted in CloudTrail)",
        resource=_instance(event, instance),
        # A stack update or a pipeline rewriting user data is how instances are maintained; a person
        # doing it by hand is the technique's shape.
        severity=None if by_hand else Severity.LOW,
        details={"Instance": instance or "unknown", "Changed by": "a person" if by_hand else "automation"},
    )


# --------------------------------------------------------------------------------------------
# Ways into an instance and its credentials
# --------------------------------------------------------------------------------------------


def _request_body(event: CloudTrailEvent) -> dict[str, Any]:
    """The request of EC2's newer APIs, which CloudTrail nests under ``<EventName>Request`` with
    the API's own (PascalCase) member names; older APIs log camelCase members at the top level."""
    nested = event.request.get(f"{event.event_name}Request")
    return nested if isinstance(nested, dict) else event.request


def _member(body: Mapping[str, Any], name: str) -> Any:
    """``InstanceId`` or ``instanceId``: the spelling depends on the API's age (see _request_body)."""
    value = body.get(name)
    return body.get(name[0].lower() + name[1:]) if value is None else value


@rule(
    id="ec2.instance-connect-key",
    routine=True,
    severity=Severity.MEDIUM,
    on={INSTANCE_CONNECT_SOURCE: ["SendSSHPublicKey", "SendSerialConsoleSSHPublicKey"]},
    title="SSH key pushed to an instance (Instance Connect)",
    description=(
        "An SSH public key was pushed to an instance through EC2 Instance Connect, or to its serial "
        "console. For the next 60 seconds the holder of the private key can log in as that OS user "
        "(the serial console bypasses security groups and the network entirely): a way onto an "
        "instance, and to its role's credentials, that needs no key pair and leaves no key behind. "
        "A person using the console's Connect button sends the same call, which is why it is not "
        "higher; the event cannot tell them apart, so check that the caller meant to log in."
    ),
    remediation=(
        "Confirm with the caller. If unexpected, look at what the instance ran since (Session "
        "Manager or OS logs), rotate the instance role's credentials by stopping and starting it, "
        "and restrict ec2-instance-connect:SendSSHPublicKey and SendSerialConsoleSSHPublicKey to "
        "named roles and instances (`aws ec2 disable-serial-console-access` if unused)."
    ),
    mitre="T1021.004",
    quiet=(
        "calls refused. Cannot tell: an administrator pressing Connect in the EC2 console from "
        "an attacker with a stolen console session: attackers have used the console's Connect button "
        "(the key is the console's generated one either way), so a console push is not lowered; a "
        "caller who connects daily is routine by memory."
    ),
)
def instance_connect_key(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    instance = as_text(params.get("instanceId"))
    serial = event.event_name == "SendSerialConsoleSSHPublicKey"
    details = {"Instance": instance or "unknown"}
    os_user = as_text(params.get("instanceOSUser"))
    if os_user:
        details["OS user"] = os_user
    if serial:
        details["Serial port"] = as_text(params.get("serialPort")) or "0"
    key_type = as_text(params.get("sSHPublicKey")).partition(" ")[0]
    if key_type:
        details["Key type"] = key_type
    target = f"{'the serial console of ' if serial else ''}instance {instance or '(unknown)'}"
    who = f" for OS user {os_user}" if os_user else ""
    yield Hit(
        summary=f"SSH public key pushed to {target}{who} through EC2 Instance Connect",
        resource=_instance(event, instance),
        details=details,
    )


@rule(
    id="ec2.key-pair-added",
    resource_placeholder="<name>",
    severity=Severity.LOW,
    on={SOURCE: ["CreateKeyPair", "ImportKeyPair"]},
    title="EC2 key pair created or imported",
    description=(
        "A key pair was created or imported. Any instance launched with it accepts SSH logins with "
        "the private key, and an imported key's private half never touched AWS: a quiet way to keep "
        "access to instances launched later. Creating a key for a new instance (the launch wizard "
        "does it too) is routine, hence LOW, and INFO when automation (a stack, a pipeline's role) "
        "creates it; the event cannot tell whose key it is."
    ),
    remediation=(
        "If the key is not expected, delete it (`aws ec2 delete-key-pair --key-name <name>`) and "
        "look for instances launched with it (`aws ec2 describe-instances --filters "
        "Name=key-name,Values=<name>`). Prefer Session Manager or Instance Connect to long-lived keys."
    ),
    mitre="T1098.004",
    escalates_to=(Severity.INFO,),
    quiet=(
        "a key name that already exists (refused), and INFO instead of LOW when automation "
        "creates or imports the key (a CloudFormation AWS::EC2::KeyPair, a Terraform aws_key_pair run by "
        "a pipeline's role): not a person's session. Cannot tell: whose private key it is."
    ),
)
def key_pair_added(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    name = event.get_str("requestParameters", "keyName") or event.get_str("responseElements", "keyName")
    imported = event.event_name == "ImportKeyPair"
    details = {
        "Key pair": name or "unknown",
        "Private key": "held by the caller only (imported)" if imported else "generated by AWS, returned to the caller",
    }
    for label, value in (
        ("Key type", event.get_str("requestParameters", "keyType")),
        ("Key pair id", event.get_str("responseElements", "keyPairId")),
        ("Fingerprint", event.get_str("responseElements", "keyFingerprint")),
    ):
        if value:
            details[label] = value
    by_hand = made_by_person(event)
    if not by_hand:
        details["Created by"] = "automation"
    yield Hit(
        summary=f"Key pair {name or '(unknown)'} {'imported' if imported else 'created'}",
        resource=Resource(type="AWS::EC2::KeyPair", id=name, arn=_arn(event, "key-pair", name)),
        # Stacks and pipelines create the key pairs their instances launch with: for the record only.
        severity=None if by_hand else Severity.INFO,
        details=details,
    )


def _profile_label(profile: Any) -> str:
    """An instance profile as a request or response names it: by ARN, name or id."""
    if not isinstance(profile, dict):
        return ""
    for key in ("Arn", "Name", "Id"):
        label = as_text(_member(profile, key))
        if label:
            return label
    return ""


@rule(
    id="ec2.instance-profile-replaced",
    severity=Severity.MEDIUM,
    on={SOURCE: ["AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"]},
    title="IAM role attached to a running instance",
    description=(
        "An instance profile was attached to an instance, or the one it had was swapped. Everything "
        "running on the instance now gets that role's credentials from the metadata service: with "
        "iam:PassRole, someone who runs code on an instance can hand it a more powerful role. "
        "Profiles given at launch, and Auto Scaling's own calls, are not reported here."
    ),
    remediation=(
        "Check the role is the intended one. Otherwise restore the previous profile (`aws ec2 "
        "replace-iam-instance-profile-association --association-id <id> --iam-instance-profile "
        "Name=<profile>`) or remove it (`aws ec2 disassociate-iam-instance-profile --association-id "
        "<id>`), and limit iam:PassRole to the roles each team may hand to instances."
    ),
    mitre="T1098.003",
    quiet=(
        "profiles given at launch (RunInstances), Auto Scaling attaching its launch "
        "template's profile (its service-linked role), and an instance that already has one (refused). "
        "Cannot tell: a deploy tool that swaps roles on purpose (routine by memory)."
    ),
)
def instance_profile_replaced(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    body = _request_body(event)
    # The response is nested the same way: <EventName>Response.iamInstanceProfileAssociation.
    association = event.get_dict("responseElements", f"{event.event_name}Response", "iamInstanceProfileAssociation")
    instance = as_text(_member(body, "InstanceId")) or as_text(association.get("instanceId"))
    profile = _profile_label(_member(body, "IamInstanceProfile"))
    profile = profile or _profile_label(association.get("iamInstanceProfile"))
    details = {"Instance": instance or "unknown", "Instance profile": profile or "unknown"}
    association_id = as_text(_member(body, "AssociationId")) or as_text(association.get("associationId"))
    if association_id:
        details["Association"] = association_id
    verb = "replaced on" if event.event_name.startswith("Replace") else "attached to"
    name = profile.rsplit("/", 1)[-1] if profile.startswith("arn:") else profile
    yield Hit(
        summary=f"Instance profile {name or '(unknown)'} {verb} instance {instance or '(unknown)'}",
        resource=_instance(event, instance),
        details=details,
        remedy={"<id>": association_id},  # the profile it replaced is not in the record
    )


@rule(
    id="ec2.imds-v1-enabled",
    resource_placeholder="<id>",
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifyInstanceMetadataOptions"]},
    title="IMDSv1 re-enabled on an instance",
    description=(
        "An instance's metadata service was set to answer IMDSv1 (httpTokens optional). IMDSv1 hands "
        "the instance role's credentials to any plain GET request, so one server-side request "
        "forgery in an application on the instance is enough to steal them. Legacy software that "
        "cannot use IMDSv2 is the legitimate reason; it is rare and worth a record."
    ),
    remediation=(
        "Require IMDSv2 again: `aws ec2 modify-instance-metadata-options --instance-id <id> "
        "--http-tokens required`, and enforce it for new instances (`aws ec2 "
        "modify-instance-metadata-defaults --http-tokens required`, or an SCP on "
        "ec2:MetadataHttpTokens)."
    ),
    mitre="T1552.005",
    quiet=(
        "setting httpTokens required, changing only the hop limit or endpoint, and turning "
        "the metadata service off. Cannot tell: legacy software that needs IMDSv1 (suppress that "
        "instance by resource until it is fixed)."
    ),
)
def imds_v1_enabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    body = _request_body(event)
    if as_text(_member(body, "HttpTokens")).lower() != "optional":
        return
    if as_text(_member(body, "HttpEndpoint")).lower() == "disabled":
        return  # the metadata service is turned off altogether: nothing answers IMDSv1
    instance = as_text(_member(body, "InstanceId"))
    yield Hit(
        summary=f"IMDSv1 allowed again on instance {instance or '(unknown)'} (httpTokens optional)",
        resource=_instance(event, instance),
        details={"Instance": instance or "unknown", "HTTP tokens": "optional (IMDSv1 answers)"},
    )


@rule(
    id="ec2.instance-export",
    severity=Severity.HIGH,
    on={SOURCE: ["CreateInstanceExportTask"]},
    title="EC2 instance exported to S3",
    description=(
        "An export of an instance to a virtual machine image in S3 was started. The image holds the "
        "instance's whole disk (data, keys, credentials) and can be downloaded and run anywhere: a "
        "rare operation outside migrations, and a way to take a server out of the account."
    ),
    remediation=(
        "If unexpected, cancel it (`aws ec2 cancel-export-task --export-task-id <id>`), delete what "
        "reached the bucket, and find out who can read that bucket. Limit ec2:CreateInstanceExportTask "
        "to migration roles."
    ),
    mitre="T1537",
    quiet=(
        "calls refused. Cannot tell: a planned migration to VMware or Hyper-V; exports are rare "
        "enough to read each one."
    ),
)
def instance_export(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    body = _request_body(event)
    target = _member(body, "ExportToS3") or _member(body, "ExportToS3Task")
    target = target if isinstance(target, dict) else {}
    instance = as_text(_member(body, "InstanceId"))
    bucket = as_text(_member(target, "S3Bucket"))
    details = {"Instance": instance or "unknown", "Bucket": bucket or "unknown"}
    for label, value in (
        ("Prefix", as_text(_member(target, "S3Prefix"))),
        ("Format", as_text(_member(target, "DiskImageFormat"))),
        ("Target environment", as_text(_member(body, "TargetEnvironment"))),
        ("Export task", event.get_str("responseElements", "exportTask", "exportTaskId")),
    ):
        if value:
            details[label] = value
    yield Hit(
        summary=f"Instance {instance or '(unknown)'} exported to S3 bucket {bucket or '(unknown)'}",
        resource=_instance(event, instance),
        details=details,
        remedy={"<id>": event.get_str("responseElements", "exportTask", "exportTaskId")},
    )


UNUSUAL_ATTEMPT_REMEDIATION = (
    "Nothing was launched. Unless the attempt is explained, deactivate the credentials that made it and "
    "look for the same caller in every region. Keep GPU quotas at zero where they are not needed."
)
# GPU and accelerator families: what stolen keys launch to mine or to train on someone else's bill.
ACCELERATOR_INSTANCE_TYPES = ("p*", "g*", "inf*", "trn*", "dl*")
# A launch refused for these reasons still shows what the caller wanted: permission, a dry run
# (which answers "you may"), and the account's instance quota, GPUs' being zero in most accounts.
_TRIED_ERROR_CODES = frozenset({"DryRunOperation", "VcpuLimitExceeded", "InstanceLimitExceeded"})


def _tried(error_code: str) -> bool:
    return is_access_denied(error_code) or error_code.removeprefix("Client.") in _TRIED_ERROR_CODES


def _unusual_pattern(instance_type: str, ctx: RuleContext) -> str:
    """The pattern (built-in family or configured type) an instance type matches; '' for none."""
    lowered = instance_type.lower()
    for pattern in (*ACCELERATOR_INSTANCE_TYPES, *ctx.unusual_instance_types):
        if fnmatch.fnmatchcase(lowered, pattern):
            return pattern
    return ""


@rule(
    id="ec2.unusual-instance-type",
    severity=Severity.MEDIUM,
    on={SOURCE: ["RunInstances"]},
    include_failed=True,
    title="Unusual EC2 instance type launched",
    description=(
        "Instances of a GPU or accelerator family (p, g, inf, trn, dl), or of a type configured in "
        "unusual_instance_types, were launched: what stolen credentials are used for first, since "
        "one such instance costs hundreds of dollars a day. A refused launch (no permission, a dry "
        "run, the account's quota) is reported too: someone tried. Teams that train models launch "
        "them routinely; suppress their roles by principal."
    ),
    remediation=(
        "If nobody expected them, terminate the instances (`aws ec2 terminate-instances "
        "--instance-ids <id>`), deactivate the credentials that launched them, and check every "
        "region for more. Keep GPU quotas at zero where they are not needed."
    ),
    mitre="T1496",
    quiet=(
        "families outside the built-in GPU/accelerator list and `unusual_instance_types`, "
        "Graviton and other ordinary types, refusals for reasons other than permission, dry run or quota "
        "(a typo, a bad parameter), and GPU nodes launched by Auto Scaling for EKS or Batch (its "
        "service-linked role). Cannot tell: an ML team launching GPUs by hand (routine by memory, or "
        "suppress its role)."
    ),
)
def unusual_instance_type(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.failed and not _tried(event.error_code):
        return
    launched = _dicts(event.get("responseElements", "instancesSet"))
    instance_type = event.get_str("requestParameters", "instanceType") or _first(
        [as_text(i.get("instanceType")) for i in launched]
    )
    matched = _unusual_pattern(instance_type, ctx)
    if not matched:
        return
    instance_ids = [i for i in (as_text(x.get("instanceId")) for x in launched) if i]
    requested = _dicts(event.get("requestParameters", "instancesSet"))
    count = len(instance_ids) or as_int(_first_value(requested, "maxCount")) or 0
    image = _first([as_text(i.get("imageId")) for i in requested + launched])
    details = {
        "Instance type": instance_type,
        "Why unusual": (
            f"GPU/accelerator family {matched}"
            if matched in ACCELERATOR_INSTANCE_TYPES
            else f"listed in unusual_instance_types as {matched}"
        ),
        "Count": str(count) if count else "unknown",
        "Image": image or "unknown",
    }
    what = f"{count or 'an unknown number of'} {instance_type} instance{'s' if count != 1 else ''}"
    if event.failed:
        details["Outcome"] = event.error_code
        # Nothing was launched: the finding is about the attempt, keyed by what was asked for.
        resource = Resource(type="AWS::EC2::Instance", id=instance_type)
        if event.error_code.endswith("DryRunOperation"):
            summary = f"Dry run: the caller may launch {what}"
        else:
            summary = f"Tried to launch {what}, refused ({event.error_code})"
    else:
        if instance_ids:
            details["Instances"] = _listing(instance_ids)
        reservation = event.get_str("responseElements", "reservationId")
        resource = (
            _instance(event, instance_ids[0])
            if len(instance_ids) == 1
            else Resource(type="AWS::EC2::Instance", id=reservation or _first(instance_ids))
        )
        summary = f"Launched {what} ({details['Why unusual']})"
    if event.failed:
        yield Hit(summary=summary, resource=resource, details=details, remediation=UNUSUAL_ATTEMPT_REMEDIATION)
        return
    yield Hit(summary=summary, resource=resource, details=details, remedy={"<id>": tuple(instance_ids)})
