"""Rendering: what each channel's message says, that it stays within the target's limits, and that
hostile event text (tests/data/hostile_strings.json) arrives inert yet visible in every channel."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from email.header import Header
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import Actor, Finding, Resource
from trailguard.examples import example_findings
from trailguard.services.alerts import Alert
from trailguard.services.http_post import json_body
from trailguard.services.links import console_link, finding_links, mitre_url
from trailguard.services.rendering.email import DIGEST_EMAIL_ROWS, EmailContent, render_email
from trailguard.services.rendering.slack import SLACK_PAYLOAD_BUDGET, render_slack
from trailguard.services.rendering.sns import render_sns
from trailguard.services.rendering.teams import TEAMS_PAYLOAD_LIMIT, render_teams
from trailguard.services.rendering.view import SUBJECT_LIMIT, subject_line, view_of, visible
from trailguard.services.rendering.webhook import WEBHOOK_PAYLOAD_LIMIT, WEBHOOK_STRING_LIMIT, render_webhook

from .conftest import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
FINDINGS_DIR = DATA_DIR / "findings"
LINK_HOSTS = re.compile(
    r"([a-z]{2}(-[a-z]+)+-\d+\.)?console\.aws\.amazon\.com|s3\.console\.aws\.amazon\.com|console\.amazonaws\.cn"
    r"|console\.amazonaws-us-gov\.com|attack\.mitre\.org"
)
HTML_TAGS = {"html", "head", "meta", "title", "body", "div", "table", "tr", "td", "span", "strong", "h1", "h2", "p"}
HTML_TAGS |= {"a", "code", "br"}
VOID_TAGS = {"meta", "br"}
LOOKALIKES = {"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`", "\u02c3": ">"}


# Test data -----------------------------------------------------------------------------------


def finding_from(data: dict[str, Any]) -> Finding:
    actor = data["actor"]
    return Finding(
        rule_id=data["rule_id"],
        severity=Severity.parse(data["severity"]),
        kind=FindingKind(data["kind"]),
        title=data["title"],
        summary=data["summary"],
        description=data["description"],
        remediation=data["remediation"],
        mitre=data["mitre"],
        resource=Resource(**data["resource"]),
        details=dict(data["details"]),
        event_id=data["event_id"],
        event_name=data["event_name"],
        event_source=data["event_source"],
        event_time=data["event_time"],
        account_id=data["account_id"],
        region=data["region"],
        actor=Actor(**actor),
        source_ip=data["source_ip"],
        user_agent=data["user_agent"],
        error_code=data["error_code"],
    )


BASE = finding_from(json.loads((FINDINGS_DIR / "base.json").read_text(encoding="utf-8"))["finding"])


class Hostile:
    def __init__(self, entry: dict[str, Any]) -> None:
        self.name: str = entry["name"]
        self.value: str = entry["value"] if "value" in entry else entry["repeat"] * entry["times"]
        self.visible: str = entry["visible"]

    def __repr__(self) -> str:
        return self.name


HOSTILE = [Hostile(e) for e in json.loads((DATA_DIR / "hostile_strings.json").read_text(encoding="utf-8"))["strings"]]


def everywhere(value: str, severity: Severity = Severity.HIGH) -> Finding:
    """The value in every field that comes from an event (and in the rule's text, for good measure)."""
    return BASE._replace(
        severity=severity,
        title=value,
        summary=value,
        description=value,
        remediation=value,
        mitre=value,
        resource=Resource(type=value, id=value, arn=value),
        details={value: value, "Port": value},
        event_id=value,
        event_name=value,
        event_source=value,
        event_time=value,
        account_id=value,
        region=value,
        actor=Actor(
            arn=value,
            type=value,
            name=value,
            account_id=value,
            access_key_id=value,
            mfa=None,
            session_issuer_arn=value,
            invoked_by=value,
        ),
        source_ip=value,
        user_agent=value,
        error_code=value,
    )


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


# Checkers ------------------------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of an HTML document a mail client acts on: tags, attributes, text; and nesting."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.feed(html)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def visible_text(self) -> str:
        return "".join(self.text)


def check_html(html: str) -> Page:
    page = Page(html)
    assert not page.errors, page.errors[:5]
    assert html.startswith("<!DOCTYPE html>")
    assert set(page.tags) <= HTML_TAGS, set(page.tags) - HTML_TAGS
    for tag, name, value in page.attributes:
        assert not name.startswith("on"), (tag, name)
        assert name not in ("src", "srcset", "background", "formaction"), (tag, name)
        if name == "href":
            parts = urlsplit(value)
            assert parts.scheme == "https" and LINK_HOSTS.fullmatch(parts.hostname or ""), value[:200]
        assert "javascript:" not in value.lower() and "onerror" not in value.lower(), (tag, name, value[:200])
        assert "evil.example" not in value, (tag, name, value[:200])
    return page


def check_subject(subject: str) -> None:
    assert "\r" not in subject and "\n" not in subject
    assert 0 < len(subject) <= SUBJECT_LIMIT
    assert all(ch.isprintable() for ch in subject), [ch for ch in subject if not ch.isprintable()]
    message = EmailMessage()
    # Encoded as a whole, as the email channels write it: event text that looks like an encoded word
    # ("=?utf-8?b?...?=") must reach the reader as that text, not decoded into a CR/LF or a bidi override.
    message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())
    message["From"] = "trailguard@example.com"
    message.set_content("x")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == subject, "one header, intact"
    assert [key.lower() for key in parsed] == [
        "subject",
        "from",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    ]


