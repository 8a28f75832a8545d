"""Bounded retries with exponential backoff and full jitter, for transient delivery failures.

A server that says when to come back (HTTP ``Retry-After``, kept on the error as ``retry_after``)
is waited for at least that long; one that asks for more than ``max_retry_after`` is not retried
here: the failure stays transient, so the caller (the Lambda's event source) delivers it again later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from trailguard.core.exceptions import ChannelError

T = TypeVar("T")


class RetryPolicy(NamedTuple):
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # Longer than this, waiting in the function costs more than AWS redelivering the event later.
    max_retry_after: float = 30.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to the exponential cap (attempt counts from 1)."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return float(cap * rand())

    def wait(self, attempt: int, exc: ChannelError, rand: Callable[[], float] = random.random) -> float | None:
        """How long to wait before the next attempt; None: do not retry (the server asks for too long)."""
        backoff = self.delay(attempt, rand)
        asked = getattr(exc, "retry_after", None)
        if asked is None:
            return backoff
        if asked > self.max_retry_after:
            return None
        return max(backoff, float(asked))


def call_with_retry(
    operation: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, ChannelError], None] | None = None,
) -> tuple[T, int]:
    """Run ``operation`` until it succeeds, fails permanently, or the attempts run out.

    Returns the result and the number of attempts made; re-raises the last ``ChannelError``.
    """
    attempt = 1
    while True:
        try:
            return operation(), attempt
        except ChannelError as exc:
            wait = policy.wait(attempt, exc) if exc.transient and attempt < policy.attempts else None
            if wait is None:
                exc.attempts = attempt
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(wait)
            attempt += 1
