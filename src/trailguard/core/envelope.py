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
