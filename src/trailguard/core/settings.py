"""Settings: defaults < TOML config file < environment variables (``TRAILGUARD_*``) < explicit args.

Loading validates everything up front and raises ``ConfigError`` naming the key, where it came
from and what is wrong, so a bad value stops the run before any event is processed. Channel tables
are the exception: they stay plain data here, and the channels package validates their options
when it builds the channels (``Settings.origin`` says where they came from, for its errors).
Nothing here does I/O at import time.

``FIELDS`` is the one list of keys: TOML parsing, the environment variables and the README's
configuration table (`make generated`) all come from it.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.aws_ids import ACCOUNT_ID, DYNAMODB_TABLE_NAME, INSTANCE_TYPE_GLOB, REGION
from trailguard.core.base_handler import REGISTRY, PortRange, RuleContext
from trailguard.core.constants import (
    DEFAULT_ADMIN_GROUPS,
    DEFAULT_ADMIN_PORTS,
    DEFAULT_ALLOWED_CIDRS,
    DEFAULT_ALLOWED_PORTS,
    DEFAULT_AUDIT_LOG_GROUPS,
    DEFAULT_BASELINE_WATCH,
    DEFAULT_SELF_RESOURCES,
    DEFAULT_TRUSTED_ACCOUNTS,
)
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ConfigError

if TYPE_CHECKING:
    import ipaddress

ENV_PREFIX = "TRAILGUARD_"
CONFIG_ENV = "TRAILGUARD_CONFIG"

# Imports users' rule modules (rule_modules): (entries, the directory relative paths start from) ->
# the entries resolved. Installed by trailguard.custom_rules: core never runs a user's file itself.
rule_module_loader: Callable[[Sequence[str], str], tuple[str, ...]] | None = None

SUPPRESSION_FIELDS = ("rules", "principal", "account", "region", "user_agent", "resource", "max_severity", "reason")


# NamedTuples, not dataclasses, and json/pathlib/ipaddress imported where used: the Lambda's cold
# start pays for every module imported here.


class Suppression(NamedTuple):
    """Drops findings that match every field given (globs; ``rules`` is a list of rule-id globs;
    ``max_severity`` limits it to findings at or below a severity, so that an unusual event from a
    routine source still alerts).

    A user agent is chosen by the caller, so a suppression by user agent alone can be spoofed;
    pair it with a principal.
    """

    rules: tuple[str, ...] = ()
    principal: str = ""
    account: str = ""
    region: str = ""
    user_agent: str = ""
    resource: str = ""
    max_severity: Severity | None = None
    reason: str = ""

    def matches(self, finding: Finding) -> bool:
        if self.max_severity is not None and finding.severity > self.max_severity:
            return False
        if self.rules and not any(fnmatch.fnmatchcase(finding.rule_id, pattern) for pattern in self.rules):
            return False
        checks = (
            (self.principal, (finding.actor.principal_arn, finding.actor.arn), False),
            (self.account, (finding.account_id,), False),
            (self.region, (finding.region,), False),
            (self.user_agent, (finding.user_agent,), True),
            (self.resource, (finding.resource.id, finding.resource.arn), False),
        )
        for pattern, values, fold_case in checks:
            if not pattern:
                continue
            if fold_case:
                if not any(fnmatch.fnmatchcase(v.lower(), pattern.lower()) for v in values if v):
                    return False
            elif not any(fnmatch.fnmatchcase(v, pattern) for v in values if v):
                return False
        return True


class Settings(NamedTuple):
    """Everything configurable. See the README's configuration table for each key."""

    allowed_ports: tuple[int, ...] = DEFAULT_ALLOWED_PORTS
    allowed_cidrs: tuple[str, ...] = DEFAULT_ALLOWED_CIDRS
    trusted_accounts: tuple[str, ...] = DEFAULT_TRUSTED_ACCOUNTS
    admin_ports: tuple[PortRange, ...] = DEFAULT_ADMIN_PORTS
    disabled_rules: tuple[str, ...] = ()
    min_severity: Severity = Severity.INFO
    suppressions: tuple[Suppression, ...] = ()
    # Delivery: one table per channel, validated by services/channels when it builds them.
    channels: tuple[Mapping[str, Any], ...] = ()
    max_individual_alerts: int = 5
    # The Lambda's DynamoDB table (idempotency, findings history, quiet periods); empty: all off.
    table_name: str = ""
    dedupe_ttl_days: int = 14
    history_ttl_days: int = 90
    # (rule-id glob, seconds), in the order given; see quiet_period_for in services/stores.
    quiet_periods: tuple[tuple[str, int], ...] = ()
    # Users' own rule modules, resolved (see trailguard.custom_rules); imported as settings load.
    rule_modules: tuple[str, ...] = ()
    # Instance types (globs) that ec2.unusual-instance-type reports besides the GPU families.
    unusual_instance_types: tuple[str, ...] = ()
    # IAM group names (globs, any case) whose members are administrators: iam.admin-group-membership.
    admin_groups: tuple[str, ...] = DEFAULT_ADMIN_GROUPS
    # Log groups whose deletion is HIGH (globs, any case); trailguard's own resources and deployer.
    audit_log_groups: tuple[str, ...] = DEFAULT_AUDIT_LOG_GROUPS
    self_resources: tuple[str, ...] = DEFAULT_SELF_RESOURCES
    self_deployer: tuple[str, ...] = ()
    # Stateful rules: how long a principal's baseline learns before it alerts, and their thresholds.
    learning_days: int = 14
    thresholds: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    # "eventSource:eventName" calls whose first use by a principal baseline.new-sensitive-call reports.
    baseline_watch: tuple[str, ...] = DEFAULT_BASELINE_WATCH
    # Auto-remediation (services/remediation): (rule-id glob, off | dry-run | apply), and its safeguards.
    remediation: tuple[tuple[str, str], ...] = ()
    remediation_accounts: tuple[str, ...] = ()
    remediation_regions: tuple[str, ...] = ()
    remediation_exempt_principals: tuple[str, ...] = ()
    remediation_max_per_hour: int = 10
    source: str = "defaults"
    # (key, where its value came from) for every key not left at its default.
    origins: tuple[tuple[str, str], ...] = ()

    def rule_context(self) -> RuleContext:
        networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
        if self.allowed_cidrs:
            import ipaddress

            networks = tuple(ipaddress.ip_network(c, strict=False) for c in self.allowed_cidrs)
        return RuleContext(
            allowed_ports=frozenset(self.allowed_ports),
            allowed_cidrs=networks,
            trusted_accounts=frozenset(self.trusted_accounts),
            admin_ports=self.admin_ports,
            unusual_instance_types=self.unusual_instance_types,
            admin_groups=tuple(pattern.lower() for pattern in self.admin_groups),
            audit_log_groups=self.audit_log_groups,
            self_resources=self.self_resources,
            self_deployer=self.self_deployer,
            learning_days=self.learning_days,
            thresholds={rule_id: dict(values) for rule_id, values in self.thresholds},
            baseline_watch=frozenset(self.baseline_watch),
        )

    def is_suppressed(self, finding: Finding) -> bool:
        return any(s.matches(finding) for s in self.suppressions)

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from, as errors name it (``trailguard.toml: channels``,
        ``environment TRAILGUARD_CHANNELS``); empty when it has its default."""
        return dict(self.origins).get(key, "")

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from every layer; ``TRAILGUARD_CONFIG`` names a file when none is given.

        The file may also be ``ssm:/parameter-name`` or ``s3://bucket/key`` (the Lambda's TOML, which
        the 4 KB limit of a function's environment would not hold), read once per call."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        sources = ["defaults"]
        path = config_file or environ.get(CONFIG_ENV) or None
        file_values: dict[str, tuple[Any, str]] = {}
        if path:
            file_values = _read_config_file(os.fspath(path))
            values.update(file_values)
            sources.append(str(path))
        env_values = _read_environment(environ)
        if env_values:
            values.update(env_values)
            sources.append("environment")
        for key, value in overrides.items():
            if value is not None:
                values[key] = (value, "argument")
        parsed: dict[str, Any] = {}
        origins = tuple((key, where) for key, (_raw, where) in values.items())
        if "rule_modules" in values:  # first: the rule-id globs of the other keys may name custom rules
            raw, where = entry = values.pop("rule_modules")
            # Relative paths start from the config file's directory, or (environment) from here.
            from_file = path and entry is file_values.get("rule_modules")
            # os.path, not pathlib: importing pathlib costs the Lambda's cold start more than this.
            local = from_file and path and not is_remote_config(os.fspath(path))
            base = os.path.dirname(os.fspath(path)) if local and path else ""  # noqa: PTH120
            parsed["rule_modules"] = _load_rule_modules(raw, where, base)
        parsed.update((key, _parse_key(key, raw, where)) for key, (raw, where) in values.items())
        return cls(**parsed, source=" < ".join(sources), origins=origins)


# ----------------------------------------------------------------------------------------------
# Settings that are valid but switch alerting off: warned about at start-up (CLI and Lambda).
# ----------------------------------------------------------------------------------------------

# Broader than this, an "allowed" network is much of the internet (as RuleContext.is_world_like).
WORLD_LIKE_ALLOWED_PREFIX = 8


def alerting_warnings(settings: Settings) -> list[str]:
    """What in ``settings`` silences alerts a user would expect: every rule disabled, the internet
    allowed, a ``min_severity`` no enabled rule reaches, channels that take no rule's findings,
    quiet periods without the table that keeps them. Rule severities come from the manifest, so
    the Lambda imports no rule module to say this at its cold start."""
    found: list[str] = []
    top = REGISTRY.top_severities()
    enabled = {
        rule_id: severity
        for rule_id, severity in top.items()
        if not any(fnmatch.fnmatchcase(rule_id, glob) for glob in settings.disabled_rules)
    }
    if not enabled:
        found.append(f"{named_key(settings, 'disabled_rules')}: every rule is disabled, so nothing can alert")
    for cidr in _world_like(settings.allowed_cidrs):
        found.append(
            f"{named_key(settings, 'allowed_cidrs')}: {cidr} treats "
            f"{'the whole' if cidr.endswith('/0') else 'a large part of the'} internet as yours, so security "
            "groups and policies open to it are not reported"
        )
    highest = max(enabled.values(), default=None)
    if highest is not None and settings.min_severity > highest:
        found.append(
            f"{named_key(settings, 'min_severity')}: {settings.min_severity.name} is above every "
            f"enabled rule's highest severity ({highest.name}), so nothing can alert"
        )
    routed = 0
    for index, table in enumerate(settings.channels, start=1):
        floor = max(settings.min_severity, _lenient_severity(table.get("min_severity")))
        globs = _lenient_globs(table.get("rules"))
        if any(
            severity >= floor and (not globs or any(fnmatch.fnmatchcase(rule_id, glob) for glob in globs))
            for rule_id, severity in enabled.items()
        ):
            routed += 1
            continue
        name = table.get("name") or table.get("type") or "?"
        found.append(
            f"{named_key(settings, 'channels')}: entry {index} ({name!s}): no enabled rule "
            f"reaches it (min_severity {floor.name}{', rules ' + ', '.join(globs) if globs else ''}), so it never sends"
        )
    if settings.channels and not routed:
        found.append("channels: no channel takes any rule's findings, so no alert is sent")
    if settings.quiet_periods and not settings.table_name:
        found.append(
            f"{named_key(settings, 'quiet_periods')}: needs table_name (the DynamoDB table that "
            "remembers the last alert), so every repeat is sent"
        )
    return found


def _world_like(cidrs: Sequence[str]) -> list[str]:
    if not cidrs:
        return []
    import ipaddress

    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    # Collapsed first: 0.0.0.0/1 and 128.0.0.0/1 are the whole internet too.
    v4 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    wide = [str(n) for n in v4 if n.prefixlen < WORLD_LIKE_ALLOWED_PREFIX]
    return wide + [str(n) for n in v6 if n.prefixlen < WORLD_LIKE_ALLOWED_PREFIX]


def named_key(settings: Settings, key: str) -> str:
    """A key as a warning names it, with where its value came from."""
    origin = settings.origin(key)
    if not origin or origin.endswith(f": {key}"):
        return origin or key
    return f"{key} ({origin})"


def _lenient_severity(raw: Any) -> Severity:
    # Channel tables are validated when the channels are built; a bad value here warns nothing.
    try:
        return Severity.parse(raw) if raw is not None else Severity.INFO
    except ValueError:
        return Severity.INFO


def _lenient_globs(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple):
        return ()
    return tuple(str(glob).strip() for glob in raw if str(glob).strip())


# ----------------------------------------------------------------------------------------------
# Parsing and validation. Every value arrives as (raw value, where it came from).
# ----------------------------------------------------------------------------------------------

# The architecture's simple set-up: SES SMTP email from three variables, without a channels table.
EMAIL_SHORTCUT = {
    "TRAILGUARD_SMTP_SECRET_ID": "secret_id",
    "TRAILGUARD_SENDER": "sender",
    "TRAILGUARD_RECIPIENTS": "recipients",
}


def is_remote_config(source: str) -> bool:
    """Does ``source`` name an SSM parameter (``ssm:/name``) or an S3 object (``s3://bucket/key``)?"""
    return source.startswith(("ssm:", "s3://"))


def _read_config_file(path: str) -> dict[str, tuple[Any, str]]:
    import tomllib

    if is_remote_config(path):
        # The Lambda's case: boto3 is imported only here, so a local file keeps the cold start light.
        from trailguard.utils.aws_helpers import read_remote_text

        text = read_remote_text(path)
    else:
        try:
            # open(), not pathlib: importing pathlib costs the Lambda's cold start more than the read.
            with open(path, "rb") as file:  # noqa: PTH123
                text = file.read().decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    # A [trailguard] table is accepted so the settings can live in a shared file.
    if set(document) == {"trailguard"} and isinstance(document["trailguard"], dict):
        document = document["trailguard"]
    result: dict[str, tuple[Any, str]] = {}
    for key, value in document.items():
        if key not in _FIELDS_BY_NAME:
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {', '.join(_FIELDS_BY_NAME)})")
        result[key] = (value, f"{path}: {key}")
    return result


