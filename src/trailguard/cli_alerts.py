"""The alerting side of the command line: delivering a scan's findings, `render`, `send-test`.

Kept apart from cli.py so that a plain scan imports none of the notification code.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from trailguard.core.enums import Outcome
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.core.settings import Settings, rule_glob_problem
from trailguard.services.alerts import Alert
from trailguard.services.channels import Channel, ChannelContext, build_channel, build_channels
from trailguard.services.notification_service import DeliveryReport, NotificationService
from trailguard.services.retry import RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from trailguard.services.stores.sqlite import SqliteState

OUTBOX_CHANNEL = "outbox"
# How long a scan's claims on the table last: a scan that dies does not block the next one longer.
DEFAULT_HOLD_SECONDS = 900.0


def folder_channel(
    path: str | Path, context: ChannelContext, name: str = OUTBOX_CHANNEL, option: str = "--outbox"
) -> Channel:
    return build_channel({"type": "folder", "name": name, "path": str(path)}, f"{option} {path}", context)


def channels_for_scan(settings: Settings, notify: bool, outbox: str | None) -> list[Channel]:
    """The configured channels when --notify is given, plus a folder channel for --outbox.

    The configured ones are built, which validates them, even without --notify: a scan checks all
    of its configuration before it reads any event."""
    context = ChannelContext()
    configured = build_channels(settings.channels, context, settings.origin("channels"))
    if notify and not configured:
        raise ConfigError(
            "--notify: no channel is configured, so nothing would be sent (add [[channels]] to the "
            "configuration, or use --outbox DIR to write the alerts to files)"
        )
    channels = configured if notify else []
    if outbox:
        if any(channel.name == OUTBOX_CHANNEL for channel in channels):
            raise ConfigError(f"a configured channel is named {OUTBOX_CHANNEL!r}, which --outbox uses")
        channels.append(folder_channel(outbox, context))
    # Every channel the scan will send through can send (boto3 is there, folders take files),
    # and so can the table --notify records in: checked before any event is read.
    for channel in channels:
        channel.preflight()
    if notify and settings.table_name:
        from trailguard.utils.aws_helpers import require_boto3

        require_boto3(f"--notify with table_name {settings.table_name!r} (the state in DynamoDB)")
    return channels


def deliver(
    findings: Sequence[Finding],
    channels: Sequence[Channel],
    settings: Settings,
    stderr: IO[str],
    notify: bool,
    *,
    history: SqliteState | None = None,
) -> bool:
    """Send a scan's findings as one batch through the delivery pipeline (with the table when
    ``table_name`` is set and --notify was given: no duplicates across runs, a history, quiet
    periods); report per channel on stderr. False if a finding was not delivered everywhere."""
    from trailguard.services.delivery import Delivery, store_for
    from trailguard.services.stores import NullStore, StoreError

    def store_failed(what: str, finding: Finding, error: StoreError) -> None:
        stderr.write(f"trailguard: warning: state store: {what} failed for event {finding.event_id}: {error}\n")

    store = store_for(settings, channels[0].context.aws, store_failed) if notify and channels else NullStore()
    if history is not None:  # scan --state FILE: each finding's outcome into the file's history too
        from trailguard.services.history import RecordingStore

        store = RecordingStore(store, history)
    service = NotificationService(channels, max_individual=settings.max_individual_alerts)
    batch = Delivery(lambda: service, store, settings.quiet_periods).deliver(findings, DEFAULT_HOLD_SECONDS)
    if batch.report is not None:
        describe_report(batch.report, channels, stderr)
    counts = Counter(result.outcome for result in batch.results)
    held = {outcome: counts[outcome] for outcome in (Outcome.DEDUPLICATED, Outcome.QUIET, Outcome.IN_FLIGHT)}
    if any(held.values()):
        stderr.write(
            "trailguard: not sent: "
            + ", ".join(f"{count} {outcome.value.replace('_', ' ')}" for outcome, count in held.items() if count)
            + " (see table_name and quiet_periods)\n"
        )
    return not any(outcome.retry for outcome in counts)


def describe_report(report: DeliveryReport, channels: Sequence[Channel], stderr: IO[str]) -> None:
    by_name = {channel.name: channel for channel in channels}
    for outcome in report.outcomes:
        channel = by_name[outcome.channel]
        line = (
            f"trailguard: {channel.describe()}: {len(outcome.delivered)} findings delivered "
            f"in {outcome.messages} messages"
        )
        if outcome.failed:
            line += f"; {len(outcome.failed)} failed: {outcome.errors[-1]}"
        stderr.write(line + "\n")
    if report.undelivered:
        stderr.write(f"trailguard: error: {len(report.undelivered)} findings reached no channel\n")
    elif report.incomplete:
        stderr.write(f"trailguard: error: {len(report.incomplete)} findings did not reach every channel\n")


def run_render(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """Example alerts for the selected rules, written as .eml and .html files for previewing."""
    from trailguard.examples import example_findings

    for pattern in args.rule or ():
        problem = rule_glob_problem(pattern)
        if problem:
            raise ConfigError(f"--rule {problem}")
    channel = folder_channel(args.out, ChannelContext(), name="render", option="--out")
    channel.preflight()
    findings = example_findings(args.rule or ())
    if not findings:
        stderr.write("trailguard: error: no rule matches --rule\n")
        return 2
    alerts = [Alert((finding,)) for finding in findings]
    if args.digest and len(findings) > 1:
        alerts.append(Alert(tuple(findings), digest=True))
    for alert in alerts:
        stdout.write(channel.send(alert) + "\n")
    stderr.write(f"trailguard: {len(alerts)} example alerts written to {args.out}\n")
    return 0


def run_send_test(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """One clearly marked test alert through one configured channel: success, or the exact error."""
    from trailguard.examples import example_findings

    settings = Settings.load(args.config)
    problem = rule_glob_problem(args.rule)
    if problem:
        raise ConfigError(f"--rule {problem}")
    channels = build_channels(settings.channels, ChannelContext(), settings.origin("channels"))
    names = [channel.name for channel in channels]
    chosen = next((channel for channel in channels if channel.name == args.channel), None)
    if chosen is None:
        known = ", ".join(names) or "none: configure [[channels]]"
        stderr.write(f"trailguard: error: no channel named {args.channel!r} (configured: {known})\n")
        return 2
    chosen.preflight()
    found = example_findings([args.rule])
    if not found:
        stderr.write(f"trailguard: error: --rule {args.rule!r}: no example alert for it (see `trailguard render`)\n")
        return 2
    finding = found[0]
    try:
        receipt, attempts = call_with_retry(lambda: chosen.send(Alert((finding,), test=True)), RetryPolicy())
    except ChannelError as exc:
        kind = "transient, gave up after retries" if exc.transient else "permanent"
        stderr.write(f"trailguard: error: test alert through {chosen.describe()} failed ({kind}): {exc}\n")
        return 2
    stdout.write(f"test alert delivered through {chosen.describe()} after {attempts} attempt(s): {receipt}\n")
    return 0
