"""Shared test helpers: the rule test events under tests/events/ and how to load them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.rule_tests import read_event_case

from .lambda_world import world  # noqa: F401  (the fixture, for every test module)

TESTS_DIR = Path(__file__).parent
EVENTS_DIR = TESTS_DIR / "events"
DATA_DIR = TESTS_DIR / "data"


@dataclasses.dataclass(frozen=True)
class RuleTestEvent:
    """One file under tests/events/: a real-shaped CloudTrail record and the exact rules it fires."""

    path: Path
    description: str
    expect: dict[str, str]
    settings: dict[str, Any]
    record: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.path.relative_to(EVENTS_DIR))


def load_rule_test_events() -> list[RuleTestEvent]:
    """Read by the same code as `trailguard test` reads users' test events: one file format."""
    events = []
    for path in sorted(EVENTS_DIR.rglob("*.json")):
        case = read_event_case(path)
        events.append(
            RuleTestEvent(
                path=path,
                description=case.description,
                expect={rule_id: severity.name for rule_id, severity in case.expect.items()},
                settings=case.settings,
                record=case.record,
            )
        )
    return events


@pytest.fixture(scope="session")
def rule_test_events() -> list[RuleTestEvent]:
    return load_rule_test_events()


@pytest.fixture
def no_custom_rules() -> Iterator[None]:
    """Custom rules are process-wide: a test that loads some leaves none behind for the others."""
    from trailguard import custom_rules

    custom_rules.unload()
    yield
    custom_rules.unload()
