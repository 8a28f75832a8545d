"""Slack: an incoming-webhook message, Block Kit blocks in an attachment (for the colour bar).

Event text is mrkdwn-escaped (``& < >`` as entities, so ``<!channel>`` or ``<https://evil|link>``
arrives as text) and formatting characters that could open or close *bold*, _italics_, ~strike~ or
`code` are swapped for look-alikes; identifiers are shown in code spans.
"""

from __future__ import annotations

import re
from typing import Any

from trailguard.services.alerts import Alert
from trailguard.services.rendering.view import (
    SEVERITY_STYLES,
    Fact,
    FindingView,
    code_spans,
    digest_view,
    shrink_to_fit,
    subject_line,
    view_of,
)

SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000
SLACK_FIELDS_PER_SECTION = 10
SLACK_MAX_BLOCKS = 50
SLACK_BUTTON_TEXT_LIMIT = 75
SLACK_PAYLOAD_BUDGET = 32 * 1024  # not a documented Slack limit: a long message is an unreadable one

_SLACK_FORMAT = re.compile(r"(?<![A-Za-z0-9])[*_~`]|[*_~`](?![A-Za-z0-9])")
# Asterisk operator, modifier letter low macron, tilde operator, modifier letter grave accent.
_LOOKALIKES = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities: ``<!channel>`` and ``<url|label>`` become text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_prose(text: str) -> str:
    """Event text for mrkdwn: escaped, and every ``* _ ~ ``` that could open or close formatting
    swapped for a look-alike (inside a word they are inert and stay, so ``my_role_name`` is intact)."""
    escaped = slack_escape(text)
    if escaped.startswith("&gt;"):
        escaped = "\u02c3" + escaped[4:]  # a look-alike: a leading > would quote the line
    return _SLACK_FORMAT.sub(lambda m: _LOOKALIKES[m[0]], escaped)


def slack_code(text: str) -> str:
    """An identifier in a code span, where mrkdwn formatting does not apply; only its backticks change."""
    if not text:
        return "—"
    return "`" + slack_escape(text.replace("`", _LOOKALIKES["`"])) + "`"


def slack_rich(text: str) -> str:
    """Rule text for mrkdwn: its `code` spans stay code spans, the rest is treated as prose."""
    return "".join(slack_prose(prose) + (slack_code(code) if code else "") for prose, code in code_spans(text))


