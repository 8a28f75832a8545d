"""Lambda entry point: ``trailguard.main.lambda_handler(event, context)``.

Accepts an EventBridge event carrying a CloudTrail record (``detail-type`` "AWS API Call via
CloudTrail", "AWS Console Sign In via CloudTrail"...), a bare CloudTrail record, or an SQS batch
whose message bodies are either of those as JSON (EventBridge -> SQS -> Lambda, with the event
source mapping's ``ReportBatchItemFailures``).

For each event: the engine finds the findings; with a table (``table_name``), each finding is
claimed in DynamoDB (no duplicate alerts), checked against its rule's quiet period, sent through
the channels, then marked done and stored in the history; without a table it is just sent. One
JSON log line per event says what happened (see ``utils/logger``).

Failures, and what AWS does with them:

- A finding is delivered when every channel that takes it delivered it. When one failed (even if
  others delivered), it is stored as failed and retried as below; with a table, the retry goes
  only through the channels that failed (``sent_to`` in the delivery item), so nobody gets it
  twice; without one it goes through all of them again (duplicates rather than silence).
- Direct invocation (EventBridge -> Lambda, asynchronous): a finding not delivered raises
  ``DeliveryError``, so Lambda's async retries deliver it later (the findings that were delivered
  are marked done and are not sent again, when there is a table). An event that is not
  a CloudTrail record is logged as an error and dropped: retrying cannot fix it.
- SQS batch: each message is processed on its own and the failed ones are returned in
  ``batchItemFailures``, so the others are deleted and never sent again. A malformed body (not
  JSON, or not a CloudTrail event) is logged as an error and reported failed too, on purpose: it
  is not retried forever but moved to the dead-letter queue after the queue's ``maxReceiveCount``,
  where someone can look at it (the DLQ alarm fires), instead of vanishing.
- Another invocation delivering the same event right now (EventBridge's at-least-once delivery):
  this copy is reported as failed too ("in_flight"), to be retried a little later, when it will
  find the event delivered and send nothing (or deliver it, if the other attempt failed).

Settings, the engine, the channels, the notification service and the state store are built once
per container, each on first use: importing this module costs no more than the engine, and an
event without findings imports neither boto3 nor any notification module. The channels are
therefore validated when the first finding arrives, not at cold start (a channel configuration
error then fails that event, which AWS retries; check it before deploying with
``trailguard send-test``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.engine import Engine
from trailguard.core.event_types import as_text
from trailguard.core.exceptions import DeliveryError
from trailguard.core.settings import Settings
from trailguard.utils import logger

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding
    from trailguard.services.channels.base import ChannelContext
    from trailguard.services.notification_service import DeliveryReport, NotificationService
    from trailguard.services.state_store import Claim, QuietGate, StateStore

# Without a Lambda context (tests, local runs): claims last as long as the longest invocation.
DEFAULT_REMAINING_SECONDS = 900.0
FOLDED_DETAIL = "Folded repeats"

# Event outcomes, worst first: the event's outcome is the worst of its findings'.
_OUTCOME_ORDER = ("failed", "in_flight", "delivered", "quiet", "unrouted", "deduplicated")


class _Container:
    """What one Lambda container keeps between invocations, each part built on first use."""

    def __init__(self) -> None:
        # Loaded once. The channel tables stay plain data until ``notifier`` builds (and validates)
        # them: that imports the channel modules (smtplib, email, logging...), which only an event
        # with findings needs.
        self.settings = Settings.load()
        self.engine = Engine(self.settings, lazy=True)
        self._context: ChannelContext | None = None
        self._notifier: NotificationService | None = None
        self._notifier_ready = False
        self._store: StateStore | None = None
        if not self.settings.table_name:
            logger.warning(
                "no table_name (TRAILGUARD_TABLE_NAME): idempotency, findings history and quiet periods are off; "
                "a redelivered event is alerted again",
                quiet_periods_ignored=bool(self.settings.quiet_periods),
            )

    def channel_context(self) -> ChannelContext:
        if self._context is None:
            from trailguard.services.channels import ChannelContext

            self._context = ChannelContext()
        return self._context

    @property
    def notifier(self) -> NotificationService | None:
        """The notification service, or None when no channel is configured (findings are only logged)."""
        if not self._notifier_ready:
            configured = self.settings.channels
            if configured:
                from trailguard.services.channels import build_channels
                from trailguard.services.notification_service import NotificationService

                # Raises ConfigError naming where the channels were set, the entry and the key.
                channels = build_channels(configured, self.channel_context(), self.settings.origin("channels"))
                self._notifier = NotificationService(channels, max_individual=self.settings.max_individual_alerts)
                logger.info("channels ready", channels=[channel.describe() for channel in channels])
            else:
                logger.warning("no channels configured (TRAILGUARD_CHANNELS): findings are only logged")
            self._notifier_ready = True
        return self._notifier

    @property
    def store(self) -> StateStore | None:
        if self._store is None and self.settings.table_name:
            from trailguard.services.state_store import StateStore

            self._store = StateStore(
                self.settings.table_name,
                self.channel_context().aws,
                dedupe_ttl_days=self.settings.dedupe_ttl_days,
                history_ttl_days=self.settings.history_ttl_days,
            )
        return self._store


_container: _Container | None = None


def container() -> _Container:
    """This container's state, built on the first call."""
    global _container
    if _container is None:
        _container = _Container()
    return _container