# TRAILGUARD_* variables that are not settings, read where named: accepted by the check below.
ENV_READ_ELSEWHERE = {
    CONFIG_ENV: "the configuration file (Settings.load)",
    "TRAILGUARD_FUZZ_SCALE": "the property tests' examples (tests/fuzz_strategies.py, make fuzz)",
    "TRAILGUARD_REPLAY": "where an S3 Batch Operations replay's findings go (s3_ingest.replay_mode, docs/replay.md)",
}


def known_environment() -> tuple[str, ...]:
    """Every TRAILGUARD_* variable trailguard reads: the settings', the email shortcut's, the others'."""
    return (*(field.env for field in FIELDS), *EMAIL_SHORTCUT, *ENV_READ_ELSEWHERE)


def _check_environment(environ: Mapping[str, str]) -> None:
    """An unknown TRAILGUARD_* variable is an error, as an unknown TOML key is: a typo must not
    leave a setting at its default unseen."""
    known = known_environment()
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            from trailguard.utils.text import did_you_mean

            raise ConfigError(
                f"environment {name}: unknown variable{did_you_mean(name, known)} "
                "(the README's configuration table lists them)"
            )


def _read_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    _check_environment(environ)
    result: dict[str, tuple[Any, str]] = {}
    for field in FIELDS:
        if field.env in environ:
            raw: Any = environ[field.env]
            if field.json:
                import json

                try:
                    raw = json.loads(raw)
                except ValueError as exc:
                    raise ConfigError(f"environment {field.env}: not valid JSON ({exc})") from None
            result[field.name] = (raw, f"environment {field.env}")
    shortcut = {option: environ[variable] for variable, option in EMAIL_SHORTCUT.items() if environ.get(variable)}
    if shortcut and "channels" not in result:
        result["channels"] = (
            [{"type": "smtp", "name": "email", **shortcut}],
            "environment " + ", ".join(v for v in EMAIL_SHORTCUT if environ.get(v)),
        )
    return result


