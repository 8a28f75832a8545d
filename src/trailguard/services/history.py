"""The findings history, read: from a state file (``--state FILE``) or the stack's table (``--table NAME``).

One home for what ``trailguard history`` and ``trailguard dashboard`` share: opening either store,
the filters (times, rule globs, severity, actor, account), and a stored finding as the object
``scan --format json`` prints (``Finding.to_dict``) with its ``history`` (outcome, channels,
attempts, failures) beside it. Writing stays with the stores (``Store.record``); ``RecordingStore``
lets a scan's delivery record into the state file as well.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from trailguard.core.enums import Severity
from trailguard.core.event_types import Actor, Finding, Resource
from trailguard.core.exceptions import ConfigError
from trailguard.services.stores.base import HistoryRecord, StoreError, iso

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.services.stores.base import Claim, QuietGate, Store
    from trailguard.services.stores.sqlite import SqliteState

# The outcome of a finding a scan printed without sending it (no --notify, no --outbox).
REPORTED = "reported"
# A time query of the table walks one partition a day: without --since it reads this many days.
DEFAULT_TABLE_DAYS = 30
# A query of the table reads this many items a request (DynamoDB's own page is 1 MB).
PAGE_SIZE = 500
MAX_RECORDS = 100_000
_DURATION = re.compile(r"(\d{1,6})([smhdw])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]00:?00)?", re.ASCII)


class HistoryError(ConfigError):
    """The history cannot be read: no such file or table, not trailguard's, a bad time."""


def parse_when(text: str, now: float | None = None) -> str:
    """An ISO UTC time (``2026-11-03``, ``2026-11-03T09:12``, ``2026-11-03T09:12:44Z``) or a duration
    before now (``7d``, ``12h``, ``30m``, ``2w``), as ``YYYY-MM-DDTHH:MM:SSZ``."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration:
        seconds = int(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
        return iso((time.time() if now is None else now) - seconds)
    match = _ISO.fullmatch(value)
    if not match:
        raise HistoryError(
            f"{text!r} is neither a time (2026-11-03T09:12:44Z, 2026-11-03) nor a duration (7d, 12h, 30m, 2w)"
        )
    year, month, day, hour, minute, second, _zone = match.groups()
    moment = f"{year}-{month}-{day}T{hour or '00'}:{minute or '00'}:{second or '00'}Z"
    try:
        time.strptime(moment, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise HistoryError(f"{text!r} is not a valid date or time") from None
    return moment


@dataclasses.dataclass(frozen=True)
class HistoryQuery:
    """Which stored findings to show. Times are ISO UTC (empty: unbounded); globs as ``--rule``'s."""

    since: str = ""
    until: str = ""
    rules: tuple[str, ...] = ()
    min_severity: Severity | None = None
    actors: tuple[str, ...] = ()  # globs over the actor's label or ARN
    accounts: tuple[str, ...] = ()

    def matches(self, record: HistoryRecord) -> bool:
        if self.since and record.event_time < self.since:
            return False
        if self.until and record.event_time > self.until:
            return False
        if self.rules and not any(fnmatch.fnmatchcase(record.rule_id, rule) for rule in self.rules):
            return False
        if self.min_severity is not None and _severity(record.severity) < self.min_severity:
            return False
        if self.accounts and record.account_id not in self.accounts:
            return False
        return not self.actors or any(
            fnmatch.fnmatchcase(record.actor, actor) or fnmatch.fnmatchcase(record.actor_arn, actor)
            for actor in self.actors
        )


def _severity(name: str) -> Severity:
    try:
        return Severity.parse(name)
    except ValueError:
        return Severity.INFO


class HistorySource(Protocol):
    """Where the history is read from."""

    @property
    def label(self) -> str:
        """What the user named: ``state file x.db`` or ``table trailguard-state``."""
        ...

    @property
    def incremental(self) -> bool:
        """Reading it all costs (a table's read capacity): a dashboard reads the recent part often."""
        ...

    def read(self, query: HistoryQuery) -> list[HistoryRecord]:
        """The stored findings the query selects, oldest first."""
        ...


class StateFileSource:
    def __init__(self, path: str) -> None:
        from trailguard.services.stores.sqlite import SqliteHistory

        self.history = SqliteHistory(path)  # StateFileError (a ConfigError) for a missing file
        self.label = f"state file {path}"
        self.incremental = False

    def read(self, query: HistoryQuery) -> list[HistoryRecord]:
        return [r for r in self.history.query_history(query.since, query.until) if query.matches(r)]


