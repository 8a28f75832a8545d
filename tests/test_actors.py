"""Who acts: a person by hand, or automation (core/actors.py), on real-shaped identities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.actors import made_by_person
from trailguard.core.event_types import CloudTrailEvent

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "data" / "identities.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_a_person_is_told_from_automation(case: dict[str, Any]) -> None:
    record = {"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionCode20150331v2", **case["record"]}
    assert made_by_person(CloudTrailEvent(record)) is case["person"]


def test_the_cases_cover_both_answers_and_every_person_kind() -> None:
    kinds = {case["record"]["userIdentity"]["type"] for case in CASES if case["person"]}
    assert {"IAMUser", "Root", "FederatedUser", "AssumedRole"} <= kinds
    assert any(not case["person"] for case in CASES)


def test_malformed_identity_is_automation_not_a_crash() -> None:
    for identity in (None, "IAMUser", {"type": 7}, {"type": "AssumedRole", "arn": ["x"]}):
        assert made_by_person(CloudTrailEvent({"userIdentity": identity})) is False
