"""Hostile event text and secrets, end to end through the Lambda (issue 5, point 4).

1. Which event fields reach an alert is found by experiment: in one real positive event per rule
   (tests/events/), every string leaf (policy documents held as JSON text included) is replaced by a
   marker, or has one appended when the rule needs the original, and the engine says whether the
   marker shows up in the finding. Those fields then get every string of the hostile corpus
   (tests/data/hostile_strings.json), and the events go through ``main.lambda_handler`` (SQS batches
   and direct EventBridge invocations) with every channel type configured at once: SMTP to a real
   aiosmtpd server (STARTTLS, AUTH), SES and SNS in moto, Slack, Teams and a signed webhook to a
   recording HTTP server, and a folder. Every message is parsed back as its reader would and must be
   well-formed and inert, and show the text as text; the finding must be delivered everywhere and its
   history item in DynamoDB must hold the value as recorded.
2. A failing-delivery scenario with real-looking secrets (tests/data/lambda/hostile_e2e.json), where
   every failing server echoes what it was sent: no secret, nor its URL-encoded or base64 form, may
   appear in a log line (trailguard's JSON logs and every library's logging at DEBUG), an exception
   with its chained causes, a DynamoDB item, or an alert.
"""

from __future__ import annotations

import base64
import email
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from trailguard import main
from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import DeliveryError
from trailguard.core.settings import Settings
from trailguard.services.alerts import group_alerts
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels.webhook import sign
from trailguard.services.email_message import addr_spec
from trailguard.services.http_post import HttpError, post
from trailguard.services.stores.dynamodb import TTL_ATTRIBUTE
from trailguard.utils.aws_helpers import AwsClients

from .conftest import DATA_DIR, RuleTestEvent, load_rule_test_events
from .echo_server import EchoServer
from .http_server import RecordedRequest, RecordingServer, closed_port_url
from .lambda_world import PASSWORD, REGION, SETUP, SG_EVENT, USERNAME, LambdaContext, World
from .smtp_server import Script, SmtpServer
from .test_rendering import (
    HOSTILE,
    Hostile,
    check_html,
    check_slack,
    check_sns,
    check_teams,
    check_webhook,
    slack_unescape,
    strings_in,
    teams_texts,
    teams_unescape,
)

DATA: dict[str, Any] = json.loads((DATA_DIR / "lambda" / "hostile_e2e.json").read_text(encoding="utf-8"))
CHANNELS: dict[str, str] = DATA["channels"]
SCENARIO: dict[str, Any] = DATA["secrets"]
MAX_INDIVIDUAL: int = DATA["max_individual_alerts"]
SQS_BODY_LIMIT: int = DATA["sqs_body_limit"]
RECIPIENTS = sorted(addr_spec(address) for address in SETUP["recipients"])
EMAIL_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "x-trailguard-severity",
    "x-trailguard-rule",
    "x-trailguard-digest",
    "x-trailguard-alert-id",
    "auto-submitted",
    "x-auto-response-suppress",
}
SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(eml|html)")
BOM = "\ufeff"
REPLACE, SUFFIX = "replace", "suffix"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:{CHANNELS['sns_topic']}"


# ----------------------------------------------------------------------------------------------
# 1. The fields of an event that reach an alert, found by experiment
# ----------------------------------------------------------------------------------------------

# A step into a dict (key) or a list (index); None: the string here is JSON text (a policy
# document), and the path goes on inside it.
Step = str | int | None
FieldPath = tuple[Step, ...]


class Field(NamedTuple):
    path: FieldPath
    mode: str  # REPLACE: the text replaces the value; SUFFIX: appended (the rule needs the original)

    @property
    def label(self) -> str:
        return "/".join("{json}" if step is None else str(step) for step in self.path) + (
            " (+)" if self.mode == SUFFIX else ""
        )


def _json_text(value: str) -> Any:
    if not value.lstrip().startswith(("{", "[")):
        return None
    try:
        inner = json.loads(value)
    except ValueError:
        return None
    return inner if isinstance(inner, dict | list) else None


