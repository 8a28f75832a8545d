"""One SMTP session for many alerts (services/channels/smtp_email.py), against the real aiosmtpd
server of tests/smtp_server.py with STARTTLS and AUTH: what the server sees is counted there.

In a batch and across invocations of one container, the alerts share one session (one TLS
handshake, one AUTH); a session the server closed between invocations, with a 421 or without a
word, or one idle too long, is replaced and the alert still arrives, exactly once.
"""

from __future__ import annotations

import json

import pytest

from trailguard import main
from trailguard.core.event_types import Finding
from trailguard.services.alerts import Alert
from trailguard.services.channels.smtp_email import MAX_IDLE_SECONDS, NOOP_AFTER_SECONDS, SmtpEmailChannel

from .clock import Clock
from .lambda_world import RULE, World, sg_event
from .smtp_server import Script, ServerFactory, SmtpServer, smtp_server_factory
from .test_channel_smtp import CREDENTIALS, Aws, aws, service, smtp_channel
from .test_channels_http import NORMAL

__all__ = ["aws", "smtp_server_factory"]  # the fixtures, imported so pytest finds them here

IDLE_TIMEOUT_REPLY = "421 4.4.2 smtp.test Error: timeout exceeded"


def one_session(server: SmtpServer, messages: int) -> None:
    """The server saw one session: TLS once, one successful AUTH over it, ``messages`` messages."""
    [session] = server.sessions
    assert session.starttls and session.tls_version is not None
    assert [(a.success, a.over_tls) for a in session.auth] == [(True, True)]
    assert len(session.messages) == messages
    assert all(m.over_tls and m.login == session.auth[0].login for m in session.messages)


def sweep(flow_logs: int) -> list[Finding]:
    """``flow_logs`` findings of one event, each its own alert (below max_individual_alerts)."""
    return [
        NORMAL._replace(resource=NORMAL.resource._replace(id=f"fl-{n:04d}", arn=""), title=f"flow log {n}")
        for n in range(flow_logs)
    ]


# -- the channel -----------------------------------------------------------------------------------
def test_the_alerts_of_a_batch_share_one_session(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    findings = sweep(4)
    report = service(smtp_channel(aws.context, server)).notify(findings)
    assert report.channel("email").messages == 4
    one_session(server, 4)
    assert server.sessions[0].noops == 0, "back to back, the session is used as it is"


def test_an_idle_session_is_checked_with_noop_and_reused(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    clock = channel.clock = Clock()
    channel.send(Alert((NORMAL,)))
    clock.advance(NOOP_AFTER_SECONDS + 1)
    channel.send(Alert((NORMAL,)))
    one_session(server, 2)
    assert server.sessions[0].noops == 1


@pytest.mark.parametrize("reply", [None, IDLE_TIMEOUT_REPLY], ids=["silent", "421"])
@pytest.mark.parametrize("idle", [0.0, NOOP_AFTER_SECONDS + 1], ids=["at-once", "after-noop-time"])
def test_a_session_the_server_closed_is_replaced_and_the_alert_arrives_once(
    aws: Aws, smtp_server_factory: ServerFactory, reply: str | None, idle: float
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    clock = channel.clock = Clock()
    channel.send(Alert((NORMAL,)))
    assert server.hang_up(reply) == 1
    clock.advance(idle)
    receipt = channel.send(Alert((NORMAL,)))  # no retry policy here: it must work the first time
    first, second = server.sessions
    assert first.closed and len(first.messages) == 1
    assert [m.parsed()["Message-ID"] for m in second.messages] == [receipt]
    assert second.starttls and [a.success for a in second.auth] == [True]


def test_a_session_idle_too_long_is_closed_without_a_noop(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    clock = channel.clock = Clock()
    channel.send(Alert((NORMAL,)))
    clock.advance(MAX_IDLE_SECONDS + 1)
    channel.send(Alert((NORMAL,)))
    first, second = server.sessions
    assert first.noops == 0 and first.quit and len(first.messages) == 1 and len(second.messages) == 1


def test_a_failed_message_closes_the_session_and_the_retry_opens_a_new_one(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(Script(data_failures=1), **CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    outcome = service(channel).notify([NORMAL]).channel("email")
    assert outcome.attempts == 2 and outcome.messages == 1
    first, second = server.sessions
    assert first.messages == [] and len(second.messages) == 1
    channel.send(Alert((NORMAL,)))
    assert len(server.sessions) == 2 and len(second.messages) == 2, "the good session goes on"


def test_close_says_quit_and_the_next_send_opens_a_session(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel: SmtpEmailChannel = smtp_channel(aws.context, server)
    channel.send(Alert((NORMAL,)))
    channel.close()
    channel.close()  # again: nothing to close
    channel.send(Alert((NORMAL,)))
    first, second = server.sessions
    assert first.quit and not second.quit
    assert [len(s.messages) for s in server.sessions] == [1, 1]


# -- the Lambda --------------------------------------------------------------------------------------
def invoke(world: World, *numbers: int) -> None:
    """One SQS batch of the world-open security group event, once per number; all delivered."""
    ids = world.poller.send(*(json.dumps(sg_event(n)) for n in numbers))
    assert world.poller.poll() == (ids, [])


def test_one_session_serves_a_batch_and_the_next_invocation(world: World) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    invoke(world, 1, 2, 3)
    invoke(world, 4)
    one_session(server, 4)
    assert [e["rule_ids"] for e in world.events()] == [[RULE]] * 4
    assert {e["outcome"] for e in world.events()} == {"delivered"}


def test_a_server_that_hung_up_between_invocations_still_gets_the_next_alert(world: World) -> None:
    server = world.start_smtp("smtp")
    state = world.new_container()
    invoke(world, 1)
    assert server.hang_up(IDLE_TIMEOUT_REPLY) == 1  # the server's idle timeout, while the container slept
    notifier = state.delivery.notifier
    assert notifier is not None
    [channel] = notifier.channels
    assert isinstance(channel, SmtpEmailChannel)
    channel.clock = Clock(channel.clock() + NOOP_AFTER_SECONDS + 1)  # long enough for a NOOP
    invoke(world, 2)
    first, second = server.sessions
    assert first.closed and len(first.messages) == 1 and len(second.messages) == 1
    assert world.events()[-1]["outcome"] == "delivered"
    assert main.container() is state, "the same container"
