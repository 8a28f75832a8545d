"""Faults, end to end through ``lambda_handler`` (issue 5, point 2; docs/reliability.md section 2).

Each test runs in the world of ``tests/lambda_world.py`` (SQS, DynamoDB and Secrets Manager in moto,
an aiosmtpd server with STARTTLS and AUTH), drives the SQS event source mapping until the queue is
empty, and asserts what reached the recipients: every finding at least once, none twice while the
table works, and nothing lost silently (an undelivered finding is "failed" in the history and in
the logs, and its SQS message is reported failed, so that it comes back).

What is injected: SMTP connections cut at random points of the session (``Script.drop_rate``), an
SMTP server answering 421/451 for a while (``Script.busy_seconds``), Secrets Manager throttling and
DynamoDB failing (botocore hooks on the Lambda's own clients; at the HTTP layer where botocore's
retries should run as in AWS), and the Lambda's deadline and death (a context on a test clock, and
an exception that nothing in the handler survives). Retries never sleep: the notification
service's sleep is a no-op (``World.new_container``) and botocore's backoff sleeps are recorded
instead of slept. docs/reliability.md section 2 has the figures.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError

from trailguard import main
from trailguard.services.alerts import Alert
from trailguard.services.stores import HistoryRecord
from trailguard.services.stores.dynamodb import CLAIM_MARGIN_SECONDS

from .clock import Clock
from .lambda_world import (
    PASSWORD,
    SETUP,
    USERNAME,
    LambdaContext,
    Poller,
    World,
    body_text,
    sg_event,
    table_store,
)
from .smtp_server import ACCEPTED, BUSY_POINTS, DROP_POINTS, Script, SmtpServer

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"
_MAX_RECEIVE = re.search(r"maxReceiveCount: (\d+)", TEMPLATE.read_text(encoding="utf-8"))
assert _MAX_RECEIVE is not None
MAX_RECEIVE_COUNT = int(_MAX_RECEIVE.group(1))  # the deployed queue's, not the world's 2
SEED = 5
MAX_POLLS = 40


# ----------------------------------------------------------------------------------------------
# The pieces a fault needs that the world does not have
# ----------------------------------------------------------------------------------------------


class DeadlineContext(LambdaContext):
    """A Lambda context whose remaining time runs down on a test clock, as the real one does on the wall's."""

    def __init__(self, clock: Clock, budget_seconds: float) -> None:
        self.clock = clock
        self.deadline = clock() + budget_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.deadline - self.clock()) * 1000)


class Killed(BaseException):
    """The Lambda runtime stopped the invocation (its timeout): none of its code runs after this.

    A BaseException, so that no ``except Exception`` of the handler turns it into a reported failure.
    """


class _RecordingSqs:
    """The poller's SQS client, remembering the last batch received (to emulate its visibility timeout)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.received: list[dict[str, Any]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.sqs.receive_message(**kwargs)
        self.received = list(response.get("Messages", []))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


Round = tuple[list[str], list[str]]  # one invocation: the message ids handed over, those reported failed


class FaultPoller(Poller):
    """The world's poller, with a Lambda context of the test's and an invocation that may be killed."""

    def __init__(self, world: World, context: Callable[[], LambdaContext] = LambdaContext) -> None:
        self._recording = _RecordingSqs(world.poller.sqs)
        super().__init__(self._recording, world.poller.queue_url, world.poller.queue_arn)
        self.context = context
        self.rounds: list[Round] = []

    def poll(self) -> Round:
        context = self.context()
        handler = main.lambda_handler
        with pytest.MonkeyPatch.context() as patch:
            # Poller.poll gives every invocation 60 s; this invocation gets the test's context.
            patch.setattr(main, "lambda_handler", lambda event, _context: handler(event, context))
            try:
                handed, failed = super().poll()
            except Killed:
                # The event source mapping got no answer: the whole batch comes back once its
                # visibility timeout is over (here at once; the test moves its clocks itself).
                for message in self._recording.received:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                raise
        if handed:
            self.rounds.append((handed, failed))
        return handed, failed

    def drain(self, after_each: Callable[[Round], None] | None = None) -> list[Round]:
        """Poll until the queue is empty (bounded); ``after_each`` checks every invocation's outcome."""
        first = len(self.rounds)
        for _ in range(MAX_POLLS):
            handed, failed = self.poll()
            if not handed:
                return self.rounds[first:]
            if after_each is not None:
                after_each((handed, failed))
        raise AssertionError(f"the queue still holds messages after {MAX_POLLS} polls")

    def failed_ids(self) -> list[str]:
        return [message_id for _handed, failed in self.rounds for message_id in failed]


