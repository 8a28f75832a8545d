"""The engine: one CloudTrail record in, findings out. Pure: no I/O besides logging.

Routing is a dict look-up on ``(eventSource, base eventName)`` plus one on ``userIdentity.type``,
so the cost per record does not grow with the number of rules. A rule that raises is logged with
its id and the event id, counted, and the other rules still run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from trailguard.core.actors import is_aws_acting_for_itself
from trailguard.core.base_handler import REGISTRY, Rule, RuleContext, RuleRegistry, base_event_name
from trailguard.core.correlation import CHAIN_RULE_ID, Correlator
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Finding, Hit, Resource
from trailguard.core.settings import Settings
from trailguard.core.state import DetectionState, MemoryState

LOGGER_NAME = "trailguard.engine"
RouteKey = tuple[str, str]


class EngineStats:
    """Counters for one engine's life; merged across worker processes by the CLI."""

    __slots__ = ("evaluated", "findings", "records", "rule_errors", "suppressed")
    FIELDS = ("records", "evaluated", "findings", "suppressed", "rule_errors")

    def __init__(
        self, records: int = 0, evaluated: int = 0, findings: int = 0, suppressed: int = 0, rule_errors: int = 0
    ) -> None:
        self.records = records
        self.evaluated = evaluated
        self.findings = findings
        self.suppressed = suppressed
        self.rule_errors = rule_errors

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def merge(self, other: EngineStats) -> None:
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def since(self, earlier: Mapping[str, int]) -> EngineStats:
        """What was counted after ``earlier`` (an ``as_dict()`` snapshot)."""
        return EngineStats(**{name: getattr(self, name) - earlier[name] for name in self.FIELDS})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EngineStats) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EngineStats({self.as_dict()})"


