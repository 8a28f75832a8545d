"""The DynamoDB state store against moto: claims, quiet windows, history, and the table schema.

The store's clock is injected, so claim expiry and quiet windows are tested to the second without
sleeping. The new settings keys (table_name, dedupe_ttl_days, history_ttl_days, quiet_periods) are
tested here too.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.engine import Engine
from trailguard.core.enums import Outcome
from trailguard.core.event_types import Finding, Resource
from trailguard.core.exceptions import ConfigError
from trailguard.core.settings import Settings
from trailguard.services.stores import ClaimStatus, StoreError, iso, quiet_period_for
from trailguard.services.stores.dynamodb import (
    CLAIM_MARGIN_SECONDS,
    DAY,
    RULE_INDEX,
    TABLE_SCHEMA,
    TTL_ATTRIBUTE,
    DynamoDBStore,
    create_table,
)
from trailguard.utils.aws_helpers import AwsClients

from .clock import START, Clock
from .conftest import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DATA = DATA_DIR / "lambda"
SETUP = json.loads((LAMBDA_DATA / "e2e_setup.json").read_text(encoding="utf-8"))
TABLE: str = SETUP["table_name"]

RULE = "sg.ingress-open-to-world"


def sg_finding(event_id: str = "", event_time: str = "", actor_arn: str = "") -> Finding:
    """The world-open security group finding of the test event, with the given event id and time."""
    record = json.loads((LAMBDA_DATA / "eventbridge_sg_world_open.json").read_text(encoding="utf-8"))["detail"]
    [finding] = Engine().evaluate(record)
    changes: dict[str, Any] = {}
    if event_id:
        changes["event_id"] = event_id
    if event_time:
        changes["event_time"] = event_time
    if actor_arn:
        changes["actor"] = finding.actor._replace(arn=actor_arn)
    return finding._replace(**changes)


@pytest.fixture
def aws(fake_aws: AwsClients) -> AwsClients:
    create_table(fake_aws.client("dynamodb"), TABLE)
    return fake_aws


@pytest.fixture
def store(aws: AwsClients, clock: Clock) -> DynamoDBStore:
    return DynamoDBStore(TABLE, aws, dedupe_ttl_days=14, history_ttl_days=90, clock=clock)


def raw_item(aws: AwsClients, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = (
        aws.client("dynamodb")
        .get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item", {})
    )
    return item


# -- idempotency --------------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released_and_done_after_finish(store: DynamoDBStore, aws: AwsClients) -> None:
    finding = sg_finding()
    first = store.claim(finding, hold_seconds=60)
    assert first.status == "claimed" and first.granted and first.token
    # A concurrent duplicate (another invocation, same event) is told it is in flight.
    second = store.claim(finding, hold_seconds=60)
    assert second.status == ClaimStatus.IN_FLIGHT and not second.granted
    # A failed delivery gives the claim back: the retry may deliver at once.
    store.release(finding, first)
    retry = store.claim(finding, hold_seconds=60)
    assert retry.status == "claimed" and retry.token != first.token
    store.finish(finding, retry, Outcome.DELIVERED)
    again = store.claim(finding, hold_seconds=60)
    assert again.status == ClaimStatus.DEDUPLICATED and again.previous == "delivered" and not again.granted
    item = raw_item(aws, f"event#{finding.event_id}", f"finding#{finding.rule_id}#{finding.resource.arn}")
    assert item["status"] == {"S": "delivered"}
    assert int(item[TTL_ATTRIBUTE]["N"]) == int(START) + 14 * DAY


def test_a_stale_claim_expires_with_the_claimants_deadline(store: DynamoDBStore, clock: Clock) -> None:
    finding = sg_finding()
    assert store.claim(finding, hold_seconds=100).status == "claimed"
    clock.advance(100 + CLAIM_MARGIN_SECONDS - 1)
    assert store.claim(finding, hold_seconds=100).status == ClaimStatus.IN_FLIGHT, (
        "still inside the deadline and margin"
    )
    clock.advance(2)
    assert store.claim(finding, hold_seconds=100).status == "claimed", "the claimant died: its retry may deliver"


def test_releasing_someone_elses_claim_changes_nothing(store: DynamoDBStore, clock: Clock) -> None:
    finding = sg_finding()
    stale = store.claim(finding, hold_seconds=1)
    clock.advance(1 + CLAIM_MARGIN_SECONDS + 1)
    current = store.claim(finding, hold_seconds=60)
    assert current.status == "claimed"
    store.release(finding, stale)  # the old claimant gives up late
    assert store.claim(finding, hold_seconds=60).status == ClaimStatus.IN_FLIGHT, "the current claim must survive"


def test_findings_of_one_event_are_claimed_separately_and_without_an_event_id_not_at_all(store: DynamoDBStore) -> None:
    finding = sg_finding()
    other_resource = finding._replace(resource=Resource("AWS::EC2::SecurityGroup", "sg-other", "arn:other"))
    assert store.claim(finding, 60).status == "claimed"
    assert store.claim(other_resource, 60).status == "claimed"
    untracked = store.claim(finding._replace(event_id=""), 60)
    assert untracked.status == ClaimStatus.UNTRACKED and untracked.granted


def test_event_text_cannot_make_two_findings_share_a_history_item(store: DynamoDBStore) -> None:
    """The history key joins time, event id, rule and resource with ``#``: an event id and a
    resource holding ``#`` and a rule id must not spell the key of another finding."""
    plain = sg_finding(event_id="e")._replace(
        resource=Resource("AWS::EC2::SecurityGroup", "x", f"p#{RULE}#q"),
    )
    forged = sg_finding(event_id=f"e#{RULE}#p")._replace(resource=Resource("AWS::EC2::SecurityGroup", "q", "q"))
    for finding in (plain, forged):
        store.record(finding, Outcome.DELIVERED, {"email": "delivered"})
    stored = store.query_history("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")
    assert sorted(r.event_id for r in stored) == ["e", f"e#{RULE}#p"]


