"""GuardDuty tampering: detectors deleted, suspended or cut off from their administrator, and
trusted IP lists changed; findings archived by filters, and their export or member accounts removed.

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
    resource_placeholder="<id>",
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
    quiet=(
        "UpdateDetector calls that enable the detector or change only its features or "
        "publishing frequency, and calls that failed other than for permission. Cannot tell: a "
        "person suspending GuardDuty in a region the organization does not use, or an account "
        "leaving its administrator in a reorganization, from an intruder; always CRITICAL "
        "(`suppressions` by account and region)."
    ),
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
    routine=True,
    severity=Severity.MEDIUM,
    on={SOURCE: ["CreateIPSet", "UpdateIPSet"]},
    title="GuardDuty trusted IP list changed",
    description=(
        "A GuardDuty trusted IP list was created or changed. GuardDuty raises no findings for "
        "traffic from trusted IPs, so adding an attacker's addresses silences detection of them. "
        "A list created or switched to inactive (activate false) silences nothing and is not "
        "reported."
    ),
    remediation=(
        "Review the list's contents at its S3 location and who can write there; delete or "
        "deactivate an unexpected list (`aws guardduty update-ip-set --detector-id <detector> "
        "--ip-set-id <ip-set> --no-activate`)."
    ),
    mitre="T1562.001",
    quiet=(
        "Lists created or switched to inactive (activate false): they silence nothing, "
        "and activating one later is reported. Cannot tell: infrastructure code re-applying the "
        "office list from its usual location from a list pointed at an attacker's file (the record "
        "holds the file's location, never its addresses; routine by memory, `suppressions` by "
        "principal)."
    ),
)
def trusted_ips_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    activate = event.get_bool("requestParameters", "activate")
    if activate is False:
        return  # an inactive list silences nothing; activating it later is an UpdateIPSet of its own
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
    if activate is not None:
        details["Active"] = "yes"
    if "format" in params and isinstance(params.get("format"), str):
        details["Format"] = params["format"]
    verb = "created" if event.event_name == "CreateIPSet" else "updated"
    yield Hit(
        summary=f"GuardDuty trusted IP list {name or ip_set_id or '(unnamed)'} {verb}"
        + (f" from {location}" if location else ""),
        resource=Resource(type="AWS::GuardDuty::IPSet", id=ip_set_id or name, arn=arn),
        details=details,
        remedy={"<detector>": detector_id, "<ip-set>": ip_set_id},
    )


# A filter's action: ARCHIVE hides the findings it matches as they arrive; NOOP only saves a view.
ARCHIVE = "ARCHIVE"


@rule(
    id="guardduty.findings-suppressed",
    severity=Severity.HIGH,
    on={SOURCE: ["CreateFilter", "UpdateFilter"]},
    title="GuardDuty findings auto-archived by a filter",
    description=(
        "A GuardDuty filter with the ARCHIVE action was created or updated: every new finding it "
        "matches is archived on arrival and never shows up among current findings, nor in Security "
        "Hub or the alerting built on them. Teams use suppression rules for known noise; attackers "
        "use them to hide their own findings. Filters that only save a view (action NOOP) are not "
        "reported, nor are updates that leave the action out (the record does not say whether the "
        "filter archives)."
    ),
    remediation=(
        "Review the filter's criteria (`aws guardduty get-filter --detector-id <detector> --filter-name "
        "<name>`); if it is not an agreed suppression, delete it (`aws guardduty delete-filter ...`) "
        "and look at the archived findings it matched."
    ),
    mitre="T1562.001",
    quiet=(
        "Filters that only save a view (action NOOP), and updates that leave the action "
        "out. Cannot tell: a team's agreed suppression rule for known-benign findings (a scanner's "
        "port probes) from one hiding an intruder's own findings; the finding lists the criteria "
        "it matches on (`suppressions` by resource for agreed filters)."
    ),
)
def findings_suppressed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    action = event.get_str("requestParameters", "action")
    if action.upper() != ARCHIVE:
        return
    name = (
        event.get_str("requestParameters", "name")
        or event.get_str("requestParameters", "filterName")
        or event.get_str("responseElements", "name")
    )
    detector_id = event.get_str("requestParameters", "detectorId")
    arn = event.arn("guardduty", f"detector/{detector_id}/filter/{name}") if detector_id and name else ""
    details = {"Action": ARCHIVE}
    criteria = event.get_dict("requestParameters", "findingCriteria", "criterion")
    if criteria:
        details["Matches on"] = ", ".join(sorted(str(key) for key in criteria))
    verb = "created" if event.event_name == "CreateFilter" else "updated"
    yield Hit(
        summary=f"GuardDuty filter {name or '(unnamed)'} {verb}: matching findings are archived on arrival",
        resource=Resource(type="AWS::GuardDuty::Filter", id=name, arn=arn),
        details=details,
        remedy={"<detector>": detector_id, "<name>": name},
    )


@rule(
    id="guardduty.export-changed",
    severity=Severity.HIGH,
    on={SOURCE: ["DeletePublishingDestination", "UpdatePublishingDestination", "DeleteMembers", "DisassociateMembers"]},
    title="GuardDuty findings export or members removed",
    description=(
        "GuardDuty stopped sending its findings where they are kept (a publishing destination "
        "deleted or pointed elsewhere), or an administrator removed member accounts, whose findings "
        "then stop reaching it. Either way the security team stops seeing findings it relied on."
    ),
    remediation=(
        "Restore the destination (`aws guardduty create-publishing-destination ...`) or re-add the "
        "members (`aws guardduty create-members ...` then invite or enable them), and find out who "
        "removed them."
    ),
    mitre="T1562.001",
    quiet=(
        "Calls that failed. Cannot tell: a findings export moved to a new bucket or KMS "
        "key, or member accounts removed as they are closed or leave the organization, from an "
        "intruder cutting findings off (`suppressions` by principal for the security team's role)."
    ),
)
def export_changed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    detector = _detector(event)
    label = detector.id or "(unknown)"
    name = event.event_name
    if name in ("DeleteMembers", "DisassociateMembers"):
        accounts = [a for a in event.get_list("requestParameters", "accountIds") if isinstance(a, str) and a]
        shown = ", ".join(accounts) if accounts else "(not in the record)"
        verb = "deleted" if name == "DeleteMembers" else "disassociated"
        yield Hit(
            summary=f"GuardDuty detector {label}: member account(s) {shown} {verb}",
            resource=detector,
            details={"Member accounts": shown},
        )
        return
    destination_id = event.get_str("requestParameters", "destinationId")
    arn = (
        event.arn("guardduty", f"detector/{detector.id}/publishingDestination/{destination_id}")
        if detector.id and destination_id
        else ""
    )
    details: dict[str, str] = {}
    target = event.get_str("requestParameters", "destinationProperties", "destinationArn")
    if target:
        details["New destination"] = target
    verb = "deleted" if name == "DeletePublishingDestination" else "changed"
    yield Hit(
        summary=f"GuardDuty findings export {destination_id or '(unknown)'} of detector {label} {verb}",
        resource=Resource(type="AWS::GuardDuty::PublishingDestination", id=destination_id, arn=arn),
        details=details,
    )
