"""The alerting commands: scan --outbox / --notify, render, send-test."""

from __future__ import annotations

import io
import json
import socket
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, main
from trailguard.core.base_handler import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_scan_outbox_writes_one_message_per_finding_then_a_digest(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    code, _, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--outbox", str(outbox))
    assert code == EXIT_FINDINGS
    emails = sorted(outbox.glob("*.eml"))
    assert len(emails) == 6 and len(list(outbox.glob("*.html"))) == 6, "5 most severe alone, the other 15 in a digest"
    digests = [path for path in emails if "_digest-15_" in path.name]
    assert len(digests) == 1
    subjects = [message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"] for path in emails]
    assert sum("[CRITICAL]" in subject for subject in subjects) == 5  # and the two incidents
    assert "20 findings delivered in 6 messages" in err and f"open the alerts in {outbox}" in err


def test_scan_notify_uses_configured_channels_with_routing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channels = [
        {"type": "folder", "name": "everything", "path": str(tmp_path / "all")},
        {
            "type": "folder",
            "name": "critical-s3",
            "path": str(tmp_path / "s3"),
            "min_severity": "CRITICAL",
            "rules": ["s3.*"],
        },
    ]
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
    code, _, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--notify")
    assert code == EXIT_FINDINGS
    assert len(list((tmp_path / "all").glob("*.eml"))) == 6
    [only] = list((tmp_path / "s3").glob("*.eml"))
    assert "s3.bucket-policy-public" in only.name
    assert "'critical-s3' " in err and "1 findings delivered in 1 messages" in err


def test_scan_notify_failure_exits_2_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_free = [
        {"type": "webhook", "name": "hook", "url": f"http://127.0.0.1:{closed_port()}/T0/secret-token", "timeout": 1}
    ]
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(secret_free))
    monkeypatch.setattr("trailguard.services.retry.RetryPolicy.delay", lambda self, attempt, rand=None: 0.0)
    code, _, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--notify", "--quiet")
    assert code == EXIT_BAD_INPUT
    assert "20 findings reached no channel" in err
    assert "secret-token" not in err


def test_scan_notify_with_one_channel_down_delivers_through_the_others_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    channels = [
        {"type": "folder", "name": "files", "path": str(tmp_path / "all")},
        {"type": "webhook", "name": "hook", "url": f"http://127.0.0.1:{closed_port()}/T0/secret-token", "timeout": 1},
    ]
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
    monkeypatch.setattr("trailguard.services.retry.RetryPolicy.delay", lambda self, attempt, rand=None: 0.0)
    code, _, err = run("scan", str(SAMPLES), "--config", str(SAMPLES / "trailguard.toml"), "--notify", "--quiet")
    assert code == EXIT_BAD_INPUT, "the hook's recipients were not told: that is a failure, not a success"
    assert len(list((tmp_path / "all").glob("*.eml"))) == 6
    assert "20 findings did not reach every channel" in err and "reached no channel" not in err


def test_bad_channel_settings_stop_the_scan_before_any_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "smtp", "sender": "a@example.com"}]))
    code, out, err = run("scan", str(SAMPLES), "--notify")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "environment TRAILGUARD_CHANNELS: channels entry 1: recipients: is required" in err
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "pager"}]))
    code, _, err = run("scan", str(SAMPLES))
    assert code == EXIT_BAD_INPUT and "type: must be one of smtp, ses, slack" in err


def test_bad_channel_settings_from_a_file_stop_send_test_and_outbox_naming_file_entry_and_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text(
        f'[[channels]]\ntype = "folder"\nname = "files"\npath = "{tmp_path / "files"}"\n\n'
        '[[channels]]\ntype = "smtp"\nsender = "a@example.com"\n',
        encoding="utf-8",
    )
    expected = f"{config}: channels: channels entry 2: recipients: is required"
    code, out, err = run("send-test", "--channel", "files", "--config", str(config))
    assert code == EXIT_BAD_INPUT and out == "" and expected in err
    code, out, err = run("scan", str(SAMPLES), "--config", str(config), "--outbox", str(tmp_path / "outbox"))
    assert code == EXIT_BAD_INPUT and out == "" and expected in err
    assert not (tmp_path / "files").exists() and not (tmp_path / "outbox").exists(), "nothing was sent or written"


def test_render_writes_example_alerts(tmp_path: Path) -> None:
    code, out, err = run("render", "--rule", "s3.*", "--out", str(tmp_path), "--digest")
    assert code == 0
    written = out.split()
    s3_rules = sum(rule.id.startswith("s3.") for rule in REGISTRY.all())
    assert len(written) == s3_rules + 1 and all(Path(path).is_file() for path in written), "the s3 rules and a digest"
    assert f"{s3_rules + 1} example alerts written" in err
    html = Path(written[0]).read_text(encoding="utf-8-sig")
    assert "<script" not in html and "s3." in html
    assert run("render", "--rule", "nope.*", "--out", str(tmp_path))[0] == 2


def test_send_test_reports_success_and_the_exact_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channels = [
        {"type": "folder", "name": "files", "path": str(tmp_path / "files")},
        {"type": "webhook", "name": "down", "url": f"http://127.0.0.1:{closed_port()}/hook", "timeout": 1},
    ]
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))
    monkeypatch.setattr("trailguard.services.retry.RetryPolicy.delay", lambda self, attempt, rand=None: 0.0)
    code, out, _ = run("send-test", "--channel", "files")
    assert code == 0 and "test alert delivered through folder channel 'files'" in out
    [email] = list((tmp_path / "files").glob("*.eml"))
    assert (
        email.name.startswith("test_")
        and "[TEST]" in message_from_bytes(email.read_bytes(), policy=policy.default)["Subject"]
    )
    code, _, err = run("send-test", "--channel", "down")
    assert code == 2 and "failed (transient, gave up after retries)" in err
    code, _, err = run("send-test", "--channel", "missing")
    assert code == 2 and "no channel named 'missing' (configured: files, down)" in err
