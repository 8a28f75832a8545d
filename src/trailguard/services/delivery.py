"""The delivery pipeline: findings -> claim -> quiet gate -> remediate -> notify -> finish or roll back -> history.

One pipeline for the Lambda and ``trailguard scan --notify``. For each finding of a batch:

1. **claim** it in the store, so that a redelivered event (EventBridge and SQS deliver at least
   once) sends nothing twice; a claim held by another invocation makes it ``in_flight``;
2. **quiet gate**: a repeat of rule + resource + actor inside the rule's quiet period is folded
   into the open window (``quiet``), counted, and reported by the next alert;
3. **remediate** (opt-in, ``[remediation]``; services/remediation): the outcome, planned or done,
   becomes the finding's ``Remediation`` detail, so the alert, the log line and the history say it;
   a failed action is such an outcome and never stops the alert; a quiet repeat is remediated too;
4. **notify** every channel that takes it (``NotificationService``); a retry after a channel
   failed goes only through the channels that have not delivered it yet;
5. **finish** what was delivered (or is unrouted) and **roll back** what failed: the claim and the
   quiet window are given back, so the retry delivers;
6. **history**: one item per finding with its outcome and what each channel did.

A routine finding (``Finding.routine``: the principal's routine change, known by the detection
state) skips all of it but the history: outcome ``routine``, nothing claimed, gated or sent.

The store is a ``Store``: DynamoDB (``table_name``), wrapped in ``FailOpenStore`` so a DynamoDB
failure is reported and the alert still goes out, or the ``NullStore`` without a table.

Findings are tracked by ``Finding.key`` (event + rule + resource); should a rule report the same
resource twice in one event, the two share one claim, gate and history item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.enums import Outcome
from trailguard.services.stores.base import (
    FailOpenStore,
    NullStore,
    QuietGate,
    Store,
    StoreError,
    StoreProblem,
    quiet_period_for,
)

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding
    from trailguard.core.settings import Settings
    from trailguard.core.state import DetectionState
    from trailguard.services.channels import ChannelContext
    from trailguard.services.notification_service import DeliveryReport, NotificationService
    from trailguard.services.remediation.runner import Remediator
    from trailguard.services.stores.base import Claim
    from trailguard.utils.aws_helpers import AwsClients

FOLDED_DETAIL = "Folded repeats"
# Built on first use (the Lambda builds its channels when the first finding arrives); None: no
# channel is configured, so findings are only logged.
NotifierFactory = Callable[[], "NotificationService | None"]


class FindingResult(NamedTuple):
    """What became of one finding of the batch; ``folded``: the folded-repeats note it carried."""

    finding: Finding
    outcome: Outcome
    folded: str = ""
    remediation: str = ""  # the remediation's outcome line, when the rule has remediation on

    def log_fields(self) -> dict[str, str]:
        """This finding in the event's log line."""
        resource = self.finding.resource
        fields = {
            "rule_id": self.finding.rule_id,
            "severity": self.finding.severity.name,
            "resource": resource.arn or resource.id,
            "outcome": str(self.outcome),
        }
        if self.remediation:
            fields["remediation"] = self.remediation
        return {**fields, "folded": self.folded} if self.folded else fields


class BatchResult(NamedTuple):
    results: tuple[FindingResult, ...]
    report: DeliveryReport | None  # None: nothing was sent (all quiet or duplicates, or no channel)

    @property
    def worst(self) -> Outcome:
        from trailguard.core.enums import OUTCOME_ORDER

        return min((r.outcome for r in self.results), key=OUTCOME_ORDER.index)


class _Pending(NamedTuple):
    finding: Finding  # the group's lead, as alerted (with its folded-repeats note)
    members: tuple[int, ...]
    claim: Claim
    gate: QuietGate | None


