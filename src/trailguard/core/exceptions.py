"""One small exception hierarchy, so callers can catch trailguard's errors and nothing else."""

from __future__ import annotations


class TrailguardError(Exception):
    """Base class of every error trailguard raises on purpose."""


class ConfigError(TrailguardError):
    """A configuration file or value is invalid; the message names the key and the problem."""


class InputError(TrailguardError):
    """Input could not be read or parsed; the message names the file, line or record."""


class RuleDefinitionError(TrailguardError):
    """A rule was registered with invalid metadata (a programming error, caught at import)."""


class DeliveryError(TrailguardError):
    """A finding could not be delivered through any channel."""
