"""The soak of tests/soak.py on 2,000 events (``make soak`` runs 100,000): every alert delivered
exactly once through a real SMTP server, nothing else, and the history agrees. No timing thresholds:
the machine running the tests is shared; the figures are only checked to be computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trailguard.core.engine import Engine
from trailguard.services.stores.dynamodb import create_table
from trailguard.utils.aws_helpers import AwsClients

from .soak import (
    DEFAULT_SEED,
    ExpectedAlert,
    ReceivedAlert,
    generate_events,
    match_alerts,
    partition_queries,
    positive_pool,
    run_soak,
)

SMALL = 2_000


def test_a_small_soak_delivers_exactly_the_expected_alerts(tmp_path: Path) -> None:
    report = run_soak(SMALL, DEFAULT_SEED, tmp_path)

    assert report.problems == []
    assert report.batches == SMALL // 10 and report.kinds.total() == SMALL
    # Every kind of event, and grouping at work: several alerts for one event, and a digest.
    assert report.kinds["copy"] and report.kinds["root"] and report.kinds["sweep"]
    assert report.expected_digests >= 1 and report.digests == report.expected_digests
    assert report.findings > report.finding_events > 0
    assert report.emails == report.expected and report.smtp_sessions > 0
    assert report.history_delivered > 0
    assert report.log_levels["ERROR"] == 0
    # The figures are there and make sense.
    assert 0 < report.percentile(50) <= report.percentile(99) <= max(report.batch_seconds)
    assert report.percentile(50, alerting=False) < report.percentile(50, alerting=True)
    assert report.events_per_second > 0 and report.peak_rss_mib > 0
    assert "events/s" in report.table()
    # Delivery uses the table for every finding (claim, finish, history), and only for findings.
    assert report.dynamodb_requests["delivery"] >= 3 * report.finding_events
    assert "DynamoDB requests / 1,000 events" in report.table()
    # Reads and writes apart, each at least one capacity unit; and what they cost next to the Lambda.
    use = report.dynamodb_use
    assert sum(use.requests.values()) == sum(report.dynamodb_requests.values())
    assert use.requests[("detection state", "writes")] > 0 and use.requests[("delivery", "writes")] > 0
    assert all(use.units[kind] >= count * (0.5 if kind[1] == "reads" else 1) for kind, count in use.requests.items())
    assert report.cost_per_million("detection state") > 0 and report.cost_per_million("lambda") > 0
    assert "cost / million events" in report.table()


def test_the_events_are_deterministic_and_their_ids_unique() -> None:
    pool, _left_out = positive_pool(Engine())
    assert len(pool) > 100
    first = [event.envelope for event in generate_events(1_000, 7, pool)]
    again = [event.envelope for event in generate_events(1_000, 7, pool)]
    other = [event.envelope for event in generate_events(1_000, 8, pool)]
    assert first == again != other
    assert len({event["detail"]["eventID"] for event in first + other}) == 2_000
    assert len({event["id"] for event in first + other}) == 2_000


def test_the_comparison_catches_a_missing_an_extra_and_a_repeated_alert() -> None:
    single = ("event-1", ("vpc.flow-logs-deleted",), False, "HIGH")
    digest = ("event-1", ("vpc.flow-logs-deleted", "vpc.flow-logs-deleted"), True, "HIGH")
    expected = [
        ExpectedAlert(single, ("fl-1",)),
        ExpectedAlert(single, ("fl-2",)),
        ExpectedAlert(digest, ("fl-3", "fl-4")),
    ]
    received = [
        ReceivedAlert(single, "VPC flow log fl-2 deleted"),
        ReceivedAlert(digest, "VPC flow log fl-3 deleted ... fl-4"),
    ]
    assert match_alerts(expected, received) == [
        "missing alert: alert [HIGH] of event event-1: vpc.flow-logs-deleted ('fl-1',)"
    ]
    # The same single alert twice: one of them stands for fl-1's, which is not there.
    twice = [*received, ReceivedAlert(single, "VPC flow log fl-2 deleted")]
    assert match_alerts(expected, twice) == [
        "missing alert: alert [HIGH] of event event-1: vpc.flow-logs-deleted ('fl-1',)",
        "unexpected alert: alert [HIGH] of event event-1: vpc.flow-logs-deleted",
    ]
    extra = ReceivedAlert(("event-2", ("iam.user-created",), False, "LOW"), "")
    assert match_alerts(expected[2:], [received[1], extra]) == [
        "unexpected alert: alert [LOW] of event event-2: iam.user-created"
    ]


def test_partition_queries_answer_as_moto_does(fake_aws: AwsClients) -> None:
    """The soak's fair cost of a Query (its partition only) changes no answer of moto's."""
    create_table(fake_aws.client("dynamodb"), "t")
    client = fake_aws.client("dynamodb")
    for pk in ("corr#a", "corr#b", "tally#a"):
        for n in (3, 1, 2, 10):
            client.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": f"{n:03d}#x"}, "n": {"N": str(n)}})
    queries: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "corr#a"}}},
        {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": "corr#b"}, ":low": {"S": "002"}, ":high": {"S": "003~"}},
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "none"}}, "Limit": 2},
    ]
    plain = [client.query(TableName="t", **query)["Items"] for query in queries]
    with partition_queries():
        fair = [client.query(TableName="t", **query)["Items"] for query in queries]
    assert fair == plain and [len(items) for items in plain] == [4, 2, 0]