def slack_texts(payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every text object in the message, with its type, wherever it sits."""

    def walk(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
                yield node["type"], node
            for item in node.values():
                yield from walk(item)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return walk(payload)


def slack_unescape(text: str) -> str:
    for lookalike, original in LOOKALIKES.items():
        text = text.replace(lookalike, original)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_slack(payload: dict[str, Any]) -> None:
    body = json_body(payload)
    assert json.loads(body) == payload
    assert len(body) <= SLACK_PAYLOAD_BUDGET
    attachment = payload["attachments"][0]
    assert re.fullmatch(r"#[0-9a-f]{6}", attachment["color"])
    blocks = attachment["blocks"]
    assert 0 < len(blocks) <= 50
    assert payload["text"] and len(payload["text"]) <= 150
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(field["text"]) <= 2000 for field in block.get("fields", []))
        if block["type"] in ("context", "actions"):
            assert 0 < len(block["elements"]) <= 10
        for button in [*block.get("elements", []), block.get("accessory", {})]:
            if button.get("type") == "button":
                assert len(button["text"]["text"]) <= 75 and len(button["url"]) <= 3000
                parts = urlsplit(button["url"])
                assert parts.scheme == "https" and LINK_HOSTS.fullmatch(parts.hostname or ""), button["url"]
    for kind, node in slack_texts(payload):
        text = node["text"]
        # No "<" at all: Slack's mentions (<!channel>, <@U...>) and links (<url|label>) all start with one.
        assert "<" not in text and ">" not in text, text[:200]
        assert not re.search(r"&(?!(amp|lt|gt);)", text), text[:200]
        if kind == "mrkdwn":
            assert node.get("verbatim") is True, "auto-linking of URLs and @mentions stays off"
            assert_no_slack_formatting(text)
    for text in (payload["text"], attachment["fallback"]):
        assert "<" not in text


def assert_no_slack_formatting(text: str) -> None:
    """Outside code spans and trailguard's own *Label* headings, nothing can open or close formatting."""
    prose = re.sub(r"`[^`\n]*`", "", text)
    prose = re.sub(r"(^|\n)\*[A-Z][A-Za-z ]*\*(?=\n|$)", r"\1", prose)
    prose = re.sub(r"\*(CRITICAL|HIGH|MEDIUM|LOW|INFO|Test alert|\d+)\*", "", prose)
    prose = re.sub(r"^\*(.*)\*$", r"\1", prose, flags=re.DOTALL)  # the summary line, bold as a whole
    offenders = re.findall(r"(?:(?<![A-Za-z0-9])[*_~`]|[*_~`](?![A-Za-z0-9]))", prose)
    assert not offenders, prose[:300]


def teams_texts(payload: dict[str, Any]) -> Iterator[str]:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                yield node["text"]
            if "title" in node and "value" in node:
                yield node["title"]
                yield node["value"]
            for item in node.values():
                yield from walk(item)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return walk(payload)


def teams_unescape(text: str) -> str:
    return re.sub(r"\\([\\`*_~\[\]<>#+\-.)])", r"\1", text)


def check_teams(payload: dict[str, Any]) -> None:
    body = json_body(payload)
    assert json.loads(body) == payload
    assert len(body) <= TEAMS_PAYLOAD_LIMIT
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and float(card["version"]) <= 1.4
    for text in teams_texts(payload):
        # Markdown that would act: an unescaped [ (links), * or _ (emphasis), < (autolinks, HTML), ` ...
        unescaped = re.sub(r"\*\*[A-Za-z ]+\*\*|\*\*(CRITICAL|HIGH|MEDIUM|LOW|INFO|Test alert)\*\*", "", text)
        assert not re.search(r"(?<!\\)[\[\]*_<>`~]", re.sub(r"\\\\", "", unescaped)), text[:300]
    for node in strings_in(card):
        assert not re.search(r"(?<!\\)\]\(", node), node[:300]
    for action in _actions(card):
        parts = urlsplit(action["url"])
        assert parts.scheme == "https" and LINK_HOSTS.fullmatch(parts.hostname or ""), action["url"]


def _actions(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "Action.OpenUrl":
            yield node
        for item in node.values():
            yield from _actions(item)
    elif isinstance(node, list):
        for item in node:
            yield from _actions(item)


def check_webhook(payload: dict[str, Any]) -> dict[str, Any]:
    body = json_body(payload)
    assert len(body) <= WEBHOOK_PAYLOAD_LIMIT
    decoded = json.loads(body)
    assert decoded["source"] == "trailguard" and decoded["version"] == 1
    for text in strings_in(decoded):
        assert len(text) <= WEBHOOK_STRING_LIMIT + 60
    for finding in decoded["findings"]:
        for url in (finding["links"]["console"], finding["links"]["cloudtrail"], finding["links"]["mitre"]):
            if url:
                parts = urlsplit(url)
                assert parts.scheme == "https" and LINK_HOSTS.fullmatch(parts.hostname or ""), url
    assert isinstance(decoded, dict)
    return decoded


def check_sns(subject: str, message: str) -> None:
    assert 0 < len(subject) < 100 and all(" " <= ch <= "~" for ch in subject), subject
    assert len(message.encode("utf-8", "replace")) <= 256 * 1024
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in message)


# The hostile-values test ---------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
def test_hostile_text_arrives_inert_and_visible_in_every_channel(hostile: Hostile) -> None:
    alert = Alert((everywhere(hostile.value),))
    expected = hostile.visible

    content = render_email(alert)
    check_subject(content.subject)
    assert " ".join(expected.split())[:30] in content.subject
    page = check_html(content.html)
    assert "<script" not in content.html.lower()
    assert expected in page.visible_text, "the value is shown, escaped, not dropped"
    assert expected in content.text
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in content.html + content.text)

    slack = render_slack(alert)
    check_slack(slack)
    assert any(expected in slack_unescape(text) for text in strings_in(slack))

    teams = render_teams(alert)
    check_teams(teams)
    assert any(expected in teams_unescape(text) for text in teams_texts(teams))

    webhook = check_webhook(render_webhook(alert))
    [entry] = webhook["findings"]
    assert entry["summary"].startswith(hostile.value[:60]), "values as recorded, only shortened"
    assert entry["resource_arn"] == entry["summary"]

    subject, message = render_sns(alert)
    check_sns(subject, message)
    assert expected in message


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
def test_hostile_findings_in_a_digest_arrive_inert(hostile: Hostile) -> None:
    findings = tuple(
        everywhere(hostile.value, severity)._replace(event_id=f"e{n}") for n, severity in enumerate(Severity)
    )
    alert = Alert(findings, digest=True)
    content = render_email(alert)
    check_subject(content.subject)
    page = check_html(content.html)
    assert hostile.visible[:60] in page.visible_text
    check_slack(render_slack(alert))
    check_teams(render_teams(alert))
    webhook = check_webhook(render_webhook(alert))
    assert len(webhook["findings"]) + webhook["omitted"] == len(findings)
    check_sns(*render_sns(alert))