def string_leaves(node: Any, path: FieldPath = ()) -> Iterator[FieldPath]:
    if isinstance(node, str):
        yield path
        inner = _json_text(node)
        if inner is not None:
            yield from string_leaves(inner, (*path, None))
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from string_leaves(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from string_leaves(item, (*path, index))


def rewrite(node: Any, path: FieldPath, change: Callable[[str], str]) -> Any:
    """A copy of ``node`` with the string at ``path`` changed (the original is left alone)."""
    if not path:
        assert isinstance(node, str)
        return change(node)
    step, rest = path[0], path[1:]
    if step is None:
        return json.dumps(rewrite(json.loads(node), rest, change))
    if isinstance(node, dict):
        return {**node, step: rewrite(node[step], rest, change)}
    assert isinstance(node, list) and isinstance(step, int)
    copy = list(node)
    copy[step] = rewrite(node[step], rest, change)
    return copy


def with_text(record: Mapping[str, Any], fields: Sequence[Field], texts: Sequence[str]) -> Any:
    """``record`` with each field set to (REPLACE) or ending in (SUFFIX) its text."""
    changed: Any = record
    for field, text in zip(fields, texts, strict=True):
        changed = rewrite(changed, field.path, _change(field.mode, text))
    return changed


def _change(mode: str, text: str) -> Callable[[str], str]:
    return (lambda _old: text) if mode == REPLACE else (lambda old: old + text)


def tagged(text: str, count: int) -> list[str]:
    """The text once per field, each with its own short tag: rules that compare two fields (the
    requester's and the accepter's account of a VPC peering) still see two different values."""
    return [f"{text}-f{index:02d}" for index in range(count)]


def shown(findings: Iterable[Finding]) -> str:
    # to_dict() leaves out the actor's session issuer, invoked-by and access key, which alerts show.
    return json.dumps([[finding.to_dict(), finding.actor._asdict()] for finding in findings]).lower()


def _marker(index: int) -> str:
    return f"hx{index:03d}mark"  # lower case: some rules lower-case what they show


class Plan(NamedTuple):
    event: RuleTestEvent
    rules: frozenset[str]
    fields: tuple[Field, ...]  # every field whose text reaches a finding
    groups: tuple[tuple[Field, ...], ...]  # the fields split into sets that can be hostile together


def judged(engine: Engine, record: Any) -> list[Finding]:
    """The findings of one variant alone: a fresh detection state each time, so that the stateful
    rules judge every variant as its first event (as the Lambda's first sight of it would)."""
    engine.forget()
    return engine.evaluate(record)


def _all_shown(engine: Engine, record: Any, rules: frozenset[str], markers: Sequence[str], every_rule: bool) -> bool:
    findings = [finding for finding in judged(engine, record) if finding.rule_id in rules]
    text = shown(findings)
    fired = {finding.rule_id for finding in findings}
    return (fired == rules if every_rule else bool(fired)) and all(marker in text for marker in markers)


def plan_for(engine: Engine, event: RuleTestEvent) -> Plan:
    rules = frozenset(finding.rule_id for finding in judged(engine, event.record))
    assert rules == set(event.expect), event.name
    fields: list[Field] = []
    for index, path in enumerate(string_leaves(event.record)):
        marker = _marker(index)
        for mode in (REPLACE, SUFFIX):
            field = Field(path, mode)
            record = with_text(event.record, [field], [marker])
            findings = [f for f in judged(engine, record) if f.rule_id in rules]
            if findings and marker in shown(findings):
                fields.append(field)
                break
    # All of them at once may stop a rule (a root event is routed by its identity type once its
    # event name is text): split them, greedily, into sets whose markers all show together; the
    # first set keeps every rule firing (an event with two findings stays one with two).
    groups: list[tuple[Field, ...]] = []
    left = fields
    while left:
        group: list[Field] = []
        rest: list[Field] = []
        for field in left:
            trial = [*group, field]
            markers = [_marker(index) for index in range(len(trial))]
            if _all_shown(engine, with_text(event.record, trial, markers), rules, markers, every_rule=not groups):
                group = trial
            else:
                rest.append(field)
        if group:
            groups.append(tuple(group))
        else:
            assert groups, f"{event.name}: {left[0].label} reaches a finding alone but not with the others"
            groups.append(())  # no field keeps every rule firing: go on to the sets that keep one
        left = rest
    groups = [group for group in groups if group]
    return Plan(event, rules, tuple(fields), tuple(groups))


def chosen_events() -> list[RuleTestEvent]:
    """One positive event per rule (the first, in file order, that needs no settings), and every
    event with two rules' findings: their alerts are digests."""
    # Events with a history fire stateful rules only after it (tests/test_baselines.py runs those);
    # their findings show the same event fields (actor, region, address) as the others'.
    events = [event for event in load_rule_test_events() if event.expect and not event.settings and not event.history]
    chosen: dict[str, RuleTestEvent] = {}
    for rule in sorted({rule for event in events for rule in event.expect}):
        first = next(event for event in events if rule in event.expect)
        chosen.setdefault(first.name, first)
    chosen.update((event.name, event) for event in events if len(event.expect) > 1)
    return list(chosen.values())


@pytest.fixture(scope="module")
def plans() -> list[Plan]:
    engine = Engine(Settings())
    return [plan_for(engine, event) for event in chosen_events()]


def test_every_event_field_that_reaches_an_alert_is_found(plans: list[Plan]) -> None:
    # Stateful rules need a history or thresholds at one, and remember between evaluations, which
    # these runs repeat: not chosen here (tests/test_bursts.py, tests/test_baselines.py).
    every_rule = {
        rule
        for event in load_rule_test_events()
        if not event.history
        for rule in event.expect
        if not REGISTRY.get(rule).stateful
    }
    planned = {rule for plan in plans for rule in plan.rules if not REGISTRY.get(rule).stateful}
    assert planned == every_rule, "one event per rule"
    labels = {field.label for plan in plans for field in plan.fields}
    # What the issue names: who (user name, ARNs, session issuer), from where (IP, user agent),
    # the resource names and ids, request parameters, and text inside a policy document.
    for expected in (
        "userAgent",
        "sourceIPAddress",
        "userIdentity/arn",
        "userIdentity/userName",
        "userIdentity/sessionContext/sessionIssuer/arn",
        "requestParameters/bucketName",
        "responseElements/role/arn",
        "eventID",
        "awsRegion",
        "recipientAccountId",
    ):
        assert expected in labels, expected
    assert any("{json}" in label for label in labels), "a value inside a policy document held as JSON text"
    for plan in plans:
        plan_labels = {field.label for field in plan.fields}
        assert {"userAgent", "sourceIPAddress", "eventID"} <= plan_labels, plan.event.name
        assert sum(len(group) for group in plan.groups) == len(plan.fields)


# ----------------------------------------------------------------------------------------------
# The runs: each event once or more, its fields holding one hostile string
# ----------------------------------------------------------------------------------------------


class Run(NamedTuple):
    number: int
    plan: Plan
    group: tuple[Field, ...]
    hostile: Hostile
    record: dict[str, Any]
    findings: tuple[Finding, ...]  # what the engine finds in it: the Lambda must deliver all of them

    @property
    def name(self) -> str:
        return f"run {self.number}: {self.hostile.name} in {len(self.group)} fields of {self.plan.event.name}"


def schedule(plans: Sequence[Plan], corpus: Sequence[Hostile]) -> list[Run]:
    """Every field set of every event once, every hostile string at least twice (on other events)."""
    engine = Engine(Settings())
    pairs = [(plan, group) for plan in plans for group in plan.groups]
    runs: list[Run] = []
    for number in range(max(len(pairs), 2 * len(corpus))):
        plan, group = pairs[number % len(pairs)]
        hostile = corpus[number % len(corpus)]
        record = with_text(plan.event.record, group, tagged(hostile.value, len(group)))
        findings = tuple(judged(engine, record))
        assert {finding.rule_id for finding in findings} & plan.rules, (hostile.name, plan.event.name)
        runs.append(Run(number, plan, group, hostile, record, findings))
    return runs


def envelope(run: Run) -> dict[str, Any]:
    """The EventBridge event CloudTrail's record arrives in."""
    console = run.plan.event.record.get("eventName") == "ConsoleLogin"
    return {
        "version": "0",
        "id": f"0e2e0000-0000-4000-8000-{run.number:012d}",
        "detail-type": "AWS Console Sign In via CloudTrail" if console else "AWS API Call via CloudTrail",
        "source": "aws.signin" if console else "aws.cloudtrail",
        "account": "111122223333",
        "time": "2026-11-03T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": run.record,
    }


def normalized(text: str) -> str:
    return " ".join(text.split())


def shown_text(hostile: Hostile) -> str:
    """What a reader must see of the string: the start of its visible form (long values are cut)."""
    return normalized(hostile.visible)[:30]


# ----------------------------------------------------------------------------------------------
# Every channel at once, and what each one received
# ----------------------------------------------------------------------------------------------


class Received(NamedTuple):
    emails: list[tuple[str, bytes]]  # (channel, the message as its reader gets it)
    slack: list[RecordedRequest]
    teams: list[RecordedRequest]
    webhook: list[RecordedRequest]
    sns: list[dict[str, Any]]  # the notifications, as an SQS subscriber receives them
    files: list[Path]

    def counts(self) -> dict[str, int]:
        by_channel = {name: sum(1 for channel, _ in self.emails if channel == name) for name in ("smtp", "ses")}
        return {
            **by_channel,
            "folder": sum(1 for path in self.files if path.suffix == ".eml"),
            "slack": len(self.slack),
            "teams": len(self.teams),
            "webhook": len(self.webhook),
            "sns": len(self.sns),
        }


def make_topic_subscriber(aws: AwsClients) -> str:
    """The SNS topic with an SQS queue subscribed to it: the queue's URL."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name=CHANNELS["sns_topic"])["TopicArn"]
    assert topic_arn == TOPIC_ARN
    queue_url = str(sqs.create_queue(QueueName=CHANNELS["sns_queue"])["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def read_subscriber(aws: AwsClients, queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    notifications: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return notifications
        for message in messages:
            notifications.append(json.loads(message["Body"]))  # the body must be valid JSON
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def ses_sent() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


class Outlets:
    """Every channel type, configured through the environment as the Lambda is, and what they got."""

    def __init__(self, world: World) -> None:
        self.aws = AwsClients(region=REGION)
        self.aws.client("sesv2").create_email_identity(EmailIdentity=CHANNELS["ses_identity"])
        self.sns_queue = make_topic_subscriber(self.aws)
        secrets = self.aws.client("secretsmanager")
        self.smtp = world.servers.start(SmtpServer(world.tmp_path / "smtp", username=USERNAME, password=PASSWORD))
        self.http = world.servers.start(RecordingServer.ok())
        slack_url = self.http.url + CHANNELS["slack_path"]
        secrets.create_secret(Name=CHANNELS["slack_secret_id"], SecretString=json.dumps({"url": slack_url}))
        self.hmac_key = CHANNELS["webhook_hmac_secret"]
        secrets.create_secret(Name=CHANNELS["webhook_hmac_secret_id"], SecretString=self.hmac_key)
        self.outbox = world.tmp_path / CHANNELS["folder"]
        email_channel = {"sender": SETUP["sender"], "recipients": SETUP["recipients"], "region": REGION}
        channels = [
            {"type": "smtp", "name": "smtp", "secret_id": SETUP["secret_id"], **email_channel},
            {"type": "ses", "name": "ses", **email_channel},
            {"type": "sns", "name": "sns", "topic_arn": TOPIC_ARN},
            {"type": "slack", "name": "slack", "webhook_secret_id": CHANNELS["slack_secret_id"]},
            {"type": "teams", "name": "teams", "webhook_url": self.http.url + CHANNELS["teams_path"]},
            {
                "type": "webhook",
                "name": "webhook",
                "url": self.http.url + CHANNELS["webhook_path"],
                "hmac_secret_id": CHANNELS["webhook_hmac_secret_id"],
            },
            {"type": "folder", "name": "folder", "path": str(self.outbox)},
        ]
        channels[0].update(self.smtp.channel_options())
        self.names = [str(channel["name"]) for channel in channels]
        world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
        world.monkeypatch.setenv("TRAILGUARD_MAX_INDIVIDUAL_ALERTS", str(MAX_INDIVIDUAL))
        self._seen = {"smtp": 0, "ses": 0, "http": 0}
        self._files: set[Path] = set()

    def take(self) -> Received:
        """What arrived since the last call."""
        smtp = self.smtp.messages[self._seen["smtp"] :]
        ses = ses_sent()[self._seen["ses"] :]
        requests = self.http.requests[self._seen["http"] :]
        self._seen = {
            "smtp": self._seen["smtp"] + len(smtp),
            "ses": self._seen["ses"] + len(ses),
            "http": self._seen["http"] + len(requests),
        }
        for message in smtp:
            assert message.over_tls and message.login == USERNAME
            assert sorted(message.rcpt_tos) == RECIPIENTS, "no recipient added"
        for sent in ses:
            # moto lists the request's destinations and every To/Cc/Bcc header's, as SES delivers to them.
            assert {addr_spec(d) for d in sent.destinations} == set(RECIPIENTS), "no recipient added"
        files = sorted(set(self.outbox.iterdir()) - self._files) if self.outbox.exists() else []
        self._files.update(files)
        path_of = {
            "slack": CHANNELS["slack_path"],
            "teams": CHANNELS["teams_path"],
            "webhook": CHANNELS["webhook_path"],
        }
        return Received(
            emails=[("smtp", m.data) for m in smtp] + [("ses", s.raw_data.encode("ascii")) for s in ses],
            slack=[r for r in requests if r.path == path_of["slack"]],
            teams=[r for r in requests if r.path == path_of["teams"]],
            webhook=[r for r in requests if r.path == path_of["webhook"]],
            sns=read_subscriber(self.aws, self.sns_queue),
            files=files,
        )


# ----------------------------------------------------------------------------------------------
# What each reader gets must be well-formed and inert
# ----------------------------------------------------------------------------------------------


def check_email(raw: bytes, expected: str, where: str) -> None:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    names = [name.lower() for name in message]
    assert set(names) <= EMAIL_HEADERS, f"{where}: a header from event text: {set(names) - EMAIL_HEADERS}"
    assert len(names) == len(set(names)), f"{where}: every header once"
    subject = str(message["Subject"])
    # isprintable: no CR/LF, and no bidi override revived by a mail client decoding event text
    # that looks like an RFC 2047 encoded word.
    assert subject and all(ch.isprintable() for ch in subject), (where, ascii(subject[:300]))
    for part in message.walk():
        assert not part.defects, (where, part.get_content_type(), part.defects)
    html_part = message.get_body(("html",))
    plain_part = message.get_body(("plain",))
    assert isinstance(html_part, EmailMessage) and isinstance(plain_part, EmailMessage)
    html = html_part.get_content()
    page = check_html(html)  # no script, no on* attribute, links only to AWS and MITRE, nesting intact
    assert expected in normalized(page.visible_text), "shown as text, not dropped"
    assert expected in normalized(plain_part.get_content())


def check_received(run: Run, received: Received, hmac_key: str, outbox: Path) -> None:
    expected = shown_text(run.hostile)
    for channel, raw in received.emails:
        check_email(raw, expected, f"{run.name}: {channel}")
    for request in received.slack:
        payload = json.loads(request.body)
        check_slack(payload)  # every "<" and ">" escaped: no mention, no link; no formatting opened
        assert any(expected in normalized(slack_unescape(text)) for text in strings_in(payload))
    for request in received.teams:
        payload = json.loads(request.body)
        check_teams(payload)  # markdown's active characters escaped: no link, no emphasis
        assert any(expected in normalized(teams_unescape(text)) for text in teams_texts(payload))
    for request in received.webhook:
        timestamp = request.headers["x-trailguard-timestamp"]
        assert request.headers["x-trailguard-signature"] == sign(hmac_key, timestamp, request.body)
        payload = check_webhook(json.loads(request.body))
        assert any(run.hostile.value[:60] in text for text in strings_in(payload)), "values as recorded"
    for notification in received.sns:
        assert notification["Type"] == "Notification"
        check_sns(notification["Subject"], notification["Message"])
        assert expected in normalized(notification["Message"])
    for path in received.files:
        assert path.parent == outbox and path.resolve().parent == outbox.resolve()
        assert SAFE_FILE_NAME.fullmatch(path.name), ascii(path.name)
        if path.suffix == ".eml":
            check_email(path.read_bytes(), expected, f"{run.name}: folder {path.name}")
        else:
            page = check_html(path.read_text(encoding="utf-8").removeprefix(BOM))
            assert expected in normalized(page.visible_text)


def history_items(aws: AwsClients) -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": SETUP["table_name"]}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"])


_CUT = re.compile(r"(.*)\.\.\.\[(\d+) more characters\]", re.DOTALL)


def stored_as(stored: str, value: str) -> bool:
    """The value as recorded, or, a long one, its first thousands of characters and a note of how
    many more there were (DynamoDB takes at most 400 KB an item); lone surrogates as U+FFFD (DynamoDB
    stores UTF-8)."""
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if stored == value:
        return True
    cut = _CUT.fullmatch(stored)
    if cut is None:
        return False
    return len(cut[1]) >= 1000 and value.startswith(cut[1]) and len(cut[1]) + int(cut[2]) == len(value)


def check_history(run: Run, items: Sequence[Mapping[str, Any]], channels: Sequence[str]) -> None:
    for finding in run.findings:
        matching = [
            item
            for item in items
            if "rule_id" in item
            and text(item, "rule_id") == finding.rule_id
            and stored_as(text(item, "event_id"), finding.event_id)
        ]
        assert len(matching) == 1, f"{run.name}: {len(matching)} history items for {finding.rule_id}"
        [item] = matching
        recorded = {
            "title": finding.title,
            "summary": finding.summary,
            "resource_type": finding.resource.type,
            "resource_id": finding.resource.id,
            "resource_arn": finding.resource.arn,
            "actor": finding.actor.label,
            "actor_arn": finding.actor.arn,
            "account_id": finding.account_id,
            "region": finding.region,
            "event_name": finding.event_name,
            "dedupe_key": finding.dedupe_key,
        }
        for name, value in recorded.items():
            assert stored_as(text(item, name), value), f"{run.name}: the history's {name} is not the value recorded"
        assert text(item, "severity") == finding.severity.name
        assert text(item, "outcome") == "delivered"
        outcomes = {name: value["S"] for name, value in item["channels"]["M"].items()}
        assert outcomes == dict.fromkeys(channels, "delivered"), run.name
        assert TTL_ATTRIBUTE in item


class LogReader:
    """trailguard's JSON log lines, read as they come (a run's lines may be megabytes long)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.offset = 0

    def new_lines(self) -> list[dict[str, Any]]:
        text = self.world.logs.getvalue()
        fresh, self.offset = text[self.offset :], len(text)
        lines = fresh.splitlines()
        assert all(line.isascii() for line in lines), "one event, one line, whatever its text"
        return [json.loads(line) for line in lines]


