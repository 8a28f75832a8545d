"""Detection state in the stack's table, for the Lambda: ``core.state.DetectionState`` over DynamoDB.

Item kinds (``pk`` / ``sk``; every item carries the ``expires_at`` TTL):

===============  ===================================  ==============================================
kind             pk / sk                              what it holds
===============  ===================================  ==============================================
first seen       ``seen#<ns>#<entity>`` / ``v#<value>``  until when the value counts as known
baseline start   ``seen#<ns>#<entity>`` / ``since``   when the entity was first seen (the minimum)
tally bucket     ``tally#<ns>#<key>`` / ``b#<n>``     events (``ADD``) and members (string set) of one
                                                     tenth of a window
alert window     ``window#<ns>#<key>`` / ``window``   until when the window is open
correlation      ``corr#<ns>#<key>`` / ``<at>#<id>``  one remembered item
===============  ===================================  ==============================================

Concurrent invocations count correctly: counters are ``ADD`` updates, windows open with a
conditional write (only one invocation wins), baseline starts move only backwards (a conditional
update). A per-container cache remembers values already known, so a profile read once is not
written again within its lifetime: routine activity costs no DynamoDB request at all.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from trailguard.core.state import Sighting, Tally
from trailguard.services.stores.dynamodb.table import (
    TTL_ATTRIBUTE,
    ConditionFailed,
    Table,
    attr_n,
    attr_s,
    key_part,
    number_of,
    text_of,
)

if TYPE_CHECKING:
    from trailguard.utils.aws_helpers import AwsClients

BUCKETS_PER_WINDOW = 10
# The cache of known values is bounded: a container lives for hours, principals are few.
MAX_CACHED = 50_000
# Distinct members kept per bucket: enough to pass every threshold a rule uses, and bounded
# however many secrets a burst reads.
MAX_MEMBERS_PER_BUCKET = 200


class DynamoDetectionState:
    """``DetectionState`` over the table (``requests``: how many DynamoDB calls it made)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.requests = 0
        self._known: dict[tuple[str, str, str], float] = {}  # -> until when the value is known
        self._since: dict[tuple[str, str], float] = {}

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.requests += 1
        return self.table.call(operation, **kwargs)

    # -- first-seen sets ------------------------------------------------------------------------
    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        pk = f"seen#{key_part(namespace)}#{key_part(entity)}"
        cached_until = self._known.get((namespace, entity, value))
        since = self._since.get((namespace, entity))
        if cached_until is not None and cached_until >= at and since is not None and since <= at:
            return Sighting(False, since)
        since = self._baseline_start(pk, namespace, entity, at)
        response = self._call(
            "update_item",
            Key={"pk": attr_s(pk), "sk": attr_s(f"v#{key_part(value)}")},
            UpdateExpression=f"SET #until = :until, {TTL_ATTRIBUTE} = :until",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues={":until": attr_n(int(at + ttl))},
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes") or {}
        new = not old or number_of(old, "until") < at
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[(namespace, entity, value)] = at + ttl
        return Sighting(new, since)

    def _baseline_start(self, pk: str, namespace: str, entity: str, at: float) -> float:
        known = self._since.get((namespace, entity))
        if known is not None and known <= at:
            return known
        key = {"pk": attr_s(pk), "sk": attr_s("since")}
        try:
            # Only ever moves back: a late event older than the start becomes the start.
            self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET since = :at",
                ConditionExpression="attribute_not_exists(since) OR since > :at",
                ExpressionAttributeValues={":at": attr_n(int(at))},
            )
            since = float(int(at))
        except ConditionFailed:
            item = self._call("get_item", Key=key, ConsistentRead=True).get("Item") or {}
            since = float(number_of(item, "since") or int(at))
        self._since[(namespace, entity)] = since
        return since

    # -- windowed counters ----------------------------------------------------------------------
    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        width = max(1.0, window / BUCKETS_PER_WINDOW)
        bucket = int(at // width)
        pk = attr_s(f"tally#{key_part(namespace)}#{key_part(key)}")
        bucket_key = {"pk": pk, "sk": attr_s(f"b#{bucket:012d}")}
        values = {":one": attr_n(1), ":expires": attr_n(int(at + 2 * window))}
        try:
            # The member set stops growing at a bound (an item may hold 400 KB): past every threshold.
            self._call(
                "update_item",
                Key=bucket_key,
                UpdateExpression=f"ADD events :one, members :member SET {TTL_ATTRIBUTE} = :expires",
                ConditionExpression="attribute_not_exists(members) OR size(members) < :max",
                ExpressionAttributeValues={
                    **values,
                    ":member": {"SS": [key_part(member) or "-"]},
                    ":max": attr_n(MAX_MEMBERS_PER_BUCKET),
                },
            )
        except ConditionFailed:
            self._call(
                "update_item",
                Key=bucket_key,
                UpdateExpression=f"ADD events :one SET {TTL_ATTRIBUTE} = :expires",
                ExpressionAttributeValues=values,
            )
        first = int((at - window) // width) + 1
        page = self._call(
            "query",
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": pk,
                ":low": attr_s(f"b#{first:012d}"),
                ":high": attr_s(f"b#{bucket:012d}"),
            },
            ConsistentRead=True,
        )
        events = 0
        members: set[str] = set()
        for item in page.get("Items", []):
            events += number_of(item, "events")
            members.update(str(name) for name in (item.get("members") or {}).get("SS", ()))
        return Tally(events, len(members))

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        try:
            self._call(
                "put_item",
                Item={
                    "pk": attr_s(f"window#{key_part(namespace)}#{key_part(key)}"),
                    "sk": attr_s("window"),
                    "opened": attr_n(int(at)),
                    "until": attr_n(int(at + window)),
                    TTL_ATTRIBUTE: attr_n(int(at + window)),
                },
                # Open unless a window is open at ``at``, or opens less than a window after it.
                ConditionExpression="attribute_not_exists(pk) OR #until <= :at OR opened >= :later",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":at": attr_n(int(at)), ":later": attr_n(int(at + window))},
            )
        except ConditionFailed:
            return False
        return True

    # -- correlation keys -----------------------------------------------------------------------
    def remember(self, namespace: str, key: str, item: str, at: float, ttl: float) -> None:
        self._call(
            "put_item",
            Item={
                "pk": attr_s(f"corr#{key_part(namespace)}#{key_part(key)}"),
                "sk": attr_s(f"{int(at):012d}#{uuid.uuid4().hex}"),
                "at": attr_n(int(at)),
                "item": attr_s(item),
                TTL_ATTRIBUTE: attr_n(int(at + ttl)),
            },
        )

    def recall(self, namespace: str, key: str, since: float, until: float) -> list[tuple[float, str]]:
        page = self._call(
            "query",
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": attr_s(f"corr#{key_part(namespace)}#{key_part(key)}"),
                ":low": attr_s(f"{int(since):012d}"),
                ":high": attr_s(f"{int(until):012d}~"),
            },
            ConsistentRead=True,
        )
        found = [(float(number_of(item, "at")), text_of(item, "item")) for item in page.get("Items", [])]
        return sorted(found)


def table_state(table_name: str, aws: AwsClients) -> DynamoDetectionState:
    """The Lambda's detection state: the stack's table, through the clients delivery uses."""
    return DynamoDetectionState(Table(table_name, aws))
