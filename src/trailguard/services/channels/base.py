"""The channel interface, and the option parsing every channel shares.

A channel is configured by one table of settings (``[[channels]]`` in TOML, or an object in
``TRAILGUARD_CHANNELS``); its constructor validates the options and raises ``ConfigError`` naming
the key, so a bad channel stops the Lambda or the CLI before any event is processed. Nothing
touches the network until ``send``.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from trailguard.core.aws_ids import REGION
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.secrets import SecretCache, hide_secret_responses
from trailguard.utils.aws_helpers import AwsClients


class ChannelContext:
    """What channels share at run time: AWS clients and the secret cache (both lazy)."""

    def __init__(self, aws: AwsClients | None = None, secrets: SecretCache | None = None) -> None:
        # Before any AWS call: at DEBUG, botocore logs each request with the credentials it signs with.
        hide_secret_responses()
        self.aws = aws or AwsClients()
        self.secrets = secrets or SecretCache(self.aws)


class Options:
    """Typed access to one channel's option table; every error names the channel and the key."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a table of options, got {type(raw).__name__}")
        self.raw = raw
        self.where = where
        self.used: set[str] = set()

    def _error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

    def text(self, key: str, default: str | None = None) -> str:
        """A string option; required when ``default`` is None."""
        self.used.add(key)
        value = self.raw.get(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._error(key, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of strings (a comma-separated string is accepted, as environment values are)."""
        self.used.add(key)
        value = self.raw.get(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required")
            return default
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self._error(key, f"must be a list of non-empty strings, got {value!r}")
        items = tuple(v.strip() for v in value)
        if not items and default is None:
            raise self._error(key, "must not be empty")
        return items

    def region(self, key: str, default: str) -> str:
        """An AWS region name, such as ``eu-west-1``."""
        value = self.text(key, default=default)
        if not REGION.fullmatch(value):
            raise self._error(key, f"must be an AWS region such as eu-west-1, got {value!r}")
        return value

    def integer(self, key: str, default: int, minimum: int = 0, maximum: int = 2**31) -> int:
        self.used.add(key)
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._error(key, f"must be a whole number, got {value!r}")
        if not minimum <= value <= maximum:
            raise self._error(key, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        self.used.add(key)
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._error(key, f"must be a number, got {value!r}")
        if value < minimum:
            raise self._error(key, f"must be at least {minimum}, got {value}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        self.used.add(key)
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self._error(key, f"must be true or false, got {value!r}")
        return value

    def severity(self, key: str, default: Severity) -> Severity:
        self.used.add(key)
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            return Severity.parse(value)
        except ValueError as exc:
            raise self._error(key, str(exc)) from None

    def finish(self) -> None:
        """Reject keys nobody asked for: a typo must not silently disable an option."""
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise self._error(unknown[0], f"unknown option (known: {', '.join(sorted(self.used))})")


class Channel(ABC):
    """One way of telling people: email, chat, a topic, a webhook, a folder."""

    kind: ClassVar[str]
    # Sends through AWS or reads a secret from Secrets Manager: boto3 (the `aws` extra) must be
    # installed. A class default, set per instance by channels whose secrets are optional.
    needs_aws: bool = False

    def __init__(self, options: Options, context: ChannelContext) -> None:
        self.context = context
        self.name = options.text("name", default=self.kind)
        self.min_severity = options.severity("min_severity", Severity.INFO)
        self.rules = options.texts("rules", default=())
        options.text("type")  # consumed by the factory; listed here so finish() accepts it

    def accepts(self, finding: Finding) -> bool:
        """Routing: this channel's minimum severity and rule-id globs."""
        if finding.severity < self.min_severity:
            return False
        return not self.rules or any(fnmatch.fnmatchcase(finding.rule_id, pattern) for pattern in self.rules)

    def preflight(self) -> None:
        """Raise ``ConfigError`` when this channel cannot send at all (boto3 missing, a folder that
        cannot be written), before a run that will use it reads anything: construction checks only
        the options, since a configured channel may go unused (a scan without --notify)."""
        if self.needs_aws:
            from trailguard.utils.aws_helpers import require_boto3

            require_boto3(self.describe())

    @abstractmethod
    def send(self, alert: Alert) -> str:
        """Deliver one alert; return a short receipt (message id, file name, HTTP status).

        Raise ``ChannelError`` (``transient`` or not) on failure, never with a secret in it.
        """

    def describe(self) -> str:
        """Where this channel delivers, for logs and `send-test` output (no secrets)."""
        return f"{self.kind} channel {self.name!r}"
