"""Alerts to messages: email (subject, HTML, text), Slack, Teams, SNS and generic webhook payloads.

Everything that comes from an event is attacker-controlled. It goes through two steps here:

1. ``visible()``: made safe to *show* in any medium. Control characters become their Unicode
   control pictures (a CR/LF in a user name shows as ``␍␊`` and can never start a new header or
   line), invisible format characters (bidi overrides such as U+202E, zero-width spaces) are
   spelled out as ``⟨U+202E⟩`` so they cannot disguise text, lone surrogates become U+FFFD, and a
   long value is cut with a visible note of how much was left out.
2. Escaped for its target: HTML by Jinja2's autoescape; Slack mrkdwn (``& < >`` as entities, so a
   ``<!channel>`` or ``<https://evil|link>`` arrives as text, and formatting characters that could
   open or close *bold*, _italics_, ~strike~ or `code` swapped for look-alikes; identifiers shown in
   code spans); Adaptive Card markdown (backslash escapes); JSON by its encoder.

Links are built in ``links.py`` from validated parts only. Templates live in ``templates/`` (HTML
with autoescape on and CSS written inline, so nothing has to be inlined at run time; plain text with
autoescape off). Jinja2 is imported, and its environment built, on first use.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.services.alerts import Alert
from trailguard.services.links import Link, cloudtrail_link, console_link, mitre_link, mitre_url

if TYPE_CHECKING:
    from jinja2 import Environment
    from markupsafe import Markup

SUBJECT_LIMIT = 150
SNS_SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
SNS_MESSAGE_BYTES = 250 * 1024  # SNS allows 256 KiB with the attributes
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000
SLACK_FIELDS_PER_SECTION = 10
SLACK_MAX_BLOCKS = 50
SLACK_BUTTON_TEXT_LIMIT = 75
SLACK_PAYLOAD_BUDGET = 32 * 1024  # not a documented Slack limit: a long message is an unreadable one
TEAMS_PAYLOAD_LIMIT = 28 * 1024  # Teams rejects larger messages
WEBHOOK_STRING_LIMIT = 4096
WEBHOOK_PAYLOAD_LIMIT = 256 * 1024
DIGEST_EMAIL_ROWS = 200
MAX_DETAILS = 25

# Limits in characters for event values on display, before escaping.
SHORT = 200  # ids, names, IPs
LONG = 1000  # summaries, ARNs, user agents


class EmailContent(NamedTuple):
    subject: str
    html: str
    text: str


class SeverityStyle(NamedTuple):
    """How a severity looks: the same colour in the email, Slack's colour bar and Teams's styles."""

    colour: str  # badge and band background; white text on it passes WCAG AA
    tint: str  # a light background for boxes
    teams_colour: str  # Adaptive Card TextBlock color
    teams_style: str  # Adaptive Card Container style


SEVERITY_STYLES = {
    Severity.CRITICAL: SeverityStyle("#b91c1c", "#fef2f2", "attention", "attention"),
    Severity.HIGH: SeverityStyle("#c2410c", "#fff7ed", "attention", "warning"),
    Severity.MEDIUM: SeverityStyle("#a16207", "#fefce8", "warning", "warning"),
    Severity.LOW: SeverityStyle("#1d4ed8", "#eff6ff", "accent", "accent"),
    Severity.INFO: SeverityStyle("#4b5563", "#f9fafb", "default", "emphasis"),
}


# --------------------------------------------------------------------------------------------
# Step 1: event text made visible and bounded
# --------------------------------------------------------------------------------------------


def _visible_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟, ␉, ␊, ␍
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"  # a lone surrogate cannot be encoded
    if ch.isprintable():
        return ch
    return f"⟨U+{code:04X}⟩"  # bidi overrides, zero-width and other invisible characters


def visible(value: object, limit: int = LONG, *, keep_newlines: bool = False) -> str:
    """Event text made safe to show anywhere: one line (unless ``keep_newlines``, for rule text),
    at most about ``limit`` characters.

    Nothing is dropped silently: invisible characters are spelled out and a cut says how much
    is missing.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    head = text[:limit]
    if head.isprintable():
        shown, consumed = head, len(head)
    else:
        pieces: list[str] = []
        size = consumed = 0
        for ch in head:
            piece = "\n" if keep_newlines and ch == "\n" else _visible_char(ch)
            if size + len(piece) > limit:
                break
            pieces.append(piece)
            size += len(piece)
            consumed += 1
        shown = "".join(pieces)
    rest = len(text) - consumed
    if rest > 0:
        shown += f"… ({rest:,} more characters)"
    return shown