def _parse_key(key: str, raw: Any, where: str) -> Any:
    parser = _FIELDS_BY_NAME[key].parse
    try:
        return parser(raw)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _split(raw: Any) -> list[Any]:
    """Lists come as TOML arrays or as comma-separated strings in the environment."""
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list | tuple):
        return list(raw)
    raise ConfigError(f"expected a list, got {type(raw).__name__} {raw!r}")


def _port(value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{value!r} is not a port number")
    try:
        port = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is outside 0-65535")
    return port


def _parse_ports(raw: Any) -> tuple[int, ...]:
    return tuple(sorted({_port(value) for value in _split(raw)}))


def _parse_port_ranges(raw: Any) -> tuple[PortRange, ...]:
    ranges: list[PortRange] = []
    for value in _split(raw):
        text = str(value).strip()
        if "-" in text.lstrip("-"):
            low_text, high_text = text.split("-", 1)
            low, high = _port(low_text), _port(high_text)
            if low > high:
                raise ConfigError(f"port range {text!r} runs backwards")
        else:
            low = high = _port(value)
        ranges.append((low, high))
    return tuple(ranges)


def _parse_cidrs(raw: Any) -> tuple[str, ...]:
    import ipaddress

    cidrs = []
    for value in _split(raw):
        try:
            cidrs.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{value!r} is not an IPv4 or IPv6 CIDR") from None
    return tuple(cidrs)


def _parse_accounts(raw: Any) -> tuple[str, ...]:
    accounts = []
    for value in _split(raw):
        text = value.strip() if isinstance(value, str) else ""
        if not ACCOUNT_ID.fullmatch(text):
            raise ConfigError(f"{value!r} is not a 12-digit AWS account id (quote it in TOML)")
        accounts.append(text)
    return tuple(accounts)


def _parse_rule_ids(raw: Any) -> tuple[str, ...]:
    # Checked against the ids the registry knows without importing a rule module (the manifest's,
    # and rules registered so far): importing them all would cost the Lambda's cold start.
    ids = []
    for value in _split(raw):
        text = str(value).strip()
        problem = rule_glob_problem(text)
        if problem:
            raise ConfigError(problem)
        ids.append(text)
    return tuple(ids)


def rule_glob_problem(pattern: str) -> str:
    """Why a rule-id glob is wrong (it matches no rule, with the closest id), or '' when it matches.

    The one check behind every place a rule id is given: settings, ``--rule``, ``send-test``."""
    known = REGISTRY.known_ids()
    if any(fnmatch.fnmatchcase(rule_id, pattern) for rule_id in known):
        return ""
    from trailguard.utils.text import did_you_mean

    return f"{pattern!r} matches no rule id{did_you_mean(pattern, sorted(known))} (see `trailguard rules`)"


def _parse_severity(raw: Any) -> Severity:
    try:
        return Severity.parse(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _parse_suppressions(raw: Any) -> tuple[Suppression, ...]:
    if not isinstance(raw, list):
        raise ConfigError("expected a list of tables ([[suppressions]] in TOML, a JSON array in the environment)")
    result = []
    for index, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"entry {index} is not a table")
        unknown = set(entry) - set(SUPPRESSION_FIELDS)
        if unknown:
            raise ConfigError(
                f"entry {index}: unknown field {sorted(unknown)[0]!r} (known: {', '.join(SUPPRESSION_FIELDS)})"
            )
        fields: dict[str, Any] = {}
        for name, value in entry.items():
            if name == "rules":
                try:
                    fields[name] = _parse_rule_ids(value)
                except ConfigError as exc:
                    raise ConfigError(f"entry {index}: rules: {exc}") from None
            elif name == "max_severity":
                try:
                    fields[name] = _parse_severity(value)
                except ConfigError as exc:
                    raise ConfigError(f"entry {index}: max_severity: {exc}") from None
            elif isinstance(value, str):
                fields[name] = value
            else:
                raise ConfigError(f"entry {index}: {name} must be a string, got {value!r}")
        if not any(fields.get(name) for name in SUPPRESSION_FIELDS if name != "reason"):
            raise ConfigError(f"entry {index} has no condition, so it would suppress everything")
        result.append(Suppression(**fields))
    return tuple(result)


def _parse_channels(raw: Any) -> tuple[Mapping[str, Any], ...]:
    """Only the shape: the channels package checks each table's options when it builds the channels."""
    if not isinstance(raw, list):
        raise ConfigError("expected a list of tables ([[channels]] in TOML, a JSON array in the environment)")
    for index, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"channels entry {index}: expected a table, got {type(entry).__name__}")
    return tuple(dict(entry) for entry in raw)


