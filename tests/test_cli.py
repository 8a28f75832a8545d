"""The `trailguard` command: formats, filters, exit codes, errors."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_CLEAN, EXIT_FINDINGS, main

from .conftest import load_rule_test_events

# One person's calls to CloudTrail (the folder also holds Control Tower's and stacks' own calls).
CLOUDTRAIL_RECORDS = [
    e.record
    for e in load_rule_test_events()
    if e.path.parent.name == "cloudtrail" and e.record["userIdentity"].get("userName") == "alice"
]
JSONL_FIELDS = {
    "rule_id",
    "severity",
    "title",
    "event_id",
    "event_name",
    "event_source",
    "event_time",
    "account_id",
    "region",
    "actor",
    "source_ip",
    "resource",
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trail_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2026" / "11" / "02"
    folder.mkdir(parents=True)
    for index in range(3):
        part = CLOUDTRAIL_RECORDS[index::3]
        (folder / f"part{index}.json.gz").write_bytes(gzip.compress(json.dumps({"Records": part}).encode()))
    return tmp_path


def test_jsonl_output_has_the_documented_fields(trail_dir: Path) -> None:
    code, out, err = run("scan", str(trail_dir), "--format", "jsonl")
    assert code == EXIT_FINDINGS
    findings = [json.loads(line) for line in out.splitlines()]
    assert {f["rule_id"] for f in findings} == {
        "cloudtrail.logging-stopped",
        "cloudtrail.trail-deleted",
        "cloudtrail.trail-weakened",
        "cloudtrail.selectors-reduced",
        "tamper.denied-attempt",
    }
    for finding in findings:
        assert finding.keys() >= JSONL_FIELDS
        assert finding["account_id"] == "111122223333" and finding["actor"] == "alice"
    assert f"{len(findings)} findings" in err and "11 events from 3 files" in err


def test_json_and_table_formats(trail_dir: Path) -> None:
    code, out, _ = run("scan", str(trail_dir), "--format", "json")
    assert code == EXIT_FINDINGS and len(json.loads(out)) == 7
    code, out, _ = run("scan", str(trail_dir))
    lines = out.splitlines()
    assert lines[0].startswith("SEVERITY") and len(lines) == 8
    assert "\033[" not in out, "no colour when not a terminal"
    _, coloured, _ = run("scan", str(trail_dir), "--color", "always")
    assert "\033[1;97;41mCRITICAL" in coloured


def test_filters_by_rule_and_severity(trail_dir: Path) -> None:
    _, out, _ = run("scan", str(trail_dir), "--format", "jsonl", "--rule", "cloudtrail.trail-*")
    assert {json.loads(line)["rule_id"] for line in out.splitlines()} == {
        "cloudtrail.trail-deleted",
        "cloudtrail.trail-weakened",
    }
    _, out, _ = run("scan", str(trail_dir), "--format", "jsonl", "--min-severity", "critical")
    assert {json.loads(line)["severity"] for line in out.splitlines()} == {"CRITICAL"}
    code, out, _ = run(
        "scan", str(trail_dir), "--rule", "cloudtrail.trail-deleted", "--rule", "tamper.*", "--format", "jsonl"
    )
    assert code == EXIT_FINDINGS and len(out.splitlines()) == 2


def test_exit_codes(trail_dir: Path, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.json"
    quiet.write_text(json.dumps({"Records": [CLOUDTRAIL_RECORDS[0] | {"eventName": "StartLogging"}]}))
    assert run("scan", str(quiet))[0] == EXIT_CLEAN
    assert run("scan", str(trail_dir))[0] == EXIT_FINDINGS
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    code, out, err = run("scan", str(trail_dir), str(broken), "--format", "jsonl")
    assert code == EXIT_BAD_INPUT
    assert len(out.splitlines()) == 7, "the good files are still scanned"
    assert f"skipped {broken}: invalid JSON" in err
    assert run("scan")[0] == EXIT_BAD_INPUT
    code, _, err = run("scan", str(trail_dir), "--rule", "nope.*")
    assert code == EXIT_BAD_INPUT and "--rule 'nope.*' matches no rule id" in err
    code, _, err = run("scan", str(trail_dir), "--min-severity", "urgent")
    assert code == EXIT_BAD_INPUT


def test_bad_config_stops_before_scanning(trail_dir: Path) -> None:
    bad = Path(__file__).parent / "data" / "configs" / "bad_port.toml"
    code, out, err = run("scan", str(trail_dir), "--config", str(bad))
    assert code == EXIT_BAD_INPUT and out == ""
    assert "allowed_ports: port 70000 is outside 0-65535" in err


def test_parallel_scan_finds_the_same(trail_dir: Path) -> None:
    _, one, _ = run("scan", str(trail_dir), "--format", "json")
    _, two, err = run("scan", str(trail_dir), "--format", "json", "--jobs", "2")
    assert sorted(f["event_id"] + f["rule_id"] for f in json.loads(two)) == sorted(
        f["event_id"] + f["rule_id"] for f in json.loads(one)
    )
    assert "11 events from 3 files" in err


def test_stdin_through_the_installed_command() -> None:
    lines = "".join(
        json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": r}) + "\n" for r in CLOUDTRAIL_RECORDS
    )
    done = subprocess.run(
        [sys.executable, "-m", "trailguard.cli", "scan", "-", "--format", "jsonl", "--min-severity", "CRITICAL"],
        input=lines,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == EXIT_FINDINGS, done.stderr
    assert {json.loads(line)["rule_id"] for line in done.stdout.splitlines()} == {
        "cloudtrail.logging-stopped",
        "cloudtrail.trail-deleted",
    }


def test_rules_and_pattern_commands() -> None:
    code, out, _ = run("rules")
    assert code == EXIT_CLEAN
    assert "cloudtrail.logging-stopped" in out and "StopLogging" in out
    code, out, _ = run("rules", "--format", "json")
    rules = {r["id"]: r for r in json.loads(out)}
    assert rules["cloudtrail.logging-stopped"]["severity"] == "CRITICAL"
    code, out, _ = run("pattern")
    patterns = json.loads(out)
    assert code == EXIT_CLEAN and patterns[0]["pattern"]["detail-type"] == ["AWS API Call via CloudTrail"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_for_many_files(tmp_path: Path) -> None:
    from trailguard.cli import PROGRESS_MIN_FILES, Progress, scan
    from trailguard.core.settings import Settings

    for index in range(PROGRESS_MIN_FILES + 5):
        (tmp_path / f"f{index:03}.json").write_text(json.dumps({"Records": CLOUDTRAIL_RECORDS[:2]}))
    terminal = _Terminal()
    progress = Progress(terminal)
    scan([str(tmp_path)], Settings(), on_progress=progress)
    progress.clear()
    drawn = terminal.getvalue()
    assert f"{PROGRESS_MIN_FILES + 5}/{PROGRESS_MIN_FILES + 5} files" in drawn
    assert "[##############################]" in drawn and drawn.endswith("\r")
    piped = io.StringIO()
    scan([str(tmp_path)], Settings(), on_progress=Progress(piped))
    assert piped.getvalue() == "", "no progress bar when stderr is not a terminal"


# --------------------------------------------------------------------------------------------
# Input a user really has (issue 12).
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [False, True], ids=["gunzip | scan -", "gzipped on stdin"])
def test_stdin_takes_a_log_file_as_cloudtrail_writes_it(gzipped: bool) -> None:
    log_file = json.dumps({"Records": CLOUDTRAIL_RECORDS}, separators=(",", ":")).encode()
    done = subprocess.run(
        [sys.executable, "-m", "trailguard.cli", "scan", "-", "--format", "jsonl", "--min-severity", "CRITICAL"],
        input=gzip.compress(log_file) if gzipped else log_file,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == EXIT_FINDINGS, done.stderr
    assert {json.loads(line)["rule_id"] for line in done.stdout.splitlines()} == {
        "cloudtrail.logging-stopped",
        "cloudtrail.trail-deleted",
    }
    assert b"skipped" not in done.stderr


def test_other_aws_logs_in_a_bucket_are_counted_not_problems(tmp_path: Path) -> None:
    from .test_sources import build_bucket

    expected = build_bucket(tmp_path)
    code, _, err = run("scan", str(tmp_path), "--format", "jsonl")
    assert code == EXIT_FINDINGS, err
    assert "skipped" not in err and "input problems" not in err
    total = sum(expected.values())
    assert f"trailguard: not CloudTrail, not read: {total} files (" in err
    assert "3 AWS Config" in err and "2 VPC flow log" in err and "1 S3 server access log" in err
    assert len(err.splitlines()) == 2, "one line for what was skipped, one summary"


def test_unreadable_input_makes_the_exit_code_2(tmp_path: Path, trail_dir: Path) -> None:
    (trail_dir / "dangling.json.gz").symlink_to(tmp_path / "nowhere.json.gz")
    code, out, err = run("scan", str(trail_dir), "--format", "jsonl")
    assert code == EXIT_BAD_INPUT
    assert f"trailguard: skipped {trail_dir / 'dangling.json.gz'}: broken symbolic link" in err
    assert len(out.splitlines()) == 7, "the rest is still scanned"


def _two_trails(root: Path) -> tuple[Path, Path]:
    """An organization trail and the account's own trail, both delivering the same events."""
    day = "eu-west-1/2026/11/02"
    own = root / "AWSLogs" / "111122223333" / "CloudTrail" / day
    org = root / "AWSLogs" / "o-a1b2c3d4e5" / "111122223333" / "CloudTrail" / day
    for folder, unique in ((own, "QWNjb3VudFRyYWls"), (org, "T3JnVHJhaWwwMDAx")):
        folder.mkdir(parents=True)
        for index, minute in enumerate(("05", "10")):
            name = f"111122223333_CloudTrail_eu-west-1_20261102T14{minute}Z_{unique}.json.gz"
            part = CLOUDTRAIL_RECORDS[index::2]
            (folder / name).write_bytes(gzip.compress(json.dumps({"Records": part}).encode()))
    return own, org


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_same_event_twice_is_evaluated_once(tmp_path: Path, jobs: str) -> None:
    own, _ = _two_trails(tmp_path)
    _, alone, _ = run("scan", str(own), "--format", "json", "--jobs", jobs)
    code, both, err = run("scan", str(tmp_path), "--format", "json", "--jobs", jobs)
    assert code == EXIT_FINDINGS
    assert json.loads(both) == json.loads(alone), "the same findings, in the same order"
    wanted = len(json.loads(run("scan", str(own), "--format", "json")[1]))
    assert wanted, "the test needs findings"
    assert f"in {2 * len(CLOUDTRAIL_RECORDS)} events from 4 files" in err
    assert "duplicate events evaluated once" in err
    # A file passed twice is the same: no finding twice.
    some = next(own.iterdir())
    _, twice, err = run("scan", str(some), str(some), "--format", "json", "--jobs", jobs)
    _, once, _ = run("scan", str(some), "--format", "json")
    assert json.loads(twice) == json.loads(once)