def test_hostile_text_in_every_field_that_reaches_an_alert_is_delivered_inert_through_every_channel(
    world: World, plans: list[Plan]
) -> None:
    runs = schedule(plans, HOSTILE)
    outlets = Outlets(world)
    logs = LogReader(world)
    world.new_container()
    for run in runs:
        event = envelope(run)
        body = json.dumps(event)  # ASCII escapes: a lone surrogate travels as \ud800
        if run.number % 2 == 0 and len(body) <= SQS_BODY_LIMIT:
            world.poller.send(body)
            handed, failed = world.poller.poll()
            assert len(handed) == 1 and failed == [], run.name
        else:  # a direct EventBridge invocation; the only way for an event larger than SQS takes
            result = main.lambda_handler(event, LambdaContext())
            assert result["outcome"] == "delivered", (run.name, result)
        [line] = [line for line in logs.new_lines() if line["message"] == "event"]
        assert line["outcome"] == "delivered", (run.name, line["outcome"])
        assert line["rule_ids"] == sorted({finding.rule_id for finding in run.findings}), run.name

        received = outlets.take()
        alerts = len(group_alerts(run.findings, MAX_INDIVIDUAL))
        assert received.counts() == dict.fromkeys(received.counts(), alerts), (run.name, received.counts())
        check_received(run, received, outlets.hmac_key, outlets.outbox)
        check_history(run, history_items(outlets.aws), outlets.names)
    # The folder channel wrote nothing anywhere else, whatever the event text said.
    written = {path.relative_to(world.tmp_path).parts[0] for path in world.tmp_path.rglob("*") if path.is_file()}
    assert written <= {CHANNELS["folder"], "smtp"}, written


