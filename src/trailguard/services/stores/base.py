"""The ``Store`` protocol delivery works against, its answers, and the two stores with no table.

- ``NullStore``: no table. Every finding may be delivered (nothing identifies a redelivery), no
  quiet window is ever open, nothing is stored.
- ``FailOpenStore``: wraps a real store; when it fails (DynamoDB throttled, missing, no
  permission) the failure is reported and delivery goes on as with ``NullStore``: an alert sent
  twice beats an alert not sent.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

from trailguard.core.exceptions import TrailguardError

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.core.event_types import Finding


# The details remediation puts on a finding (services/remediation/runner.py): what it planned or
# did, and the exact text it removed. Both stores keep them as the history's ``remediation`` and
# ``remediation_removed``.
REMEDIATION_DETAIL = "Remediation"
REMOVED_DETAIL = "Removed by remediation"


class StoreError(TrailguardError):
    """The store could not be used (throttled, missing table, no permission): never has a secret in it."""


class ClaimStatus(enum.StrEnum):
    CLAIMED = "claimed"  # go ahead, and finish or release the claim afterwards
    UNTRACKED = "untracked"  # go ahead: no table, no event id, or the table failed
    DEDUPLICATED = "deduplicated"  # done before: send nothing
    IN_FLIGHT = "in_flight"  # another invocation holds it now: retry later


class Claim(NamedTuple):
    """The answer to "may I deliver this finding?"."""

    status: ClaimStatus
    token: str = ""
    previous: str = ""  # the status found when not claimed
    # The channels an earlier attempt delivered it through, before another channel failed: the
    # retry sends it through the others only.
    sent: frozenset[str] = frozenset()

    @property
    def granted(self) -> bool:
        return self.status in (ClaimStatus.CLAIMED, ClaimStatus.UNTRACKED)


UNTRACKED_CLAIM = Claim(ClaimStatus.UNTRACKED)


class QuietGate(NamedTuple):
    """The answer to "is this a repeat inside a quiet period?"."""

    alert: bool  # False: fold it into the open window, send nothing
    folded: int = 0  # alert: repeats folded since the last alert (to report); fold: the count now
    since: str = ""  # when the last alert opened its window (ISO UTC)
    owner: str = ""  # the finding that holds the window
    previous: tuple[int, str, str] = (0, "", "")  # the window this alert replaced: until, owner, opened_at

    def note(self) -> str:
        """The text of the alert's ``Folded repeats`` detail."""
        return f"{self.folded} since {self.since}" if self.since else str(self.folded)


NO_WINDOW = QuietGate(alert=True)


class HistoryRecord(NamedTuple):
    """One stored finding, as a history query returns it."""

    rule_id: str
    severity: str
    title: str
    summary: str
    resource_type: str
    resource_id: str
    resource_arn: str
    actor: str
    actor_arn: str
    account_id: str
    region: str
    event_id: str
    event_name: str
    event_time: str
    stored_at: str
    first_stored_at: str
    outcome: str
    channels: dict[str, str]
    attempts: int
    folded: int
    failures: tuple[str, ...]
    # The finding as ``Finding.to_dict`` gives it, in JSON (empty in items stored before it was kept).
    finding: str = ""
    remediation: str = ""  # what remediation planned or did (services/remediation)
    remediation_removed: str = ""  # the exact text it removed (policy statements, grants)


class Store(Protocol):
    """Claims (no duplicate alerts), quiet windows and the findings history of delivery."""

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        """Claim the delivery of ``finding`` for ``hold_seconds`` (the invocation's remaining time)."""
        ...

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        """Mark the finding done (``outcome.done``): later deliveries of its event send nothing."""
        ...

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        """Give the claim up after a failed delivery; ``sent``: channels that did deliver it."""
        ...

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        """Open a quiet window with this finding's alert, or fold it into the open one."""
        ...

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        """The alert that opened the window was delivered."""
        ...

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        """The alert was not delivered: the previous window comes back."""
        ...

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        """Store (or update, on a retry) the finding's history with this attempt's outcome."""
        ...


class NullStore:
    """No table: deliver everything, remember nothing."""

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        return UNTRACKED_CLAIM

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        return None

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        return None

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        return NO_WINDOW

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        return None

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        return None

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        return None


StoreProblem = Callable[[str, "Finding", StoreError], None]
_T = TypeVar("_T")


class FailOpenStore:
    """A store whose failures are reported (``on_error(what, finding, error)``) and then ignored,
    answered as the null store would: the alert still goes out."""

    def __init__(self, inner: Store, on_error: StoreProblem) -> None:
        self.inner = inner
        self.on_error = on_error

    def _try(self, what: str, finding: Finding, call: Callable[[], _T], fallback: _T) -> _T:
        try:
            return call()
        except StoreError as exc:
            self.on_error(what, finding, exc)
            return fallback

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        return self._try("claim", finding, lambda: self.inner.claim(finding, hold_seconds), UNTRACKED_CLAIM)

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        self._try("finish", finding, lambda: self.inner.finish(finding, claim, outcome), None)

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        self._try("release", finding, lambda: self.inner.release(finding, claim, sent), None)

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        return self._try("quiet period", finding, lambda: self.inner.quiet_gate(finding, window_seconds), NO_WINDOW)

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        self._try("quiet period", finding, lambda: self.inner.alerted(finding, gate), None)

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        self._try("quiet period", finding, lambda: self.inner.rolled_back(finding, gate), None)

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        self._try("history", finding, lambda: self.inner.record(finding, outcome, channels, folded, failure), None)


def quiet_period_for(periods: Iterable[tuple[str, int]], rule_id: str) -> int:
    """Seconds of quiet for a rule: an exact id wins, else the first glob that matches, else 0."""
    import fnmatch

    periods = tuple(periods)
    for pattern, seconds in periods:
        if pattern == rule_id:
            return seconds
    for pattern, seconds in periods:
        if fnmatch.fnmatchcase(rule_id, pattern):
            return seconds
    return 0


def remediation_details(details: object) -> tuple[str, str]:
    """What remediation planned or did, and the exact text it removed, from a finding's details
    (``Finding.details`` or the ``details`` of its JSON): empty strings for what is not there."""
    if not isinstance(details, Mapping):
        return "", ""
    remediation, removed = (details.get(name) for name in (REMEDIATION_DETAIL, REMOVED_DETAIL))
    return (str(remediation) if remediation else "", str(removed) if removed else "")


def finding_json(finding: Finding, limit: int) -> str:
    """``finding.to_dict()`` as JSON for the findings history, each text at most ``limit`` characters
    (plus a note): one huge event field must not make the item too large to store."""
    import json

    from trailguard.utils.text import bounded

    def cut(value: object) -> object:
        if isinstance(value, str):
            return bounded(value, limit)
        if isinstance(value, dict):
            return {bounded(str(k), limit): cut(v) for k, v in value.items()}
        return value

    return json.dumps(cut(finding.to_dict()), ensure_ascii=False, separators=(",", ":"))


def iso(epoch: float) -> str:
    """``2026-11-03T09:12:44Z``: CloudTrail's own format, so stored and event times sort together."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
