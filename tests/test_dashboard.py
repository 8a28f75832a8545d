"""`trailguard dashboard`: the server's answers and headers, and the page in a real browser (Debian's
headless Chromium over the DevTools protocol): the findings appear, filters narrow the list, a
finding stored after the page loaded shows up by polling, and hostile event text stays text."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, main
from trailguard.core.enums import Outcome, Severity
from trailguard.dashboard import server as dashboard
from trailguard.examples import example_findings
from trailguard.services.history import HistoryQuery, StateFileSource, TableSource
from trailguard.services.stores.base import HistoryRecord, iso
from trailguard.services.stores.dynamodb import DynamoDBStore, create_table
from trailguard.services.stores.sqlite import SqliteState
from trailguard.utils.aws_helpers import AwsClients

from .chromium import Browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
HOSTILE_RESOURCE = "<img src=x onerror=alert(1)>"
HOSTILE_SUMMARY = "<script>window.__pwned = 1</script><b>bold</b>"
HOSTILE_ACTOR = '"><svg onload=alert(2)>'
REFRESH = 1


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def hostile_finding() -> Any:
    finding = example_findings(["sg.ingress-open-to-world"])[0]
    return finding._replace(
        event_id='ev"><img src=x onerror=alert(3)>',
        event_time="2026-11-02T21:00:00Z",
        summary=HOSTILE_SUMMARY,
        resource=finding.resource._replace(id=HOSTILE_RESOURCE, arn=""),
        actor=finding.actor._replace(name=HOSTILE_ACTOR),
        details={"<i>key</i>": "<img src=y onerror=alert(4)>"},
    )


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    code, _out, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--state", str(path))
    assert code == EXIT_FINDINGS, err
    with SqliteState(path) as state:
        state.record(hostile_finding(), Outcome.FAILED, {"email": "failed: <b>unreachable</b>"}, failure="<x>")
    return path


@pytest.fixture
def served(state_file: Path) -> Iterator[str]:
    server = dashboard.make_server(StateFileSource(str(state_file)), "", "127.0.0.1", 0, REFRESH)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_every_answer_is_local_and_locked_down(served: str, state_file: Path) -> None:
    for path in ("/", "/app.js", "/app.css", "/favicon.svg", "/api/findings", "/nothing"):
        status, headers, _body = get(served + path)
        assert status == (404 if path == "/nothing" else 200)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
    _status, _headers, page = get(served + "/")
    html = page.decode()
    assert '<script src="/app.js"' in html and "<script>" not in html, "no inline script"
    assert "http://" not in html and "https://" not in html, "nothing from elsewhere"
    for asset in ("app.js", "app.css"):
        text = dashboard.asset(asset).decode()
        assert "innerHTML" not in text and "outerHTML" not in text and "insertAdjacentHTML" not in text
        assert "eval(" not in text and "document.write" not in text
    _status, _headers, body = get(served + "/api/findings")
    document = json.loads(body)
    assert document["source"] == f"state file {state_file}" and document["problem"] == ""
    assert any(f["resource"] == HOSTILE_RESOURCE for f in document["findings"])
    status, _headers, _body = get(served + "/", host="attacker.example:80")
    assert status == 421, "a page elsewhere reaching it by DNS rebinding is refused"
    request = urllib.request.Request(served + "/api/findings", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_a_busy_state_file_keeps_the_last_answer(served: str, state_file: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(dashboard, "MIN_READ_SECONDS", 0.0)
    first = json.loads(get(served + "/api/findings")[2])
    with SqliteState(state_file):  # a scan holds the file
        busy = json.loads(get(served + "/api/findings")[2])
    assert "in use by a running scan" in busy["problem"] and busy["findings"] == first["findings"]


def test_over_a_table_the_page_reads_the_recent_part_and_now_and_then_all(
    fake_aws: AwsClients, monkeypatch: Any
) -> None:
    """Polling a table re-reads the last day of event time only (merged into what it has); the whole
    history every FULL_READ_SECONDS."""
    import time

    create_table(fake_aws.client("dynamodb"), "dash-table")
    store = DynamoDBStore("dash-table", fake_aws)
    base = example_findings(["iam.user-created"])[0]
    old = base._replace(event_id="old", event_time=iso(time.time() - 5 * 86_400))
    store.record(old, Outcome.DELIVERED, {"email": "delivered"})
    source = TableSource("dash-table", fake_aws.region)
    source.store.table.aws = fake_aws
    asked: list[str] = []
    read = source.read

    def spying(query: HistoryQuery) -> list[HistoryRecord]:
        asked.append(query.since)
        return read(query)

    monkeypatch.setattr(source, "read", spying)
    monkeypatch.setattr(dashboard, "MIN_READ_SECONDS", 0.0)
    findings = dashboard.Findings(source, "", refresh=5)
    assert [f["event_id"] for f in json.loads(findings.body())["findings"]] == ["old"]
    store.record(base._replace(event_id="new", event_time=iso(time.time() - 60)), Outcome.FAILED, {"email": "failed"})
    assert [f["event_id"] for f in json.loads(findings.body())["findings"]] == ["old", "new"], "merged"
    assert asked[0] == "" and asked[1] >= iso(time.time() - 86_400 - 5), "the second read: the last day only"
    monkeypatch.setattr(dashboard, "FULL_READ_SECONDS", 0.0)
    findings.body()
    assert asked[2] == "", "and now and then all of it"


def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    for argv, message in (
        (["--state", str(tmp_path / "garbage.db"), "--port", "0"], "is not a trailguard state file"),
        (["--state", str(tmp_path / "missing.db")], "missing.db: no such file"),
        (["--state", str(tmp_path / "x.db"), "--port", "70000"], "is not a port number"),
        (["--state", str(tmp_path / "x.db"), "--since", "soon"], "'soon' is neither a time"),
        (["--state", str(tmp_path / "x.db"), "--refresh", "0"], "between 1 and 3600"),
    ):
        code, out, err = run("dashboard", *argv)
        assert (code, out) == (EXIT_BAD_INPUT, "") and message in err
        assert err.count("\n") == 1 and "Traceback" not in err


ROWS = "document.querySelectorAll('#list tbody tr').length"


def rows_text(browser: Browser, column: int) -> list[str]:
    value = browser.evaluate(
        f"[...document.querySelectorAll('#list tbody tr')].map(r => r.children[{column}].textContent)"
    )
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_the_page_in_chromium(served: str, state_file: Path) -> None:
    stored = json.loads(get(served + "/api/findings")[2])["findings"]
    with Browser(served + "/") as browser:
        # The findings appear: every one a row, the charts and top lists drawn.
        browser.wait_for(f"{ROWS} === {len(stored)}")
        assert browser.evaluate("document.querySelectorAll('#chart svg rect.bar').length") > 0
        assert browser.evaluate("document.querySelector('#top-rule li .top-name').textContent") == (
            "bedrock.model-access-enabled"
        )
        assert "findings from state file" in browser.evaluate("document.getElementById('status').textContent")

        # Hostile text is shown as text and never runs.
        assert HOSTILE_RESOURCE in rows_text(browser, 6)
        assert HOSTILE_ACTOR in rows_text(browser, 3)
        browser.evaluate(
            "[...document.querySelectorAll('#list tbody tr')]"
            f".find(r => r.children[6].textContent === {json.dumps(HOSTILE_RESOURCE)}).click()"
        )
        detail = browser.wait_for("document.getElementById('detail').textContent")
        assert HOSTILE_SUMMARY in detail and "<img src=y onerror=alert(4)>" in detail
        assert "failed: <b>unreachable" in detail
        assert browser.evaluate("document.querySelectorAll('img, svg[onload], b, i, script:not([src])').length") == 0
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.evaluate("[...document.querySelectorAll('a')].every(a => a.protocol === 'https:')")

        # Filters narrow the list: text, severity, a top list's entry, and clearing them.
        browser.evaluate(
            "{ const box = document.getElementById('f-text'); box.value = 'bedrock';"
            " box.dispatchEvent(new Event('input')) }"
        )
        bedrock = sum("bedrock" in f["rule_id"] for f in stored)
        browser.wait_for(f"{ROWS} === {bedrock}")
        assert set(rows_text(browser, 2)) == {"bedrock.model-access-enabled"}
        browser.evaluate("document.getElementById('f-clear').click()")
        browser.wait_for(f"{ROWS} === {len(stored)}")
        browser.evaluate(
            "{ const s = document.getElementById('f-severity'); s.value = 'CRITICAL';"
            " s.dispatchEvent(new Event('change')) }"
        )
        critical = sum(f["severity"] == "CRITICAL" for f in stored)
        browser.wait_for(f"{ROWS} === {critical}")
        assert set(rows_text(browser, 1)) == {"CRITICAL"}
        browser.evaluate("document.getElementById('f-clear').click()")
        browser.evaluate("document.querySelector('#top-actor li button').click()")
        top_actor = browser.evaluate("document.querySelector('#chips .chip strong').textContent")
        browser.wait_for(f"{ROWS} === {sum(f['actor'] == top_actor for f in stored)}")
        assert set(rows_text(browser, 3)) == {top_actor}
        browser.evaluate("document.getElementById('f-clear').click()")
        browser.wait_for(f"{ROWS} === {len(stored)}")

        # A finding stored after the page loaded appears by polling, marked new.
        late = example_findings(["iam.user-created"])[0]._replace(
            event_id="late-event-1", event_time="2026-11-02T22:00:00Z", severity=Severity.HIGH
        )
        with SqliteState(state_file) as state:
            state.record(late, "reported")
        browser.wait_for(f"{ROWS} === {len(stored) + 1}", timeout=10 * REFRESH + 10)
        assert browser.evaluate("document.querySelector('#list tbody tr.fresh td.rule').textContent") == (
            "iam.user-created"
        )
        assert "1 new" in browser.evaluate("document.getElementById('status').textContent")

        assert browser.methods("Runtime.exceptionThrown") == [], "the page ran without errors"
        assert browser.methods("Page.javascriptDialogOpening") == [], "nothing from the events ran"
        violations = [e for e in browser.methods("Log.entryAdded") if "Content Security Policy" in json.dumps(e)]
        assert violations == [], "the page needs nothing the policy forbids"
