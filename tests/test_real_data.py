"""Real CloudTrail records from public sources: nothing crashes, and the attacks we cover are caught."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path

from trailguard.cli import main
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

CORPUS = Path(__file__).parent / "data" / "corpus"
STRATUS = CORPUS / "stratus-red-team.jsonl"
INVICTUS = CORPUS / "invictus-ir-aws-dataset_CloudTrail.json.gz"
EXPECTED = json.loads((Path(__file__).parent / "data" / "stratus_expected.json").read_text())


def test_stratus_techniques_fire_exactly_the_expected_rules() -> None:
    records: dict[str, list[dict[str, object]]] = defaultdict(list)
    for line in STRATUS.read_text().splitlines():
        entry = json.loads(line)
        records[entry["technique"]].append(entry["record"])
    techniques = set(records)
    fired: dict[str, dict[str, str]] = defaultdict(dict)
    bursts: dict[str, int] = defaultdict(int)
    # Each technique on its recorded calls alone (its own memory, as they come: not in time order).
    for technique, calls in records.items():
        engine = Engine(Settings())
        for finding in engine.evaluate_all(calls):
            fired[technique][finding.rule_id] = finding.severity.name
            bursts[technique] += finding.rule_id.startswith("burst.")
        assert engine.stats.rule_errors == 0, engine.failures
    # A burst alerts once per window and principal, not once per call.
    assert {count for count in bursts.values() if count} == {1}, bursts
    expected = {k: v for k, v in EXPECTED.items() if not k.startswith("_")}
    assert expected.keys() <= techniques
    assert dict(fired) == expected


def test_every_stratus_technique_is_caught_above_info_or_says_why_not() -> None:
    techniques = {json.loads(line)["technique"] for line in STRATUS.read_text().splitlines()}
    assert len(techniques) == 38
    caught = {
        technique
        for technique, rules in EXPECTED.items()
        if not technique.startswith("_") and any(severity != "INFO" for severity in rules.values())
    }
    why_not: dict[str, dict[str, str | None]] = EXPECTED["_why_not"]
    assert why_not.keys() <= techniques, "a reason for a technique the corpus does not hold"
    stale = caught & why_not.keys()
    assert not stale, f"now caught above INFO, remove from _why_not: {sorted(stale)}"
    assert not techniques - caught - why_not.keys(), "caught by nothing and no reason given"
    for technique, entry in why_not.items():
        assert entry.keys() == {"rule", "why"}, technique
        assert entry["why"], technique
        rule = entry["rule"]
        # Only a stateful rule (a memory of earlier calls) can tell these from routine work.
        assert rule is None or rule.startswith(("burst.", "baseline.")), technique


def test_invictus_trail_scans_cleanly_and_catches_the_attack() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", str(INVICTUS), "--format", "jsonl"], stdout=out, stderr=err)
    assert code == 1
    assert "input problems" not in err.getvalue() and "rule errors" not in err.getvalue()
    assert "in 2,900 events from 1 file" in err.getvalue()
    findings = [json.loads(line) for line in out.getvalue().splitlines()]
    fired = {(f["rule_id"], f["severity"]) for f in findings}
    for expected in [
        ("cloudtrail.trail-deleted", "CRITICAL"),
        ("sg.ingress-open-to-world", "CRITICAL"),
        ("lambda.permission-public", "CRITICAL"),
        ("iam.role-trust-public", "HIGH"),
        ("iam.admin-policy-attached", "HIGH"),
        ("signin.console-login-no-mfa", "HIGH"),
        ("ec2.ami-shared-external", "MEDIUM"),
        ("ec2.snapshot-shared-external", "MEDIUM"),
        ("rds.snapshot-public", "MEDIUM"),
        # A bucket policy granting another account read access, and a database deleted with a final
        # snapshot but its automated backups.
        ("s3.bucket-policy-external", "MEDIUM"),
        ("rds.deleted-without-snapshot", "MEDIUM"),
    ]:
        assert expected in fired, expected
    assert all(f["account_id"] and f["event_id"] and f["actor"] for f in findings)