class RuleFailure(NamedTuple):
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
        lazy: bool = False,
        *,
        state: DetectionState | None = None,
        stateful: bool | None = None,
    ) -> None:
        """``lazy``: import rule modules only when an event of their service arrives (the Lambda's
        cold start); otherwise every rule is loaded now, as a scan of many events wants.
        ``state``: what stateful rules remember through (in memory for this engine when None).
        ``stateful``: only the stateful rules (True), only the others (False), or all (None): a
        scan's workers evaluate the others while its main process keeps the one state."""
        self.settings = settings or Settings()
        self.state: DetectionState = state if state is not None else MemoryState()
        self.context: RuleContext = self.settings.rule_context()._replace(state=self.state)
        self.stateful = stateful
        self.registry = registry
        self.rule_ids = tuple(rule_ids)
        self._lazy = lazy
        self._prepared: set[tuple[str, str]] = set()
        self._indexed = 0
        self.rules: list[Rule] = []
        self._by_event: dict[RouteKey, tuple[Rule, ...]] = {}
        self._by_identity: dict[str, tuple[Rule, ...]] = {}
        self._failed_ok: set[RouteKey] = set()
        self._identity_failed_ok: set[str] = set()
        self._index(registry.loaded() if lazy else registry.all())
        self.stats = EngineStats()
        self.failures: list[RuleFailure] = []

    def _index(self, every_rule: list[Rule]) -> None:
        """Build the routing tables from the rules registered so far."""
        self._indexed = len(every_rule)
        self.rules = [
            rule
            for rule in select_rules(every_rule, self.rule_ids, self.settings.disabled_rules)
            if self.stateful is None or rule.stateful is self.stateful
        ]
        by_event: dict[RouteKey, list[Rule]] = {}
        by_identity: dict[str, list[Rule]] = {}
        self._failed_ok = set()
        for active in self.rules:
            for key in self.registry.subscriptions(active, among=every_rule):
                by_event.setdefault((key.source, key.name), []).append(active)
                if active.include_failed:
                    self._failed_ok.add((key.source, key.name))
            for identity_type in active.identity_types:
                by_identity.setdefault(identity_type, []).append(active)
        self._by_event = {key: tuple(rules) for key, rules in by_event.items()}
        self._by_identity = {key: tuple(rules) for key, rules in by_identity.items()}
        chain = next((active for active in self.rules if active.id == CHAIN_RULE_ID), None)
        self._correlator = Correlator(chain, self.context) if chain is not None else None
        self._identity_failed_ok = {
            identity for identity, rules in self._by_identity.items() if any(r.include_failed for r in rules)
        }

    def _prepare(self, event: CloudTrailEvent) -> None:
        """Lazy mode: load the rule modules this kind of event concerns, once."""
        self.prepare_for(event.event_source, event.identity_type)

    def prepare_for(self, event_source: str, identity_type: str) -> None:
        """Lazy mode: load the rule modules for records of this source and identity type, once (before
        a reader asks ``wants`` about them: a log file from S3 holds every kind of record)."""
        kind = (event_source, identity_type)
        if kind not in self._prepared:
            self._prepared.add(kind)
            self.registry.load_for(*kind)
            # Another engine may have loaded modules since this one indexed: compare counts.
            if len(self.registry) != self._indexed:
                self._index(self.registry.loaded())

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
        if self._lazy:
            self._prepare(event)
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
        aws_itself = event.aws_itself
        if aws_itself is None:
            aws_itself = event.aws_itself = is_aws_acting_for_itself(event)
        findings: list[Finding] = []
        for active in rules:
            if (failed and not active.include_failed) or (aws_itself and not active.reports_aws):
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
        if self.stateful is None and findings:
            findings.extend(self.correlate(findings))
        return findings

    def forget(self) -> None:
        """Start from an empty memory (in this process): each test event is judged alone."""
        self.state = MemoryState()
        self.context = self.context._replace(state=self.state)
        if self._correlator is not None:
            self._correlator = Correlator(self._correlator.rule, self.context)

    def correlate(self, findings: Sequence[Finding]) -> list[Finding]:
        """The incidents (incident.attack-chain) that these findings, of every rule, complete. An
        engine of all rules correlates each event's findings itself; a scan's main process hands its
        stateful engine each file's findings (the stateless ones come from its workers)."""
        if self._correlator is None:
            return []
        try:
            made = self._correlator.observe(findings)
        except Exception as exc:  # noqa: BLE001 - an unreachable state must not cost the findings their alerts
            first = findings[0]
            where = CloudTrailEvent(
                {"eventID": first.event_id, "eventSource": first.event_source, "eventName": first.event_name}
            )
            self._record_failure(self._correlator.rule, where, exc)
            return []
        incidents = []
        for incident in made:
            if self.settings.is_suppressed(incident):
                self.stats.suppressed += 1
            else:
                incidents.append(incident)
        self.stats.findings += len(incidents)
        return incidents

    def evaluate_all(self, records: Iterable[Mapping[str, Any]]) -> list[Finding]:
        findings: list[Finding] = []
        for record in records:
            findings.extend(self.evaluate(record))
        return findings

    def _record_failure(self, active: Rule, event: CloudTrailEvent, exc: Exception) -> None:
        self.stats.rule_errors += 1
        error = f"{type(exc).__name__}: {exc}"
        self.failures.append(RuleFailure(active.id, event.event_id, error))
        import logging  # only when something went wrong: logging is heavy for the cold start

        logging.getLogger(LOGGER_NAME).error(
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


def _remediation(active: Rule, hit: Hit, region: str) -> str:
    """The rule's remediation, or the hit's variant of it, with the event's values filled in."""
    template = hit.remediation if isinstance(hit.remediation, str) and hit.remediation else active.remediation
    values = hit.remedy
    named = active.resource_placeholder
    if named and named not in values and isinstance(hit.resource, Resource):
        # The placeholder that names the hit's resource: its id, or its ARN where the command takes one.
        values = {**values, named: hit.resource.arn if named == "<arn>" else hit.resource.id}
    if "<region>" in template and "<region>" not in values:
        values = {**values, "<region>": region}  # where the call was made, unless the rule says otherwise
    if not values:
        return template
    from trailguard.core.remedy import fill  # only findings with values to fill need it

    return fill(template, values)


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
        remediation=_remediation(active, hit, event.region),
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
        routine=hit.routine is True,
        remedy=dict(hit.remedy) if isinstance(hit.remedy, Mapping) else {},  # a dict: findings cross processes
    )
