"""The burst rules over days of real-shaped records (tests/data/bursts, written by make_bursts.py):
`trailguard scan` with and without --state, across two runs, with --jobs 2, and the Lambda with
its DynamoDB table over several invocations. A burst alerts once per window and principal."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from trailguard.cli import main
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent
from trailguard.core.settings import Settings
from trailguard.core.state import MemoryState
from trailguard.handlers.burst_handler import principal_key
from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import render_email
from trailguard.services.rendering.slack import render_slack

from .lambda_world import World

BURSTS = Path(__file__).parent / "data" / "bursts"
NORMAL_DAY = BURSTS / "111122223333_CloudTrail_eu-west-1_20261103T0800Z_normal-day.jsonl"
LEAK_1 = BURSTS / "111122223333_CloudTrail_eu-west-1_20261103T1400Z_leaked-key-1.jsonl"
LEAK_2 = BURSTS / "111122223333_CloudTrail_eu-west-1_20261103T1405Z_leaked-key-2.jsonl"
ENUMERATION = BURSTS / "111122223333_CloudTrail_eu-west-1_20261104T0900Z_enumeration.jsonl"
LEAKED = "arn:aws:iam::111122223333:user/ci-deployer"
INTRUDER = "arn:aws:iam::111122223333:user/old-intern"

# Every burst in the scenarios, once: (rule, severity, principal, event time).
EXPECTED = [
    ("burst.secrets-read", "HIGH", LEAKED, "2026-11-03T14:04:15Z"),
    ("burst.access-denied", "MEDIUM", LEAKED, "2026-11-04T09:04:10Z"),
    ("burst.s3-deletion", "HIGH", LEAKED, "2026-11-04T16:03:18Z"),
    ("burst.s3-deletion", "HIGH", INTRUDER, "2026-11-04T17:00:40Z"),
    # The account's invokers were learnt for 16 days: a new one is reported at its first call, and
    # its burst once; both HIGH, as model access was enabled two minutes before.
    ("burst.bedrock-invocations", "HIGH", INTRUDER, "2026-11-20T20:11:00Z"),
    ("burst.bedrock-invocations", "HIGH", INTRUDER, "2026-11-20T20:14:18Z"),
]


def scan(*arguments: str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", *arguments, "--format", "jsonl"], stdout=out, stderr=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def bursts(findings: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (f["rule_id"], f["severity"], f["details"]["Principal"], f["event_time"])
        for f in findings
        if f["rule_id"].startswith("burst.")
    )


def test_scan_finds_each_burst_once_and_nothing_on_a_normal_day() -> None:
    code, findings, err = scan(str(BURSTS))
    assert code == 1 and "rule errors" not in err
    assert bursts(findings) == sorted(EXPECTED)
    secrets = next(f for f in findings if f["rule_id"] == "burst.secrets-read")
    assert secrets["summary"] == "ci-deployer read 10 distinct secrets within 10 minutes"
    assert secrets["details"]["Window"] == "10 minutes" and secrets["details"]["Count"] == "10"
    # A few names: the first of the window, and the one that made the tenth.
    shown = secrets["details"]["Secrets"].split(", ")
    assert len(shown) == 6 and shown[4] == "..." and shown[0].endswith(":secret:prod/orders/db-Xy00Ab")
    assert shown[-1].endswith(":secret:prod/billing/db-Xy09Ab")
    denied = next(f for f in findings if f["rule_id"] == "burst.access-denied")
    assert denied["summary"] == "ci-deployer was denied 20 calls (6 distinct) within 10 minutes"

    # The normal day's one denied PutBucketPolicy is tamper.denied-attempt's, no burst.
    _, findings, _ = scan(str(NORMAL_DAY))
    assert [f["rule_id"] for f in findings] == ["tamper.denied-attempt"]


def test_scan_with_state_and_with_two_jobs_finds_the_same(tmp_path: Path) -> None:
    _, alone, _ = scan(str(BURSTS))
    _, with_state, _ = scan(str(BURSTS), "--state", str(tmp_path / "state.db"))
    _, two_jobs, _ = scan(str(BURSTS), "--jobs", "2")
    _, one_job, _ = scan(str(BURSTS), "--jobs", "1")
    assert bursts(with_state) == bursts(alone) == sorted(EXPECTED)
    assert two_jobs == one_job


def test_the_window_continues_across_two_scans_with_state(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    # The morning's scan: the normal day and the first six secrets; no burst yet.
    code, findings, _ = scan(str(NORMAL_DAY), str(LEAK_1), "--state", state)
    assert bursts(findings) == []
    # The next scan, of the next file alone, continues the window: the burst, once.
    code, findings, _ = scan(str(LEAK_2), "--state", state)
    assert code == 1 and bursts(findings) == [EXPECTED[0]]
    # Without the state the second file alone is six secrets: no burst.
    _, findings, _ = scan(str(LEAK_2))
    assert bursts(findings) == []
    # Scanned again with the state, the same window has alerted already.
    _, findings, _ = scan(str(LEAK_2), "--state", state)
    assert bursts(findings) == []


def test_the_bursts_follow_their_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text('[thresholds."burst.secrets-read"]\ndistinct = 13\n', encoding="utf-8")
    _, findings, _ = scan(str(NORMAL_DAY), str(LEAK_1), str(LEAK_2), "--config", str(config))
    assert [f for f in findings if f["rule_id"] == "burst.secrets-read"] == []
    config.write_text('[thresholds."burst.secrets-read"]\ndistinct = 3\nwindow_seconds = 120\n', encoding="utf-8")
    _, findings, _ = scan(str(NORMAL_DAY), str(LEAK_1), str(LEAK_2), "--config", str(config))
    reads = [f for f in findings if f["rule_id"] == "burst.secrets-read"]
    # The application's three secrets each hour are three within two minutes now: 11 hourly alerts;
    # the leaked key's 12 reads, 15 s apart, fill two-minute windows: one alert per window.
    assert {f["details"]["Window"] for f in reads} == {"2 minutes"}
    app = [f for f in reads if f["details"]["Principal"].endswith(":role/orders-api")]
    leaked = [f["event_time"] for f in reads if f["details"]["Principal"] == LEAKED]
    assert len(app) == 11
    assert leaked == ["2026-11-03T14:02:30Z", "2026-11-03T14:04:30Z"]


def test_out_of_order_records_alert_once() -> None:
    """Records a little out of order (as within a CloudTrail file): still one alert per window,
    though the read that made the tenth secret comes before one a few seconds older."""
    records = [json.loads(line) for line in (LEAK_1.read_text() + LEAK_2.read_text()).splitlines()]
    swapped = [record for pair in zip(records[1::2], records[::2], strict=True) for record in pair]
    engine = Engine(Settings(), state=MemoryState())
    findings = engine.evaluate_all(swapped)
    assert [(f.rule_id, f.severity) for f in findings] == [("burst.secrets-read", Severity.HIGH)]


def test_a_stack_rolling_back_on_denied_calls_is_no_enumeration() -> None:
    """The enumeration scenario's denials, made by CloudFormation for a stack's service role
    (invokedBy, session AWSCloudFormation): a stack lacking permissions, not someone probing."""
    records = [json.loads(line) for line in ENUMERATION.read_text().splitlines()]
    role = "cdk-hnb659fds-cfn-exec-role-111122223333-eu-west-1"
    identity = {
        "type": "AssumedRole",
        "principalId": "AROAQXAMPLECFNEXEC01:AWSCloudFormation",
        "arn": f"arn:aws:sts::111122223333:assumed-role/{role}/AWSCloudFormation",
        "accountId": "111122223333",
        "accessKeyId": "ASIAQXAMPLECFNEXEC01",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAQXAMPLECFNEXEC01",
                "arn": f"arn:aws:iam::111122223333:role/{role}",
                "accountId": "111122223333",
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-04T08:59:00Z", "mfaAuthenticated": "false"},
        },
        "invokedBy": "cloudformation.amazonaws.com",
    }
    by_stack = [
        {**record, "userIdentity": identity, "sourceIPAddress": "cloudformation.amazonaws.com"} for record in records
    ]
    # The same records by the key itself make the burst: the stack's are not counted.
    found = Engine(Settings(), state=MemoryState()).evaluate_all(records)
    assert "burst.access-denied" in {f.rule_id for f in found}
    found = Engine(Settings(), state=MemoryState()).evaluate_all(by_stack)
    assert "burst.access-denied" not in {f.rule_id for f in found}


def test_a_record_without_principal_or_time_is_not_counted() -> None:
    record = json.loads(LEAK_1.read_text().splitlines()[0])
    assert principal_key(CloudTrailEvent(record)) == LEAKED
    anonymous = {k: v for k, v in record.items() if k != "userIdentity"}
    assert principal_key(CloudTrailEvent(anonymous)) == ""
    settings = Settings(thresholds=(("burst.secrets-read", (("distinct", 1),)),))
    for unusable in (anonymous, {**record, "eventTime": "yesterday"}):
        assert Engine(settings).evaluate(unusable) == []
    assert [f.rule_id for f in Engine(settings).evaluate(record)] == ["burst.secrets-read"]


def eventbridge(record: dict[str, Any]) -> str:
    """A CloudTrail record as EventBridge hands it to the queue."""
    return json.dumps(
        {
            "version": "0",
            "id": record["eventID"],
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws." + record["eventSource"].split(".")[0],
            "account": record["recipientAccountId"],
            "time": record["eventTime"],
            "region": record["awsRegion"],
            "resources": [],
            "detail": record,
        }
    )


@pytest.mark.parametrize("containers", [1, 3], ids=["one-container", "a-container-per-invocation"])
def test_the_lambda_counts_across_invocations_in_its_table(world: World, containers: int) -> None:
    """The leak and the enumeration, ten messages per invocation, through one container or a new one
    every few invocations (the count lives in the table, not the container): one alert each."""
    world.start_smtp("smtp")
    world.new_container()
    records = [json.loads(line) for path in (LEAK_1, LEAK_2, ENUMERATION) for line in path.read_text().splitlines()]
    invocations = handed_over = 0
    for start in range(0, len(records), 10):
        world.poller.send(*(eventbridge(record) for record in records[start : start + 10]))
        while world.poller.waiting():
            if containers > 1 and invocations and invocations % containers == 0:
                world.new_container()
            handed, failed = world.poller.poll()
            assert failed == []
            handed_over += len(handed)
            invocations += 1
    assert handed_over == len(records) == 46 and invocations >= 5
    stored = world.history.query_history("2026-11-03T00:00:00Z", "2026-11-04T23:59:59Z")
    found = sorted((r.rule_id, r.event_time) for r in stored if r.rule_id.startswith("burst."))
    assert found == [("burst.access-denied", "2026-11-04T09:04:10Z"), ("burst.secrets-read", "2026-11-03T14:04:15Z")]


def test_the_scenarios_are_what_the_script_writes(tmp_path: Path) -> None:
    copy = tmp_path / "bursts"
    shutil.copytree(BURSTS, copy, ignore=shutil.ignore_patterns("*.jsonl", "__pycache__"))
    import runpy

    runpy.run_path(str(copy / "make_bursts.py"), run_name="__main__")
    for written in sorted(copy.glob("*.jsonl")):
        assert written.read_text() == (BURSTS / written.name).read_text(), written.name
    assert len(list(copy.glob("*.jsonl"))) == len(list(BURSTS.glob("*.jsonl"))) == 6


def test_hostile_secret_names_in_a_burst_alert_are_escaped() -> None:
    """The names a burst lists come from the records (attacker-chosen): the alert escapes them."""
    hostile = ["<img src=x onerror=alert(1)>", "<!channel> *bold* `code`", "a&b\"c'd"]
    record = json.loads(LEAK_1.read_text().splitlines()[0])
    engine = Engine(Settings())
    findings = []
    for index in range(10):
        name = hostile[index % len(hostile)] + f"-{index}"
        findings += engine.evaluate(
            {**record, "eventID": f"{record['eventID'][:-2]}{index:02d}", "requestParameters": {"secretId": name}}
        )
    [finding] = findings
    assert hostile[0] + "-0" in finding.details["Secrets"]
    email = render_email(Alert((finding,)))
    assert "<img" not in email.html and "&lt;img src=x onerror=alert(1)&gt;-0" in email.html
    slack = json.dumps(render_slack(Alert((finding,))))
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
