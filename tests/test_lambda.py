"""The Lambda entry point: input shapes, SQS partial batch failures, errors, logs, and a light import.

Alerts go to a folder channel (real files, no network), so these tests need no AWS; the DynamoDB
and SMTP paths are in tests/test_lambda_e2e.py. Every test starts from a fresh container
(``main.reset()``) and an environment without any TRAILGUARD_* variable.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard import main
from trailguard.core.enums import Outcome
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ConfigError, DeliveryError
from trailguard.core.settings import Settings
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.utils import logger
from trailguard.utils.aws_helpers import AwsClients

from .conftest import DATA_DIR

LAMBDA_DATA = DATA_DIR / "lambda"
SG_EVENT_ID = "e2d6c1f0-5b7a-4c39-9e11-7d3f0a9b2c41"
SG_RULE = "sg.ingress-open-to-world"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((LAMBDA_DATA / name).read_text(encoding="utf-8"))
    return document


class FakeContext:
    """The two things the handler reads from Lambda's context object."""

    def __init__(self, request_id: str = "req-1", remaining_ms: int = 300_000) -> None:
        self.aws_request_id = request_id
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Logs:
    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]

    def events(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["message"] == "event"]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    buffer = io.StringIO()
    monkeypatch.setattr(logger, "stream", buffer)
    main.reset()
    yield Logs(buffer)
    main.reset()
    logger.bind()


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> Path:
    folder = tmp_path / "outbox"
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "files", "path": str(folder)}]))
    return folder


def alerts_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.eml")) if folder.exists() else []


# -- input shapes -------------------------------------------------------------------------------


def test_an_eventbridge_event_is_alerted_and_logged_as_one_line(outbox: Path, logs: Logs) -> None:
    result = main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext("req-42"))
    assert result == {
        "event_id": SG_EVENT_ID,
        "event_name": "AuthorizeSecurityGroupIngress",
        "outcome": "delivered",
        "findings": [{"rule_id": SG_RULE, "outcome": "delivered"}],
    }
    [alert] = alerts_in(outbox)
    assert SG_RULE in alert
    [line] = logs.events()
    assert line["event_id"] == SG_EVENT_ID and line["event_name"] == "AuthorizeSecurityGroupIngress"
    assert line["rule_ids"] == [SG_RULE] and line["outcome"] == "delivered"
    assert line["findings"][0]["severity"] == "CRITICAL" and line["findings"][0]["outcome"] == "delivered"
    assert line["request_id"] == "req-42" and line["level"] == "INFO"


def test_a_bare_cloudtrail_record_and_a_console_sign_in_are_accepted(outbox: Path, logs: Logs) -> None:
    bare = load("eventbridge_sg_world_open.json")["detail"]
    assert main.lambda_handler(bare, None)["outcome"] == "delivered"
    signin = load("eventbridge_root_console_signin.json")
    assert signin["detail-type"] == "AWS Console Sign In via CloudTrail"
    result = main.lambda_handler(signin, None)
    assert result["findings"] == [{"rule_id": "signin.root-console-login", "outcome": "delivered"}]
    assert len(alerts_in(outbox)) == 2


def test_an_event_without_findings_sends_nothing(outbox: Path, logs: Logs) -> None:
    result = main.lambda_handler(load("eventbridge_sg_https_no_findings.json"), None)
    assert result["outcome"] == "no_findings" and result["findings"] == []
    assert alerts_in(outbox) == []
    assert logs.events()[0]["outcome"] == "no_findings"


def test_a_suppressed_finding_is_logged_as_suppressed(
    outbox: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILGUARD_SUPPRESSIONS", json.dumps([{"principal": "*:user/mallory", "rules": ["sg.*"]}]))
    assert main.lambda_handler(load("eventbridge_sg_world_open.json"), None)["outcome"] == "suppressed"
    assert alerts_in(outbox) == []
    [line] = logs.events()
    assert line["suppressed"] == 1 and line["rule_ids"] == []


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "AWS API Call via CloudTrail", "detail": "not an object"},
        {"detail-type": "Scheduled Event", "detail": {}},
        {"hello": "world"},
        ["not", "an", "object"],
        {"Records": [{"eventSource": "aws:s3"}]},
    ],
)
def test_input_that_is_no_cloudtrail_event_is_logged_and_dropped(event: Any, outbox: Path, logs: Logs) -> None:
    assert main.lambda_handler(event, None) == {"outcome": "invalid"}
    [line] = [line for line in logs.lines() if line["message"] != "metrics"]  # the EMF line: tests/test_metrics.py
    assert line["level"] == "ERROR" and "not a CloudTrail record" in line["message"]
    assert alerts_in(outbox) == []