def _clip(text: str, limit: int) -> str:
    """Cut already-escaped text to ``limit`` characters with a visible ellipsis.

    Never ends inside an HTML-style entity (``&am``), so Slack never sees a broken escape.
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


def _time(event_time: str) -> tuple[str, str]:
    """(``2026-11-02 14:05:11 UTC``, ``2026-11-02 14:05 UTC``), or the raw text made visible."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(event_time.strip())
    except ValueError:
        raw = visible(event_time, 60) or "unknown time"
        return raw, raw
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC"), moment.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------------------------
# The view of a finding that every renderer reads
# --------------------------------------------------------------------------------------------


class Fact(NamedTuple):
    """One row of "who / from where / what / when": a value, plus a note and an identifier line."""

    label: str
    value: str
    note: str = ""
    code: str = ""  # an identifier (ARN) shown in monospace under the value
    mono: bool = False  # the value itself is an identifier


class FindingView(NamedTuple):
    severity: str
    style: SeverityStyle
    rule_id: str
    title: str
    summary: str
    description: str
    remediation: str
    mitre: str
    actor: str
    actor_note: str
    source_ip: str
    account: str
    region: str
    when: str
    when_short: str
    event_id: str
    facts: tuple[Fact, ...]
    details: tuple[tuple[str, str], ...]
    details_more: int
    console: Link | None
    cloudtrail: Link | None
    mitre_link: Link | None

    @property
    def links(self) -> list[Link]:
        return [link for link in (self.console, self.cloudtrail, self.mitre_link) if link]


def _mfa(value: bool | None) -> str:
    return {True: "MFA: yes", False: "MFA: no", None: "MFA: not recorded"}[value]


