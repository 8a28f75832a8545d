"""`trailguard scan`'s table: ACCOUNT and SOURCE IP columns, --columns, and JSON in the table's order."""

from __future__ import annotations

import io
import json
from pathlib import Path

from trailguard.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = str(ROOT / "samples")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_table_shows_account_and_source_ip_in_json_order() -> None:
    _code, table, _err = run("scan", "--quiet", SAMPLES)
    _code, text, _err = run("scan", "--quiet", "--format", "json", SAMPLES)
    findings = json.loads(text)
    header, *lines = table.splitlines()
    assert header.split()[:9] == ["SEVERITY", "TIME", "(UTC)", "RULE", "ACTOR", "ACCOUNT", "SOURCE", "IP", "REGION"]
    assert len(lines) == len(findings) > 5
    account_at, ip_at = header.index("ACCOUNT"), header.index("SOURCE IP")
    for line, finding in zip(lines, findings, strict=True):
        # Row for row: the same finding, so the JSON is ordered like the table.
        assert line.split()[0] == finding["severity"]
        assert line[:30].split()[1:3] == finding["event_time"].rstrip("Z").split("T")
        assert line[account_at:].split()[0] == finding["account_id"]
        assert line[ip_at:].startswith(finding["source_ip"][:39])
    times = [f["event_time"] for f in findings]
    assert times == sorted(times)


def test_columns_choose_and_order_the_table() -> None:
    _code, table, _err = run("scan", "--quiet", "--columns", "source-ip,rule,summary", SAMPLES)
    header = table.splitlines()[0]
    assert header.split() == ["SOURCE", "IP", "RULE", "SUMMARY"]


def test_an_unknown_column_is_a_usage_error() -> None:
    code, out, err = run("scan", "--columns", "severity,password", SAMPLES)
    assert code == 2 and not out
    assert "unknown column password" in err
