"""Detection state: what rules may remember between events, reached only through their context.

Rules stay pure: they never open a file or call AWS. What a stateful rule needs (has this
principal used this region before? how many secrets has it read in ten minutes? which findings
did this access key raise this hour?) it asks the ``DetectionState`` in ``ctx.state``. Three
kinds of memory, all keyed by a namespace (the rule's own, so rules never collide), all on event
time (``eventTime``, not arrival time), all expiring:

- **first-seen sets** (``first_seen``): has ``entity`` (a principal) shown ``value`` (a region, a
  network) before? The answer also says since when the entity has a baseline, so a rule can stay
  silent while it is still learning.
- **windowed counters** (``tally``): events and distinct members (secrets, instances, buckets)
  of a key within the last ``window`` seconds; ``first_in_window`` answers "alert once per window".
- **windows that only save work** (``first_in_window_here``): like ``first_in_window``, but a
  backend shared by concurrent processes may answer from this process's own windows only, at no
  cost: for de-duplication whose repeats are harmless (a step remembered twice), never for
  "alert once".
- **correlation keys** (``remember``/``recall``): short-lived items (a finding's tactic) under a
  key (a principal, an access key, a source address).

``MemoryState`` here keeps it in dictionaries: for one run of ``trailguard scan`` without
``--state``, and for tests. The SQLite (``scan --state FILE``) and DynamoDB (the Lambda) backends
live in ``services/stores`` and pass the same contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

DAY = 86_400


class Sighting(NamedTuple):
    """The answer of ``first_seen``."""

    new: bool  # the value had not been seen for this entity before (it is recorded now)
    entity_since: float  # when the entity was first seen with any value (epoch seconds)

    def learning(self, at: float, learning_seconds: float) -> bool:
        """True while the entity's baseline is younger than the learning period."""
        return at - self.entity_since < learning_seconds


class Tally(NamedTuple):
    """Events and distinct members counted within a window, this one included."""

    events: int
    distinct: int


class DetectionState(Protocol):
    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        """Record that ``entity`` showed ``value`` at ``at``; was it new, and since when is the entity known?"""
        ...

    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        """Count one event of ``key`` (with ``member`` for the distinct count) at ``at``; the counts
        of the events within ``(at - window, at]``."""
        ...

    def tally_all(self, namespace: str, key: str, members: Sequence[str], at: float, window: float) -> Tally:
        """``tally`` each of ``members`` (one event each, all at ``at``; at least one); the counts
        after the last. A backend may count them in one request."""
        ...

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        """True (and the window opens at ``at``) when no window of ``key`` is open at ``at``. Events come
        in rough time order only: one a little older than the window's opening (less than a window
        before it) falls in that window too, and opens none of its own."""
        ...

    def first_in_window_here(self, namespace: str, key: str, at: float, window: float) -> bool:
        """``first_in_window``, where a backend shared by concurrent processes (DynamoDB) may count
        only the windows this process opened: then each of two concurrent processes may open one."""
        ...

    def remember(self, namespace: str, key: str, item: str, at: float, ttl: float) -> None:
        """Keep ``item`` under ``key`` until ``at + ttl``."""
        ...

    def recall(self, namespace: str, key: str, since: float, until: float) -> list[tuple[float, str]]:
        """The items kept under ``key`` with a time within ``[since, until]``, oldest first."""
        ...


# event_epoch's answers: several stateful rules ask it of each event, and events of a trail share
# their seconds. Cleared when full (the events of a scan come roughly in time order).
_EPOCHS: dict[str, float | None] = {}
_EPOCHS_LIMIT = 1024


def event_epoch(event_time: str) -> float | None:
    """``2026-11-03T09:12:44Z`` (optionally with fractions) as epoch seconds; None when unreadable.

    By hand, not with calendar/datetime: this runs for every event a stateful rule sees, and those
    modules cost the Lambda's cold start milliseconds."""
    try:
        return _EPOCHS[event_time]
    except KeyError:
        pass
    except TypeError:  # not a string: let the parse below say so as it always has
        return _parse_epoch(event_time)
    epoch = _parse_epoch(event_time)
    if len(_EPOCHS) >= _EPOCHS_LIMIT:
        _EPOCHS.clear()
    _EPOCHS[event_time] = epoch
    return epoch