class Delivery:
    """Delivers batches of findings through a notifier, with a store's memory."""

    def __init__(
        self,
        notifier: NotifierFactory,
        store: Store | None = None,
        quiet_periods: Sequence[tuple[str, int]] = (),
        context: ChannelContext | None = None,
    ) -> None:
        self._notifier_factory = notifier
        self._notifier: NotificationService | None = None
        self._notifier_ready = False
        self.store: Store = store if store is not None else NullStore()
        self.quiet_periods = tuple(quiet_periods)
        self._context = context
        # Set when [remediation] turns some rule on (lambda_delivery, trailguard remediate).
        self.remediator: Remediator | None = None
        self._record: Mapping[str, Any] | None = None

    @property
    def context(self) -> ChannelContext:
        """The channels' AWS clients and secret cache."""
        if self._context is None:
            from trailguard.services.channels import ChannelContext

            self._context = ChannelContext()
        return self._context

    @property
    def notifier(self) -> NotificationService | None:
        """The notification service, built on first use; None when no channel is configured."""
        if not self._notifier_ready:
            self._notifier = self._notifier_factory()
            self._notifier_ready = True
        return self._notifier

    def deliver(
        self, findings: Sequence[Finding], hold_seconds: float, record: Mapping[str, Any] | None = None
    ) -> BatchResult:
        """Deliver one batch; ``hold_seconds``: how long this caller may still be running (claims
        expire after it, so a caller that dies never blocks its own retry); ``record``: the
        CloudTrail record of the findings, which remediation needs (none: nothing is remediated)."""
        self._record = record
        outcomes: list[FindingResult] = [FindingResult(finding, Outcome.UNROUTED) for finding in findings]
        groups: dict[str, list[int]] = {}
        for index, finding in enumerate(findings):
            if finding.routine:
                outcomes[index] = FindingResult(finding, Outcome.ROUTINE)
                self.store.record(finding, Outcome.ROUTINE, {}, 0)
                continue
            groups.setdefault(finding.key, []).append(index)
        pending: list[_Pending] = []
        for members in groups.values():
            item = self._admit(findings[members[0]], tuple(members), hold_seconds, outcomes, findings)
            if item is not None:
                pending.append(item)
        if not pending:
            return BatchResult(tuple(outcomes), None)

        batch = [
            item.finding if index == item.members[0] else findings[index] for item in pending for index in item.members
        ]
        try:
            notifier = self.notifier
            # A retry after a channel failed goes through the channels that have not delivered it yet.
            already_sent = {item.finding.key: item.claim.sent for item in pending if item.claim.sent}
            report = (
                notifier.notify(batch, raise_on_undelivered=False, already_sent=already_sent)
                if notifier is not None
                else None
            )
        except BaseException:
            # Nothing was marked done: give the claims and quiet windows back, so a retry can deliver.
            for item in pending:
                self._give_back(item)
            raise
        for item in pending:
            self._settle(item, report, outcomes, findings)
        return BatchResult(tuple(outcomes), report)

    def _admit(
        self,
        lead: Finding,
        members: tuple[int, ...],
        hold_seconds: float,
        outcomes: list[FindingResult],
        findings: Sequence[Finding],
    ) -> _Pending | None:
        """Claim and gate one group; None when it is not to be sent now (duplicate, in flight, quiet)."""
        store = self.store
        claim = store.claim(lead, hold_seconds)
        if not claim.granted:
            denied = Outcome(claim.status.value)
            for index in members:
                outcomes[index] = FindingResult(findings[index], denied)
            return None
        window = quiet_period_for(self.quiet_periods, lead.rule_id)
        gate = store.quiet_gate(lead, window) if window else None
        lead, remediated = self._remediate(lead)
        if gate is not None and not gate.alert:
            for index in members:
                outcomes[index] = FindingResult(findings[index], Outcome.QUIET)
            outcomes[members[0]] = outcomes[members[0]]._replace(remediation=remediated)
            store.finish(lead, claim, Outcome.QUIET)
            store.record(lead, Outcome.QUIET, {}, gate.folded)
            return None
        note = ""
        if gate is not None and gate.folded:
            # Finding is immutable (a NamedTuple): the alert carries a copy with the count in it.
            note = gate.note()
            lead = lead._replace(details={**lead.details, FOLDED_DETAIL: note})
            outcomes[members[0]] = outcomes[members[0]]._replace(folded=note)
        if remediated:
            outcomes[members[0]] = outcomes[members[0]]._replace(remediation=remediated)
        return _Pending(lead, members, claim, gate)

    def _remediate(self, lead: Finding) -> tuple[Finding, str]:
        """The finding with its remediation's outcome among its details, and that outcome's line."""
        if self.remediator is None or self._record is None:
            return lead, ""
        from trailguard.services.remediation.runner import annotate, failed_result

        try:
            result = self.remediator.remediate(lead, self._record)
        except Exception as exc:  # noqa: BLE001 - a bug in an action must not cost the alert
            result = failed_result(lead, exc)
        if result is None:
            return lead, ""
        from trailguard.services import metrics
        from trailguard.services.remediation.runner import Status

        if result.status is Status.DONE:
            metrics.record_remediation()
        return annotate(lead, result), f"{result.status}: {result.text}"

    def _settle(
        self, item: _Pending, report: DeliveryReport | None, outcomes: list[FindingResult], findings: Sequence[Finding]
    ) -> None:
        """Record one group's outcome: finish what was delivered, give back what failed, keep history."""
        store = self.store
        delivered = report.of(item.finding) if report is not None else None
        delivery_outcome = delivered.outcome if delivered is not None else Outcome.UNROUTED
        channels = delivered.channels if delivered is not None else {}
        failure = delivered.failure if delivered is not None else ""
        for index in item.members:
            outcomes[index] = outcomes[index]._replace(outcome=delivery_outcome)
        if delivery_outcome is Outcome.FAILED:
            self._give_back(item, sent=[name for name, result in channels.items() if result == "delivered"])
        else:
            store.finish(item.finding, item.claim, delivery_outcome)
            if item.gate is not None:
                if delivery_outcome is Outcome.DELIVERED:
                    store.alerted(item.finding, item.gate)
                else:  # unrouted: nobody was told, so nothing may be silenced by it
                    store.rolled_back(item.finding, item.gate)
        folded = item.gate.folded if item.gate is not None and item.gate.alert else 0
        store.record(item.finding, delivery_outcome, channels, folded, failure)

    def _give_back(self, item: _Pending, sent: Sequence[str] = ()) -> None:
        self.store.release(item.finding, item.claim, sent)
        if item.gate is not None:
            self.store.rolled_back(item.finding, item.gate)


