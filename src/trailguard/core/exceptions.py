"""One small exception hierarchy, so callers can catch trailguard's errors and nothing else."""

from __future__ import annotations


class TrailguardError(Exception):
    """Base class of every error trailguard raises on purpose."""


class ConfigError(TrailguardError):
    """A configuration file or value is invalid; the message names the key and the problem."""


class MissingExtraError(ConfigError):
    """A feature needs an optional dependency that is not installed (boto3: ``trailguard[aws]``)."""


class InputError(TrailguardError):
    """Input could not be read or parsed; the message names the file, line or record."""


class RuleDefinitionError(TrailguardError):
    """A rule was registered with invalid metadata (a programming error, caught at import)."""


class ChannelError(TrailguardError):
    """One delivery attempt through one channel failed.

    ``transient`` failures (connection refused or reset, timeouts, SMTP 4xx, HTTP 429/5xx,
    throttling) are retried with backoff; permanent ones (bad credentials, rejected recipients,
    HTTP 4xx) are not. The message must never contain a secret.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
        self.attempts = 1  # set by the retry loop when it gives up


class DeliveryError(TrailguardError):
    """Some finding reached no channel at all: the caller (the Lambda) should let AWS retry."""