def test_keys_from_long_event_text_are_hashed_to_fit(store: DynamoDBStore) -> None:
    long_arn = "arn:aws:ec2:eu-west-1:111122223333:security-group/" + "x" * 5000
    finding = sg_finding()._replace(resource=Resource("AWS::EC2::SecurityGroup", "x" * 5000, long_arn))
    claim = store.claim(finding, 60)
    assert claim.status == "claimed"
    store.finish(finding, claim, Outcome.DELIVERED)
    assert store.claim(finding, 60).status == ClaimStatus.DEDUPLICATED
    store.record(finding, Outcome.DELIVERED, {"email": "delivered"})
    [stored] = store.query_history("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")
    assert stored.resource_arn == long_arn[:4096] + f"...[{len(long_arn) - 4096} more characters]"


def test_a_finding_with_megabytes_of_event_text_still_gets_its_history(store: DynamoDBStore) -> None:
    """DynamoDB refuses items over 400 KB: the stored text is bounded, so the record is kept."""
    huge = "\u00e9" * 300_000  # two bytes each in UTF-8
    finding = sg_finding()._replace(
        resource=Resource("AWS::EC2::SecurityGroup", huge, "arn:" + huge), summary=huge, title=huge
    )
    store.record(finding, Outcome.FAILED, {"email": "failed: " + huge}, failure=huge)
    [stored] = store.query_history("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")
    assert stored.outcome == "failed" and stored.resource_id.startswith("\u00e9" * 4096)
    assert len(stored.summary) < 4200 and len(stored.failures[0]) < 4200


def test_dynamodb_errors_are_state_store_errors_that_name_the_table(aws: AwsClients) -> None:
    missing = DynamoDBStore("no-such-table", aws)
    with pytest.raises(StoreError, match=r"update_item on table no-such-table failed: ResourceNotFoundException"):
        missing.claim(sg_finding(), 60)


# -- quiet periods ------------------------------------------------------------------------------