def _parse_max_individual(raw: Any) -> int:
    try:
        value = int(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ConfigError(f"expected a whole number from 0 to 1000, got {raw!r}")
    return value


MAX_TTL_DAYS = 3650
MAX_QUIET_SECONDS = 30 * 24 * 3600


def _parse_table_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"expected a DynamoDB table name, got {raw!r}")
    name = raw.strip()
    if name and not DYNAMODB_TABLE_NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    return name


def _parse_days(raw: Any) -> int:
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_DAYS:
        raise ConfigError(f"expected a whole number of days from 1 to {MAX_TTL_DAYS}, got {raw!r}")
    return value


def _parse_quiet_periods(raw: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(
            "expected a table of rule-id glob = seconds ([quiet_periods] in TOML, a JSON object in the environment)"
        )
    periods = []
    for pattern, seconds in raw.items():
        (glob,) = _parse_rule_ids([pattern])  # its error names the glob
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_QUIET_SECONDS:
            raise ConfigError(
                f"{pattern!r}: expected a whole number of seconds from 0 to {MAX_QUIET_SECONDS}, got {seconds!r}"
            )
        periods.append((glob, seconds))
    return tuple(periods)


def _rule_module_entries(raw: Any) -> tuple[str, ...]:
    """The entries of ``rule_modules`` as given (``Settings.load`` then imports them)."""
    entries = []
    for value in _split(raw):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"expected a module path, a .py file or a directory, got {value!r}")
        entries.append(value.strip())
    return tuple(entries)


