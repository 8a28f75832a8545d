"""The table: its schema, the codec of its attribute values, and the calls every item kind makes.

One table holds every item kind (``pk``/``sk`` strings; ``expires_at`` is the TTL attribute,
epoch seconds); see the package's docstring for the kinds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trailguard.services.stores.base import StoreError
from trailguard.utils.text import bounded, one_line

if TYPE_CHECKING:
    from trailguard.utils.aws_helpers import AwsClients

TTL_ATTRIBUTE = "expires_at"
SENT_ATTRIBUTE = "sent_to"  # delivery items: a string set of channel names
RULE_INDEX = "by-rule"
# What infra/template.yaml must create (tests/test_state_store.py compares them).
TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "rule_id", "AttributeType": "S"},
        {"AttributeName": "event_time", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": RULE_INDEX,
            "KeySchema": [
                {"AttributeName": "rule_id", "KeyType": "HASH"},
                {"AttributeName": "event_time", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
}


def create_table(client: Any, table_name: str) -> None:
    """Create the table as the stack does (for tests and local set-ups; the stack owns the real one)."""
    schema = {key: value for key, value in TABLE_SCHEMA.items() if key != "TimeToLiveSpecification"}
    client.create_table(TableName=table_name, **schema)
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=TABLE_SCHEMA["TimeToLiveSpecification"])


DAY = 86_400
# DynamoDB keys are at most 1,024 (sort) / 2,048 (partition) bytes, and resource ids and ARNs come
# from the event: anything long is replaced by its hash, so no event can make a write fail.
_MAX_KEY_PART = 400
_CONDITION_FAILED = "ConditionalCheckFailedException"
_BATCH_ATTEMPTS = 4
# 16 text fields of at most 4,096 characters (up to 4 bytes each in UTF-8) stay well under 400 KB.
MAX_STORED_CHARS = 4096


def key_part(text: str) -> str:
    """Event text made safe for a key: ``#`` separates a key's parts, so it (and ``%``, to keep the
    escape reversible) is percent-encoded; otherwise an event id ``a#rule#b`` could make two
    findings share one history item. Too long, it is hashed (the hash never holds ``#``)."""
    escaped = text.replace("%", "%25").replace("#", "%23")
    if len(escaped.encode("utf-8", "replace")) <= _MAX_KEY_PART:
        return escaped
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def attr_s(value: str) -> dict[str, str]:
    return {"S": _unicode(value)}


def _unicode(text: str) -> str:
    """``text`` with lone surrogates (valid JSON escapes in a CloudTrail field, not Unicode) as
    U+FFFD: DynamoDB stores strings as UTF-8, which cannot hold them."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def stored_text(value: str) -> dict[str, str]:
    """Event text for a history item, bounded: DynamoDB refuses items over 400 KB, and one huge
    field (a 1 MB resource name) must not cost the finding its history."""
    return attr_s(bounded(value, MAX_STORED_CHARS))


def attr_n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def text_of(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return str(value["S"]) if isinstance(value, Mapping) and "S" in value else ""


def number_of(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if isinstance(value, Mapping) and "N" in value:
        return int(float(value["N"]))
    return 0


class ConditionFailed(Exception):
    def __init__(self, item: Mapping[str, Any]) -> None:
        super().__init__("condition failed")
        self.item = item


class Table:
    """One DynamoDB table and a clock; every AWS error but a failed condition is a ``StoreError``."""

    def __init__(self, table_name: str, aws: AwsClients, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.aws = aws
        self.clock = clock

    # -- DynamoDB calls -----------------------------------------------------------------------
    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.aws.client("dynamodb")
        try:
            response: dict[str, Any] = getattr(client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code == _CONDITION_FAILED:
                raise ConditionFailed(exc.response.get("Item") or {}) from None
            # AWS's message says what was wrong with the request; it never holds a credential.
            message = one_line(str(exc.response.get("Error", {}).get("Message", "")))[:300]
            raise StoreError(
                f"DynamoDB {operation} on table {self.table_name} failed: {code}" + (f" ({message})" if message else "")
            ) from None
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB {operation} on table {self.table_name} failed: {type(exc).__name__}") from None
        return response

    def get_many(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items stored under ``keys`` (those that exist, in no order), eventually consistent:
        one BatchGetItem for up to 100 keys (the one read operation the role grants for it); half a
        read unit per item of up to 4 KB."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.aws.client("dynamodb")
        found: list[dict[str, Any]] = []
        wanted: dict[str, Any] = {self.table_name: {"Keys": keys}}
        # Keys DynamoDB leaves unprocessed (throttling) are asked again, after a short wait.
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                response = client.batch_get_item(RequestItems=wanted)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
                raise StoreError(f"DynamoDB batch_get_item on table {self.table_name} failed: {code}") from None
            except BotoCoreError as exc:
                raise StoreError(
                    f"DynamoDB batch_get_item on table {self.table_name} failed: {type(exc).__name__}"
                ) from None
            found.extend(response.get("Responses", {}).get(self.table_name, ()))
            wanted = response.get("UnprocessedKeys") or {}
            if not wanted:
                return found
            time.sleep(0.05 * 2**attempt)
        raise StoreError(f"DynamoDB batch_get_item on table {self.table_name} failed: keys left unprocessed")

    def call_if(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write whose failed condition is an answer, not an error: False then."""
        try:
            self.call(operation, **kwargs)
        except ConditionFailed:
            return False
        return True

    def now(self) -> int:
        return int(self.clock())
