"""Audit-trail tampering: stopping, deleting or weakening CloudTrail.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

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
    return Resource(type="AWS::CloudTrail::Trail", id=name or arn.rsplit("/", 1)[-1], arn=arn)


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
)
def logging_stopped(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    trail = _trail(event, "name")
    yield Hit(summary=f"Logging stopped on trail {trail.label or '(unnamed)'}", resource=trail)


@rule(
    id="cloudtrail.trail-deleted",
    severity=Severity.CRITICAL,
    on={SOURCE: ["DeleteTrail"]},
    title="CloudTrail trail deleted",
    description="A trail was deleted: API activity is no longer delivered to its bucket or to EventBridge.",
    remediation=(
        "Recreate the trail (or restore it from infrastructure code) and confirm the log bucket is "
        "intact. Deny cloudtrail:DeleteTrail with an SCP outside the audit account."
    ),
    mitre="T1562.008",
)
def trail_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    trail = _trail(event, "name")
    yield Hit(summary=f"Trail {trail.label or '(unnamed)'} deleted", resource=trail)


@rule(
    id="cloudtrail.trail-weakened",
    severity=Severity.HIGH,
    on={SOURCE: ["UpdateTrail"]},
    title="CloudTrail trail weakened",
    description=(
        "A trail's settings were changed in a way that records less or protects its logs less: "
        "multi-region off, log file validation off, encryption removed, or logs sent elsewhere."
    ),
    remediation=(
        "Restore the trail's settings (multi-region, log file validation, KMS key, bucket) and check "
        "who owns the new destination bucket if it changed."
    ),
    mitre="T1562.008",
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
        yield Hit(
            summary=f"Trail {trail.label or '(unnamed)'} weakened: "
            + ", ".join(f"{what} {how}" for what, how in changes.items()),
            resource=trail,
            details=changes,
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
    on={SOURCE: ["PutEventSelectors"]},
    title="CloudTrail event selectors reduced",
    description=(
        "A trail's event selectors now exclude management events or record only read-only ones, so "
        "changes to the account stop being logged while the trail still looks healthy."
    ),
    remediation=(
        "Put back a selector that records all management events (readWriteType All, "
        "includeManagementEvents true) and find out who changed it and why."
    ),
    mitre="T1562.008",
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
    yield Hit(
        summary=f"Event selectors of trail {trail.label or '(unnamed)'} reduced: {'; '.join(unique)}",
        resource=trail,
        details={"Change": "; ".join(unique)},
    )
