"""The tests' clock: time that moves only when a test moves it.

A ``Clock`` is a callable returning the time in seconds, so it goes wherever the code takes a
``time.time`` or ``time.monotonic`` (the state store, the secret cache, the SMTP test server, a
Lambda context's deadline). ``advance`` moves it on (or a test sets ``now``); ``sleep`` is a
``time.sleep`` that returns at once, having moved the clock and recorded the wait in ``slept``
(retry backoff, read by the test instead of waited). The ``clock`` fixture (conftest) is one, at
``START``.

    clock = Clock()
    store = DynamoDBStore(table, aws, clock=clock)
    clock.advance(60)
"""

from __future__ import annotations

START = 1_793_700_000.0  # 2026-11-03T08:00:00Z: the day of the tests' events


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
