"""The generic webhook: the alert as JSON, every finding as its ``to_dict()`` plus links, bounded in size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trailguard.core.event_types import Finding
from trailguard.services.alerts import Alert
from trailguard.services.links import console_link, mitre_url
from trailguard.services.rendering.view import json_size, story_order, subject_line
from trailguard.utils.text import bounded

WEBHOOK_STRING_LIMIT = 4096
WEBHOOK_PAYLOAD_LIMIT = 256 * 1024


def _bounded(value: Any, limit: int) -> Any:
    """Strings cut visibly at ``limit``; containers walked. The values stay otherwise as recorded."""
    if isinstance(value, str):
        return bounded(value, limit, "… [truncated: {:,} more characters]")
    if isinstance(value, Mapping):
        return {_bounded(str(key), 200): _bounded(item, limit) for key, item in list(value.items())[:100]}
    if isinstance(value, list | tuple):
        return [_bounded(item, limit) for item in value[:100]]
    return value


def _webhook_finding(finding: Finding, limit: int) -> dict[str, Any]:
    record = finding.to_dict()
    console = console_link(finding)
    record["links"] = {
        "console": console.url if console else "",
        "console_label": console.label if console else "",
        "cloudtrail": record["cloudtrail_url"],
        "mitre": mitre_url(finding.mitre),
    }
    bounded = _bounded(record, limit)
    assert isinstance(bounded, dict)
    return bounded


def render_webhook(alert: Alert) -> dict[str, Any]:
    """``{"source": "trailguard", "version": 1, ...}`` with every finding, bounded in size.

    Values are the finding's own (a receiver may want them byte for byte); only their length is
    bounded, visibly. A digest too large for ``WEBHOOK_PAYLOAD_LIMIT`` lists as many findings as
    fit and says how many it left out in ``omitted``.
    """
    ordered = story_order(alert.findings) if alert.digest else alert.findings
    payload: dict[str, Any] = {
        "source": "trailguard",
        "version": 1,
        "digest": alert.digest,
        "test": alert.test,
        "severity": alert.severity.name,
        "subject": subject_line(alert),
        "count": len(alert.findings),
        "omitted": 0,
        "findings": [],
    }
    size = json_size(payload)
    for index, finding in enumerate(ordered):
        for limit in (WEBHOOK_STRING_LIMIT, 1024, 256, 64):
            entry = _webhook_finding(finding, limit)
            entry_size = json_size(entry) + 1
            if size + entry_size <= WEBHOOK_PAYLOAD_LIMIT:
                break
        else:
            payload["omitted"] = len(ordered) - index
            break
        payload["findings"].append(entry)
        size += entry_size
    return payload
