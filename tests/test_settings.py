"""Settings layering (defaults < file < environment < arguments), validation errors, the field table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from trailguard.core.constants import DEFAULT_ADMIN_PORTS
from trailguard.core.enums import Severity
from trailguard.core.exceptions import ConfigError
from trailguard.core.settings import FIELDS, Settings
from trailguard.services.channels import ChannelContext, build_channels

CONFIGS = Path(__file__).parent / "data" / "configs"
CUSTOM_RULES = Path(__file__).parent / "data" / "custom_rules" / "rules"


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
        ("bad_toml.toml", r"bad_toml.toml: not valid TOML"),
        ("bad_suppression.toml", r"suppressions: entry 1 has no condition"),
        ("bad_rule.toml", r"disabled_rules: 'no.such-rule' matches no rule id"),
        ("bad_severity.toml", r"min_severity: unknown severity 'urgent'"),
        ("bad_cidr.toml", r"allowed_cidrs: '10.0.0.0/33' is not an IPv4 or IPv6 CIDR"),
        ("bad_instance_type.toml", r"unusual_instance_types: 'p4d 24xlarge' is not an EC2 instance type or glob"),
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
        ("TRAILGUARD_REMEDIATION", '{"sg.*": "yes"}', r"TRAILGUARD_REMEDIATION: 'sg.\*': expected one of off, dry-run"),
        ("TRAILGUARD_REMEDIATION", '{"no.such-rule": "apply"}', r"'no.such-rule' matches no rule id"),
        ("TRAILGUARD_REMEDIATION", '["sg.*"]', r"TRAILGUARD_REMEDIATION: expected a table of rule-id glob"),
        ("TRAILGUARD_REMEDIATION_REGIONS", "eu-west-1,Europe", r"'Europe' is not an AWS region name"),
        ("TRAILGUARD_REMEDIATION_ACCOUNTS", "1234", r"'1234' is not a 12-digit AWS account id"),
        ("TRAILGUARD_REMEDIATION_EXEMPT_PRINCIPALS", "*", r"'\*' is not an ARN glob"),
        ("TRAILGUARD_REMEDIATION_MAX_PER_HOUR", "-1", r"expected a whole number from 0 to 1000, got '-1'"),
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


# -- the field table ---------------------------------------------------------------------------

# One value for every key, as TOML and as its environment variable: both must give the same setting.
SAMPLES: dict[str, tuple[str, str]] = {
    "allowed_ports": ("allowed_ports = [443, 8443]", "443, 8443"),
    "allowed_cidrs": ('allowed_cidrs = ["10.0.0.0/8"]', "10.0.0.0/8"),
    "trusted_accounts": ('trusted_accounts = ["444455556666"]', "444455556666"),
    "admin_ports": ('admin_ports = ["22", "9000-9100"]', "22,9000-9100"),
    "disabled_rules": ('disabled_rules = ["ec2.*", "iam.user-created"]', "ec2.*,iam.user-created"),
    "min_severity": ('min_severity = "high"', "HIGH"),
    "suppressions": (
        '[[suppressions]]\nprincipal = "arn:aws:iam::*:role/ci"\nrules = ["s3.*"]\nmax_severity = "low"',
        json.dumps([{"principal": "arn:aws:iam::*:role/ci", "rules": ["s3.*"], "max_severity": "low"}]),
    ),
    "channels": ('[[channels]]\ntype = "folder"\npath = "out"', json.dumps([{"type": "folder", "path": "out"}])),
    "max_individual_alerts": ("max_individual_alerts = 9", "9"),
    "table_name": ('table_name = "trailguard-state"', "trailguard-state"),
    "dedupe_ttl_days": ("dedupe_ttl_days = 7", "7"),
    "history_ttl_days": ("history_ttl_days = 30", "30"),
    "quiet_periods": (
        '[quiet_periods]\n"iam.*" = 60\n"s3.bucket-acl-public" = 0',
        '{"iam.*": 60, "s3.bucket-acl-public": 0}',
    ),
    # An absolute path: from a file, relative paths start from the file's directory, not from here.
    "rule_modules": (f"rule_modules = [{json.dumps(str(CUSTOM_RULES))}]", str(CUSTOM_RULES)),
    "unusual_instance_types": ('unusual_instance_types = ["x2iedn.*", "u-*"]', "x2iedn.*,u-*"),
    "admin_groups": ('admin_groups = ["Ops-BreakGlass", "*-root"]', "Ops-BreakGlass,*-root"),
    "audit_log_groups": ('audit_log_groups = ["security-audit/*"]', "security-audit/*"),
    "self_resources": ('self_resources = ["trailguard-smtp"]', "trailguard-smtp"),
    "self_deployer": (
        'self_deployer = ["arn:aws:iam::111122223333:role/deploy-*"]',
        "arn:aws:iam::111122223333:role/deploy-*",
    ),
    "learning_days": ("learning_days = 30", "30"),
    "thresholds": (
        '[thresholds."tamper.denied-attempt"]\ncount = 50\nwindow_seconds = 300',
        '{"tamper.denied-attempt": {"count": 50, "window_seconds": 300}}',
    ),
    "baseline_watch": (
        'baseline_watch = ["ec2.amazonaws.com:CreateImage", "ecs.amazonaws.com:RunTask"]',
        "ec2.amazonaws.com:CreateImage,ecs.amazonaws.com:RunTask",
    ),
    "remediation": (
        '[remediation]\n"sg.ingress-open-to-world" = "apply"\n"s3.*" = "dry-run"',
        '{"sg.ingress-open-to-world": "apply", "s3.*": "dry-run"}',
    ),
    "remediation_accounts": ('remediation_accounts = ["111122223333"]', "111122223333"),
    "remediation_regions": ('remediation_regions = ["eu-west-1", "us-east-1"]', "eu-west-1,us-east-1"),
    "remediation_exempt_principals": (
        'remediation_exempt_principals = ["arn:aws:iam::111122223333:role/deploy-*"]',
        "arn:aws:iam::111122223333:role/deploy-*",
    ),
    "remediation_max_per_hour": ("remediation_max_per_hour = 3", "3"),
}


def test_every_setting_has_one_entry_in_the_field_table() -> None:
    assert [field.name for field in FIELDS] == [name for name in Settings._fields if name not in ("source", "origins")]
    assert set(SAMPLES) == {field.name for field in FIELDS}


@pytest.mark.usefixtures("no_custom_rules")
def test_every_key_reads_the_same_from_toml_and_from_its_environment_variable(tmp_path: Path) -> None:
    # Plain keys first: a TOML table ([[suppressions]]) holds every key written after it.
    lines = sorted((toml for toml, _env in SAMPLES.values()), key=lambda text: text.startswith("["))
    config = tmp_path / "every-key.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_toml = Settings.load(config, env={})
    from_env = Settings.load(env={field.env: SAMPLES[field.name][1] for field in FIELDS})
    for field in FIELDS:
        assert getattr(from_toml, field.name) == getattr(from_env, field.name), field.name
        assert getattr(from_toml, field.name) != getattr(Settings(), field.name), f"{field.name}: sample is the default"
        assert from_toml.origin(field.name) == f"{config}: {field.name}"
        assert from_env.origin(field.name) == f"environment {field.env}"
    assert Settings().origin("channels") == ""


def test_the_documented_defaults_are_the_defaults() -> None:
    for field in FIELDS:
        default = Settings._field_defaults[field.name]
        if field.default.startswith("none"):
            assert not default, field.name
        elif "core/constants.py " in field.default:
            # A list too long for the table: named by its constant, which must be the default.
            from trailguard.core import constants

            name = field.default.rsplit(" ", 1)[1].strip("`")
            assert field.parse(list(getattr(constants, name))) == default, field.name
            assert str(len(default)) in field.default, field.name
        elif field.default.startswith("`"):
            text = field.default.strip("`")
            try:
                value = tomllib.loads(f"value = {text}")["value"]
            except tomllib.TOMLDecodeError:
                value = text  # a bare word, such as a severity
            assert field.parse(value) == default, field.name
        else:
            assert field.parse(field.default) == default, field.name  # a list as the environment writes it


def test_channel_tables_are_data_until_the_channels_are_built(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text('[[channels]]\ntype = "smtp"\nsender = "a@example.com"\n', encoding="utf-8")
    settings = Settings.load(config, env={})
    assert settings.channels == ({"type": "smtp", "sender": "a@example.com"},)
    expected = f"{config}: channels: channels entry 1: recipients: is required"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        build_channels(settings.channels, ChannelContext(), settings.origin("channels"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"type": "smtp"}', r"environment TRAILGUARD_CHANNELS: expected a list of tables"),
        ('[{"type": "folder", "path": "x"}, 3]', r"TRAILGUARD_CHANNELS: channels entry 2: expected a table, got int"),
    ],
)
def test_channels_that_are_not_a_list_of_tables_stop_loading(value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Settings.load(env={"TRAILGUARD_CHANNELS": value})


def test_rule_globs_accept_rules_registered_before_the_settings_load() -> None:
    script = textwrap.dedent(
        """
        from trailguard.core.base_handler import rule
        from trailguard.core.enums import Severity
        from trailguard.core.exceptions import ConfigError
        from trailguard.core.settings import Settings

        env = {"TRAILGUARD_DISABLED_RULES": "custom.*"}
        try:
            Settings.load(env=env)
        except ConfigError as exc:
            print(exc)

        @rule(id="custom.bucket-tagged", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},
              title="t", description="d.", remediation="r")
        def bucket_tagged(event, ctx):
            yield from ()

        print(Settings.load(env=env).disabled_rules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == [
        "environment TRAILGUARD_DISABLED_RULES: 'custom.*' matches no rule id (see `trailguard rules`)",
        "('custom.*',)",
    ]


def test_admin_groups_default_environment_and_bad_values() -> None:
    context = Settings.load(env={}).rule_context()
    assert context.is_admin_group("PlatformAdmins") and context.is_admin_group("ADMINISTRATORS")
    assert not context.is_admin_group("developers")
    settings = Settings.load(env={"TRAILGUARD_ADMIN_GROUPS": "Ops-BreakGlass, *-root"})
    assert settings.admin_groups == ("Ops-BreakGlass", "*-root")
    context = settings.rule_context()
    assert context.is_admin_group("ops-breakglass") and context.is_admin_group("Team-Root")
    assert not context.is_admin_group("Admins"), "a configured list replaces the default"
    assert not Settings.load(env={"TRAILGUARD_ADMIN_GROUPS": ""}).rule_context().is_admin_group("Admins")
    with pytest.raises(ConfigError, match=r"argument: 3 is not a name or glob"):
        Settings.load(env={}, admin_groups=["Admins", 3])


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
    with pytest.raises(ConfigError, match=r"argument: 3 is not a name or glob"):
        Settings.load(env={}, self_resources=[3])


def test_thresholds_name_the_rule_and_the_threshold_that_is_wrong() -> None:
    settings = Settings.load(env={"TRAILGUARD_THRESHOLDS": '{"tamper.denied-attempt": {"count": 50}}'})
    context = settings.rule_context()
    assert context.threshold("tamper.denied-attempt", "count", 20) == 50
    assert context.threshold("tamper.denied-attempt", "window_seconds", 600) == 600, (
        "what is not given keeps its default"
    )
    for value, expected in (
        ('{"no.such-rule": {"count": 5}}', "'no.such-rule' matches no rule id"),
        ('{"tamper.denied-attempt": {"cuont": 5}}', "unknown threshold 'cuont'"),
        ('{"tamper.denied-attempt": {"count": 0}}', "count: expected a whole number from 1"),
        ('{"tamper.denied-attempt": 5}', "expected a table of count, distinct, window_seconds"),
    ):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            Settings.load(env={"TRAILGUARD_THRESHOLDS": value})
    with pytest.raises(ConfigError, match="TRAILGUARD_LEARNING_DAYS: expected a whole number of days from 0 to 365"):
        Settings.load(env={"TRAILGUARD_LEARNING_DAYS": "400"})


def test_baseline_watch_takes_event_sources_and_names() -> None:
    from trailguard.core.constants import DEFAULT_BASELINE_WATCH

    assert len(DEFAULT_BASELINE_WATCH) >= 50
    assert Settings().rule_context().baseline_watch == frozenset(DEFAULT_BASELINE_WATCH)
    settings = Settings.load(env={"TRAILGUARD_BASELINE_WATCH": "ecs.amazonaws.com:RunTask, ecs.amazonaws.com:RunTask"})
    assert settings.baseline_watch == ("ecs.amazonaws.com:RunTask",)
    for value in ("RunTask", "ecs:RunTask", "ecs.amazonaws.com:", "ecs.amazonaws.com:Run Task"):
        with pytest.raises(ConfigError, match=r"TRAILGUARD_BASELINE_WATCH: .* is not an event source and name"):
            Settings.load(env={"TRAILGUARD_BASELINE_WATCH": value})