def test_a_long_value_is_cut_visibly_not_silently() -> None:
    huge = "x" * 300_000
    alert = Alert((BASE._replace(summary=huge),))
    content = render_email(alert)
    assert "… (299,000 more characters)" in content.text
    assert len(content.html) < 60_000
    webhook = render_webhook(alert)
    assert webhook["findings"][0]["summary"].endswith("… [truncated: 295,904 more characters]")
    assert render_slack(alert)["attachments"][0]["blocks"][1]["text"]["text"].endswith("characters)*")


# What the messages say -----------------------------------------------------------------------


def test_the_subject_says_severity_what_and_where() -> None:
    assert subject_line(Alert((BASE,))) == (
        "[CRITICAL] Security group sg-0c4e1f9a2b7d83e15 opened to 0.0.0.0/0 on tcp 22 | 111122223333 eu-west-1"
    )
    assert subject_line(Alert((BASE,), test=True)).startswith("[TEST] [CRITICAL] Security group sg-0c4e1f9a2b7d83e15")
    long = subject_line(Alert((BASE._replace(summary="word " * 100),)))
    assert len(long) <= SUBJECT_LIMIT and long.endswith("word... | 111122223333 eu-west-1")
    for alert in (Alert((BASE,)), Alert((BASE._replace(summary="word " * 100),))):
        assert subject_line(alert).isascii()
        message = EmailMessage()
        message["Subject"] = subject_line(alert)
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        assert parsed["Subject"] == subject_line(alert), "an ordinary subject survives folding exactly"