def test_bug_an_encoded_word_in_event_text_became_headers_of_the_folder_eml(tmp_path: Path) -> None:
    """The folder channel set the subject through the EmailMessage API, which decodes text that looks
    like an RFC 2047 encoded word: "=?utf-8?b?...?=" in an event field came out of the .eml as a CR/LF
    and real "Bcc:" and "X-Injected:" headers (and a bidi override, which visible() had spelled out,
    was revived in the subject). The subject is now stored encoded as a whole, as SMTP and SES send it."""
    [hostile] = [entry for entry in HOSTILE if entry.name == "encoded-words"]
    plan = plan_for(Engine(Settings()), next(e for e in chosen_events() if e.name == "iam/create_user.json"))
    record = with_text(plan.event.record, plan.groups[0], tagged(hostile.value, len(plan.groups[0])))
    findings = tuple(Engine(Settings()).evaluate(record))
    [alert] = group_alerts(findings, MAX_INDIVIDUAL)
    channel = build_channel({"type": "folder", "path": str(tmp_path)}, "folder", ChannelContext())
    html = Path(channel.send(alert))
    raw = html.with_suffix(".eml").read_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert "bcc" not in {name.lower() for name in message}
    assert "x-injected" not in {name.lower() for name in message}
    assert "\u202e" not in str(message["Subject"]) and hostile.value[:36] in str(message["Subject"])
    check_email(raw, shown_text(hostile), "folder")


