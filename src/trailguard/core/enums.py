"""Enumerations shared by rules, findings and output."""

from __future__ import annotations

import enum


class Severity(enum.IntEnum):
    """How urgently a finding needs a human; ordered so that comparisons read naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """Accept a severity name in any case (``"high"``, ``"HIGH"``) or a member."""
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(member.name for member in cls)
            raise ValueError(f"unknown severity {value!r} (expected one of {names})") from None

    def __str__(self) -> str:
        return self.name


class FindingKind(enum.StrEnum):
    """EVENT is a violation to act on; INFO is a notable change kept for the record."""

    EVENT = "EVENT"
    INFO = "INFO"


class Outcome(enum.StrEnum):
    """What became of one finding on its way to people; the values are logged and stored."""

    DELIVERED = "delivered"
    FAILED = "failed"  # some channel that should have delivered it did not: retried
    IN_FLIGHT = "in_flight"  # another invocation is delivering it right now: retried later
    QUIET = "quiet"  # a repeat inside its rule's quiet period: counted, not sent
    UNROUTED = "unrouted"  # no channel takes it (by severity or rule): nothing to send, not an error
    DEDUPLICATED = "deduplicated"  # delivered before (a redelivered event): nothing sent again
    ROUTINE = "routine"  # the principal's routine, known by memory: history only, never sent

    @property
    def retry(self) -> bool:
        """Should AWS deliver the event again?"""
        return self in (Outcome.FAILED, Outcome.IN_FLIGHT)

    @property
    def done(self) -> bool:
        """A final state: a later delivery of the same event sends nothing."""
        return self in (Outcome.DELIVERED, Outcome.QUIET, Outcome.UNROUTED, Outcome.ROUTINE)


# An event's outcome is the worst of its findings': this order, worst first.
OUTCOME_ORDER = (
    Outcome.FAILED,
    Outcome.IN_FLIGHT,
    Outcome.DELIVERED,
    Outcome.QUIET,
    Outcome.UNROUTED,
    Outcome.ROUTINE,
    Outcome.DEDUPLICATED,
)