def _parse_epoch(event_time: str) -> float | None:
    text = event_time.strip()
    if len(text) < 20 or text[-1] != "Z" or text[4] != "-" or text[7] != "-" or text[10] != "T":
        return None
    if text[13] != ":" or text[16] != ":":
        return None
    digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if not (digits.isascii() and digits.isdigit()):
        return None
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    # Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return float(days * DAY + hour * 3600 + minute * 60 + second)


def _when(event: tuple[float, str]) -> float:
    return event[0]


def tally_each(
    state: DetectionState, namespace: str, key: str, members: Sequence[str], *, at: float, window: float
) -> Tally:
    """``tally_all`` as one ``tally`` per member: for a backend whose tally costs no request."""
    counts = Tally(0, 0)
    for member in members:
        counts = state.tally(namespace, key, member, at, window)
    return counts


class MemoryState:
    """Detection state in dictionaries, for one process."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, float]] = {}
        self._since: dict[tuple[str, str], float] = {}
        self._events: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self._windows: dict[tuple[str, str], float] = {}
        self._items: dict[tuple[str, str], list[tuple[float, str, float]]] = {}

    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        key = (namespace, entity)
        values = self._seen.setdefault(key, {})
        since = min(self._since.get(key, at), at)
        self._since[key] = since
        expires = values.get(value)
        new = expires is None or expires < at
        values[value] = max(expires or 0.0, at + ttl)
        return Sighting(new, since)

    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        # Kept sorted by time (events come in rough time order: inserting is nearly appending), so
        # that the window and what is too old to keep are found by bisection, not by a pass over
        # two windows of events at every call (a busy principal's burst window holds thousands).
        from bisect import bisect_right, insort  # only stateful rules tally

        events = self._events.setdefault((namespace, key), [])
        insort(events, (at, member), key=_when)
        live = events[bisect_right(events, at - window, key=_when) : bisect_right(events, at, key=_when)]
        # Kept for two windows behind the newest event, so that a late event (events arrive in
        # rough event-time order, not exact) is still counted with its neighbours.
        del events[: bisect_right(events, events[-1][0] - 2 * window, key=_when)]
        return Tally(len(live), len({name for _, name in live}))

    def tally_all(self, namespace: str, key: str, members: Sequence[str], at: float, window: float) -> Tally:
        return tally_each(self, namespace, key, members, at=at, window=window)

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        opened = self._windows.get((namespace, key))
        if opened is not None and abs(at - opened) < window:
            return False
        self._windows[(namespace, key)] = at
        return True

    def first_in_window_here(self, namespace: str, key: str, at: float, window: float) -> bool:
        return self.first_in_window(namespace, key, at, window)  # one process: the same windows

    def remember(self, namespace: str, key: str, item: str, at: float, ttl: float) -> None:
        items = self._items.setdefault((namespace, key), [])
        items.append((at, item, at + ttl))
        items[:] = [entry for entry in items if entry[2] >= at]

    def recall(self, namespace: str, key: str, since: float, until: float) -> list[tuple[float, str]]:
        return sorted((at, item) for at, item, _ in self._items.get((namespace, key), ()) if since <= at <= until)


class LazyState:
    """A ``DetectionState`` built on first use (``factory``): the Lambda's DynamoDB state costs
    boto3's import only when a stateful rule asks something, not at every cold start."""

    def __init__(self, factory: Callable[[], DetectionState]) -> None:
        self._factory = factory
        self._state: DetectionState | None = None

    @property
    def backend(self) -> DetectionState:
        if self._state is None:
            self._state = self._factory()
        return self._state

    def first_seen(self, namespace: str, entity: str, value: str, at: float, ttl: float) -> Sighting:
        return self.backend.first_seen(namespace, entity, value, at, ttl)

    def tally(self, namespace: str, key: str, member: str, at: float, window: float) -> Tally:
        return self.backend.tally(namespace, key, member, at, window)

    def tally_all(self, namespace: str, key: str, members: Sequence[str], at: float, window: float) -> Tally:
        return self.backend.tally_all(namespace, key, members, at, window)

    def first_in_window(self, namespace: str, key: str, at: float, window: float) -> bool:
        return self.backend.first_in_window(namespace, key, at, window)

    def first_in_window_here(self, namespace: str, key: str, at: float, window: float) -> bool:
        return self.backend.first_in_window_here(namespace, key, at, window)

    def remember(self, namespace: str, key: str, item: str, at: float, ttl: float) -> None:
        self.backend.remember(namespace, key, item, at, ttl)

    def recall(self, namespace: str, key: str, since: float, until: float) -> list[tuple[float, str]]:
        return self.backend.recall(namespace, key, since, until)
