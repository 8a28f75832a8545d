"""What is a CloudTrail event: the one definition the Lambda and the offline reader share.

A CloudTrail record is a JSON object whose ``eventSource`` and ``eventName`` are strings. It may
come bare, or as the ``detail`` of an EventBridge event whose ``detail-type`` ends in
"via CloudTrail" ("AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS
Service Event via CloudTrail"...). Anything else is refused with a reason that says what was
wrong, so that ``trailguard scan`` and ``lambda_handler`` accept and reject exactly the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from trailguard.core.event_types import as_text
from trailguard.utils.text import clip

CLOUDTRAIL_DETAIL_TYPE_SUFFIX = "via CloudTrail"
PREVIEW_CHARS = 80
NOT_A_RECORD = "not a CloudTrail record (no eventSource or eventName)"


class Unwrapped(NamedTuple):
    """The record, or None and the reason it is not one."""

    record: Mapping[str, Any] | None
    problem: str = ""


def unwrap(value: Any, allow_envelope: bool = True) -> Unwrapped:
    """The CloudTrail record ``value`` is or carries. ``allow_envelope`` False: inside a log file's
    ``Records``, where CloudTrail writes bare records only."""
    if not isinstance(value, Mapping):
        return Unwrapped(None, f"expected a JSON object, got {json_type(value)}")
    if allow_envelope and "detail-type" in value:
        detail_type = value.get("detail-type")
        if not isinstance(detail_type, str) or not detail_type.endswith(CLOUDTRAIL_DETAIL_TYPE_SUFFIX):
            return Unwrapped(
                None, f"EventBridge event of detail-type {preview(detail_type)} carries no CloudTrail record"
            )
        detail = value.get("detail")
        if not isinstance(detail, Mapping):
            return Unwrapped(None, f"EventBridge event has no detail object (got {json_type(detail)})")
        value = detail
    source, name = value.get("eventSource"), value.get("eventName")
    if source is None or name is None:
        return Unwrapped(None, NOT_A_RECORD)
    if not isinstance(source, str) or not isinstance(name, str):
        return Unwrapped(
            None, f"not a CloudTrail record (eventSource and eventName are {json_type(source)} and {json_type(name)})"
        )
    return Unwrapped(value)


def is_sqs_batch(value: Any) -> bool:
    """An SQS batch (EventBridge -> SQS -> Lambda): ``Records``, every one of them an SQS message."""
    records = value.get("Records") if isinstance(value, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def header(record: Mapping[str, Any]) -> dict[str, str]:
    """What identifies a record in a log line, as text (a hostile record's fields may be anything)."""
    return {
        "event_id": as_text(record.get("eventID")),
        "event_name": as_text(record.get("eventName")),
        "event_source": as_text(record.get("eventSource")),
        "account_id": as_text(record.get("recipientAccountId")),
        "region": as_text(record.get("awsRegion")),
    }


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A bounded repr of a value taken from the input, for messages."""
    return clip(repr(value), limit)


def json_type(value: Any) -> str:
    """How JSON would name the value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# -- S3 object notifications --------------------------------------------------------------------------
# S3 -> Lambda, S3 -> SNS -> Lambda, S3 -> SQS -> Lambda and S3 -> SNS -> SQS -> Lambda: which log
# files an event names (shapes: the S3 User Guide's "Event message structure", the SNS and SQS
# event shapes of the Lambda Developer Guide).

S3_EVENT_SOURCE = "aws:s3"
SNS_EVENT_SOURCE = "aws:sns"
S3_TEST_EVENT = "s3:TestEvent"


class S3Notification(NamedTuple):
    """The objects an S3 notification says were created, as (bucket, key) with the key decoded;
    ``test``: the ``s3:TestEvent`` S3 sends when a notification is configured; ``problem``: why a
    notification-shaped event names no object it should."""

    objects: tuple[tuple[str, str], ...] = ()
    test: bool = False
    problem: str = ""
    ignored: int = 0  # records of other event types (ObjectRemoved...)


def s3_notification(value: Any) -> S3Notification | None:
    """What S3 notification ``value`` is or carries (direct, an SNS envelope or Lambda's SNS event); None
    when it is none, so that the CloudTrail paths decide."""
    if not isinstance(value, Mapping):
        return None
    if value.get("Event") == S3_TEST_EVENT:
        return S3Notification(test=True)
    if value.get("Type") == "Notification" and "TopicArn" in value and "Message" in value:
        return _sns_message(value.get("Message"))  # an SNS envelope: S3 -> SNS -> SQS
    records = value.get("Records")
    if not isinstance(records, list) or not records or not all(isinstance(r, Mapping) for r in records):
        return None
    if all(r.get("eventSource") == S3_EVENT_SOURCE for r in records):
        return _s3_records(records)
    if all(r.get("EventSource") == SNS_EVENT_SOURCE for r in records):
        parts = [
            _sns_message(r.get("Sns", {}).get("Message") if isinstance(r.get("Sns"), Mapping) else None)
            for r in records
        ]
        return S3Notification(
            objects=tuple(obj for part in parts for obj in part.objects),
            test=all(part.test for part in parts),
            problem="; ".join(part.problem for part in parts if part.problem),
            ignored=sum(part.ignored for part in parts),
        )
    return None


def _sns_message(message: Any) -> S3Notification:
    import json

    if not isinstance(message, str):
        return S3Notification(problem=f"SNS notification's Message is {json_type(message)}, not a string")
    try:
        inner = json.loads(message)
    except (ValueError, RecursionError):
        return S3Notification(problem="SNS notification's Message is not JSON")
    found = s3_notification(inner)
    if found is None or (isinstance(inner, Mapping) and inner.get("Type") == "Notification"):
        return S3Notification(problem="SNS notification's Message is not an S3 event notification")
    return found


def _s3_records(records: list[Any]) -> S3Notification:
    from urllib.parse import unquote_plus

    objects: list[tuple[str, str]] = []
    problems: list[str] = []
    ignored = 0
    for index, record in enumerate(records):
        name = record.get("eventName")
        if not isinstance(name, str):
            problems.append(f"S3 record {index} has no eventName")
            continue
        if not name.startswith("ObjectCreated:"):
            ignored += 1  # a deletion, a restore...: nothing new to read
            continue
        s3 = record.get("s3")
        bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
        obj = s3.get("object") if isinstance(s3, Mapping) else None
        bucket_name = bucket.get("name") if isinstance(bucket, Mapping) else None
        key = obj.get("key") if isinstance(obj, Mapping) else None
        if not isinstance(bucket_name, str) or not bucket_name or not isinstance(key, str) or not key:
            problems.append(f"S3 record {index} names no bucket and key (s3.bucket.name, s3.object.key)")
            continue
        # S3 writes keys URL-encoded, a space as "+".
        objects.append((bucket_name, unquote_plus(key)))
    return S3Notification(tuple(objects), problem="; ".join(problems), ignored=ignored)


def is_batch_operations(value: Any) -> bool:
    """An S3 Batch Operations invocation (LambdaInvoke, invocation schema 1.0 or 2.0): tasks to run."""
    return isinstance(value, Mapping) and "invocationSchemaVersion" in value and isinstance(value.get("tasks"), list)