def test_a_digest_subject_counts_by_severity() -> None:
    findings = [
        BASE._replace(severity=s, event_id=str(n)) for n, s in enumerate([Severity.CRITICAL] * 3 + [Severity.HIGH] * 9)
    ]
    assert subject_line(Alert(tuple(findings), digest=True)) == (
        "[CRITICAL] 12 more trailguard findings in 111122223333 (3 CRITICAL, 9 HIGH)"
    )
    other = BASE._replace(account_id="444455556666", severity=Severity.LOW)
    assert subject_line(Alert((findings[5], other), digest=True)) == (
        "[HIGH] 2 more trailguard findings in 2 accounts (1 HIGH, 1 LOW)"
    )


def test_the_html_email_tells_who_did_what_where_and_how_to_fix_it() -> None:
    content = render_email(Alert((BASE,)))
    page = check_html(content.html)
    text = page.visible_text
    for expected in (
        "CRITICAL",
        "Security group opened to the internet",
        "Security group sg-0c4e1f9a2b7d83e15 opened to 0.0.0.0/0 on tcp 22",
        "support-sync",
        "arn:aws:iam::111122223333:user/support-sync",
        "MFA: not recorded",
        "AKIAW5H2JD9VQ6CEBY3R",
        "long-term access key",
        "203.0.113.77",
        "aws-cli/2.17.20",
        "AWS::EC2::SecurityGroup",
        "111122223333",
        "eu-west-1",
        "2026-11-02 14:21:40 UTC",
        "AuthorizeSecurityGroupIngress",
        "1d09220d-7924-4553-b2e7-fe4999c48483",
        "Ports",
        "tcp 22",
        "Why it matters",
        "How to fix",
        "T1562.007",
        "sg.ingress-open-to-world",
    ):
        assert expected in text, expected
    # Severity in colour and in words: the band and the badge.
    assert 'bgcolor="#b91c1c"' in content.html and ">CRITICAL</span>" in content.html
    # Remediation `code` becomes <code>, its <placeholders> escaped.
    code = re.search(r"<code [^>]*>(.*?)</code>", content.html)
    assert code and re.sub(r"<[^>]+>", "", code[1]) == (
        "aws ec2 revoke-security-group-ingress --group-id &lt;sg&gt; --security-group-rule-ids &lt;sgr&gt;"
    )
    hrefs = [value for tag, name, value in page.attributes if name == "href"]
    assert hrefs == [
        "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-0c4e1f9a2b7d83e15",
        "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/1d09220d-7924-4553-b2e7-fe4999c48483",
        "https://attack.mitre.org/techniques/T1562/007/",
    ]
    assert "max-width:640px" in content.html and "<style" not in content.html and "<img" not in content.html


def test_the_plain_text_alternative_has_the_same_content() -> None:
    content = render_email(Alert((BASE,)))
    page = Page(content.html)
    for fact in view_of(BASE).facts:
        assert fact.value in content.text and fact.value in page.visible_text
    for link in finding_links(BASE):
        assert link.url in content.text
    assert "How to fix or undo it\n  Remove the rule (`aws ec2 revoke-security-group-ingress" in content.text


