"""The Lambda's CloudWatch metrics: the EMF documents in its real log output, checked against the EMF
specification (tests/data/schemas/emf.schema.json plus the rules a schema cannot say)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from trailguard import main
from trailguard.core.enums import Severity
from trailguard.core.exceptions import DeliveryError
from trailguard.services import metrics

from .conftest import DATA_DIR
from .test_lambda import SG_RULE, FakeContext, Logs, load, logs, outbox

__all__ = ["logs", "outbox"]  # fixtures, used by name

EMF_SCHEMA = json.loads((DATA_DIR / "schemas" / "emf.schema.json").read_text(encoding="utf-8"))


def emf_documents(logs: Logs) -> list[dict[str, Any]]:
    """Every log line that CloudWatch would read as EMF, each validated against the specification."""
    documents = [line for line in logs.lines() if "_aws" in line]
    for document in documents:
        assert_valid_emf(document)
    return documents


def assert_valid_emf(document: dict[str, Any]) -> None:
    jsonschema.validate(document, EMF_SCHEMA, cls=jsonschema.Draft202012Validator)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                # A dimension's value: a string member of the root, 1-1024 ASCII characters.
                value = document[dimension]
                assert isinstance(value, str) and 1 <= len(value) <= 1024 and value.isascii(), dimension
        for definition in directive["Metrics"]:
            value = document[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            assert len(values) <= 100
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values), definition


def invocation_document(documents: list[dict[str, Any]]) -> dict[str, Any]:
    [document] = [d for d in documents if metrics.EVENTS_EVALUATED in d]
    return document


@pytest.fixture(autouse=True)
def _function_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "AWS-Generic-Security-eu-west-1")


def test_an_alerted_event_gives_the_counters_and_one_document_for_its_rule(outbox: Path, logs: Logs) -> None:
    main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext("req-9"))
    documents = emf_documents(logs)
    assert len(documents) == 2
    counters = invocation_document(documents)
    assert counters["_aws"]["CloudWatchMetrics"][0]["Namespace"] == metrics.NAMESPACE
    assert counters["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[metrics.FUNCTION_DIMENSION]]
    assert counters[metrics.FUNCTION_DIMENSION] == "AWS-Generic-Security-eu-west-1"
    assert {name: counters[name] for name in metrics.INVOCATION_METRICS} == {
        metrics.EVENTS_EVALUATED: 1,
        metrics.FINDINGS: 1,
        metrics.DELIVERIES_FAILED: 0,
        metrics.REMEDIATIONS: 0,
        metrics.STATE_STORE_ERRORS: 0,
    }
    [by_rule] = [d for d in documents if d is not counters]
    assert by_rule[metrics.RULE_DIMENSION] == SG_RULE and by_rule[metrics.SEVERITY_DIMENSION] == "CRITICAL"
    assert by_rule[metrics.FINDINGS] == 1 and metrics.EVENTS_EVALUATED not in by_rule
    assert by_rule["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [metrics.FUNCTION_DIMENSION, metrics.SEVERITY_DIMENSION],
        [metrics.FUNCTION_DIMENSION, metrics.RULE_DIMENSION],
    ]
    # Lambda's log lines: the request id is there, so a metric leads back to its invocation.
    assert all(d["request_id"] == "req-9" and d["message"] == "metrics" for d in documents)


def test_an_event_without_findings_gives_one_document(outbox: Path, logs: Logs) -> None:
    main.lambda_handler(load("eventbridge_sg_https_no_findings.json"), None)
    [document] = emf_documents(logs)
    assert document[metrics.EVENTS_EVALUATED] == 1 and document[metrics.FINDINGS] == 0


def test_an_sqs_batch_is_one_invocation_document_whatever_its_size(outbox: Path, logs: Logs) -> None:
    batch = load("sqs_batch_mixed.json")
    main.lambda_handler(batch, FakeContext())
    documents = emf_documents(logs)
    counters = invocation_document(documents)
    # Five messages: two malformed (not evaluated), three CloudTrail records, two with findings.
    assert counters[metrics.EVENTS_EVALUATED] == 3
    by_rule = [d for d in documents if d is not counters]
    assert sum(d[metrics.FINDINGS] for d in by_rule) == counters[metrics.FINDINGS] == 2
    assert len({(d[metrics.RULE_DIMENSION], d[metrics.SEVERITY_DIMENSION]) for d in by_rule}) == len(by_rule)


def test_a_failed_delivery_is_counted_and_the_document_is_written_though_the_invocation_raises(
    tmp_path: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "files", "path": str(blocker)}]))
    with pytest.raises(DeliveryError):
        main.lambda_handler(load("eventbridge_sg_world_open.json"), FakeContext())
    counters = invocation_document(emf_documents(logs))
    assert counters[metrics.DELIVERIES_FAILED] == 1 and counters[metrics.FINDINGS] == 1


@pytest.mark.usefixtures("fake_aws")
def test_state_store_errors_are_counted(outbox: Path, logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "table-that-does-not-exist")
    main.lambda_handler(load("eventbridge_sg_world_open.json"), None)
    store_errors = [line for line in logs.lines() if line["message"].startswith("state store:")]
    counters = invocation_document(emf_documents(logs))
    assert store_errors and counters[metrics.STATE_STORE_ERRORS] == len(store_errors)


def test_the_remediation_hook_counts_into_the_open_invocation(logs: Logs) -> None:
    metrics.begin()
    metrics.record_remediation()
    metrics.record_remediation(2)
    [document] = metrics.flush()
    assert_valid_emf(document)
    assert document[metrics.REMEDIATIONS] == 3
    assert metrics.flush() == [], "flushed once: the next invocation starts again"
    metrics.record_remediation()  # outside an invocation (a scan): nothing to count into, no error
    assert emf_documents(logs) == [document]


def test_cardinality_is_bounded_and_the_spec_limits_are_enforced() -> None:
    counters = metrics.InvocationMetrics()
    for index in range(metrics.MAX_FINDING_DOCUMENTS + 20):
        counters.add_finding(f"rule.{index:03d}", Severity.HIGH)
    documents = counters.documents("fn", 0)
    assert len(documents) == 1 + metrics.MAX_FINDING_DOCUMENTS
    for document in documents:
        assert_valid_emf(document)
    with pytest.raises(ValueError, match="at most 100 metrics"):
        metrics.emf_document([["A"]], {"A": "a"}, tuple(f"M{i}" for i in range(101)), 0)
    with pytest.raises(jsonschema.ValidationError):
        # The schema is no rubber stamp: a directive without Metrics is not EMF.
        assert_valid_emf({"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "x", "Dimensions": []}]}})