def test_repeats_inside_the_window_are_folded_and_counted_and_reported_by_the_next_alert(
    store: DynamoDBStore, clock: Clock, aws: AwsClients
) -> None:
    window = 3600
    first = sg_finding(event_id="ev-1")
    gate = store.quiet_gate(first, window)
    assert gate.alert and gate.folded == 0 and gate.note() == "0"
    store.alerted(first, gate)
    opened_at = iso(clock.now)
    for number in (2, 3, 4):
        clock.advance(60)
        repeat = store.quiet_gate(sg_finding(event_id=f"ev-{number}"), window)
        assert not repeat.alert
        assert repeat.folded == number - 1
        assert repeat.since == opened_at
    # A different actor is a different dedupe key: not folded.
    other = store.quiet_gate(sg_finding(event_id="ev-x", actor_arn="arn:aws:iam::111122223333:user/eve"), window)
    assert other.alert and other.folded == 0
    clock.now = START + window + 1
    after = sg_finding(event_id="ev-5")
    gate = store.quiet_gate(after, window)
    assert gate.alert and gate.folded == 3 and gate.since == opened_at
    assert gate.note() == f"3 since {opened_at}"
    store.alerted(after, gate)
    item = raw_item(aws, f"quiet#{after.dedupe_key}", "window")
    assert item["folded"] == {"N": "0"}
    assert int(item["until"]["N"]) == int(clock.now) + window
    assert int(item[TTL_ATTRIBUTE]["N"]) > int(item["until"]["N"])
    clock.advance(10)
    assert store.quiet_gate(sg_finding(event_id="ev-6"), window).folded == 1, "the count starts again"


def test_an_undelivered_alert_gives_its_window_back(store: DynamoDBStore, clock: Clock) -> None:
    window = 600
    first = sg_finding(event_id="ev-1")
    store.alerted(first, store.quiet_gate(first, window))
    clock.advance(10)
    assert not store.quiet_gate(sg_finding(event_id="ev-2"), window).alert
    clock.now = START + window + 5
    failing = sg_finding(event_id="ev-3")
    gate = store.quiet_gate(failing, window)
    assert gate.alert and gate.folded == 1
    # Delivery failed: the repeat that comes next must not be silenced by an alert nobody got.
    store.rolled_back(failing, gate)
    clock.advance(1)
    retry = store.quiet_gate(failing, window)
    assert retry.alert and retry.folded == 1 and retry.since == iso(START), "the count and its start survive"


def test_a_retry_of_the_window_owner_is_not_folded_into_its_own_window(store: DynamoDBStore, clock: Clock) -> None:
    finding = sg_finding(event_id="ev-1")
    assert store.quiet_gate(finding, 600).alert
    clock.advance(5)
    assert store.quiet_gate(finding, 600).alert, "its own retry after a crash must still alert"


def test_a_quiet_window_works_for_a_resource_with_megabytes_of_name(store: DynamoDBStore, clock: Clock) -> None:
    """The window stores which finding opened it: that must fit in an item whatever the resource."""
    huge = Resource("AWS::EC2::SecurityGroup", "g" * 500_000, "arn:" + "g" * 500_000)
    first = sg_finding(event_id="ev-1")._replace(resource=huge)
    gate = store.quiet_gate(first, 3600)
    assert gate.alert
    store.alerted(first, gate)
    clock.advance(60)
    assert not store.quiet_gate(sg_finding(event_id="ev-2")._replace(resource=huge), 3600).alert
    assert store.quiet_gate(first, 3600).alert, "the opener's retry is not folded into its own window"


def test_quiet_period_lookup_exact_id_wins_then_first_glob() -> None:
    periods = (("sg.*", 60), ("sg.ingress-open-to-world", 3600), ("*", 5))
    assert quiet_period_for(periods, "sg.ingress-open-to-world") == 3600
    assert quiet_period_for(periods, "sg.egress-open-to-world") == 60
    assert quiet_period_for(periods, "iam.user-created") == 5
    assert quiet_period_for((), "iam.user-created") == 0


# -- history ------------------------------------------------------------------------------------