def _clip(text: str, limit: int) -> str:
    """Cut already-escaped mrkdwn to ``limit`` characters with a visible ellipsis.

    Not ``utils.text.clip``: this one knows the markup. It never ends inside an HTML-style entity
    (``&am``), so Slack never sees a broken escape, and it closes a code span it cut open.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 2)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    if cut.count("`") % 2:
        cut += "`"  # close a code span that was cut (event text holds no backticks of its own here)
    return cut + "…"


def _slack_plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(slack_escape(text) or " ", limit), "emoji": False}


def _slack_mrkdwn(text: str, limit: int = SLACK_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text or " ", limit), "verbatim": True}


def _slack_fact(fact: Fact) -> dict[str, Any]:
    value = slack_code(fact.value) if fact.mono else slack_prose(fact.value)
    lines = [f"*{fact.label}*", value]
    if fact.note:
        lines.append(slack_prose(fact.note))
    if fact.code:
        lines.append(slack_code(fact.code))
    return _slack_mrkdwn("\n".join(lines), SLACK_FIELD_LIMIT)


def _slack_buttons(view: FindingView, prefix: str) -> dict[str, Any] | None:
    buttons = [
        {
            "type": "button",
            "action_id": f"{prefix}-{link.kind}",
            "text": _slack_plain(link.label, SLACK_BUTTON_TEXT_LIMIT),
            "url": link.url,
        }
        for link in view.links
        if len(link.url) <= 3000
    ]
    if buttons:
        buttons[0]["style"] = "primary"
        return {"type": "actions", "elements": buttons}
    return None


def _slack_single(alert: Alert, limit: int) -> list[dict[str, Any]]:
    view = view_of(alert.first, limit)
    blocks: list[dict[str, Any]] = []
    header = f"{'TEST · ' if alert.test else ''}{view.severity} · {view.title}"
    blocks.append({"type": "header", "text": _slack_plain(header, SLACK_HEADER_LIMIT)})
    if alert.test:
        blocks.append(
            {
                "type": "context",
                "elements": [_slack_mrkdwn("*Test alert* sent with `trailguard send-test`: nothing happened.")],
            }
        )
    blocks.append({"type": "section", "text": _slack_mrkdwn(f"*{slack_prose(view.summary)}*")})
    fields = [_slack_fact(fact) for fact in view.facts]
    for start in range(0, len(fields), SLACK_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + SLACK_FIELDS_PER_SECTION]})
    if view.details:
        lines = [f"• {slack_prose(key)}: {slack_code(value)}" for key, value in view.details]
        if view.details_more:
            lines.append(f"• … and {view.details_more} more")
        blocks.append({"type": "section", "text": _slack_mrkdwn("*Details*\n" + "\n".join(lines))})
    if view.description:
        blocks.append({"type": "section", "text": _slack_mrkdwn("*Why it matters*\n" + slack_rich(view.description))})
    if view.remediation:
        blocks.append({"type": "section", "text": _slack_mrkdwn("*How to fix*\n" + slack_rich(view.remediation))})
    buttons = _slack_buttons(view, "finding")
    if buttons:
        blocks.append(buttons)
    footer = f"trailguard · rule {slack_code(view.rule_id)}"
    if view.event_id:
        footer += f" · event {slack_code(view.event_id)}"
    blocks.append({"type": "context", "elements": [_slack_mrkdwn(footer)]})
    return blocks


def _slack_digest(alert: Alert, limit: int) -> list[dict[str, Any]]:
    digest = digest_view(alert, SLACK_MAX_BLOCKS - 6, min(limit, 300))
    blocks: list[dict[str, Any]] = []
    header = f"{'TEST · ' if alert.test else ''}{digest.severity} · {digest.headline}"
    blocks.append({"type": "header", "text": _slack_plain(header, SLACK_HEADER_LIMIT)})
    counts = " · ".join(f"*{count}* {name}" for name, count, _ in digest.counts)
    note = "Individual alerts went out for the most severe findings of this batch; these are the rest."
    if alert.test:
        note = "*Test alert* sent with `trailguard send-test`: nothing happened. " + note
    blocks.append({"type": "context", "elements": [_slack_mrkdwn(counts), _slack_mrkdwn(note)]})
    for index, view in enumerate(digest.findings):
        text = (
            f"*{view.severity}* · {slack_prose(view.title)} · {slack_prose(view.when_short)}\n"
            f"{slack_prose(view.summary)}\n"
            f"{slack_code(view.actor)} from {slack_code(view.source_ip)}"
            f" · {slack_code(view.account)} {slack_code(view.region)}"
        )
        block: dict[str, Any] = {"type": "section", "text": _slack_mrkdwn(text)}
        link = view.cloudtrail or view.console
        if link and len(link.url) <= 3000:
            block["accessory"] = {
                "type": "button",
                "action_id": f"digest-{index}-{link.kind}",
                "text": _slack_plain("CloudTrail event" if link.kind == "cloudtrail" else "Console", 75),
                "url": link.url,
            }
        blocks.append(block)
    if digest.omitted:
        blocks.append(
            {"type": "context", "elements": [_slack_mrkdwn(f"… and {digest.omitted} more findings not shown.")]}
        )
    blocks.append({"type": "context", "elements": [_slack_mrkdwn("trailguard digest")]})
    return blocks[:SLACK_MAX_BLOCKS]


def render_slack(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook message: fallback ``text`` plus Block Kit blocks in a coloured attachment."""
    style = SEVERITY_STYLES[alert.severity]
    fallback = _clip(slack_escape(subject_line(alert)), SLACK_HEADER_LIMIT)

    def build(limit: int) -> dict[str, Any]:
        blocks = _slack_digest(alert, limit) if alert.digest else _slack_single(alert, limit)
        return {
            "text": fallback,
            "mrkdwn": False,
            "attachments": [{"color": style.colour, "fallback": fallback, "blocks": blocks}],
        }

    return shrink_to_fit(build, SLACK_PAYLOAD_BUDGET)
