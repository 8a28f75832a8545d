"""Detection state in the stack's table, for the Lambda: ``core.state.DetectionState`` over DynamoDB.

Item kinds (``pk`` / ``sk``; every item carries the ``expires_at`` TTL):

===============  ======================================  ===========================================
kind             pk / sk                                 what it holds
===============  ======================================  ===========================================
first seen       ``seen#<ns>#<entity>`` / ``v#<value>``  until when the value counts as known
baseline start   ``seen#<ns>#<entity>`` / ``since``      when the entity was first seen (the minimum)
tally            ``tally#<ns>#<key>`` / ``counts``       per tenth of a window ``<n>``: events
                                                        (``e<n>``, ``ADD``) and members (``h<n>``,
                                                        a string set of short hashes)
alert window     ``window#<ns>#<key>`` / ``window``      until when the window is open
correlation      ``corr#<ns>#<key>`` / ``<at>#<id>``     one remembered item
===============  ======================================  ===========================================

Concurrent invocations count correctly: counters are ``ADD`` updates of one item, whose new
value the same request returns (a tally is one write, and no read); windows open with a
conditional write (only one invocation wins), baseline starts move only backwards (a conditional
update). Each request's cost is one unit: items stay under 1 KB (members are hashed; a window
holds at most ``MAX_MEMBERS_PER_BUCKET`` per tenth).

A per-container cache keeps the answers that cannot change until a time it knows, so that they
cost no request at all: a value a principal has shown stays known until its TTL (a profile read
once is not read or written again), a baseline start stays (it only moves back, for an older
event), and an alert window seen open stays open until it ends (its repeats cost nothing; an
event of the same window in another container is the same answer). What others may change meanwhile
is never cached: counts (every tally writes, and reads the fresh total back) and correlation items.

A first sighting the cache cannot answer is read first (one eventually consistent read of the
value and, for an entity new to the container, its start: half a read unit each, a tenth of a
write's price), and written only when new (a conditional write: of two invocations, one reports
it) or when its TTL is due to move (at most daily: ``until`` stays within ``min(a day, ttl / 10)``
of the last sighting's ``at + ttl``). ``first_in_window_here`` (the correlator's step
de-duplication) keeps its windows in the container only: no request.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trailguard.core.state import DAY, Sighting, Tally
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
# Tenths of a window kept in a tally item behind its newest: a window and a half, so that an event
# up to half a window late still counts its whole window; one later counts the tenths still kept
# only. Not two windows: a write costs a unit per KB of the item, and on the soak's mix two windows
# of a steady reader's tenths made the median tally item 1.1 KB (two units).
KEPT_BUCKETS = BUCKETS_PER_WINDOW + BUCKETS_PER_WINDOW // 2
# Attributes of tenths older than that, removed by the next update of the item (a bounded
# expression: the rest the update after).
MAX_REMOVED = 20
# Each cache is bounded: a container lives for hours, principals are few.
MAX_CACHED = 50_000
# Distinct members kept per tenth of a window: enough to pass every threshold a rule uses, and
# bounded however many secrets a burst reads.
MAX_MEMBERS_PER_BUCKET = 200


def member_hash(member: str) -> str:
    """A member as a tally counts it: 48 bits of its BLAKE2b hash (8 characters), so that a tally
    item of a window and a half of long ARNs stays one write unit (a unit per KB); a collision
    among one principal's few thousand members of those minutes (about 1 in 10^7 at 4,000) would
    count two members as one."""
    digest = hashlib.blake2b(member.encode("utf-8", "replace"), digest_size=6).digest()
    return base64.b64encode(digest).decode("ascii")


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= MAX_CACHED:
        cache.clear()
    return cache


class DynamoDetectionState:
    """``DetectionState`` over the table (``requests``: how many DynamoDB calls it made)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.requests = 0
        self._known: dict[tuple[str, str, str], float] = {}  # -> until when the value is known
        self._since: dict[tuple[str, str], float] = {}
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # -> (opened, until) of a window seen
        self._here: dict[tuple[str, str], float] = {}  # -> when this container's own window opened
        self._stale: dict[str, list[str]] = {}  # tally pk -> attributes of tenths no window needs
        self._expires: dict[str, int] = {}  # tally pk -> the latest TTL written

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.requests += 1
        return self.table.call(operation, **kwargs)

    # -- first-seen sets ------------------------------------------------------------------------
    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        pk = f"seen#{key_part(namespace)}#{key_part(entity)}"
        cached_until = self._known.get((namespace, entity, value))
        since = self._since.get((namespace, entity))
        known = cached_until is not None and cached_until >= at
        if known and since is not None and since <= at:
            return Sighting(False, since)
        value_key = {"pk": attr_s(pk), "sk": attr_s(f"v#{key_part(value)}")}
        since_key = {"pk": attr_s(pk), "sk": attr_s("since")}
        # Read before writing: most values a container has not cached yet are known in the table
        # (another container, or this one before its restart, saw them), and an eventually
        # consistent read costs a tenth of a write. A stale "not seen" is settled by the
        # conditional write below; a stale "seen" cannot happen (values are only ever added).
        # A value cached as expired needs no read: the conditional write tells whether another
        # invocation saw it meanwhile.
        wanted = ([] if cached_until is not None else [value_key]) + ([since_key] if since is None else [])
        stored: dict[str, dict[str, Any]] = {}
        if wanted:
            self.requests += 1
            stored = {str(item.get("sk", {}).get("S", "")): item for item in self.table.get_many(wanted)}
        since = self._baseline_start(pk, namespace, entity, at, stored.get("since"))
        if known:
            return Sighting(False, since)
        old = stored.get(value_key["sk"]["S"])
        until = number_of(old, "until") if old else 0
        if until >= at:
            # Known. Its TTL moves on rarely, not with every container's first sighting.
            if until < at + ttl - min(DAY, ttl / 10):
                until = int(at + ttl)
                self._write_value(value_key, until, only_if="#until < :until")
            _bounded(self._known)[(namespace, entity, value)] = until
            return Sighting(False, since)
        # New here, or expired: the write that records it says whether another invocation did first.
        until = int(at + ttl)
        new = self._write_value(value_key, until, only_if="attribute_not_exists(#until) OR #until < :at", at=at)
        _bounded(self._known)[(namespace, entity, value)] = until
        return Sighting(new, since)

    def _write_value(self, key: dict[str, Any], until: int, only_if: str, at: float | None = None) -> bool:
        """Set the value's ``until`` (and TTL) when ``only_if`` holds; whether it did."""
        values = {":until": attr_n(until), **({":at": attr_n(int(at))} if at is not None else {})}
        try:
            self._call(
                "update_item",
                Key=key,
                UpdateExpression=f"SET #until = :until, {TTL_ATTRIBUTE} = :until",
                ConditionExpression=only_if,
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True

    def _baseline_start(
        self, pk: str, namespace: str, entity: str, at: float, stored: dict[str, Any] | None = None
    ) -> float:
        """When the entity's baseline started: the cache, else ``stored`` (the item read), moved back
        to ``at`` when ``at`` is older (or there is none)."""
        known = self._since.get((namespace, entity))
        if known is None and stored and "since" in stored:
            known = float(number_of(stored, "since"))
            _bounded(self._since)[(namespace, entity)] = known
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
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            since = float(int(at))
        except ConditionFailed as failed:
            # The start another invocation (or an earlier container) wrote: no read needed.
            since = float(number_of(failed.item, "since") or int(at))
        _bounded(self._since)[(namespace, entity)] = since
        return since

    # -- windowed counters ----------------------------------------------------------------------
    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        return self.tally_all(namespace, key, [member], at, window)

    def tally_all(self, namespace: str, key: str, members: Sequence[str], at: float, window: float) -> Tally:
        """One update for all of an event's members (a GetParameters of several names): ``ADD`` of
        their number and of their hashes."""
        width = max(1.0, window / BUCKETS_PER_WINDOW)
        bucket = int(at // width)
        first = int((at - window) // width) + 1
        pk = f"tally#{key_part(namespace)}#{key_part(key)}"
        # Members are ``h<n>`` (48-bit hashes); ``m<n>`` held 72-bit ones: never counted (a member in
        # both would count twice), removed as stale.
        counted, listed = f"e{bucket}", f"h{bucket}"
        # A late event's own tenth is never among those removed (two paths of one update may not overlap).
        stale = [name for name in self._stale.get(pk, ()) if name[1:] != str(bucket)]
        removed = stale[:MAX_REMOVED]
        expires = max(int(at + 2 * window), self._expires.get(pk, 0))
        names = {"#e": counted, **{f"#r{n}": name for n, name in enumerate(removed)}}
        remove = (" REMOVE " + ", ".join(f"#r{n}" for n in range(len(removed)))) if removed else ""
        request: dict[str, Any] = {
            "Key": {"pk": attr_s(pk), "sk": attr_s("counts")},
            "ReturnValues": "ALL_NEW",
        }
        values = {":one": attr_n(len(members)), ":expires": attr_n(expires)}
        try:
            # The member set stops growing at a bound (passed by at most one event's members):
            # past every threshold.
            response = self._call(
                "update_item",
                **request,
                UpdateExpression=f"ADD #e :one, #m :member SET {TTL_ATTRIBUTE} = :expires{remove}",
                ConditionExpression="attribute_not_exists(#m) OR size(#m) < :max",
                ExpressionAttributeNames={**names, "#m": listed},
                ExpressionAttributeValues={
                    **values,
                    ":member": {"SS": sorted({member_hash(member) for member in members})},
                    ":max": attr_n(MAX_MEMBERS_PER_BUCKET),
                },
            )
        except ConditionFailed:
            response = self._call(
                "update_item",
                **request,
                UpdateExpression=f"ADD #e :one SET {TTL_ATTRIBUTE} = :expires{remove}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        _bounded(self._expires)[pk] = expires
        events = 0
        hashes: set[str] = set()
        old: list[str] = []
        for name, value in (response.get("Attributes") or {}).items():
            kind, number = name[:1], name[1:]
            if kind not in ("e", "h", "m") or not number.isdigit():
                continue
            tenth = int(number)
            if tenth <= bucket - KEPT_BUCKETS or kind == "m":
                old.append(name)
            elif first <= tenth <= bucket:
                if kind == "e":
                    events += int(value.get("N", "0"))
                else:
                    hashes.update(value.get("SS", ()))
        # What the item holds now says what the next update removes.
        if old:
            _bounded(self._stale)[pk] = old
        else:
            self._stale.pop(pk, None)
        return Tally(events, len(hashes))

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        start, later = int(at), int(at + window)
        seen = self._windows.get((namespace, key))
        # The condition below, on the window last seen: open at ``at`` (or opening less than a window
        # after it), it is the answer for as long as it lasts. Another invocation may only replace
        # it with a window of events a whole window away, which does not make this one less open.
        if seen is not None and seen[1] > start and seen[0] < later:
            return False
        try:
            self._call(
                "put_item",
                Item={
                    "pk": attr_s(f"window#{key_part(namespace)}#{key_part(key)}"),
                    "sk": attr_s("window"),
                    "opened": attr_n(start),
                    "until": attr_n(later),
                    TTL_ATTRIBUTE: attr_n(later),
                },
                # Open unless a window is open at ``at``, or opens less than a window after it.
                ConditionExpression="attribute_not_exists(pk) OR #until <= :at OR opened >= :later",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":at": attr_n(start), ":later": attr_n(later)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            if "until" in failed.item and "opened" in failed.item:
                _bounded(self._windows)[(namespace, key)] = (
                    number_of(failed.item, "opened"),
                    number_of(failed.item, "until"),
                )
            return False
        _bounded(self._windows)[(namespace, key)] = (start, later)
        return True

    def first_in_window_here(self, namespace: str, key: str, at: float, window: float) -> bool:
        """The windows this container opened, in memory: no request (``first_in_window``'s rule)."""
        opened = self._here.get((namespace, key))
        if opened is not None and abs(at - opened) < window:
            return False
        _bounded(self._here)[(namespace, key)] = at
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
