"""Lambda entry point: ``trailguard.main.lambda_handler(event, context)``.

Takes an EventBridge event carrying a CloudTrail record, a bare record, or an SQS batch of either
(``ReportBatchItemFailures``); ``core/envelope`` decides what is a CloudTrail event, as for
``trailguard scan``. Findings go through ``services/delivery``; one JSON log line per event.

Failures: a direct invocation not fully delivered raises ``DeliveryError`` (Lambda retries it); an
SQS batch returns its failed messages in ``batchItemFailures``. A malformed SQS message is reported
failed on purpose, so it reaches the dead-letter queue and its alarm; a malformed direct event is
logged and dropped. Settings and the engine are built once per container, delivery at the first finding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.engine import Engine
from trailguard.core.enums import Outcome
from trailguard.core.envelope import header, is_batch_operations, is_sqs_batch, s3_notification, unwrap
from trailguard.core.event_types import as_text
from trailguard.core.exceptions import DeliveryError
from trailguard.core.settings import Settings, alerting_warnings
from trailguard.core.state import DetectionState, LazyState
from trailguard.services import metrics
from trailguard.utils import logger

if TYPE_CHECKING:
    from trailguard.services.delivery import Delivery

# Without a Lambda context (tests, local runs): claims last as long as the longest invocation.
DEFAULT_REMAINING_SECONDS = 900.0
# Not started with less time left: an alert may take four 10-second attempts, and a message cut off
# by the timeout fails the whole batch. Messages not started are reported failed, and come back.
MIN_SECONDS_PER_MESSAGE = 60.0


class _Container:
    """What one Lambda container keeps between invocations, each part built on first use."""

    def __init__(self) -> None:
        # Once; the channel tables stay data until ``delivery`` builds (and validates) them.
        self.settings = Settings.load()
        for warning in alerting_warnings(self.settings):
            logger.warning(f"configuration: {warning}", outcome="config_warning")
        if any(mode != "off" for _glob, mode in self.settings.remediation):
            # Imported only then: with remediation off the cold start loads none of it.
            from trailguard.services.remediation.runner import remediation_warnings

            for warning in remediation_warnings(self.settings):
                logger.warning(f"configuration: {warning}", outcome="config_warning")
        # Stateful rules remember in the table (built when one first asks), else in this container.
        state = LazyState(partial(_table_state, self.settings.table_name)) if self.settings.table_name else None
        self.engine = Engine(self.settings, lazy=True, state=state)
        self._delivery: Delivery | None = None

    @property
    def delivery(self) -> Delivery:
        """Built when the first finding arrives: boto3 and the channels load only then."""
        if self._delivery is None:
            from trailguard.services.delivery import lambda_delivery

            self._delivery = lambda_delivery(self.settings, self.engine.state)
        return self._delivery


def _table_state(table_name: str) -> DetectionState:
    from trailguard.services.stores.dynamodb.detection import table_state

    return table_state(table_name, container().delivery.context.aws)  # delivery's clients: one session


_container: _Container | None = None


def container() -> _Container:
    """This container's state, built on the first call."""
    global _container
    _container = _container or _Container()
    return _container


def reset() -> None:
    """Forget everything built so far (tests change the environment between cases)."""
    global _container
    _container = None


def get_engine() -> Engine:
    return container().engine


class EventResult(NamedTuple):
    """What happened to one event; ``findings`` pairs each finding's rule id with its outcome."""

    event_id: str
    event_name: str
    outcome: str
    findings: tuple[tuple[str, Outcome], ...] = ()

    @property
    def retry(self) -> bool:
        """Should AWS deliver this event again (something was not delivered, or is being delivered)?"""
        return any(outcome.retry for _rule, outcome in self.findings)

    def summary(self) -> dict[str, Any]:
        findings = [{"rule_id": rule, "outcome": str(outcome)} for rule, outcome in self.findings]
        return {"event_id": self.event_id, "event_name": self.event_name, "outcome": self.outcome, "findings": findings}


def _remaining_seconds(context: Any) -> float:
    try:
        return max(0.0, float(context.get_remaining_time_in_millis()) / 1000.0)
    except (AttributeError, TypeError, ValueError):
        return DEFAULT_REMAINING_SECONDS


