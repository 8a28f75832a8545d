"""The detection-state contract, run against every backend: in memory, SQLite (a real file)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.state import DAY, DetectionState, MemoryState, event_epoch
from trailguard.services.stores.dynamodb import create_table
from trailguard.services.stores.dynamodb.detection import KEPT_BUCKETS, DynamoDetectionState
from trailguard.services.stores.dynamodb.table import Table
from trailguard.services.stores.sqlite import SqliteState, StateFileError
from trailguard.utils.aws_helpers import AwsClients

T0 = 1_793_692_800.0  # 2026-11-03T08:00:00Z
MINUTE = 60.0

Backend = Callable[[], DetectionState]


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DetectionState]:
    if request.param == "memory":
        yield MemoryState()
    elif request.param == "sqlite":
        with SqliteState(tmp_path / "state.sqlite") as backend:
            yield backend
    else:
        aws: AwsClients = request.getfixturevalue("fake_aws")
        create_table(aws.client("dynamodb"), "trailguard-state")
        yield DynamoDetectionState(Table("trailguard-state", aws))


def test_event_time_parses_cloudtrail_times_only() -> None:
    assert event_epoch("2026-11-03T08:00:00Z") == T0
    assert event_epoch("2026-11-03T08:00:00.123Z") == T0
    assert event_epoch("yesterday") is None and event_epoch("2026-11-03T08:00:00+01:00") is None
    assert event_epoch("\uff12\uff10\uff12\uff16-11-03T08:00:00Z") is None, "no full-width digits"


def test_first_seen_remembers_values_and_when_the_entity_started(state: DetectionState) -> None:
    first = state.first_seen("ns", "alice", "eu-west-1", T0, ttl=90 * DAY)
    assert first.new and first.entity_since == T0
    assert first.learning(T0, 14 * DAY)
    again = state.first_seen("ns", "alice", "eu-west-1", T0 + DAY, ttl=90 * DAY)
    assert not again.new and again.entity_since == T0
    later = state.first_seen("ns", "alice", "ap-south-1", T0 + 20 * DAY, ttl=90 * DAY)
    assert later.new and not later.learning(T0 + 20 * DAY, 14 * DAY)
    assert state.first_seen("other-rule", "alice", "eu-west-1", T0, ttl=DAY).new, "namespaces never collide"
    # An event older than the baseline's start (small disorder) moves the start back.
    assert state.first_seen("ns", "alice", "eu-west-1", T0 - MINUTE, ttl=DAY).entity_since == T0 - MINUTE


def test_a_value_seen_long_ago_expires(state: DetectionState) -> None:
    state.first_seen("ns", "bob", "10.1", T0, ttl=DAY)
    assert state.first_seen("ns", "bob", "10.1", T0 + 2 * DAY, ttl=DAY).new


def test_tally_counts_events_and_distinct_members_inside_the_window(state: DetectionState) -> None:
    window = 10 * MINUTE
    counts = [state.tally("ns", "key", f"secret-{n % 3}", T0 + n * MINUTE, window) for n in range(12)]
    assert [c.events for c in counts] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]
    assert counts[-1].distinct == 3
    assert state.tally("ns", "other", "x", T0, window).events == 1, "keys are counted apart"
    # A late event (small disorder) still counts in its own window.
    assert state.tally("ns", "key", "late", T0 + 9.5 * MINUTE, window).events >= 10


def test_tally_all_counts_an_events_members_as_tallies_one_by_one(state: DetectionState) -> None:
    assert state.tally_all("ns", "alice", ["a", "b"], T0, 600) == (2, 2)
    assert state.tally_all("ns", "alice", ["b", "c", "c"], T0 + 60, 600) == (5, 3), "each member an event"
    assert state.tally("ns", "alice", "d", T0 + 120, 600) == (6, 4)
    assert state.tally_all("ns", "alice", ["e"], T0 + 700, 600) == (2, 2), "the window moved on: d and e"


def test_first_in_window_alerts_once_per_window(state: DetectionState) -> None:
    assert state.first_in_window("ns", "alice", T0, 600)
    assert not state.first_in_window("ns", "alice", T0 + 599, 600)
    assert state.first_in_window("ns", "bob", T0 + 1, 600)
    assert state.first_in_window("ns", "alice", T0 + 600, 600), "the next window"
    # Rough time order: a little older than the opening is that window; a window older is its own.
    assert not state.first_in_window("ns", "bob", T0 + 1 - 599, 600)
    assert state.first_in_window("ns", "carol", T0, 600)
    assert state.first_in_window("ns", "carol", T0 - 600, 600)


def test_first_in_window_here_keeps_the_windows_of_one_process(state: DetectionState) -> None:
    assert state.first_in_window_here("ns", "step a", T0, 600)
    assert not state.first_in_window_here("ns", "step a", T0 + 599, 600)
    assert not state.first_in_window_here("ns", "step a", T0 - 30, 600), "a little older: the same window"
    assert state.first_in_window_here("ns", "step b", T0, 600)
    assert state.first_in_window_here("ns", "step a", T0 + 600, 600), "the next window"


def test_correlation_items_are_recalled_in_time_order_within_the_range(state: DetectionState) -> None:
    state.remember("chain", "AKIA1", "persistence", T0 + 120, ttl=3600)
    state.remember("chain", "AKIA1", "discovery", T0, ttl=3600)
    state.remember("chain", "AKIA2", "impact", T0, ttl=3600)
    assert state.recall("chain", "AKIA1", T0 - 1, T0 + 3600) == [(T0, "discovery"), (T0 + 120, "persistence")]
    assert state.recall("chain", "AKIA1", T0 + 60, T0 + 3600) == [(T0 + 120, "persistence")]


def test_sqlite_state_carries_over_to_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with SqliteState(path) as yesterday:
        yesterday.first_seen("ns", "alice", "eu-west-1", T0, ttl=90 * DAY)
        yesterday.remember("chain", "alice", "discovery", T0, ttl=3600)
    with SqliteState(path) as today:
        assert not today.first_seen("ns", "alice", "eu-west-1", T0 + DAY, ttl=90 * DAY).new
        assert today.first_seen("ns", "alice", "us-east-1", T0 + DAY, ttl=90 * DAY).entity_since == T0
        assert today.recall("chain", "alice", T0, T0 + 10) == [(T0, "discovery")]


def test_sqlite_state_prunes_what_expired_by_event_time(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with SqliteState(path) as first:
        first.first_seen("ns", "alice", "old", T0, ttl=DAY)
        first.first_seen("ns", "alice", "fresh", T0 + 3 * DAY, ttl=DAY)
    with sqlite3.connect(path) as db:
        assert [row[0] for row in db.execute("SELECT value FROM seen")] == ["fresh"]


def test_a_second_process_on_the_same_file_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    script = (
        "import sys\n"
        "from trailguard.services.stores.sqlite import SqliteState, StateFileError\n"
        "try:\n"
        "    SqliteState(sys.argv[1])\n"
        "except StateFileError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(2)\n"
    )
    with SqliteState(path):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], check=False, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2, done.stderr
    assert f"state file {path} is in use by another process" in done.stdout
    SqliteState(path).close()  # free again once the first one closed


def test_a_corrupt_or_foreign_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StateFileError, match=r"garbage.sqlite is not a trailguard state file"):
        SqliteState(garbage)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StateFileError, match=r"foreign.sqlite is a SQLite database of something else"):
        SqliteState(foreign)
    with sqlite3.connect(foreign) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)], "left as it was"


def test_event_text_never_becomes_sql(tmp_path: Path) -> None:
    hostile = "x'); DROP TABLE seen; --"
    with SqliteState(tmp_path / "state.sqlite") as state:
        assert state.first_seen("ns", hostile, hostile, T0, ttl=DAY).new
        assert not state.first_seen("ns", hostile, hostile, T0 + 1, ttl=DAY).new


def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give moto DynamoDB's per-request atomicity: moto reads, changes and writes an item without a
    lock, so two concurrent ADDs can lose one. Requests still interleave freely between threads."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    for name in ("update_item", "put_item", "query", "get_item", "batch_get_item"):
        original = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, functools.wraps(original)(serialised))


def test_dynamodb_counts_concurrent_invocations_exactly(fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several containers (threads, each with its own cache) counting and opening windows at once."""
    import threading

    atomic_requests(monkeypatch)

    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    opened: list[bool] = []
    errors: list[BaseException] = []

    def container(number: int) -> None:
        try:
            state = DynamoDetectionState(Table("trailguard-state", AwsClients(region="eu-west-1")))
            for event in range(10):
                state.tally("burst", "alice", f"secret-{number}-{event}", T0 + event, 600)
            opened.append(state.first_in_window("burst", "alice", T0 + 30, 600))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=container, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    final = DynamoDetectionState(Table("trailguard-state", fake_aws)).tally("burst", "alice", "last", T0 + 11, 600)
    assert final == (41, 41), "4 x 10 counted, and this one"
    assert sorted(opened) == [False, False, False, True], "exactly one invocation opens the window"