# ----------------------------------------------------------------------------------------------
# Limits of the state store (src/trailguard/services/stores/dynamodb)
# ----------------------------------------------------------------------------------------------


def _folder_only(world: World) -> None:
    channel = {"type": "folder", "name": "folder", "path": str(world.tmp_path / "outbox")}
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([channel]))


def _sg_event_with(user_arn_tail: str, group_tail: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(SG_EVENT))
    event["detail"]["userIdentity"]["arn"] += user_arn_tail
    event["detail"]["requestParameters"]["groupId"] += group_tail
    return event


def test_bug_the_state_store_sends_text_that_is_not_unicode(world: World) -> None:
    """Was a bug: state_store wrote event text as it was, lone surrogates (valid JSON escapes in a
    CloudTrail field) included; DynamoDB stores strings as UTF-8, which cannot hold them (moto crashed
    measuring the item). They are now U+FFFD, as in the channels."""
    _folder_only(world)
    state = world.new_container()
    sent: list[Any] = []
    dynamodb = state.delivery.context.aws.client("dynamodb")
    dynamodb.meta.events.register("provide-client-params.dynamodb.*", lambda params, **_: sent.append(params))
    event = _sg_event_with("\ud800", "\udfff")
    assert main.lambda_handler(event, LambdaContext())["outcome"] == "delivered"
    assert sent, "the state store was used"
    assert [value for value in strings_in(sent) if not _utf8_ok(value)] == []


