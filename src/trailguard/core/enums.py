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