def _load_rule_modules(raw: Any, where: str, base: str) -> tuple[str, ...]:
    try:
        entries = _rule_module_entries(raw)
        if not entries:
            return ()
        if rule_module_loader is None:  # pragma: no cover - importing trailguard installs it
            raise ConfigError("no loader for rule modules is installed (import trailguard.custom_rules)")
        return rule_module_loader(entries, base)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_instance_types(raw: Any) -> tuple[str, ...]:
    types = []
    for value in _split(raw):
        text = value.strip().lower() if isinstance(value, str) else ""
        if not INSTANCE_TYPE_GLOB.fullmatch(text):
            raise ConfigError(f"{value!r} is not an EC2 instance type or glob (such as 'x2iedn.*')")
        types.append(text)
    return tuple(types)


# Names and ARNs are far shorter; the bound keeps a mistaken value from becoming a huge glob.
MAX_NAME_GLOB_LENGTH = 2048


def _parse_name_globs(raw: Any) -> tuple[str, ...]:
    globs = []
    for value in _split(raw):
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > MAX_NAME_GLOB_LENGTH:
            raise ConfigError(f"{value!r} is not a name or glob (a non-empty string of at most {MAX_NAME_GLOB_LENGTH})")
        globs.append(text)
    return tuple(globs)


def _parse_principal_globs(raw: Any) -> tuple[str, ...]:
    globs = _parse_name_globs(raw)
    for glob in globs:
        # An ARN, not a bare "*": a glob that matched every caller would turn the rule off unseen.
        if not glob.startswith("arn:"):
            raise ConfigError(f"{glob!r} is not an ARN glob such as arn:aws:iam::111122223333:role/deploy-*")
    return globs


