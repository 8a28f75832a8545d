"""The Lambda's memory in one DynamoDB table: no duplicate alerts, a findings history, quiet periods.

One table, three kinds of item (``pk``/``sk`` strings; ``expires_at`` is the TTL attribute, epoch
seconds):

=================  ==============================  =====================================================
item               pk / sk                         what it is for
=================  ==============================  =====================================================
delivery           ``event#<eventID>`` /           idempotency: ``claimed`` while an invocation delivers
                   ``finding#<rule>#<resource>``   it, then ``delivered``, ``quiet`` or ``unrouted``
                                                   (done: a second delivery of the event sends nothing);
                                                   ``sent_to``: the channels that delivered it when
                                                   another failed (the retry skips them). Lives
                                                   ``dedupe_ttl_days``.
history            ``history#<YYYY-MM-DD>`` /      one per finding: rule, severity, resource, actor,
                   ``<eventTime>#<eventID>#        account, region, times, outcome and the outcome per
                   <rule>#<resource>``             channel; the only items with ``rule_id`` and
                                                   ``event_time``, so the ``by-rule`` index holds only
                                                   them. Lives ``history_ttl_days``.
quiet window       ``quiet#<dedupe key>`` /        the quiet period of rule + resource + actor: until
                   ``window``                      when, which finding opened it, and how many repeats
                                                   were folded into it (an atomic counter).
=================  ==============================  =====================================================

Concurrency. A delivery item is *claimed* with a conditional put before anything is sent; the
claim expires when the claiming invocation can no longer be running (its remaining Lambda time plus
a margin), so a crashed or timed-out invocation never blocks its own retry. An invocation that
finds a live claim held by another reports the event "in flight" and lets AWS retry it later
(SQS redelivery, Lambda's async retry): by then the first one has either delivered (the retry sends
nothing) or failed and released its claim (the retry delivers). Nothing is ever marked done before
a channel accepted it.

Every AWS error other than a failed condition is raised as ``StateStoreError`` (secret-free); the
Lambda then alerts without the table rather than not at all.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.exceptions import TrailguardError
from trailguard.utils.text import bounded

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding
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
# Claims outlive the claiming invocation's deadline by this much (clock skew between containers).
CLAIM_MARGIN_SECONDS = 30
# A time query walks one partition per day: refuse a range that would walk years of them.
MAX_QUERY_DAYS = 400
# DynamoDB keys are at most 1,024 (sort) / 2,048 (partition) bytes, and resource ids and ARNs come
# from the event: anything long is replaced by its hash, so no event can make a write fail.
_MAX_KEY_PART = 400
_CONDITION_FAILED = "ConditionalCheckFailedException"
# 16 text fields of at most 4,096 characters (up to 4 bytes each in UTF-8) stay well under 400 KB.
_MAX_STORED_CHARS = 4096

# Outcomes of one finding, as logged and stored.
DELIVERED = "delivered"
FAILED = "failed"
QUIET = "quiet"
UNROUTED = "unrouted"  # no channel takes it (severity or rule routing): nothing to send, not an error
DEDUPLICATED = "deduplicated"
IN_FLIGHT = "in_flight"
UNTRACKED = "untracked"  # no table, no event id, or the table failed: delivered without idempotency
_DONE_STATUSES = (DELIVERED, QUIET, UNROUTED)


class StateStoreError(TrailguardError):
    """DynamoDB could not be used (throttled, missing table, no permission): never has a secret in it."""


class Claim(NamedTuple):
    """The answer to "may I deliver this finding?"."""

    status: str  # "claimed" (go ahead), DEDUPLICATED, IN_FLIGHT, or UNTRACKED
    token: str = ""
    previous: str = ""  # the status found when not claimed
    # The channels an earlier attempt delivered it through, before another channel failed: the
    # retry sends it through the others only.
    sent: frozenset[str] = frozenset()

    @property
    def granted(self) -> bool:
        return self.status in ("claimed", UNTRACKED)


UNTRACKED_CLAIM = Claim(UNTRACKED)


class QuietGate(NamedTuple):
    """The answer to "is this a repeat inside a quiet period?"."""

    alert: bool  # False: fold it into the open window, send nothing
    folded: int = 0  # alert: repeats folded since the last alert (to report); fold: the count now
    since: str = ""  # when the last alert opened its window (ISO UTC)
    owner: str = ""  # the finding that holds the window
    previous: tuple[int, str, str] = (0, "", "")  # the window this alert replaced: until, owner, opened_at

    def note(self) -> str:
        """The text of the alert's ``Folded repeats`` detail."""
        return f"{self.folded} since {self.since}" if self.since else str(self.folded)


