"""The notification service: findings -> alerts -> channels, with routing, digests and retries.

For each channel: the findings it accepts (minimum severity, rule ids) are grouped into at most
``max_individual`` single-finding alerts plus one digest, and each alert is sent with bounded
retries of transient failures. A channel that fails never stops the others. The report says, per
channel, what was delivered and what failed (``incomplete``: a channel that should have delivered
it failed); ``DeliveryError`` is raised when some finding that was routed to at least one channel
reached none. A retry can pass ``already_sent``, so that only the channels that failed send again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from trailguard.core.enums import Outcome
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ChannelError, DeliveryError
from trailguard.services.alerts import DEFAULT_MAX_INDIVIDUAL_ALERTS, Alert, group_alerts
from trailguard.services.channels.base import Channel
from trailguard.services.rendering import (
    EmailContent,
    render_email,
    render_slack,
    render_sns,
    render_teams,
    render_webhook,
)
from trailguard.services.retry import RetryPolicy, call_with_retry

logger = logging.getLogger("trailguard.notify")
DEFAULT_RETRY = RetryPolicy()

__all__ = [
    "ChannelOutcome",
    "DeliveryReport",
    "EmailContent",
    "FindingDelivery",
    "NotificationService",
    "render_email",
    "render_slack",
    "render_sns",
    "render_teams",
    "render_webhook",
]


class ChannelOutcome(NamedTuple):
    """What one channel did with one batch."""

    channel: str
    delivered: tuple[str, ...]  # finding keys
    failed: tuple[str, ...]
    messages: int  # alerts sent
    attempts: int  # send attempts, retries included
    errors: tuple[str, ...]  # secret-free reasons


class FindingDelivery(NamedTuple):
    """What became of one finding: delivered, failed or unrouted; per channel; the last error."""

    outcome: Outcome
    channels: dict[str, str]  # channel -> "delivered" or "failed: <reason>"
    failure: str = ""  # secret-free


class DeliveryReport(NamedTuple):
    outcomes: tuple[ChannelOutcome, ...]
    undelivered: tuple[Finding, ...]  # routed to some channel, delivered by none
    unrouted: tuple[Finding, ...]  # no channel accepts them (by severity or rule): not an error
    # Some channel that should have delivered them failed (``undelivered`` ones included): their
    # recipients were not told, even when other channels' were.
    incomplete: tuple[Finding, ...] = ()
    by_finding: Mapping[str, FindingDelivery] = MappingProxyType({})

    def of(self, finding: Finding) -> FindingDelivery:
        """The outcome of one finding of the batch (by its key)."""
        return self.by_finding.get(finding.key) or FindingDelivery(Outcome.UNROUTED, {})

    def delivered_keys(self) -> set[str]:
        return {key for outcome in self.outcomes for key in outcome.delivered}

    def channel(self, name: str) -> ChannelOutcome:
        for outcome in self.outcomes:
            if outcome.channel == name:
                return outcome
        raise KeyError(name)


class NotificationService:
    """Sends a batch of findings through every configured channel."""

    def __init__(
        self,
        channels: Sequence[Channel],
        max_individual: int = DEFAULT_MAX_INDIVIDUAL_ALERTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.channels = list(channels)
        self.max_individual = max_individual
        self.retry = retry
        self.sleep = sleep

    def notify(
        self,
        findings: Iterable[Finding],
        raise_on_undelivered: bool = True,
        already_sent: Mapping[str, Collection[str]] | None = None,
    ) -> DeliveryReport:
        """Send ``findings``; ``already_sent`` maps a finding key to the channels that delivered it
        in an earlier attempt: those channels skip it (a retry goes only where it failed)."""
        batch = list(findings)
        skip = already_sent or {}
        outcomes = [self._send_through(channel, batch, skip) for channel in self.channels]
        delivered = {key for outcome in outcomes for key in outcome.delivered}
        failed = {key for outcome in outcomes for key in outcome.failed}
        routed = {f.key for channel in self.channels for f in batch if channel.accepts(f)}
        # Delivered by none, this time or before.
        reached = delivered | {key for key, channels in skip.items() if channels}
        undelivered = tuple(f for f in batch if f.key in routed and f.key not in reached)
        unrouted = tuple(f for f in batch if f.key not in routed)
        incomplete = tuple(f for f in batch if f.key in failed)
        by_finding = {f.key: _finding_delivery(f.key, outcomes, skip.get(f.key, ())) for f in batch}
        report = DeliveryReport(tuple(outcomes), undelivered, unrouted, incomplete, by_finding)
        if undelivered and raise_on_undelivered:
            reasons = "; ".join(f"{o.channel}: {o.errors[-1]}" for o in outcomes if o.errors)
            raise DeliveryError(
                f"{len(undelivered)} of {len(batch)} findings reached no channel ({reasons or 'no channel accepted'})"
            )
        return report

    def _send_through(
        self, channel: Channel, batch: Sequence[Finding], skip: Mapping[str, Collection[str]]
    ) -> ChannelOutcome:
        accepted = [f for f in batch if channel.accepts(f) and channel.name not in skip.get(f.key, ())]
        delivered: list[str] = []
        failed: list[str] = []
        errors: list[str] = []
        messages = attempts_total = 0
        for alert in group_alerts(accepted, self.max_individual):
            keys = [f.key for f in alert.findings]
            try:
                receipt, attempts = call_with_retry(
                    lambda alert=alert: channel.send(alert),  # type: ignore[misc]
                    self.retry,
                    sleep=self.sleep,
                    on_retry=lambda attempt, exc: logger.warning(
                        "channel %s: attempt %d failed (%s), retrying", channel.name, attempt, exc
                    ),
                )
            except ChannelError as exc:
                attempts_total += exc.attempts
                failed.extend(keys)
                errors.append(str(exc))
                logger.error(
                    "channel %s could not deliver %s (%s): %s",
                    channel.name,
                    _alert_label(alert),
                    "gave up after retries" if exc.transient else "permanent failure",
                    exc,
                )
                continue
            except Exception as exc:
                attempts_total += 1
                failed.extend(keys)
                errors.append(f"unexpected {type(exc).__name__} in channel code")
                logger.exception("channel %s raised unexpectedly while sending %s", channel.name, _alert_label(alert))
                continue
            attempts_total += attempts
            messages += 1
            delivered.extend(keys)
            logger.info("channel %s delivered %s: %s", channel.name, _alert_label(alert), receipt)
        return ChannelOutcome(channel.name, tuple(delivered), tuple(failed), messages, attempts_total, tuple(errors))


def _finding_delivery(key: str, outcomes: Sequence[ChannelOutcome], sent_before: Collection[str]) -> FindingDelivery:
    """Failed as soon as one channel that should have delivered it failed, even if others did:
    that channel's recipients were not told, and the retry sends it to them."""
    channels: dict[str, str] = dict.fromkeys(sorted(sent_before), "delivered")
    errors: list[str] = []
    for channel in outcomes:
        if key in channel.delivered:
            channels[channel.channel] = "delivered"
        elif key in channel.failed:
            error = channel.errors[-1] if channel.errors else "failed"
            channels[channel.channel] = f"failed: {error}"
            errors.append(f"{channel.channel}: {error}")
    if errors:
        return FindingDelivery(Outcome.FAILED, channels, "; ".join(errors))
    return FindingDelivery(Outcome.DELIVERED if channels else Outcome.UNROUTED, channels)


def _alert_label(alert: Alert) -> str:
    if alert.digest:
        return f"a digest of {len(alert.findings)} findings"
    first = alert.first
    return f"{first.rule_id} on event {first.event_id or '<no id>'}"
