"""Routine by memory (core/routine.py): a principal's repeated change to a resource is history only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.routine import unless_routine
from trailguard.core.settings import Settings
from trailguard.core.state import MemoryState

from .lambda_world import World
from .test_patterns import as_eventbridge

EVENTS = Path(__file__).parent / "events"
# Every rule declared routine=True, and the catalogue's *_routine.json events that name one.
ROUTINE_RULES = sorted(rule.id for rule in REGISTRY.all() if rule.routine)


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


ROUTINE_CASES = [
    path
    for path in sorted(EVENTS.glob("*/*_routine.json"))
    if any(rule_id in load(path)["description"] for rule_id in ROUTINE_RULES)
]


def routine_rule_of(case: dict[str, Any]) -> str:
    return next(rule_id for rule_id in ROUTINE_RULES if rule_id in case["description"])


def test_every_routine_rule_has_a_routine_event() -> None:
    assert ROUTINE_RULES, "some rules are routine by memory"
    assert sorted({routine_rule_of(load(path)) for path in ROUTINE_CASES}) == ROUTINE_RULES
    assert all(REGISTRY.get(rule_id).stateful for rule_id in ROUTINE_RULES), "memory is kept in one place"


@pytest.mark.parametrize("path", ROUTINE_CASES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_repeat_past_learning_is_kept_as_routine_and_a_first_change_is_not(path: Path) -> None:
    case = load(path)
    rule_id = routine_rule_of(case)
    engine = Engine(Settings.load(env={}))
    before = [f for record in case["history"] for f in engine.evaluate(record) if f.rule_id == rule_id]
    assert before and not before[0].routine, "a principal's first change: no baseline, the event decides"
    [repeat] = [f for f in engine.evaluate(case["record"]) if f.rule_id == rule_id]
    assert repeat.routine, f"{rule_id}: the third identical change is the principal's routine"
    # The same change to a resource the principal never touched is news, learning or not.
    fresh = Engine(Settings.load(env={}))
    for record in case["history"]:
        fresh.evaluate(record)
    name = re.split(r"[/,]\s*", repeat.resource.id)[-1]  # a composite id's last part is in the record
    assert name, "the routine is about a named resource"
    elsewhere = json.loads(json.dumps(case["record"]).replace(name, name[:-1] + "x"))
    [first] = [f for f in fresh.evaluate(elsewhere) if f.rule_id == rule_id]
    assert first.resource != repeat.resource and not first.routine


def test_a_critical_hit_is_never_routine_and_no_state_means_no_verdict() -> None:
    event = CloudTrailEvent(load(ROUTINE_CASES[0])["record"])
    context = Settings().rule_context()._replace(state=MemoryState())
    critical = Hit("root's access key created", Resource("AWS::IAM::User", "root"), severity=Severity.CRITICAL)
    for _ in range(3):
        assert unless_routine(critical, event, context, "test.critical") is critical
    stateless = Settings().rule_context()
    plain = Hit("a change", Resource("AWS::IAM::Role", "deploy"))
    assert unless_routine(plain, event, stateless, "test.plain") is plain


def test_the_lambda_keeps_a_routine_change_in_its_history_and_sends_nothing(world: World) -> None:
    smtp = world.start_smtp("smtp")
    path = EVENTS / "iam" / "create_access_key_by_role_routine.json"
    case = load(path)
    for record in [*case["history"], case["record"]]:
        world.new_container()  # each event in a fresh container: only the table remembers
        world.poller.send(json.dumps(as_eventbridge(record)))
        handed, failed = world.poller.poll()
        assert len(handed) == 1 and failed == []
    day = case["record"]["eventTime"][:10]
    [stored] = world.history.query_history(f"{day}T00:00:00Z", f"{day}T23:59:59Z")
    assert (stored.rule_id, stored.outcome) == ("iam.access-key-created", "routine")
    # The first change alerted (no baseline yet); the second, 20 days later, was routine already.
    assert len(smtp.messages) == 1
