"""Settings layering (defaults < file < environment < arguments) and validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailguard.core.constants import DEFAULT_ADMIN_PORTS
from trailguard.core.enums import Severity
from trailguard.core.exceptions import ConfigError
from trailguard.core.settings import Settings

CONFIGS = Path(__file__).parent / "data" / "configs"


def test_defaults_without_any_layer() -> None:
    settings = Settings.load(env={})
    assert settings.allowed_ports == (80, 443)
    assert settings.admin_ports == DEFAULT_ADMIN_PORTS
    assert settings.trusted_accounts == ()
    assert settings.suppressions == ()
    assert settings.source == "defaults"


def test_config_file_sets_every_key() -> None:
    settings = Settings.load(CONFIGS / "good.toml", env={})
    assert settings.allowed_ports == (80, 443, 8443)
    assert settings.allowed_cidrs == ("10.0.0.0/8", "2001:db8::/32")
    assert settings.trusted_accounts == ("444455556666",)
    assert settings.admin_ports == ((22, 22), (3389, 3389), (5432, 5432), (9000, 9100))
    assert settings.disabled_rules == ("ec2.instance-launched",)
    assert settings.min_severity is Severity.LOW
    assert len(settings.suppressions) == 2
    assert settings.suppressions[1].rules == ("cloudtrail.*",)


def test_environment_overrides_file_and_arguments_override_environment() -> None:
    env = {"TRAILGUARD_ALLOWED_PORTS": "443, 8080", "TRAILGUARD_MIN_SEVERITY": "HIGH"}
    settings = Settings.load(CONFIGS / "good.toml", env=env)
    assert settings.allowed_ports == (443, 8080)
    assert settings.min_severity is Severity.HIGH
    assert settings.trusted_accounts == ("444455556666",), "keys not in the environment keep the file's value"
    assert Settings.load(CONFIGS / "good.toml", env=env, min_severity="critical").min_severity is Severity.CRITICAL
    assert "environment" in settings.source


def test_config_file_named_by_environment() -> None:
    settings = Settings.load(env={"TRAILGUARD_CONFIG": str(CONFIGS / "nested.toml")})
    assert settings.allowed_ports == (443,)


def test_suppressions_from_environment_json() -> None:
    value = json.dumps([{"principal": "arn:aws:iam::*:role/ci-*", "rules": ["cloudtrail.trail-*"]}])
    settings = Settings.load(env={"TRAILGUARD_SUPPRESSIONS": value})
    assert settings.suppressions[0].principal == "arn:aws:iam::*:role/ci-*"


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("bad_port.toml", r"bad_port.toml: allowed_ports: port 70000 is outside 0-65535"),
        ("bad_account.toml", r"trusted_accounts: 444455556666 is not a 12-digit AWS account id \(quote it"),
        ("unknown_key.toml", r"unknown key 'allowed_port'"),
        ("bad_toml.toml", r"bad_toml.toml is not valid TOML"),
        ("bad_suppression.toml", r"suppressions: entry 1 has no condition"),
        ("bad_rule.toml", r"disabled_rules: 'no.such-rule' matches no rule id"),
        ("bad_severity.toml", r"min_severity: unknown severity 'urgent'"),
        ("bad_cidr.toml", r"allowed_cidrs: '10.0.0.0/33' is not an IPv4 or IPv6 CIDR"),
    ],
)
def test_bad_config_file_names_key_and_problem(file_name: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Settings.load(CONFIGS / file_name, env={})


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(CONFIGS / "absent.toml", env={})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TRAILGUARD_ALLOWED_PORTS", "80,https", r"environment TRAILGUARD_ALLOWED_PORTS: 'https' is not a port"),
        ("TRAILGUARD_TRUSTED_ACCOUNTS", "12345", r"TRAILGUARD_TRUSTED_ACCOUNTS: '12345' is not a 12-digit"),
        ("TRAILGUARD_SUPPRESSIONS", "[{", r"TRAILGUARD_SUPPRESSIONS: not valid JSON"),
        ("TRAILGUARD_SUPPRESSIONS", '[{"principal": 3}]', r"entry 1: principal must be a string"),
        ("TRAILGUARD_SUPPRESSIONS", '[{"who": "x"}]', r"entry 1: unknown field 'who'"),
        ("TRAILGUARD_ADMIN_PORTS", "30-20", r"port range '30-20' runs backwards"),
        ("TRAILGUARD_SELF_DEPLOYER", "*", r"TRAILGUARD_SELF_DEPLOYER: '\*' is not an ARN glob"),
    ],
)
def test_bad_environment_value_names_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Settings.load(env={name: value})


def test_suppression_max_severity_is_parsed_and_checked() -> None:
    value = json.dumps([{"principal": "arn:aws:iam::*:role/ci", "max_severity": "low"}])
    assert Settings.load(env={"TRAILGUARD_SUPPRESSIONS": value}).suppressions[0].max_severity is Severity.LOW
    bad = json.dumps([{"principal": "arn:aws:iam::*:role/ci", "max_severity": "huge"}])
    with pytest.raises(ConfigError, match="entry 1: max_severity: unknown severity 'huge'"):
        Settings.load(env={"TRAILGUARD_SUPPRESSIONS": bad})


def test_self_protection_and_audit_log_group_settings() -> None:
    env = {
        "TRAILGUARD_SELF_RESOURCES": "arn:aws:sqs:eu-west-1:111122223333:trailguard-Queue-*, ,trailguard-smtp",
        "TRAILGUARD_SELF_DEPLOYER": "arn:aws:iam::111122223333:role/deploy-*",
        "TRAILGUARD_AUDIT_LOG_GROUPS": "security-audit/*",
    }
    context = Settings.load(env=env).rule_context()
    # The stack's empty entries (a resource it did not create) are ignored.
    assert context.self_resources == ("arn:aws:sqs:eu-west-1:111122223333:trailguard-Queue-*", "trailguard-smtp")
    assert context.is_self_resource("", "arn:aws:sqs:eu-west-1:111122223333:trailguard-Queue-8E8V0TFGNN6H")
    assert not context.is_self_resource("trailguard-smtp-staging")
    assert context.is_audit_log_group("Security-Audit/okta")  # any case
    assert not context.is_audit_log_group("aws-cloudtrail-logs-111122223333-4f1c9a2e")  # the list replaces the defaults
    defaults = Settings.load(env={}).rule_context()
    assert defaults.is_audit_log_group("CloudTrail/DefaultLogGroup")
    assert defaults.is_self_resource("arn:aws:lambda:eu-west-1:111122223333:function:AWS-Generic-Security-eu-west-1")
    assert defaults.self_deployer == ()
    with pytest.raises(ConfigError, match=r"argument: 3 is not a name or ARN glob"):
        Settings.load(env={}, self_resources=[3])