def test_duplicates_split_across_workers_give_the_findings_of_one_process(tmp_path: Path) -> None:
    _two_trails(tmp_path)
    _, one, err_one = run("scan", str(tmp_path), "--format", "json")
    _, two, err_two = run("scan", str(tmp_path), "--format", "json", "--jobs", "2")
    assert json.loads(one) == json.loads(two)
    duplicates = [part for part in err_one.split("; ") if "duplicate" in part]
    assert duplicates and duplicates == [part for part in err_two.split("; ") if "duplicate" in part]


def test_max_decompressed_is_a_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.json.gz"
    big.write_bytes(gzip.compress(json.dumps({"Records": CLOUDTRAIL_RECORDS * 150}).encode()))
    code, _, err = run("scan", str(big), "--format", "jsonl", "--max-decompressed", "1M")
    assert code == EXIT_BAD_INPUT and "decompresses to more than 1 MB" in err
    assert run("scan", str(big), "--format", "jsonl", "--max-decompressed", "1.5G")[0] == EXIT_FINDINGS
    for bad in ("lots", "10K", "-5M", "9" * 400):
        code, _, usage = run("scan", str(big), "--max-decompressed", bad)
        assert code == EXIT_BAD_INPUT and "--max-decompressed" in usage and "Traceback" not in usage
