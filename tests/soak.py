"""The soak harness behind ``make soak`` (scripts/soak.py) and tests/test_soak.py.

N EventBridge events go through ``main.lambda_handler`` in SQS batches of ten, against DynamoDB and
Secrets Manager in moto and a real SMTP server (aiosmtpd, STARTTLS and AUTH) that records every
message; then the alerts it received must be exactly the expected ones, and every finding must be
stored as delivered in the history.

The events, a pure function of (N, seed):

- about 99.7%: the realistic mix of benchmarks/generate_corpus.py (reads, AssumeRole, KMS, S3 data
  events, console sign-ins, routine writes, and its ~1% of sensitive calls, some failed, some near
  misses), moved to ``SOAK_DAY``. About 0.7% of these fire a rule.
- about 0.3%: copies of the positive records of tests/events/ (those that need no settings), each
  with its own eventID and a time on the timeline: most as they are, some made by the root user
  (``iam.root-activity`` then fires too), and DeleteFlowLogs sweeps of 2 to 14 flow logs (one
  finding per flow log), which are what makes an event exceed ``max_individual_alerts`` and so
  end in a digest.

The expected alerts do not come from the Lambda path: a separate ``Engine`` with the same settings
evaluates each record as the Lambda will receive it (parsed from the message body), and
``group_alerts`` groups each event's findings as the notification service does for one event (the
Lambda notifies each event's findings as one batch). An alert is identified by its event id, the
multiset of its rule ids, whether it is a digest, and its severity; when one event has several
alerts with the same identity (a sweep's single alerts), each must also name its own resource.
Received messages are read back from the text part: the footer of a single alert names its rule
and event, a digest lists each finding's rule and CloudTrail event link.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

from moto import mock_aws

from trailguard import main
from trailguard.core.engine import Engine
from trailguard.core.event_types import CloudTrailEvent, Finding
from trailguard.core.settings import Settings
from trailguard.patterns import API_CALL_DETAIL_TYPE, SIGN_IN_DETAIL_TYPES, eventbridge_source
from trailguard.services.alerts import group_alerts
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.services.stores.dynamodb.detection import DynamoDetectionState
from trailguard.services.stores.dynamodb.table import Table
from trailguard.utils import logger
from trailguard.utils.aws_helpers import AwsClients

from . import fake_aws
from .conftest import DATA_DIR, EVENTS_DIR, load_rule_test_events
from .lambda_world import PASSWORD, REGION, SETUP, TINY_RETRY, USERNAME, LambdaContext, body_text, smtp_channel
from .smtp_server import ReceivedMessage, SmtpServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import generate_corpus as corpus

Record = dict[str, Any]

DEFAULT_EVENTS = 100_000
DEFAULT_SEED = corpus.DEFAULT_SEED
BATCH_SIZE = 10  # the SQS event source mapping's batch size in infra/template.yaml
INJECTED_SHARE = 0.003
SOAK_DAY = dt.date(2026, 11, 3)  # the era of tests/events/ (some rules depend on the date)
# Among injected events: every tenth a flow-log sweep, two in ten by the root user, the rest copies.
SWEEP_EVERY = 10
ROOT_SLOTS = (3, 6)
SWEEP_TEMPLATE = EVENTS_DIR / "vpc" / "flow_logs_delete.json"
ROOT_TEMPLATE = EVENTS_DIR / "iam" / "root_create_user.json"
SQS_TEMPLATE = DATA_DIR / "lambda" / "sqs_batch_mixed.json"
DETAIL_TYPES = {"AwsConsoleSignIn": SIGN_IN_DETAIL_TYPES[0], "AwsServiceEvent": "AWS Service Event via CloudTrail"}

_SINGLE_FOOTER = re.compile(r"^trailguard · rule (\S+)(?: · event (\S+))?$", re.MULTILINE)
_DIGEST_FOOTER = re.compile(r"^trailguard · digest of (\d+) findings", re.MULTILINE)
_DIGEST_RULE = re.compile(r"^  .* · rule (\S+)$", re.MULTILINE)
_DIGEST_EVENT = re.compile(r"^  CloudTrail event: \S+#/events/(\S+)$", re.MULTILINE)
_SUBJECT_SEVERITY = re.compile(r"^\[([A-Z]+)\] ")


# ------------------------------------------------------------------------------------------------
# The events
# ------------------------------------------------------------------------------------------------


class SoakEvent(NamedTuple):
    """One generated EventBridge event; ``expect`` is what the record's source says it fires
    (tests/events' ``expect``, or a sweep's flow-log count), None for the generated background."""

    envelope: Record
    kind: str  # background, copy, root, sweep
    expect: Counter[str] | None


class _Pool(NamedTuple):
    name: str
    record: Record
    expect: Counter[str]


EXPECTED_STATE_TABLE = "trailguard-soak-expected"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _on_soak_day(event_time: str, shifts: dict[str, str]) -> str:
    """The corpus's timeline moved to SOAK_DAY (day 1 of the corpus -> SOAK_DAY, and so on)."""
    day = event_time[:10]
    if day not in shifts:
        offset = dt.date.fromisoformat(day) - corpus.START.date()
        shifts[day] = (SOAK_DAY + offset).isoformat()
    return shifts[day] + event_time[10:]


