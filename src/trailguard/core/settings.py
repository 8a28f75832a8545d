"""Settings: defaults < TOML config file < environment variables (``TRAILGUARD_*``) < explicit args.

Loading validates everything up front and raises ``ConfigError`` naming the key, where it came
from and what is wrong, so a bad value stops the run before any event is processed. Nothing here
does I/O at import time.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.base_handler import PortRange, RuleContext
from trailguard.core.constants import (
    DEFAULT_ADMIN_PORTS,
    DEFAULT_ALLOWED_CIDRS,
    DEFAULT_ALLOWED_PORTS,
    DEFAULT_AUDIT_LOG_GROUPS,
    DEFAULT_SELF_RESOURCES,
    DEFAULT_TRUSTED_ACCOUNTS,
)
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ConfigError

if TYPE_CHECKING:
    import ipaddress
    from pathlib import Path

ENV_PREFIX = "TRAILGUARD_"
CONFIG_ENV = "TRAILGUARD_CONFIG"
_ACCOUNT_ID = re.compile(r"^\d{12}$", re.ASCII)

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
    # Delivery: one table per channel (see services/channels); validated when settings load.
    channels: tuple[Mapping[str, Any], ...] = ()
    max_individual_alerts: int = 5
    # The Lambda's DynamoDB table (idempotency, findings history, quiet periods); empty: all off.
    table_name: str = ""
    dedupe_ttl_days: int = 14
    history_ttl_days: int = 90
    # (rule-id glob, seconds), in the order given; see quiet_period_for in services/state_store.
    quiet_periods: tuple[tuple[str, int], ...] = ()
    # Log groups whose deletion is HIGH (globs, any case); trailguard's own resources and deployer.
    audit_log_groups: tuple[str, ...] = DEFAULT_AUDIT_LOG_GROUPS
    self_resources: tuple[str, ...] = DEFAULT_SELF_RESOURCES
    self_deployer: tuple[str, ...] = ()
    source: str = "defaults"

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
            audit_log_groups=self.audit_log_groups,
            self_resources=self.self_resources,
            self_deployer=self.self_deployer,
        )

    def is_suppressed(self, finding: Finding) -> bool:
        return any(s.matches(finding) for s in self.suppressions)

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from every layer; ``TRAILGUARD_CONFIG`` names a file when none is given."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        sources = ["defaults"]
        path = config_file or environ.get(CONFIG_ENV) or None
        if path:
            from pathlib import Path

            values.update(_read_config_file(Path(path)))
            sources.append(str(path))
        env_values = _read_environment(environ)
        if env_values:
            values.update(env_values)
            sources.append("environment")
        for key, value in overrides.items():
            if value is not None:
                values[key] = (value, "argument")
        parsed = {key: _parse_key(key, raw, where) for key, (raw, where) in values.items()}
        return cls(**parsed, source=" < ".join(sources))


# ----------------------------------------------------------------------------------------------
# Parsing and validation. Every value arrives as (raw value, where it came from).
# ----------------------------------------------------------------------------------------------

_KEYS = (
    "allowed_ports",
    "allowed_cidrs",
    "trusted_accounts",
    "admin_ports",
    "disabled_rules",
    "min_severity",
    "suppressions",
    "channels",
    "max_individual_alerts",
    "table_name",
    "dedupe_ttl_days",
    "history_ttl_days",
    "quiet_periods",
    "audit_log_groups",
    "self_resources",
    "self_deployer",
)
_JSON_KEYS = ("suppressions", "channels", "quiet_periods")
# The architecture's simple set-up: SES SMTP email from three variables, without a channels table.
EMAIL_SHORTCUT = {
    "TRAILGUARD_SMTP_SECRET_ID": "secret_id",
    "TRAILGUARD_SENDER": "sender",
    "TRAILGUARD_RECIPIENTS": "recipients",
}


def _read_config_file(path: Path) -> dict[str, tuple[Any, str]]:
    import tomllib

    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    # A [trailguard] table is accepted so the settings can live in a shared file.
    if set(document) == {"trailguard"} and isinstance(document["trailguard"], dict):
        document = document["trailguard"]
    result: dict[str, tuple[Any, str]] = {}
    for key, value in document.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {', '.join(_KEYS)})")
        result[key] = (value, f"{path}: {key}")
    return result


def _read_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    result: dict[str, tuple[Any, str]] = {}
    for key in _KEYS:
        name = ENV_PREFIX + key.upper()
        if name in environ:
            raw: Any = environ[name]
            if key in _JSON_KEYS:
                import json

                try:
                    raw = json.loads(raw)
                except ValueError as exc:
                    raise ConfigError(f"environment {name}: not valid JSON ({exc})") from None
            result[key] = (raw, f"environment {name}")
    shortcut = {option: environ[variable] for variable, option in EMAIL_SHORTCUT.items() if environ.get(variable)}
    if shortcut and "channels" not in result:
        result["channels"] = (
            [{"type": "smtp", "name": "email", **shortcut}],
            "environment " + ", ".join(v for v in EMAIL_SHORTCUT if environ.get(v)),
        )
    return result


def _parse_key(key: str, raw: Any, where: str) -> Any:
    parser = _PARSERS[key]
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
        if not _ACCOUNT_ID.match(text):
            raise ConfigError(f"{value!r} is not a 12-digit AWS account id (quote it in TOML)")
        accounts.append(text)
    return tuple(accounts)


def _parse_rule_ids(raw: Any) -> tuple[str, ...]:
    from trailguard.core.base_handler import REGISTRY

    ids = []
    for value in _split(raw):
        text = str(value).strip()
        if not any(fnmatch.fnmatchcase(rule.id, text) for rule in REGISTRY.all()):
            raise ConfigError(f"{text!r} matches no rule id (see `trailguard rules`)")
        ids.append(text)
    return tuple(ids)


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
    if not isinstance(raw, list):
        raise ConfigError("expected a list of tables ([[channels]] in TOML, a JSON array in the environment)")
    # Building the channels validates every option; nothing connects anywhere until a send.
    from trailguard.services.channels import ChannelContext, build_channels

    build_channels(raw, ChannelContext())
    return tuple(dict(entry) for entry in raw)


def _parse_max_individual(raw: Any) -> int:
    try:
        value = int(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ConfigError(f"expected a whole number from 0 to 1000, got {raw!r}")
    return value


# DynamoDB's own rule for table names.
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
MAX_TTL_DAYS = 3650
MAX_QUIET_SECONDS = 30 * 24 * 3600


def _parse_table_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"expected a DynamoDB table name, got {raw!r}")
    name = raw.strip()
    if name and not _TABLE_NAME.match(name):
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


# Names and ARNs are far shorter; the bound keeps a mistaken value from becoming a huge glob.
MAX_NAME_GLOB_LENGTH = 2048


def _parse_globs(raw: Any) -> tuple[str, ...]:
    globs = []
    for value in _split(raw):
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > MAX_NAME_GLOB_LENGTH:
            raise ConfigError(
                f"{value!r} is not a name or ARN glob (a non-empty string of at most {MAX_NAME_GLOB_LENGTH})"
            )
        globs.append(text)
    return tuple(globs)


def _parse_principal_globs(raw: Any) -> tuple[str, ...]:
    globs = _parse_globs(raw)
    for glob in globs:
        # An ARN, not a bare "*": a glob that matched every caller would turn the rule off unseen.
        if not glob.startswith("arn:"):
            raise ConfigError(f"{glob!r} is not an ARN glob such as arn:aws:iam::111122223333:role/deploy-*")
    return globs


_PARSERS: dict[str, Any] = {
    "allowed_ports": _parse_ports,
    "allowed_cidrs": _parse_cidrs,
    "trusted_accounts": _parse_accounts,
    "admin_ports": _parse_port_ranges,
    "disabled_rules": _parse_rule_ids,
    "min_severity": _parse_severity,
    "suppressions": _parse_suppressions,
    "channels": _parse_channels,
    "max_individual_alerts": _parse_max_individual,
    "table_name": _parse_table_name,
    "dedupe_ttl_days": _parse_days,
    "history_ttl_days": _parse_days,
    "quiet_periods": _parse_quiet_periods,
    "audit_log_groups": _parse_globs,
    "self_resources": _parse_globs,
    "self_deployer": _parse_principal_globs,
}