def reset() -> None:
    """Forget everything built so far (tests change the environment between cases)."""
    global _container
    _container = None


def get_engine() -> Engine:
    """The container's engine, built from the environment on first use."""
    return container().engine


# ----------------------------------------------------------------------------------------------
# Input shapes
# ----------------------------------------------------------------------------------------------


def _is_record(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("eventSource"), str)
        and isinstance(value.get("eventName"), str)
    )


def cloudtrail_record(event: Any) -> Mapping[str, Any] | None:
    """The CloudTrail record in an EventBridge envelope, or the event itself when it is a bare
    record; None when it is neither."""
    if not isinstance(event, Mapping):
        return None
    if "detail-type" in event:
        detail = event.get("detail")
        return detail if _is_record(detail) else None
    return event if _is_record(event) else None


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


# ----------------------------------------------------------------------------------------------
# One event
# ----------------------------------------------------------------------------------------------


class EventResult(NamedTuple):
    """What happened to one event; ``findings`` pairs each finding's rule id with its outcome."""

    event_id: str
    event_name: str
    outcome: str
    findings: tuple[tuple[str, str], ...] = ()

    @property
    def retry(self) -> bool:
        """Should AWS deliver this event again (something was not delivered, or is being delivered)?"""
        return any(outcome in ("failed", "in_flight") for _rule, outcome in self.findings)

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_name": self.event_name,
            "outcome": self.outcome,
            "findings": [{"rule_id": rule, "outcome": outcome} for rule, outcome in self.findings],
        }


class _Pending(NamedTuple):
    finding: Finding
    claim: Claim | None
    gate: QuietGate | None


