"""End to end, with real parts: SQS, DynamoDB and Secrets Manager in moto, an aiosmtpd server with
STARTTLS and AUTH on 127.0.0.1, and ``lambda_handler`` configured only through the environment.

``Poller`` plays the SQS event source mapping with ``ReportBatchItemFailures``: it receives up to
ten messages from the (moto) queue, hands them to the handler as Lambda would, deletes the ones the
handler did not report, and makes the reported ones visible again; the queue's redrive policy moves
a message to the dead-letter queue after ``maxReceiveCount`` receives, as SQS does.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from moto import mock_aws

from trailguard import main
from trailguard.services.retry import RetryPolicy
from trailguard.services.state_store import HistoryRecord, StateStore, create_table, iso
from trailguard.utils import logger

from .conftest import DATA_DIR
from .smtp_server import ReceivedMessage, SmtpServer

LAMBDA_DATA = DATA_DIR / "lambda"
SETUP: dict[str, Any] = json.loads((LAMBDA_DATA / "e2e_setup.json").read_text(encoding="utf-8"))
REGION: str = SETUP["region"]
USERNAME: str = SETUP["credentials"]["username"]
PASSWORD: str = SETUP["credentials"]["password"]
SG_EVENT: dict[str, Any] = json.loads((LAMBDA_DATA / "eventbridge_sg_world_open.json").read_text(encoding="utf-8"))
RULE = "sg.ingress-open-to-world"
TINY_RETRY = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)


def sg_event(number: int) -> dict[str, Any]:
    """The world-open security group event again, as another CloudTrail event (its own id, a second later)."""
    event: dict[str, Any] = json.loads(json.dumps(SG_EVENT))
    event["id"] = f"{event['id'][:-4]}{number:04d}"
    event["detail"]["eventID"] = f"{event['detail']['eventID'][:-4]}{number:04d}"
    event["detail"]["eventTime"] = f"2026-11-03T10:41:{number % 60:02d}Z"
    return event


class LambdaContext:
    aws_request_id = "e2e-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class Poller:
    """The SQS event source mapping, against moto's queue."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn

    def send(self, *bodies: str) -> list[str]:
        return [self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"] for body in bodies]

    def poll(self) -> tuple[list[str], list[str]]:
        """One invocation: (the message ids handed over, the ids the handler reported failed)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            return [], []
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message["Attributes"],
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for message in messages
            ]
        }
        result = main.lambda_handler(event, LambdaContext())
        failed = [failure["itemIdentifier"] for failure in result["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [message["MessageId"] for message in messages], failed

    def waiting(self, queue_url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


class World(NamedTuple):
    poller: Poller
    dead_letter_url: str
    history: StateStore  # a second view of the table, for the test's own queries
    logs: io.StringIO
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch

    def start_smtp(self, name: str) -> SmtpServer:
        server = SmtpServer(self.tmp_path / name, username=USERNAME, password=PASSWORD).start()
        channel = {
            "type": "smtp",
            "name": "email",
            "sender": SETUP["sender"],
            "recipients": SETUP["recipients"],
            "secret_id": SETUP["secret_id"],
            "region": REGION,
            **server.channel_options(),
        }
        self.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([channel]))
        return server

    def new_container(self) -> main._Container:
        """What a fresh Lambda container builds from the environment, with retries made instant."""
        main.reset()
        state = main.container()
        notifier = state.notifier
        assert notifier is not None
        notifier.retry = TINY_RETRY
        notifier.sleep = lambda _seconds: None
        return state

    def events(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.logs.getvalue().splitlines()]
        return [line for line in lines if line["message"] == "event"]

    def records(self) -> list[HistoryRecord]:
        return self.history.query_history("2026-11-03T00:00:00Z", "2026-11-03T23:59:59Z", rule_id=RULE)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "TRAILGUARD_TABLE_NAME": SETUP["table_name"],
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "TRAILGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    logs = io.StringIO()
    monkeypatch.setattr(logger, "stream", logs)
    with mock_aws():
        from trailguard.utils.aws_helpers import AwsClients

        aws = AwsClients(region=REGION)
        aws.client("secretsmanager").create_secret(
            Name=SETUP["secret_id"], SecretString=json.dumps(SETUP["credentials"])
        )
        create_table(aws.client("dynamodb"), SETUP["table_name"])
        sqs = aws.client("sqs")
        dead_letter_url = sqs.create_queue(QueueName=SETUP["dead_letter_queue_name"])["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": SETUP["max_receive_count"]}
        queue_url = sqs.create_queue(QueueName=SETUP["queue_name"], Attributes={"RedrivePolicy": json.dumps(redrive)})[
            "QueueUrl"
        ]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        history = StateStore(SETUP["table_name"], aws)
        yield World(Poller(sqs, queue_url, queue_arn), dead_letter_url, history, logs, tmp_path, monkeypatch)
    main.reset()
    logger.bind()


def body_text(message: ReceivedMessage) -> str:
    parsed: EmailMessage = message.parsed()
    part = parsed.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_an_alert_goes_out_once_survives_an_smtp_outage_and_is_delivered_exactly_once_after(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = world.start_smtp("smtp-1")
    world.new_container()
    event_body = json.dumps(SG_EVENT)

    # 1. EventBridge -> SQS -> Lambda -> SES SMTP: the email arrives, over STARTTLS, after AUTH.
    [first_id] = world.poller.send(event_body)
    assert world.poller.poll() == ([first_id], [])
    [message] = server.messages
    assert message.over_tls and message.login == USERNAME
    assert sorted(message.rcpt_tos) == sorted(SETUP["recipients"])
    parsed = message.parsed()
    assert parsed["Subject"] == (
        "[CRITICAL] Security group sg-0c0ffee0ddba11000 opened to 0.0.0.0/0 on tcp 22 | 111122223333 eu-west-1"
    )
    text = body_text(message)
    for expected in ("mallory", "arn:aws:iam::111122223333:user/mallory", "Ports: tcp 22", "CIDR: 0.0.0.0/0"):
        assert expected in text
    assert SG_EVENT["detail"]["eventID"] in text
    assert world.poller.waiting() == 0

    # 2. The same event again (EventBridge delivers at least once): nothing is sent.
    world.poller.send(event_body)
    assert world.poller.poll()[1] == []
    assert len(server.messages) == 1
    assert world.events()[-1]["outcome"] == "deduplicated"
    [stored] = world.records()
    assert stored.outcome == "delivered" and stored.channels == {"email": "delivered"} and stored.attempts == 1

    # 3. The SMTP server is down: the message is reported failed and stays queued; the history says so.
    server.stop()
    outage_event = sg_event(7)
    [outage_id] = world.poller.send(json.dumps(outage_event))
    assert world.poller.poll() == ([outage_id], [outage_id])
    assert world.events()[-1]["outcome"] == "failed"
    failed = next(r for r in world.records() if r.event_id == outage_event["detail"]["eventID"])
    assert failed.outcome == "failed" and failed.attempts == 1
    assert failed.channels["email"].startswith(f"failed: SMTP {server.host}:{server.port} could not be reached")
    assert len(failed.failures) == 1
    assert world.poller.waiting() == 1

    # 4. The server is back (a retry may run in a new container): delivered exactly once.
    back = world.start_smtp("smtp-2")
    world.new_container()
    assert world.poller.poll() == ([outage_id], [])
    [redelivered] = back.messages
    assert outage_event["detail"]["eventID"] in body_text(redelivered)
    assert world.poller.poll() == ([], []) and world.poller.waiting() == 0
    world.poller.send(json.dumps(outage_event))  # and once more, late: still nothing new
    world.poller.poll()
    assert len(back.messages) == 1
    delivered = next(r for r in world.records() if r.event_id == outage_event["detail"]["eventID"])
    assert delivered.outcome == "delivered" and delivered.attempts == 2
    assert delivered.failures == failed.failures, "the outage stays in the history"
    back.stop()

    # Nothing secret was logged, by trailguard or by the libraries under it.
    everything = world.logs.getvalue() + caplog.text
    assert PASSWORD not in everything and USERNAME not in world.logs.getvalue()


def test_a_batch_of_ten_with_one_poison_message(world: World) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    bodies = [json.dumps(sg_event(number)) for number in range(9)]
    poison = '{"version": "0", "detail-type": "AWS API Call via CloudTrail", "detail": {"eventSou'
    bodies.insert(4, poison)
    ids = world.poller.send(*bodies)
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted(ids), "one batch of ten"
    assert failed == [ids[4]]
    assert len(server.messages) == 9
    delivered = {r.event_id for r in world.records() if r.outcome == "delivered"}
    assert delivered == {sg_event(number)["detail"]["eventID"] for number in range(9)}
    # The poison message comes back alone, fails again, and then SQS moves it to the dead-letter queue.
    for _ in range(SETUP["max_receive_count"] - 1):
        assert world.poller.poll() == ([ids[4]], [ids[4]])
    assert world.poller.poll() == ([], [])
    assert world.poller.waiting() == 0 and world.poller.waiting(world.dead_letter_url) == 1
    [dead] = world.poller.sqs.receive_message(QueueUrl=world.dead_letter_url)["Messages"]
    assert dead["Body"] == poison
    assert len(server.messages) == 9, "the others were never sent again"
    server.stop()


def test_repeats_within_a_quiet_period_are_folded_into_the_next_alert(world: World) -> None:
    world.monkeypatch.setenv("TRAILGUARD_QUIET_PERIODS", json.dumps({"sg.*": 3600}))
    server = world.start_smtp("smtp")
    state = world.new_container()
    store = state.store
    assert store is not None
    now = [1_793_700_000.0]
    store.clock = lambda: now[0]
    opened = iso(now[0])

    # Direct EventBridge invocations this time: three in the window, one email.
    for number in (1, 2, 3):
        result = main.lambda_handler(sg_event(number), LambdaContext())
        assert result["outcome"] == ("delivered" if number == 1 else "quiet")
        now[0] += 60
    assert len(server.messages) == 1
    quiet = [r for r in world.records() if r.outcome == "quiet"]
    assert sorted(r.folded for r in quiet) == [1, 2], "counted as they came"

    # A redelivery of a folded event is a duplicate, not one more repeat.
    assert main.lambda_handler(sg_event(3), LambdaContext())["outcome"] == "deduplicated"

    now[0] += 3600
    assert main.lambda_handler(sg_event(4), LambdaContext())["outcome"] == "delivered"
    assert len(server.messages) == 2
    text = body_text(server.messages[1])
    assert f"Folded repeats: 2 since {opened}" in text
    assert world.events()[-1]["findings"][0]["folded"] == f"2 since {opened}"
    [fourth] = [r for r in world.records() if r.event_id == sg_event(4)["detail"]["eventID"]]
    assert fourth.folded == 2 and fourth.outcome == "delivered"

    # The window restarted with that alert: the count starts again from nothing.
    now[0] += 60
    assert main.lambda_handler(sg_event(5), LambdaContext())["outcome"] == "quiet"
    assert next(r for r in world.records() if r.event_id == sg_event(5)["detail"]["eventID"]).folded == 1
    server.stop()
