"""One definition of a CloudTrail event: the Lambda and `trailguard scan` accept and reject the same input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trailguard import main
from trailguard.core.envelope import unwrap
from trailguard.sources import InputProblem, Reader

CASES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "envelopes" / "cases.json").read_text(encoding="utf-8")
)


def scan_accepts(value: Any) -> tuple[bool, list[InputProblem]]:
    problems: list[InputProblem] = []
    reader = Reader(on_problem=problems.append)
    records = list(reader.read_bytes(json.dumps(value).encode(), "case.json"))
    assert len(records) + len(problems) == 1, "one value is one record or one problem"
    return bool(records), problems


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("TRAILGUARD_CONFIG", "TRAILGUARD_CHANNELS", "TRAILGUARD_TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    main.reset()
    yield
    main.reset()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_lambda_and_the_reader_agree_on_every_odd_envelope(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    accepted_by_scan, problems = scan_accepts(case["value"])
    accepted_by_lambda = main.lambda_handler(case["value"], None) != {"outcome": "invalid"}
    assert accepted_by_scan is accepted_by_lambda is case["accept"]
    record, reason = unwrap(case["value"])
    assert (record is not None) is case["accept"]
    if not case["accept"]:
        # Both say why, in the same words.
        assert [problem.reason for problem in problems] == [reason]
        assert reason in capsys.readouterr().out


def test_inside_a_log_file_an_envelope_is_not_a_record() -> None:
    envelope = CASES["eventbridge_api_call"]["value"]
    assert unwrap(envelope, allow_envelope=False).record is None
    problems: list[InputProblem] = []
    records = list(Reader(on_problem=problems.append).read_bytes(json.dumps({"Records": [envelope]}).encode(), "x"))
    assert records == [] and "no eventSource or eventName" in problems[0].reason


def test_reasons_name_what_is_wrong() -> None:
    assert (
        unwrap(CASES["detail_not_an_object"]["value"]).problem
        == "EventBridge event has no detail object (got a string)"
    )
    assert "'EC2 Instance State-change Notification'" in unwrap(CASES["other_detail_type"]["value"]).problem
    assert unwrap(CASES["bare_event_source_an_object"]["value"]).problem == (
        "not a CloudTrail record (eventSource and eventName are an object and a string)"
    )
    assert unwrap(None).problem == "expected a JSON object, got null"
