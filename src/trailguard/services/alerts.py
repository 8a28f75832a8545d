"""What a channel delivers: one finding, or a digest of several, and how a batch is grouped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding

DEFAULT_MAX_INDIVIDUAL_ALERTS = 5


class Alert(NamedTuple):
    """One message to send: a single finding, or (``digest``) the rest of a burst in one."""

    findings: tuple[Finding, ...]
    digest: bool = False
    test: bool = False  # a clearly marked test alert (`trailguard send-test`)

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.INFO)

    @property
    def first(self) -> Finding:
        return self.findings[0]


def _importance(finding: Finding) -> tuple[int, str]:
    return (-int(finding.severity), finding.event_time)


def group_alerts(findings: Iterable[Finding], max_individual: int = DEFAULT_MAX_INDIVIDUAL_ALERTS) -> list[Alert]:
    """The most severe ``max_individual`` findings alone, the rest in one digest.

    A burst (an attacker's script, an autoscaling storm) then costs one extra message, not hundreds.
    """
    ordered: Sequence[Finding] = sorted(findings, key=_importance)
    alone = [Alert((finding,)) for finding in ordered[:max_individual]]
    rest = tuple(ordered[max_individual:])
    if len(rest) == 1:
        alone.append(Alert(rest))
    elif rest:
        alone.append(Alert(rest, digest=True))
    return alone