def lambda_delivery(settings: Settings, state: DetectionState | None = None) -> Delivery:
    """The Lambda's pipeline: the table's store (failing open, logged), channels built on first use
    from the settings' channel tables (a bad channel setting then fails that event, which AWS
    retries; check settings before deploying with ``trailguard send-test``)."""
    from trailguard.utils import logger

    if not settings.table_name:
        logger.warning(
            "no table_name (TRAILGUARD_TABLE_NAME): idempotency, findings history and quiet periods are off; "
            "a redelivered event is alerted again",
            quiet_periods_ignored=bool(settings.quiet_periods),
        )

    def store_failed(what: str, finding: Finding, error: StoreError) -> None:
        from trailguard.services import metrics

        metrics.count_store_error()
        logger.error(
            f"state store: {what} failed; going on without it",
            error=str(error),
            event_id=finding.event_id,
            rule_id=finding.rule_id,
        )

    def notifier() -> NotificationService | None:
        configured = settings.channels
        if not configured:
            logger.warning("no channels configured (TRAILGUARD_CHANNELS): findings are only logged")
            return None
        from trailguard.services.channels import build_channels
        from trailguard.services.notification_service import NotificationService

        # Raises ConfigError naming where the channels were set, the entry and the key.
        channels = build_channels(configured, delivery.context, settings.origin("channels"))
        logger.info("channels ready", channels=[channel.describe() for channel in channels])
        return NotificationService(channels, max_individual=settings.max_individual_alerts)

    # The channels' context (AWS clients, the secret cache) is built when something needs AWS: a
    # finding with no table and no channel imports none of it.
    delivery = Delivery(notifier, NullStore(), settings.quiet_periods)
    if settings.table_name:
        delivery.store = store_for(settings, delivery.context.aws, store_failed)
    if state is not None and any(mode != "off" for _glob, mode in settings.remediation):
        from trailguard.services.remediation.runner import Remediator

        delivery.remediator = Remediator(settings, lambda: delivery.context.aws, state)
    return delivery


def store_for(settings: Settings, aws: AwsClients, on_error: StoreProblem) -> Store:
    """The DynamoDB store when ``table_name`` is set (failing open), else the null store."""
    if not settings.table_name:
        return NullStore()
    from trailguard.services.stores.dynamodb import DynamoDBStore

    table = DynamoDBStore(
        settings.table_name,
        aws,
        dedupe_ttl_days=settings.dedupe_ttl_days,
        history_ttl_days=settings.history_ttl_days,
    )
    return FailOpenStore(table, on_error)
