"""The Lambda's S3 paths: S3 object notifications (direct, through SNS, through SQS) and S3 Batch
Operations tasks. Each names a CloudTrail log file; it is read through the reader the scan uses
(``Reader.read_bytes``: gzip, the decompression bound, the same verdicts), every record a rule wants
is evaluated and delivered by ``main.process_record``, as an EventBridge event would be: the claims
per event id make a file notified twice, or an event that came through EventBridge too, send
nothing new.

An object's outcome:
- ``done``: read, and every finding delivered (or deduplicated, quiet...);
- ``skipped``: not CloudTrail by its key (a digest, AWS Config...), as the scan skips it;
- ``retry``: S3 throttled or failed, or a finding was not delivered: report failed, AWS comes back;
- ``poison``: the object cannot be read as CloudTrail (missing, access denied, too large, not gzip,
  not a log file): report failed, so that it reaches the dead-letter queue (SQS) or the job's
  report (Batch Operations, PermanentFailure).

Only imported for S3 events: boto3 and this module stay off an EventBridge event's cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard import main
from trailguard.core.envelope import S3Notification
from trailguard.core.exceptions import DeliveryError
from trailguard.sources import JSON_LINES_SUFFIXES, MAX_DECOMPRESSED_BYTES, InputProblem, Reader, Wants, skipped_kind
from trailguard.sources_s3 import ObjectError, location, read_object
from trailguard.utils import logger

if TYPE_CHECKING:
    from trailguard.core.engine import Engine
    from trailguard.services.delivery import Delivery

# CloudTrail's log files are a few MB gzipped; a larger object is not downloaded into the function.
MAX_OBJECT_BYTES = 64 << 20
# At most this many of an object's problems are logged (a broken file may have thousands).
PROBLEMS_LOGGED = 5

DONE, SKIPPED, RETRY, POISON = "done", "skipped", "retry", "poison"


class ObjectOutcome(NamedTuple):
    location: str
    status: str
    reason: str = ""
    events: int = 0  # records evaluated
    findings: int = 0

    @property
    def failed(self) -> bool:
        return self.status in (RETRY, POISON)

    def summary(self) -> dict[str, Any]:
        return {"object": self.location, "outcome": self.status, "events": self.events, "findings": self.findings}


def process_object(
    bucket: str, key: str, context: Any, delivery: Delivery | None = None, **log_fields: Any
) -> ObjectOutcome:
    """Read one log file from S3, evaluate and deliver its records; log one line about the object."""
    where = location(bucket, key)
    fields = {"object": where, **log_fields}
    kind = skipped_kind(key)
    if kind is not None:
        logger.info(f"not CloudTrail ({kind}): skipped", **fields, outcome=SKIPPED)
        return ObjectOutcome(where, SKIPPED, kind)
    state = main.container()
    try:
        data = read_object(state.delivery.context.aws.client("s3"), bucket, key, MAX_OBJECT_BYTES)
    except ObjectError as exc:
        status = RETRY if exc.transient else POISON
        logger.error(f"log file not read: {exc.reason}", **fields, outcome=status)
        return ObjectOutcome(where, status, exc.reason)
    problems: list[InputProblem] = []
    reader = Reader(
        wants=_loading_wants(state.engine), on_problem=problems.append, max_decompressed=MAX_DECOMPRESSED_BYTES
    )
    events = findings = 0
    retry: list[str] = []
    for record in reader.read_bytes(data, where, key.endswith(JSON_LINES_SUFFIXES)):
        events += 1
        try:
            result = main.process_record(record, context, delivery=delivery, **fields)
        except Exception as exc:  # noqa: BLE001 - one record's failure must not stop the file's others
            logger.error(
                "event failed", **fields, event_id=str(record.get("eventID")), error=f"{type(exc).__name__}: {exc}"
            )
            retry.append(str(record.get("eventID")))
            continue
        findings += len(result.findings)
        if result.retry:
            retry.append(result.event_id)
    counts = {"records": reader.stats.records, "events": events, "findings": findings}
    if retry:
        reason = f"{len(retry)} event(s) not fully delivered: retried later"
        logger.error(f"log file: {reason}", **fields, **counts, event_ids=retry[:20], outcome=RETRY)
        return ObjectOutcome(where, RETRY, reason, events, findings)
    if problems:
        reason = f"not read as CloudTrail: {problems[0]}"
        shown = [str(problem) for problem in problems[:PROBLEMS_LOGGED]]
        logger.error(f"log file: {reason}", **fields, **counts, problems=shown, outcome=POISON)
        return ObjectOutcome(where, POISON, reason, events, findings)
    logger.info("log file", **fields, **counts, outcome=DONE)
    return ObjectOutcome(where, DONE, "", events, findings)


def _loading_wants(engine: Engine) -> Wants:
    """The engine's pre-filter, loading the rule modules of each kind of record first (the Lambda's
    engine is lazy: it knows only the rules of the events it has met)."""

    def wants(source: Any, name: Any, identity_type: Any, failed: bool) -> bool:
        if isinstance(source, str):
            engine.prepare_for(source, identity_type if isinstance(identity_type, str) else "")
        return engine.wants(source, name, identity_type, failed)

    return wants


def notification_outcomes(notification: S3Notification, context: Any, **log_fields: Any) -> list[ObjectOutcome]:
    """Every object of one notification, in order (a notification names one, in practice)."""
    if notification.test:
        logger.info(
            "s3:TestEvent (S3 checks a new notification configuration): ignored", **log_fields, outcome="test_event"
        )
        return []
    if notification.ignored and not notification.objects:
        logger.info("S3 notification of no created object: ignored", **log_fields, outcome="ignored")
    return [process_object(bucket, key, context, **log_fields) for bucket, key in notification.objects]


def notification_done(notification: S3Notification, context: Any, fields: Mapping[str, Any]) -> bool:
    """One SQS message holding an S3 notification; False: report it failed (redelivered, then the DLQ)."""
    if notification.problem:
        logger.error(
            f"malformed S3 notification: {notification.problem}; reported failed, so it moves to the "
            "dead-letter queue after the queue's maxReceiveCount",
            **fields,
            outcome="malformed",
        )
        return False
    return not any(outcome.failed for outcome in notification_outcomes(notification, context, **fields))


def handle_notification(notification: S3Notification, context: Any) -> dict[str, Any]:
    """A direct (asynchronous) invocation by S3 or SNS: raising makes Lambda retry it, then send it to
    the function's dead-letter queue, as for an EventBridge event not delivered."""
    if notification.problem:
        logger.error(
            f"malformed S3 notification ({notification.problem}), and not a CloudTrail record: dropped "
            "(a retry cannot fix it)"
        )
        return {"outcome": "invalid"}
    outcomes = notification_outcomes(notification, context)
    if notification.test:
        return {"outcome": "test_event"}
    failed = [outcome for outcome in outcomes if outcome.failed]
    if failed:
        raise DeliveryError(
            f"{len(failed)} log file(s) not done ({', '.join(f'{o.location}: {o.status}' for o in failed)}); "
            "raising so that AWS retries"
        )
    return {"objects": [outcome.summary() for outcome in outcomes]}