class HistoryRecord(NamedTuple):
    """One stored finding, as ``query_history`` returns it."""

    rule_id: str
    severity: str
    title: str
    summary: str
    resource_type: str
    resource_id: str
    resource_arn: str
    actor: str
    actor_arn: str
    account_id: str
    region: str
    event_id: str
    event_name: str
    event_time: str
    stored_at: str
    first_stored_at: str
    outcome: str
    channels: dict[str, str]
    attempts: int
    folded: int
    failures: tuple[str, ...]


def quiet_period_for(periods: Iterable[tuple[str, int]], rule_id: str) -> int:
    """Seconds of quiet for a rule: an exact id wins, else the first glob that matches, else 0."""
    import fnmatch

    periods = tuple(periods)
    for pattern, seconds in periods:
        if pattern == rule_id:
            return seconds
    for pattern, seconds in periods:
        if fnmatch.fnmatchcase(rule_id, pattern):
            return seconds
    return 0


def iso(epoch: float) -> str:
    """``2026-11-03T09:12:44Z``: CloudTrail's own format, so stored and event times sort together."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _key_part(text: str) -> str:
    """Event text made safe for a key: ``#`` separates a key's parts, so it (and ``%``, to keep the
    escape reversible) is percent-encoded; otherwise an event id ``a#rule#b`` could make two
    findings share one history item. Too long, it is hashed (the hash never holds ``#``)."""
    escaped = text.replace("%", "%25").replace("#", "%23")
    if len(escaped.encode("utf-8", "replace")) <= _MAX_KEY_PART:
        return escaped
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _s(value: str) -> dict[str, str]:
    return {"S": _unicode(value)}


def _unicode(text: str) -> str:
    """``text`` with lone surrogates (valid JSON escapes in a CloudTrail field, not Unicode) as
    U+FFFD: DynamoDB stores strings as UTF-8, which cannot hold them."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _stored_text(value: str) -> dict[str, str]:
    """Event text for a history item, bounded: DynamoDB refuses items over 400 KB, and one huge
    field (a 1 MB resource name) must not cost the finding its history."""
    return _s(bounded(value, _MAX_STORED_CHARS))


def _n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return str(value["S"]) if isinstance(value, Mapping) and "S" in value else ""


def _number(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if isinstance(value, Mapping) and "N" in value:
        return int(float(value["N"]))
    return 0


class _ConditionFailed(Exception):
    def __init__(self, item: Mapping[str, Any]) -> None:
        super().__init__("condition failed")
        self.item = item


class StateStore:
    """Idempotency, history and quiet periods over one table (see the module docstring)."""

    def __init__(
        self,
        table_name: str,
        aws: AwsClients,
        dedupe_ttl_days: int = 14,
        history_ttl_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self.aws = aws
        self.dedupe_ttl = dedupe_ttl_days * DAY
        self.history_ttl = history_ttl_days * DAY
        self.clock = clock

    # -- DynamoDB calls -----------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.aws.client("dynamodb")
        try:
            response: dict[str, Any] = getattr(client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code == _CONDITION_FAILED:
                raise _ConditionFailed(exc.response.get("Item") or {}) from None
            # AWS's message says what was wrong with the request; it never holds a credential.
            message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())[:300]
            raise StateStoreError(
                f"DynamoDB {operation} on table {self.table_name} failed: {code}" + (f" ({message})" if message else "")
            ) from None
        except BotoCoreError as exc:
            raise StateStoreError(
                f"DynamoDB {operation} on table {self.table_name} failed: {type(exc).__name__}"
            ) from None
        return response

    def _call_if(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write whose failed condition is an answer, not an error: False then."""
        try:
            self._call(operation, **kwargs)
        except _ConditionFailed:
            return False
        return True

    def _now(self) -> int:
        return int(self.clock())

    # -- idempotency ----------------------------------------------------------------------------
    @staticmethod
    def _delivery_key(finding: Finding) -> dict[str, Any]:
        resource = finding.resource.arn or finding.resource.id
        return {
            "pk": _s(f"event#{_key_part(finding.event_id)}"),
            "sk": _s(f"finding#{finding.rule_id}#{_key_part(resource)}"),
        }

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        """Claim the delivery of ``finding`` for ``hold_seconds`` (the invocation's remaining time)."""
        if not finding.event_id:
            return UNTRACKED_CLAIM  # nothing identifies a second delivery of it
        now = self._now()
        token = uuid.uuid4().hex
        try:
            # An update, not a put: it keeps the channels an earlier, partly failed attempt delivered to.
            response = self._call(
                "update_item",
                Key=self._delivery_key(finding),
                UpdateExpression=(
                    "SET #status = :claimed, #token = :token, claim_until = :until, updated_at = :updated, "
                    f"{TTL_ATTRIBUTE} = :expires"
                ),
                ConditionExpression="attribute_not_exists(pk) OR (#status = :claimed AND claim_until < :now)",
                ExpressionAttributeNames={"#status": "status", "#token": "token"},
                ExpressionAttributeValues={
                    ":claimed": _s("claimed"),
                    ":token": _s(token),
                    ":until": _n(now + int(hold_seconds) + CLAIM_MARGIN_SECONDS),
                    ":updated": _s(iso(now)),
                    ":expires": _n(now + self.dedupe_ttl),
                    ":now": _n(now),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            status = _text(failed.item, "status")
            if status == "claimed":
                return Claim(IN_FLIGHT, previous=status)
            return Claim(DEDUPLICATED, previous=status or "unknown")
        sent = (response.get("Attributes") or {}).get(SENT_ATTRIBUTE, {}).get("SS", ())
        return Claim("claimed", token=token, sent=frozenset(str(name) for name in sent))

    def finish(self, finding: Finding, claim: Claim, status: str) -> None:
        """Mark the finding done (``delivered``, ``quiet`` or ``unrouted``): later deliveries send nothing."""
        if claim.status != "claimed":
            return
        assert status in _DONE_STATUSES, status
        now = self._now()
        self._call(
            "put_item",
            Item={
                **self._delivery_key(finding),
                "status": _s(status),
                "updated_at": _s(iso(now)),
                TTL_ATTRIBUTE: _n(now + self.dedupe_ttl),
            },
        )

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        """Give the claim up after a failed delivery, so that the retry may deliver at once; ``sent``:
        the channels that did deliver it this time, which the retry skips."""
        if claim.status != "claimed":
            return
        channels = sorted(set(sent) - claim.sent)
        values: dict[str, Any] = {":token": _s(claim.token), ":claimed": _s("claimed"), ":zero": _n(0)}
        update = "SET claim_until = :zero"
        if channels:
            update += f" ADD {SENT_ATTRIBUTE} :sent"
            values[":sent"] = {"SS": channels}
        # An expired claim, rather than a deleted item: the function needs no dynamodb:DeleteItem.
        # False: our claim had expired and someone else holds it now, theirs to finish.
        self._call_if(
            "update_item",
            Key=self._delivery_key(finding),
            UpdateExpression=update,
            ConditionExpression="#token = :token AND #status = :claimed",
            ExpressionAttributeNames={"#token": "token", "#status": "status"},
            ExpressionAttributeValues=values,
        )

    # -- quiet periods --------------------------------------------------------------------------
    @staticmethod
    def _quiet_key(finding: Finding) -> dict[str, Any]:
        return {"pk": _s(f"quiet#{_key_part(finding.dedupe_key)}"), "sk": _s("window")}

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        """Open a quiet window with this finding's alert, or fold it into the open one (counted)."""
        owner = _key_part(finding.key)  # bounded: it is stored, and compared in conditions
        names = {"#until": "until", "#owner": "owner", "#folded": "folded", "#opened": "opened_at"}
        for _ in range(3):
            now = self._now()
            try:
                response = self._call(
                    "update_item",
                    Key=self._quiet_key(finding),
                    # The folded count stays until this alert is delivered (see alerted/rolled_back).
                    UpdateExpression=(
                        "SET #until = :until, #owner = :owner, #opened = :opened, "
                        "#folded = if_not_exists(#folded, :zero), expires_at = :expires"
                    ),
                    ConditionExpression="attribute_not_exists(pk) OR #until <= :now OR #owner = :owner",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":until": _n(now + window_seconds),
                        ":owner": _s(owner),
                        ":opened": _s(iso(now)),
                        ":zero": _n(0),
                        ":now": _n(now),
                        ":expires": _n(now + window_seconds + self.history_ttl),
                    },
                    ReturnValues="ALL_OLD",
                )
            except _ConditionFailed:
                pass
            else:
                old = response.get("Attributes") or {}
                previous = (_number(old, "until"), _text(old, "owner"), _text(old, "opened_at"))
                if previous[1] == owner:
                    # Our own window, left open by an attempt that died before it could roll back.
                    previous = (0, "", previous[2])
                return QuietGate(
                    alert=True,
                    folded=_number(old, "folded"),
                    since=_text(old, "opened_at"),
                    owner=owner,
                    previous=previous,
                )
            try:
                response = self._call(
                    "update_item",
                    Key=self._quiet_key(finding),
                    UpdateExpression="ADD #folded :one SET expires_at = :expires",
                    ConditionExpression="attribute_exists(pk) AND #until > :now AND #owner <> :owner",
                    ExpressionAttributeNames={name: names[name] for name in ("#until", "#owner", "#folded")},
                    ExpressionAttributeValues={
                        ":one": _n(1),
                        ":now": _n(now),
                        ":owner": _s(owner),
                        ":expires": _n(now + window_seconds + self.history_ttl),
                    },
                    ReturnValues="ALL_NEW",
                )
            except _ConditionFailed:
                continue  # the window closed between the two calls: try to open one again
            new = response.get("Attributes") or {}
            return QuietGate(
                alert=False,
                folded=_number(new, "folded"),
                since=_text(new, "opened_at"),
                owner=_text(new, "owner"),
            )
        # The window keeps changing under us (a storm of repeats): alerting beats staying silent.
        return QuietGate(alert=True, owner=owner)

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        """The alert that opened the window was delivered: what it reported is no longer pending."""
        if not gate.alert or not gate.folded:
            return
        # False: our window has been replaced; the newer alert already reported these repeats.
        self._call_if(
            "update_item",
            Key=self._quiet_key(finding),
            UpdateExpression="SET #folded = #folded - :reported",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#folded": "folded", "#owner": "owner"},
            ExpressionAttributeValues={":reported": _n(gate.folded), ":owner": _s(gate.owner)},
        )

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        """The alert was not delivered: put the previous window back, so repeats are not silenced by
        an alert nobody received, and the retry (or the next repeat) reports the folded count."""
        if not gate.alert or not gate.owner:
            return
        until, owner, opened = gate.previous
        # False: a newer window replaced ours, which is all right.
        self._call_if(
            "update_item",
            Key=self._quiet_key(finding),
            UpdateExpression="SET #until = :until, #owner = :previous, #opened = :opened",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#until": "until", "#owner": "owner", "#opened": "opened_at"},
            ExpressionAttributeValues={
                ":until": _n(min(until, self._now())),
                ":previous": _s(owner),
                ":opened": _s(opened),
                ":owner": _s(gate.owner),
            },
        )

    # -- history --------------------------------------------------------------------------------
    def record(
        self,
        finding: Finding,
        outcome: str,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        """Store (or update, on a retry) the finding's history item with this attempt's outcome."""
        now = self._now()
        stored_at = iso(now)
        event_time = finding.event_time if _looks_like_time(finding.event_time) else stored_at
        resource = finding.resource.arn or finding.resource.id
        key = {
            "pk": _s(f"history#{event_time[:10]}"),
            "sk": _s(f"{event_time}#{_key_part(finding.event_id)}#{finding.rule_id}#{_key_part(resource)}"),
        }
        text = _stored_text
        fields: dict[str, Any] = {
            "rule_id": _s(finding.rule_id),
            "event_time": _s(event_time),
            "severity": _s(finding.severity.name),
            "title": text(finding.title),
            "summary": text(finding.summary),
            "resource_type": text(finding.resource.type),
            "resource_id": text(finding.resource.id),
            "resource_arn": text(finding.resource.arn),
            "actor": text(finding.actor.label),
            "actor_arn": text(finding.actor.arn),
            "account_id": text(finding.account_id),
            "region": text(finding.region),
            "event_id": text(finding.event_id),
            "event_name": text(finding.event_name),
            "dedupe_key": text(finding.dedupe_key),
            "outcome": _s(outcome),
            "stored_at": _s(stored_at),
            "channels": {"M": {name: text(result) for name, result in (channels or {}).items()}},
            "folded": _n(folded),
            TTL_ATTRIBUTE: _n(now + self.history_ttl),
        }
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": value for name, value in fields.items()}
        assignments = [f"#{name} = :{name}" for name in fields]
        names["#first"] = "first_stored_at"
        names["#attempts"] = "attempts"
        values[":one"] = _n(1)
        values[":zero"] = _n(0)
        assignments.append("#first = if_not_exists(#first, :stored_at)")
        assignments.append("#attempts = if_not_exists(#attempts, :zero) + :one")
        if failure:
            names["#failures"] = "failures"
            values[":failure"] = {"L": [text(f"{stored_at} {failure}")]}
            values[":none"] = {"L": []}
            assignments.append("#failures = list_append(if_not_exists(#failures, :none), :failure)")
        self._call(
            "update_item",
            Key=key,
            UpdateExpression="SET " + ", ".join(assignments),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def query_history(
        self,
        since: datetime | str,
        until: datetime | str | None = None,
        rule_id: str | None = None,
        limit: int = 1000,
    ) -> list[HistoryRecord]:
        """Stored findings whose event time is within [since, until] (UTC), oldest first; one rule's
        only when ``rule_id`` is given (through the ``by-rule`` index)."""
        low = _as_time(since)
        high = _as_time(until) if until is not None else iso(self.clock())
        if high < low:
            return []
        items: list[dict[str, Any]] = []
        if rule_id:
            items = self._query(
                limit,
                IndexName=RULE_INDEX,
                KeyConditionExpression="rule_id = :rule AND event_time BETWEEN :low AND :high",
                ExpressionAttributeValues={":rule": _s(rule_id), ":low": _s(low), ":high": _s(high)},
            )
        else:
            for day in _days(low, high):
                items.extend(
                    self._query(
                        limit - len(items),
                        KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                        # "~" sorts after "#", so the last second's items are included.
                        ExpressionAttributeValues={
                            ":pk": _s(f"history#{day}"),
                            ":low": _s(low),
                            ":high": _s(high + "~"),
                        },
                    )
                )
                if len(items) >= limit:
                    break
        records = [_history_record(item) for item in items]
        records.sort(key=lambda r: (r.event_time, r.event_id, r.rule_id, r.resource_arn or r.resource_id))
        return records[:limit]

    def _query(self, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while len(items) < limit:
            page = self._call("query", **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return items[:limit]


def _looks_like_time(text: str) -> bool:
    return len(text) >= 20 and text[4] == "-" and text[10] == "T" and text.endswith("Z")


def _as_time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not _looks_like_time(value):
        raise ValueError(f"expected an ISO UTC time such as 2026-11-03T09:12:44Z, got {value!r}")
    return value


def _days(low: str, high: str) -> Sequence[str]:
    first = datetime.strptime(low[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    last = datetime.strptime(high[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    count = (last - first).days + 1
    if count > MAX_QUERY_DAYS:
        raise ValueError(f"a history query spans at most {MAX_QUERY_DAYS} days (asked for {count}); narrow it")
    return [time.strftime("%Y-%m-%d", time.gmtime(first.timestamp() + n * DAY)) for n in range(count)]


def _history_record(item: Mapping[str, Any]) -> HistoryRecord:
    channels_value = item.get("channels")
    channel_map = channels_value.get("M", {}) if isinstance(channels_value, Mapping) else {}
    failures_value = item.get("failures")
    failure_list = failures_value.get("L", []) if isinstance(failures_value, Mapping) else []
    return HistoryRecord(
        rule_id=_text(item, "rule_id"),
        severity=_text(item, "severity"),
        title=_text(item, "title"),
        summary=_text(item, "summary"),
        resource_type=_text(item, "resource_type"),
        resource_id=_text(item, "resource_id"),
        resource_arn=_text(item, "resource_arn"),
        actor=_text(item, "actor"),
        actor_arn=_text(item, "actor_arn"),
        account_id=_text(item, "account_id"),
        region=_text(item, "region"),
        event_id=_text(item, "event_id"),
        event_name=_text(item, "event_name"),
        event_time=_text(item, "event_time"),
        stored_at=_text(item, "stored_at"),
        first_stored_at=_text(item, "first_stored_at"),
        outcome=_text(item, "outcome"),
        channels={str(name): _text({"v": value}, "v") for name, value in channel_map.items()},
        attempts=_number(item, "attempts"),
        folded=_number(item, "folded"),
        failures=tuple(str(value.get("S", "")) for value in failure_list if isinstance(value, Mapping)),
    )