WATCHED_SOURCE = re.compile(r"[a-z0-9][a-z0-9.-]{0,80}\.amazonaws\.com", re.ASCII)
WATCHED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}", re.ASCII)
THRESHOLD_NAMES = ("count", "distinct", "window_seconds")
MAX_THRESHOLD = 10**9


def _parse_learning_days(raw: Any) -> int:
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
        raise ConfigError(f"expected a whole number of days from 0 to 365, got {raw!r}")
    return value


def _parse_thresholds(raw: Any) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(
            'expected a table of rule id = {count, distinct, window_seconds} ([thresholds."burst.secrets-read"] in '
            "TOML, a JSON object in the environment)"
        )
    result = []
    for rule_id, values in raw.items():
        (checked,) = _parse_rule_ids([rule_id])  # its error names the id
        if not isinstance(values, dict) or not values:
            raise ConfigError(f"{rule_id!r}: expected a table of {', '.join(THRESHOLD_NAMES)}, got {values!r}")
        pairs = []
        for name, value in values.items():
            if name not in THRESHOLD_NAMES:
                raise ConfigError(f"{rule_id!r}: unknown threshold {name!r} (known: {', '.join(THRESHOLD_NAMES)})")
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THRESHOLD:
                raise ConfigError(
                    f"{rule_id!r}: {name}: expected a whole number from 1 to {MAX_THRESHOLD}, got {value!r}"
                )
            pairs.append((name, value))
        result.append((checked, tuple(pairs)))
    return tuple(result)


def _parse_watched_calls(raw: Any) -> tuple[str, ...]:
    calls = []
    for value in _split(raw):
        text = value.strip() if isinstance(value, str) else ""
        source, colon, name = text.partition(":")
        if not (colon and WATCHED_SOURCE.fullmatch(source) and WATCHED_NAME.fullmatch(name)):
            raise ConfigError(
                f"{value!r} is not an event source and name such as 'ec2.amazonaws.com:CreateImage' "
                "(eventSource:eventName, as CloudTrail logs them)"
            )
        calls.append(f"{source}:{name}")
    return tuple(dict.fromkeys(calls))


REMEDIATION_MODES = ("off", "dry-run", "apply")
MAX_REMEDIATIONS_PER_HOUR = 1000


