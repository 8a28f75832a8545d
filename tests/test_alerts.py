"""Grouping a batch into alerts, and the retry policy, as pure functions."""

from __future__ import annotations

import pytest

from trailguard.core.enums import Severity
from trailguard.core.exceptions import ChannelError
from trailguard.examples import example_findings
from trailguard.services.alerts import Alert, group_alerts
from trailguard.services.retry import RetryPolicy, call_with_retry

from .clock import Clock

FINDINGS = example_findings()


def test_burst_becomes_individual_alerts_then_one_digest() -> None:
    alerts = group_alerts(FINDINGS, max_individual=5)
    assert len(alerts) == 6
    assert all(not a.digest and len(a.findings) == 1 for a in alerts[:5])
    assert alerts[5].digest and len(alerts[5].findings) == len(FINDINGS) - 5
    individual = [a.first.severity for a in alerts[:5]]
    assert individual == [Severity.CRITICAL] * 5, "the most severe findings go out on their own"
    assert sorted(f.rule_id for a in alerts for f in a.findings) == sorted(f.rule_id for f in FINDINGS)
    assert alerts[5].severity is max(f.severity for f in alerts[5].findings)


@pytest.mark.parametrize(("count", "limit", "expected"), [(0, 5, 0), (3, 5, 3), (6, 5, 6), (7, 5, 6), (4, 0, 1)])
def test_group_sizes(count: int, limit: int, expected: int) -> None:
    alerts = group_alerts(FINDINGS[:count], max_individual=limit)
    assert len(alerts) == expected
    assert sum(len(a.findings) for a in alerts) == count
    assert all(not a.digest for a in alerts if len(a.findings) == 1)


def test_alert_defaults() -> None:
    alert = Alert((FINDINGS[0],))
    assert not alert.digest and not alert.test and alert.first is FINDINGS[0]


def test_retry_retries_transient_errors_with_bounded_jittered_backoff(clock: Clock) -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ChannelError("connection reset", transient=True)
        return "ok"

    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=3.0)
    assert call_with_retry(flaky, policy, sleep=clock.sleep) == ("ok", 3)
    assert len(clock.slept) == 2 and 0 <= clock.slept[0] <= 1.0 and 0 <= clock.slept[1] <= 2.0
    assert all(policy.delay(n, rand=lambda: 1.0) <= 3.0 for n in range(1, 20)), "capped"


def test_retry_gives_up_and_never_retries_permanent_errors(clock: Clock) -> None:

    def down() -> str:
        raise ChannelError("timed out", transient=True)

    with pytest.raises(ChannelError) as caught:
        call_with_retry(down, RetryPolicy(attempts=3), sleep=clock.sleep)
    assert caught.value.attempts == 3 and len(clock.slept) == 2

    def rejected() -> str:
        raise ChannelError("535 authentication failed", transient=False)

    with pytest.raises(ChannelError) as caught:
        call_with_retry(rejected, RetryPolicy(attempts=3), sleep=clock.sleep)
    assert caught.value.attempts == 1 and len(clock.slept) == 2
