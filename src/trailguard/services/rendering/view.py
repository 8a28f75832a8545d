"""The view of a finding and of a digest that every format renders, and the subject line.

Every value from the event has passed through ``visible()`` (see the package's docstring) and is
bounded; each format then escapes it for its own markup.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.services.alerts import Alert
from trailguard.services.links import Link, cloudtrail_link, console_link, mitre_link
from trailguard.utils.text import bounded, clip, one_line

SUBJECT_LIMIT = 150
MAX_DETAILS = 25

# Limits in characters for event values on display, before escaping.
SHORT = 200  # ids, names, IPs
LONG = 1000  # summaries, ARNs, user agents


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
# Event text made visible and bounded
# --------------------------------------------------------------------------------------------


_MORE = "… ({:,} more characters)"


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
        return bounded(text, limit, _MORE)

    def shown(ch: str) -> str:
        return "\n" if keep_newlines and ch == "\n" else _visible_char(ch)

    # A character spelled out takes several: keep as many as fit in ``limit`` once shown.
    fits = width = 0
    for ch in head:
        width += len(shown(ch))
        if width > limit:
            break
        fits += 1
    return "".join(map(shown, bounded(text, fits, _MORE)))  # the note itself is printable


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
    # Parallel to ``findings``: the actor's label where a new actor's findings begin, else "".
    headings: tuple[str, ...] = ()


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
    # The rows that fit are the most severe; they are told as a story: by actor, then by time.
    ordered = story_order(most_severe_first(alert.findings)[:rows])
    shown = tuple(view_of(finding, limit) for finding in ordered)
    headings = []
    previous = None
    for finding, view in zip(ordered, shown, strict=True):
        key = _actor_key(finding)
        headings.append(view.actor if key != previous else "")
        previous = key
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
        headings=tuple(headings),
    )


# --------------------------------------------------------------------------------------------
# Subject lines
# --------------------------------------------------------------------------------------------


def _one_line(text: str, limit: int) -> str:
    return clip(one_line(visible(text, limit + 50)), limit, "...", whole_words=True)


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
# Shared by the formats
# --------------------------------------------------------------------------------------------


def most_severe_first(findings: Iterable[Finding]) -> list[Finding]:
    """The order of a digest: most severe first, then oldest first."""
    return sorted(findings, key=lambda f: (-int(f.severity), f.event_time))


def _actor_key(finding: Finding) -> str:
    # A role's sessions are one actor (the role); a user or a root login is itself.
    return finding.actor.principal_arn or finding.actor.label


def story_order(findings: Iterable[Finding]) -> list[Finding]:
    """The order a chain reads in: grouped by actor, the actor who acted first first, and each
    actor's findings by time (ties: most severe first)."""
    findings = list(findings)
    started: dict[str, str] = {}
    for finding in findings:
        key = _actor_key(finding)
        started[key] = min(started.get(key, finding.event_time), finding.event_time)
    return sorted(
        findings,
        key=lambda f: (started[_actor_key(f)], _actor_key(f), f.event_time, -int(f.severity)),
    )


_BACKTICKS = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Iterator[tuple[str, str]]:
    """Rule text as (prose, code) pairs: `code` is what stood in backticks, the last code is empty."""
    last = 0
    for match in _BACKTICKS.finditer(text):
        yield text[last : match.start()], match[1]
        last = match.end()
    yield text[last:], ""


def json_size(payload: Any) -> int:
    """Bytes as the channels send it: compact, ASCII escapes (an emoji costs 12 bytes)."""
    return len(json.dumps(payload, ensure_ascii=True, separators=(",", ":")))


def shrink_to_fit(build: Callable[[int], dict[str, Any]], budget: int) -> dict[str, Any]:
    """The richest payload that fits: rebuild with shorter event values until it does."""
    payload: dict[str, Any] = {}
    for limit in (LONG, 400, 200, 100, 50, 20):
        payload = build(limit)
        if json_size(payload) <= budget:
            return payload
    return payload