def test_a_test_alert_is_marked_in_every_channel() -> None:
    alert = Alert((BASE,), test=True)
    content = render_email(alert)
    assert content.subject.startswith("[TEST] ")
    assert "TEST ALERT" in Page(content.html).visible_text and "TEST ALERT" in content.text
    assert render_slack(alert)["attachments"][0]["blocks"][0]["text"]["text"].startswith("TEST · CRITICAL")
    assert "TEST · CRITICAL" in next(teams_texts(render_teams(alert)))
    assert render_webhook(alert)["test"] is True
    assert render_sns(alert)[0].startswith("[TEST] [CRITICAL]")
    digest = Alert((BASE, BASE._replace(event_id="2")), digest=True, test=True)
    assert "TEST ALERT" in render_email(digest).text and subject_line(digest).startswith("[TEST] ")


def test_a_digest_lists_every_finding_as_a_compact_row() -> None:
    findings = tuple(
        BASE._replace(severity=severity, event_id=f"00000000-0000-0000-0000-00000000000{n}", summary=f"finding {n}")
        for n, severity in enumerate(Severity)
    )
    alert = Alert(findings, digest=True)
    content = render_email(alert)
    text = check_html(content.html).visible_text
    positions = [text.index(f"finding {n}") for n in (4, 3, 2, 1, 0)]
    assert positions == sorted(positions), "most severe first"
    for severity in Severity:
        assert f"1 {severity.name}" in text
    assert text.count("CloudTrail event") == 5 and "finding 0" in content.text
    slack = render_slack(alert)
    check_slack(slack)
    assert sum("finding" in t for t in strings_in(slack)) >= 5
    teams = render_teams(alert)
    check_teams(teams)
    assert sum(t.startswith("finding ") for t in teams_texts(teams)) == 5


def test_a_burst_digest_stays_within_every_channels_limits() -> None:
    findings = tuple(BASE._replace(event_id=f"{n:08x}-0000-4000-8000-000000000000") for n in range(1500))
    alert = Alert(findings, digest=True)
    content = render_email(alert)
    text = check_html(content.html).visible_text
    assert f"and {1500 - DIGEST_EMAIL_ROWS} more findings not listed" in text
    slack = render_slack(alert)
    check_slack(slack)
    assert any("more findings not shown" in t for t in strings_in(slack))
    teams = render_teams(alert)
    check_teams(teams)
    assert any("more findings not shown" in t for t in teams_texts(teams))
    webhook = check_webhook(render_webhook(alert))
    assert len(webhook["findings"]) + webhook["omitted"] == 1500 and len(webhook["findings"]) > 100
    check_sns(*render_sns(alert))


def test_every_rules_example_renders_in_every_channel() -> None:
    findings = example_findings()
    assert len(findings) > 40
    for finding in findings:
        alert = Alert((finding,))
        content = render_email(alert)
        check_subject(content.subject)
        check_html(content.html)
        assert finding.summary in content.text
        check_slack(render_slack(alert))
        check_teams(render_teams(alert))
        check_webhook(render_webhook(alert))
        check_sns(*render_sns(alert))
        assert console_link(finding) is not None, f"{finding.rule_id}: no console link"
    assert isinstance(render_email(Alert(tuple(findings), digest=True)), EmailContent)


def test_the_webhook_payload_is_the_findings_dicts_plus_links() -> None:
    payload = render_webhook(Alert((BASE,)))
    assert {k: payload[k] for k in ("source", "version", "digest", "test", "severity", "count", "omitted")} == {
        "source": "trailguard",
        "version": 1,
        "digest": False,
        "test": False,
        "severity": "CRITICAL",
        "count": 1,
        "omitted": 0,
    }
    [entry] = payload["findings"]
    links = entry.pop("links")
    assert entry == BASE.to_dict()
    assert links == {
        "console": "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-0c4e1f9a2b7d83e15",
        "console_label": "Open security group in EC2",
        "cloudtrail": BASE.cloudtrail_url,
        "mitre": "https://attack.mitre.org/techniques/T1562/007/",
    }


def test_the_webhook_does_not_pass_on_a_cloudtrail_link_to_a_hostile_host() -> None:
    finding = BASE._replace(region="evil.example/")
    assert finding.cloudtrail_url == "", "the Finding property checks the region too"
    entry = render_webhook(Alert((finding,)))["findings"][0]
    assert entry["cloudtrail_url"] == "" and entry["links"]["cloudtrail"] == ""


def test_a_region_or_id_of_non_ascii_digits_gets_no_deep_link() -> None:
    """Python's \\d matches Arabic-Indic and fullwidth digits: "eu-west-\u0661" once became the host
    ``eu-west-\u0661.console.aws.amazon.com``."""
    finding = BASE._replace(region="eu-west-\u0661")
    assert finding.cloudtrail_url == ""
    urls = [link.url for link in finding_links(finding)]
    assert urls and all(url.isascii() for url in urls), urls
    assert not any("\u0661" in url for url in urls)


