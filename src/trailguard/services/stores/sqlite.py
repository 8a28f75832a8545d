"""Detection state in a SQLite file: ``trailguard scan --state FILE``, so baselines carry on across runs.

One file holds the first-seen sets, windowed counters, alert windows and correlation items of
``core.state.DetectionState``, and the findings history of the scans (``history``: one row per
finding with its outcome, read by ``trailguard history`` and ``trailguard dashboard`` through
``SqliteHistory``, read-only). The schema is versioned: a file of an older version is upgraded
when a scan opens it, one of a newer version is refused. Safe against a second process: the file is opened in SQLite's
exclusive locking mode and locked at once, so a second ``trailguard scan --state`` on the same
file fails straight away with a clear error instead of both corrupting the baselines. A file that
is not a SQLite database, or a database that is not trailguard's, is refused with a clear error.

Every statement takes parameters: nothing from an event is ever part of the SQL text.
Writes are batched in transactions (committed every ``COMMIT_EVERY`` changes and on ``close``);
expired rows are pruned on ``close``, by event time (the newest event time the file has seen).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from trailguard.core.enums import Severity
from trailguard.core.exceptions import ConfigError
from trailguard.core.state import Sighting, Tally, tally_each
from trailguard.services.stores.base import HistoryRecord, finding_json, iso, remediation_details

if TYPE_CHECKING:
    from trailguard.core.enums import Outcome
    from trailguard.core.event_types import Finding

APPLICATION_ID = 0x54475354  # "TGST": marks the file as trailguard's
SCHEMA_VERSION = 2
# A finding's texts are bounded as in DynamoDB's history: the same finding reads back the same.
MAX_STORED_CHARS = 4096
COMMIT_EVERY = 5_000
_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE seen (namespace TEXT, entity TEXT, value TEXT, expires REAL, PRIMARY KEY (namespace, entity, value));
CREATE TABLE known (namespace TEXT, entity TEXT, since REAL, PRIMARY KEY (namespace, entity));
CREATE TABLE events (namespace TEXT, key TEXT, member TEXT, at REAL);
CREATE INDEX events_by_key ON events (namespace, key, at);
CREATE TABLE windows (namespace TEXT, key TEXT, opened REAL, PRIMARY KEY (namespace, key));
CREATE TABLE items (namespace TEXT, key TEXT, item TEXT, at REAL, expires REAL);
CREATE INDEX items_by_key ON items (namespace, key, at);
"""
# Version 2: the findings history. ``key``: account, region and ``Finding.key`` (a finding scanned
# again updates its row); ``severity``: the number, so --min-severity is a comparison.
_HISTORY_SCHEMA = """
CREATE TABLE history (
    key TEXT PRIMARY KEY, event_time TEXT NOT NULL, rule_id TEXT NOT NULL, severity INTEGER NOT NULL,
    actor TEXT NOT NULL, account_id TEXT NOT NULL, outcome TEXT NOT NULL, channels TEXT NOT NULL,
    folded INTEGER NOT NULL, failures TEXT NOT NULL, attempts INTEGER NOT NULL,
    stored_at TEXT NOT NULL, first_stored_at TEXT NOT NULL, finding TEXT NOT NULL
);
CREATE INDEX history_by_time ON history (event_time);
"""
# What turns version N into N + 1.
_MIGRATIONS = {1: _HISTORY_SCHEMA}
_TABLES = {"meta", "seen", "known", "events", "windows", "items"}


class StateFileError(ConfigError):
    """The state file cannot be used: locked by another process, corrupt, or not trailguard's."""