# -- SQS batches ----------------------------------------------------------------------------------


def test_an_sqs_batch_reports_only_its_malformed_messages(outbox: Path, logs: Logs) -> None:
    batch = load("sqs_batch_mixed.json")
    result = main.lambda_handler(batch, FakeContext())
    ids = [record["messageId"] for record in batch["Records"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}
    assert len(alerts_in(outbox)) == 2, "the security group and the root sign-in"
    malformed = [line for line in logs.lines() if line.get("outcome") == "malformed"]
    assert [line["message_id"] for line in malformed] == ids[1:3]
    assert "not JSON" in malformed[0]["message"] and "dead-letter queue" in malformed[0]["message"]
    assert malformed[0]["receive_count"] == 3
    assert {line["message_id"]: line["outcome"] for line in logs.events()} == {
        ids[0]: "delivered",
        ids[3]: "no_findings",
        ids[4]: "delivered",
    }


def test_an_sqs_message_whose_alert_failed_is_reported_and_the_others_are_not(
    tmp_path: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the channel wants a folder", encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "files", "path": str(blocker)}]))
    batch = load("sqs_batch_mixed.json")
    batch["Records"] = [batch["Records"][0], batch["Records"][3]]  # an alert, and an event without findings
    result = main.lambda_handler(batch, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    failed = logs.events()[0]
    assert failed["level"] == "ERROR" and failed["outcome"] == "failed"


def test_a_configuration_error_fails_the_messages_with_findings_only(
    logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The channels are validated when the first finding needs them, not at cold start.
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "carrier-pigeon"}]))
    batch = load("sqs_batch_mixed.json")
    batch["Records"] = [batch["Records"][3], batch["Records"][0]]
    result = main.lambda_handler(batch, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    [error] = [line for line in logs.lines() if line["message"] == "message failed"]
    assert "ConfigError" in error["error"] and "type: must be one of" in error["error"]
    with pytest.raises(ConfigError, match="type: must be one of"):
        main.lambda_handler(load("eventbridge_sg_world_open.json"), None)


def test_settings_load_once_per_container_and_channel_errors_name_where_they_were_set(
    logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "trailguard.toml"
    folder = tmp_path / "files"
    config.write_text(f'[[channels]]\ntype = "folder"\nname = "files"\npath = "{folder}"\n', encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_CONFIG", str(config))
    loads: list[str] = []
    load_settings = Settings.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Settings], *args: Any, **kwargs: Any) -> Settings:
        loads.append("load")
        settings: Settings = load_settings(cls, *args, **kwargs)
        return settings

    monkeypatch.setattr(Settings, "load", classmethod(counted))
    assert main.lambda_handler(load("eventbridge_sg_world_open.json"), None)["outcome"] == "delivered"
    assert len(alerts_in(folder)) == 1 and loads == ["load"]
    config.write_text('[[channels]]\ntype = "carrier-pigeon"\n', encoding="utf-8")
    main.reset()
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(config))}: channels: channels entry 1: type: must be one of"
    ):
        main.lambda_handler(load("eventbridge_sg_world_open.json"), None)


# -- direct invocation failures ----------------------------------------------------------------


def test_a_direct_invocation_raises_when_the_alert_reached_no_channel(
    tmp_path: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "files", "path": str(blocker)}]))
    with pytest.raises(DeliveryError, match=rf"event {SG_EVENT_ID}: 1 finding\(s\) not delivered"):
        main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext())
    [line] = logs.events()
    assert line["outcome"] == "failed" and line["findings"][0]["outcome"] == "failed"
    # The folder is there now, as a server comes back: Lambda's retry of the same event delivers it.
    blocker.unlink()
    assert main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext())["outcome"] == "delivered"
    assert len(list(blocker.glob("*.eml"))) == 1


def test_without_channels_findings_are_only_logged(logs: Logs) -> None:
    result = main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    assert result["findings"] == [{"rule_id": SG_RULE, "outcome": "unrouted"}]
    messages = [line["message"] for line in logs.lines()]
    assert any("no channels configured" in message for message in messages)