def view_of(finding: Finding, limit: int = LONG) -> FindingView:
    """Everything a template shows about one finding, made visible and bounded."""
    short = min(SHORT, limit)
    actor = finding.actor
    actor_label = visible(actor.label, short)
    actor_note = " · ".join(part for part in (visible(actor.type, 60), _mfa(actor.mfa)) if part)
    actor_arn = visible(actor.arn, limit)
    facts = [Fact("Who", actor_label, actor_note, actor_arn if actor_arn != actor_label else "")]
    if actor.session_issuer_arn and actor.session_issuer_arn != actor.arn:
        facts.append(Fact("Via role", visible(actor.session_issuer_arn, limit), mono=True))
    if actor.invoked_by:
        facts.append(Fact("Invoked by", visible(actor.invoked_by, short)))
    if actor.access_key_id:
        key = actor.access_key_id
        note = (
            "long-term access key"
            if key.startswith("AKIA")
            else "temporary credentials"
            if key.startswith("ASIA")
            else ""
        )
        facts.append(Fact("Access key", visible(key, short), note, mono=True))
    facts.append(Fact("Source IP", visible(finding.source_ip, short) or "not recorded", mono=bool(finding.source_ip)))
    if finding.user_agent:
        facts.append(Fact("User agent", visible(finding.user_agent, limit), mono=True))
    resource_label = visible(finding.resource.label, limit)
    resource_arn = visible(finding.resource.arn, limit)
    facts.append(
        Fact(
            "Resource",
            resource_label or "not named in the event",
            visible(finding.resource.type, short),
            resource_arn if resource_arn != resource_label else "",
        )
    )
    account = visible(finding.account_id, short)
    caller_account = visible(actor.account_id, short)
    account_note = f"caller's account: {caller_account}" if caller_account and caller_account != account else ""
    facts.append(Fact("Account", account or "unknown", account_note, mono=True))
    region = visible(finding.region, short)
    facts.append(Fact("Region", region or "unknown", mono=True))
    when, when_short = _time(finding.event_time)
    facts.append(Fact("When", when))
    api_call = " · ".join(
        part for part in (visible(finding.event_source, short), visible(finding.event_name, short)) if part
    )
    error = f"failed: {visible(finding.error_code, short)}" if finding.error_code else ""
    facts.append(Fact("API call", api_call or "unknown", error, mono=True))
    event_id = visible(finding.event_id, short)
    if event_id:
        facts.append(Fact("Event ID", event_id, mono=True))

    items = list(finding.details.items()) if isinstance(finding.details, Mapping) else []
    details = tuple((visible(key, 80), visible(value, limit)) for key, value in items[:MAX_DETAILS])
    return FindingView(
        severity=finding.severity.name,
        style=SEVERITY_STYLES[finding.severity],
        rule_id=visible(finding.rule_id, short),
        title=visible(finding.title, short),
        summary=visible(finding.summary, limit) or visible(finding.title, short),
        description=visible(finding.description, 4 * limit, keep_newlines=True),
        remediation=visible(finding.remediation, 4 * limit, keep_newlines=True),
        mitre=visible(finding.mitre, 40),
        actor=actor_label or "unknown",
        actor_note=actor_note,
        source_ip=visible(finding.source_ip, short),
        account=account,
        region=region,
        when=when,
        when_short=when_short,
        event_id=event_id,
        facts=tuple(facts),
        details=details,
        details_more=max(0, len(items) - MAX_DETAILS),
        console=console_link(finding),
        cloudtrail=cloudtrail_link(finding),
        mitre_link=mitre_link(finding),
    )


class DigestView(NamedTuple):
    severity: str
    style: SeverityStyle
    total: int
    headline: str
    counts: tuple[tuple[str, int, SeverityStyle], ...]
    accounts: str
    findings: tuple[FindingView, ...]
    omitted: int


def _accounts(alert: Alert) -> tuple[str, int]:
    accounts = sorted({visible(f.account_id, SHORT) for f in alert.findings if f.account_id})
    if len(accounts) == 1:
        return accounts[0], 1
    return (f"{len(accounts)} accounts" if accounts else ""), len(accounts)


def _counts(alert: Alert) -> tuple[tuple[str, int, SeverityStyle], ...]:
    counter = Counter(f.severity for f in alert.findings)
    return tuple((sev.name, counter[sev], SEVERITY_STYLES[sev]) for sev in sorted(counter, reverse=True))


def _digest_headline(alert: Alert) -> str:
    where, _ = _accounts(alert)
    return f"{len(alert.findings)} more trailguard findings" + (f" in {where}" if where else "")


def digest_view(alert: Alert, rows: int, limit: int = SHORT) -> DigestView:
    ordered = sorted(alert.findings, key=lambda f: (-int(f.severity), f.event_time))
    shown = tuple(view_of(finding, limit) for finding in ordered[:rows])
    where, _ = _accounts(alert)
    return DigestView(
        severity=alert.severity.name,
        style=SEVERITY_STYLES[alert.severity],
        total=len(alert.findings),
        headline=_digest_headline(alert),
        counts=_counts(alert),
        accounts=where,
        findings=shown,
        omitted=len(alert.findings) - len(shown),
    )


# --------------------------------------------------------------------------------------------
# Subject lines
# --------------------------------------------------------------------------------------------


def _one_line(text: str, limit: int) -> str:
    cleaned = " ".join(visible(text, limit + 50).split())
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[: limit - 3]
    space = cut.rfind(" ")
    if space > len(cut) - 20:  # end on a whole word when one ends nearby
        cut = cut[:space]
    return cut.rstrip() + "..."