def positive_pool(engine: Engine) -> tuple[list[_Pool], list[str]]:
    """The tests/events records that fire rules without settings, and the names of those left out
    because moved to SOAK_DAY they no longer fire exactly what their file expects (date-dependent
    rules: an Aurora cluster created before 2026-02-18 is unencrypted by default, after it not)."""
    pool: list[_Pool] = []
    left_out: list[str] = []
    for test_event in load_rule_test_events():
        if not test_event.expect or test_event.settings:
            continue
        record = copy.deepcopy(test_event.record)
        record["eventTime"] = SOAK_DAY.isoformat() + "T12:00:00Z"
        expect = Counter(test_event.expect.keys())
        if Counter(f.rule_id for f in engine.evaluate(record)) == expect:
            pool.append(_Pool(test_event.name, test_event.record, expect))
        else:
            left_out.append(test_event.name)
    return pool, left_out


def _as_root(record: Record, root_identity: Record) -> Record:
    account = str(record.get("recipientAccountId") or root_identity["accountId"])
    identity = json.loads(json.dumps(root_identity).replace(root_identity["accountId"], account))
    return {**record, "userIdentity": identity}


def _sweep(template: Record, rng: random.Random, flow_logs: int) -> Record:
    record = copy.deepcopy(template)
    request_id = _uuid(rng)
    ids = [{"content": f"fl-0{rng.getrandbits(64):016x}", "tag": n} for n in range(1, flow_logs + 1)]
    record["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"] = ids
    record["responseElements"]["DeleteFlowLogsResponse"]["requestId"] = request_id
    record["requestID"] = request_id
    return record


def _background(events: int, seed: int) -> Iterator[Record]:
    if events <= 0:
        return
    params = corpus.CorpusParams(events=events, seed=seed)
    shifts: dict[str, str] = {}
    for index in range(params.files):
        _ctx, records, _apis = corpus.file_records(params, index)
        for record in records:
            record["eventTime"] = _on_soak_day(record["eventTime"], shifts)
            yield record


def envelope(record: Record, envelope_id: str) -> Record:
    """The EventBridge event CloudTrail's integration makes of a record."""
    return {
        "version": "0",
        "id": envelope_id,
        "detail-type": DETAIL_TYPES.get(str(record.get("eventType")), API_CALL_DETAIL_TYPE),
        "source": eventbridge_source(str(record.get("eventSource", ""))),
        "account": record.get("recipientAccountId", ""),
        "time": record.get("eventTime", ""),
        "region": record.get("awsRegion", ""),
        "resources": [],
        "detail": record,
    }


def generate_events(events: int, seed: int, pool: list[_Pool]) -> Iterator[SoakEvent]:
    """``events`` EventBridge events, the same for the same arguments; every eventID unique."""
    rng = random.Random(f"soak:{seed}")
    injected = round(events * INJECTED_SHARE)
    slots = set(rng.sample(range(events), injected))
    order = list(pool)
    rng.shuffle(order)
    sweep_template = json.loads(SWEEP_TEMPLATE.read_text(encoding="utf-8"))["record"]
    root_identity = json.loads(ROOT_TEMPLATE.read_text(encoding="utf-8"))["record"]["userIdentity"]
    background = _background(events - injected, seed)
    event_ids: set[str] = set()
    now = SOAK_DAY.isoformat() + corpus.START.strftime("T%H:%M:%SZ")
    copies = number = 0
    for index in range(events):
        if index not in slots:
            record = next(background)
            now = record["eventTime"]
            item = SoakEvent(envelope(record, _uuid(rng)), "background", None)
        else:
            if number % SWEEP_EVERY == 0:
                sweep = number // SWEEP_EVERY
                flow_logs = 2 + (7 + 5 * sweep) % 13  # 9, 14, 6, 11, 3, ...: every size from 2 to 14
                record = _sweep(sweep_template, rng, flow_logs)
                expect = Counter({"vpc.flow-logs-deleted": flow_logs})
                if sweep % 2:
                    record = _as_root(record, root_identity)
                    expect["iam.root-activity"] += 1
                kind = "sweep"
            else:
                source = order[copies % len(order)]
                copies += 1
                record = copy.deepcopy(source.record)
                expect = source.expect
                kind = "copy"
                if number % SWEEP_EVERY in ROOT_SLOTS:
                    record, kind, expect = _as_root(record, root_identity), "root", None
            number += 1
            record["eventID"] = _uuid(rng)
            record["eventTime"] = now
            item = SoakEvent(envelope(record, _uuid(rng)), kind, expect)
        event_id = item.envelope["detail"]["eventID"]
        if event_id in event_ids:
            raise ValueError(f"generated eventID {event_id} twice (seed {seed})")
        event_ids.add(event_id)
        yield item