# -- the container ---------------------------------------------------------------------------


def test_the_container_is_built_once_and_says_once_that_there_is_no_table(outbox: Path, logs: Logs) -> None:
    main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    engine, notifier = main.get_engine(), main.container().delivery.notifier
    main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    assert main.get_engine() is engine and main.container().delivery.notifier is notifier
    warnings = [line for line in logs.lines() if "no table_name" in line["message"]]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING"
    assert "idempotency, findings history and quiet periods are off" in warnings[0]["message"]
    assert len(alerts_in(outbox)) == 2, "without a table a redelivered event is alerted again"
    main.reset()
    assert main.get_engine() is not engine


def test_with_a_table_there_is_no_such_warning(logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "trailguard-state")
    main.lambda_handler(load("eventbridge_sg_https_no_findings.json"), None)
    assert not any("no table_name" in line["message"] for line in logs.lines())


@pytest.mark.usefixtures("fake_aws")
def test_a_broken_table_does_not_stop_the_alert(outbox: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "table-that-does-not-exist")
    result = main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    assert result["outcome"] == "delivered", "an alert twice beats no alert"
    assert len(alerts_in(outbox)) == 1
    errors = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert errors and all("ResourceNotFoundException" in line["error"] for line in errors)
    assert {line["message"] for line in errors} >= {"state store: claim failed; going on without it"}


def test_remaining_time_comes_from_the_context() -> None:
    assert main._remaining_seconds(FakeContext(remaining_ms=12_500)) == 12.5
    assert main._remaining_seconds(None) == main.DEFAULT_REMAINING_SECONDS


# -- logs -------------------------------------------------------------------------------------


def test_log_lines_are_single_json_objects_with_credentials_hidden(logs: Logs) -> None:
    logger.bind(request_id="req-7")
    record = logger.info(
        "a\nmultiline message",
        channel={"name": "email", "password": "hunter2", "nested": [{"api_key": "k-123"}]},
        smtp_secret_id="trailguard/ses",
        note="ok",
    )
    text = logs.buffer.getvalue()
    assert text.count("\n") == 1 and "hunter2" not in text and "k-123" not in text
    assert record["channel"] == {"name": "email", "password": "<redacted>", "nested": [{"api_key": "<redacted>"}]}
    assert record["smtp_secret_id"] == "<redacted>" and record["note"] == "ok"
    [line] = logs.lines()
    assert line["request_id"] == "req-7" and line["message"] == "a\nmultiline message"
    assert line["timestamp"].endswith("Z") and len(line["timestamp"]) == len("2026-11-03T10:41:07.123Z")


def test_huge_event_text_gives_a_bounded_log_line_that_still_parses(logs: Logs) -> None:
    """CloudWatch Logs cuts an event at 256 KB, which would leave half a JSON object."""
    record = {"eventSource": "ec2.amazonaws.com", "eventName": "Describe" + "X" * 1_000_000, "eventID": "e" * 300_000}
    main.lambda_handler(record, FakeContext())
    lines = logs.buffer.getvalue().splitlines()
    assert all(len(line) < 16_384 for line in lines)
    [parsed] = [line for line in map(json.loads, lines) if line["message"] == "event"]
    assert parsed["event_name"].startswith("DescribeXXX") and parsed["event_name"].endswith("more characters]")
    assert parsed["outcome"] == "no_findings"


def test_fields_nested_thousands_deep_are_not_logged_and_do_not_crash_the_line(logs: Logs) -> None:
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    record = {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "eventID": "e-1",
        "recipientAccountId": deep,
        "awsRegion": {"nested": deep},
    }
    assert main.lambda_handler(record, FakeContext())["outcome"] == "no_findings"
    [event] = logs.events()
    assert event["account_id"] == "" and event["region"] == ""
    line = logger.info("any field", value=deep, other={"a": [deep]})
    assert json.dumps(line).count("<nested too deep>") == 2


# -- import weight ----------------------------------------------------------------------------


