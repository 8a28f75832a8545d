"""The Lambda's world for end-to-end tests: SQS, DynamoDB and Secrets Manager in moto, an aiosmtpd
server with STARTTLS and AUTH on 127.0.0.1, and ``lambda_handler`` configured only through the
environment. The ``world`` fixture (registered in conftest) builds it in the ``fake_aws`` fixture's
moto; the servers a test starts in it are the ``servers`` fixture's, stopped after the test.

``Poller`` plays the SQS event source mapping with ``ReportBatchItemFailures``: it receives up to
ten messages from the (moto) queue, hands them to the handler as Lambda would, deletes the ones the
handler did not report, and makes the reported ones visible again; the queue's redrive policy moves
a message to the dead-letter queue after ``maxReceiveCount`` receives, as SQS does.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from trailguard import main
from trailguard.services.retry import RetryPolicy
from trailguard.services.stores import FailOpenStore, HistoryRecord
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.utils import logger
from trailguard.utils.aws_helpers import AwsClients

from .servers import Servers
from .smtp_server import ReceivedMessage, Script, SmtpServer

LAMBDA_DATA = Path(__file__).parent / "data" / "lambda"
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


def eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event that carries CloudTrail's ``record`` to the Lambda."""
    return {
        "version": "0",
        "id": f"eb-{record['eventID']}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{str(record['eventSource']).split('.', 1)[0]}",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def alert_texts(folder: Path) -> list[str]:
    """The plain-text bodies of the alerts the folder channel wrote, oldest name first."""
    texts = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))
        assert body is not None
        texts.append(str(body.get_content()))
    return texts


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


def smtp_channel(server: SmtpServer) -> dict[str, Any]:
    """The SMTP channel's settings for ``server``, with the sender, recipients and secret of SETUP."""
    return {
        "type": "smtp",
        "name": "email",
        "sender": SETUP["sender"],
        "recipients": SETUP["recipients"],
        "secret_id": SETUP["secret_id"],
        "region": REGION,
        **server.channel_options(),
    }


class World(NamedTuple):
    poller: Poller
    dead_letter_url: str
    history: DynamoDBStore  # a second view of the table, for the test's own queries
    logs: io.StringIO
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    servers: Servers  # every server the test starts, stopped after it

    def start_smtp(
        self, name: str, script: Script | None = None, clock: Callable[[], float] = time.monotonic
    ) -> SmtpServer:
        """Start an SMTP server (misbehaving as ``script`` says) and make it the only channel."""
        server = self.servers.start(
            SmtpServer(self.tmp_path / name, username=USERNAME, password=PASSWORD, script=script, clock=clock)
        )
        self.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([smtp_channel(server)]))
        return server

    def new_container(self) -> main._Container:
        """What a fresh Lambda container builds from the environment, with retries made instant."""
        main.reset()
        state = main.container()
        notifier = state.delivery.notifier
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
def world(fake_aws: AwsClients, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", SETUP["table_name"])
    logs = io.StringIO()
    monkeypatch.setattr(logger, "stream", logs)
    fake_aws.client("secretsmanager").create_secret(
        Name=SETUP["secret_id"], SecretString=json.dumps(SETUP["credentials"])
    )
    create_table(fake_aws.client("dynamodb"), SETUP["table_name"])
    sqs = fake_aws.client("sqs")
    dead_letter_url = sqs.create_queue(QueueName=SETUP["dead_letter_queue_name"])["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": SETUP["max_receive_count"]}
    queue_url = sqs.create_queue(QueueName=SETUP["queue_name"], Attributes={"RedrivePolicy": json.dumps(redrive)})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    history = DynamoDBStore(SETUP["table_name"], fake_aws)
    poller = Poller(sqs, queue_url, queue_arn)
    yield World(poller, dead_letter_url, history, logs, tmp_path, monkeypatch, servers)
    main.reset()
    logger.bind()


def table_store(state: main._Container) -> DynamoDBStore:
    """The DynamoDB store behind the container's delivery (there is a table in this world)."""
    store = state.delivery.store
    assert isinstance(store, FailOpenStore) and isinstance(store.inner, DynamoDBStore)
    return store.inner


def body_text(message: ReceivedMessage) -> str:
    parsed: EmailMessage = message.parsed()
    part = parsed.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content
