"""The engine: one CloudTrail record in, findings out. Pure: no I/O besides logging.

Routing is a dict look-up on ``(eventSource, base eventName)`` plus one on ``userIdentity.type``,
so the cost per record does not grow with the number of rules. A rule that raises is logged with
its id and the event id, counted, and the other rules still run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from trailguard.core.base_handler import REGISTRY, Rule, RuleContext, RuleRegistry, base_event_name
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Finding, Hit, Resource
from trailguard.core.settings import Settings

logger = logging.getLogger("trailguard.engine")

RouteKey = tuple[str, str]


@dataclasses.dataclass
class EngineStats:
    """Counters for one engine's life; merged across worker processes by the CLI."""

    records: int = 0
    evaluated: int = 0
    findings: int = 0
    suppressed: int = 0
    rule_errors: int = 0

    def merge(self, other: EngineStats) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule raised on an event: reported, never fatal."""

    rule_id: str
    event_id: str
    error: str


class Engine:
    """Routes records to the rules subscribed to them and turns their hits into findings."""

    def __init__(
        self,
        settings: Settings | None = None,
        rule_ids: Collection[str] = (),
        registry: RuleRegistry = REGISTRY,
    ) -> None:
        self.settings = settings or Settings()
        self.context: RuleContext = self.settings.rule_context()
        self.registry = registry
        self.rules: list[Rule] = select_rules(registry.all(), rule_ids, self.settings.disabled_rules)
        self._by_event: dict[RouteKey, tuple[Rule, ...]] = {}
        self._by_identity: dict[str, tuple[Rule, ...]] = {}
        self._failed_ok: set[RouteKey] = set()
        every_rule = registry.all()
        by_event: dict[RouteKey, list[Rule]] = {}
        by_identity: dict[str, list[Rule]] = {}
        for active in self.rules:
            for key in registry.subscriptions(active, among=every_rule):
                by_event.setdefault((key.source, key.name), []).append(active)
                if active.include_failed:
                    self._failed_ok.add((key.source, key.name))
            for identity_type in active.identity_types:
                by_identity.setdefault(identity_type, []).append(active)
        self._by_event = {key: tuple(rules) for key, rules in by_event.items()}
        self._by_identity = {key: tuple(rules) for key, rules in by_identity.items()}
        self._identity_failed_ok = {
            identity for identity, rules in self._by_identity.items() if any(r.include_failed for r in rules)
        }
        self.stats = EngineStats()
        self.failures: list[RuleFailure] = []

    # -- cheap pre-filter, used by readers before fully decoding a record ----------------------
    def wants(self, event_source: Any, event_name: Any, identity_type: Any = None, failed: bool = False) -> bool:
        """Could any active rule fire on a record with these header fields?"""
        if isinstance(event_source, str) and isinstance(event_name, str):
            key = (event_source, base_event_name(event_name))
            if key in self._by_event and (not failed or key in self._failed_ok):
                return True
        if isinstance(identity_type, str) and identity_type in self._by_identity:
            return not failed or identity_type in self._identity_failed_ok
        return False

    def rules_for(self, event: CloudTrailEvent) -> tuple[Rule, ...]:
        """The active rules subscribed to this event, in a stable order, each once."""
        by_event = self._by_event.get((event.event_source, base_event_name(event.event_name)), ())
        by_identity = self._by_identity.get(event.identity_type, ()) if self._by_identity else ()
        if not by_identity:
            return by_event
        return tuple(dict.fromkeys(by_event + by_identity))

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, record: Mapping[str, Any] | CloudTrailEvent) -> list[Finding]:
        """Findings for one record, suppressions and the minimum severity applied."""
        event = record if isinstance(record, CloudTrailEvent) else CloudTrailEvent(record)
        self.stats.records += 1
        rules = self.rules_for(event)
        if not rules:
            return []
        self.stats.evaluated += 1
        failed = event.failed
        findings: list[Finding] = []
        for active in rules:
            if failed and not active.include_failed:
                continue
            try:
                hits: list[object] = list(active(event, self.context))
            except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
                self._record_failure(active, event, exc)
                continue
            for hit in hits:
                if not isinstance(hit, Hit):
                    self._record_failure(active, event, TypeError(f"rule returned {type(hit).__name__}, not Hit"))
                    continue
                finding = make_finding(active, event, hit)
                if finding.severity < self.settings.min_severity:
                    continue
                if self.settings.is_suppressed(finding):
                    self.stats.suppressed += 1
                    continue
                findings.append(finding)
        self.stats.findings += len(findings)
        return findings

    def evaluate_all(self, records: Iterable[Mapping[str, Any]]) -> list[Finding]:
        findings: list[Finding] = []
        for record in records:
            findings.extend(self.evaluate(record))
        return findings

    def _record_failure(self, active: Rule, event: CloudTrailEvent, exc: Exception) -> None:
        self.stats.rule_errors += 1
        error = f"{type(exc).__name__}: {exc}"
        self.failures.append(RuleFailure(active.id, event.event_id, error))
        logger.error(
            "rule %s raised on event %s (%s:%s): %s",
            active.id,
            event.event_id or "<no eventID>",
            event.event_source,
            event.event_name,
            error,
            exc_info=exc,
        )


def select_rules(rules: Iterable[Rule], wanted: Collection[str], disabled: Collection[str]) -> list[Rule]:
    """Rules whose id matches one of ``wanted`` (globs; all when empty) and none of ``disabled``."""
    selected = []
    for candidate in rules:
        if wanted and not any(fnmatch.fnmatchcase(candidate.id, pattern) for pattern in wanted):
            continue
        if any(fnmatch.fnmatchcase(candidate.id, pattern) for pattern in disabled):
            continue
        selected.append(candidate)
    return selected


def make_finding(active: Rule, event: CloudTrailEvent, hit: Hit) -> Finding:
    """Everything the rule did not say comes from its metadata and the event."""
    severity = hit.severity if hit.severity is not None else active.severity
    return Finding(
        rule_id=active.id,
        severity=Severity(severity),
        kind=active.kind,
        title=active.title,
        summary=hit.summary,
        description=active.description,
        remediation=active.remediation,
        mitre=active.mitre,
        resource=hit.resource if isinstance(hit.resource, Resource) else Resource(),
        details=dict(hit.details),
        event_id=event.event_id,
        event_name=event.event_name,
        event_source=event.event_source,
        event_time=event.event_time,
        account_id=event.account_id,
        region=event.region,
        actor=event.actor,
        source_ip=event.source_ip,
        user_agent=event.user_agent,
        error_code=event.error_code,
    )
