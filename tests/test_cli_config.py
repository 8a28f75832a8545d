"""``trailguard config check FILE``: the Lambda's validation, offline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_CLEAN, main

TUNED = """
min_severity = "medium"
disabled_rules = ["ec2.*"]

[[channels]]
type = "ses"
name = "email"
sender = "alerts@example.com"
recipients = ["secops@example.com"]
region = "eu-west-1"
"""


def check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["config", "check", str(path)], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # No AWS: a check that reached for credentials would fail on these.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "TRAILGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_valid_file_says_what_it_enables(tmp_path: Path) -> None:
    path = tmp_path / "trailguard.toml"
    path.write_text(TUNED, encoding="utf-8")
    code, out, err = check(path)
    assert code == EXIT_CLEAN and err == ""
    [line] = out.splitlines()
    assert line.startswith(f"{path}: valid (")
    assert "ses channel 'email'" in line
    enabled, _, total = line.split("(")[1].split(" rules")[0].partition(" of ")
    assert 0 < int(enabled) < int(total), "the ec2.* rules are disabled"


def test_channel_options_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "trailguard.toml"
    path.write_text(TUNED.replace('sender = "alerts@example.com"', 'sender = "not an address"'), encoding="utf-8")
    code, out, err = check(path)
    assert code == EXIT_BAD_INPUT and out == ""
    [line] = err.splitlines()
    assert line.startswith("trailguard: error: ") and "channels entry 1" in line and "sender" in line


def test_settings_that_silence_alerting_warn_but_pass(tmp_path: Path) -> None:
    path = tmp_path / "trailguard.toml"
    path.write_text('disabled_rules = ["*"]\nallowed_cidrs = ["0.0.0.0/0"]\n', encoding="utf-8")
    code, out, err = check(path)
    assert code == EXIT_CLEAN and "valid (0 of" in out
    assert "every rule is disabled" in err and "0.0.0.0/0" in err


def test_the_shell_environment_is_not_the_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The file is what the stack deploys; a variable of this shell would not be in the function.
    monkeypatch.setenv("TRAILGUARD_MIN_SEVERITY", "urgent")
    path = tmp_path / "trailguard.toml"
    path.write_text(TUNED, encoding="utf-8")
    assert check(path)[0] == EXIT_CLEAN
