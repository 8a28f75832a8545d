"""History items: ``history#<YYYY-MM-DD>`` / ``<eventTime>#<eventID>#<rule>#<resource>``.

One per finding: rule, severity, resource, actor, account, region, times, outcome and the outcome
per channel; the only items with ``rule_id`` and ``event_time``, so the ``by-rule`` index holds
only them. Lives ``history_ttl_days``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trailguard.services.stores.base import HistoryRecord, finding_json, iso, remediation_details
from trailguard.services.stores.dynamodb.table import (
    DAY,
    MAX_STORED_CHARS,
    RULE_INDEX,
    TTL_ATTRIBUTE,
    Table,
    attr_n,
    attr_s,
    key_part,
    number_of,
    stored_text,
    text_of,
)

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.core.event_types import Finding

# A time query walks one partition per day: refuse a range that would walk years of them.
MAX_QUERY_DAYS = 400


class History:
    def __init__(self, table: Table, history_ttl_seconds: int) -> None:
        self.table = table
        self.history_ttl = history_ttl_seconds

    def record(
        self,
        finding: Finding,
        outcome: Outcome,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        """Store (or update, on a retry) the finding's history item with this attempt's outcome."""
        now = self.table.now()
        stored_at = iso(now)
        event_time = finding.event_time if _looks_like_time(finding.event_time) else stored_at
        resource = finding.resource.arn or finding.resource.id
        key = {
            "pk": attr_s(f"history#{event_time[:10]}"),
            "sk": attr_s(f"{event_time}#{key_part(finding.event_id)}#{finding.rule_id}#{key_part(resource)}"),
        }
        text = stored_text
        fields: dict[str, Any] = {
            "rule_id": attr_s(finding.rule_id),
            "event_time": attr_s(event_time),
            "severity": attr_s(finding.severity.name),
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
            # The whole finding, for `trailguard history` and the dashboard (each text bounded).
            "finding": attr_s(finding_json(finding, MAX_STORED_CHARS)),
            "outcome": attr_s(outcome),
            "stored_at": attr_s(stored_at),
            "channels": {"M": {name: text(result) for name, result in (channels or {}).items()}},
            "folded": attr_n(folded),
            TTL_ATTRIBUTE: attr_n(now + self.history_ttl),
        }
        # What remediation planned or did (services/remediation puts it among the details), and the
        # exact text it removed: the history is where a removed policy statement can be found again.
        remediation, removed = remediation_details(finding.details)
        for name, value in (("remediation", remediation), ("remediation_removed", removed)):
            if value:
                fields[name] = text(value)
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": value for name, value in fields.items()}
        assignments = [f"#{name} = :{name}" for name in fields]
        names["#first"] = "first_stored_at"
        names["#attempts"] = "attempts"
        values[":one"] = attr_n(1)
        values[":zero"] = attr_n(0)
        assignments.append("#first = if_not_exists(#first, :stored_at)")
        assignments.append("#attempts = if_not_exists(#attempts, :zero) + :one")
        if failure:
            names["#failures"] = "failures"
            values[":failure"] = {"L": [text(f"{stored_at} {failure}")]}
            values[":none"] = {"L": []}
            assignments.append("#failures = list_append(if_not_exists(#failures, :none), :failure)")
        self.table.call(
            "update_item",
            Key=key,
            UpdateExpression="SET " + ", ".join(assignments),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def query(
        self,
        since: datetime | str,
        until: datetime | str | None = None,
        rule_id: str | None = None,
        limit: int = 1000,
        page_size: int | None = None,
    ) -> list[HistoryRecord]:
        """Stored findings whose event time is within [since, until] (UTC), oldest first; one rule's
        only when ``rule_id`` is given (through the ``by-rule`` index). Read page after page
        (``page_size`` items a page; DynamoDB's 1 MB when None) until ``limit``."""
        low = _as_time(since)
        high = _as_time(until) if until is not None else iso(self.table.clock())
        if high < low:
            return []
        items: list[dict[str, Any]] = []
        if rule_id:
            items = self._query(
                limit,
                page_size,
                IndexName=RULE_INDEX,
                KeyConditionExpression="rule_id = :rule AND event_time BETWEEN :low AND :high",
                ExpressionAttributeValues={":rule": attr_s(rule_id), ":low": attr_s(low), ":high": attr_s(high)},
            )
        else:
            for day in _days(low, high):
                items.extend(
                    self._query(
                        limit - len(items),
                        page_size,
                        KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                        # "~" sorts after "#", so the last second's items are included.
                        ExpressionAttributeValues={
                            ":pk": attr_s(f"history#{day}"),
                            ":low": attr_s(low),
                            ":high": attr_s(high + "~"),
                        },
                    )
                )
                if len(items) >= limit:
                    break
        records = [_history_record(item) for item in items]
        records.sort(key=lambda r: (r.event_time, r.event_id, r.rule_id, r.resource_arn or r.resource_id))
        return records[:limit]

    def _query(self, limit: int, page_size: int | None, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        if page_size:
            kwargs["Limit"] = page_size
        while len(items) < limit:
            page = self.table.call("query", **kwargs, **({"ExclusiveStartKey": start} if start else {}))
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
        rule_id=text_of(item, "rule_id"),
        severity=text_of(item, "severity"),
        title=text_of(item, "title"),
        summary=text_of(item, "summary"),
        resource_type=text_of(item, "resource_type"),
        resource_id=text_of(item, "resource_id"),
        resource_arn=text_of(item, "resource_arn"),
        actor=text_of(item, "actor"),
        actor_arn=text_of(item, "actor_arn"),
        account_id=text_of(item, "account_id"),
        region=text_of(item, "region"),
        event_id=text_of(item, "event_id"),
        event_name=text_of(item, "event_name"),
        event_time=text_of(item, "event_time"),
        stored_at=text_of(item, "stored_at"),
        first_stored_at=text_of(item, "first_stored_at"),
        outcome=text_of(item, "outcome"),
        channels={str(name): text_of({"v": value}, "v") for name, value in channel_map.items()},
        attempts=number_of(item, "attempts"),
        folded=number_of(item, "folded"),
        failures=tuple(str(value.get("S", "")) for value in failure_list if isinstance(value, Mapping)),
        finding=text_of(item, "finding"),
        remediation=text_of(item, "remediation"),
        remediation_removed=text_of(item, "remediation_removed"),
    )