def subject_line(alert: Alert, limit: int = SUBJECT_LIMIT) -> str:
    """``[CRITICAL] Security group sg-0abc opened to 0.0.0.0/0 on tcp 22 | 111122223333 eu-west-1``.

    Severity, what happened and where, on one line: every character from the event has passed
    through ``visible()``, so no CR or LF (header injection) can survive. trailguard's own parts
    are ASCII, so an ordinary subject needs no RFC 2047 encoding (Python's header folding
    mishandles spaces next to encoded words, and some ticket systems mishandle encoded words).
    """
    prefix = "[TEST] " if alert.test else ""
    severity = f"[{alert.severity.name}] "
    if alert.digest:
        counts = ", ".join(f"{count} {name}" for name, count, _ in _counts(alert))
        text = f"{prefix}{severity}{_digest_headline(alert)} ({counts})"
        return _one_line(text, limit)
    first = alert.first
    where = " ".join(part for part in (_one_line(first.account_id, 20), _one_line(first.region, 20)) if part)
    tail = f" | {where}" if where else ""
    room = max(20, limit - len(prefix) - len(severity) - len(tail))
    what = _one_line(first.summary or first.title, room)
    return f"{prefix}{severity}{what}{tail}"[:limit]


# --------------------------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------------------------

_ENVIRONMENT: Environment | None = None
_BACKTICKS = re.compile(r"`([^`]+)`")


def _rich(text: str) -> Markup:
    """Rule text with `code` in backticks, as escaped HTML with <code> elements (styled inline)."""
    from markupsafe import Markup, escape

    style = (
        "font-family:SFMono-Regular,Menlo,Consolas,Liberation Mono,monospace;font-size:13px;"
        "background:#f3f4f6;border:1px solid #e5e7eb;border-radius:4px;padding:1px 4px;"
        "color:#111827;overflow-wrap:anywhere;word-break:normal"
    )
    parts: list[str] = []
    last = 0
    for match in _BACKTICKS.finditer(text):
        parts.append(str(escape(text[last : match.start()])))
        # Keep each option or argument on one line (a command broken between "--" reads wrong);
        # a token too long for a phone may still wrap.
        tokens = [
            f'<span style="white-space:nowrap;">{escape(token)}</span>' if 0 < len(token) <= 40 else str(escape(token))
            for token in match[1].split(" ")
        ]
        parts.append(f'<code style="{style}">{" ".join(tokens)}</code>')
        last = match.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))


