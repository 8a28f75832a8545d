"""The remediation step of delivery: safeguards, then plan, then (opt-in) act; the outcome goes on the finding.

For a finding whose rule is ``dry-run`` or ``apply`` in ``[remediation]`` and has an action:

1. the safeguards that need no AWS: the account and region allow-lists, the exempt principals;
2. the action's plan (it reads the resource: its state and tags);
3. a resource tagged ``trailguard:remediate = false`` is left alone;
4. nothing planned: nothing to do (already right: a second run is a no-op);
5. ``dry-run`` (or ``apply`` without ``act``): the plan is reported, nothing is changed;
6. ``apply``: the rate limit (``remediation_max_per_hour`` actions per account, counted in the
   detection state: the table in the Lambda, memory or ``--state`` offline), then the calls.

Whatever happens, the outcome is one line on the finding (``Remediation`` detail, so every channel,
the log line and the history carry it) and a failure is an outcome, never an exception: the alert
goes out the same.
"""

from __future__ import annotations

import enum
import fnmatch
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.services.remediation.base import ACTIONS, EXEMPT_TAG, Call, NotRemediable, Target, error_code
from trailguard.services.stores.base import REMEDIATION_DETAIL as DETAIL  # defined with the stores, which read it
from trailguard.services.stores.base import REMOVED_DETAIL

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding
    from trailguard.core.settings import Settings
    from trailguard.core.state import DetectionState
    from trailguard.utils.aws_helpers import AwsClients

RATE_NAMESPACE = "remediation.rate"
HOUR = 3600.0


class Status(enum.StrEnum):
    DONE = "done"
    PLANNED = "planned"  # dry-run: what it would do
    NOTHING = "nothing"  # already right
    SKIPPED = "skipped"  # a safeguard said no
    FAILED = "failed"


class Result(NamedTuple):
    rule_id: str
    mode: str
    status: Status
    text: str  # the line the alert shows
    resource: str = ""
    calls: tuple[Call, ...] = ()
    removed: str = ""


def mode_for(modes: tuple[tuple[str, str], ...], rule_id: str) -> str:
    """``off``, ``dry-run`` or ``apply``: an exact rule id wins, then the first glob that matches."""
    for pattern, mode in modes:
        if pattern == rule_id:
            return mode
    for pattern, mode in modes:
        if fnmatch.fnmatchcase(rule_id, pattern):
            return mode
    return "off"


def enabled(settings: Settings) -> bool:
    """Is any rule set to something other than ``off``? (Else nothing of remediation is imported.)"""
    return any(mode != "off" for _glob, mode in settings.remediation)


def remediation_warnings(settings: Settings) -> list[str]:
    """Entries of ``[remediation]`` that turn on nothing: a glob set to ``dry-run`` or ``apply``
    that matches no rule with an action, or only disabled ones. Valid, so not an error; but a user
    who wrote ``"iam.*" = "apply"`` expects something to be undone, and nothing ever would be."""
    from trailguard.core.base_handler import REGISTRY
    from trailguard.core.settings import named_key

    rule_ids = REGISTRY.top_severities()
    disabled = settings.disabled_rules
    where = named_key(settings, "remediation")
    found: list[str] = []
    for glob, mode in settings.remediation:
        if mode == "off":
            continue
        matched = [rule_id for rule_id in rule_ids if fnmatch.fnmatchcase(rule_id, glob)]
        remediable = [rule_id for rule_id in matched if rule_id in ACTIONS]
        live = [r for r in remediable if not any(fnmatch.fnmatchcase(r, pattern) for pattern in disabled)]
        if live:
            continue
        if remediable:
            why = f"its rules with an action ({', '.join(remediable)}) are disabled"
        else:
            why = "no rule it matches has a remediation action (docs/remediation.md lists them)"
        found.append(f'{where}: "{glob}" = "{mode}" does nothing: {why}')
    return found