def test_dynamodb_state_reads_a_known_profile_once_per_container(fake_aws: AwsClients) -> None:
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    state = DynamoDetectionState(Table("trailguard-state", fake_aws))
    state.first_seen("region", "alice", "eu-west-1", T0, ttl=90 * DAY)
    before = state.requests
    for minute in range(100):
        assert not state.first_seen("region", "alice", "eu-west-1", T0 + minute * MINUTE, ttl=90 * DAY).new
    assert state.requests == before, "routine activity costs no request once the profile is cached"


# -- the DynamoDB backend's per-container cache: what it keeps, what it never keeps ------------------


def two_containers(aws: AwsClients) -> tuple[DynamoDetectionState, DynamoDetectionState]:
    """Two invocations' states (each its own cache) over one table."""
    create_table(aws.client("dynamodb"), "trailguard-state")
    return DynamoDetectionState(Table("trailguard-state", aws)), DynamoDetectionState(Table("trailguard-state", aws))


def test_dynamodb_tally_is_one_write_that_returns_the_fresh_total(fake_aws: AwsClients) -> None:
    one, other = two_containers(fake_aws)
    assert one.tally("burst", "alice", "secret-a", T0, 600) == (1, 1)
    assert one.requests == 1, "the update returns the counts: no read"
    # Counts are never cached: what another invocation added is in the next answer.
    assert other.tally("burst", "alice", "secret-b", T0 + 1, 600) == (2, 2)
    assert one.tally("burst", "alice", "secret-a", T0 + 2, 600) == (3, 2)
    assert one.requests == 2
    # Nor are correlation items.
    other.remember("chain", "alice", "discovery", T0, ttl=3600)
    assert one.recall("chain", "alice", T0, T0 + 1) == [(T0, "discovery")]