class TableSource:
    def __init__(self, table_name: str, region: str | None = None, page_size: int = PAGE_SIZE) -> None:
        from trailguard.services.stores.dynamodb import DynamoDBStore
        from trailguard.utils.aws_helpers import AwsClients

        self.store = DynamoDBStore(table_name, AwsClients(region=region))
        self.page_size = page_size
        self.label = f"table {table_name}"
        self.incremental = True

    def read(self, query: HistoryQuery) -> list[HistoryRecord]:
        since = query.since or iso(time.time() - DEFAULT_TABLE_DAYS * 86_400)
        # One exact rule (no glob) is read through the by-rule index; the other filters after.
        exact = query.rules[0] if len(query.rules) == 1 and not set(query.rules[0]) & set("*?[") else None
        try:
            records = self.store.query_history(
                since, query.until or None, rule_id=exact, limit=MAX_RECORDS, page_size=self.page_size
            )
        except StoreError as exc:
            raise HistoryError(str(exc)) from None
        except ValueError as exc:  # a range of more days than a query walks
            raise HistoryError(str(exc)) from None
        return [r for r in records if query.matches(r)]


def open_source(state: str | None, table: str | None, region: str | None = None) -> HistorySource:
    if state:
        return StateFileSource(state)
    if table:
        return TableSource(table, region)
    raise HistoryError("give --state FILE (a scan's state file) or --table NAME (the stack's DynamoDB table)")


def record_finding(record: HistoryRecord) -> Finding:
    """The stored finding; items stored before the whole finding was kept give what they have."""
    if record.finding:
        try:
            data = json.loads(record.finding)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return Finding.from_dict(data)
    return Finding.from_dict(
        {
            "rule_id": record.rule_id,
            "severity": record.severity,
            "title": record.title,
            "summary": record.summary,
            "event_id": record.event_id,
            "event_name": record.event_name,
            "event_time": record.event_time,
            "account_id": record.account_id,
            "region": record.region,
        }
    )._replace(
        resource=Resource(record.resource_type, record.resource_id, record.resource_arn),
        actor=Actor(arn=record.actor_arn, name=record.actor),
    )


def history_fields(record: HistoryRecord) -> dict[str, Any]:
    """What became of the finding: the ``history`` member of each JSON object."""
    return {
        "outcome": record.outcome,
        "channels": dict(record.channels),
        "stored_at": record.stored_at,
        "first_stored_at": record.first_stored_at,
        "attempts": record.attempts,
        "folded": record.folded,
        "failures": list(record.failures),
        **({"remediation": record.remediation} if record.remediation else {}),
        **({"remediation_removed": record.remediation_removed} if record.remediation_removed else {}),
    }


def record_dict(record: HistoryRecord) -> dict[str, Any]:
    """One stored finding as JSON: the object ``scan --format json`` prints, plus ``history``."""
    return {**record_finding(record).to_dict(), "history": history_fields(record)}


def record_reported(state: SqliteState, findings: Iterable[Finding], routine: Iterable[Finding]) -> None:
    """A scan's findings, printed and not sent, into the state file's history."""
    from trailguard.core.enums import Outcome

    for finding in findings:
        state.record(finding, REPORTED)
    for finding in routine:
        state.record(finding, Outcome.ROUTINE)


class RecordingStore:
    """A ``Store`` whose history also goes into a state file: ``scan --state FILE --notify`` keeps
    each finding's delivery outcome offline, whatever store (a table or none) delivery uses."""

    def __init__(self, inner: Store, state: SqliteState) -> None:
        self.inner = inner
        self.state = state

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        return self.inner.claim(finding, hold_seconds)

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        self.inner.finish(finding, claim, outcome)

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        self.inner.release(finding, claim, sent)

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        return self.inner.quiet_gate(finding, window_seconds)

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        self.inner.alerted(finding, gate)

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        self.inner.rolled_back(finding, gate)

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        self.state.record(finding, outcome, channels, folded, failure)
        self.inner.record(finding, outcome, channels, folded, failure)


def csv_rows(records: Sequence[HistoryRecord]) -> Iterable[list[str]]:
    """The CSV of ``trailguard history``: a header, then one row per stored finding."""
    header = ["event_time", "severity", "rule_id", "actor", "account_id", "region", "source_ip", "resource"]
    header += ["event_name", "outcome", "channels", "summary", "event_id"]
    yield header
    for record in records:
        finding = record_finding(record)
        yield [
            finding.event_time,
            finding.severity.name,
            finding.rule_id,
            finding.actor.label,
            finding.account_id,
            finding.region,
            finding.source_ip,
            finding.resource.label,
            finding.event_name,
            record.outcome,
            "; ".join(f"{name}: {result}" for name, result in sorted(record.channels.items())),
            finding.summary,
            finding.event_id,
        ]
