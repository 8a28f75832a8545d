"""EventBridge patterns from the registry, checked with moto's implementation of pattern matching."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from trailguard.core.base_handler import REGISTRY, base_event_name
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings
from trailguard.patterns import (
    API_CALL_DETAIL_TYPE,
    READ_ONLY_PATTERN,
    SIGN_IN_DETAIL_TYPES,
    STATE_ALL_MANAGEMENT_EVENTS,
    event_patterns,
)

from .conftest import load_rule_test_events

EVENTS = load_rule_test_events()


def as_eventbridge(record: dict[str, Any]) -> Any:
    source = str(record.get("eventSource", ""))
    detail_type = SIGN_IN_DETAIL_TYPES[0] if record.get("eventType") == "AwsConsoleSignIn" else API_CALL_DETAIL_TYPE
    return {
        "version": "0",
        "id": "c0f2b0ae-1234-4d5e-8f00-0a1b2c3d4e5f",
        "detail-type": detail_type,
        "source": "aws." + source.split(".", maxsplit=1)[0],
        "account": "111122223333",
        "time": "2026-11-02T14:05:11Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": record,
    }


def matchers(max_size: int = 2048) -> list[EventPattern]:
    return [EventPattern.load(p.text) for p in event_patterns(max_size=max_size)]


def test_patterns_fit_the_size_limit_and_are_valid_json() -> None:
    for pattern in event_patterns():
        assert len(pattern.text) <= 2048
        assert json.loads(pattern.text) == pattern.pattern


@pytest.mark.parametrize("case", [e for e in EVENTS if e.expect], ids=lambda e: e.name)
def test_every_positive_test_event_matches_a_pattern(case: Any) -> None:
    event = as_eventbridge(case.record)
    assert any(m.matches_event(event) for m in matchers()), f"{case.name} would never reach the Lambda"


def test_patterns_match_exactly_what_the_engine_wants() -> None:
    engine = Engine(Settings())
    compiled = matchers()
    for case in EVENTS:
        record = case.record
        identity = record.get("userIdentity") or {}
        identity_type = identity.get("type")
        if record.get("eventType") == "AwsConsoleSignIn":
            identity_type = None  # the root-activity pattern and rule leave sign-in events to the signin rules
        wanted = engine.wants(record.get("eventSource"), record.get("eventName"), identity_type)
        matched = any(m.matches_event(as_eventbridge(record)) for m in compiled)
        assert matched == wanted, f"{case.name}: pattern says {matched}, engine says {wanted}"


def test_unsubscribed_event_does_not_match() -> None:
    record = dict(EVENTS[0].record, eventSource="ec2.amazonaws.com", eventName="DescribeInstances")
    assert not any(m.matches_event(as_eventbridge(record)) for m in matchers())


def test_small_limit_splits_into_several_patterns_that_still_cover_everything() -> None:
    limit = max(300, max(len(p.text) for p in event_patterns()) // 2)
    small = event_patterns(max_size=limit)
    assert len(small) > len(event_patterns())
    assert all(len(p.text) <= limit for p in small)
    assert len({p.name for p in small}) == len(small)
    compiled = [EventPattern.load(p.text) for p in small]
    for case in EVENTS:
        if case.expect:
            assert any(m.matches_event(as_eventbridge(case.record)) for m in compiled), case.name


def test_versioned_names_use_prefix_matching() -> None:
    texts = " ".join(p.text for p in event_patterns())
    for case in EVENTS:
        name = str(case.record.get("eventName", ""))
        if base_event_name(name) != name and case.expect:
            assert f'{{"prefix":"{base_event_name(name)}"}}' in texts


def test_root_activity_pattern_needs_read_only_events() -> None:
    root = [p for p in event_patterns() if p.name == "root-activity"]
    assert root[0].state == STATE_ALL_MANAGEMENT_EVENTS
    assert root[0].pattern["detail"] == {"userIdentity": {"type": ["Root"]}}
    assert root[0].pattern["detail-type"] == [API_CALL_DETAIL_TYPE]


def test_read_only_calls_have_their_own_patterns_that_see_them() -> None:
    """EventBridge delivers a read-only call only to a rule in the all-management-events state: every
    read-only test event some pattern matches is matched by such a pattern, every other one by an
    ENABLED pattern, and no call is in two patterns (it would invoke the function twice)."""
    patterns = [p for p in event_patterns() if p.name != "root-activity"]
    read_only = [p for p in patterns if p.name.startswith(READ_ONLY_PATTERN)]
    assert [p.state for p in read_only] == [STATE_ALL_MANAGEMENT_EVENTS]
    assert all(p.state == "ENABLED" for p in patterns if p not in read_only)
    compiled = [(p, EventPattern.load(p.text)) for p in patterns]
    seen_read_only = 0
    for case in EVENTS:
        matched = [p for p, m in compiled if m.matches_event(as_eventbridge(case.record))]
        assert len(matched) <= 1, case.name
        if matched and case.record.get("readOnly") is True:
            seen_read_only += 1
            assert matched[0].state == STATE_ALL_MANAGEMENT_EVENTS, case.name
    assert seen_read_only >= 10
    names = read_only[0].pattern["detail"]["eventName"]
    assert "GetSecretValue" in names and "InvokeModel" in names
    # Bedrock's model-access calls are written, and bedrock.model-access-enabled names them: they
    # stay with the write calls though burst.bedrock-invocations (reads=True) watches them too.
    assert "PutUseCaseForModelAccess" not in names


def test_a_read_only_rule_alone_puts_all_its_calls_in_the_read_only_family() -> None:
    alone = event_patterns([REGISTRY.get("burst.bedrock-invocations")])
    assert [(p.name, p.state) for p in alone] == [(READ_ONLY_PATTERN, STATE_ALL_MANAGEMENT_EVENTS)]
    # That state delivers write calls too: the model-access calls still arrive.
    assert "PutUseCaseForModelAccess" in alone[0].pattern["detail"]["eventName"]
