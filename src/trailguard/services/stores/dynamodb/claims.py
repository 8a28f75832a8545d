"""Delivery items: idempotency. ``event#<eventID>`` / ``finding#<rule>#<resource>``.

``claimed`` while an invocation delivers the finding, then ``delivered``, ``quiet`` or ``unrouted``
(done: a second delivery of the event sends nothing); ``sent_to``: the channels that delivered it
when another failed (the retry skips them). Lives ``dedupe_ttl_days``.

A claim is a conditional write made before anything is sent; it expires when the claiming
invocation can no longer be running (its remaining Lambda time plus a margin), so a crashed or
timed-out invocation never blocks its own retry. Nothing is marked done before a channel took it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from trailguard.services.stores.base import UNTRACKED_CLAIM, Claim, ClaimStatus, iso
from trailguard.services.stores.dynamodb.table import (
    SENT_ATTRIBUTE,
    TTL_ATTRIBUTE,
    ConditionFailed,
    Table,
    attr_n,
    attr_s,
    key_part,
    text_of,
)

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.core.event_types import Finding

# Claims outlive the claiming invocation's deadline by this much (clock skew between containers).
CLAIM_MARGIN_SECONDS = 30


class Claims:
    def __init__(self, table: Table, dedupe_ttl_seconds: int) -> None:
        self.table = table
        self.dedupe_ttl = dedupe_ttl_seconds

    @staticmethod
    def _delivery_key(finding: Finding) -> dict[str, Any]:
        resource = finding.resource.arn or finding.resource.id
        return {
            "pk": attr_s(f"event#{key_part(finding.event_id)}"),
            "sk": attr_s(f"finding#{finding.rule_id}#{key_part(resource)}"),
        }

    def claim(self, finding: Finding, hold_seconds: float) -> Claim:
        """Claim the delivery of ``finding`` for ``hold_seconds`` (the invocation's remaining time)."""
        if not finding.event_id:
            return UNTRACKED_CLAIM  # nothing identifies a second delivery of it
        now = self.table.now()
        token = uuid.uuid4().hex
        try:
            # An update, not a put: it keeps the channels an earlier, partly failed attempt delivered to.
            response = self.table.call(
                "update_item",
                Key=self._delivery_key(finding),
                UpdateExpression=(
                    "SET #status = :claimed, #token = :token, claim_until = :until, updated_at = :updated, "
                    f"{TTL_ATTRIBUTE} = :expires"
                ),
                ConditionExpression="attribute_not_exists(pk) OR (#status = :claimed AND claim_until < :now)",
                ExpressionAttributeNames={"#status": "status", "#token": "token"},
                ExpressionAttributeValues={
                    ":claimed": attr_s("claimed"),
                    ":token": attr_s(token),
                    ":until": attr_n(now + int(hold_seconds) + CLAIM_MARGIN_SECONDS),
                    ":updated": attr_s(iso(now)),
                    ":expires": attr_n(now + self.dedupe_ttl),
                    ":now": attr_n(now),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            status = text_of(failed.item, "status")
            if status == "claimed":
                return Claim(ClaimStatus.IN_FLIGHT, previous=status)
            return Claim(ClaimStatus.DEDUPLICATED, previous=status or "unknown")
        sent = (response.get("Attributes") or {}).get(SENT_ATTRIBUTE, {}).get("SS", ())
        return Claim(ClaimStatus.CLAIMED, token=token, sent=frozenset(str(name) for name in sent))

    def finish(self, finding: Finding, claim: Claim, outcome: Outcome) -> None:
        """Mark the finding done (``delivered``, ``quiet`` or ``unrouted``): later deliveries send nothing."""
        if claim.status is not ClaimStatus.CLAIMED:
            return
        assert outcome.done, outcome
        now = self.table.now()
        self.table.call(
            "put_item",
            Item={
                **self._delivery_key(finding),
                "status": attr_s(outcome),
                "updated_at": attr_s(iso(now)),
                TTL_ATTRIBUTE: attr_n(now + self.dedupe_ttl),
            },
        )

    def release(self, finding: Finding, claim: Claim, sent: Iterable[str] = ()) -> None:
        """Give the claim up after a failed delivery, so that the retry may deliver at once; ``sent``:
        the channels that did deliver it this time, which the retry skips."""
        if claim.status is not ClaimStatus.CLAIMED:
            return
        channels = sorted(set(sent) - claim.sent)
        values: dict[str, Any] = {":token": attr_s(claim.token), ":claimed": attr_s("claimed"), ":zero": attr_n(0)}
        update = "SET claim_until = :zero"
        if channels:
            update += f" ADD {SENT_ATTRIBUTE} :sent"
            values[":sent"] = {"SS": channels}
        # An expired claim, rather than a deleted item: the function needs no dynamodb:DeleteItem.
        # False: our claim had expired and someone else holds it now, theirs to finish.
        self.table.call_if(
            "update_item",
            Key=self._delivery_key(finding),
            UpdateExpression=update,
            ConditionExpression="#token = :token AND #status = :claimed",
            ExpressionAttributeNames={"#token": "token", "#status": "status"},
            ExpressionAttributeValues=values,
        )
