"""Detection state in a SQLite file: ``trailguard scan --state FILE``, so baselines carry on across runs.

One file holds the first-seen sets, windowed counters, alert windows and correlation items of
``core.state.DetectionState``. Safe against a second process: the file is opened in SQLite's
exclusive locking mode and locked at once, so a second ``trailguard scan --state`` on the same
file fails straight away with a clear error instead of both corrupting the baselines. A file that
is not a SQLite database, or a database that is not trailguard's, is refused with a clear error.

Every statement takes parameters: nothing from an event is ever part of the SQL text.
Writes are batched in transactions (committed every ``COMMIT_EVERY`` changes and on ``close``);
expired rows are pruned on ``close``, by event time (the newest event time the file has seen).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from trailguard.core.exceptions import ConfigError
from trailguard.core.state import Sighting, Tally, tally_each

APPLICATION_ID = 0x54475354  # "TGST": marks the file as trailguard's
SCHEMA_VERSION = 1
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
        row = self._db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise StateFileError(
                f"state file {self.path} has schema version {row[0] if row else 'none'}; "
                f"this trailguard reads version {SCHEMA_VERSION}"
            )
        newest = self._db.execute("SELECT value FROM meta WHERE name = 'newest'").fetchone()
        self._newest = float(newest[0]) if newest else 0.0

    def _create(self) -> None:
        for statement in _SCHEMA.strip().split(";"):
            if statement.strip():
                self._db.execute(statement)
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