def _parse_remediation(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(
            'expected a table of rule-id glob = "off" | "dry-run" | "apply" ([remediation] in TOML, a JSON object '
            "in the environment)"
        )
    modes = []
    for pattern, mode in raw.items():
        (glob,) = _parse_rule_ids([pattern])  # its error names the glob
        if not isinstance(mode, str) or mode.strip().lower() not in REMEDIATION_MODES:
            raise ConfigError(f"{pattern!r}: expected one of {', '.join(REMEDIATION_MODES)}, got {mode!r}")
        modes.append((glob, mode.strip().lower()))
    return tuple(modes)


def _parse_regions(raw: Any) -> tuple[str, ...]:
    regions = []
    for value in _split(raw):
        text = value.strip() if isinstance(value, str) else ""
        if not REGION.fullmatch(text):
            raise ConfigError(f"{value!r} is not an AWS region name such as 'eu-west-1'")
        regions.append(text)
    return tuple(regions)


def _parse_remediations_per_hour(raw: Any) -> int:
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REMEDIATIONS_PER_HOUR:
        raise ConfigError(f"expected a whole number from 0 to {MAX_REMEDIATIONS_PER_HOUR}, got {raw!r}")
    return value


class Field:
    """One configuration key: how its value is read, and how the README's table describes it.

    A plain class: a NamedTuple class costs the cold start a compilation of its own.
    """

    __slots__ = ("default", "env", "env_note", "json", "meaning", "name", "parse", "toml")

    def __init__(
        self,
        name: str,
        parse: Callable[[Any], Any],
        default: str,
        meaning: str,
        *,
        json: bool = False,
        env_note: str = "",
        toml: str = "",
    ) -> None:
        self.name = name
        self.env = ENV_PREFIX + name.upper()
        self.parse = parse
        self.default = default  # the README's "default" column (Markdown)
        self.meaning = meaning  # the README's "meaning" column (Markdown)
        self.json = json  # the environment variable holds JSON (tables, arrays of tables)
        self.env_note = env_note  # shown after the variable's name: its format, an example
        self.toml = toml  # how the README writes the key, when not `name` (`[[suppressions]]`)


# In the README's order. The values of a Settings field left out here could not be configured.
FIELDS: tuple[Field, ...] = (
    Field(
        "allowed_ports",
        _parse_ports,
        "`[80, 443]`",
        "ports that may be open to the world",
        env_note="(`80,443`)",
    ),
    Field(
        "allowed_cidrs",
        _parse_cidrs,
        "`[]`",
        'networks that are not "the internet" for security groups (your offices, VPN)',
    ),
    Field(
        "trusted_accounts",
        _parse_accounts,
        "`[]`",
        "account ids (quoted strings) that sharing with is fine: your organization's. The event's own account is "
        "always trusted",
    ),
    Field(
        "admin_ports",
        _parse_port_ranges,
        "20-23, 445, 1433, 1521, 3306, 3389, 5432, 5985-5986, 6379, 9200, 11211, 27017",
        "remote-administration and database ports: open to the world is CRITICAL",
        env_note="(`22,3389,9000-9100`)",
    ),
    Field("disabled_rules", _parse_rule_ids, "`[]`", "rule ids (globs) that never run"),
    Field("min_severity", _parse_severity, "`INFO`", "findings below this are dropped"),
    Field(
        "suppressions",
        _parse_suppressions,
        "none",
        "drop findings that match every field given (below)",
        json=True,
        env_note="(a JSON array of objects)",
        toml="`[[suppressions]]`",
    ),
    Field(
        "channels",
        _parse_channels,
        "none",
        "where alerts go: see [Alerts](#alerts)",
        json=True,
        env_note="(a JSON array of objects)",
        toml="`[[channels]]`",
    ),
    Field(
        "max_individual_alerts",
        _parse_max_individual,
        "`5`",
        "per channel and batch, findings sent one message each; the rest go in one digest",
    ),
    Field(
        "table_name",
        _parse_table_name,
        "none: off",
        "the Lambda's DynamoDB table (the stack creates it): no duplicate alerts, a findings history, quiet periods. "
        "Without it a redelivered event is alerted again, nothing is stored, and the Lambda says so once in its log",
    ),
    Field(
        "dedupe_ttl_days",
        _parse_days,
        "`14`",
        "how long an alerted event is remembered, so that a redelivery (EventBridge, SQS, a replay from the "
        "dead-letter queue) sends nothing; 1 to 3650",
    ),
    Field(
        "history_ttl_days",
        _parse_days,
        "`90`",
        "how long each finding stays in the history (DynamoDB TTL); 1 to 3650",
    ),
    Field(
        "quiet_periods",
        _parse_quiet_periods,
        "none",
        "rule-id glob = seconds (`[quiet_periods]` in TOML): after an alert, repeats of the same rule + resource + "
        "actor within that many seconds are counted, not sent; the next alert says how many were folded into it "
        '("Folded repeats: 7 since ..."). An exact rule id wins over globs, then the first matching glob. '
        "Needs `table_name`",
        json=True,
        env_note='(a JSON object: `{"ec2.instance-launched": 3600}`)',
    ),
    Field(
        "rule_modules",
        _rule_module_entries,
        "`[]`",
        "your own rules: Python module paths, `.py` files or directories of them, loaded after the built-in "
        "rules; relative paths start from the TOML file's directory (in the environment, from the working "
        "directory). See [Writing your own rules](#writing-your-own-rules)",
        env_note="(comma-separated)",
    ),
    Field(
        "unusual_instance_types",
        _parse_instance_types,
        "`[]`",
        "instance types or globs whose launch `ec2.unusual-instance-type` reports (MEDIUM, the denied attempt "
        "too), besides the GPU and accelerator families it always reports (p*, g*, inf*, trn*, dl*)",
        env_note="(`x2iedn.*,u-*`)",
    ),
    Field(
        "admin_groups",
        _parse_name_globs,
        '`["*admin*"]`',
        "IAM group names (globs, matched regardless of case, as IAM compares them) whose members are "
        "administrators: adding a user to one is `iam.admin-group-membership`. `[]` turns the name match off",
        env_note="(`Admins,ops-*`)",
    ),
    Field(
        "audit_log_groups",
        _parse_name_globs,
        '`["*cloudtrail*", "*flow-log*", "*flowlog*", "*flow_log*", "*vpc-flow*"]`',
        "log groups that hold audit logs (globs, any case): deleting one, its streams or its export, or cutting "
        "its retention to a day, is HIGH instead of MEDIUM (`logs.log-group-deleted`). The defaults recognise the "
        "names the CloudTrail console, Control Tower and common flow-log set-ups use; a list replaces them",
    ),
    Field(
        "self_resources",
        _parse_name_globs,
        '`["arn:*:lambda:*:*:function:AWS-Generic-Security-*", "arn:*:events:*:*:rule/*-RuleApiCalls*-*", '
        '"arn:*:events:*:*:rule/*-RuleConsoleSignIn-*", "arn:*:events:*:*:rule/*-RuleRootActivity-*", '
        '"arn:*:events:*:*:rule/*-RuleReadOnlyCalls*-*"]`',
        "trailguard's own resources, names or ARNs (globs): its EventBridge rules, function, queues, table, SMTP "
        "secret, sender identities, home event bus. A change to one by anyone but `self_deployer` is "
        "`trailguard.pipeline-tampered` (CRITICAL). The defaults are the stack's default function name and its "
        "rule names; the stack sets it to its own resources",
    ),
    Field(
        "self_deployer",
        _parse_principal_globs,
        "none",
        "ARN globs of whoever deploys trailguard (the role that runs `sam deploy`, or CloudFormation's service "
        "role; the stack's `DeployerPrincipal`): their changes to trailguard's resources are upgrades. Empty: every "
        "change alerts, deployments included",
    ),
    Field(
        "learning_days",
        _parse_learning_days,
        "`14`",
        "stateful rules (`baseline.*`, `lambda.function-changed`): how long a principal's baseline learns "
        "(silently) before something new about it is reported; 0 to 365",
    ),
    Field(
        "thresholds",
        _parse_thresholds,
        "none: the catalogue's (docs/rules.md)",
        "stateful rules' thresholds, per rule id: `count`, `distinct`, `window_seconds` (`[thresholds.\"burst."
        'secrets-read"]` in TOML, `distinct = 20`); what is not given keeps its default',
        json=True,
        env_note='(a JSON object: `{"burst.access-denied": {"count": 50}}`)',
    ),
    Field(
        "baseline_watch",
        _parse_watched_calls,
        "73 calls, listed in src/trailguard/core/constants.py `DEFAULT_BASELINE_WATCH`",
        "write calls (`eventSource:eventName`) whose first use by a principal, after its learning period, is "
        "`baseline.new-sensitive-call` (LOW), besides the events other rules watch (MEDIUM). A list replaces the "
        "defaults. The engine and the generated EventBridge patterns route the defaults: a call added here is "
        "judged only when another rule already routes it",
        env_note="(`ec2.amazonaws.com:CreateImage,ecs.amazonaws.com:RunTask`)",
    ),
    Field(
        "remediation",
        _parse_remediation,
        "none: every rule `off`",
        'rule-id glob = `"off"`, `"dry-run"` or `"apply"` (`[remediation]` in TOML): undo what the event did, '
        "for the rules that have an action (an exact id wins over globs, then the first matching glob). "
        "`dry-run` says in the alert what it would do; see [docs/remediation.md](docs/remediation.md)",
        json=True,
        env_note='(a JSON object: `{"sg.ingress-open-to-world": "dry-run"}`)',
    ),
    Field(
        "remediation_accounts",
        _parse_accounts,
        "`[]`",
        "account ids (quoted strings) where remediation may act (none: any); a finding of another account is "
        "only alerted",
    ),
    Field(
        "remediation_regions",
        _parse_regions,
        "`[]`",
        "regions where remediation may act (none: any); a finding of another region is only alerted",
        env_note="(`eu-west-1,us-east-1`)",
    ),
    Field(
        "remediation_exempt_principals",
        _parse_principal_globs,
        "none",
        "ARN globs of principals whose changes are never undone (the deploy pipeline); a resource tagged "
        "`trailguard:remediate = false` is never touched either",
    ),
    Field(
        "remediation_max_per_hour",
        _parse_remediations_per_hour,
        "`10`",
        "at most this many remediation actions an hour per account; beyond it findings are only alerted; 0 to 1000",
    ),
)
_FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