def test_sns_gets_an_ascii_subject_and_the_text_body() -> None:
    subject, message = render_sns(Alert((BASE._replace(summary="Bucket “données” ✓ opened"),)))
    assert subject == "[CRITICAL] Bucket ?donn?es? ? opened | 111122223333 eu-west-1"
    assert "Bucket “données” ✓ opened" in message and "Why it matters" in message


def test_teams_uses_severity_colours_and_buttons() -> None:
    teams = render_teams(Alert((BASE,)))
    card = teams["attachments"][0]["content"]
    header = card["body"][0]
    assert header["style"] == "attention" and header["items"][0]["color"] == "attention"
    assert [a["title"] for a in card["actions"]] == [
        "Open security group in EC2",
        "Open event in CloudTrail",
        "MITRE ATT&CK T1562.007",
    ]
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Who"].startswith("support-sync · IAMUser · MFA: not recorded")
    assert facts["Source IP"] == "203.0.113.77"


# Visible text and links ----------------------------------------------------------------------


def test_visible_spells_out_what_would_otherwise_hide() -> None:
    assert visible("a\r\nb\x00c\x1b") == "a␍␊b␀c␛"
    assert visible("abc\u202edef\u200b") == "abc⟨U+202E⟩def⟨U+200B⟩"
    assert visible("x\ud800") == "x\ufffd"
    assert visible("🔥 中文 é") == "🔥 中文 é"
    assert visible("x" * 50, 10) == "x" * 10 + "… (40 more characters)"
    assert visible("\u202e" * 50, 20) == "⟨U+202E⟩⟨U+202E⟩… (48 more characters)"
    assert visible("one\ntwo", keep_newlines=True) == "one\ntwo"


@pytest.mark.parametrize(
    "case",
    json.loads((FINDINGS_DIR / "console_links.json").read_text(encoding="utf-8"))["cases"],
    ids=lambda case: case["name"],
)
def test_console_links_by_resource_type(case: dict[str, Any]) -> None:
    finding = BASE._replace(
        resource=Resource(**case["resource"]),
        region=case.get("region", BASE.region),
        event_source=case.get("event_source", BASE.event_source),
    )
    link = console_link(finding)
    if case["url"] is None:
        assert link is None
    else:
        assert link is not None and (link.url, link.label) == (case["url"], case["label"])


def _stop_logging(region: str, event_id: str, partition: str = "aws") -> dict[str, Any]:
    document = json.loads((ROOT / "tests/events/cloudtrail/stop_logging.json").read_text(encoding="utf-8"))
    text = json.dumps(document["record"]).replace("arn:aws:", f"arn:{partition}:").replace("eu-west-1", region)
    record: dict[str, Any] = json.loads(text)
    record["eventID"] = event_id
    return record


def _alert_cloudtrail_links(finding: Finding) -> set[str]:
    """Every CloudTrail event link the alerts for ``finding`` carry, in every channel."""
    alert = Alert((finding,))
    page = Page(render_email(alert).html)
    links = {value for _, name, value in page.attributes if name == "href" and "/events/" in value}
    slack = render_slack(alert)["attachments"][0]["blocks"]
    links |= {e["url"] for b in slack if b["type"] == "actions" for e in b["elements"] if "/events/" in e["url"]}
    card = render_teams(alert)["attachments"][0]["content"]
    links |= {action["url"] for action in card.get("actions", []) if "/events/" in action["url"]}
    [entry] = render_webhook(alert)["findings"]
    links |= {url for url in (entry["cloudtrail_url"], entry["links"]["cloudtrail"]) if url}
    return links


EVENT = "0a6e1c52-1f0b-4c2d-9a5e-2b7d1e4f6a01"