class Remediator:
    """Remediates findings as the settings say; ``act``: make the calls of rules set to ``apply``
    (the Lambda; ``trailguard remediate --apply``), else only plan them."""

    def __init__(
        self,
        settings: Settings,
        aws: Callable[[], AwsClients],
        state: DetectionState,
        *,
        act: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._aws_factory = aws
        self.state = state
        self.act = act
        self.clock = clock

    def remediate(self, finding: Finding, record: Mapping[str, Any]) -> Result | None:
        """The outcome for one finding; None when its rule is ``off`` or has no action."""
        mode = mode_for(self.settings.remediation, finding.rule_id)
        action = ACTIONS.get(finding.rule_id)
        if mode == "off" or action is None:
            return None

        def result(status: Status, text: str, **more: Any) -> Result:
            return Result(finding.rule_id, mode, status, text, **more)

        refusal = self._refusal(finding)
        if refusal:
            return result(Status.SKIPPED, f"Not remediated: {refusal}")
        try:
            plan = action.plan(Target(finding, record, self._aws_factory(), self.settings.trusted_accounts))
        except NotRemediable as exc:
            return result(Status.NOTHING, f"Nothing to remediate: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed look is an outcome; the alert goes out
            return result(Status.FAILED, f"Remediation failed: {error_code(exc)} while reading the resource")
        more = {"resource": plan.resource, "calls": plan.calls, "removed": plan.removed}
        if plan.exempt:
            return result(Status.SKIPPED, f"Not remediated: {plan.resource} is tagged {EXEMPT_TAG}=false", **more)
        if not plan.calls:
            why = plan.reason or f"{plan.resource} is already as it was before the event"
            return result(Status.NOTHING, f"Nothing to remediate: {why}", **more)
        if mode != "apply" or not self.act:
            planned = "; ".join(call.text() for call in plan.calls)
            label = "Dry run" if mode != "apply" else "Planned (not applied)"
            return result(Status.PLANNED, f"{label}, nothing changed: would call {planned}", **more)
        limit = self.settings.remediation_max_per_hour
        now = self.clock()
        try:
            tally = self.state.tally(RATE_NAMESPACE, finding.account_id or "?", finding.key, now, HOUR)
        except Exception as exc:  # noqa: BLE001 - no count, no action: the limit fails closed
            return result(
                Status.SKIPPED, f"Not remediated: the rate limit's count is unavailable ({error_code(exc)})", **more
            )
        if tally.events > limit:
            return result(
                Status.SKIPPED,
                f"Not remediated: rate limit of {limit} actions an hour in account {finding.account_id} reached",
                **more,
            )
        done: list[str] = []
        for call in plan.calls:
            try:
                self._make(call, finding.region or self._aws_factory().region)
            except Exception as exc:  # noqa: BLE001 - as above
                already = f" after it {'; '.join(done)}" if done else ""
                return result(
                    Status.FAILED,
                    f"Remediation failed: {error_code(exc)} on {call.service} {call.operation}{already}",
                    **more,
                )
            done.append(call.does)
        at = time.strftime("%H:%M:%S", time.gmtime(self.clock()))
        return result(Status.DONE, f"Remediated: {'; '.join(done)} at {at} UTC", **more)

    def _refusal(self, finding: Finding) -> str:
        settings = self.settings
        if settings.remediation_accounts and finding.account_id not in settings.remediation_accounts:
            return f"account {finding.account_id or '(none)'} is not in remediation_accounts"
        if settings.remediation_regions and finding.region not in settings.remediation_regions:
            return f"region {finding.region or '(none)'} is not in remediation_regions"
        actor = finding.actor
        for pattern in settings.remediation_exempt_principals:
            if any(fnmatch.fnmatchcase(arn, pattern) for arn in (actor.principal_arn, actor.arn) if arn):
                return f"the change was made by an exempt principal ({pattern})"
        return ""

    def _make(self, call: Call, region: str) -> None:
        from botocore import xform_name

        client = self._aws_factory().client(call.service, region)
        getattr(client, xform_name(call.operation))(**call.params)


def failed_result(finding: Finding, exc: BaseException) -> Result:
    """The outcome of an action that raised where it should have answered (a bug): still an alert."""
    return Result(finding.rule_id, "", Status.FAILED, f"Remediation failed: internal error ({type(exc).__name__})")


def annotate(finding: Finding, result: Result) -> Finding:
    """The finding as alerted and stored: the outcome (and any removed text) among its details."""
    details = {**finding.details, DETAIL: result.text}
    if result.removed and result.status in (Status.DONE, Status.PLANNED):
        details[REMOVED_DETAIL] = result.removed
    return finding._replace(details=details)