class SqliteState:
    """``DetectionState`` over one SQLite file (``path``; ``":memory:"`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            # timeout=0: a locked file is an immediate, clear error rather than a silent wait.
            self._db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StateFileError(f"state file {self.path}: cannot be opened ({exc})") from None
        self._pending = 0
        self._newest = 0.0
        try:
            self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
            self._db.execute("BEGIN EXCLUSIVE")  # takes the lock now, and keeps it until close
            self._check_or_create()
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise StateFileError(
                    f"state file {self.path} is in use by another process (another trailguard scan?)"
                ) from None
            raise StateFileError(f"state file {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateFileError(f"state file {self.path} is not a trailguard state file ({exc})") from None
        except StateFileError:
            self._db.close()
            raise

    def _check_or_create(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        if not tables:
            self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # a constant, not input
            self._create()
            return
        if application_id != APPLICATION_ID or not tables >= _TABLES:
            raise StateFileError(f"state file {self.path} is a SQLite database of something else, not trailguard's")
        version = _schema_version(self._db, self.path)
        if version < SCHEMA_VERSION:  # an older trailguard's file: upgraded in this transaction
            for step in range(version, SCHEMA_VERSION):
                _run_script(self._db, _MIGRATIONS[step])
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'schema'", (str(SCHEMA_VERSION),))
        newest = self._db.execute("SELECT value FROM meta WHERE name = 'newest'").fetchone()
        self._newest = float(newest[0]) if newest else 0.0

    def _create(self) -> None:
        _run_script(self._db, _SCHEMA + _HISTORY_SCHEMA)
        self._db.execute("INSERT INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def _changed(self, at: float) -> None:
        self._newest = max(self._newest, at)
        self._pending += 1
        if self._pending >= COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        """Make what was recorded so far durable."""
        self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('newest', ?)", (repr(self._newest),))
        self._db.execute("COMMIT")
        self._db.execute("BEGIN EXCLUSIVE")
        self._pending = 0

    def close(self) -> None:
        """Prune what has expired (by the newest event time seen), commit, release the file."""
        now = self._newest
        self._db.execute("DELETE FROM seen WHERE expires < ?", (now,))
        self._db.execute("DELETE FROM items WHERE expires < ?", (now,))
        # Counted events older than a day are past every window a rule uses.
        self._db.execute("DELETE FROM events WHERE at < ?", (now - 86_400,))
        self.flush()
        self._db.execute("COMMIT")
        self._db.close()

    def __enter__(self) -> SqliteState:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- DetectionState -------------------------------------------------------------------------
    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        db = self._db
        row = db.execute("SELECT since FROM known WHERE namespace = ? AND entity = ?", (namespace, entity)).fetchone()
        since = min(float(row[0]), at) if row else at
        if row is None or since < float(row[0]):
            db.execute("INSERT OR REPLACE INTO known VALUES (?, ?, ?)", (namespace, entity, since))
        found = db.execute(
            "SELECT expires FROM seen WHERE namespace = ? AND entity = ? AND value = ?", (namespace, entity, value)
        ).fetchone()
        new = found is None or float(found[0]) < at
        expires = max(float(found[0]) if found else 0.0, at + ttl)
        db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)", (namespace, entity, value, expires))
        self._changed(at)
        return Sighting(new, since)

    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        db = self._db
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (namespace, key, member, at))
        events, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT member) FROM events"
            " WHERE namespace = ? AND key = ? AND at > ? AND at <= ?",
            (namespace, key, at - window, at),
        ).fetchone()
        self._changed(at)
        return Tally(int(events), int(distinct))

    def tally_all(self, namespace: str, key: str, members: Sequence[str], at: float, window: float) -> Tally:
        return tally_each(self, namespace, key, members, at=at, window=window)

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        db = self._db
        row = db.execute("SELECT opened FROM windows WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
        if row is not None and abs(at - float(row[0])) < window:
            return False
        db.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?)", (namespace, key, at))
        self._changed(at)
        return True

    def first_in_window_here(self, namespace: str, key: str, at: float, window: float) -> bool:
        # The file has one writer at a time (its lock): its windows are all this process's.
        return self.first_in_window(namespace, key, at, window)

    def remember(self, namespace: str, key: str, item: str, at: float, ttl: float) -> None:
        self._db.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (namespace, key, item, at, at + ttl))
        self._changed(at)

    def recall(self, namespace: str, key: str, since: float, until: float) -> list[tuple[float, str]]:
        rows = self._db.execute(
            "SELECT at, item FROM items WHERE namespace = ? AND key = ? AND at >= ? AND at <= ? ORDER BY at, item",
            (namespace, key, since, until),
        ).fetchall()
        return [(float(at), str(item)) for at, item in rows]

    # -- findings history -------------------------------------------------------------------------
    def record(
        self,
        finding: Finding,
        outcome: Outcome | str,
        channels: Mapping[str, str] | None = None,
        folded: int = 0,
        failure: str = "",
    ) -> None:
        """Store (or update, for a finding scanned again) the finding's history row with its outcome."""
        stored_at = iso(time.time())
        key = f"{finding.account_id}|{finding.region}|{finding.key}"
        row = self._db.execute("SELECT failures, first_stored_at FROM history WHERE key = ?", (key,)).fetchone()
        failures: list[str] = json.loads(row[0]) if row else []
        if failure:
            failures.append(f"{stored_at} {failure}")
        self._db.execute(
            "INSERT INTO history (key, event_time, rule_id, severity, actor, account_id, outcome, channels,"
            " folded, failures, attempts, stored_at, first_stored_at, finding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, channels = excluded.channels,"
            " folded = excluded.folded, failures = excluded.failures, attempts = attempts + 1,"
            " stored_at = excluded.stored_at, finding = excluded.finding",
            (
                key,
                finding.event_time,
                finding.rule_id,
                int(finding.severity),
                finding.actor.label,
                finding.account_id,
                str(outcome),
                json.dumps(dict(channels or {}), ensure_ascii=False),
                folded,
                json.dumps(failures, ensure_ascii=False),
                stored_at,
                row[1] if row else stored_at,
                finding_json(finding, MAX_STORED_CHARS),
            ),
        )
        self._pending += 1

    def query_history(self, since: str = "", until: str = "") -> list[HistoryRecord]:
        """The stored findings of event time within [since, until] (ISO UTC; empty: unbounded), oldest first."""
        return _query_history(self._db, since, until)


