"""Findings as OCSF Detection Finding events (class_uid 2004), for Security Lake, a SIEM or a data lake.

Written to OCSF 1.5.0 (schema.ocsf.io, the Detection Finding class, which extends Finding and the
base event): every attribute the class requires is filled, with the recommended ones trailguard
knows, under the ``cloud`` profile (the events are AWS API calls). ``tests/data/schemas/
ocsf_detection_finding.schema.json`` says what the schema requires and the tests validate real
output against it.

- ``activity_id`` 1 (Create): each trailguard finding is reported once; ``type_uid`` is
  ``class_uid * 100 + activity_id``;
- ``time``: the CloudTrail event's time (the finding is about one event and is made from it, so the
  same log gives the same output), in milliseconds since the epoch, as ``timestamp_t`` is;
- ``finding_info.uid``: stable for the same event, rule and resource (``finding_uid``), so a
  consumer can deduplicate a finding delivered twice;
- ``severity_id``: INFO..CRITICAL as 1 (Informational) .. 5 (Critical); ``status_id`` 1 (New).

Values from the event are passed as they are (JSON escapes them); only their length is bounded.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import Finding
from trailguard.utils.text import clip

OCSF_VERSION = "1.5.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE
SEVERITY_IDS = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
STATUS_NEW = (1, "New")
# Analytic type_id 1: Rule (OCSF's analytic object).
ANALYTIC_RULE = (1, "Rule")
# Account type_id 10: AWS Account (OCSF's account object).
AWS_ACCOUNT = (10, "AWS Account")
MAX_TEXT = 4096
# What one webhook POST carries at most (as the trailguard format's WEBHOOK_PAYLOAD_LIMIT).
MAX_BODY_BYTES = 256 * 1024


def finding_uid(finding: Finding) -> str:
    """The same for the same event, rule and resource (``Finding.key``), whoever computes it."""
    return hashlib.sha256(finding.key.encode("utf-8", "replace")).hexdigest()


def _ms(event_time: str) -> int:
    """CloudTrail's ``2026-12-04T03:45:00Z`` in milliseconds; now, for a time that is not one."""
    try:
        return calendar.timegm(time.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ")) * 1000
    except (TypeError, ValueError, OverflowError):
        return int(time.time() * 1000)


def _ip(text: str) -> str:
    """The address when it is one (CloudTrail puts a service's name there for AWS's own calls)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _text(value: str) -> str:
    return clip(value, MAX_TEXT)


def detection_finding(finding: Finding, product_version: str) -> dict[str, Any]:
    """One trailguard finding as an OCSF Detection Finding event."""
    severity_id, severity = SEVERITY_IDS[finding.severity]
    when = _ms(finding.event_time)
    account = {"uid": finding.account_id, "type_id": AWS_ACCOUNT[0], "type": AWS_ACCOUNT[1]}
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": TYPE_UID,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": STATUS_NEW[0],
        "status": STATUS_NEW[1],
        "time": when,
        "start_time": when,
        "end_time": when,
        "is_alert": finding.kind is FindingKind.EVENT and not finding.routine,
        "message": _text(finding.summary or finding.title),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "trailguard", "vendor_name": "trailguard", "version": product_version},
            "profiles": ["cloud"],
            "uid": finding_uid(finding),
            "log_name": "cloudtrail",
        },
        "cloud": {"provider": "AWS", **({"region": finding.region} if finding.region else {})},
        "finding_info": {
            "uid": finding_uid(finding),
            "title": _text(finding.title),
            "desc": _text(finding.description),
            "types": [finding.rule_id],
            "created_time": when,
            "first_seen_time": when,
            "last_seen_time": when,
            "analytic": {
                "uid": finding.rule_id,
                "name": finding.rule_id,
                "type_id": ANALYTIC_RULE[0],
                "type": ANALYTIC_RULE[1],
            },
        },
        "api": {
            "operation": _text(finding.event_name) or "unknown",
            "service": {"name": _text(finding.event_source)},
            "request": {"uid": _text(finding.event_id)},
        },
    }
    if finding.account_id:
        event["cloud"]["account"] = account
    if finding.cloudtrail_url:
        event["finding_info"]["src_url"] = finding.cloudtrail_url
    if finding.mitre:
        event["finding_info"]["attacks"] = [{"technique": {"uid": finding.mitre}}]
    resource = finding.resource
    if resource.arn or resource.id:
        entry: dict[str, Any] = {"uid": _text(resource.arn or resource.id), "name": _text(resource.label)}
        if resource.type:
            entry["type"] = resource.type
        if finding.region:
            entry["region"] = finding.region
        event["resources"] = [entry]
    user: dict[str, Any] = {}
    if finding.actor.label:
        user["name"] = _text(finding.actor.label)
    if finding.actor.arn:
        user["uid"] = _text(finding.actor.arn)
    if finding.actor.type:
        # type_id 99 (Other): CloudTrail's identity type (IAMUser, AssumedRole, Root...) as it is.
        user["type_id"], user["type"] = 99, _text(finding.actor.type)
    if finding.actor.account_id:
        user["account"] = {**account, "uid": finding.actor.account_id}
    if user:
        event["actor"] = {"user": user}
    endpoint: dict[str, Any] = {}
    address = _ip(finding.source_ip)
    if address:
        endpoint["ip"] = address
    elif finding.source_ip:
        endpoint["domain"] = _text(finding.source_ip)
    if endpoint:
        event["src_endpoint"] = endpoint
    if finding.remediation:
        event["remediation"] = {"desc": _text(finding.remediation)}
    return event


def render_ocsf(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The findings as a list of Detection Finding events."""
    from trailguard import __version__

    return [detection_finding(finding, __version__) for finding in findings]


def ocsf_bodies(findings: Sequence[Finding], limit: int = MAX_BODY_BYTES) -> list[bytes]:
    """The events as JSON arrays of at most ``limit`` bytes each (one event always fits: its texts
    are bounded), in order; what the webhook POSTs."""
    from trailguard.services.http_post import json_body

    bodies: list[bytes] = []
    chunk: list[bytes] = []
    size = 2
    for event in render_ocsf(findings):
        encoded = json_body(event)
        if chunk and size + len(encoded) + 1 > limit:
            bodies.append(b"[" + b",".join(chunk) + b"]")
            chunk, size = [], 2
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk or not bodies:
        bodies.append(b"[" + b",".join(chunk) + b"]")
    return bodies