def _wrap(text: str, width: int = 76, indent: str = "  ") -> str:
    """Paragraphs filled for the plain-text body; long identifiers are left whole rather than split."""
    import textwrap

    return "\n".join(
        textwrap.fill(
            line,
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for line in text.split("\n")
    )


def environment() -> Environment:
    """The Jinja2 environment, built on first use (import and template parsing cost on cold start)."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=PackageLoader("trailguard.services", "templates"),
            autoescape=select_autoescape(
                enabled_extensions=("html",), disabled_extensions=("txt",), default_for_string=True, default=True
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["rich"] = _rich
        env.filters["wrap"] = _wrap
        _ENVIRONMENT = env
    return _ENVIRONMENT


def _template_context(alert: Alert) -> dict[str, Any]:
    context: dict[str, Any] = {
        "subject": subject_line(alert),
        "test": alert.test,
        "band": SEVERITY_STYLES[alert.severity].colour,
    }
    if alert.digest:
        context["digest"] = digest_view(alert, DIGEST_EMAIL_ROWS)
    else:
        context["f"] = view_of(alert.first)
    return context


def _render(alert: Alert, extension: str, context: dict[str, Any]) -> str:
    name = "digest" if alert.digest else "finding"
    return environment().get_template(f"{name}.{extension}").render(context)


def render_email(alert: Alert) -> EmailContent:
    """Subject, HTML body (inline CSS, tables, no scripts or remote images) and a plain-text twin."""
    context = _template_context(alert)
    return EmailContent(context["subject"], _render(alert, "html", context), _render(alert, "txt", context))


# --------------------------------------------------------------------------------------------
# Slack (incoming webhook, Block Kit in an attachment for the colour bar)
# --------------------------------------------------------------------------------------------

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
    parts: list[str] = []
    last = 0
    for match in _BACKTICKS.finditer(text):
        parts.append(slack_prose(text[last : match.start()]))
        parts.append(slack_code(match[1]))
        last = match.end()
    parts.append(slack_prose(text[last:]))
    return "".join(parts)


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


def _json_size(payload: Any) -> int:
    # Measured as the channels send it: compact, ASCII escapes (an emoji costs 12 bytes).
    return len(json.dumps(payload, ensure_ascii=True, separators=(",", ":")))


def _shrink_to_fit(build: Callable[[int], dict[str, Any]], budget: int) -> dict[str, Any]:
    """The richest payload that fits: rebuild with shorter event values until it does."""
    payload: dict[str, Any] = {}
    for limit in (LONG, 400, 200, 100, 50, 20):
        payload = build(limit)
        if _json_size(payload) <= budget:
            return payload
    return payload


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

    return _shrink_to_fit(build, SLACK_PAYLOAD_BUDGET)


# --------------------------------------------------------------------------------------------
# Microsoft Teams (Workflows webhook, Adaptive Card 1.4)
# --------------------------------------------------------------------------------------------

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
        if _json_size(_teams_card([*body, item], [])) > TEAMS_PAYLOAD_LIMIT - 600:
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
    return _shrink_to_fit(
        lambda limit: (_teams_digest if alert.digest else _teams_single)(alert, limit), TEAMS_PAYLOAD_LIMIT
    )


# --------------------------------------------------------------------------------------------
# Generic webhook (JSON) and SNS (plain text)
# --------------------------------------------------------------------------------------------


def _bounded(value: Any, limit: int) -> Any:
    """Strings cut visibly at ``limit``; containers walked. The values stay otherwise as recorded."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return value[:limit] + f"… [truncated: {len(value) - limit:,} more characters]"
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
    ordered = sorted(alert.findings, key=lambda f: (-int(f.severity), f.event_time)) if alert.digest else alert.findings
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
    size = _json_size(payload)
    for index, finding in enumerate(ordered):
        for limit in (WEBHOOK_STRING_LIMIT, 1024, 256, 64):
            entry = _webhook_finding(finding, limit)
            entry_size = _json_size(entry) + 1
            if size + entry_size <= WEBHOOK_PAYLOAD_LIMIT:
                break
        else:
            payload["omitted"] = len(ordered) - index
            break
        payload["findings"].append(entry)
        size += entry_size
    return payload


def _ascii(text: str) -> str:
    for fancy, plain in (("·", "-"), ("…", "..."), ("\u2014", "-"), ("\u2013", "-"), ("⟨", "<"), ("⟩", ">")):
        text = text.replace(fancy, plain)
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    note = "\n\n[... truncated ...]"
    return data[: limit - len(note.encode())].decode("utf-8", "ignore") + note


def render_sns(alert: Alert) -> tuple[str, str]:
    """(subject, message): the subject ASCII, one line, under 100 characters; the message the
    plain-text email body, under SNS's 256 KiB."""
    subject = _ascii(subject_line(alert, SNS_SUBJECT_LIMIT - 4))
    if len(subject) > SNS_SUBJECT_LIMIT:
        subject = subject[: SNS_SUBJECT_LIMIT - 3].rstrip() + "..."
    text = _render(alert, "txt", _template_context(alert))
    return subject, _cut_bytes(text, SNS_MESSAGE_BYTES)


__all__ = [
    "SEVERITY_STYLES",
    "EmailContent",
    "Fact",
    "FindingView",
    "digest_view",
    "environment",
    "render_email",
    "render_slack",
    "render_sns",
    "render_teams",
    "render_webhook",
    "slack_code",
    "slack_escape",
    "slack_prose",
    "slack_rich",
    "subject_line",
    "teams_escape",
    "view_of",
    "visible",
]
