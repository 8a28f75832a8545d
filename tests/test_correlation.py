"""incident.attack-chain: the technique-to-tactic table, and chains through scan and the Lambda.

The scenarios in tests/data/chains/ (written by its generate.py from real-shaped test events) are
a leaked key that hits four tactics within the hour, and two near-misses: the same steps spread
over hours, and the same steps by three people.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard import main
from trailguard.cli import main as cli_main
from trailguard.core.base_handler import REGISTRY
from trailguard.core.correlation import CHAIN_RULE_ID, TACTICS, TECHNIQUE_TACTICS, Correlator, tactic_of
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import Actor, Finding
from trailguard.core.settings import Settings
from trailguard.core.state import MemoryState
from trailguard.examples import example_findings
from trailguard.services.stores.dynamodb import create_table
from trailguard.utils import logger
from trailguard.utils.aws_helpers import AwsClients

from .conftest import DATA_DIR

CHAINS = DATA_DIR / "chains"
LEAKED_KEY = CHAINS / "leaked-key"
# The leaked key's steps, in time order: the bucket made public is the third tactic.
LEAKED_STEPS = [
    "iam.access-key-created",
    "sg.ingress-open-to-world",
    "lambda.function-changed",
    "cloudtrail.logging-stopped",
    "s3.bucket-policy-public",
]


def scan(*argv: str) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["scan", "--format", "jsonl", *argv], stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def incidents(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [finding for finding in findings if finding["rule_id"] == CHAIN_RULE_ID]


def records_of(folder: Path) -> list[dict[str, Any]]:
    found = [record for path in folder.iterdir() for record in json.loads(path.read_text())["Records"]]
    return sorted(found, key=lambda record: str(record["eventTime"]))


def event_id_of(folder: Path, event_name: str) -> str:
    [record] = [record for record in records_of(folder) if record["eventName"] == event_name]
    return str(record["eventID"])


# -- the table ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", [r for r in REGISTRY.all() if r.mitre], ids=lambda r: r.id)
def test_every_rules_technique_has_a_tactic(rule: Any) -> None:
    assert tactic_of(rule.mitre) in TACTICS, f"{rule.id}: add {rule.mitre} to TECHNIQUE_TACTICS (core/correlation.py)"


def test_the_table_maps_techniques_to_enterprise_tactics() -> None:
    assert set(TECHNIQUE_TACTICS.values()) <= set(TACTICS)
    assert tactic_of("T1098.001") == "TA0003", "a sub-technique takes its parent's tactic"
    assert tactic_of("T1098.003") == "TA0004", "unless it is listed itself"
    assert tactic_of("T1562.008") == "TA0005"
    assert tactic_of("T1530") == "TA0009" and tactic_of("T1537") == "TA0010"
    assert tactic_of("T9999") == "" and tactic_of("") == ""


# -- the correlator on findings -----------------------------------------------------------------
BASE = example_findings(["s3.bucket-policy-public"])[0]
ATTACKER = Actor(arn="arn:aws:iam::111122223333:user/build-bot", type="IAMUser", name="build-bot")


def finding(minute: int, mitre: str, severity: Severity = Severity.HIGH, actor: Actor = ATTACKER) -> Finding:
    return BASE._replace(
        rule_id=f"test.step-{minute}",
        mitre=mitre,
        severity=severity,
        event_id=f"event-{minute}",
        event_time=f"2026-11-09T{9 + minute // 60:02d}:{minute % 60:02d}:00Z",
        actor=actor,
        source_ip="AWS Internal",  # no address: the principal alone links these
    )


def correlator(settings: Settings | None = None) -> Correlator:
    context = (settings or Settings()).rule_context()._replace(state=MemoryState())
    return Correlator(REGISTRY.get(CHAIN_RULE_ID), context)


def test_info_findings_are_listed_but_never_complete_a_chain() -> None:
    chains = correlator()
    info = [finding(minute, mitre, Severity.INFO) for minute, mitre in ((1, "T1648"), (2, "T1578"), (3, "T1098"))]
    assert chains.observe(info) == [], "routine INFO findings of three tactics are no incident"
    assert chains.observe([finding(4, "T1098"), finding(5, "T1562")]) == []
    [incident] = chains.observe([finding(6, "T1530")])
    assert incident.severity is Severity.CRITICAL and incident.event_id == "event-6"
    assert incident.details["Tactics"] == "Persistence, Defense Evasion, Collection"
    steps = [value for name, value in incident.details.items() if name.startswith("Step ")]
    assert [step.split(": ", 1)[1].split(" ")[0] for step in steps] == [f"test.step-{n}" for n in range(1, 7)]
    assert "(INFO)" in steps[0] and incident.details["Linked by"] == f"principal {ATTACKER.arn}"


class _Racing(MemoryState):
    """A shared state where, right after the first caller takes its first incident window, a
    second invocation completes the same chain from start to end (the worst interleaving)."""

    def __init__(self) -> None:
        super().__init__()
        self.racer: Callable[[], None] | None = None

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        taken = super().first_in_window(namespace, key, at, window)
        if self.racer is not None and not key.startswith(("step ", "incident ")):
            racer, self.racer = self.racer, None
            racer()
        return taken


@pytest.mark.parametrize(
    ("first_ip", "second_ip"), [("198.51.100.7", "198.51.100.8"), ("198.51.100.8", "198.51.100.7")]
)
def test_two_invocations_completing_one_chain_at_once_tell_it_exactly_once(first_ip: str, second_ip: str) -> None:
    state = _Racing()
    context = Settings().rule_context()._replace(state=state)
    one, other = (Correlator(REGISTRY.get(CHAIN_RULE_ID), context) for _ in range(2))
    assert one.observe([finding(1, "T1098")._replace(source_ip=first_ip), finding(2, "T1562")]) == []
    told: list[Finding] = []
    state.racer = lambda: told.extend(other.observe([finding(4, "T1537")._replace(source_ip=second_ip)]))
    told += one.observe([finding(3, "T1530")._replace(source_ip=first_ip)])
    assert len(told) == 1, told


def test_one_incident_per_key_and_window_then_the_next_chain_after_it() -> None:
    chains = correlator()
    first = chains.observe([finding(0, "T1098"), finding(10, "T1562"), finding(20, "T1530")])
    assert len(first) == 1
    assert chains.observe([finding(30, "T1537"), finding(40, "T1485")]) == [], "later steps fold into the incident"
    # More than an hour after the incident, the chain as it then stands (three tactics within its hour).
    assert chains.observe([finding(79, "T1098")]) == [], "the incident's window (from minute 20) is still open"
    [later] = chains.observe([finding(81, "T1078")])
    assert later.details["Tactics"] == "Initial Access, Persistence, Exfiltration, Impact"
    assert later.event_id == "event-81"


def test_the_same_event_again_gives_the_same_incident_again() -> None:
    """The Lambda retries an event it could not deliver: its incident must come back (the delivery's
    claim sends it once), while a later finding of the chain stays folded in."""
    chains = correlator()
    steps = [finding(0, "T1098"), finding(10, "T1562"), finding(20, "T1530")]
    [incident] = chains.observe(steps)
    [again] = chains.observe(steps[2:])
    assert again.key == incident.key and again.details == incident.details, "the retry's steps are not doubled"
    assert chains.observe([finding(25, "T1537")]) == []


def test_a_rules_repeats_within_ten_minutes_are_one_step() -> None:
    chains = correlator()
    noisy = [
        finding(minute, "T1562")._replace(rule_id="test.noisy", event_id=f"noisy-{minute}") for minute in range(12)
    ]
    assert chains.observe([finding(0, "T1098"), *noisy]) == []
    [incident] = chains.observe([finding(30, "T1530")])
    steps = [value for name, value in incident.details.items() if name.startswith("Step ")]
    noisy_steps = [step for step in steps if "test.noisy" in step]
    assert [step.split(" ")[0] for step in noisy_steps] == ["2026-11-09T09:00:00Z", "2026-11-09T09:10:00Z"]
    assert len(steps) == 4


def test_the_thresholds_setting_changes_how_many_tactics_and_how_long() -> None:
    settings = Settings.load(env={}, thresholds={CHAIN_RULE_ID: {"distinct": 2, "window_seconds": 300}})
    chains = correlator(settings)
    assert chains.observe([finding(0, "T1098"), finding(6, "T1562")]) == [], "six minutes apart: outside 300 s"
    assert len(chains.observe([finding(7, "T1530")])) == 1


def test_three_people_make_no_chain_and_a_suppression_silences_the_incident() -> None:
    people = [Actor(arn=f"arn:aws:iam::111122223333:user/{name}", name=name) for name in ("alice", "bob", "carol")]
    chains = correlator()
    steps = [
        finding(minute, mitre, actor=person)
        for minute, mitre, person in zip((1, 2, 3), ("T1098", "T1562", "T1530"), people, strict=True)
    ]
    assert chains.observe(steps) == []
    settings = Settings.load(env={}, suppressions=[{"rules": [CHAIN_RULE_ID], "principal": ATTACKER.arn}])
    engine = Engine(settings)
    assert engine.correlate([finding(1, "T1098"), finding(2, "T1562"), finding(3, "T1530")]) == []
    assert engine.stats.suppressed == 1


# -- through trailguard scan ------------------------------------------------------------------------
def test_a_leaked_key_across_tactics_is_one_incident_in_a_scan(tmp_path: Path) -> None:
    found = scan(str(LEAKED_KEY))
    [incident] = incidents(found)
    assert incident["severity"] == "CRITICAL" and incident["actor"] == "build-bot"
    assert incident["summary"] == (
        "build-bot: 3 ATT&CK tactics in 39 min (Persistence, Defense Evasion, Collection), 5 findings"
    )
    assert incident["event_id"] == event_id_of(LEAKED_KEY, "PutBucketPolicy"), "the third tactic completes it"
    steps = [value for name, value in incident["details"].items() if name.startswith("Step ")]
    assert [step.split(": ", 1)[1].split(" ")[0] for step in steps] == LEAKED_STEPS
    assert incident["details"]["Tactics"] == "Persistence, Defense Evasion, Collection"
    assert incident["details"]["Linked by"] == (
        "principal arn:aws:iam::111122223333:user/build-bot; access key AKIAQXAMPLEBUILDBOT1; "
        "source address 198.51.100.77"
    )
    # The snapshot shared 11 minutes later folds in; the bucket deleted two hours later is alone in its hour.
    assert {"ec2.snapshot-shared-external", "s3.bucket-deleted"} <= {f["rule_id"] for f in found}

    assert scan("--jobs", "2", str(LEAKED_KEY)) == found, "--jobs 2 finds exactly the same"
    assert scan("--state", str(tmp_path / "state.db"), str(LEAKED_KEY)) == found


def test_a_chain_carries_on_across_scans_with_state(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    files = sorted(LEAKED_KEY.iterdir(), key=lambda path: path.name.split("_")[3])
    morning, rest = [str(path) for path in files[:4]], [str(path) for path in files[4:]]
    assert incidents(scan("--state", state, *morning)) == [], "two tactics so far"
    [incident] = incidents(scan("--state", state, *rest))
    assert incident["event_id"] == event_id_of(LEAKED_KEY, "PutBucketPolicy")
    assert len([name for name in incident["details"] if name.startswith("Step ")]) == 5
    assert incidents(scan(*rest)) == [], "without the state, the second run alone has no chain"


@pytest.mark.parametrize("scenario", ["spread", "three-principals"])
def test_near_misses_make_no_incident(scenario: str) -> None:
    found = scan(str(CHAINS / scenario))
    assert len(found) == 7 and incidents(found) == []
    assert incidents(scan("--jobs", "2", str(CHAINS / scenario))) == []


# -- through the Lambda, DynamoDB in moto --------------------------------------------------------
@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_aws: AwsClients) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(logger, "stream", io.StringIO())
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps([{"type": "folder", "name": "files", "path": str(outbox)}]))
    monkeypatch.setenv("TRAILGUARD_TABLE_NAME", "trailguard-state")
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    main.reset()
    yield outbox
    main.reset()
    logger.bind()


@pytest.mark.parametrize("scenario", ["leaked-key", "three-principals"])
def test_the_lambda_remembers_the_chain_in_the_table_across_invocations(lambda_env: Path, scenario: str) -> None:
    delivered: list[tuple[str, str]] = []
    for record in records_of(CHAINS / scenario):
        main.reset()  # every event in a new container: only the table remembers
        result = main.lambda_handler(record, None)
        delivered += [(record["eventName"], f["rule_id"]) for f in result["findings"] if f["outcome"] == "delivered"]
    chained = [event_name for event_name, rule_id in delivered if rule_id == CHAIN_RULE_ID]
    assert chained == (["PutBucketPolicy"] if scenario == "leaked-key" else [])
    assert len(delivered) == 7 + len(chained)
    alerts = sorted(path.name for path in lambda_env.glob("*.eml"))
    assert len([name for name in alerts if CHAIN_RULE_ID in name]) == len(chained)
