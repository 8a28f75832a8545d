"""The Lambda's memory in one DynamoDB table: no duplicate alerts, a findings history, quiet periods.

One table, one module per kind of item: ``claims`` (delivery items: idempotency), ``quiet``
(quiet windows), ``history`` (one item per finding); ``table`` holds the schema, the attribute
codec and the calls. Every AWS error other than a failed condition is raised as ``StoreError``
(secret-free); delivery then alerts without the table (``FailOpenStore``) rather than not at all.

Concurrency: a finding is claimed with a conditional write before anything is sent; an invocation
that finds a live claim held by another reports the event "in flight" and lets AWS retry it later
(SQS redelivery, Lambda's async retry): by then the first has delivered (the retry sends nothing)
or failed and released its claim (the retry delivers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from trailguard.services.stores.dynamodb.claims import CLAIM_MARGIN_SECONDS, Claims
from trailguard.services.stores.dynamodb.history import MAX_QUERY_DAYS, History
from trailguard.services.stores.dynamodb.quiet import QuietWindows
from trailguard.services.stores.dynamodb.table import DAY, RULE_INDEX, TABLE_SCHEMA, TTL_ATTRIBUTE, Table, create_table

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.core.event_types import Finding
    from trailguard.services.stores.base import Claim, HistoryRecord, QuietGate
    from trailguard.utils.aws_helpers import AwsClients

__all__ = [
    "CLAIM_MARGIN_SECONDS",
    "DAY",
    "MAX_QUERY_DAYS",
    "RULE_INDEX",
    "TABLE_SCHEMA",
    "TTL_ATTRIBUTE",
    "DynamoDBStore",
    "create_table",
]


class DynamoDBStore:
    """The ``Store`` over the stack's table."""

    def __init__(
        self,
        table_name: str,
        aws: AwsClients,
        dedupe_ttl_days: int = 14,
        history_ttl_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = Table(table_name, aws, clock)
        self.claims = Claims(self.table, dedupe_ttl_days * DAY)
        self.quiet = QuietWindows(self.table, history_ttl_days * DAY)
        self.history = History(self.table, history_ttl_days * DAY)

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        return self.claims.claim(finding, hold_seconds)

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        self.claims.finish(finding, claim, outcome)

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        self.claims.release(finding, claim, sent)

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        return self.quiet.quiet_gate(finding, window_seconds)

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        self.quiet.alerted(finding, gate)

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        self.quiet.rolled_back(finding, gate)

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        self.history.record(finding, outcome, channels, folded, failure)

    def query_history(
        self,
        since: datetime | str,
        until: datetime | str | None = None,
        rule_id: str | None = None,
        limit: int = 1000,
        page_size: int | None = None,
    ) -> list[HistoryRecord]:
        """Stored findings whose event time is within [since, until] (UTC), oldest first."""
        return self.history.query(since, until, rule_id, limit, page_size)