def test_importing_the_entry_point_and_an_event_without_findings_stay_light(tmp_path: Path) -> None:
    heavy = (
        "boto3",
        "botocore",
        "smtplib",
        "jinja2",
        "logging",
        "trailguard.services.notification_service",
        "trailguard.services.stores",
        "trailguard.services.channels",
        "trailguard.services.rendering",
        "trailguard.s3_ingest",
        "trailguard.sources_s3",
    )
    script = textwrap.dedent(
        f"""
        import io, json, sys
        heavy = {heavy!r}
        import trailguard.main as main
        from trailguard.utils import logger
        logger.stream = io.StringIO()
        after_import = [name for name in heavy if name in sys.modules]
        event = json.loads(open({str(LAMBDA_DATA / "eventbridge_sg_https_no_findings.json")!r}).read())
        main.lambda_handler(event, None)
        print(json.dumps([after_import, [name for name in heavy if name in sys.modules]]))
        """
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    env["TRAILGUARD_SMTP_SECRET_ID"] = "trailguard/ses-smtp"
    env["TRAILGUARD_SENDER"] = "alerts@example.com"
    env["TRAILGUARD_RECIPIENTS"] = "secops@example.com"
    # The detection state: with a table, the baseline rules record what they saw in it, through the
    # clients delivery uses (one boto3 session, botocore's secret-hiding log filter installed first).
    state = ["boto3", "botocore", "logging", "trailguard.services.stores", "trailguard.services.channels"]
    for table, needed in (("", []), ("trailguard-state", state)):
        env["TRAILGUARD_TABLE_NAME"] = table
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, env=env
        )
        after_import, after_event = json.loads(done.stdout.splitlines()[-1])
        assert after_import == []
        assert after_event == needed, "an email channel is configured, but nothing needed it"


def test_one_resource_reported_twice_by_a_rule_shares_one_claim(
    outbox: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch, fake_aws: AwsClients
) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "trailguard-state")
    engine = main.get_engine()
    evaluate = engine.evaluate

    def twice(record: Any) -> list[Finding]:
        # As a rule might: two hits on one resource (say, two ports) in one event.
        return [f._replace(details={**f.details, "Hit": str(n)}) for f in evaluate(record) for n in (1, 2)]

    monkeypatch.setattr(engine, "evaluate", twice)
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    first = main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    assert [f["outcome"] for f in first["findings"]] == ["delivered", "delivered"], "not in flight by itself"
    again = main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    assert [f["outcome"] for f in again["findings"]] == ["deduplicated", "deduplicated"]
    assert len(alerts_in(outbox)) == 2


def test_a_concurrent_duplicate_is_retried_later_not_dropped(
    outbox: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch, fake_aws: AwsClients
) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "trailguard-state")
    event = load("eventbridge_sg_world_open.json")
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    # Another invocation received the same event a moment ago and is sending it right now.
    other = DynamoDBStore("trailguard-state", fake_aws)
    [finding] = main.get_engine().evaluate(event["detail"])
    claim = other.claim(finding, hold_seconds=60)
    with pytest.raises(DeliveryError, match=r"in_flight: sg\.ingress-open-to-world"):
        main.lambda_handler(event, FakeContext())
    batch = load("sqs_batch_mixed.json")
    batch["Records"] = batch["Records"][:1]
    assert main.lambda_handler(batch, FakeContext()) == {
        "batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]
    }
    assert alerts_in(outbox) == []
    assert [line["outcome"] for line in logs.events()] == ["in_flight", "in_flight"]
    assert logs.events()[0]["level"] == "WARNING"
    # The other invocation delivered it: AWS's retry of this copy sends nothing.
    other.finish(finding, claim, Outcome.DELIVERED)
    assert main.lambda_handler(event, FakeContext())["outcome"] == "deduplicated"
    assert alerts_in(outbox) == []


def test_messages_not_started_before_the_deadline_are_reported_failed(outbox: Path, logs: Logs) -> None:
    batch = load("sqs_batch_mixed.json")
    ids = [record["messageId"] for record in batch["Records"]]
    result = main.lambda_handler(batch, FakeContext(remaining_ms=int(main.MIN_SECONDS_PER_MESSAGE * 1000) - 1))
    assert [item["itemIdentifier"] for item in result["batchItemFailures"]] == ids, "all handed back to SQS"
    assert logs.events() == [] and alerts_in(outbox) == [], "nothing started"
    [deadline] = [line for line in logs.lines() if line.get("outcome") == "deadline"]
    assert deadline["message_ids"] == ids