def deployed_redrive(world: World) -> None:
    """The queue's maxReceiveCount as infra/template.yaml deploys it (the world's is 2, for speed)."""
    sqs = world.poller.sqs
    arn = sqs.get_queue_attributes(QueueUrl=world.dead_letter_url, AttributeNames=["QueueArn"])["Attributes"]
    policy = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": MAX_RECEIVE_COUNT}
    sqs.set_queue_attributes(QueueUrl=world.poller.queue_url, Attributes={"RedrivePolicy": json.dumps(policy)})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.body


class AwsErrors:
    """A botocore ``before-send`` hook: answers requests with an AWS JSON error while ``failing``
    says so. At the HTTP layer, so that botocore's own retries run (and are counted) as in AWS.

    botocore asks every ``before-send`` handler, so moto still serves the request behind the error
    it is given: only for calls that change nothing (reads).
    """

    def __init__(self, status: int, code: str, message: str, failing: Callable[[int], bool]) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.failing = failing  # given how many requests came before this one
        self.requests = 0
        self.answered = 0

    def __call__(self, request: Any, **_kwargs: Any) -> AWSResponse | None:
        number, self.requests = self.requests, self.requests + 1
        if not self.failing(number):
            return None  # on to moto
        self.answered += 1
        body = json.dumps({"__type": self.code, "message": self.message}).encode()
        headers = {"x-amzn-RequestId": f"fault-{number}", "Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, self.status, headers, _Raw(body))


class DynamoOutage:
    """The Lambda's DynamoDB calls fail while ``down``: ``unreachable`` (no connection, at the HTTP
    layer, so that botocore retries each request as it would), or ``unavailable`` (503
    ServiceUnavailable as botocore raises it once its retries are spent). The hooks raise, so no
    request reaches moto's table."""

    def __init__(self, client: Any, kind: str) -> None:
        self.kind = kind
        self.down = True
        self.failed = 0  # requests failed (unreachable) or calls failed (unavailable)
        if kind == "unreachable":
            client.meta.events.register_first("before-send.dynamodb", self._unreachable)
        else:
            assert kind == "unavailable", kind
            client.meta.events.register_first("before-call.dynamodb", self._unavailable)

    def _unreachable(self, request: Any, **_kwargs: Any) -> None:
        if self.down:
            self.failed += 1
            raise EndpointConnectionError(endpoint_url=request.url)

    def _unavailable(self, model: Any, **_kwargs: Any) -> None:
        if self.down:
            self.failed += 1
            error = {"Code": "ServiceUnavailable", "Message": "Service unavailable"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}, model.name)


