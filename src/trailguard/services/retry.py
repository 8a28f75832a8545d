"""Bounded retries with exponential backoff and full jitter, for transient delivery failures."""

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

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to the exponential cap (attempt counts from 1)."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return float(cap * rand())


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
            if not exc.transient or attempt >= policy.attempts:
                exc.attempts = attempt
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(policy.delay(attempt))
            attempt += 1