def process_record(
    record: Mapping[str, Any], context: Any = None, delivery: Delivery | None = None, **log_fields: Any
) -> EventResult:
    """Evaluate one CloudTrail record and alert on its findings (through ``delivery``, the container's by
    default); log one line about it."""
    state = container()
    suppressed_before = state.engine.stats.suppressed
    findings = state.engine.evaluate(record)
    metrics.count_event()
    for finding in findings:
        if not finding.routine:
            metrics.count_finding(finding.rule_id, finding.severity)
    suppressed = state.engine.stats.suppressed - suppressed_before
    base = {**header(record), "suppressed": suppressed, **log_fields}
    event_id, event_name = base["event_id"], base["event_name"]
    if not findings:
        outcome = "suppressed" if suppressed else "no_findings"
        logger.info("event", **base, rule_ids=[], outcome=outcome)
        return EventResult(event_id, event_name, outcome)
    batch = (delivery or state.delivery).deliver(findings, _remaining_seconds(context), record)
    metrics.count_delivery_failed(sum(result.outcome is Outcome.FAILED for result in batch.results))
    worst = batch.worst
    level = {Outcome.FAILED: logger.error, Outcome.IN_FLIGHT: logger.warning}.get(worst, logger.info)
    level(
        "event",
        **base,
        rule_ids=sorted({finding.rule_id for finding in findings}),
        outcome=str(worst),
        findings=[result.log_fields() for result in batch.results],
    )
    return EventResult(event_id, event_name, str(worst), tuple((r.finding.rule_id, r.outcome) for r in batch.results))


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    logger.bind(request_id=getattr(context, "aws_request_id", None))
    # One EMF document per invocation (services/metrics.py), written even when the invocation raises.
    metrics.begin()
    try:
        return _handle(event, context)
    finally:
        metrics.flush()


def _handle(event: Any, context: Any) -> dict[str, Any]:
    if is_sqs_batch(event):
        return _handle_sqs(event["Records"], context)
    notification = s3_notification(event)
    if notification is not None:  # S3 -> Lambda, S3 -> SNS -> Lambda: a log file to read
        from trailguard.s3_ingest import handle_notification

        return handle_notification(notification, context)
    if is_batch_operations(event):  # S3 Batch Operations: a replay of log files
        from trailguard.s3_ingest import handle_batch_operations

        return handle_batch_operations(event, context)
    record, problem = unwrap(event)
    if record is None:
        logger.error(
            f"not a CloudTrail record, nor an EventBridge event carrying one ({problem}): dropped "
            "(a retry cannot fix it)",
            keys=sorted(str(key) for key in event)[:20] if isinstance(event, Mapping) else [],
            input_type=type(event).__name__,
        )
        return {"outcome": "invalid"}
    result = process_record(record, context)
    if result.retry:
        failed = [rule for rule, outcome in result.findings if outcome.retry]
        # Raising makes Lambda's asynchronous invocation retry the event (then its on-failure destination).
        raise DeliveryError(
            f"event {result.event_id or '<no eventID>'}: {len(failed)} finding(s) not delivered "
            f"({result.outcome}: {', '.join(failed)}); raising so that AWS retries"
        )
    return result.summary()


def _handle_sqs(messages: Sequence[Mapping[str, Any]], context: Any) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    has_deadline = callable(getattr(context, "get_remaining_time_in_millis", None))
    for index, message in enumerate(messages):
        if has_deadline and _remaining_seconds(context) < MIN_SECONDS_PER_MESSAGE:
            left = [str(m.get("messageId", "")) for m in messages[index:]]
            why = "too little time left to start another message: the rest of the batch is reported failed"
            logger.warning(f"{why} and will be delivered again", message_ids=left, outcome="deadline")
            failures.extend({"itemIdentifier": left_id} for left_id in left)
            break
        if not _sqs_message_done(message, context):
            failures.append({"itemIdentifier": str(message.get("messageId", ""))})
    return {"batchItemFailures": failures}


def _sqs_message_done(message: Mapping[str, Any], context: Any) -> bool:
    """False: report the message failed, so SQS delivers it again (or moves it to the dead-letter queue)."""
    attributes = message.get("attributes")
    count = str(attributes.get("ApproximateReceiveCount")) if isinstance(attributes, Mapping) else ""
    fields: dict[str, Any] = {
        "message_id": str(message.get("messageId", "")),
        "receive_count": int(count) if count.isascii() and count.isdigit() else None,
    }
    try:
        body = json.loads(message.get("body") or "")
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        record, problem = None, f"body is not JSON ({type(exc).__name__})"
    else:
        notification = s3_notification(body)
        if notification is not None:  # S3 [-> SNS] -> SQS: a log file to read
            from trailguard.s3_ingest import notification_done

            return notification_done(notification, context, fields)
        record, problem = unwrap(body)
    if record is None:
        logger.error(
            f"malformed SQS message: {problem}; reported failed, so it moves to the dead-letter queue "
            "after the queue's maxReceiveCount",
            **fields,
            outcome="malformed",
        )
        return False
    try:
        return not process_record(record, context, **fields).retry
    except Exception as exc:  # noqa: BLE001 - one message's failure must not fail (and re-send) the others
        error = f"{type(exc).__name__}: {exc}"
        logger.error("message failed", **fields, event_id=as_text(record.get("eventID")), outcome="failed", error=error)
        return False