# -- S3 Batch Operations: a replay ---------------------------------------------------------------------
# The LambdaInvoke operation's event and result (the S3 User Guide, "Invoke AWS Lambda function"):
# schema 1.0 names the bucket by ARN (s3BucketArn), 2.0 by name (s3Bucket) and passes the job's
# userArguments. Keys arrive URL-encoded.

REPLAY_ENV = "TRAILGUARD_REPLAY"
REPLAY_ARGUMENT = "replay"
# Where a replay's findings go: the findings history only (the default: last month pages nobody),
# one channel of the configuration (``channel:<name>``, a replay room), or as live events ("live").
REPLAY_HISTORY, REPLAY_LIVE, REPLAY_CHANNEL = "history", "live", "channel:"
SUCCEEDED, TEMPORARY_FAILURE, PERMANENT_FAILURE = "Succeeded", "TemporaryFailure", "PermanentFailure"
_RESULT_CODES = {DONE: SUCCEEDED, SKIPPED: SUCCEEDED, RETRY: TEMPORARY_FAILURE, POISON: PERMANENT_FAILURE}
RESULT_STRING_CHARS = 200


def replay_mode(arguments: Any) -> str:
    """The job's ``userArguments.replay`` (schema 2.0), else ``TRAILGUARD_REPLAY``, else history only."""
    import os

    chosen = arguments.get(REPLAY_ARGUMENT) if isinstance(arguments, Mapping) else None
    mode = str(chosen or os.environ.get(REPLAY_ENV) or REPLAY_HISTORY).strip()
    if mode in (REPLAY_HISTORY, REPLAY_LIVE) or (mode.startswith(REPLAY_CHANNEL) and len(mode) > len(REPLAY_CHANNEL)):
        return mode
    raise ValueError(f"replay mode {mode[:80]!r}: expected history, live or channel:<name>")


