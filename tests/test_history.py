"""The findings history: `scan --state FILE` records every finding it reports, `trailguard history`
reads it back (and the stack's table, paginated), with the same finding objects `scan --format json`
prints; older state files are upgraded, bad input is one line and exit 2."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_CLEAN, EXIT_FINDINGS, main
from trailguard.core.enums import Outcome
from trailguard.core.event_types import Finding
from trailguard.examples import example_findings
from trailguard.services.history import HistoryError, HistoryQuery, TableSource, parse_when
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.services.stores.sqlite import SqliteHistory, SqliteState, StateFileError
from trailguard.utils.aws_helpers import AwsClients

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CONFIG = SAMPLES / "trailguard.toml"
TABLE = "trailguard-history-test"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """The demo day scanned with --state: the file, and what `scan --format json` printed."""
    path = tmp_path_factory.mktemp("history") / "state.db"
    code, out, _err = run("scan", str(SAMPLES), "--config", str(CONFIG), "--state", str(path), "--format", "json")
    assert code == EXIT_FINDINGS
    return path, json.loads(out)


def without_history(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in o.items() if k != "history"} for o in objects]


def test_history_json_is_the_scans_json_with_outcomes(demo_state: tuple[Path, list[dict[str, Any]]]) -> None:
    path, printed = demo_state
    code, out, err = run("history", "--state", str(path), "--format", "json")
    assert code == EXIT_CLEAN
    stored = json.loads(out)
    key = lambda o: (o["event_time"], o["event_id"], o["rule_id"], o["resource_arn"])  # noqa: E731
    assert sorted(without_history(stored), key=key) == sorted(printed, key=key), "the very objects scan printed"
    assert {o["history"]["outcome"] for o in stored} == {"reported"}
    assert f"{len(printed)} stored findings in state file {path} ({len(printed)} reported)" in err
    code, out, _err = run("history", "--state", str(path), "--format", "jsonl")
    assert [json.loads(line) for line in out.splitlines()] == stored


def test_history_filters(demo_state: tuple[Path, list[dict[str, Any]]]) -> None:
    path, printed = demo_state

    def ids(*argv: str) -> list[tuple[str, str]]:
        code, out, err = run("history", "--state", str(path), "--format", "json", *argv)
        assert code == EXIT_CLEAN, err
        return sorted((o["event_id"], o["rule_id"]) for o in json.loads(out))

    def expected(keep: Any) -> list[tuple[str, str]]:
        return sorted((o["event_id"], o["rule_id"]) for o in printed if keep(o))

    assert ids("--rule", "iam.*") == expected(lambda o: o["rule_id"].startswith("iam."))
    assert ids("--rule", "iam.*", "--rule", "s3.*") == expected(lambda o: o["rule_id"][:3] in ("iam", "s3."))
    high = ids("--min-severity", "high")
    assert high == expected(lambda o: o["severity"] in ("HIGH", "CRITICAL")) and 0 < len(high) < len(printed)
    assert ids("--actor", "ci-*") == expected(lambda o: o["actor"].startswith("ci-"))
    assert ids("--actor", "arn:aws:iam::*:user/chloe.dubois") == expected(lambda o: o["actor"] == "chloe.dubois")
    assert ids("--account", "999999999999") == []
    assert ids("--account", "111122223333") == expected(lambda o: True)
    middle = sorted(o["event_time"] for o in printed)[len(printed) // 2]
    assert ids("--since", middle) == expected(lambda o: o["event_time"] >= middle)
    assert ids("--until", middle) == expected(lambda o: o["event_time"] <= middle)
    assert ids("--since", "2026-11-02", "--until", "2026-11-02T14:15:02Z") == expected(
        lambda o: "2026-11-02" <= o["event_time"] <= "2026-11-02T14:15:02Z"
    )
    assert ids("--since", "1d") == [], "the demo day is older than a day"


def test_history_table_and_csv(demo_state: tuple[Path, list[dict[str, Any]]]) -> None:
    path, printed = demo_state
    code, out, _err = run("history", "--state", str(path), "--min-severity", "critical")
    lines = out.splitlines()
    assert code == EXIT_CLEAN and lines[0].startswith("SEVERITY")
    assert len(lines) == 1 + sum(o["severity"] == "CRITICAL" for o in printed)
    code, out, _err = run("history", "--state", str(path), "--format", "csv")
    rows = out.splitlines()
    assert rows[0].startswith("event_time,severity,rule_id,actor") and len(rows) == 1 + len(printed)


def test_a_finding_scanned_again_updates_its_row(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    run("scan", str(SAMPLES), "--config", str(CONFIG), "--state", str(path), "--quiet")
    first = SqliteHistory(path).query_history()
    # The second run knows the day (its baselines): what it reports again updates the same rows.
    run("scan", str(SAMPLES), "--config", str(CONFIG), "--state", str(path), "--quiet")
    records = SqliteHistory(path).query_history()
    assert len(records) == len(first) and sum(r.attempts == 2 for r in records) >= len(first) // 2
    assert len({(r.event_id, r.rule_id, r.resource_arn or r.resource_id) for r in records}) == len(records)


def test_the_outcome_of_each_delivery_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    outbox = tmp_path / "outbox"
    code, _out, err = run(
        "scan", str(SAMPLES), "--config", str(CONFIG), "--state", str(path), "--outbox", str(outbox), "--quiet"
    )
    assert code == EXIT_FINDINGS, err
    records = SqliteHistory(path).query_history()
    assert records and {r.outcome for r in records} == {"delivered"}
    assert all(r.channels == {"outbox": "delivered"} for r in records)


def test_routine_findings_and_failures_are_kept(tmp_path: Path) -> None:
    finding = example_findings(["sg.ingress-open-to-world"])[0]
    hostile = finding._replace(resource=finding.resource._replace(id="x'); DROP TABLE history; --", arn=""))
    with SqliteState(tmp_path / "state.db") as state:
        state.record(finding._replace(routine=True), Outcome.ROUTINE)
        state.record(hostile, Outcome.FAILED, {"email": "failed: unreachable"}, failure="email: unreachable")
        state.record(hostile, Outcome.DELIVERED, {"email": "delivered"})
    by_outcome = {r.outcome: r for r in SqliteHistory(tmp_path / "state.db").query_history()}
    assert set(by_outcome) == {"routine", "delivered"}
    delivered = by_outcome["delivered"]
    assert delivered.attempts == 2 and delivered.channels == {"email": "delivered"}
    assert len(delivered.failures) == 1 and delivered.failures[0].endswith(" email: unreachable")
    assert delivered.resource_id == "x'); DROP TABLE history; --"


def test_an_older_state_file_is_upgraded_and_a_newer_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteState(path).close()
    with sqlite3.connect(path) as db:  # as version 1 left it: no history table
        db.execute("DROP TABLE history")
        db.execute("UPDATE meta SET value = '1' WHERE name = 'schema'")
    with pytest.raises(StateFileError, match=r"schema version 1, which kept no findings history; the next"):
        SqliteHistory(path).query_history()
    code, _out, err = run("history", "--state", str(path))
    assert code == EXIT_BAD_INPUT and err.count("\n") == 1 and "Traceback" not in err
    with SqliteState(path) as state:  # a scan upgrades it
        state.record(example_findings(["iam.user-created"])[0], "reported")
    assert [r.rule_id for r in SqliteHistory(path).query_history()] == ["iam.user-created"]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    with pytest.raises(StateFileError, match="schema version 99; this trailguard reads versions 1 to 2"):
        SqliteState(path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "7 days"], "argument --since: '7 days' is neither a time"),
        (["--until", "2026-13-40"], "is not a valid date or time"),
        (["--rule", "["], "argument --rule"),
        (["--min-severity", "urgent"], "unknown severity"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(demo_state: tuple[Path, Any], argv: list[str], message: str) -> None:
    code, out, err = run("history", "--state", str(demo_state[0]), *argv)
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_or_foreign_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    for path, message in (
        (tmp_path / "missing.db", "missing.db: no such file"),
        (foreign, "is a SQLite database of something else"),
        (garbage, "is not a trailguard state file"),
    ):
        code, out, err = run("history", "--state", str(path))
        assert (code, out) == (EXIT_BAD_INPUT, "") and message in err and err.count("\n") == 1
    assert not (tmp_path / "missing.db").exists(), "reading never creates a file"
    code, _out, err = run("history")
    assert code == EXIT_BAD_INPUT and "one of the arguments --state --table is required" in err


def test_a_state_file_in_use_by_a_scan_is_reported_busy(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteState(path):
        code, _out, err = run("history", "--state", str(path))
    assert code == EXIT_BAD_INPUT and "is in use by a running scan" in err


def test_durations_and_times() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert parse_when("7d", now) == "2027-01-08T08:00:00Z"
    assert parse_when("12h", now) == "2027-01-14T20:00:00Z"
    assert parse_when("30m", now) == "2027-01-15T07:30:00Z"
    assert parse_when("2w", now) == "2027-01-01T08:00:00Z"
    assert parse_when("2026-11-03") == "2026-11-03T00:00:00Z"
    assert parse_when("2026-11-03T09:12") == "2026-11-03T09:12:00Z"
    assert parse_when("2026-11-03T09:12:44.123Z") == "2026-11-03T09:12:44Z"
    for bad in ("", "7", "d7", "-7d", "2026-11-03T09:12:44+02:00", "tuesday"):
        with pytest.raises(HistoryError):
            parse_when(bad, now)


def test_every_example_finding_round_trips_through_its_dict() -> None:
    for finding in example_findings():
        assert Finding.from_dict(finding.to_dict()).to_dict() == finding.to_dict(), finding.rule_id


# -- the stack's table --------------------------------------------------------------------------


def test_the_table_is_read_page_after_page(fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> None:
    create_table(fake_aws.client("dynamodb"), TABLE)
    store = DynamoDBStore(TABLE, fake_aws)
    base = example_findings(["sg.ingress-open-to-world"])[0]
    findings = [
        base._replace(event_id=f"ev-{n:03}", event_time=f"2026-11-0{1 + n % 3}T10:{n // 3:02}:00Z") for n in range(37)
    ]
    for finding in findings:
        store.record(finding, Outcome.DELIVERED, {"email": "delivered"})
    queries: list[dict[str, Any]] = []
    client = fake_aws.client("dynamodb")
    original = client.query

    def counting(**kwargs: Any) -> Any:
        queries.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(client, "query", counting)
    source = TableSource(TABLE, fake_aws.region, page_size=5)
    source.store.table.aws = fake_aws
    records = source.read(HistoryQuery(since="2026-11-01T00:00:00Z", until="2026-11-03T23:59:59Z"))
    assert sorted(r.event_id for r in records) == [f.event_id for f in findings]
    assert len(queries) >= 37 // 5 and all(q["Limit"] == 5 for q in queries), "more pages than one"
    assert sum("ExclusiveStartKey" in q for q in queries) >= 5
    stored = json.loads(records[0].finding)
    assert stored == json.loads(json.dumps(findings[0].to_dict())), "the whole finding is kept"
    queries.clear()
    one_rule = source.read(HistoryQuery(since="2026-11-01T00:00:00Z", rules=("sg.ingress-open-to-world",)))
    assert len(one_rule) == 37 and all(q.get("IndexName") == "by-rule" for q in queries)
    assert source.read(HistoryQuery(since="2026-11-01T00:00:00Z", rules=("iam.*",))) == []


def test_history_of_the_table_from_the_command_line(fake_aws: AwsClients) -> None:
    create_table(fake_aws.client("dynamodb"), TABLE)
    finding = example_findings(["iam.user-created"])[0]._replace(event_time="2026-11-02T10:00:00Z")
    DynamoDBStore(TABLE, fake_aws).record(finding, Outcome.QUIET, folded=3)
    code, out, err = run(
        "history", "--table", TABLE, "--region", fake_aws.region, "--since", "2026-11-01", "--format", "json"
    )
    assert code == EXIT_CLEAN, err
    [stored] = json.loads(out)
    assert {k: v for k, v in stored.items() if k != "history"} == finding.to_dict()
    assert stored["history"]["outcome"] == "quiet" and stored["history"]["folded"] == 3
    code, out, err = run("history", "--table", "no-such-table", "--region", fake_aws.region)
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert "ResourceNotFoundException" in err and err.count("\n") == 1 and "Traceback" not in err


def test_what_remediation_did_and_removed_is_read_back_from_either_store(tmp_path: Path, fake_aws: AwsClients) -> None:
    from trailguard.services.remediation.runner import Result, Status, annotate

    finding = example_findings(["s3.bucket-policy-public"])[0]
    removed = json.dumps([{"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}])
    done = Result(
        finding.rule_id, "apply", Status.DONE, "Remediated: removed public statements from b at 09:00:00 UTC", "b"
    )
    remediated = annotate(finding, done._replace(removed=removed))
    with SqliteState(tmp_path / "state.db") as state:
        state.record(remediated, "reported")
    create_table(fake_aws.client("dynamodb"), TABLE)
    table = DynamoDBStore(TABLE, fake_aws)
    table.record(remediated, Outcome.DELIVERED, {"email": "delivered"})
    [from_file] = SqliteHistory(tmp_path / "state.db").query_history()
    [from_table] = table.query_history(finding.event_time, finding.event_time)
    for record in (from_file, from_table):
        assert record.remediation == done.text
        assert record.remediation_removed == removed, "the removed statement can be found again"
    # A finding remediation never touched reads back with neither.
    with SqliteState(tmp_path / "plain.db") as state:
        state.record(finding, "reported")
    [plain] = SqliteHistory(tmp_path / "plain.db").query_history()
    assert (plain.remediation, plain.remediation_removed) == ("", "")
