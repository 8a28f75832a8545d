"""Alerts to messages: email (subject, HTML, text), Slack, Teams, SNS and generic webhook payloads.

Everything that comes from an event is attacker-controlled and is escaped for its target here.
(First version: plain, correct output. The templated version replaces the bodies of these
functions and keeps their signatures.)
"""

from __future__ import annotations

import html
from typing import Any, NamedTuple

from trailguard.services.alerts import Alert

SUBJECT_LIMIT = 200
SNS_SUBJECT_LIMIT = 100


class EmailContent(NamedTuple):
    subject: str
    html: str
    text: str


def _one_line(text: str, limit: int) -> str:
    """Control characters (CR/LF above all: header injection) become spaces; long text is cut."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def subject_line(alert: Alert, limit: int = SUBJECT_LIMIT) -> str:
    first = alert.first
    prefix = "[TEST] " if alert.test else ""
    if alert.digest:
        text = f"{prefix}[{alert.severity.name}] {len(alert.findings)} more trailguard findings in {first.account_id}"
    else:
        text = f"{prefix}[{first.severity.name}] {first.title}: {first.summary} ({first.account_id} {first.region})"
    return _one_line(text, limit)


def _text_body(alert: Alert) -> str:
    lines = []
    for finding in alert.findings:
        lines += [
            f"{finding.severity.name}: {finding.title}",
            finding.summary,
            f"Who: {finding.actor.label} ({finding.actor.arn}) from {finding.source_ip}",
            f"Where: account {finding.account_id}, region {finding.region}",
            f"When: {finding.event_time} ({finding.event_source} {finding.event_name}, event {finding.event_id})",
            f"Fix: {finding.remediation}",
            "",
        ]
    return "\n".join(lines)


def render_email(alert: Alert) -> EmailContent:
    text = _text_body(alert)
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line)
    return EmailContent(subject_line(alert), f"<!DOCTYPE html><html><body>{body}</body></html>", text)


def render_slack(alert: Alert) -> dict[str, Any]:
    text = _text_body(alert).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "text": _one_line(subject_line(alert), 150),
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text[:2900]}}],
    }


def render_teams(alert: Alert) -> dict[str, Any]:
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": _text_body(alert)[:20000], "wrap": True}],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def render_webhook(alert: Alert) -> dict[str, Any]:
    return {
        "source": "trailguard",
        "digest": alert.digest,
        "test": alert.test,
        "severity": alert.severity.name,
        "findings": [finding.to_dict() for finding in alert.findings],
    }


def render_sns(alert: Alert) -> tuple[str, str]:
    """SNS subjects must be ASCII-safe, one line, under 100 characters."""
    subject = subject_line(alert, SNS_SUBJECT_LIMIT).encode("ascii", "replace").decode("ascii")
    return subject, _text_body(alert)
