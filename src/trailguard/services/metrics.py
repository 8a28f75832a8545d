"""CloudWatch metrics as Embedded Metric Format (EMF) log lines: no API call, no client, no permission.

CloudWatch Logs extracts a metric from any log line that carries an ``_aws`` member in the shape of
the EMF specification (CloudWatch user guide, "Specification: Embedded metric format"):

    {"_aws": {"Timestamp": <ms since the epoch>,
              "CloudWatchMetrics": [{"Namespace": "...", "Dimensions": [["Dim", ...], ...],
                                     "Metrics": [{"Name": "...", "Unit": "Count"}, ...]}]},
     "Dim": "<a string>", "<metric name>": <a number>, ...}

Every dimension and metric named by a directive must be a member of the root; a directive names at
most 100 metrics and a dimension set at most 30 dimensions (tests/data/emf.schema.json checks both).

Cost: the Lambda writes one document per invocation (``flush`` at its end) with the counters below,
whatever the number of events (an SQS batch is one document), plus, only when rules fired, one
document per (rule, severity) that fired, since a document holds one value per dimension: CloudWatch
sums them by ``Severity`` and by ``RuleId``. Cardinality stays bounded: rule ids come from the rule
registry and severities from ``Severity``; nothing taken from an event becomes a dimension.

The pipeline counts through the functions of this module (``count_*``, ``record_remediation``); a
counter is a no-op cost (an integer addition) when no invocation is open, as in ``trailguard scan``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from trailguard.core.enums import Severity

NAMESPACE = "trailguard"
# Every metric carries the function's name: two stacks in one account and region stay apart.
FUNCTION_DIMENSION = "FunctionName"
SEVERITY_DIMENSION = "Severity"
RULE_DIMENSION = "RuleId"

EVENTS_EVALUATED = "EventsEvaluated"  # CloudTrail records the engine evaluated (the heartbeat)
FINDINGS = "Findings"  # findings reported by the rules, routine ones left out (never alerted)
DELIVERIES_FAILED = "DeliveriesFailed"  # findings whose delivery failed (to be retried by AWS)
REMEDIATIONS = "Remediations"  # remediations carried out (fed by the remediation pipeline)
STATE_STORE_ERRORS = "StateStoreErrors"  # DynamoDB calls that failed (the store fails open)

# The invocation document's metrics, in this order; the findings documents carry FINDINGS alone.
INVOCATION_METRICS = (EVENTS_EVALUATED, FINDINGS, DELIVERIES_FAILED, REMEDIATIONS, STATE_STORE_ERRORS)
# EMF: at most 100 metrics per directive and 30 dimensions per dimension set.
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
# A document with more (rule, severity) pairs than this is cut, so one invocation cannot flood the log.
MAX_FINDING_DOCUMENTS = 100
DEFAULT_FUNCTION_NAME = "trailguard"


def function_name() -> str:
    """The Lambda function's name (Lambda sets the variable), else the default for local runs."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or DEFAULT_FUNCTION_NAME


class InvocationMetrics:
    """The counters of one invocation."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(INVOCATION_METRICS, 0)
        self.findings: dict[tuple[str, Severity], int] = {}

    def add(self, name: str, count: int = 1) -> None:
        self.counts[name] += count

    def add_finding(self, rule_id: str, severity: Severity) -> None:
        self.counts[FINDINGS] += 1
        key = (rule_id, severity)
        self.findings[key] = self.findings.get(key, 0) + 1

    def documents(self, name: str, now_ms: int) -> list[dict[str, Any]]:
        """The EMF documents of this invocation: the counters, then one per (rule, severity)."""
        base = {FUNCTION_DIMENSION: name}
        main = emf_document([[FUNCTION_DIMENSION]], {**base, **self.counts}, INVOCATION_METRICS, now_ms)
        documents = [main]
        for (rule_id, severity), count in sorted(self.findings.items())[:MAX_FINDING_DOCUMENTS]:
            members = {**base, SEVERITY_DIMENSION: severity.name, RULE_DIMENSION: rule_id, FINDINGS: count}
            dimensions = [[FUNCTION_DIMENSION, SEVERITY_DIMENSION], [FUNCTION_DIMENSION, RULE_DIMENSION]]
            documents.append(emf_document(dimensions, members, (FINDINGS,), now_ms))
        return documents


def emf_document(
    dimensions: list[list[str]], members: dict[str, Any], metrics: tuple[str, ...], now_ms: int
) -> dict[str, Any]:
    """One EMF document: the directive, then the dimensions' and metrics' values at the root."""
    if len(metrics) > MAX_METRICS_PER_DIRECTIVE or any(len(s) > MAX_DIMENSIONS_PER_SET for s in dimensions):
        raise ValueError("EMF: at most 100 metrics per directive and 30 dimensions per dimension set")
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": dimensions,
        "Metrics": [{"Name": metric, "Unit": "Count", "StorageResolution": 60} for metric in metrics],
    }
    return {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [directive]}, **members}


_current: InvocationMetrics | None = None


def begin() -> None:
    """Open an invocation: the counters start at zero."""
    global _current
    _current = InvocationMetrics()


def count(name: str, amount: int = 1) -> None:
    """Add to one of ``INVOCATION_METRICS`` (not ``FINDINGS``: see ``count_finding``)."""
    if _current is not None:
        _current.add(name, amount)


def count_event() -> None:
    count(EVENTS_EVALUATED)


def count_finding(rule_id: str, severity: Severity) -> None:
    if _current is not None:
        _current.add_finding(rule_id, severity)


def count_delivery_failed(amount: int = 1) -> None:
    count(DELIVERIES_FAILED, amount)


def count_store_error() -> None:
    count(STATE_STORE_ERRORS)


def record_remediation(amount: int = 1) -> None:
    """The remediation pipeline's hook: one call per remediation carried out."""
    count(REMEDIATIONS, amount)


def flush() -> list[dict[str, Any]]:
    """Write this invocation's documents as log lines and close it; returns what was written."""
    global _current
    current, _current = _current, None
    if current is None:
        return []
    from trailguard.utils import logger

    documents = current.documents(function_name(), int(time.time() * 1000))
    return [logger.info("metrics", **document) for document in documents]
