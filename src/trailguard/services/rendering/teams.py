"""Microsoft Teams: a Workflows webhook message with one Adaptive Card (version 1.4).

Event text is backslash-escaped for the card's markdown (so ``[x](http://evil)`` is not a link and
``**x**`` not bold), list and heading markers at the start of a line defused.
"""

from __future__ import annotations

import re
from typing import Any

from trailguard.services.alerts import Alert
from trailguard.services.rendering.view import Fact, FindingView, digest_view, json_size, shrink_to_fit, view_of

TEAMS_PAYLOAD_LIMIT = 28 * 1024  # Teams rejects larger messages

_MD_SPECIAL = re.compile(r"([\\`*_~\[\]<>])")
_MD_LINE_START = re.compile(r"^(#{1,6}|[-+]|\d{1,9}[.)])(?=\s|$)", re.ASCII)


def teams_escape(text: str) -> str:
    """Event text for an Adaptive Card TextBlock or Fact: markdown's active characters backslash-escaped
    (so ``[x](http://evil)`` is not a link and ``**x**`` not bold), and list or heading markers at the
    start defused."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text or " ", "wrap": True, **style}


def _teams_fact(fact: Fact) -> dict[str, str]:
    parts = [teams_escape(fact.value)]
    if fact.note:
        parts.append(teams_escape(fact.note))
    if fact.code:
        parts.append(teams_escape(fact.code))
    return {"title": fact.label, "value": " · ".join(parts)}


def _teams_actions(view: FindingView) -> list[dict[str, str]]:
    return [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in view.links]


def _teams_single(alert: Alert, limit: int) -> dict[str, Any]:
    view = view_of(alert.first, limit)
    header = f"{'TEST · ' if alert.test else ''}{view.severity} · {view.title}"
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": view.style.teams_style,
            "bleed": True,
            "items": [_text(teams_escape(header), weight="Bolder", color=view.style.teams_colour, size="Medium")],
        }
    ]
    if alert.test:
        body.append(_text("**Test alert** sent with trailguard send-test: nothing happened.", isSubtle=True))
    body.append(_text(teams_escape(view.summary), weight="Bolder", size="Medium", spacing="Medium"))
    body.append({"type": "FactSet", "facts": [_teams_fact(fact) for fact in view.facts]})
    if view.details:
        body.append(_text("**Details**", spacing="Medium"))
        facts = [{"title": teams_escape(key), "value": teams_escape(value)} for key, value in view.details]
        if view.details_more:
            facts.append({"title": "…", "value": f"and {view.details_more} more"})
        body.append({"type": "FactSet", "facts": facts})
    if view.description:
        body.append(_text("**Why it matters**", spacing="Medium"))
        body.append(_text(teams_escape(view.description)))
    if view.remediation:
        body.append(_text("**How to fix**", spacing="Medium"))
        body.append(_text(teams_escape(view.remediation)))
    footer = f"trailguard · rule {view.rule_id}" + (f" · event {view.event_id}" if view.event_id else "")
    body.append(_text(teams_escape(footer), isSubtle=True, size="Small", spacing="Medium"))
    return _teams_card(body, _teams_actions(view))


def _teams_digest(alert: Alert, limit: int) -> dict[str, Any]:
    digest = digest_view(alert, len(alert.findings), min(limit, 300))
    header = f"{'TEST · ' if alert.test else ''}{digest.severity} · {digest.headline}"
    counts = " · ".join(f"{count} {name}" for name, count, _ in digest.counts)
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": digest.style.teams_style,
            "bleed": True,
            "items": [
                _text(teams_escape(header), weight="Bolder", color=digest.style.teams_colour, size="Medium"),
                _text(teams_escape(counts), isSubtle=True, spacing="None"),
            ],
        }
    ]
    if alert.test:
        body.append(_text("**Test alert** sent with trailguard send-test: nothing happened.", isSubtle=True))
    shown = 0
    for view in digest.findings:
        item: dict[str, Any] = {
            "type": "Container",
            "separator": True,
            "spacing": "Medium",
            "items": [
                _text(f"**{view.severity}** · {teams_escape(view.title)}", color=view.style.teams_colour),
                _text(teams_escape(view.summary), spacing="None"),
                _text(
                    teams_escape(
                        f"{view.actor} from {view.source_ip or '?'} · {view.account} {view.region} · {view.when_short}"
                    ),
                    isSubtle=True,
                    size="Small",
                    spacing="None",
                ),
            ],
        }
        actions = _teams_actions(view)[:2]
        if actions:
            item["items"].append({"type": "ActionSet", "actions": actions})
        if json_size(_teams_card([*body, item], [])) > TEAMS_PAYLOAD_LIMIT - 600:
            break
        body.append(item)
        shown += 1
    if shown < digest.total:
        body.append(_text(f"… and {digest.total - shown} more findings not shown.", isSubtle=True, spacing="Medium"))
    return _teams_card(body, [])


def _teams_card(body: list[dict[str, Any]], actions: list[dict[str, str]]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def render_teams(alert: Alert) -> dict[str, Any]:
    """A Workflows webhook message with one Adaptive Card (version 1.4), under Teams's 28 KB."""
    return shrink_to_fit(
        lambda limit: (_teams_digest if alert.digest else _teams_single)(alert, limit), TEAMS_PAYLOAD_LIMIT
    )
