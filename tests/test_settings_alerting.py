"""Settings that silently switch alerting off: warned about at start-up (stderr, the Lambda's log);
unknown TRAILGUARD_* variables are errors; ./trailguard.toml is found when no --config is given."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard import main as lambda_main
from trailguard.cli import main
from trailguard.core.base_handler import REGISTRY
from trailguard.core.exceptions import ConfigError
from trailguard.core.settings import Settings, alerting_warnings, known_environment
from trailguard.utils import logger

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# -- unknown environment variables -------------------------------------------------------------


def test_an_unknown_variable_is_an_error_with_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"environment TRAILGUARD_ALLOWED_PORT: unknown variable") as error:
        Settings.load(env={"TRAILGUARD_ALLOWED_PORT": "22"})
    assert "did you mean 'TRAILGUARD_ALLOWED_PORTS'" in str(error.value)


def test_variables_of_other_programs_are_not_ours() -> None:
    settings = Settings.load(env={"TRAILGUARDIAN": "x", "MY_TRAILGUARD_THING": "y", "AWS_REGION": "eu-west-1"})
    assert settings.source == "defaults"


def test_the_variables_read_outside_the_settings_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "x.toml"
    config.write_text("min_severity = 'LOW'\n", encoding="utf-8")
    settings = Settings.load(env={"TRAILGUARD_CONFIG": str(config), "TRAILGUARD_FUZZ_SCALE": "10"})
    assert settings.min_severity.name == "LOW"
    shortcut = Settings.load(
        env={"TRAILGUARD_SMTP_SECRET_ID": "s", "TRAILGUARD_SENDER": "a@example.com", "TRAILGUARD_RECIPIENTS": "b@x.io"}
    )
    assert shortcut.channels[0]["type"] == "smtp"


def names_in(path: Path) -> set[str]:
    return set(re.findall(r"\bTRAILGUARD_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))


def test_every_variable_the_stack_sets_is_known() -> None:
    set_by_stack = names_in(ROOT / "infra" / "template.yaml") | names_in(ROOT / "infra" / "forwarder.yaml")
    assert "TRAILGUARD_TABLE_NAME" in set_by_stack
    assert set_by_stack - set(known_environment()) == set()


def test_every_variable_the_code_and_tests_name_is_known() -> None:
    named: set[str] = set()
    for folder in ("src", "tests", "scripts", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            named |= names_in(path)
    named -= {"TRAILGUARD_ALLOWED_PORT", "TRAILGUARD_MIN_SEVERTY"}  # this file's typos, on purpose
    assert len(named) > 10
    assert named - set(known_environment()) == set()


def test_the_cli_stops_on_an_unknown_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_MIN_SEVERTY", "HIGH")
    code, out, err = run("scan", str(SAMPLES))
    assert code == 2
    assert out == ""
    assert err == (
        "trailguard: error: environment TRAILGUARD_MIN_SEVERTY: unknown variable (did you mean "
        "'TRAILGUARD_MIN_SEVERITY'?) (the README's configuration table lists them)\n"
    )


def test_a_misspelled_disabled_rule_gets_the_closest_id() -> None:
    expected = r"'s3.bucket-acl-publik' matches no rule id \(did you mean 's3.bucket-acl-public'"
    with pytest.raises(ConfigError, match=expected):
        Settings.load(env={}, disabled_rules=["s3.bucket-acl-publik"])


# -- warnings ------------------------------------------------------------------------------------


def warnings_for(**settings: Any) -> list[str]:
    return alerting_warnings(Settings.load(env={}, **settings))


def test_defaults_and_the_sample_configuration_warn_of_nothing() -> None:
    assert warnings_for() == []
    assert alerting_warnings(Settings.load(SAMPLES / "trailguard.toml", env={})) == []


def test_every_rule_disabled() -> None:
    (warning,) = warnings_for(disabled_rules=["*"])
    assert warning == "disabled_rules (argument): every rule is disabled, so nothing can alert"


def test_the_whole_internet_allowed(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text('allowed_cidrs = ["0.0.0.0/0"]\n', encoding="utf-8")
    (warning,) = alerting_warnings(Settings.load(config, env={}))
    assert warning.startswith(f"{config}: allowed_cidrs: 0.0.0.0/0 treats the whole internet as yours")
    # The classic way around a /0 check, IPv6 too, and a range broader than /8.
    assert "0.0.0.0/0 treats the whole" in warnings_for(allowed_cidrs=["0.0.0.0/1", "128.0.0.0/1"])[0]
    assert "::/0 treats the whole" in warnings_for(allowed_cidrs=["::/0"])[0]
    assert "a large part of the internet" in warnings_for(allowed_cidrs=["64.0.0.0/3"])[0]
    assert warnings_for(allowed_cidrs=["10.0.0.0/8", "192.168.0.0/16"]) == []


def test_a_min_severity_no_enabled_rule_reaches() -> None:
    top = REGISTRY.top_severities()
    low_rule = min(rule_id for rule_id, severity in top.items() if severity.name == "LOW")
    others = sorted(rule_id for rule_id in top if rule_id != low_rule)
    (warning,) = warnings_for(disabled_rules=others, min_severity="MEDIUM")
    assert warning == (
        "min_severity (argument): MEDIUM is above every enabled rule's highest severity (LOW), so nothing can alert"
    )
    assert warnings_for(disabled_rules=others, min_severity="LOW") == []
    assert warnings_for(min_severity="CRITICAL") == []  # CRITICAL rules are enabled


def test_the_top_severities_are_the_rules_own() -> None:
    # The manifest's copy (no rule module imported) agrees with the rules' metadata.
    top = REGISTRY.top_severities()
    for rule in REGISTRY.all():
        assert top[rule.id] == max((rule.severity, *rule.escalates_to)), rule.id


def test_channels_that_take_no_rule() -> None:
    folder = {"type": "folder", "name": "files", "path": "alerts"}
    assert REGISTRY.top_severities()["ec2.key-pair-added"].name == "LOW"  # what the first channel relies on
    nowhere = [
        {**folder, "rules": ["ec2.key-pair-added"], "min_severity": "HIGH"},
        {**folder, "name": "b", "rules": ["no.*"]},
    ]
    warnings = warnings_for(channels=nowhere)
    assert warnings == [
        "channels (argument): entry 1 (files): no enabled rule reaches it (min_severity HIGH, rules "
        "ec2.key-pair-added), so it never sends",
        "channels (argument): entry 2 (b): no enabled rule reaches it (min_severity INFO, rules no.*), "
        "so it never sends",
        "channels: no channel takes any rule's findings, so no alert is sent",
    ]
    # One channel that routes something: only the other is warned about.
    assert len(warnings_for(channels=[folder, nowhere[1]])) == 1


def test_quiet_periods_without_a_table() -> None:
    (warning,) = warnings_for(quiet_periods={"ec2.*": 600})
    assert warning.startswith("quiet_periods (argument): needs table_name")
    assert warnings_for(quiet_periods={"ec2.*": 600}, table_name="trailguard-state") == []


def test_the_cli_warns_on_stderr_and_still_scans(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text('allowed_cidrs = ["0.0.0.0/0"]\n', encoding="utf-8")
    code, _out, err = run("scan", str(SAMPLES), "--config", str(config), "--no-progress")
    assert code == 1
    assert err.splitlines()[0].startswith(f"trailguard: warning: {config}: allowed_cidrs: 0.0.0.0/0 treats the whole")


@pytest.fixture
def lambda_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    monkeypatch.setattr(logger, "stream", buffer)
    lambda_main.reset()
    yield buffer
    lambda_main.reset()


def test_the_lambda_logs_the_warnings_at_its_cold_start(
    monkeypatch: pytest.MonkeyPatch, lambda_logs: io.StringIO
) -> None:
    monkeypatch.setenv("TRAILGUARD_DISABLED_RULES", "*")
    lambda_main.container()
    lines = [json.loads(line) for line in lambda_logs.getvalue().splitlines()]
    warnings = [line for line in lines if line.get("outcome") == "config_warning"]
    assert [line["level"] for line in warnings] == ["WARNING"]
    assert warnings[0]["message"] == (
        "configuration: disabled_rules (environment TRAILGUARD_DISABLED_RULES): every rule is disabled, "
        "so nothing can alert"
    )


# -- [remediation] that turns on nothing ------------------------------------------------------------


def test_remediation_globs_that_match_no_action_warn(tmp_path: Path) -> None:
    from trailguard.services.remediation.runner import remediation_warnings

    def warned(**settings: Any) -> list[str]:
        return remediation_warnings(Settings.load(env={}, **settings))

    # guardduty.* has rules but no action; s3.* has actions; "off" asks for nothing.
    assert warned(remediation={"guardduty.*": "apply", "s3.*": "dry-run", "iam.*": "off"}) == [
        'remediation (argument): "guardduty.*" = "apply" does nothing: no rule it matches has a remediation '
        "action (docs/remediation.md lists them)"
    ]
    (warning,) = warned(remediation={"cloudtrail.*": "apply"}, disabled_rules=["cloudtrail.logging-stopped"])
    assert warning.endswith("its rules with an action (cloudtrail.logging-stopped) are disabled")
    assert warned(remediation={"cloudtrail.*": "apply"}) == []
    # `config check` says it on stderr and stays valid; `remediate` says it before planning.
    config = tmp_path / "t.toml"
    config.write_text('[remediation]\n"guardduty.*" = "apply"\n"s3.*" = "dry-run"\n', encoding="utf-8")
    code, out, err = run("config", "check", str(config))
    assert code == 0 and out.startswith(f"{config}: valid (")
    assert err == (
        f'trailguard: warning: configuration: {config}: remediation: "guardduty.*" = "apply" does nothing: '
        "no rule it matches has a remediation action (docs/remediation.md lists them)\n"
    )


def test_the_lambda_logs_a_remediation_entry_that_does_nothing(
    monkeypatch: pytest.MonkeyPatch, lambda_logs: io.StringIO
) -> None:
    monkeypatch.setenv("TRAILGUARD_REMEDIATION", json.dumps({"guardduty.*": "dry-run"}))
    lambda_main.container()
    lines = [json.loads(line) for line in lambda_logs.getvalue().splitlines()]
    (warning,) = [line["message"] for line in lines if line.get("outcome") == "config_warning"]
    assert warning.startswith(
        'configuration: remediation (environment TRAILGUARD_REMEDIATION): "guardduty.*" = "dry-run" does nothing'
    )


# -- ./trailguard.toml -----------------------------------------------------------------------------


def test_the_working_directorys_trailguard_toml_is_used_and_said(tmp_path: Path) -> None:
    (tmp_path / "trailguard.toml").write_text('min_severity = "CRITICAL"\n', encoding="utf-8")
    code, out, err = run("scan", str(SAMPLES), "--no-progress", "--format", "json")
    assert code == 1
    assert {finding["severity"] for finding in json.loads(out)} == {"CRITICAL"}
    assert err.splitlines()[-1].endswith("; settings from ./trailguard.toml (found in the working directory)")


def test_config_and_trailguard_config_win_over_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "trailguard.toml").write_text("not = 'valid for trailguard'\n", encoding="utf-8")
    named = tmp_path / "named.toml"
    named.write_text('min_severity = "HIGH"\n', encoding="utf-8")
    code, _out, err = run("scan", str(SAMPLES), "--no-progress", "--config", str(named))
    assert code == 1
    assert "settings from ./trailguard.toml" not in err
    monkeypatch.setenv("TRAILGUARD_CONFIG", str(named))
    code, _out, err = run("scan", str(SAMPLES), "--no-progress")
    assert code == 1, err
    # Without either, the file in the working directory is read, and its error names it.
    monkeypatch.delenv("TRAILGUARD_CONFIG")
    code, _out, err = run("rules")
    assert code == 2
    assert err.startswith("trailguard: error: trailguard.toml: unknown key 'not'")


def test_no_file_no_note() -> None:
    code, _out, err = run("scan", str(SAMPLES), "--no-progress")
    assert code == 1
    assert "settings from" not in err