def test_dynamodb_an_events_members_are_one_update(fake_aws: AwsClients) -> None:
    one, other = two_containers(fake_aws)
    assert one.tally_all("burst", "alice", ["/app/db", "/app/key", "/app/token"], T0, 600) == (3, 3)
    assert one.requests == 1, "one ADD of the three"
    assert other.tally("burst", "alice", "/app/db", T0 + 1, 600) == (4, 3)


def test_dynamodb_tally_item_keeps_only_the_tenths_a_window_needs(fake_aws: AwsClients) -> None:
    state, _ = two_containers(fake_aws)
    long_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:" + "x" * 900
    for minute in range(60):
        state.tally("burst", "alice", f"{long_arn}-{minute}", T0 + minute * MINUTE, 600)
    item = fake_aws.client("dynamodb").get_item(
        TableName="trailguard-state", Key={"pk": {"S": "tally#burst#alice"}, "sk": {"S": "counts"}}
    )["Item"]
    tenths = sorted(int(name[1:]) for name in item if name[:1] == "e" and name[1:].isdigit())
    newest = int((T0 + 59 * MINUTE) // 60)
    assert tenths[0] > newest - KEPT_BUCKETS - 2, "older tenths are removed by the next updates"
    assert tenths[-1] == newest
    size = sum(len(name) + len(str(value)) for name, value in item.items())
    assert size < 2_000, "members are kept as short hashes, not as their 1 KB names"
    assert state.requests == 60, "removing costs no request of its own"


def test_dynamodb_an_event_half_a_window_late_counts_its_whole_window(fake_aws: AwsClients) -> None:
    state, _ = two_containers(fake_aws)
    for minute in range(15):
        state.tally("burst", "alice", f"secret-{minute}", T0 + minute * MINUTE, 600)
    late = state.tally("burst", "alice", "late", T0 + 9.5 * MINUTE, 600)
    assert late == (11, 11), "minutes 0 to 9 and itself, five minutes behind the newest"


def test_dynamodb_members_hashed_the_old_way_are_not_counted_and_are_removed(fake_aws: AwsClients) -> None:
    """Items written before the 48-bit hashes held 72-bit ones under ``m<n>``: a member in both
    would count twice in the window of the upgrade."""
    state, _ = two_containers(fake_aws)
    tenth = int(T0 // MINUTE)
    client = fake_aws.client("dynamodb")
    key = {"pk": {"S": "tally#burst#alice"}, "sk": {"S": "counts"}}
    old_hashes = {"SS": ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB"]}
    client.put_item(TableName="trailguard-state", Item={**key, f"e{tenth}": {"N": "2"}, f"m{tenth}": old_hashes})
    assert state.tally("burst", "alice", "secret-a", T0 + 1, 600) == (3, 1), "its events count, its hashes not"
    state.tally("burst", "alice", "secret-b", T0 + MINUTE, 600)
    item = client.get_item(TableName="trailguard-state", Key=key)["Item"]
    assert not [name for name in item if name.startswith("m")], "removed by the next update"


def test_dynamodb_an_alert_window_seen_open_costs_nothing_until_it_ends(fake_aws: AwsClients) -> None:
    one, other = two_containers(fake_aws)
    assert one.first_in_window("burst", "alert:alice", T0, 600)
    assert not one.first_in_window("burst", "alert:alice", T0 + 599, 600)
    assert not one.first_in_window("burst", "alert:alice", T0 - 30, 600), "a little older: the same window"
    assert one.requests == 1, "the window it opened is known open"
    # Another invocation learns the window from its failed write, then knows it too.
    assert not other.first_in_window("burst", "alert:alice", T0 + 10, 600)
    assert not other.first_in_window("burst", "alert:alice", T0 + 20, 600)
    assert other.requests == 1
    # Once it ends, each asks again: the next window opens once.
    assert one.first_in_window("burst", "alert:alice", T0 + 600, 600)
    assert not other.first_in_window("burst", "alert:alice", T0 + 700, 600)
    assert (one.requests, other.requests) == (2, 2)


def test_dynamodb_a_known_value_is_cached_until_its_ttl_and_a_known_start_read_from_the_write(
    fake_aws: AwsClients,
) -> None:
    one, other = two_containers(fake_aws)
    assert one.first_seen("region", "bob", "eu-west-1", T0, ttl=DAY).new
    asked = one.requests
    assert not one.first_seen("region", "bob", "eu-west-1", T0 + DAY / 2, ttl=DAY).new
    assert one.requests == asked
    assert one.first_seen("region", "bob", "eu-west-1", T0 + 2 * DAY, ttl=DAY).new, "expired with its TTL"
    assert one.requests == asked + 1
    # Another invocation: the baseline start comes back with the failed condition (no read).
    sighting = other.first_seen("region", "bob", "us-east-1", T0 + 3 * DAY, ttl=DAY)
    assert sighting.new and sighting.entity_since == T0
    assert other.requests == 2, "the start and the value, no third request"


class Writes:
    """The write requests a state makes (its ``table.call``s other than reads)."""

    def __init__(self, state: DynamoDetectionState, monkeypatch: pytest.MonkeyPatch) -> None:
        self.operations: list[str] = []
        original = state.table.call

        def call(operation: str, **kwargs: Any) -> dict[str, Any]:
            if operation in ("update_item", "put_item"):
                self.operations.append(operation)
            return original(operation, **kwargs)

        monkeypatch.setattr(state.table, "call", call)


def test_dynamodb_a_new_container_reads_a_known_value_and_writes_nothing(
    fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = two_containers(fake_aws)
    assert one.first_seen("network", "bob", "198.51.100.0/24", T0, ttl=90 * DAY).new
    writes = Writes(other, monkeypatch)
    sighting = other.first_seen("network", "bob", "198.51.100.0/24", T0 + DAY / 2, ttl=90 * DAY)
    assert not sighting.new and sighting.entity_since == T0
    assert other.requests == 1, "one read of the value and the start together"
    assert writes.operations == [], "known and its TTL not due: no write"
    # Known to this container now: no request at all.
    assert not other.first_seen("network", "bob", "198.51.100.0/24", T0 + DAY, ttl=90 * DAY).new
    assert other.requests == 1


def test_dynamodb_the_ttl_of_a_known_value_moves_at_most_daily(
    fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    ttl = 90 * DAY
    DynamoDetectionState(Table("trailguard-state", fake_aws)).first_seen("region", "bob", "eu-west-1", T0, ttl)
    # Each hour a new container (a cold start) sees the value: only the one past a day refreshes it.
    written = []
    for hour in range(1, 30):
        state = DynamoDetectionState(Table("trailguard-state", fake_aws))
        writes = Writes(state, monkeypatch)
        assert not state.first_seen("region", "bob", "eu-west-1", T0 + hour * 3600, ttl).new
        written += [hour] * len(writes.operations)
    assert written == [25], "refreshed once, when the stored TTL was more than a day behind"
    item = fake_aws.client("dynamodb").get_item(
        TableName="trailguard-state", Key={"pk": {"S": "seen#region#bob"}, "sk": {"S": "v#eu-west-1"}}
    )["Item"]
    assert int(item["until"]["N"]) == int(T0 + 25 * 3600 + ttl)
    # Long unused, the value has expired: new again, though the item is still there (TTL deletion lags).
    late = DynamoDetectionState(Table("trailguard-state", fake_aws))
    assert late.first_seen("region", "bob", "eu-west-1", T0 + 25 * 3600 + ttl + 1, ttl).new


def test_dynamodb_a_value_two_containers_see_at_once_is_new_for_one(
    fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read "not seen" (the read races the other's write); the conditional write settles it."""
    import threading

    atomic_requests(monkeypatch)
    create_table(fake_aws.client("dynamodb"), "trailguard-state")
    # A known entity: its start is not the question here.
    DynamoDetectionState(Table("trailguard-state", fake_aws)).first_seen("network", "bob", "10.0.0.0/24", T0, DAY)
    states = [DynamoDetectionState(Table("trailguard-state", AwsClients(region="eu-west-1"))) for _ in range(4)]
    barrier = threading.Barrier(len(states))
    for state in states:
        original = state.table.get_many

        def read_then_wait(keys: list[dict[str, Any]], _original: Any = original) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = _original(keys)
            barrier.wait(timeout=30)  # every container has read before any writes
            return found

        monkeypatch.setattr(state.table, "get_many", read_then_wait)
    answers: list[bool] = []
    errors: list[BaseException] = []

    def container(state: DynamoDetectionState) -> None:
        try:
            answers.append(state.first_seen("network", "bob", "203.0.113.0/24", T0 + 60, DAY).new)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=container, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(answers) == [False, False, False, True], "exactly one invocation reports the new value"


def test_dynamodb_step_windows_stay_in_the_container(fake_aws: AwsClients) -> None:
    one, other = two_containers(fake_aws)
    assert one.first_in_window_here("chain", "step rule alice", T0, 600)
    assert not one.first_in_window_here("chain", "step rule alice", T0 + 60, 600)
    assert other.first_in_window_here("chain", "step rule alice", T0 + 60, 600), "another container: its own"
    assert (one.requests, other.requests) == (0, 0)