class SqliteHistory:
    """The findings history of a state file, read-only: ``trailguard history`` and the dashboard.

    A missing file is an error (never created), and so is a file a scan holds right now (the scan
    keeps it locked until it ends: ``busy``), one that is not trailguard's, or one of a version
    without the history."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if not Path(self.path).is_file():
            raise StateFileError(f"state file {self.path}: no such file")

    def query_history(self, since: str = "", until: str = "") -> list[HistoryRecord]:
        from urllib.request import pathname2url

        try:
            db = sqlite3.connect(f"file:{pathname2url(str(Path(self.path).resolve()))}?mode=ro", uri=True, timeout=1)
        except sqlite3.Error as exc:
            raise StateFileError(f"state file {self.path}: cannot be opened ({exc})") from None
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID or not tables >= _TABLES:
                raise StateFileError(f"state file {self.path} is a SQLite database of something else, not trailguard's")
            version = _schema_version(db, self.path)
            if version < SCHEMA_VERSION:
                raise StateFileError(
                    f"state file {self.path} has schema version {version}, which kept no findings history; "
                    "the next `trailguard scan --state` on it upgrades it"
                )
            return _query_history(db, since, until)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StateFileBusy(
                    f"state file {self.path} is in use by a running scan; try again when it has finished"
                ) from None
            raise StateFileError(f"state file {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"state file {self.path} is not a trailguard state file ({exc})") from None
        finally:
            db.close()


class StateFileBusy(StateFileError):
    """A scan holds the state file now: its history can be read when the scan has finished."""


def _run_script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.strip().split(";"):
        if statement.strip():
            db.execute(statement)


def _schema_version(db: sqlite3.Connection, path: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    version = int(row[0]) if row is not None and str(row[0]).isdigit() else 0
    if not 1 <= version <= SCHEMA_VERSION:
        raise StateFileError(
            f"state file {path} has schema version {row[0] if row else 'none'}; "
            f"this trailguard reads versions 1 to {SCHEMA_VERSION} (a newer trailguard wrote it?)"
        )
    return version


def _query_history(db: sqlite3.Connection, since: str, until: str) -> list[HistoryRecord]:
    rows = db.execute(
        "SELECT event_time, outcome, channels, folded, failures, attempts, stored_at, first_stored_at, finding"
        " FROM history WHERE event_time >= ? AND (? = '' OR event_time <= ?) ORDER BY event_time, key",
        (since, until, until),
    ).fetchall()
    return [_history_record(row) for row in rows]


def _history_record(row: tuple[Any, ...]) -> HistoryRecord:
    event_time, outcome, channels, folded, failures, attempts, stored_at, first_stored_at, finding = row
    data: dict[str, Any] = json.loads(finding)

    def text(name: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else ""

    remediation, removed = remediation_details(data.get("details"))
    return HistoryRecord(
        rule_id=text("rule_id"),
        severity=text("severity") or Severity.INFO.name,
        title=text("title"),
        summary=text("summary"),
        resource_type=text("resource_type"),
        resource_id=text("resource"),
        resource_arn=text("resource_arn"),
        actor=text("actor"),
        actor_arn=text("actor_arn"),
        account_id=text("account_id"),
        region=text("region"),
        event_id=text("event_id"),
        event_name=text("event_name"),
        event_time=str(event_time),
        stored_at=str(stored_at),
        first_stored_at=str(first_stored_at),
        outcome=str(outcome),
        channels={str(k): str(v) for k, v in json.loads(channels).items()},
        attempts=int(attempts),
        folded=int(folded),
        failures=tuple(str(f) for f in json.loads(failures)),
        finding=str(finding),
        remediation=remediation,
        remediation_removed=removed,
    )
