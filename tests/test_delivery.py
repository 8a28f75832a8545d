"""The delivery pipeline on its own, and `scan --notify` through it with a DynamoDB table (moto)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from trailguard.cli import EXIT_FINDINGS, main
from trailguard.core.engine import Engine
from trailguard.core.enums import OUTCOME_ORDER, Outcome
from trailguard.core.event_types import Finding
from trailguard.services.channels import ChannelContext, build_channels
from trailguard.services.delivery import Delivery
from trailguard.services.notification_service import NotificationService
from trailguard.services.stores import FailOpenStore, NullStore, StoreError
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.utils.aws_helpers import AwsClients

from .conftest import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TABLE = "trailguard-state"


def sg_findings() -> list[Finding]:
    record = json.loads((DATA_DIR / "lambda" / "eventbridge_sg_world_open.json").read_text())["detail"]
    return Engine().evaluate(record)


def folder_notifier(path: Path) -> NotificationService:
    return NotificationService(build_channels([{"type": "folder", "name": "box", "path": str(path)}], ChannelContext()))


def test_outcomes_say_what_is_retried_and_what_is_done() -> None:
    assert {o for o in Outcome if o.retry} == {Outcome.FAILED, Outcome.IN_FLIGHT}
    assert {o for o in Outcome if o.done} == {Outcome.DELIVERED, Outcome.QUIET, Outcome.UNROUTED, Outcome.ROUTINE}
    assert set(OUTCOME_ORDER) == set(Outcome) and OUTCOME_ORDER[0] is Outcome.FAILED


def test_without_a_table_everything_is_delivered_every_time(tmp_path: Path) -> None:
    delivery = Delivery(lambda: folder_notifier(tmp_path), NullStore())
    for _ in range(2):
        batch = delivery.deliver(sg_findings(), 60)
        assert [r.outcome for r in batch.results] == [Outcome.DELIVERED]
    assert len(list(tmp_path.glob("*.eml"))) == 2, "a null store remembers nothing: redelivery alerts again"


def test_without_a_channel_findings_are_unrouted(tmp_path: Path) -> None:
    batch = Delivery(lambda: None).deliver(sg_findings(), 60)
    assert batch.report is None and batch.worst is Outcome.UNROUTED


def test_a_table_that_fails_is_reported_and_the_alert_still_goes_out(fake_aws: AwsClients, tmp_path: Path) -> None:
    problems: list[tuple[str, str]] = []
    missing = DynamoDBStore("no-such-table", fake_aws)  # real DynamoDB errors (moto): the table does not exist
    store = FailOpenStore(missing, lambda what, finding, error: problems.append((what, str(error))))
    delivery = Delivery(lambda: folder_notifier(tmp_path), store, quiet_periods=[("sg.*", 3600)])
    batch = delivery.deliver(sg_findings(), 60)
    assert [r.outcome for r in batch.results] == [Outcome.DELIVERED]
    assert len(list(tmp_path.glob("*.eml"))) == 1
    # An untracked claim has nothing to finish; an unopened window nothing to settle.
    assert [what for what, _ in problems] == ["claim", "quiet period", "history"]
    assert all("ResourceNotFoundException" in error for _, error in problems)
    with pytest.raises(StoreError):
        missing.claim(sg_findings()[0], 60)


def test_a_notifier_that_raises_gives_the_claim_back(fake_aws: AwsClients, tmp_path: Path) -> None:
    create_table(fake_aws.client("dynamodb"), TABLE)
    store = DynamoDBStore(TABLE, fake_aws)

    def broken() -> NotificationService:
        raise RuntimeError("channel settings could not be read")

    with pytest.raises(RuntimeError):
        Delivery(broken, store).deliver(sg_findings(), 60)
    batch = Delivery(lambda: folder_notifier(tmp_path), store).deliver(sg_findings(), 60)
    assert [r.outcome for r in batch.results] == [Outcome.DELIVERED], "not in flight: the claim was released"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_scan_notify_with_a_table_sends_nothing_twice_and_keeps_a_history(
    fake_aws: AwsClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_table(fake_aws.client("dynamodb"), TABLE)
    box = tmp_path / "box"
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "box", "path": str(box)}]))
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", TABLE)
    args = ("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--notify", "--format", "json")
    code, out, err = run(*args)
    assert code == EXIT_FINDINGS, err
    findings: list[dict[str, Any]] = json.loads(out)
    first = sorted(box.glob("*.eml"))
    assert len(first) == 6 and "20 findings delivered in 6 messages" in err
    # The next morning's scan of the same logs: everything was delivered before.
    code, _, err = run(*args)
    assert code == EXIT_FINDINGS, "findings are still reported; only the alerts are not sent again"
    assert sorted(box.glob("*.eml")) == first
    assert f"not sent: {len(findings)} deduplicated" in err
    history = DynamoDBStore(TABLE, fake_aws).query_history("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")
    assert sorted(r.event_id for r in history) == sorted(f["event_id"] for f in findings)
    assert {r.outcome for r in history} == {"delivered"} and {r.attempts for r in history} == {1}


def test_a_routine_finding_goes_to_the_history_and_to_nobody(fake_aws: AwsClients, tmp_path: Path) -> None:
    create_table(fake_aws.client("dynamodb"), TABLE)
    store = DynamoDBStore(TABLE, fake_aws)
    alert = sg_findings()[0]
    routine = alert._replace(event_id="f0e1d2c3-b4a5-4968-8776-655443322110", routine=True)
    batch = Delivery(lambda: folder_notifier(tmp_path), store).deliver([routine, alert], 60)
    assert [r.outcome for r in batch.results] == [Outcome.ROUTINE, Outcome.DELIVERED]
    assert len(list(tmp_path.glob("*.eml"))) == 1, "only the alert is sent"
    history = store.query_history(alert.event_time[:10] + "T00:00:00Z", alert.event_time[:10] + "T23:59:59Z")
    assert {r.event_id: r.outcome for r in history} == {routine.event_id: "routine", alert.event_id: "delivered"}
    # Nothing was claimed for it: the same routine change again is recorded again, never sent.
    again = Delivery(lambda: folder_notifier(tmp_path), store).deliver([routine], 60)
    assert [r.outcome for r in again.results] == [Outcome.ROUTINE] and again.report is None


@pytest.mark.usefixtures("fake_aws")
def test_scan_outbox_alone_never_uses_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "no-such-table")  # would fail loudly if it were used
    for run_number in (1, 2):
        outbox = tmp_path / f"outbox{run_number}"
        code, _, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--outbox", str(outbox))
        assert code == EXIT_FINDINGS and "state store" not in err
        assert len(list(outbox.glob("*.eml"))) == 6