def test_history_is_queryable_by_time_and_by_rule(store: DynamoDBStore, clock: Clock, aws: AwsClients) -> None:
    sg_day1 = sg_finding(event_id="ev-a", event_time="2026-11-03T10:00:00Z")
    sg_day2 = sg_finding(event_id="ev-b", event_time="2026-11-04T09:30:00Z")
    other_rule = sg_day2._replace(rule_id="sg.egress-open-to-world", event_id="ev-c")
    late = sg_finding(event_id="ev-d", event_time="2026-11-06T00:00:00Z")
    for finding in (sg_day1, sg_day2, other_rule, late):
        store.record(finding, Outcome.DELIVERED, {"email": "delivered"})
    in_range = store.query_history("2026-11-03T10:00:00Z", "2026-11-04T09:30:00Z")
    assert [r.event_id for r in in_range] == ["ev-a", "ev-b", "ev-c"], "bounds are inclusive, oldest first"
    by_rule = store.query_history("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z", rule_id="sg.ingress-open-to-world")
    assert [r.event_id for r in by_rule] == ["ev-a", "ev-b", "ev-d"]
    assert store.query_history("2026-11-04T09:30:01Z", "2026-11-05T23:59:59Z") == []
    assert len(store.query_history("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z", limit=2)) == 2
    record = by_rule[0]
    assert record.severity == "CRITICAL"
    assert record.resource_arn == sg_day1.resource.arn and record.resource_id == "sg-0c0ffee0ddba11000"
    assert record.actor_arn == "arn:aws:iam::111122223333:user/mallory" and record.actor == "mallory"
    assert (record.account_id, record.region, record.event_name) == ("111122223333", "eu-west-1", sg_day1.event_name)
    assert record.stored_at == iso(START) and record.outcome == "delivered"
    assert record.channels == {"email": "delivered"}
    item = aws.client("dynamodb").query(
        TableName=TABLE,
        IndexName=RULE_INDEX,
        KeyConditionExpression="rule_id = :r",
        ExpressionAttributeValues={":r": {"S": "sg.egress-open-to-world"}},
    )["Items"][0]
    assert int(item[TTL_ATTRIBUTE]["N"]) == int(START) + 90 * DAY


def test_a_failed_then_delivered_finding_keeps_its_failure_in_the_history(store: DynamoDBStore, clock: Clock) -> None:
    finding = sg_finding(event_time="2026-11-03T10:41:07Z")
    store.record(
        finding,
        Outcome.FAILED,
        {"email": "failed: SMTP 127.0.0.1:2525 could not be reached"},
        failure="email: unreachable",
    )
    [failed] = store.query_history("2026-11-03T00:00:00Z", "2026-11-03T23:59:59Z")
    assert failed.outcome == "failed" and failed.attempts == 1
    assert failed.channels["email"].startswith("failed: SMTP")
    assert failed.failures == (f"{iso(START)} email: unreachable",)
    clock.advance(120)
    store.record(finding, Outcome.DELIVERED, {"email": "delivered"}, folded=2)
    [delivered] = store.query_history("2026-11-03T00:00:00Z", "2026-11-03T23:59:59Z")
    assert delivered.outcome == "delivered" and delivered.attempts == 2 and delivered.folded == 2
    assert delivered.failures == failed.failures
    assert delivered.first_stored_at == iso(START) and delivered.stored_at == iso(START + 120)


def test_a_finding_without_a_usable_event_time_is_filed_under_the_time_it_was_stored(store: DynamoDBStore) -> None:
    store.record(sg_finding(event_time="yesterday"), Outcome.UNROUTED)
    [record] = store.query_history(iso(START - 1), iso(START + 1))
    assert record.event_time == iso(START) and record.outcome == "unrouted"


