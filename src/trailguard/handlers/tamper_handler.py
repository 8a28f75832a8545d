"""Denied attempts at the most dangerous calls: a failed try is still someone trying. Also the
helpers the tamper-family rules share to tell routine callers (a stack being applied, Control
Tower's landing zone) from the rest; this module is loaded for every event anyway.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from trailguard.core.actors import CLOUDFORMATION, applied_by_stack
from trailguard.core.base_handler import REGISTRY, Rule, RuleContext, Subscriptions, rule
from trailguard.core.constants import ACCESS_DENIED_ERROR_CODES
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource


def critical_rule_events(rules: Sequence[Rule]) -> Subscriptions:
    """The events of every rule whose default severity is CRITICAL (resolved once all are registered).

    A CRITICAL rule that evaluates failed calls itself (``include_failed``) says what a denied
    attempt at its events means: trailguard.pipeline-tampered watches everyday calls on every
    function, queue and secret, and only a denied one on trailguard's own resources is an attempt.
    """
    events: dict[str, set[str]] = {}
    for other in rules:
        if other.severity is not Severity.CRITICAL or callable(other.on) or other.include_failed:
            continue
        for key in REGISTRY.subscriptions(other):
            events.setdefault(key.source, set()).add(key.name + ("*" if key.versioned else ""))
    return events


def is_access_denied(error_code: str) -> bool:
    """AccessDenied, UnauthorizedOperation and their variants (``Client.``-prefixed, ``...Exception``)."""
    if error_code in ACCESS_DENIED_ERROR_CODES:
        return True
    lowered = error_code.lower()
    return "accessdenied" in lowered or "unauthorized" in lowered


@rule(
    id="tamper.denied-attempt",
    severity=Severity.MEDIUM,
    escalates_to=(Severity.LOW,),
    on=critical_rule_events,
    include_failed=True,
    title="Denied attempt at a critical change",
    description=(
        "A call that trailguard treats as critical (stopping CloudTrail, exposing data, leaving the "
        "organization...) was refused for lack of permission. Someone, or something, tried. LOW "
        "when CloudFormation made the call applying a stack: a stack whose update or teardown runs "
        "into a guard (an SCP protecting the trail), not someone probing."
    ),
    remediation=(
        "Find out who the caller is and why it tried: a misconfigured tool, or credentials in the "
        "wrong hands probing what they can do. Review the caller's other recent calls."
    ),
    mitre="T1562",
    quiet=(
        "Calls that failed for another reason than permission (not found, conflict, "
        "validation). Lower (LOW) when CloudFormation made the denied call applying a stack "
        "(invokedBy cloudformation.amazonaws.com). Cannot tell: a misconfigured pipeline retrying "
        "the same denied call from a stolen key trying it (routine by memory; `suppressions` by "
        "principal for a known tool)."
    ),
)
def denied_attempt(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if not is_access_denied(event.error_code):
        return
    details = {"Error": event.error_code}
    stack = applied_by_stack(event)
    if stack:
        details["Through"] = CLOUDFORMATION
    yield Hit(
        summary=f"{event.actor.label} was denied {event.event_name}",
        resource=Resource(type=event.event_source, id=event.event_name),
        severity=Severity.LOW if stack else None,
        details=details,
    )
