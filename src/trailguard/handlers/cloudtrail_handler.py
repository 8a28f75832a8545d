"""Audit-trail tampering: stopping, deleting or weakening CloudTrail.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import CONTROL_TOWER_EXECUTION_ROLE, control_tower_baseline
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool

SOURCE = "cloudtrail.amazonaws.com"


def _trail(event: CloudTrailEvent, *name_keys: str) -> Resource:
    """The trail a call acts on; callers pass a name or an ARN, the response may carry the ARN."""
    name = ""
    for key in name_keys:
        name = event.get_str("requestParameters", key)
        if name:
            break
    arn = event.get_str("responseElements", "trailARN")
    if name.startswith("arn:"):
        arn = arn or name
        name = name.rsplit("/", 1)[-1]
    # A trail is managed in its home region, which is the call's region: a bare name identifies it.
    arn = arn or (event.arn("cloudtrail", f"trail/{name}") if name else "")
    return Resource(type="AWS::CloudTrail::Trail", id=name or arn.rsplit("/", 1)[-1], arn=arn)


def _given_trail(event: CloudTrailEvent, trail: Resource) -> dict[str, str]:
    """--name as the caller gave it: a trail of another account (an organization trail seen from a
    member) is reachable only by its ARN."""
    given = event.get_str("requestParameters", "name")
    return {"<trail>": given if given.startswith("arn:") else trail.id}


# What a finding says when Control Tower changes its own baseline trail.
_LANDING_ZONE = {"Through": f"Control Tower ({CONTROL_TOWER_EXECUTION_ROLE}) on its own baseline trail"}


@rule(
    id="cloudtrail.logging-stopped",
    severity=Severity.CRITICAL,
    on={SOURCE: ["StopLogging"]},
    title="CloudTrail logging stopped",
    description=(
        "Logging was stopped on a trail. Every API call made from now on goes unrecorded, which is "
        "what an attacker does first to hide what comes next."
    ),
    remediation=(
        "Restart logging at once (`aws cloudtrail start-logging --name <trail>`), then review what "
        "the same principal did just before and after. Deny cloudtrail:StopLogging with an SCP."
    ),
    mitre="T1562.008",
    quiet=(
        "Calls that failed other than for permission (a denied one is "
        "tamper.denied-attempt's). Cannot tell: a person stopping a test trail or one about to be "
        "deleted, from an intruder; always CRITICAL (`suppressions` by resource for a known "
        "test trail)."
    ),
)
def logging_stopped(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    trail = _trail(event, "name")
    yield Hit(
        summary=f"Logging stopped on trail {trail.label or '(unnamed)'}",
        resource=trail,
        remedy=_given_trail(event, trail),
    )


@rule(
    id="cloudtrail.trail-deleted",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["DeleteTrail"]},
    title="CloudTrail trail deleted",
    description=(
        "A trail was deleted: API activity is no longer delivered to its bucket or to EventBridge. "
        "HIGH when Control Tower deletes its own aws-controltower-... trail through its "
        "AWSControlTowerExecution role (landing zone 3.0 replaces the account trails with an "
        "organization trail; un-enrolment removes them)."
    ),
    remediation=(
        "Recreate the trail (`aws cloudtrail create-trail --name <trail> --s3-bucket-name <log-bucket> "
        "--is-multi-region-trail` then `aws cloudtrail start-logging --name <trail>`), or restore it "
        "from infrastructure code, and confirm the log bucket is intact. Deny cloudtrail:DeleteTrail "
        "with an SCP outside the audit account."
    ),
    mitre="T1562.008",
    quiet=(
        "Calls that failed (a trail that does not exist). Lower (HIGH) when Control "
        "Tower's AWSControlTowerExecution role deletes its own aws-controltower-... trail. "
        "Cannot tell: a stack teardown or a person removing a duplicate or test trail (the record "
        "does not say whether another trail still covers the account; `suppressions` by "
        "resource)."
    ),
)
def trail_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    trail = _trail(event, "name")
    landing_zone = control_tower_baseline(event, trail.id)
    yield Hit(
        summary=f"Trail {trail.label or '(unnamed)'} deleted",
        resource=trail,
        severity=Severity.HIGH if landing_zone else None,
        details=_LANDING_ZONE if landing_zone else {},
        # A trail is created in the caller's account by name, whatever the deleted one was given as.
        remedy={"<trail>": trail.id},
    )


@rule(
    id="cloudtrail.trail-weakened",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM,),
    on={SOURCE: ["UpdateTrail"]},
    title="CloudTrail trail weakened",
    description=(
        "A trail's settings were changed in a way that records less or protects its logs less: "
        "multi-region off, log file validation off, encryption removed, or logs sent elsewhere. "
        "MEDIUM when Control Tower changes its own aws-controltower-... trail through its "
        "AWSControlTowerExecution role."
    ),
    remediation=(
        "Restore the trail's settings (multi-region, log file validation, KMS key, bucket) and check "
        "who owns the new destination bucket if it changed."
    ),
    mitre="T1562.008",
    quiet=(
        "UpdateTrail calls that change nothing that records or protects less (SNS topic, "
        "CloudWatch Logs delivery, turning settings on). Lower (MEDIUM) when Control Tower's "
        "AWSControlTowerExecution role updates its own aws-controltower-... trail. Cannot tell: "
        "infrastructure code re-sending an unchanged bucket name or a single-region setting on "
        "every apply (the record does not hold the previous value: routine by memory)."
    ),
)
def trail_weakened(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    changes: dict[str, str] = {}
    if as_bool(params.get("isMultiRegionTrail")) is False:
        changes["Multi-region"] = "turned off"
    if as_bool(params.get("enableLogFileValidation")) is False:
        changes["Log file validation"] = "turned off"
    if "kmsKeyId" in params and not params.get("kmsKeyId"):
        changes["KMS encryption"] = "removed"
    bucket = params.get("s3BucketName")
    if isinstance(bucket, str) and bucket:
        changes["Destination bucket"] = f"set to {bucket}"
    if changes:
        trail = _trail(event, "name")
        landing_zone = control_tower_baseline(event, trail.id)
        yield Hit(
            summary=f"Trail {trail.label or '(unnamed)'} weakened: "
            + ", ".join(f"{what} {how}" for what, how in changes.items()),
            resource=trail,
            severity=Severity.MEDIUM if landing_zone else None,
            details={**changes, **_LANDING_ZONE} if landing_zone else changes,
        )


def _selector_reduces_management_events(selector: object) -> str:
    """Why a classic event selector records less than all management events ('' if it does not)."""
    if not isinstance(selector, dict):
        return ""
    if as_bool(selector.get("includeManagementEvents")) is False:
        return "management events excluded"
    if selector.get("readWriteType") == "ReadOnly":
        return "only read-only events recorded"
    excluded = selector.get("excludeManagementEventSources")
    if isinstance(excluded, list) and excluded:
        # Only the event-source names themselves (AWS allows a handful), each bounded: the list is
        # caller input and must not turn into a huge or deeply nested rendering.
        names = [name[:100] for name in excluded[:10] if isinstance(name, str)]
        return "management events from " + (", ".join(names) or "some sources") + " excluded"
    return ""


def _field_selectors(selector: object) -> dict[str, list[object]]:
    """An advanced selector as {field: equals-values}."""
    if not isinstance(selector, dict) or not isinstance(selector.get("fieldSelectors"), list):
        return {}
    result: dict[str, list[object]] = {}
    for field in selector["fieldSelectors"]:
        if isinstance(field, dict) and isinstance(field.get("field"), str):
            equals = field.get("equals")
            result[field["field"]] = equals if isinstance(equals, list) else []
    return result


def _is_management_selector(selector: object) -> bool:
    return "Management" in _field_selectors(selector).get("eventCategory", [])


def _advanced_selector_reduces(selector: object) -> str:
    """Why an advanced Management selector records less than every management event."""
    fields = _field_selectors(selector)
    if fields.get("readOnly") == ["true"]:
        return "only read-only management events recorded"
    if "eventSource" in fields:
        return "management events limited by event source"
    return ""


@rule(
    id="cloudtrail.selectors-reduced",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM,),
    on={SOURCE: ["PutEventSelectors"]},
    title="CloudTrail event selectors reduced",
    description=(
        "A trail's event selectors now exclude management events or record only read-only ones, so "
        "changes to the account stop being logged while the trail still looks healthy. MEDIUM "
        "when Control Tower changes its own aws-controltower-... trail through its "
        "AWSControlTowerExecution role."
    ),
    remediation=(
        "Put back a selector that records all management events (readWriteType All, "
        "includeManagementEvents true) and find out who changed it and why."
    ),
    mitre="T1562.008",
    quiet=(
        "Selectors where one still records all management events (data-event selectors "
        "added beside it). Lower (MEDIUM) when Control Tower's AWSControlTowerExecution role "
        "changes its own aws-controltower-... trail. Cannot tell: a trail built to log data events "
        "only beside a main trail, from the main trail stripped of management events the same way "
        "(Stratus' own technique; `suppressions` by resource for a known data-events trail)."
    ),
)
def selectors_reduced(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    params = event.request
    if "eventSelectors" not in params and "advancedEventSelectors" not in params:
        return
    advanced = event.get_list("requestParameters", "advancedEventSelectors")
    if advanced:
        selectors = [s for s in advanced if _is_management_selector(s)]
        reasons = [_advanced_selector_reduces(s) for s in selectors]
        reason_when_none = "no selector records management events"
    else:
        selectors = [s for s in event.get_list("requestParameters", "eventSelectors") if isinstance(s, dict)]
        reasons = [_selector_reduces_management_events(s) for s in selectors]
        reason_when_none = "all event selectors removed"
    if "" in reasons:
        return  # at least one selector still records every management event
    unique = list(dict.fromkeys(reasons)) or [reason_when_none]
    trail = _trail(event, "trailName")
    details = {"Change": "; ".join(unique)}
    landing_zone = control_tower_baseline(event, trail.id)
    if landing_zone:
        details.update(_LANDING_ZONE)
    yield Hit(
        summary=f"Event selectors of trail {trail.label or '(unnamed)'} reduced: {'; '.join(unique)}",
        resource=trail,
        severity=Severity.MEDIUM if landing_zone else None,
        details=details,
    )
