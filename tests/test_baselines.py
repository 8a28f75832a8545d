"""The baseline rules over days: sixteen days of ordinary work, then an attack (the scenario of
tests/data/baselines/make_scenarios.py), through `trailguard scan` with and without --state, with
--jobs 2, and through the Lambda with its DynamoDB table in moto; and Stratus Red Team's stolen
instance credentials, after a baseline of the instance's own calls."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from trailguard.cli import main
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

from .conftest import DATA_DIR
from .lambda_world import World
from .test_patterns import as_eventbridge

BASELINES = DATA_DIR / "baselines"
LEARNING = BASELINES / "learning.jsonl"
ATTACK = BASELINES / "attack.jsonl"
EXPECTED = [tuple(entry) for entry in json.loads((BASELINES / "expected.json").read_text())]
STRATUS = DATA_DIR / "corpus" / "stratus-red-team.jsonl"
# The rules the scenario is about: the others (ec2.instance-launched...) fire on their events alone.
WATCHED = ("baseline.", "lambda.function-changed")


def scan(*args: str) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", *args, "--format", "jsonl"], stdout=out, stderr=err)
    assert code in (0, 1), err.getvalue()
    assert "rule errors" not in err.getvalue() and "input problems" not in err.getvalue(), err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def about_baselines(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted(
        (f["event_time"], f["rule_id"], f["severity"])
        for f in findings
        if f["rule_id"].startswith(WATCHED) and f["severity"] != "INFO"
    )


def test_the_generated_scenario_is_up_to_date(tmp_path: Path) -> None:
    import runpy

    before = {path.name: path.read_text() for path in BASELINES.glob("*.json*")}
    runpy.run_path(str(BASELINES / "make_scenarios.py"), run_name="__main__")
    assert {path.name: path.read_text() for path in BASELINES.glob("*.json*")} == before


def test_one_scan_over_both_days_finds_the_attack_and_nothing_else() -> None:
    findings = scan(str(LEARNING), str(ATTACK))
    assert about_baselines(findings) == EXPECTED
    # The routine stays quiet once learnt: the deploy role's daily update of orders-api is INFO while
    # the role learns (16 of them up to 2026-11-14) and silent after.
    routine = [f for f in findings if f["rule_id"] == "lambda.function-changed" and f["resource"] == "orders-api"]
    assert {f["severity"] for f in routine} == {"INFO"}
    assert max(f["event_time"] for f in routine) < "2026-11-15"
    stolen = next(f for f in findings if f["rule_id"] == "baseline.instance-credentials-outside")
    assert stolen["source_ip"] == "203.0.113.66" and stolen["resource"] == "i-0a1b2c3d4e5f60718"


def test_routine_changes_are_counted_and_kept_out_of_the_output() -> None:
    out, err = io.StringIO(), io.StringIO()
    main(["scan", str(LEARNING), str(ATTACK), "--format", "jsonl"], stdout=out, stderr=err)
    reported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not any(f["routine"] for f in reported)
    # The deploy role's daily updates after it learnt: in the summary, not among the findings.
    routine = re.search(r"; (\d+) routine changes not reported", err.getvalue())
    assert routine is not None and int(routine.group(1)) >= 1, err.getvalue()


def test_the_learning_days_alone_find_nothing_new() -> None:
    assert about_baselines(scan(str(LEARNING))) == []
    assert about_baselines(scan(str(ATTACK))) == [], "a cold scan has no baseline: nothing is new"


def test_yesterdays_state_carries_the_baseline_into_todays_scan(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    assert about_baselines(scan(str(LEARNING), "--state", str(state))) == []
    assert about_baselines(scan(str(ATTACK), "--state", str(state))) == EXPECTED
    # The same day scanned again: everything is known by now, so nothing is new.
    assert about_baselines(scan(str(ATTACK), "--state", str(state))) == []


def test_two_jobs_find_exactly_what_one_finds(tmp_path: Path) -> None:
    one = scan(str(LEARNING), str(ATTACK), "--jobs", "1")
    two = scan(str(LEARNING), str(ATTACK), "--jobs", "2")
    assert one == two
    assert about_baselines(two) == EXPECTED


def test_a_longer_learning_period_keeps_the_attack_day_quiet(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text("learning_days = 30\n", encoding="utf-8")
    assert about_baselines(scan(str(LEARNING), str(ATTACK), "--config", str(config))) == []


def test_the_lambda_keeps_the_baselines_in_its_table_across_invocations(world: World) -> None:
    world.start_smtp("smtp")
    records = [json.loads(line) for line in LEARNING.read_text().splitlines()]
    records += [json.loads(line) for line in ATTACK.read_text().splitlines()]
    for start in range(0, len(records), 10):
        if start % 40 == 0:
            world.new_container()  # a cold start now and then: the state is the table's, not the container's
        world.poller.send(*(json.dumps(as_eventbridge(record)) for record in records[start : start + 10]))
        handed, failed = world.poller.poll()
        assert len(handed) == len(records[start : start + 10]) and failed == []
    assert world.poller.waiting() == 0
    stored = world.history.query_history("2026-11-18T00:00:00Z", "2026-11-18T23:59:59Z")
    found = sorted(
        (r.event_time, r.rule_id, r.severity) for r in stored if r.rule_id.startswith(WATCHED) and r.severity != "INFO"
    )
    assert found == EXPECTED


def stratus_records(technique: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in STRATUS.read_text().splitlines()]
    return sorted((e["record"] for e in entries if e["technique"] == technique), key=lambda r: r["eventTime"])


def test_stratus_stolen_instance_credentials_fire_after_a_baseline_of_the_instances_own_calls() -> None:
    attack = stratus_records("aws.credential-access.ec2-steal-instance-credentials")
    stolen = [r for r in attack if r["userIdentity"]["type"] == "AssumedRole"]
    # The recorded detonation: the instance's session (named after the instance) used from the
    # machine that ran Stratus, which had read the credentials through SSM.
    assert {r["userIdentity"]["arn"].rsplit("/", 1)[1] for r in stolen} == {"i-786a3A8B5C0d92eF4"}
    assert {r["sourceIPAddress"] for r in stolen} == {"18.236.253.47"}
    # A baseline: the same instance session calling STS from the instance's own address, daily for
    # three weeks before the detonation.
    template = next(r for r in stolen if r["eventName"] == "GetCallerIdentity")
    baseline = []
    for day in range(1, 22):
        ordinary = json.loads(json.dumps(template))
        ordinary.update(
            eventTime=f"2024-07-{day:02d}T06:00:00Z", eventID=f"baseline-{day}", sourceIPAddress="35.166.20.41"
        )
        baseline.append(ordinary)
    engine = Engine(Settings())
    assert not [f for r in baseline for f in engine.evaluate(r) if f.rule_id.startswith("baseline.")]
    fired = [(f.rule_id, f.severity.name, f.event_name) for r in attack for f in engine.evaluate(r)]
    assert ("baseline.instance-credentials-outside", "HIGH", "GetCallerIdentity") in fired
    assert [f for f in fired if f[0] == "baseline.instance-credentials-outside"] == [
        ("baseline.instance-credentials-outside", "HIGH", "GetCallerIdentity")
    ], "once per new address, not once per call"
    # Without a baseline (the recorded techniques alone, tests/test_real_data.py) it stays silent.
    cold = Engine(Settings())
    assert not [f for r in attack for f in cold.evaluate(r) if f.rule_id.startswith("baseline.")]


def test_trailguard_test_runs_a_case_after_its_history_and_forgets_it_for_the_next(tmp_path: Path) -> None:
    events = DATA_DIR.parent / "events" / "baseline"
    for name in ("new_region_after_learning.json", "new_region_cold.json"):
        (tmp_path / name).write_text((events / name).read_text(), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["test", str(tmp_path)], stdout=out, stderr=err) == 0, out.getvalue()
    assert out.getvalue().splitlines()[-1] == "2 passed, 0 failed"
    broken = json.loads((events / "new_region_cold.json").read_text())
    broken["history"] = [{"eventName": "RunInstances"}]
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["test", str(tmp_path / "broken.json")], stdout=out, stderr=err) == 2
    assert f"{tmp_path / 'broken.json'}: history: entry 0: expected a CloudTrail record" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_networks_are_ipv4_slash_16_and_ipv6_slash_32_and_service_names_are_none() -> None:
    from trailguard.handlers.baseline_handler import network_of

    assert network_of("198.51.100.23") == "198.51.0.0/16"
    assert network_of("2001:db8:85a3::8a2e:370:7334") == "2001:db8::/32"
    assert network_of("::ffff:203.0.113.9") == "203.0.0.0/16", "an IPv4-mapped address is its IPv4 network"
    for not_an_address in ("ec2.amazonaws.com", "AWS Internal", "cloudformation.amazonaws.com", "", "x" * 60, "1.2.3"):
        assert network_of(not_an_address) == "", not_an_address


def test_only_sessions_named_after_an_instance_are_instance_credentials() -> None:
    from trailguard.core.event_types import CloudTrailEvent
    from trailguard.handlers.baseline_handler import instance_id_of

    def session(name: str, kind: str = "AssumedRole") -> CloudTrailEvent:
        arn = f"arn:aws:sts::111122223333:assumed-role/app-server/{name}"
        return CloudTrailEvent({"userIdentity": {"type": kind, "arn": arn}})

    assert instance_id_of(session("i-0a1b2c3d4e5f60718")) == "i-0a1b2c3d4e5f60718"
    assert instance_id_of(session("i-786a3A8B5C0d92eF4")) == "i-786a3A8B5C0d92eF4"  # the corpus's spelling
    assert instance_id_of(session("i-0a1b2c3d")) == "i-0a1b2c3d"  # the older 8-digit ids
    for other in ("i-not-an-instance", "i-0a1b2c3d4e5f6071", "alice", "i-0a1b2c3d4e5f60718x"):
        assert instance_id_of(session(other)) == "", other
    assert instance_id_of(session("i-0a1b2c3d4e5f60718", kind="IAMUser")) == ""


def test_the_demo_counts_what_the_stateful_rules_suppressed_with_one_job_as_with_two() -> None:
    # lambda.function-changed is stateful now: its four suppressed deploys of the demo day are
    # counted by the main process's engine, with --jobs 1 as with --jobs 2 (9, as before it was).
    samples = DATA_DIR.parent.parent / "samples"
    for jobs in ("1", "2"):
        out, err = io.StringIO(), io.StringIO()
        argv = ["scan", str(samples), "--config", str(samples / "trailguard.toml"), "--format", "jsonl", "--jobs", jobs]
        assert main(argv, stdout=out, stderr=err) == 1
        assert err.getvalue().splitlines()[-1].endswith("; 9 suppressed"), (jobs, err.getvalue())
