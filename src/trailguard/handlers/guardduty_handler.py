"""GuardDuty tampering: detectors deleted, suspended or cut off from their administrator, and
trusted IP lists changed.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

GuardDuty is a REST API: the detector id travels in the URL path and CloudTrail records it as
``requestParameters.detectorId`` next to the body's lowerCamelCase members.
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "guardduty.amazonaws.com"


def _detector(event: CloudTrailEvent) -> Resource:
    detector_id = event.get_str("requestParameters", "detectorId")
    arn = ""
    if detector_id and event.region and event.account_id:
        arn = event.arn("guardduty", f"detector/{detector_id}")
    return Resource(type="AWS::GuardDuty::Detector", id=detector_id, arn=arn)


@rule(
    id="guardduty.disabled",
    severity=Severity.CRITICAL,
    on={
        SOURCE: [
            "DeleteDetector",
            "UpdateDetector",
            "DisassociateFromMasterAccount",
            "DisassociateFromAdministratorAccount",
            "StopMonitoringMembers",
        ]
    },
    title="GuardDuty detector disabled or cut off",
    description=(
        "GuardDuty threat detection was deleted, suspended, or disconnected from the administrator "
        "account that watches its findings: activity in the account or region stops being detected "
        "or stops reaching the security team."
    ),
    remediation=(
        "Re-enable the detector (`aws guardduty update-detector --detector-id <id> --enable`, or "
        "create-detector if it was deleted), re-link it to the administrator account, and deny "
        "these calls with an SCP. Investigate the caller: this is a classic first step of an attack."
    ),
    mitre="T1562.001",
)
def detector_disabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    detector = _detector(event)
    label = detector.id or "(unknown)"
    name = event.event_name
    if name == "UpdateDetector":
        if event.get_bool("requestParameters", "enable") is not False:
            return  # enabling, or changing other settings (features, publishing frequency)
        yield Hit(
            summary=f"GuardDuty detector {label} suspended (enable=false)",
            resource=detector,
            details={"Change": "detector suspended"},
        )
    elif name == "DeleteDetector":
        yield Hit(
            summary=f"GuardDuty detector {label} deleted",
            resource=detector,
            details={"Change": "detector deleted, findings lost"},
        )
    elif name == "StopMonitoringMembers":
        accounts = [a for a in event.get_list("requestParameters", "accountIds") if isinstance(a, str) and a]
        shown = ", ".join(accounts) if accounts else "(not in the record)"
        yield Hit(
            summary=f"GuardDuty administrator stopped monitoring member account(s) {shown}",
            resource=detector,
            details={"Change": "member monitoring stopped", "Member accounts": shown},
        )
    else:
        yield Hit(
            summary=f"GuardDuty detector {label} disassociated from its administrator account",
            resource=detector,
            details={"Change": "findings no longer reach the administrator account"},
        )


@rule(
    id="guardduty.trusted-ips-changed",
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateIPSet", "UpdateIPSet"]},
    title="GuardDuty trusted IP list changed",
    description=(
        "A GuardDuty trusted IP list was created or changed. GuardDuty raises no findings for "
        "traffic from trusted IPs, so adding an attacker's addresses silences detection of them."
    ),
    remediation=(
        "Review the list's contents at its S3 location and who can write there; delete or "
        "deactivate an unexpected list (`aws guardduty update-ip-set --detector-id <id> "
        "--ip-set-id <id> --no-activate`)."
    ),
    mitre="T1562.001",
)
def trusted_ips_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    ip_set_id = event.get_str("requestParameters", "ipSetId") or event.get_str("responseElements", "ipSetId")
    name = event.get_str("requestParameters", "name")
    detector_id = event.get_str("requestParameters", "detectorId")
    arn = ""
    if detector_id and ip_set_id and event.region and event.account_id:
        arn = event.arn("guardduty", f"detector/{detector_id}/ipset/{ip_set_id}")
    details: dict[str, str] = {}
    location = event.get_str("requestParameters", "location")
    if location:
        details["List location"] = location
    activate = event.get_bool("requestParameters", "activate")
    if activate is not None:
        details["Active"] = "yes" if activate else "no"
    if "format" in params and isinstance(params.get("format"), str):
        details["Format"] = params["format"]
    verb = "created" if event.event_name == "CreateIPSet" else "updated"
    yield Hit(
        summary=f"GuardDuty trusted IP list {name or ip_set_id or '(unnamed)'} {verb}"
        + (f" from {location}" if location else ""),
        resource=Resource(type="AWS::GuardDuty::IPSet", id=ip_set_id or name, arn=arn),
        details=details,
    )