@pytest.mark.parametrize(
    ("region", "event_id", "partition", "expected"),
    [
        pytest.param(
            "eu-west-1",
            EVENT,
            "aws",
            f"https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/{EVENT}",
            id="aws",
        ),
        pytest.param(
            "cn-north-1",
            EVENT,
            "aws-cn",
            f"https://console.amazonaws.cn/cloudtrailv2/home?region=cn-north-1#/events/{EVENT}",
            id="china",
        ),
        pytest.param(
            "us-gov-west-1",
            EVENT,
            "aws-us-gov",
            f"https://console.amazonaws-us-gov.com/cloudtrailv2/home?region=us-gov-west-1#/events/{EVENT}",
            id="govcloud",
        ),
        pytest.param("eu-west-1.evil.example", EVENT, "aws", "", id="host-in-region"),
        pytest.param("evil.example/", EVENT, "aws", "", id="slash-in-region"),
        pytest.param("eu-west-\u0661", EVENT, "aws", "", id="arabic-digit"),
        pytest.param("", EVENT, "aws", "", id="no-region"),
        pytest.param("eu-west-1", "x/../../y?z", "aws", "", id="path-in-id"),
        pytest.param("eu-west-1", "0a6e1c52#@evil.example", "aws", "", id="fragment-in-id"),
        pytest.param("eu-west-1", "", "aws", "", id="no-id"),
        pytest.param("eu-west-1", "a" * 129, "aws", "", id="long-id"),
    ],
)
def test_the_json_output_and_every_alert_give_the_same_cloudtrail_link(
    tmp_path: Path, region: str, event_id: str, partition: str, expected: str
) -> None:
    """One builder (core.console): `scan --format json` and the alerts agree, and a region or event id
    that does not look like AWS's gives no link in either."""
    from trailguard.cli import main as cli
    from trailguard.core.engine import Engine
    from trailguard.core.settings import Settings

    record = _stop_logging(region, event_id, partition)
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [record]}), encoding="utf-8")
    out = io.StringIO()
    cli(["scan", str(tmp_path / "trail.json"), "--format", "json"], stdout=out, stderr=io.StringIO())
    [scanned] = json.loads(out.getvalue())
    [finding] = Engine(Settings()).evaluate(record)
    assert scanned["cloudtrail_url"] == finding.cloudtrail_url == expected
    assert _alert_cloudtrail_links(finding) == ({expected} if expected else set())


def test_mitre_links_are_built_from_valid_parts_only() -> None:
    assert mitre_url("T1562") == "https://attack.mitre.org/techniques/T1562/"
    assert mitre_url("T1562.007") == "https://attack.mitre.org/techniques/T1562/007/"
    assert mitre_url("javascript:alert(1)") == mitre_url("T1562/../../evil") == ""


# Packaging and cold start --------------------------------------------------------------------


def test_templates_are_shipped_as_package_data() -> None:
    templates = ROOT / "src/trailguard/services/templates"
    names = {p.name for p in templates.iterdir() if not p.name.startswith(".")}
    assert {"finding.html", "finding.txt", "digest.html", "digest.txt"} <= names
    assert all(p.is_file() for p in templates.iterdir()), "the package-data glob covers files, not subfolders"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "services/templates/*" in pyproject["tool"]["setuptools"]["package-data"]["trailguard"]


def test_jinja_is_loaded_on_first_render_only_and_once() -> None:
    script = (
        "import sys\n"
        "from trailguard.services.rendering import email\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported with the module'\n"
        "assert email._ENVIRONMENT is None\n"
        "env = email.environment()\n"
        "assert email.environment() is env and 'jinja2' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


RENDERERS = ("view", "email", "slack", "teams", "webhook", "sns")


@pytest.mark.parametrize(
    ("module", "renderers"),
    [
        ("trailguard.services.notification_service", set()),
        ("trailguard.services.channels", set()),
        ("trailguard.services.channels.slack", {"view", "slack"}),
        ("trailguard.services.channels.teams", {"view", "teams"}),
        ("trailguard.services.channels.webhook", {"view", "webhook"}),
        ("trailguard.services.channels.sns", {"view", "email", "sns"}),  # SNS sends the plain-text email body
        ("trailguard.services.channels.folder", {"view", "email"}),
        ("trailguard.services.channels.smtp_email", {"view", "email"}),
        ("trailguard.services.channels.ses_email", {"view", "email"}),
    ],
)
def test_each_channel_imports_only_its_own_renderer(module: str, renderers: set[str]) -> None:
    """Importing a channel loads its format alone; the notification service loads none (nor Jinja2)."""
    script = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps([[m for m in {RENDERERS!r} if 'trailguard.services.rendering.' + m in sys.modules],"
        " 'jinja2' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    loaded, jinja = json.loads(done.stdout)
    assert set(loaded) == renderers
    assert not jinja, "Jinja2 loads when an email is rendered, not when a channel is imported"