def _utf8_ok(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# 2. Secrets: a failing-delivery scenario where every failing server echoes what it was sent
# ----------------------------------------------------------------------------------------------

WINDOW = 16  # a leak of this many consecutive characters of a secret counts


def load_secrets() -> dict[str, str]:
    """The made-up secrets, joined from their parts (no file holds a key-looking string)."""
    return {name: "".join(parts) for name, parts in SCENARIO["parts"].items()}


def sign_as_the_lambda(world: World, secrets: Mapping[str, str]) -> None:
    """The world's fake credentials replaced by the scenario's real-looking ones: a leak of them shows."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        world.monkeypatch.setenv(name, secrets[name.lower()])
    # boto3's default session keeps the credentials it first read: the Lambda's are read afresh.
    world.monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def secret_forms(secrets: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(secret, form, text): each secret as is, URL-, form-, JSON- and base64-encoded, every
    WINDOW-character piece of it (a cut quote), and the SMTP AUTH PLAIN and LOGIN exchanges."""
    forms: set[tuple[str, str, str]] = set()
    for name, value in secrets.items():
        forms |= {
            (name, "as is", value),
            (name, "URL-encoded", quote(value, safe="")),
            (name, "form-encoded", quote_plus(value)),
            (name, "JSON-escaped", json.dumps(value)[1:-1]),
            (name, "base64", _b64(value)),
        }
        forms |= {(name, f"characters {i}-{i + WINDOW}", value[i : i + WINDOW]) for i in range(len(value) - WINDOW + 1)}
    username, password = secrets["smtp_username"], secrets["smtp_password"]
    forms.add(("smtp credentials", "AUTH PLAIN", _b64(f"\0{username}\0{password}")))
    return sorted(forms)


def leaks(haystacks: Mapping[str, str], forms: Sequence[tuple[str, str, str]]) -> list[str]:
    """``<secret> (<form>) in <where>`` for each form of a secret found somewhere."""
    return [
        f"{secret} ({form}) in {where}"
        for where, hay in haystacks.items()
        for secret, form, needle in forms
        if needle in hay
    ]


def formatted(records: Iterable[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")  # with exc_info's traceback
    # mail.log is aiosmtpd, the SMTP server of the test (SES, in production): not the Lambda's log.
    return "\n".join(formatter.format(record) for record in records if not record.name.startswith("mail.log"))


def record_of(name: str) -> dict[str, Any]:
    [event] = [event for event in load_rule_test_events() if event.name == name]
    return event.record


def test_no_secret_reaches_a_log_an_exception_the_history_or_an_alert(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = load_secrets()
    aws = AwsClients(region=REGION)  # the test's own clients, made before the Lambda's credentials are set
    manager = aws.client("secretsmanager")
    for service in ("sqs", "sns", "sesv2", "dynamodb"):
        aws.client(service)
    login = SCENARIO["smtp_server_login"]
    smtp_auth = SmtpServer(world.tmp_path / "smtp-auth", username=login["username"], password=login["password"])
    busy = Script(busy_sessions=1000, busy_reply=SCENARIO["smtp_busy_reply"].format(**secrets))
    smtp_busy = SmtpServer(world.tmp_path / "smtp-busy", secrets["smtp_username"], secrets["smtp_password"], busy)
    quota = Script(data_failures=1000, data_failure_reply=SCENARIO["smtp_data_reply"].format(**secrets))
    smtp_data = SmtpServer(world.tmp_path / "smtp-data", secrets["smtp_username"], secrets["smtp_password"], quota)
    slack_echo, teams_echo, webhook_echo = EchoServer(403), EchoServer(500), EchoServer(401)
    for server in (smtp_auth, smtp_busy, smtp_data, slack_echo, teams_echo, webhook_echo):
        world.servers.start(server)
    smtp_secret = {"username": secrets["smtp_username"], "password": secrets["smtp_password"]}
    manager.create_secret(Name=SCENARIO["smtp_secret_id"], SecretString=json.dumps(smtp_secret))
    slack_url = slack_echo.url + SCENARIO["slack_path"].format(**secrets)
    manager.create_secret(Name=SCENARIO["slack_secret_id"], SecretString=slack_url)
    webhook_url = webhook_echo.url + SCENARIO["webhook_path"].format(**secrets)
    manager.create_secret(Name=SCENARIO["webhook_url_secret_id"], SecretString=json.dumps({"url": webhook_url}))
    manager.create_secret(Name=SCENARIO["webhook_hmac_secret_id"], SecretString=secrets["webhook_hmac"])
    aws.client("sesv2").create_email_identity(EmailIdentity=CHANNELS["ses_identity"])
    sns_queue = make_topic_subscriber(aws)
    outbox = world.tmp_path / CHANNELS["folder"]

    email_channel = {"sender": SETUP["sender"], "recipients": SETUP["recipients"], "region": REGION}
    smtp = {"type": "smtp", "secret_id": SCENARIO["smtp_secret_id"], **email_channel}
    working = {"min_severity": "CRITICAL"}  # so the HIGH event reaches no channel that works
    channels = [
        {"name": "smtp-auth", **smtp, **smtp_auth.channel_options()},
        {"name": "smtp-busy", **smtp, **smtp_busy.channel_options()},
        {"name": "smtp-quota", **smtp, **smtp_data.channel_options()},
        {"type": "slack", "name": "slack", "webhook_secret_id": SCENARIO["slack_secret_id"]},
        {
            "type": "teams",
            "name": "teams",
            "webhook_url": teams_echo.url + SCENARIO["teams_path"].format(**secrets),
        },
        {
            "type": "webhook",
            "name": "webhook",
            "url_secret_id": SCENARIO["webhook_url_secret_id"],
            "hmac_secret_id": SCENARIO["webhook_hmac_secret_id"],
            "headers": {"Authorization": f"Bearer {secrets['webhook_bearer']}"},
        },
        {
            "type": "webhook",
            "name": "webhook-down",
            "url": closed_port_url() + SCENARIO["unreachable_path"].format(**secrets),
        },
        {"type": "ses", "name": "ses", **email_channel, **working},
        {"type": "sns", "name": "sns", "topic_arn": TOPIC_ARN, **working},
        {"type": "folder", "name": "folder", "path": str(outbox), **working},
    ]
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
    sign_as_the_lambda(world, secrets)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    state = world.new_container()
    state.delivery.context.aws.client("sns")
    credentials = boto3.DEFAULT_SESSION.get_credentials()
    assert credentials.secret_key == secrets["aws_secret_access_key"], "the Lambda signs with these"
    high = {**SG_EVENT, "id": "0e2e0000-0000-4000-8000-00000000high", "detail": record_of(SCENARIO["high_event"])}
    # 1. A direct invocation: the HIGH finding reaches no channel, so the handler raises for a retry.
    with pytest.raises(DeliveryError) as caught:
        main.lambda_handler(high, LambdaContext())
    exception = "".join(traceback.format_exception(caught.value))
    # 2. An SQS batch: the CRITICAL event goes out through the working channels but not the others,
    # the HIGH one through none: both are reported failed, to be retried.
    ids = world.poller.send(json.dumps(SG_EVENT), json.dumps(high))
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted(failed) == sorted(ids)
    library_logs = formatted(caplog.records)

    # The servers did echo the secrets back: the test could have caught a leak.
    assert {attempt.login for attempt in smtp_auth.auth_attempts} == {secrets["smtp_username"]}
    replies = {
        name: [r for s in server.sessions for r in s.replies]
        for name, server in (("auth", smtp_auth), ("busy", smtp_busy), ("quota", smtp_data))
    }
    assert any(secrets["smtp_username"] in reply for reply in replies["auth"] + replies["busy"])
    assert any(secrets["smtp_password"] in reply for reply in replies["quota"])
    assert any(secrets["slack_token"] in reply.body.decode() for reply in slack_echo.replies)
    assert any(secrets["teams_sig"] in reply.body.decode() for reply in teams_echo.replies)
    assert any(secrets["webhook_bearer"] in reply.body.decode() for reply in webhook_echo.replies)
    # Each channel failed the way it was meant to, and the history says so.
    items = history_items(aws)
    [high_item] = [item for item in items if "rule_id" in item and text(item, "event_id") == high["detail"]["eventID"]]
    outcomes = {name: value["S"] for name, value in high_item["channels"]["M"].items()}
    for name, expected in {
        "smtp-auth": "535",
        "smtp-busy": "421",
        "smtp-quota": "451",
        "slack": "HTTP 403",
        "teams": "HTTP 500",
        "webhook": "HTTP 401",
        "webhook-down": "connection refused",
    }.items():
        assert outcomes[name].startswith("failed: ") and expected in outcomes[name], (name, outcomes[name])
    assert text(high_item, "outcome") == "failed"
    assert "Credential=<redacted>" in library_logs, "botocore's DEBUG lines about signed requests were read"
    delivered_alerts = {
        "SES": "\n".join(sent.raw_data for sent in ses_sent()),
        "SNS": json.dumps(read_subscriber(aws, sns_queue)),
        "folder": "\n".join(path.read_bytes().decode("utf-8", "replace") for path in sorted(outbox.iterdir())),
    }
    assert all(delivered_alerts.values()), "the working channels delivered the CRITICAL finding"

    haystacks = {
        "trailguard's log": world.logs.getvalue(),
        "the libraries' logs at DEBUG": library_logs,
        "the exception and its causes": exception,
        "DynamoDB": json.dumps(items),
        **{f"the alert through {name}": hay for name, hay in delivered_alerts.items()},
        "the alerts sent to the failing servers": "\n".join(
            request.body.decode("utf-8", "replace")
            for server in (slack_echo, teams_echo, webhook_echo)
            for request in server.requests
        ),
    }
    assert "rejected the credentials from secret" in haystacks["DynamoDB"], "the failures are all there"
    found = leaks(haystacks, secret_forms(secrets))
    assert found == [], "\n".join(found[:40])


def test_bug_an_http_error_quoted_the_url_or_the_token_a_server_echoed() -> None:
    """An HTTP error quoted the server's reason phrase as it came (a server that puts the request line
    there gave away a Slack webhook's token), and redacted only the URL from the body it quoted (one
    that echoes the request's headers gave away the webhook's Authorization token)."""
    secrets = load_secrets()
    path = SCENARIO["webhook_path"].format(**secrets)
    with EchoServer(401) as server, pytest.raises(HttpError) as caught:
        post(server.url + path, b"{}", headers={"Authorization": f"Bearer {secrets['webhook_bearer']}"})
    assert path in server.replies[0].body.decode() and secrets["webhook_bearer"] in server.replies[0].body.decode()
    message = str(caught.value)
    assert message.startswith(f"POST to 127.0.0.1:{server.port}: HTTP 401 Rejected [redacted]")
    assert leaks({"the error": message}, secret_forms(secrets)) == []


def test_bug_botocore_debug_lines_named_the_lambdas_credentials(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, botocore logs the canonical request (with the session token) and the request sent
    (its Authorization header names the access key id, X-Amz-Security-Token holds the token)."""
    secrets = load_secrets()
    sign_as_the_lambda(world, secrets)
    for name in ("botocore.auth", "botocore.endpoint", "botocore.parsers", "botocore.hooks"):
        world.monkeypatch.setattr(logging.getLogger(name), "filters", [])  # as in a fresh process
    caplog.set_level(logging.DEBUG)
    ChannelContext().aws.client("sns").list_topics()
    logged = formatted(caplog.records)
    assert "CanonicalRequest" in logged and "x-amz-security-token:<redacted>" in logged
    assert "Credential=<redacted>" in logged
    assert leaks({"botocore's log": logged}, secret_forms(secrets)) == []
