"""Quiet windows: ``quiet#<dedupe key>`` / ``window``.

The quiet period of rule + resource + actor: until when, which finding opened it, and how many
repeats were folded into it (an atomic counter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailguard.services.stores.base import QuietGate, iso
from trailguard.services.stores.dynamodb.table import (
    ConditionFailed,
    Table,
    attr_n,
    attr_s,
    key_part,
    number_of,
    text_of,
)

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding


class QuietWindows:
    def __init__(self, table: Table, history_ttl_seconds: int) -> None:
        self.table = table
        self.history_ttl = history_ttl_seconds

    @staticmethod
    def _quiet_key(finding: Finding) -> dict[str, Any]:
        return {"pk": attr_s(f"quiet#{key_part(finding.dedupe_key)}"), "sk": attr_s("window")}

    def quiet_gate(self, finding: Finding, window_seconds: int) -> QuietGate:
        """Open a quiet window with this finding's alert, or fold it into the open one (counted)."""
        owner = key_part(finding.key)  # bounded: it is stored, and compared in conditions
        names = {"#until": "until", "#owner": "owner", "#folded": "folded", "#opened": "opened_at"}
        for _ in range(3):
            now = self.table.now()
            try:
                response = self.table.call(
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
                        ":until": attr_n(now + window_seconds),
                        ":owner": attr_s(owner),
                        ":opened": attr_s(iso(now)),
                        ":zero": attr_n(0),
                        ":now": attr_n(now),
                        ":expires": attr_n(now + window_seconds + self.history_ttl),
                    },
                    ReturnValues="ALL_OLD",
                )
            except ConditionFailed:
                pass
            else:
                old = response.get("Attributes") or {}
                previous = (number_of(old, "until"), text_of(old, "owner"), text_of(old, "opened_at"))
                if previous[1] == owner:
                    # Our own window, left open by an attempt that died before it could roll back.
                    previous = (0, "", previous[2])
                return QuietGate(
                    alert=True,
                    folded=number_of(old, "folded"),
                    since=text_of(old, "opened_at"),
                    owner=owner,
                    previous=previous,
                )
            try:
                response = self.table.call(
                    "update_item",
                    Key=self._quiet_key(finding),
                    UpdateExpression="ADD #folded :one SET expires_at = :expires",
                    ConditionExpression="attribute_exists(pk) AND #until > :now AND #owner <> :owner",
                    ExpressionAttributeNames={name: names[name] for name in ("#until", "#owner", "#folded")},
                    ExpressionAttributeValues={
                        ":one": attr_n(1),
                        ":now": attr_n(now),
                        ":owner": attr_s(owner),
                        ":expires": attr_n(now + window_seconds + self.history_ttl),
                    },
                    ReturnValues="ALL_NEW",
                )
            except ConditionFailed:
                continue  # the window closed between the two calls: try to open one again
            new = response.get("Attributes") or {}
            return QuietGate(
                alert=False,
                folded=number_of(new, "folded"),
                since=text_of(new, "opened_at"),
                owner=text_of(new, "owner"),
            )
        # The window keeps changing under us (a storm of repeats): alerting beats staying silent.
        return QuietGate(alert=True, owner=owner)

    def alerted(self, finding: Finding, gate: QuietGate) -> None:
        """The alert that opened the window was delivered: what it reported is no longer pending."""
        if not gate.alert or not gate.folded:
            return
        # False: our window has been replaced; the newer alert already reported these repeats.
        self.table.call_if(
            "update_item",
            Key=self._quiet_key(finding),
            UpdateExpression="SET #folded = #folded - :reported",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#folded": "folded", "#owner": "owner"},
            ExpressionAttributeValues={":reported": attr_n(gate.folded), ":owner": attr_s(gate.owner)},
        )

    def rolled_back(self, finding: Finding, gate: QuietGate) -> None:
        """The alert was not delivered: put the previous window back, so repeats are not silenced by
        an alert nobody received, and the retry (or the next repeat) reports the folded count."""
        if not gate.alert or not gate.owner:
            return
        until, owner, opened = gate.previous
        # False: a newer window replaced ours, which is all right.
        self.table.call_if(
            "update_item",
            Key=self._quiet_key(finding),
            UpdateExpression="SET #until = :until, #owner = :previous, #opened = :opened",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#until": "until", "#owner": "owner", "#opened": "opened_at"},
            ExpressionAttributeValues={
                ":until": attr_n(min(until, self.table.now())),
                ":previous": attr_s(owner),
                ":opened": attr_s(opened),
                ":owner": attr_s(gate.owner),
            },
        )