def _remaining_seconds(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return max(0.0, float(remaining()) / 1000.0)
        except (TypeError, ValueError):
            pass
    return DEFAULT_REMAINING_SECONDS


def _store_call(store: StateStore, what: str, finding: Finding, call: Any, *args: Any) -> Any:
    """A state-store call that must not stop the alert: a DynamoDB failure is logged, not raised."""
    from trailguard.services.state_store import StateStoreError

    try:
        return call(*args)
    except StateStoreError as exc:
        logger.error(
            f"state store: {what} failed; going on without it",
            error=str(exc),
            event_id=finding.event_id,
            rule_id=finding.rule_id,
        )
        return None


def process_record(record: Mapping[str, Any], context: Any = None, **log_fields: Any) -> EventResult:
    """Evaluate one CloudTrail record and alert on its findings; log one line about it."""
    state = container()
    engine = state.engine
    suppressed_before = engine.stats.suppressed
    findings = engine.evaluate(record)
    suppressed = engine.stats.suppressed - suppressed_before
    event_id = as_text(record.get("eventID"))
    event_name = as_text(record.get("eventName"))
    base = {
        "event_id": event_id,
        "event_name": event_name,
        "event_source": as_text(record.get("eventSource")),
        "account_id": as_text(record.get("recipientAccountId")),
        "region": as_text(record.get("awsRegion")),
        **log_fields,
    }
    if not findings:
        outcome = "suppressed" if suppressed else "no_findings"
        logger.info("event", **base, rule_ids=[], outcome=outcome, suppressed=suppressed)
        return EventResult(str(event_id), str(event_name), outcome)

    outcomes, shown = _alert(state, findings, _remaining_seconds(context))
    worst = min((outcome for _f, outcome in outcomes), key=_OUTCOME_ORDER.index)
    level = logger.error if worst == "failed" else logger.warning if worst == "in_flight" else logger.info
    level(
        "event",
        **base,
        rule_ids=sorted({finding.rule_id for finding in findings}),
        outcome=worst,
        suppressed=suppressed,
        findings=[
            {
                "rule_id": finding.rule_id,
                "severity": finding.severity.name,
                "resource": finding.resource.arn or finding.resource.id,
                "outcome": outcome,
                **({"folded": shown[index]} if index in shown else {}),
            }
            for index, (finding, outcome) in enumerate(outcomes)
        ],
    )
    return EventResult(str(event_id), str(event_name), worst, tuple((f.rule_id, o) for f, o in outcomes))


def _alert(
    state: _Container, findings: Sequence[Finding], remaining: float
) -> tuple[list[tuple[Finding, str]], dict[int, str]]:
    """Claim, gate, send, record. Returns each finding's outcome and the folded-repeat notes sent.

    Findings are tracked by event + rule + resource (the notification service's key too); should a
    rule report the same resource twice in one event, the two share one claim, gate and history item.
    """
    store = state.store
    outcomes: list[tuple[Finding, str]] = [(finding, "") for finding in findings]
    groups: dict[str, list[int]] = {}
    for index, finding in enumerate(findings):
        groups.setdefault(finding.key, []).append(index)
    pending: dict[str, _Pending] = {}  # by key: the group's lead finding as alerted, its claim and gate
    shown: dict[int, str] = {}
    for key, members in groups.items():
        lead = findings[members[0]]
        if store is None:
            pending[key] = _Pending(lead, None, None)
            continue
        from trailguard.services.state_store import QUIET, quiet_period_for

        claim = _store_call(store, "claim", lead, store.claim, lead, remaining)
        if claim is not None and not claim.granted:
            for index in members:
                outcomes[index] = (findings[index], claim.status)
            continue
        gate = None
        window = quiet_period_for(state.settings.quiet_periods, lead.rule_id)
        if window:
            gate = _store_call(store, "quiet period", lead, store.quiet_gate, lead, window)
        if gate is not None and not gate.alert:
            for index in members:
                outcomes[index] = (findings[index], QUIET)
            if claim is not None:
                _store_call(store, "finish", lead, store.finish, lead, claim, QUIET)
            _store_call(store, "history", lead, store.record, lead, QUIET, {}, gate.folded)
            continue
        if gate is not None and gate.folded:
            # Finding is immutable (a NamedTuple): the alert carries a copy with the count in it.
            shown[members[0]] = gate.note()
            lead = lead._replace(details={**lead.details, FOLDED_DETAIL: shown[members[0]]})
        pending[key] = _Pending(lead, claim, gate)

    if not pending:
        return outcomes, shown
    batch = [
        item.finding if index == groups[key][0] else findings[index]
        for key, item in pending.items()
        for index in groups[key]
    ]
    try:
        notifier = state.notifier
        # A retry after a channel failed goes through the channels that have not delivered it yet.
        already_sent = {key: item.claim.sent for key, item in pending.items() if item.claim and item.claim.sent}
        report = (
            notifier.notify(batch, raise_on_undelivered=False, already_sent=already_sent)
            if notifier is not None
            else None
        )
    except BaseException:
        # Nothing was marked done: give the claims and quiet windows back, so a retry can deliver.
        if store is not None:
            for item in pending.values():
                _give_back(store, item)
        raise
    for key, item in pending.items():
        sent_before = item.claim.sent if item.claim is not None else frozenset()
        outcome, channels, failure = _delivery_outcome(item.finding, report, sent_before)
        for index in groups[key]:
            outcomes[index] = (findings[index], outcome)
        if store is None:
            continue
        if outcome == "failed":
            _give_back(store, item, sent=[name for name, result in channels.items() if result == "delivered"])
        else:
            if item.claim is not None:
                _store_call(store, "finish", item.finding, store.finish, item.finding, item.claim, outcome)
            if item.gate is not None:
                if outcome == "delivered":
                    _store_call(store, "quiet period", item.finding, store.alerted, item.finding, item.gate)
                else:  # unrouted: nobody was told, so nothing may be silenced by it
                    _store_call(store, "quiet period", item.finding, store.rolled_back, item.finding, item.gate)
        folded = item.gate.folded if item.gate is not None and item.gate.alert else 0
        _store_call(store, "history", item.finding, store.record, item.finding, outcome, channels, folded, failure)
    return outcomes, shown


def _give_back(store: StateStore, item: _Pending, sent: Sequence[str] = ()) -> None:
    if item.claim is not None:
        _store_call(store, "release", item.finding, store.release, item.finding, item.claim, sent)
    if item.gate is not None:
        _store_call(store, "quiet period", item.finding, store.rolled_back, item.finding, item.gate)


def _delivery_outcome(
    finding: Finding, report: DeliveryReport | None, sent_before: frozenset[str] = frozenset()
) -> tuple[str, dict[str, str], str]:
    """delivered / failed / unrouted, what each channel did, and the last error (secret-free).

    Failed as soon as one channel that should have delivered it failed, even if others delivered:
    that channel's recipients were not told, and the retry sends it to them (only them, with a table).
    """
    if report is None:
        return "unrouted", {}, ""
    key = finding.key
    channels: dict[str, str] = dict.fromkeys(sorted(sent_before), "delivered")
    errors: list[str] = []
    for channel in report.outcomes:
        if key in channel.delivered:
            channels[channel.channel] = "delivered"
        elif key in channel.failed:
            error = channel.errors[-1] if channel.errors else "failed"
            channels[channel.channel] = f"failed: {error}"
            errors.append(f"{channel.channel}: {error}")
    if errors:
        return "failed", channels, "; ".join(errors)
    if channels:
        return "delivered", channels, ""
    return "unrouted", channels, ""


# ----------------------------------------------------------------------------------------------
# The handler
# ----------------------------------------------------------------------------------------------


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    logger.bind(request_id=getattr(context, "aws_request_id", None))
    if is_sqs_batch(event):
        return _handle_sqs(event["Records"], context)
    record = cloudtrail_record(event)
    if record is None:
        logger.error(
            "not a CloudTrail record, nor an EventBridge event carrying one: dropped (a retry cannot fix it)",
            keys=sorted(str(key) for key in event)[:20] if isinstance(event, Mapping) else [],
            input_type=type(event).__name__,
        )
        return {"outcome": "invalid"}
    result = process_record(record, context)
    if result.retry:
        failed = [rule for rule, outcome in result.findings if outcome in ("failed", "in_flight")]
        # Raising makes Lambda's asynchronous invocation retry the event (then its on-failure destination).
        raise DeliveryError(
            f"event {result.event_id or '<no eventID>'}: {len(failed)} finding(s) not delivered "
            f"({result.outcome}: {', '.join(failed)}); raising so that AWS retries"
        )
    return result.summary()


# A message is not started with less time than this left: one alert may need four SMTP or HTTP
# attempts with 10-second timeouts (about 45 s), and a message cut off by the Lambda timeout fails
# the whole batch.
# Messages not started are reported failed, so SQS delivers them again (the table prevents
# duplicates of anything already sent).
MIN_SECONDS_PER_MESSAGE = 60.0


def _handle_sqs(messages: Sequence[Mapping[str, Any]], context: Any) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    has_deadline = callable(getattr(context, "get_remaining_time_in_millis", None))
    for index, message in enumerate(messages):
        message_id = str(message.get("messageId", ""))
        receive_count = _receive_count(message)
        if has_deadline and _remaining_seconds(context) < MIN_SECONDS_PER_MESSAGE:
            left = [str(m.get("messageId", "")) for m in messages[index:]]
            logger.warning(
                "too little time left to start another message: the rest of the batch is reported failed "
                "and will be delivered again",
                message_ids=left,
                outcome="deadline",
            )
            failures.extend({"itemIdentifier": left_id} for left_id in left)
            break
        try:
            body = json.loads(message.get("body") or "")
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
            record = None
            problem = f"body is not JSON ({type(exc).__name__})"
        else:
            record = cloudtrail_record(body)
            problem = "body is not a CloudTrail record, nor an EventBridge event carrying one"
        if record is None:
            # Reported failed on purpose: after maxReceiveCount receives SQS moves it to the
            # dead-letter queue, where it is kept and alarmed on, rather than silently dropped.
            logger.error(
                f"malformed SQS message: {problem}; reported failed, so it moves to the dead-letter queue "
                "after the queue's maxReceiveCount",
                message_id=message_id,
                receive_count=receive_count,
                outcome="malformed",
            )
            failures.append({"itemIdentifier": message_id})
            continue
        try:
            result = process_record(record, context, message_id=message_id, receive_count=receive_count)
        except Exception as exc:  # noqa: BLE001 - one message's failure must not fail (and re-send) the others
            logger.error(
                "message failed",
                message_id=message_id,
                receive_count=receive_count,
                event_id=as_text(record.get("eventID")),
                outcome="failed",
                error=f"{type(exc).__name__}: {exc}",
            )
            failures.append({"itemIdentifier": message_id})
            continue
        if result.retry:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _receive_count(message: Mapping[str, Any]) -> int | None:
    attributes = message.get("attributes")
    value = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
