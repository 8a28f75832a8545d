"""Replay with S3 Batch Operations (LambdaInvoke, invocation schemas 1.0 and 2.0; shapes in
tests/data/s3/ after the S3 User Guide's "Invoke AWS Lambda function"): each task's log file read
from S3 (moto) and evaluated, the result shape Batch Operations reads, and the replay's own rules:
findings to the history only unless the job says a replay channel (or live)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from trailguard import main, s3_ingest
from trailguard.sources_s3 import ObjectError
from trailguard.utils.aws_helpers import AwsClients

from .lambda_world import SG_EVENT, LambdaContext, World, smtp_channel
from .test_lambda_s3 import BUCKET, KEY, QUIET, load, log_file

V1 = load("batch_operations_1_0.json")
V2 = load("batch_operations_2_0.json")


@pytest.fixture
def s3(world: World, fake_aws: AwsClients) -> Any:
    client = fake_aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_object(Bucket=BUCKET, Key=KEY, Body=log_file(QUIET, SG_EVENT["detail"]))
    return client


def with_tasks(event: dict[str, Any], *keys: str, arguments: dict[str, str] | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    [task] = changed["tasks"]
    changed["tasks"] = [
        {**task, "taskId": f"{task['taskId'][:-4]}{n:03d}K", "s3Key": key} for n, key in enumerate(keys)
    ]
    if arguments is not None:
        changed["job"]["userArguments"] = arguments
    return changed


def test_schema_2_replays_to_the_history_only(world: World, s3: Any) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    missing = V2["tasks"][0]["s3Key"].replace("Vb3Hk8Qz1Lm5Np7R", "NotThere00000000")
    event = with_tasks(V2, V2["tasks"][0]["s3Key"], missing)
    result = main.lambda_handler(event, LambdaContext())
    assert set(result) == {"invocationSchemaVersion", "treatMissingKeysAs", "invocationId", "results"}
    assert (result["invocationSchemaVersion"], result["invocationId"]) == ("2.0", V2["invocationId"])
    assert result["treatMissingKeysAs"] == "PermanentFailure"
    assert [(r["taskId"], r["resultCode"]) for r in result["results"]] == [
        (event["tasks"][0]["taskId"], "Succeeded"),
        (event["tasks"][1]["taskId"], "PermanentFailure"),
    ]
    assert result["results"][0]["resultString"] == "2 events, 1 findings (history)"
    assert "NoSuchKey" in result["results"][1]["resultString"]
    assert server.messages == [], "a replay pages nobody"
    [stored] = world.records()
    assert stored.event_id == SG_EVENT["detail"]["eventID"] and stored.outcome == "unrouted"


def test_schema_1_with_a_replay_channel(world: World, s3: Any) -> None:
    live = world.start_smtp("smtp-live")
    replay = world.start_smtp("smtp-replay")
    channels = [smtp_channel(live), {**smtp_channel(replay), "name": "replay"}]
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
    world.monkeypatch.setenv("TRAILGUARD_REPLAY", "channel:replay")
    world.new_container()
    result = main.lambda_handler(V1, LambdaContext())
    assert result["invocationSchemaVersion"] == "1.0" and result["invocationId"] == V1["invocationId"]
    assert [r["resultCode"] for r in result["results"]] == ["Succeeded"]
    assert live.messages == [] and len(replay.messages) == 1
    # The same file again (Batch Operations retried, or a second job): nothing new.
    assert main.lambda_handler(V1, LambdaContext())["results"][0]["resultCode"] == "Succeeded"
    assert len(replay.messages) == 1


def test_a_live_replay_and_then_the_live_event_send_once(world: World, s3: Any) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    result = main.lambda_handler(with_tasks(V2, V2["tasks"][0]["s3Key"], arguments={"replay": "live"}), LambdaContext())
    assert result["results"][0]["resultCode"] == "Succeeded" and len(server.messages) == 1
    assert main.lambda_handler(SG_EVENT, LambdaContext())["outcome"] == "deduplicated"


def test_throttled_is_temporary_and_a_bad_setting_is_permanent(
    world: World, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.start_smtp("smtp")
    world.new_container()

    def throttled(_client: Any, bucket: str, key: str, _max: int) -> bytes:
        raise ObjectError(
            f"s3://{bucket}/{key}", "cannot read: SlowDown (Please reduce your request rate.)", transient=True
        )

    with monkeypatch.context() as patch:
        patch.setattr(s3_ingest, "read_object", throttled)
        [result] = main.lambda_handler(V2, LambdaContext())["results"]
    assert result["resultCode"] == "TemporaryFailure" and "SlowDown" in result["resultString"]
    for arguments in ({"replay": "pager"}, {"replay": "channel:nowhere"}):
        [result] = main.lambda_handler(with_tasks(V2, KEY, arguments=arguments), LambdaContext())["results"]
        assert result["resultCode"] == "PermanentFailure", arguments
    broken = copy.deepcopy(V1)
    del broken["tasks"][0]["s3BucketArn"]
    [result] = main.lambda_handler(broken, LambdaContext())["results"]
    assert result == {
        "taskId": V1["tasks"][0]["taskId"],
        "resultCode": "PermanentFailure",
        "resultString": ("task names no bucket (s3Bucket or s3BucketArn) and key (s3Key)"),
    }


@pytest.mark.parametrize("mode", ["history", "channel:replay"])
def test_a_replay_never_remediates(world: World, s3: Any, mode: str) -> None:
    """Last month's changes are reported, not undone: a replay's delivery has no remediation, even
    with the rule set to apply (a live replay is the live pipeline, remediation included)."""
    channel = {**smtp_channel(world.start_smtp("smtp")), "name": "replay"}
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([channel]))
    world.monkeypatch.setenv("TRAILGUARD_REMEDIATION", json.dumps({"sg.*": "apply"}))
    world.new_container()
    assert main.container().delivery.remediator is not None, "the live pipeline remediates"
    delivery = s3_ingest.replay_delivery(mode)
    assert delivery is not None and delivery.remediator is None
