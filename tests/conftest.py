"""Shared test helpers: the rule test events under tests/events/ and how to load them."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from trailguard.rule_tests import read_event_case
from trailguard.utils.aws_helpers import AwsClients

from . import fake_aws as fake_aws_environment
from .clock import Clock
from .lambda_world import world  # noqa: F401  (the fixture, for every test module)
from .moto_server import MotoServer
from .servers import Servers

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
    # Earlier records the stateful rules see first (a baseline), with the same fresh state.
    history: tuple[dict[str, Any], ...] = ()

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
                history=case.history,
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


# -- the fakes every test shares: time, AWS, servers (tests/clock.py, fake_aws.py, servers.py) --------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to a local test server must not go through a proxy (urllib honours the variables)."""
    for name in fake_aws_environment.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_aws_region() -> str:
    """The region of ``fake_aws_env`` and ``fake_aws``; a test module overrides it to change it."""
    return fake_aws_environment.REGION


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, fake_aws_region: str) -> None:
    """Dummy credentials and the region in the environment, no proxy, no config file (without moto:
    for clients pointed at a local test server)."""
    for name, value in fake_aws_environment.variables(fake_aws_region).items():
        monkeypatch.setenv(name, value)
    for name in fake_aws_environment.REMOVED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_aws(fake_aws_env: None, fake_aws_region: str) -> Iterator[AwsClients]:
    """AWS in moto for the test, and clients for the region."""
    with mock_aws():
        yield AwsClients(region=fake_aws_region)


@pytest.fixture(scope="session")
def shared_moto_server() -> Iterator[MotoServer]:
    """One moto server on 127.0.0.1 for the session (starting one costs a second); reset per test."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    with contextlib.ExitStack() as stack:
        yield Servers(stack)