def test_history_queries_refuse_bad_times_and_huge_ranges(store: DynamoDBStore) -> None:
    with pytest.raises(ValueError, match="ISO UTC time"):
        store.query_history("last tuesday")
    with pytest.raises(ValueError, match="at most 400 days"):
        store.query_history("2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    assert store.query_history("2026-11-05T00:00:00Z", "2026-11-01T00:00:00Z") == []


# -- the table the stack creates ----------------------------------------------------------------


def test_the_stack_creates_the_table_this_code_expects() -> None:
    template_path = ROOT / "infra" / "template.yaml"
    # cfn-lint's decoder reads the short-form tags (!Ref, !If...); imported by name since it ships no types.
    decode = importlib.import_module("cfnlint.decode")
    template, errors = decode.decode_str(template_path.read_text(encoding="utf-8"))
    assert not errors and template is not None
    tables = [r for r in template["Resources"].values() if r.get("Type") == "AWS::DynamoDB::Table"]
    assert len(tables) == 1, "one state table"
    properties = tables[0]["Properties"]

    def names(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted(
            (str(item["AttributeName"]), str(item.get("KeyType") or item.get("AttributeType"))) for item in items
        )

    assert names(properties["KeySchema"]) == names(TABLE_SCHEMA["KeySchema"])
    assert names(properties["AttributeDefinitions"]) == names(TABLE_SCHEMA["AttributeDefinitions"])
    [index] = properties["GlobalSecondaryIndexes"]
    [expected] = TABLE_SCHEMA["GlobalSecondaryIndexes"]
    assert index["IndexName"] == expected["IndexName"]
    assert names(index["KeySchema"]) == names(expected["KeySchema"])
    assert index["Projection"]["ProjectionType"] == "ALL"
    ttl = properties["TimeToLiveSpecification"]
    assert ttl["AttributeName"] == TTL_ATTRIBUTE and ttl["Enabled"] in (True, "true")


# -- settings -----------------------------------------------------------------------------------


def test_state_settings_from_the_environment() -> None:
    settings = Settings.load(
        env={
            "TRAILGUARD_TABLE_NAME": TABLE,
            "TRAILGUARD_DEDUPE_TTL_DAYS": "3",
            "TRAILGUARD_HISTORY_TTL_DAYS": "365",
            "TRAILGUARD_QUIET_PERIODS": json.dumps({"ec2.instance-launched": 3600, "sg.*": 600}),
        }
    )
    assert settings.table_name == TABLE
    assert (settings.dedupe_ttl_days, settings.history_ttl_days) == (3, 365)
    assert settings.quiet_periods == (("ec2.instance-launched", 3600), ("sg.*", 600))
    defaults = Settings.load(env={})
    assert (defaults.table_name, defaults.dedupe_ttl_days, defaults.history_ttl_days) == ("", 14, 90)
    assert defaults.quiet_periods == ()


def test_quiet_periods_from_a_toml_table(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text('table_name = "tg-state"\n[quiet_periods]\n"iam.*" = 60\n', encoding="utf-8")
    settings = Settings.load(config, env={})
    assert settings.quiet_periods == (("iam.*", 60),) and settings.table_name == "tg-state"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TRAILGUARD_TABLE_NAME", "no spaces allowed", "TRAILGUARD_TABLE_NAME: 'no spaces allowed' is not a DynamoDB"),
        ("TRAILGUARD_DEDUPE_TTL_DAYS", "0", "TRAILGUARD_DEDUPE_TTL_DAYS: expected a whole number of days from 1"),
        ("TRAILGUARD_HISTORY_TTL_DAYS", "ninety", "TRAILGUARD_HISTORY_TTL_DAYS: expected a whole number of days"),
        ("TRAILGUARD_QUIET_PERIODS", "[60]", "TRAILGUARD_QUIET_PERIODS: expected a table of rule-id glob = seconds"),
        ("TRAILGUARD_QUIET_PERIODS", "{nope", "TRAILGUARD_QUIET_PERIODS: not valid JSON"),
        (
            "TRAILGUARD_QUIET_PERIODS",
            '{"no.such-rule": 60}',
            "TRAILGUARD_QUIET_PERIODS: 'no.such-rule' matches no rule",
        ),
        ("TRAILGUARD_QUIET_PERIODS", '{"sg.*": "1h"}', "TRAILGUARD_QUIET_PERIODS: 'sg.*': expected a whole number of"),
        ("TRAILGUARD_QUIET_PERIODS", '{"sg.*": 9999999}', "'sg.*': expected a whole number of seconds from 0 to"),
    ],
)
def test_bad_state_settings_name_the_key(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={name: value})
    assert expected in str(caught.value)