def sqs_batches(events: Iterable[SoakEvent], seed: int) -> Iterator[list[tuple[Record, SoakEvent]]]:
    """SQS records as the event source mapping hands them to the function, BATCH_SIZE at a time."""
    rng = random.Random(f"sqs:{seed}")
    template = json.loads(SQS_TEMPLATE.read_text(encoding="utf-8"))["Records"][0]
    sent_ms = int(dt.datetime.combine(SOAK_DAY, dt.time(), dt.UTC).timestamp() * 1000)
    batch: list[tuple[Record, SoakEvent]] = []
    for index, event in enumerate(events):
        body = json.dumps(event.envelope)
        sent = str(sent_ms + index * 10)
        message = {
            **template,
            "messageId": _uuid(rng),
            "receiptHandle": f"AQEB{rng.getrandbits(256):064x}==",
            "body": body,
            "attributes": {**template["attributes"], "SentTimestamp": sent, "ApproximateFirstReceiveTimestamp": sent},
            "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        }
        batch.append((message, event))
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


# ------------------------------------------------------------------------------------------------
# Expected and received alerts
# ------------------------------------------------------------------------------------------------

AlertKey = tuple[str, tuple[str, ...], bool, str]  # event id, rule ids (sorted), digest, severity


class ExpectedAlert(NamedTuple):
    key: AlertKey
    resources: tuple[str, ...]  # each finding's resource id: how alerts with the same key differ


class ReceivedAlert(NamedTuple):
    key: AlertKey
    text: str


def expected_alerts(findings: list[Finding], max_individual: int) -> list[ExpectedAlert]:
    """The alerts one event's findings make (the Lambda notifies each event's findings together)."""
    alerts = []
    for alert in group_alerts(findings, max_individual):
        event_ids = {finding.event_id for finding in alert.findings}
        assert len(event_ids) == 1, event_ids
        rules = tuple(sorted(finding.rule_id for finding in alert.findings))
        key = (event_ids.pop(), rules, alert.digest, alert.severity.name)
        alerts.append(ExpectedAlert(key, tuple(finding.resource.id for finding in alert.findings)))
    return alerts


def read_alert(message: ReceivedMessage) -> ReceivedAlert:
    """What a received email says it is: raises ValueError when it cannot be read."""
    subject = str(message.parsed()["Subject"])
    text = body_text(message).replace("\r\n", "\n")  # as SMTP carried it
    severity = _SUBJECT_SEVERITY.match(subject)
    if severity is None:
        raise ValueError(f"no [SEVERITY] in the subject {subject!r}")
    digest = _DIGEST_FOOTER.search(text)
    if digest is None:
        single = _SINGLE_FOOTER.search(text)
        if single is None or not single[2]:
            raise ValueError(f"no rule and event in the footer of {subject!r}")
        return ReceivedAlert((single[2], (single[1],), False, severity[1]), text)
    rules = _DIGEST_RULE.findall(text)
    events = set(_DIGEST_EVENT.findall(text))
    if len(rules) != int(digest[1]) or len(events) != 1:
        raise ValueError(f"digest {subject!r}: {digest[1]} findings, {len(rules)} rules and events {sorted(events)}")
    return ReceivedAlert((events.pop(), tuple(sorted(rules)), True, severity[1]), text)


def match_alerts(expected: list[ExpectedAlert], received: list[ReceivedAlert]) -> list[str]:
    """Problems: expected alerts not received, and received ones not expected (or received twice)."""
    problems = []
    waiting: dict[AlertKey, list[ReceivedAlert]] = defaultdict(list)
    for got in received:
        waiting[got.key].append(got)
    same_key = Counter(alert.key for alert in expected)
    for alert in expected:
        candidates = waiting[alert.key]
        if same_key[alert.key] > 1:
            candidates = [c for c in candidates if all(res in c.text for res in alert.resources if res)]
        if not candidates:
            problems.append(f"missing alert: {_describe(alert.key)} {alert.resources}")
            continue
        waiting[alert.key].remove(candidates[0])
    problems.extend(f"unexpected alert: {_describe(left.key)}" for lefts in waiting.values() for left in lefts)
    return problems


def _describe(key: AlertKey) -> str:
    event_id, rules, digest, severity = key
    return f"{'digest' if digest else 'alert'} [{severity}] of event {event_id}: {', '.join(rules)}"


# ------------------------------------------------------------------------------------------------
# The Lambda's world
# ------------------------------------------------------------------------------------------------


class LogTally(io.StringIO):
    """The Lambda's log stream: counts lines by level and keeps the first few that are not INFO
    (keeping 100,000 lines would put tens of MB into the peak memory measured)."""

    KEEP = 20

    def __init__(self) -> None:
        super().__init__()
        self.levels: Counter[str] = Counter()
        self.notable: list[str] = []

    def write(self, text: str, /) -> int:
        for line in text.splitlines():
            prefix = '{"level":"'
            level = line[len(prefix) : line.find('"', len(prefix))] if line.startswith(prefix) else "?"
            self.levels[level] += 1
            if level != "INFO" and len(self.notable) < self.KEEP:
                self.notable.append(line)
        return len(text)


class SoakWorld(NamedTuple):
    server: SmtpServer
    history: DynamoDBStore
    logs: LogTally


@contextlib.contextmanager
def soak_world(work_dir: Path) -> Iterator[SoakWorld]:
    """moto, the SMTP server, and an environment with nothing but the Lambda's configuration."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TRAILGUARD_") and name not in fake_aws.REMOVED
    }
    environment.update(fake_aws.variables(REGION), TRAILGUARD_TABLE_NAME=SETUP["table_name"])
    logs = LogTally()
    saved_stream = logger.stream
    with mock.patch.dict(os.environ, environment, clear=True), mock_aws():
        aws = AwsClients(region=REGION)
        aws.client("secretsmanager").create_secret(
            Name=SETUP["secret_id"], SecretString=json.dumps(SETUP["credentials"])
        )
        create_table(aws.client("dynamodb"), SETUP["table_name"])
        with SmtpServer(work_dir / "smtp", username=USERNAME, password=PASSWORD) as server:
            os.environ["TRAILGUARD_CHANNELS"] = json.dumps([smtp_channel(server)])
            logger.stream = logs
            try:
                yield SoakWorld(server, DynamoDBStore(SETUP["table_name"], aws), logs)
            finally:
                logger.stream = saved_stream
                logger.bind()
                main.reset()


def _new_container() -> None:
    """A fresh container, retries made instant (as tests/lambda_world.World.new_container)."""
    main.reset()
    notifier = main.container().delivery.notifier
    assert notifier is not None
    notifier.retry = TINY_RETRY
    notifier.sleep = lambda _seconds: None


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SoakReport:
    events: int
    seed: int
    batches: int = 0
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    left_out: list[str] = dataclasses.field(default_factory=list)  # tests/events records not used
    # Events an active rule subscribes to: the share EventBridge's generated patterns would deliver
    # (tests/test_patterns.py: the patterns match exactly what the engine wants). The soak sends
    # every event, so the Lambda's cost per soak event is lower than per event it would receive.
    delivered: int = 0
    finding_events: int = 0
    findings: int = 0
    expected: int = 0
    expected_digests: int = 0
    emails: int = 0
    digests: int = 0
    smtp_sessions: int = 0
    history_delivered: int = 0
    batch_seconds: list[float] = dataclasses.field(default_factory=list)
    alerting_batches: list[bool] = dataclasses.field(default_factory=list)  # per batch: any findings?
    # Per batch with findings: the time spent in the SMTP channel's send (connect, TLS, AUTH, messages).
    smtp_seconds: list[float] = dataclasses.field(default_factory=list)
    wall_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    log_levels: Counter[str] = dataclasses.field(default_factory=Counter)
    notable_logs: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    # DynamoDB requests lambda_handler made, by what they were for (delivery, detection state).
    dynamodb_requests: Counter[str] = dataclasses.field(default_factory=Counter)
    # The same by (purpose, "reads"/"writes"), and the capacity units they cost.
    dynamodb_use: DynamoUse = dataclasses.field(
        default_factory=lambda: DynamoUse(Counter(), defaultdict(float), Counter(), defaultdict(float))
    )

    def dynamodb_per_thousand(self, purpose: str | None = None) -> float:
        made = sum(self.dynamodb_requests.values()) if purpose is None else self.dynamodb_requests[purpose]
        return 1000 * made / self.events if self.events else 0.0

    def use_per_thousand(self, purpose: str, units: bool = False) -> tuple[float, float]:
        """(reads, writes) per 1,000 events for ``purpose``: requests, or with ``units`` capacity units."""
        counts = self.dynamodb_use.units if units else self.dynamodb_use.requests
        per = 1000 / self.events if self.events else 0.0
        return counts[(purpose, "reads")] * per, counts[(purpose, "writes")] * per

    def cost_per_million(self, purpose: str) -> float:
        """Dollars per million events at list prices (``PRICE``): DynamoDB's for ``purpose``, or
        ``"lambda"``: invocations (one per batch) and duration (the handler time measured here)."""
        if purpose == "lambda":
            return self.lambda_cost_per_million()[0] + self.lambda_cost_per_million()[1]
        reads, writes = self.use_per_thousand(purpose, units=True)
        return 1000 * (reads * PRICE.read_unit + writes * PRICE.write_unit)

    def per_million_delivered(self, purpose: str) -> float:
        """Dollars per million events EventBridge would deliver: the state's requests all come from
        them; the Lambda would run one invocation per 10 of them (full batches) and, generously, all
        of the handler time measured here."""
        if not self.delivered:
            return 0.0
        if purpose == "lambda":
            requests = 1e6 / BATCH_SIZE * PRICE.lambda_request
            duration = 1e6 * self.handler_seconds / self.delivered * PRICE.memory_gb * PRICE.gb_second
            return requests + duration
        return self.cost_per_million(purpose) * self.events / self.delivered

    def lambda_cost_per_million(self) -> tuple[float, float]:
        """(requests, duration) of the Lambda, dollars per million events."""
        if not self.events:
            return 0.0, 0.0
        requests = 1e6 * self.batches / self.events * PRICE.lambda_request
        duration = 1e6 * self.handler_seconds / self.events * PRICE.memory_gb * PRICE.gb_second
        return requests, duration

    def _kinds_note(self) -> str:
        """The detection state's requests per 1,000 events by item kind: reads + writes (write units)."""
        per = 1000 / self.events if self.events else 0.0
        use = self.dynamodb_use
        return ", ".join(
            f"{kind} {use.kinds[(kind, 'reads')] * per:,.1f} + {use.kinds[(kind, 'writes')] * per:,.1f}"
            f" ({use.kind_units[(kind, 'writes')] * per:,.1f})"
            for kind in _ITEM_KINDS.values()
        )

    def _use_note(self, units: bool) -> str:
        return ", ".join(
            "{} {:,.1f} + {:,.1f}".format(purpose, *self.use_per_thousand(purpose, units))
            for purpose in ("delivery", "detection state")
        )

    @property
    def handler_ms_per_event(self) -> float:
        return 1000 * self.handler_seconds / self.events if self.events else 0.0

    @property
    def handler_seconds(self) -> float:
        return sum(self.batch_seconds)

    @property
    def events_per_second(self) -> float:
        return self.events / self.handler_seconds if self.handler_seconds else 0.0

    def percentile(self, percent: int, alerting: bool | None = None) -> float:
        """Seconds per batch at ``percent``; of the batches with (True) or without (False) findings."""
        times = [
            seconds
            for seconds, had in zip(self.batch_seconds, self.alerting_batches, strict=True)
            if alerting is None or had == alerting
        ]
        if len(times) < 2:
            return times[0] if times else 0.0
        return statistics.quantiles(times, n=100, method="inclusive")[percent - 1]

    def _smtp_note(self) -> str:
        times = sorted(self.smtp_seconds)
        if len(times) < 2:
            return ""
        p50, p99 = (statistics.quantiles(times, n=100, method="inclusive")[p - 1] * 1000 for p in (50, 99))
        return f"p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   (the SMTP channel's send, per batch with findings)"

    def table(self) -> str:
        kinds = self.kinds
        alerting = sum(self.alerting_batches)
        first = self.batch_seconds[0] if self.batch_seconds else 0.0

        def ms(alerting: bool | None) -> str:
            p50, p99 = (self.percentile(percent, alerting) * 1000 for percent in (50, 99))
            return f"p50 {p50:8.2f} ms   p99 {p99:8.2f} ms"

        rows = [
            (
                "events",
                f"{self.events:,}",
                f"seed {self.seed}: {kinds['background']:,} generated by the corpus generator",
            ),
            (
                "",
                "",
                f"+ {kinds['copy']:,} copies of tests/events, {kinds['root']:,} as root, "
                f"{kinds['sweep']:,} flow-log sweeps",
            ),
            (
                "events a rule watches",
                f"{self.delivered:,}",
                f"{self.delivered / max(1, self.events):.1%}: what EventBridge's patterns would deliver",
            ),
            ("SQS batches", f"{self.batches:,}", f"of {BATCH_SIZE}; {alerting:,} with findings"),
            ("events with findings", f"{self.finding_events:,}", f"{self.finding_events / max(1, self.events):.2%}"),
            ("findings", f"{self.findings:,}", f"{self.history_delivered:,} stored as delivered in the history"),
            ("alerts expected", f"{self.expected:,}", f"{self.expected_digests:,} of them digests"),
            ("emails received", f"{self.emails:,}", f"{self.digests:,} digests; {self.smtp_sessions:,} SMTP sessions"),
            ("throughput", f"{self.events_per_second:,.0f}", "events/s through lambda_handler"),
            (
                "time in the handler",
                f"{self.handler_seconds:,.1f}",
                f"s ({self.wall_seconds:,.1f} s wall, with generation and checks)",
            ),
            ("time per batch", "", ms(None)),
            ("  without findings", "", ms(False)),
            ("  with findings", "", ms(True)),
            ("  of it in SMTP", "", self._smtp_note()),
            ("first batch", f"{first * 1000:,.1f}", "ms (builds the boto3 clients, reads the secret...)"),
            ("slowest batch", f"{max(self.batch_seconds, default=0.0) * 1000:,.1f}", "ms"),
            (
                "peak memory",
                f"{self.peak_rss_mib:,.0f}",
                "MiB ru_maxrss: the whole process, moto and the SMTP server included",
            ),
            (
                "DynamoDB requests / 1,000 events",
                f"{self.dynamodb_per_thousand():,.1f}",
                f"delivery {self.dynamodb_per_thousand('delivery'):,.1f}, "
                f"detection state {self.dynamodb_per_thousand('detection state'):,.1f}",
            ),
            ("  reads, writes", "", self._use_note(units=False)),
            ("capacity units / 1,000 events", "", self._use_note(units=True) + " (read, write units)"),
            ("  state by item kind", "", self._kinds_note() + ": reads + writes (write units)"),
            (
                "cost / million events",
                f"{self.cost_per_million('detection state'):,.3f}",
                f"$ detection state; delivery ${self.cost_per_million('delivery'):,.3f} (DynamoDB on-demand)",
            ),
            (
                "  the Lambda",
                f"{self.cost_per_million('lambda'):,.3f}",
                "$ = ${:,.3f} invocations (one per batch) + ${:,.3f} duration ({:,.2f} ms/event measured, "
                "128 MB arm64)".format(*self.lambda_cost_per_million(), self.handler_ms_per_event),
            ),
            (
                "/ million delivered events",
                f"{self.per_million_delivered('detection state'):,.3f}",
                f"$ detection state; the Lambda ${self.per_million_delivered('lambda'):,.3f} "
                "(one invocation per 10, all the handler time): what an account pays per event it sends",
            ),
            (
                "log lines",
                f"{sum(self.log_levels.values()):,}",
                ", ".join(f"{n:,} {level}" for level, n in sorted(self.log_levels.items())),
            ),
        ]
        width = max(len(name) for name, _, _ in rows)
        number = max(len(value) for _, value, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value:>{number}}  {note}".rstrip() for name, value, note in rows)


CHAIN_RULE = "incident.attack-chain"
# Item kinds of core.state's DynamoDB backend (services/stores/dynamodb/detection.py), by key prefix.
_DETECTION_PREFIXES = ("seen#", "tally#", "window#", "corr#")
_ITEM_KINDS = {"seen#": "first seen", "tally#": "tallies", "window#": "alert windows", "corr#": "correlation items"}
# botocore names of the operations that read (every other one writes).
_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


class Price(NamedTuple):
    """AWS list prices, us-east-1 (DynamoDB on-demand after the November 2024 cut; Lambda arm64, the
    stack's default architecture, at the stack's default 128 MB): README, "Read-only calls"."""

    read_unit: float = 0.125 / 1e6  # per read request unit (one consistent read of up to 4 KB)
    write_unit: float = 0.625 / 1e6  # per write request unit (one write of up to 1 KB)
    lambda_request: float = 0.20 / 1e6
    gb_second: float = 0.0000133334  # arm64 (x86_64: 0.0000166667)
    memory_gb: float = 128 / 1024


PRICE = Price()


def _units(operation: str, params: dict[str, Any], *, before: int, after: int, read: int, indexed: bool) -> float:
    """Capacity units DynamoDB charges for one request, from the item sizes moto holds (bytes): a
    write costs a unit per KB of the larger of the item before and after it (a failed condition
    too), twice when the item is in the by-rule index; a read a unit per 4 KB read, half of it
    when eventually consistent."""
    if operation in _READS:
        return max(1, -(-read // 4096)) * (1.0 if params.get("ConsistentRead") else 0.5)
    return max(1, -(-max(before, after) // 1024)) * (2 if indexed else 1)


class DynamoUse(NamedTuple):
    """DynamoDB requests and capacity units, by (purpose, "reads" or "writes"); the detection
    state's also by item kind (``_ITEM_KINDS``)."""

    requests: Counter[tuple[str, str]]
    units: defaultdict[tuple[str, str], float]
    kinds: Counter[tuple[str, str]]
    kind_units: defaultdict[tuple[str, str], float]


@contextlib.contextmanager
def counting_dynamodb_requests(counts: Counter[str], use: DynamoUse | None = None) -> Iterator[None]:
    """Count every DynamoDB request botocore sends meanwhile, by purpose (from the item's key); with
    ``use``, also reads and writes apart, and the capacity units each costs (``_units``)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        batched = [key for request in (params.get("RequestItems") or {}).values() for key in request.get("Keys", ())]
        key = params.get("Key") or params.get("Item") or (batched[0] if batched else {})
        pk = str((key.get("pk") or params.get("ExpressionAttributeValues", {}).get(":pk") or {}).get("S", ""))
        purpose = "detection state" if pk.startswith(_DETECTION_PREFIXES) else "delivery"
        counts[purpose] += 1
        if use is None:
            return original(client, operation, params)
        kind = "reads" if operation in _READS else "writes"
        table = _moto_table(client, params)
        before, indexed = _stored_size(table, key) if kind == "writes" else (0, False)
        response: dict[str, Any] = {}
        try:
            response = original(client, operation, params)
            return response
        finally:
            after, indexed_after = _stored_size(table, key) if kind == "writes" else (0, False)
            read = sum(_stored_size(table, item)[0] for item in response.get("Items", ()))
            read += _stored_size(table, response.get("Item") or {})[0]
            if operation == "BatchGetItem":
                # Each key is charged on its own: half a unit per 4 KB of its item, eventually
                # consistent, and the minimum half unit for a key with no item.
                found = [item for items in (response.get("Responses") or {}).values() for item in items]
                missing = max(0, len(batched) - len(found))
                units = (
                    sum(
                        _units("GetItem", {}, before=0, after=0, read=_stored_size(table, item)[0], indexed=False)
                        for item in found
                    )
                    + 0.5 * missing
                )
            else:
                units = _units(
                    operation, params, before=before, after=after, read=read, indexed=indexed or indexed_after
                )
            use.requests[(purpose, kind)] += 1
            use.units[(purpose, kind)] += units
            if purpose == "detection state":
                item_kind = _ITEM_KINDS[pk.partition("#")[0] + "#"]
                use.kinds[(item_kind, kind)] += 1
                use.kind_units[(item_kind, kind)] += units

    BaseClient._make_api_call = counted
    try:
        yield
    finally:
        BaseClient._make_api_call = original


def _moto_table(client: Any, params: dict[str, Any]) -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    name = params.get("TableName") or next(iter(params.get("RequestItems") or {}), "")
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][client.meta.region_name].get_table(name)


def _stored_size(table: Any, key: dict[str, Any]) -> tuple[int, bool]:
    """The size in bytes of the item moto stores under ``key`` (0: none), and whether it is also in
    the table's index (it has the index's keys: a write there costs again)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if "pk" not in key or "sk" not in key:
        return 0, False
    item = table.get_item(DynamoType(key["pk"]), DynamoType(key["sk"]))
    if item is None:
        return 0, False
    return int(item.size()), "rule_id" in item.attrs and "event_time" in item.attrs


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """moto's Query as DynamoDB's costs it: reading the queried partition only.

    moto answers every base-table Query by sorting all the items of the table (``Table.all_items``)
    and then keeping those of the partition: each Query costs O(table log table), and the table
    only grows (moto never expires items by TTL). Over 100,000 events that made the soak
    quadratic: the time per 1,000 batches grew from 89 s to 292 s, the profile almost all in
    moto's sort. DynamoDB reads a Query from the partition's sort-key index. This keeps moto's
    own query code (key conditions, order, limits, filters: the same answers) and hands it the
    queried partition instead of the table; index queries and scans are left as they are.
    """
    from moto.dynamodb.models.table import Table as MotoTable

    original = MotoTable.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.has_range_key:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # an attribute of this table object for this call only
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    with mock.patch.object(MotoTable, "query", query):
        yield


@contextlib.contextmanager
def timing_smtp_sends() -> Iterator[list[float]]:
    """The seconds of each SMTP channel send meanwhile, appended to the list yielded."""
    from trailguard.services.channels.smtp_email import SmtpEmailChannel

    times: list[float] = []
    original = SmtpEmailChannel.send

    def timed(channel: SmtpEmailChannel, alert: Any) -> str:
        began = time.perf_counter()
        try:
            return original(channel, alert)
        finally:
            times.append(time.perf_counter() - began)

    with mock.patch.object(SmtpEmailChannel, "send", timed):
        yield times


def run_soak(
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run the soak; ``report.problems`` lists every way the delivered alerts or the history differ
    from the expected ones (empty: all held)."""
    report = SoakReport(events, seed)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trailguard-soak-")))
        world = stack.enter_context(soak_world(work_dir))
        stack.enter_context(partition_queries())
        settings = Settings.load()
        # Not the container's engine: the expected alerts share no object with the path under test.
        # Its stateful rules count in a table of their own: the same windows as the Lambda's
        # (DynamoDB's are bucketed; an exact in-memory window may cross a threshold one event apart).
        aws = AwsClients(region=REGION)
        create_table(aws.client("dynamodb"), EXPECTED_STATE_TABLE)
        engine = Engine(settings, state=DynamoDetectionState(Table(EXPECTED_STATE_TABLE, aws)))
        pool, report.left_out = positive_pool(engine)
        smtp_time = stack.enter_context(timing_smtp_sends())
        _new_container()
        context = LambdaContext()
        finding_keys: dict[tuple[str, str, str], str] = {}  # -> the event's day
        total = -(-events // BATCH_SIZE)
        for number, batch in enumerate(sqs_batches(generate_events(events, seed, pool), seed), start=1):
            expected: list[ExpectedAlert] = []
            for message, event in batch:
                report.kinds[event.kind] += 1
                record = json.loads(message["body"])["detail"]  # what the Lambda will read
                report.delivered += bool(engine.rules_for(CloudTrailEvent(record)))
                findings = engine.evaluate(record)
                # The event alone (its test file's expectation); incidents come from the stream of events.
                alone = Counter(f.rule_id for f in findings if f.rule_id != CHAIN_RULE)
                if event.expect is not None and alone != event.expect:
                    report.problems.append(
                        f"{event.kind} event {record['eventID']} fired {sorted(f.rule_id for f in findings)}, "
                        f"expected {sorted(event.expect.elements())}"
                    )
                if findings:
                    report.finding_events += 1
                    report.findings += len(findings)
                    finding_keys.update(
                        {(f.event_id, f.rule_id, f.resource.arn or f.resource.id): f.event_time[:10] for f in findings}
                    )
                    expected.extend(expected_alerts(findings, settings.max_individual_alerts))
            smtp_time.clear()
            began = time.perf_counter()
            with counting_dynamodb_requests(report.dynamodb_requests, report.dynamodb_use):
                result = main.lambda_handler({"Records": [message for message, _ in batch]}, context)
            report.batch_seconds.append(time.perf_counter() - began)
            if expected:
                report.smtp_seconds.append(sum(smtp_time))
            report.alerting_batches.append(bool(expected))
            if result.get("batchItemFailures"):
                report.problems.append(f"batch {number}: batchItemFailures {result['batchItemFailures']}")
            # Taken as they come: 100,000 events make ~1,500 emails of ~30 KB, most of the peak memory if kept.
            messages = world.server.take_messages()
            received = []
            for email in messages:
                if not email.over_tls or email.login != USERNAME:
                    report.problems.append(f"batch {number}: a message not sent over TLS after AUTH")
                try:
                    received.append(read_alert(email))
                except ValueError as exc:
                    report.problems.append(f"batch {number}: unreadable email: {exc}")
            report.expected += len(expected)
            report.expected_digests += sum(alert.key[2] for alert in expected)
            report.emails += len(messages)
            report.digests += sum(alert.key[2] for alert in received)
            report.problems.extend(f"batch {number}: {problem}" for problem in match_alerts(expected, received))
            if progress is not None and (number % max(1, total // 10) == 0 or number == total):
                progress(f"{number:,}/{total:,} batches, {time.perf_counter() - started:.0f} s")
        report.batches = len(report.batch_seconds)
        report.smtp_sessions = len(world.server.sessions)
        report.history_delivered, problems = _check_history(world.history, finding_keys)
        report.problems.extend(problems)
        report.log_levels = world.logs.levels
        report.notable_logs = world.logs.notable
    if report.log_levels["ERROR"]:
        report.problems.append(f"{report.log_levels['ERROR']} ERROR log lines, the first: {report.notable_logs[:3]}")
    report.wall_seconds = time.perf_counter() - started
    report.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return report


def _check_history(history: DynamoDBStore, finding_keys: dict[tuple[str, str, str], str]) -> tuple[int, list[str]]:
    """Every finding stored once, as delivered: (how many are, the problems). Findings that share
    event, rule and resource share one item, as they share one claim."""
    if not finding_keys:
        return 0, []
    days = sorted(set(finding_keys.values()))
    stored: Counter[tuple[str, str, str]] = Counter()
    problems = []
    delivered = 0
    for item in history.query_history(f"{days[0]}T00:00:00Z", f"{days[-1]}T23:59:59Z", limit=2 * len(finding_keys)):
        key = (item.event_id, item.rule_id, item.resource_arn or item.resource_id)
        stored[key] += 1
        if item.outcome == "delivered":
            delivered += 1
        else:
            problems.append(f"history: {key} stored as {item.outcome}")
    problems.extend(f"history: {key} stored {stored[key]} times" for key in finding_keys if stored[key] != 1)
    problems.extend(f"history: {key} stored, not expected" for key in stored if key not in finding_keys)
    return delivered, problems
