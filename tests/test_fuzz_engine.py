"""Bad input, property-based (issue 5, point 1): ``Engine.evaluate`` never raises, and no rule does;
``lambda_handler`` returns, or raises only its documented ``DeliveryError``.

A rule that raises is caught by the engine and counted in ``stats.rule_errors``, so every property
asserts that count stays 0: that is how a rule crash shows up. Findings must stay well-formed (the
alert channels render them). ``make fuzz`` runs the same properties with 100x the examples.

Tests named ``test_bug_*`` are regression tests of bugs these properties found (fixed in 9b1db31); each
docstring says what the bug was.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import pickle
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailguard import main
from trailguard.core.engine import Engine
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import DeliveryError
from trailguard.utils import logger

from .conftest import DATA_DIR
from .fuzz_strategies import (
    DEEP_TEXTS,
    DEEP_VALUES,
    EVENT_RECORDS,
    EVENTS_DIR,
    HUGE_STRINGS,
    all_paths,
    bad_values,
    cloudtrail_records,
    eventbridge_envelopes,
    fuzz_settings,
    fuzzing,
    mutated_records,
    records,
    set_at,
    with_value_at_random_path,
)

ENGINE = Engine(fuzz_settings())
# Seconds one record may take, even with 1 MB fields: generous, against quadratic blow-ups.
SLOW = 5.0


def evaluate_cleanly(record: Any, engine: Engine = ENGINE) -> list[Finding]:
    """Evaluate; fail on an exception, on a rule error, on a malformed finding or on a slow record."""
    known = len(engine.failures)
    errors = engine.stats.rule_errors
    started = time.perf_counter()
    findings = engine.evaluate(record)
    elapsed = time.perf_counter() - started
    assert engine.stats.rule_errors == errors, [str(f)[:500] for f in engine.failures[known:]]
    assert elapsed < SLOW, f"one record took {elapsed:.1f} s"
    for finding in findings:
        assert isinstance(finding, Finding)
        assert isinstance(finding.summary, str) and finding.summary
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in finding.details.items()), finding.details
        json.dumps(finding.to_dict())  # what the JSON channels send
        assert isinstance(finding.dedupe_key, str) and isinstance(finding.cloudtrail_url, str)
    return findings


@fuzzing(100)
@given(cloudtrail_records())
def test_engine_survives_generated_records(record: dict[str, Any]) -> None:
    evaluate_cleanly(record)


@fuzzing(150)
@given(mutated_records())
def test_engine_survives_mutated_real_records(record: dict[str, Any]) -> None:
    evaluate_cleanly(record)


@fuzzing(50)
@given(records(deep=False))
def test_engine_leaves_the_record_unchanged(record: dict[str, Any]) -> None:
    before = pickle.dumps(record)
    evaluate_cleanly(record)
    assert pickle.dumps(record) == before


@fuzzing(50)
@given(eventbridge_envelopes(records(), bad_values()))
def test_engine_survives_eventbridge_envelopes_and_their_detail(envelope: dict[str, Any]) -> None:
    """A misrouted envelope is evaluated as a record (and matches nothing); its detail as one."""
    assert evaluate_cleanly(envelope) == []
    detail = envelope.get("detail")
    if isinstance(detail, dict):
        evaluate_cleanly(detail)


@fuzzing(40)
@given(bad_values())
def test_engine_accepts_anything_as_a_record(value: Any) -> None:
    """A Lambda payload may be anything: a non-object is a record without fields."""
    assert evaluate_cleanly(value) == []


@fuzzing(15)
@given(with_value_at_random_path(st.sampled_from(HUGE_STRINGS)))
def test_engine_survives_one_megabyte_strings(record: dict[str, Any]) -> None:
    evaluate_cleanly(record)


@fuzzing(30)
@given(with_value_at_random_path(st.sampled_from(DEEP_VALUES)))
def test_engine_survives_ten_thousand_levels_of_nesting(record: dict[str, Any]) -> None:
    evaluate_cleanly(record)


def sweep(values: tuple[Any, ...]) -> Engine:
    """Each field (to depth 4) of each kind of tests/events record set to each of ``values``:
    exhaustive rather than random, once per (eventSource, eventName, field path)."""
    engine = Engine(fuzz_settings())
    done: set[tuple[Any, ...]] = set()
    for record in EVENT_RECORDS:
        for path in all_paths(record, max_depth=4):
            kind = (record.get("eventSource"), record.get("eventName"), *(k for k in path if isinstance(k, str)))
            if kind in done:
                continue
            done.add(kind)
            for value in values:
                mutated = copy.deepcopy(record)
                set_at(mutated, path, value)
                engine.evaluate(mutated)
    assert engine.stats.records > 4000 * len(values)
    return engine


def test_engine_survives_deep_values_and_texts_in_every_field_of_every_test_event() -> None:
    """10,000-level nests, and 10,000-level JSON text (the rules parse policy documents)."""
    engine = sweep((*DEEP_VALUES[:2], DEEP_TEXTS[0]))
    assert engine.stats.rule_errors == 0, sorted({f"{f.rule_id}: {f.error[:90]}" for f in engine.failures})


def test_engine_survives_huge_strings_in_every_field_of_every_test_event() -> None:
    """1 MB strings that rules might parse: a CIDR, a number, URL-encoded text."""
    started = time.process_time()  # CPU time: a quadratic rule shows, a busy machine does not
    engine = sweep((HUGE_STRINGS[3], HUGE_STRINGS[4], HUGE_STRINGS[7]))
    assert engine.stats.rule_errors == 0, sorted({f"{f.rule_id}: {f.error[:90]}" for f in engine.failures})
    assert time.process_time() - started < 60


# --------------------------------------------------------------------------------------------
# Regression tests of the bugs found (fixed in 9b1db31): each docstring says what the bug was.
# --------------------------------------------------------------------------------------------


def _event(relative: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((EVENTS_DIR / relative).read_text(encoding="utf-8"))["record"]
    return record


@pytest.mark.parametrize("text", DEEP_TEXTS, ids=["list", "object", "statement"])
def test_bug_policy_text_nested_10000_deep_crashes_policy_rules(text: str) -> None:
    """Was a bug: core/policy.py load_policy catches ValueError around json.loads, not RecursionError:
    a policy document nested 10,000 deep crashes s3.bucket-policy-public, kms.key-policy-public,
    iam.role-trust-public and iam.admin-policy-attached."""
    record = _event("s3/put_bucket_policy_public_get_object.json")
    record["requestParameters"]["bucketPolicy"] = text
    engine = Engine(fuzz_settings())
    engine.evaluate(record)
    assert engine.stats.rule_errors == 0, [f.error[:120] for f in engine.failures]


def test_bug_cidr_prefix_of_more_than_4300_digits_crashes_network_rules() -> None:
    """Was a bug: core/base_handler.py cidr_prefix_length calls int() on any all-digit prefix: beyond
    4,300 digits int() raises ValueError (CPython's int max_str_digits), crashing
    sg.ingress-open-to-world, sg.egress-open-to-world, vpc.nacl-open-to-world, vpc.route-to-internet."""
    record = _event("security_group/ingress_ssh_world_simplified.json")
    record["requestParameters"]["cidrIp"] = "0.0.0.0/" + "0" * 5000
    engine = Engine(fuzz_settings())
    engine.evaluate(record)
    assert engine.stats.rule_errors == 0, [f.error[:120] for f in engine.failures]


def test_bug_weak_tls_policy_regex_is_quadratic() -> None:
    """Was a bug (ReDoS): handlers/alb_handler.py _WEAK_POLICY_NAME ``^ELBSecurityPolicy-(?:.*-1-[01]-.*|...)$``
    backtracks quadratically on a name with many "-1-0" and a newline: 32 KB take about 1 s here,
    so a 1 MB sslPolicy would hold the Lambda for about 17 minutes (and be retried)."""
    record = _event("elb/modify_listener_ssl_policy_weak.json")
    record["requestParameters"]["sslPolicy"] = "ELBSecurityPolicy-" + "-1-0" * 8000 + "\nx"
    started = time.perf_counter()
    Engine(fuzz_settings()).evaluate(record)
    assert time.perf_counter() - started < 0.25


@pytest.mark.parametrize(
    "excluded", [DEEP_VALUES[0], ["kms.amazonaws.com", {"x": DEEP_VALUES[0]}]], ids=["deep", "mixed"]
)
def test_bug_excluded_event_sources_are_rendered_with_str(excluded: list[Any]) -> None:
    """Was a bug: handlers/cloudtrail_handler.py _selector_reduces_management_events joins ``str(s)`` of
    every excludeManagementEventSources item: a nested list crashes cloudtrail.selectors-reduced
    (RecursionError in repr) and a large one puts its whole repr into the alert's summary."""
    record = _event("cloudtrail/put_event_selectors_all.json")
    record["requestParameters"]["eventSelectors"] = [{"excludeManagementEventSources": excluded}]
    engine = Engine(fuzz_settings())
    findings = engine.evaluate(record)
    assert engine.stats.rule_errors == 0, [f.error[:120] for f in engine.failures]
    assert all(len(f.summary) < 1000 for f in findings)


def test_findings_of_the_test_events_survive_the_checks() -> None:
    """The checks of evaluate_cleanly hold for the real records (so a failure above is the input's)."""
    engine = Engine(fuzz_settings())
    assert sum(len(evaluate_cleanly(record, engine)) for record in EVENT_RECORDS) > 100


# --------------------------------------------------------------------------------------------
# The Lambda entry point: returns, or raises only its documented DeliveryError.
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def lambda_without_configuration() -> Iterator[io.StringIO]:
    """A fresh container, no TRAILGUARD_* variable (no channels, no table); the logs captured."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("TRAILGUARD_")}
    for name in saved:
        del os.environ[name]
    logs = io.StringIO()
    previous, logger.stream = logger.stream, logs
    main.reset()
    try:
        yield logs
    finally:
        main.reset()
        logger.stream = previous
        os.environ.update(saved)


def _bodies() -> st.SearchStrategy[Any]:
    text = st.one_of(
        records(json_safe=True, deep=False).map(json.dumps),
        eventbridge_envelopes(records(json_safe=True, deep=False), bad_values(json_safe=True, deep=False)).map(
            json.dumps
        ),
        st.text(max_size=50),
        st.sampled_from(["", "null", "[]", '"\\ud800"', "{"]),
        st.sampled_from(["[", '{"a":']).map(lambda opening: opening * 100_000),  # nesting bombs
    )
    return st.one_of(text, bad_values(deep=False))


@fuzzing(30)
@given(st.lists(_bodies(), min_size=1, max_size=5))
def test_lambda_sqs_batch_returns_the_failed_messages_and_names_them(bodies: list[Any]) -> None:
    messages = [{"eventSource": "aws:sqs", "messageId": f"m{i}", "body": body} for i, body in enumerate(bodies)]
    with lambda_without_configuration() as logs:
        result = main.lambda_handler({"Records": messages}, None)
    assert set(result) == {"batchItemFailures"}
    failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
    assert set(failed) <= {m["messageId"] for m in messages}
    # "\n" only, as CloudWatch Logs does (str.splitlines also splits on U+2028 and U+0085)
    logged = [json.loads(line) for line in logs.getvalue().split("\n") if line]
    for message_id in failed:  # each failed message is named in an error or warning line
        assert any(
            str(line.get("level")).upper() in {"ERROR", "WARNING"}
            and (line.get("message_id") == message_id or message_id in (line.get("message_ids") or ()))
            for line in logged
        ), message_id


@fuzzing(40)
# deep: a 10,000-level nest in a field the Lambda logs (recipientAccountId) once crashed it.
@given(st.one_of(records(), eventbridge_envelopes(records(), bad_values()), bad_values()))
def test_lambda_direct_event_returns_or_raises_delivery_error(event: Any) -> None:
    with lambda_without_configuration():
        try:
            result = main.lambda_handler(event, None)
        except DeliveryError:
            return
    assert isinstance(result, dict)


def test_lambda_survives_deep_and_huge_values_in_every_top_level_field(tmp_path: Any) -> None:
    """Every top-level field (and every field of userIdentity and requestParameters) of an alerting
    event set to a 10,000-level nest or a 1 MB string, through ``lambda_handler`` with a folder
    channel: the Lambda logs top-level fields and renders the rest into the alert."""
    envelope = json.loads((DATA_DIR / "lambda" / "eventbridge_sg_world_open.json").read_text(encoding="utf-8"))
    detail = envelope["detail"]
    paths = [(key,) for key in detail] + [
        (parent, key) for parent in ("userIdentity", "requestParameters") for key in detail[parent]
    ]
    outcomes: dict[str, int] = {}
    with lambda_without_configuration() as logs:
        os.environ["TRAILGUARD_CHANNELS"] = json.dumps([{"type": "folder", "name": "f", "path": str(tmp_path)}])
        try:
            for path in paths:
                for value in (*DEEP_VALUES[:2], HUGE_STRINGS[0]):
                    mutated = copy.deepcopy(envelope)
                    set_at(mutated["detail"], path, value)
                    main.reset()
                    try:
                        outcome = main.lambda_handler(mutated, None)["outcome"]
                    except DeliveryError as exc:
                        raise AssertionError(f"{path}: {exc}") from None
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            del os.environ["TRAILGUARD_CHANNELS"]
    assert sum(outcomes.values()) == 3 * len(paths) and outcomes.get("delivered", 0) > len(paths), outcomes
    assert all(len(line) < 65_536 for line in logs.getvalue().split("\n"))


def test_bug_lambda_sqs_body_nested_too_deeply_fails_the_whole_batch() -> None:
    """Was a bug: main.py _handle_sqs catches (TypeError, ValueError) around json.loads(body), not
    RecursionError: one message whose body nests 100,000 '[' makes lambda_handler raise, so SQS
    redelivers the whole batch (every other message is processed, and alerted on, again)."""
    messages = [
        {"eventSource": "aws:sqs", "messageId": "bomb", "body": "[" * 100_000},
        {"eventSource": "aws:sqs", "messageId": "fine", "body": "{}"},
    ]
    with lambda_without_configuration():
        result = main.lambda_handler({"Records": messages}, None)
    assert sorted(item["itemIdentifier"] for item in result["batchItemFailures"]) == ["bomb", "fine"]
