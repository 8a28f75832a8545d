"""S3 ingestion in the Lambda, end to end in the world of tests/lambda_world.py (SQS, DynamoDB and
Secrets Manager in moto, S3 too, an SMTP server on 127.0.0.1): a log file notified directly, through
SNS and through SQS (raw, or in SNS's envelope) is read and alerted on once; the same object notified
twice, or an event seen through EventBridge first, sends nothing new (the claims per event id); the
s3:TestEvent is ignored; a poison object is reported failed and reaches the dead-letter queue.

Notification shapes: tests/data/s3/ (the S3 User Guide's event message structure, version 2.1, and
the SNS shapes of the Lambda Developer Guide)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from trailguard import main, s3_ingest
from trailguard.core.envelope import S3Notification, s3_notification
from trailguard.core.exceptions import DeliveryError
from trailguard.utils.aws_helpers import AwsClients

from .lambda_world import LAMBDA_DATA, SG_EVENT, LambdaContext, World

S3_DATA = Path(__file__).parent / "data" / "s3"
BUCKET = "fernhill-trail-logs"


def load(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((S3_DATA / name).read_text(encoding="utf-8"))
    return value


S3_EVENT = load("s3_object_created.json")
ENCODED_KEY: str = S3_EVENT["Records"][0]["s3"]["object"]["key"]
KEY = ENCODED_KEY.replace("+", " ")  # S3 writes the key URL-encoded, a space as "+"
QUIET = json.loads((LAMBDA_DATA / "eventbridge_sg_https_no_findings.json").read_text(encoding="utf-8"))["detail"]


def log_file(*records: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode())


def with_key(event: dict[str, Any], key: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["Records"][0]["s3"]["object"]["key"] = key
    return changed


@pytest.fixture
def s3(world: World, fake_aws: AwsClients) -> Any:
    client = fake_aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_object(Bucket=BUCKET, Key=KEY, Body=log_file(QUIET, SG_EVENT["detail"]))
    return client


def test_the_shapes_name_the_object_with_its_key_decoded() -> None:
    for found in (
        s3_notification(S3_EVENT),
        s3_notification(load("sns_event_s3.json")),
        s3_notification(load("sns_envelope_s3.json")),
    ):
        assert found is not None and found.objects == ((BUCKET, KEY),) and not found.problem
    test = s3_notification(load("s3_test_event.json"))
    assert test is not None and test.test and test.objects == ()
    removed = copy.deepcopy(S3_EVENT)
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert s3_notification(removed) == S3Notification(ignored=1), "a deletion names nothing to read"
    assert s3_notification(SG_EVENT) is None, "an EventBridge event is not an S3 notification"
    assert s3_notification({"Records": [SG_EVENT["detail"]]}) is None, "nor a log file"
    broken = copy.deepcopy(S3_EVENT)
    del broken["Records"][0]["s3"]["object"]["key"]
    assert "names no bucket and key" in (s3_notification(broken) or S3Notification()).problem


def test_through_sqs_once_then_nothing_new(world: World, s3: Any) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    [first] = world.poller.send(json.dumps(S3_EVENT))
    assert world.poller.poll() == ([first], [])
    [message] = server.messages
    assert SG_EVENT["detail"]["eventID"] in message.parsed().as_string()
    lines = [json.loads(line) for line in world.logs.getvalue().splitlines()]
    [done] = [line for line in lines if line["message"] == "log file"]
    assert done["object"] == f"s3://{BUCKET}/{KEY}" and done["outcome"] == "done" and done["events"] == 2
    assert {e["event_id"] for e in world.events()} == {QUIET["eventID"], SG_EVENT["detail"]["eventID"]}

    # S3 notifies at least once; and SNS -> SQS wraps the same notification in its envelope.
    world.poller.send(json.dumps(S3_EVENT), json.dumps(load("sns_envelope_s3.json")))
    assert world.poller.poll()[1] == []
    assert len(server.messages) == 1, "the same object twice: nothing new"
    assert [e["outcome"] for e in world.events()[-4:] if e["event_id"] == SG_EVENT["detail"]["eventID"]] == [
        "deduplicated",
        "deduplicated",
    ]
    assert world.poller.waiting() == 0


def test_with_both_paths_an_event_seen_through_eventbridge_is_not_sent_again(world: World, s3: Any) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    world.poller.send(json.dumps(SG_EVENT))  # EventBridge -> SQS first
    assert world.poller.poll()[1] == []
    world.poller.send(json.dumps(S3_EVENT))  # then the log file holding the same event
    assert world.poller.poll()[1] == []
    assert len(server.messages) == 1
    [stored] = world.records()
    assert stored.outcome == "delivered"
    # And the other way round: a file first, then the event through EventBridge.
    other = copy.deepcopy(SG_EVENT)
    other["detail"]["eventID"] = "0b9e4c2a-7d1f-4e3b-a5c6-d8e9f0a1b2c3"
    key = KEY.replace("T1045Z_Vb3Hk8Qz1Lm5Np7R", "T1050Z_Jc4Tn9Wq2Ks6Lp8M")
    s3.put_object(Bucket=BUCKET, Key=key, Body=log_file(other["detail"]))
    world.poller.send(json.dumps(with_key(S3_EVENT, key)))
    world.poller.send(json.dumps(other))
    assert world.poller.poll()[1] == [] and world.poller.poll()[1] == []
    assert len(server.messages) == 2


def test_the_test_event_is_ignored_with_a_log_line(world: World, s3: Any) -> None:
    world.start_smtp("smtp")
    world.new_container()
    [test_id] = world.poller.send(json.dumps(load("s3_test_event.json")))
    assert world.poller.poll() == ([test_id], [])
    assert main.lambda_handler(load("s3_test_event.json"), LambdaContext()) == {"outcome": "test_event"}
    lines = [json.loads(line) for line in world.logs.getvalue().splitlines()]
    assert [line["outcome"] for line in lines if "TestEvent" in line["message"]] == ["test_event", "test_event"]


def test_direct_and_through_sns(world: World, s3: Any) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    result = main.lambda_handler(load("sns_event_s3.json"), LambdaContext())
    assert result == {"objects": [{"object": f"s3://{BUCKET}/{KEY}", "outcome": "done", "events": 2, "findings": 1}]}
    assert len(server.messages) == 1
    assert main.lambda_handler(S3_EVENT, LambdaContext())["objects"][0]["outcome"] == "done"
    assert len(server.messages) == 1
    missing = with_key(S3_EVENT, KEY.replace("Vb3Hk8Qz1Lm5Np7R", "NotThere00000000"))
    with pytest.raises(DeliveryError, match=r"NoSuchKey|poison"):
        main.lambda_handler(missing, LambdaContext())  # Lambda retries, then the function's DLQ


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (None, "NoSuchKey"),
        (gzip.compress(b'{"Records": [{"eventSource": "ec2.amazonaws.com"', mtime=0)[:-8], "not a readable gzip file"),
        (json.dumps({"configurationItems": []}).encode(), "not a CloudTrail record"),
        (b"x" * 8192, "larger than"),
    ],
)
def test_a_poison_object_reaches_the_dead_letter_queue(
    world: World, s3: Any, body: bytes | None, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_ingest, "MAX_OBJECT_BYTES", 4096)
    world.start_smtp("smtp")
    world.new_container()
    key = KEY.replace("Vb3Hk8Qz1Lm5Np7R", "Poison0000000001")
    if body is not None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    good = world.poller.send(json.dumps(S3_EVENT))
    [poison] = world.poller.send(json.dumps(with_key(S3_EVENT, key.replace(" ", "+"))))
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted([*good, poison]) and failed == [poison]
    lines = [json.loads(line) for line in world.logs.getvalue().splitlines()]
    [bad] = [line for line in lines if line.get("object") == f"s3://{BUCKET}/{key}"]
    assert bad["outcome"] == "poison" and why in bad["message"] + json.dumps(bad.get("problems", []))
    for _ in range(2 - 1):  # the queue's maxReceiveCount is 2
        assert world.poller.poll() == ([poison], [poison])
    assert world.poller.poll() == ([], [])
    assert world.poller.waiting(world.dead_letter_url) == 1


def test_other_aws_files_are_skipped_not_failed(world: World, s3: Any) -> None:
    world.start_smtp("smtp")
    world.new_container()
    digest = (
        "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/03/"
        "111122223333_CloudTrail-Digest_eu-west-1_management-events_eu-west-1_20261103T104519Z.json.gz"
    )
    [message] = world.poller.send(json.dumps(with_key(S3_EVENT, digest)))
    assert world.poller.poll() == ([message], [])
    lines = [json.loads(line) for line in world.logs.getvalue().splitlines()]
    assert any(line.get("outcome") == "skipped" and "CloudTrail digest" in line["message"] for line in lines)