def replay_delivery(mode: str) -> Delivery | None:
    """The delivery of a replay's findings (None: the container's own, for ``live``); one per mode and container."""
    if mode == REPLAY_LIVE:
        return None
    state = main.container()
    built: dict[str, Delivery] = state.__dict__.setdefault("replay_deliveries", {})
    if mode not in built:
        from trailguard.core.exceptions import ConfigError
        from trailguard.services.delivery import lambda_delivery

        name = mode.removeprefix(REPLAY_CHANNEL) if mode.startswith(REPLAY_CHANNEL) else None
        channels = tuple(table for table in state.settings.channels if name is not None and table.get("name") == name)
        if name is not None and not channels:
            raise ConfigError(f"replay channel {name!r} is not among the configured channels")
        # Last month's changes are not undone now: they may have been put right, or become intended.
        built[mode] = lambda_delivery(state.settings._replace(channels=channels, remediation=()))
    return built[mode]


def _task_object(task: Any, version: str) -> tuple[str, str]:
    from urllib.parse import unquote_plus

    if not isinstance(task, Mapping):
        raise ValueError("task is not an object")
    bucket = task.get("s3Bucket") if version == "2.0" else None
    if not bucket:
        arn = task.get("s3BucketArn")
        bucket = arn.rsplit(":", 1)[-1] if isinstance(arn, str) and arn.startswith("arn:") else None
    key = task.get("s3Key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise ValueError("task names no bucket (s3Bucket or s3BucketArn) and key (s3Key)")
    return bucket, unquote_plus(key)


def handle_batch_operations(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """One S3 Batch Operations invocation: each task's log file replayed; the result Batch Operations
    reads (Succeeded, TemporaryFailure: retried, PermanentFailure: in the job's report)."""
    version = str(event.get("invocationSchemaVersion"))
    given = event.get("job")
    job: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    fields = {"job_id": str(job.get("id", "")), "invocation_id": str(event.get("invocationId", ""))}
    results: list[dict[str, str]] = []
    try:
        mode = replay_mode(job.get("userArguments") if version == "2.0" else None)
        delivery = replay_delivery(mode)
    except Exception as exc:  # noqa: BLE001 - a bad replay setting fails every task, each saying why
        reason = f"{type(exc).__name__}: {exc}"
        logger.error(f"replay not started: {reason}", **fields, outcome="failed")
        mode, delivery, setup_error = "", None, reason
    else:
        setup_error = ""
    for task in event.get("tasks") or []:
        task_id = str(task.get("taskId", "")) if isinstance(task, Mapping) else ""
        if setup_error:
            failure = setup_error[:RESULT_STRING_CHARS]
            results.append({"taskId": task_id, "resultCode": PERMANENT_FAILURE, "resultString": failure})
            continue
        try:
            bucket, key = _task_object(task, version)
        except ValueError as exc:
            logger.error(f"malformed Batch Operations task: {exc}", **fields, task_id=task_id, outcome="malformed")
            results.append({"taskId": task_id, "resultCode": PERMANENT_FAILURE, "resultString": str(exc)})
            continue
        outcome = process_object(bucket, key, context, delivery, **fields, task_id=task_id, replay=mode)
        summary = outcome.reason or f"{outcome.events} events, {outcome.findings} findings ({mode})"
        results.append(
            {
                "taskId": task_id,
                "resultCode": _RESULT_CODES[outcome.status],
                "resultString": summary[:RESULT_STRING_CHARS],
            }
        )
    return {
        "invocationSchemaVersion": version,
        "treatMissingKeysAs": PERMANENT_FAILURE,
        "invocationId": event.get("invocationId"),
        "results": results,
    }