class _SdkTime:
    """botocore.endpoint's ``time``: its retry backoff is recorded, not slept."""

    def __init__(self, clock: Clock) -> None:
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def sdk_backoff(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> list[float]:
    """The delays botocore's retries asked for: one per SDK retry."""
    monkeypatch.setattr(botocore.endpoint, "time", _SdkTime(clock))
    return clock.slept


# ----------------------------------------------------------------------------------------------
# What reached whom
# ----------------------------------------------------------------------------------------------


def event_id(number: int) -> str:
    return str(sg_event(number)["detail"]["eventID"])


def send_events(poller: Poller, numbers: range) -> dict[str, str]:
    """Queue sg_event(n) for each n: {message id: event id}."""
    ids = poller.send(*(json.dumps(sg_event(number)) for number in numbers))
    return dict(zip(ids, (event_id(number) for number in numbers), strict=True))


def emails_per_event(server: SmtpServer, event_ids: set[str]) -> collections.Counter[str]:
    """How many emails the recipients got about each event, read from what the server accepted."""
    counts: collections.Counter[str] = collections.Counter()
    for message in server.messages:
        assert sorted(message.rcpt_tos) == sorted(SETUP["recipients"])
        text = body_text(message)
        [about] = [identifier for identifier in event_ids if identifier in text]
        counts[about] += 1
    return counts


def log_lines(world: World) -> list[dict[str, Any]]:
    return [json.loads(line) for line in world.logs.getvalue().splitlines()]


def history(world: World) -> dict[str, HistoryRecord]:
    """The history by event id (one finding per event here)."""
    records = world.records()
    by_event = {record.event_id: record for record in records}
    assert len(by_event) == len(records), "one history item per finding"
    return by_event


def nothing_lost(world: World, messages: Mapping[str, str]) -> Callable[[Round], None]:
    """The check after each invocation: every message reported failed has its finding "failed" in
    the history and an error log line naming it; every other one handed over was delivered (or
    found delivered)."""

    def check(round_: Round) -> None:
        handed, failed = round_
        stored = history(world)
        lines = {
            line["message_id"]: line
            for line in log_lines(world)
            if line["message"] == "event" and line.get("message_id") in handed
        }
        for message_id in handed:
            record, line = stored[messages[message_id]], lines[message_id]
            if message_id in failed:
                assert record.outcome == "failed" and record.channels["email"].startswith("failed: ")
                assert line["level"] == "ERROR" and line["outcome"] == "failed"
            else:
                assert record.outcome == "delivered" and record.channels == {"email": "delivered"}
                assert line["outcome"] in ("delivered", "deduplicated")

    return check


def notify_logs(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """The notification service's lines: (attempts retried, alerts given up)."""
    records = [record for record in caplog.records if record.name == "trailguard.notify"]
    retried = [r.getMessage() for r in records if r.levelno == logging.WARNING and "retrying" in r.getMessage()]
    gave_up = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    return retried, gave_up


# ----------------------------------------------------------------------------------------------
# a. Connections cut at random points of the SMTP session
# ----------------------------------------------------------------------------------------------

DROP_EVENTS = 40
DROP_RATE = 0.3


def test_connections_cut_at_random_points_every_alert_arrives_exactly_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trailguard.notify")
    deployed_redrive(world)
    # One message per session, so that sessions are cut as often as messages are sent (the client
    # would otherwise carry every alert on the first session that survives).
    server = world.start_smtp("smtp", Script(drop_rate=DROP_RATE, seed=SEED, messages_per_session=1))
    world.new_container()  # two attempts per alert (TINY_RETRY), no sleeping
    poller = FaultPoller(world)
    messages = send_events(poller, range(DROP_EVENTS))

    rounds = poller.drain(nothing_lost(world, messages))

    # Every event reached the recipients exactly once.
    events = set(messages.values())
    assert emails_per_event(server, events) == dict.fromkeys(events, 1)
    # Every kind of cut happened, about as often as asked; each session either delivered one
    # message or was cut, and a session cut (at DATA too) left nothing behind.
    drops = server.drops_by_point()
    assert set(drops) == set(DROP_POINTS), drops
    cuts = sum(drops.values())
    assert 0.2 < cuts / len(server.sessions) < 0.4
    assert len(server.sessions) == cuts + len(server.messages)
    assert all(not session.messages for session in server.sessions if session.dropped)
    assert drops["data"] >= 1, "a message cut during DATA was not kept by the server"
    # Every cut failed one attempt, and the log says so: retried, or given up after the last attempt.
    retried, gave_up = notify_logs(caplog)
    assert len(retried) + len(gave_up) == cuts
    failure = re.compile(
        r"SMTP 127\.0\.0\.1:\d+( closed the connection unexpectedly|: TLS failed| could not be reached)"
    )
    assert all(failure.search(line) for line in retried + gave_up), retried + gave_up
    # The messages whose alert was cut on both attempts were reported failed, one per alert given
    # up, and came back; at the end the history holds each failure and the delivery.
    failed = poller.failed_ids()
    assert failed, "with this seed some alerts are cut twice in a row"
    assert len(failed) == len(gave_up)
    for index, (_handed, failed_here) in enumerate(rounds):
        for message_id in failed_here:
            assert any(message_id in handed for handed, _f in rounds[index + 1 :]), "it came back"
    stored = history(world)
    assert set(stored) == events
    for message_id, identifier in messages.items():
        record = stored[identifier]
        assert record.outcome == "delivered" and record.channels == {"email": "delivered"}
        assert len(record.failures) == failed.count(message_id)
        assert record.attempts == 1 + failed.count(message_id)
    # None was given up on: nothing waits in the queue, nothing went to the dead-letter queue.
    assert poller.waiting() == 0 and poller.waiting(world.dead_letter_url) == 0


# ----------------------------------------------------------------------------------------------
# b. A server answering 421/451 for a while
# ----------------------------------------------------------------------------------------------

BUSY_EVENTS = 20
BUSY_SECONDS = 120.0
BUSY_POLLS = 2


def test_a_server_busy_for_a_while_fails_the_first_polls_then_each_alert_arrives_once(
    world: World, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trailguard.notify")
    deployed_redrive(world)
    server = world.start_smtp("smtp", Script(busy_seconds=BUSY_SECONDS), clock=clock)
    world.new_container()
    poller = FaultPoller(world)
    messages = send_events(poller, range(BUSY_EVENTS))
    check = nothing_lost(world, messages)

    # Busy: every message handed over fails, is reported failed, and is "failed" in the history
    # with the server's answer, and in the logs at error.
    for _ in range(BUSY_POLLS):
        handed, failed = poller.poll()
        assert len(handed) == 10 and sorted(failed) == sorted(handed)
        check((handed, failed))
    assert not server.messages
    busy = server.busy_replies()
    assert set(busy) == set(BUSY_POINTS) and sum(busy.values()) == len(server.sessions) == BUSY_POLLS * 10 * 2
    answers = re.compile(r"answered (421 to the connection|421 to EHLO|451 to DATA): 4\.")
    found = [answers.search(failure) for record in world.records() for failure in record.failures]
    assert len(found) == BUSY_POLLS * 10
    assert {match.group(1) if match else None for match in found} == {
        "421 to the connection",
        "421 to EHLO",
        "451 to DATA",
    }
    _retried, gave_up = notify_logs(caplog)
    assert len(gave_up) == BUSY_POLLS * 10

    # The busy period ends (by the server's clock): everything arrives, once.
    clock.advance(BUSY_SECONDS)
    poller.drain(check)
    events = set(messages.values())
    assert emails_per_event(server, events) == dict.fromkeys(events, 1)
    stored = history(world)
    assert {record.outcome for record in stored.values()} == {"delivered"}
    failed = poller.failed_ids()
    for message_id, identifier in messages.items():
        assert len(stored[identifier].failures) == failed.count(message_id), "the busy answers stay in the history"
    assert poller.waiting() == 0 and poller.waiting(world.dead_letter_url) == 0


# ----------------------------------------------------------------------------------------------
# c. Secrets Manager throttling
# ----------------------------------------------------------------------------------------------

THROTTLES = 7
SDK_ATTEMPTS = 3  # AwsClients: retries max_attempts 2, i.e. one request and two retries per API call


def test_secrets_manager_throttling_delays_the_alert_which_still_arrives_once(
    world: World, sdk_backoff: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = world.start_smtp("smtp")
    state = world.new_container()
    throttle = AwsErrors(400, "ThrottlingException", "Rate exceeded", lambda number: number < THROTTLES)
    client = state.delivery.context.aws.client("secretsmanager")  # the one the channel's secret cache uses
    client.meta.events.register_first("before-send.secrets-manager.GetSecretValue", throttle)
    poller = FaultPoller(world)
    messages = send_events(poller, range(10))

    # The first message: two attempts of the channel, each one GetSecretValue call that botocore
    # tried three times, all throttled: reported failed. The second: one throttle, then the secret
    # (cached from then on).
    handed, failed = poller.poll()
    assert len(handed) == 10 and len(failed) == 1
    [throttled] = failed
    assert handed.index(throttled) == 0
    record = history(world)[messages[throttled]]
    assert record.outcome == "failed"
    assert record.failures[-1].endswith(
        f"email: cannot read secret {SETUP['secret_id']} from Secrets Manager: ThrottlingException"
    )
    [line] = [x for x in log_lines(world) if x["message"] == "event" and x.get("message_id") == throttled]
    assert line["level"] == "ERROR" and line["outcome"] == "failed"

    # It comes back, and goes out; every event once.
    poller.drain(nothing_lost(world, messages))
    events = set(messages.values())
    assert emails_per_event(server, events) == dict.fromkeys(events, 1)
    assert history(world)[messages[throttled]].outcome == "delivered"
    assert throttle.answered == THROTTLES
    assert throttle.requests == THROTTLES + 1, "the secret was read once, then cached"
    assert state.delivery.context.secrets.fetches == 3  # GetSecretValue calls: 2 failed after botocore's retries
    assert len(sdk_backoff) == THROTTLES - 2, "botocore retried every throttle but the last of each call"
    retried, gave_up = notify_logs(caplog)
    assert len(retried) == 1 and "ThrottlingException" in retried[0] and len(gave_up) == 1
    assert poller.waiting() == 0

    # Nothing secret was logged, by trailguard or by botocore (whose DEBUG lines print responses).
    everything = world.logs.getvalue() + caplog.text
    assert "GetSecretValue" in caplog.text, "botocore's DEBUG lines were captured"
    assert PASSWORD not in everything and USERNAME not in world.logs.getvalue()


# ----------------------------------------------------------------------------------------------
# d. DynamoDB unavailable
# ----------------------------------------------------------------------------------------------

OUTAGE_EVENTS = 5


@pytest.mark.parametrize(
    ("kind", "error"), [("unreachable", "EndpointConnectionError"), ("unavailable", "ServiceUnavailable")]
)
def test_with_dynamodb_down_alerts_still_go_out_and_a_redelivery_is_a_duplicate(
    world: World, sdk_backoff: list[float], kind: str, error: str
) -> None:
    server = world.start_smtp("smtp")
    state = world.new_container()
    outage = DynamoOutage(state.delivery.context.aws.client("dynamodb"), kind)
    poller = FaultPoller(world)
    messages = send_events(poller, range(OUTAGE_EVENTS))
    events = set(messages.values())

    # Every alert goes out; no message is failed for want of the table.
    rounds = poller.drain()
    assert not poller.failed_ids() and len(rounds) == 1
    assert emails_per_event(server, events) == dict.fromkeys(events, 1)
    # The log says, at error and per finding, that it went on without the table; nothing was stored.
    store_lines = [line for line in log_lines(world) if line["message"].startswith("state store:")]
    assert all(line["level"] == "ERROR" and f"failed: {error}" in line["error"] for line in store_lines), store_lines[0]
    assert collections.Counter((line["message"], line["event_id"]) for line in store_lines) == {
        (f"state store: {what} failed; going on without it", identifier): 1
        for identifier in events
        for what in ("claim", "history")
    }
    # The detection state's calls fail too (the stateful rules share the clients): each stateful rule
    # fails alone, as a rule error, and the event's other findings still go out.
    if kind == "unreachable":  # botocore tried each of those calls three times
        assert outage.failed > SDK_ATTEMPTS * len(store_lines)
        assert len(sdk_backoff) >= (SDK_ATTEMPTS - 1) * len(store_lines)
    else:
        assert outage.failed > len(store_lines)
    assert world.records() == []

    # The documented risk: without the table, a redelivered event is alerted again.
    first = event_id(0)
    poller.send(json.dumps(sg_event(0)))
    poller.drain()
    assert emails_per_event(server, events)[first] == 2

    # The table is back. It never heard of what went out while it was down: one more redelivery
    # of that event is sent once more, and from then on it is deduplicated; a new event goes out once.
    outage.down = False
    poller.send(json.dumps(sg_event(0)), json.dumps(sg_event(0)))
    poller.send(json.dumps(sg_event(OUTAGE_EVENTS)), json.dumps(sg_event(OUTAGE_EVENTS)))
    poller.drain()
    counts = emails_per_event(server, {*events, event_id(OUTAGE_EVENTS)})
    assert counts[first] == 3 and counts[event_id(OUTAGE_EVENTS)] == 1
    assert {line["outcome"] for line in world.events()[-4:]} == {"delivered", "deduplicated"}
    stored = history(world)
    assert set(stored) == {first, event_id(OUTAGE_EVENTS)}
    assert {record.outcome for record in stored.values()} == {"delivered"}
    assert poller.waiting() == 0


# ----------------------------------------------------------------------------------------------
# e. The Lambda's deadline, and its death
# ----------------------------------------------------------------------------------------------

SECONDS_PER_MESSAGE = 20.0
BUDGET_SECONDS = main.MIN_SECONDS_PER_MESSAGE + 4 * SECONDS_PER_MESSAGE + 10  # room to start 5 messages


def test_the_deadline_stops_a_batch_half_way_and_the_rest_comes_back(world: World, clock: Clock) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    poller = FaultPoller(world, context=lambda: DeadlineContext(clock, BUDGET_SECONDS))
    process_record = main.process_record

    def slow(*args: Any, **kwargs: Any) -> main.EventResult:
        try:
            return process_record(*args, **kwargs)
        finally:
            clock.advance(SECONDS_PER_MESSAGE)  # what each message costs of the invocation's time

    world.monkeypatch.setattr(main, "process_record", slow)
    messages = send_events(poller, range(10))

    handed, failed = poller.poll()
    assert len(handed) == 10 and failed == handed[5:], "5 started, the other 5 reported failed"
    [deadline] = [line for line in log_lines(world) if line.get("outcome") == "deadline"]
    assert deadline["level"] == "WARNING" and deadline["message_ids"] == handed[5:]
    assert sorted(record.event_id for record in world.records()) == sorted(messages[m] for m in handed[:5])
    assert len(server.messages) == 5

    # The next invocation has its own deadline: the rest goes out, each event once.
    assert sorted(poller.poll()[0]) == sorted(handed[5:])
    assert poller.poll() == ([], [])
    events = set(messages.values())
    assert emails_per_event(server, events) == dict.fromkeys(events, 1)
    assert {record.outcome for record in world.records()} == {"delivered"} and len(world.records()) == 10


@pytest.mark.parametrize("sent_before_the_kill", [False, True], ids=["killed-before-sending", "killed-after-sending"])
def test_an_invocation_killed_mid_message_is_retried_once_its_claim_expires(
    world: World, clock: Clock, sent_before_the_kill: bool
) -> None:
    deployed_redrive(world)  # received three times: the world's maxReceiveCount of 2 would dead-letter it
    server = world.start_smtp("smtp")
    state = world.new_container()
    table_store(state).table.clock = clock
    # The runtime stops in the channel (after the server took the email, or before it was sent);
    # from then on nothing of this invocation reaches AWS: it cannot release its claim.
    [channel] = state.delivery.notifier.channels if state.delivery.notifier is not None else []
    send, killed = channel.send, [False]

    def send_then_die(alert: Alert) -> str:
        if sent_before_the_kill:
            send(alert)
        killed[0] = True
        raise Killed

    def frozen(**_kwargs: Any) -> None:
        if killed[0]:
            raise Killed

    world.monkeypatch.setattr(channel, "send", send_then_die)
    state.delivery.context.aws.client("dynamodb").meta.events.register("before-call.dynamodb", frozen)
    poller = FaultPoller(world)  # 60 s left when the message starts
    [message_id] = poller.send(json.dumps(sg_event(1)))

    with pytest.raises(Killed):
        poller.poll()
    sent = 1 if sent_before_the_kill else 0
    assert len(server.messages) == sent
    assert world.records() == [] and world.events() == [], "the dead invocation recorded and logged nothing"

    # Lambda restarts the runtime after a timeout: the redelivery runs in a new container. While
    # the dead invocation's claim lasts (its remaining time, 60 s, plus the margin), it waits.
    state = world.new_container()
    table_store(state).table.clock = clock
    claim_seconds = 60 + CLAIM_MARGIN_SECONDS
    clock.advance(claim_seconds - 1)
    assert poller.poll() == ([message_id], [message_id])
    assert world.events()[-1]["outcome"] == "in_flight" and world.events()[-1]["level"] == "WARNING"
    assert len(server.messages) == sent

    # Then the claim has expired: the retry is not blocked. It sends the alert, a second time if
    # the email had gone out before the kill (nothing could tell the two apart).
    clock.advance(2)
    assert poller.poll() == ([message_id], [])
    assert emails_per_event(server, {event_id(1)}) == {event_id(1): sent + 1}
    [record] = world.records()
    assert record.outcome == "delivered" and record.attempts == 1
    poller.send(json.dumps(sg_event(1)))
    assert poller.poll()[1] == [] and world.events()[-1]["outcome"] == "deduplicated"
    assert len(server.messages) == sent + 1


def test_a_connection_cut_after_the_server_accepted_the_message_makes_a_duplicate(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trailguard.notify")
    server = world.start_smtp("smtp", Script(drop_at=(ACCEPTED,)))
    world.new_container()
    poller = FaultPoller(world)
    poller.send(json.dumps(sg_event(1)))

    # The server queued the message, but its 250 never arrived: to the client that is a lost
    # connection like any other (RFC 1047), so it sends again. The recipients get it twice.
    rounds = poller.drain()
    assert len(rounds) == 1 and rounds[0][1] == []
    assert server.drops == [(1, ACCEPTED)]
    assert emails_per_event(server, {event_id(1)}) == {event_id(1): 2}
    # Both copies carry the same Message-ID and alert id: a mail system or a mail rule can drop one.
    first, second = (message.parsed() for message in server.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["X-Trailguard-Alert-ID"] == second["X-Trailguard-Alert-ID"]
    retried, _gave_up = notify_logs(caplog)
    assert len(retried) == 1 and "closed the connection unexpectedly" in retried[0]
    [record] = world.records()
    assert record.outcome == "delivered" and record.attempts == 1
