"""Every remediation action through the Lambda, against moto in-process and moto's server on
127.0.0.1: the resource of tests/remediation_scenarios.py, its CloudTrail event through
``lambda_handler`` (EventBridge's envelope, ``[remediation]`` set in the environment), the alert in
the folder channel and the finding in the table's history.

One resource goes through every step: dry-run (nothing changed, the alert says what would be
called), the action's writes refused with AccessDenied (still alerted, saying so), apply (fixed, the
alert and the history say so), the same event redelivered (deduplicated: nothing more done). A
resource tagged exempt is alerted and left as it is.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from trailguard import main
from trailguard.services.remediation.base import ACTIONS, EXEMPT_TAG, iam_action
from trailguard.utils.aws_helpers import AwsClients

from .lambda_world import LambdaContext, World, alert_texts, eventbridge
from .remediation_scenarios import SCENARIOS, TAGGABLE, Scenario
from .remediation_world import Record, Remediation, fake_aws, remediation

__all__ = ["fake_aws", "remediation"]  # the fixtures, used by name


class Denial:
    """Refuses the action's writes with botocore's own AccessDenied, at every client the Lambda makes
    while it is on (moto does not enforce IAM without users of its own)."""

    def __init__(self, rule_id: str) -> None:
        self.writes = {p for p in ACTIONS[rule_id].permissions if not p.split(":", 1)[1].startswith(READS)}
        self.on = False
        self.refused: list[str] = []

    def hook(self, model: Any, **_kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        permission = iam_action(model.service_model.service_name, model.name)
        if self.on and permission in self.writes:
            self.refused.append(permission)
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, model.name)


READS = ("Get", "Describe", "List")


@pytest.fixture
def lambda_world(world: World, remediation: Remediation) -> Iterator[World]:
    world.monkeypatch.setenv(
        "TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "path": str(world.tmp_path / "out")}])
    )
    yield world


def _deny(world: World, remediation: Remediation, rule_id: str) -> Denial:
    denial = Denial(rule_id)
    made = AwsClients.client

    def client(self: AwsClients, service: str, region: str | None = None) -> Any:
        fresh = (service, region or self.region) not in self._clients
        made_client = made(self, service, region)
        if fresh and self is not remediation.aws:
            made_client.meta.events.register("before-call.*.*", denial.hook)
        return made_client

    world.monkeypatch.setattr(AwsClients, "client", client)
    return denial


def _send(world: World, rule_id: str, mode: str, record: Record, suffix: str) -> tuple[str, str, Record]:
    """The event (as CloudTrail event ``suffix``) through a new container with ``rule_id`` set to
    ``mode``: the handler's outcome, and the one new alert's text."""
    sent = copy.deepcopy(record)
    sent["eventID"] = f"{record['eventID'][: -len(suffix)]}{suffix}"
    world.monkeypatch.setenv("TRAILGUARD_REMEDIATION", json.dumps({rule_id: mode}))
    folder = world.tmp_path / "out"
    before = alert_texts(folder) if folder.exists() else []
    main.reset()
    outcome = str(main.lambda_handler(eventbridge(sent), LambdaContext())["outcome"])
    new = list(alert_texts(folder))
    for text in before:
        new.remove(text)
    return outcome, "\n".join(new), sent


def _history(world: World, rule_id: str, event_id: str) -> str:
    records = world.history.query_history("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", rule_id=rule_id)
    (stored,) = [r for r in records if r.event_id == event_id]
    return stored.remediation


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_action_through_the_lambda(lambda_world: World, remediation: Remediation, name: str) -> None:
    found: Scenario = SCENARIOS[name].build(remediation, None)
    rule_id, record = found.rule_id, found.record
    denial = _deny(lambda_world, remediation, rule_id)

    outcome, text, _ = _send(lambda_world, rule_id, "dry-run", record, "d1")
    assert outcome == "delivered" and "Dry run, nothing changed: would call " in text, text
    found.broken()

    denial.on = True
    outcome, text, _ = _send(lambda_world, rule_id, "apply", record, "a1")
    denial.on = False
    assert denial.refused, "no write was attempted"
    assert outcome == "delivered" and "Remediation failed: AccessDenied on " in text, text
    found.broken()

    outcome, text, sent = _send(lambda_world, rule_id, "apply", record, "f1")
    assert outcome == "delivered" and "Remediated: " in text, text
    found.fixed()
    assert _history(lambda_world, rule_id, sent["eventID"]).startswith("Remediated: ")

    # The same CloudTrail event again (a redelivery): deduplicated, no alert, nothing called.
    outcome, text, _ = _send(lambda_world, rule_id, "apply", record, "f1")
    assert (outcome, text) == ("deduplicated", "")
    found.fixed()


@pytest.mark.parametrize("name", TAGGABLE)
def test_every_action_in_the_lambda_leaves_an_exempt_resource(
    lambda_world: World, remediation: Remediation, name: str
) -> None:
    found = SCENARIOS[name].build(remediation, {EXEMPT_TAG: "false"})
    outcome, text, sent = _send(lambda_world, found.rule_id, "apply", found.record, "e1")
    assert outcome == "delivered" and "Not remediated: " in text and f"{EXEMPT_TAG}=false" in text, text
    found.broken()
    assert _history(lambda_world, found.rule_id, sent["eventID"]).startswith("Not remediated: ")
