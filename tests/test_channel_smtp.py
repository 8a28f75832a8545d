"""The SMTP email channel against a real aiosmtpd server on 127.0.0.1 (STARTTLS, AUTH), secrets in moto.

Every message is parsed back from what the server received. The server (tests/smtp_server.py) can
be busy, fail, refuse credentials, recipients or the message; the notification service runs with
a tiny retry policy and an injected sleep, so the retry tests take milliseconds.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import pytest

from trailguard.core.exceptions import ChannelError, ConfigError, DeliveryError
from trailguard.services.alerts import Alert
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels.smtp_email import SmtpEmailChannel
from trailguard.services.email_message import addr_spec, build_message, header_text
from trailguard.services.notification_service import NotificationService
from trailguard.services.rendering.email import render_email
from trailguard.services.retry import RetryPolicy
from trailguard.services.secrets import SecretCache
from trailguard.utils.aws_helpers import AwsClients

from .clock import Clock
from .conftest import DATA_DIR
from .http_server import RecordingServer, Reply
from .smtp_server import AuthAttempt, Script, ServerFactory, SmtpServer, smtp_server_factory
from .test_channels_http import HOSTILE, LOW, NORMAL

__all__ = ["smtp_server_factory"]  # the fixture, imported so pytest finds it here

DATA = json.loads((DATA_DIR / "email_channel.json").read_text(encoding="utf-8"))
SENDER: str = DATA["sender"]
RECIPIENTS: list[str] = DATA["recipients"]
SECRET_ID: str = DATA["secret_id"]
REGION = "eu-west-1"
TINY_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001)
TTL = 300.0


class Credentials(NamedTuple):
    username: str
    password: str

    def json(self) -> str:
        return json.dumps(self._asdict())


CREDENTIALS = Credentials(**DATA["credentials"])
ROTATED = Credentials(**DATA["rotated_credentials"])
WRONG = Credentials(**DATA["wrong_credentials"])
INJECTION = HOSTILE._replace(**DATA["header_injection"])


class Aws(NamedTuple):
    context: ChannelContext
    secrets: SecretCache  # its TTL runs on the ``clock`` fixture
    client: Any  # the Secrets Manager client the test uses to create and rotate the secret

    def put(self, credentials: Credentials) -> None:
        self.client.put_secret_value(SecretId=SECRET_ID, SecretString=credentials.json())


class SingleTryAws(AwsClients):
    """AWS clients that make one attempt: the SDK's own backoff on throttling would cost seconds per test."""

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
        return boto3.client(service, region_name=region or self.region, endpoint_url=self.endpoint_url, config=config)


def make_context(clock: Clock, endpoint_url: str | None = None) -> tuple[ChannelContext, SecretCache]:
    aws = SingleTryAws(region=REGION, endpoint_url=endpoint_url) if endpoint_url else AwsClients(region=REGION)
    secrets = SecretCache(aws, ttl_seconds=TTL, clock=clock)
    return ChannelContext(aws, secrets), secrets


@pytest.fixture
def aws(fake_aws: AwsClients, clock: Clock) -> Aws:
    """moto's Secrets Manager holding the SMTP credentials, and a context whose cache has a test clock."""
    context, secrets = make_context(clock)
    client = context.aws.client("secretsmanager")
    client.create_secret(Name=SECRET_ID, SecretString=CREDENTIALS.json())
    return Aws(context, secrets, client)


def smtp_channel(context: ChannelContext, server: SmtpServer | None = None, **options: Any) -> SmtpEmailChannel:
    settings: dict[str, Any] = {
        "type": "smtp",
        "name": "email",
        "sender": SENDER,
        "recipients": RECIPIENTS,
        "secret_id": SECRET_ID,
    }
    if server is not None:
        settings.update(server.channel_options())
    settings.update(options)
    channel = build_channel(settings, "smtp test", context)
    assert isinstance(channel, SmtpEmailChannel)
    return channel


def service(channel: SmtpEmailChannel, clock: Clock | None = None) -> NotificationService:
    """Retries sleep on ``clock``: the test's, when it reads the waits."""
    return NotificationService([channel], retry=TINY_RETRY, sleep=(clock or Clock()).sleep)


def text_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert isinstance(part, EmailMessage), f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def same_text(received: str, rendered: str) -> bool:
    """MIME text parts end with a line break; apart from that they must be what was rendered."""
    return received.rstrip("\n") == rendered.replace("\r\n", "\n").rstrip("\n")


# -- a message that arrives ------------------------------------------------------------------------
def test_the_alert_arrives_over_starttls_after_auth_with_headers_and_both_parts(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(username=CREDENTIALS.username, password=CREDENTIALS.password)
    channel = smtp_channel(aws.context, server)
    before = datetime.now(UTC).replace(microsecond=0)
    receipt = channel.send(Alert((NORMAL,)))

    [session] = server.sessions
    assert session.starttls and session.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert session.auth == [AuthAttempt("PLAIN", CREDENTIALS.username, success=True, over_tls=True)]
    [received] = server.messages
    assert received.over_tls and received.login == CREDENTIALS.username
    assert received.mail_from == "alerts@example.com"
    assert received.rcpt_tos == ["secops@example.com", "oncall@example.org"]

    message = received.parsed()
    rendered = render_email(Alert((NORMAL,)))
    assert message["From"] == "Trailguard Alerts <alerts@example.com>"
    assert message["To"] == "secops@example.com, On-call Team <oncall@example.org>"
    assert message["Subject"] == rendered.subject and rendered.subject.startswith("[CRITICAL]")
    assert message["Message-ID"] == receipt and receipt.endswith("@example.com>")
    assert before <= parsedate_to_datetime(message["Date"]) <= datetime.now(UTC)
    assert message["X-Trailguard-Severity"] == "CRITICAL"
    assert message["X-Trailguard-Rule"] == NORMAL.rule_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert same_text(text_of(message, "plain"), rendered.text) and NORMAL.summary in rendered.text
    assert same_text(text_of(message, "html"), rendered.html)
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 998, "SMTP line limit"


def test_the_message_id_is_the_same_for_every_send_of_an_alert_and_new_for_a_test_alert() -> None:
    def message_id(alert: Alert) -> str:
        message = build_message(alert, "trailguard <alerts@example.com>", ["secops@example.com"])
        # SES replaces the Message-ID; the alert id header, which it keeps, carries the same identity.
        assert str(message["Message-ID"]) == f"<trailguard.{message['X-Trailguard-Alert-ID']}@example.com>"
        return str(message["Message-ID"])

    alert = Alert((NORMAL,))
    assert message_id(alert) == message_id(Alert((NORMAL,))) and message_id(alert).endswith("@example.com>")
    assert message_id(alert) != message_id(Alert((LOW,)))
    assert message_id(Alert((NORMAL, LOW), digest=True)) == message_id(Alert((LOW, NORMAL), digest=True))
    assert message_id(Alert((NORMAL, LOW), digest=True)) != message_id(Alert((NORMAL, LOW)))
    test_alert = alert._replace(test=True)
    assert message_id(test_alert) != message_id(test_alert)


def test_a_server_offering_only_auth_login_gets_auth_login(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(Script(mechanisms=("LOGIN",)), **CREDENTIALS._asdict())
    smtp_channel(aws.context, server).send(Alert((LOW,)))
    assert server.auth_attempts == [AuthAttempt("LOGIN", CREDENTIALS.username, success=True, over_tls=True)]
    [received] = server.messages
    assert received.parsed()["X-Trailguard-Severity"] == "LOW"


def test_a_digest_is_one_message_naming_every_rule(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    smtp_channel(aws.context, server).send(Alert((LOW, NORMAL, LOW), digest=True))
    [received] = server.messages
    message = received.parsed()
    assert message["X-Trailguard-Rule"] == f"{LOW.rule_id}, {NORMAL.rule_id}"
    assert message["X-Trailguard-Severity"] == "CRITICAL"
    assert message["X-Trailguard-Digest"] == "3"


# -- hostile values --------------------------------------------------------------------------------
def test_hostile_values_are_escaped_in_html_and_cannot_inject_headers(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    channel.send(Alert((HOSTILE,)))
    channel.send(Alert((INJECTION,)))
    hostile, injected = server.messages

    html = text_of(hostile.parsed(), "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html
    assert "<script>alert(1)</script>" in text_of(hostile.parsed(), "plain"), "plain text needs no escaping"

    victim = DATA["victim"]
    assert injected.rcpt_tos == ["secops@example.com", "oncall@example.org"]
    headers, _, body = injected.data.partition(b"\r\n\r\n")
    header_names = [line.split(b":")[0].lower() for line in headers.split(b"\r\n") if line[:1] not in b" \t"]
    assert b"bcc" not in header_names and b"x-injected" not in header_names
    assert header_names.count(b"to") == 1 and header_names.count(b"subject") == 1
    message = injected.parsed()
    assert victim not in message["To"]
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["X-Trailguard-Rule"] == "iam.user-created Bcc: victim@example.com"
    assert "<h1>forged body</h1>" not in text_of(message, "html")
    assert not body.startswith(b"<h1>"), "the header block did not end early"


def test_the_subject_arrives_exactly_as_rendered_even_when_it_looks_encoded(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    lookalike = DATA["encoded_word_lookalike"]
    finding = LOW._replace(summary=f"{lookalike} ünïcödé · 日本語 " + "long " * 30)
    server = smtp_server_factory(**CREDENTIALS._asdict())
    smtp_channel(aws.context, server).send(Alert((finding,)))
    [received] = server.messages
    subject = received.parsed()["Subject"]
    assert subject == header_text(render_email(Alert((finding,))).subject)
    assert lookalike in subject, "shown as written, not decoded by the reader's mail client"
    assert max(len(line) for line in received.data.split(b"\r\n\r\n")[0].split(b"\r\n")) <= 78


# -- STARTTLS is required --------------------------------------------------------------------------
def test_a_server_without_starttls_is_a_permanent_failure_and_gets_no_credentials(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(Script(starttls=False), **CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    with pytest.raises(ChannelError) as caught:
        channel.send(Alert((NORMAL,)))
    assert not caught.value.transient
    assert "STARTTLS" in str(caught.value) and f"{server.host}:{server.port}" in str(caught.value)
    [session] = server.sessions
    assert session.ehlo, "the client did talk to the server"
    assert session.auth == [] and not session.starttls and server.messages == []

    report = service(channel).notify([NORMAL], raise_on_undelivered=False)
    assert report.channel("email").attempts == 1, "permanent: not retried"
    assert all(s.auth == [] for s in server.sessions)


def test_starttls_can_be_turned_off_explicitly_for_a_trusted_relay(
    aws: Aws, smtp_server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server_factory(Script(starttls=False), **CREDENTIALS._asdict())
    smtp_channel(aws.context, server, starttls=False).send(Alert((LOW,)))
    [session] = server.sessions
    assert not session.starttls and session.auth[0].success and not session.auth[0].over_tls
    assert len(server.messages) == 1
    assert "starttls = false: credentials and alerts travel unencrypted" in caplog.text


def test_a_certificate_the_client_does_not_trust_is_refused_before_auth(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server, ca_file=None)  # the system's CAs do not know the test CA
    with pytest.raises(ChannelError) as caught:
        channel.send(Alert((NORMAL,)))
    assert not caught.value.transient and "certificate" in str(caught.value)
    assert server.auth_attempts == [] and server.messages == []


# -- retries ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("script", "code"),
    [
        (Script(busy_sessions=2), "421"),
        (Script(data_failures=2), "451"),
    ],
    ids=["421-at-ehlo", "451-at-data"],
)
def test_transient_replies_for_two_sessions_are_retried_until_delivered(
    aws: Aws, clock: Clock, smtp_server_factory: ServerFactory, script: Script, code: str
) -> None:
    server = smtp_server_factory(script, **CREDENTIALS._asdict())
    report = service(smtp_channel(aws.context, server), clock).notify([NORMAL])
    outcome = report.channel("email")
    assert outcome.attempts == 3 and outcome.messages == 1 and not outcome.failed
    assert len(clock.slept) == 2
    assert [s.replies[0][:3] for s in server.sessions[:2]] == [code, code]
    assert len(server.sessions) == 3 and len(server.messages) == 1
    assert aws.secrets.fetches == 1, "the credentials were cached across the attempts"


def test_a_server_that_stays_busy_gives_a_delivery_error_after_bounded_attempts(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(Script(data_failures=99), **CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    with pytest.raises(DeliveryError) as caught:
        service(channel).notify([NORMAL])
    assert "answered 451 to DATA" in str(caught.value) and server.host in str(caught.value)
    assert len(server.sessions) == TINY_RETRY.attempts and server.messages == []


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_server_that_is_down_is_transient_then_a_delivery_error(aws: Aws, clock: Clock) -> None:
    channel = smtp_channel(aws.context, host="127.0.0.1", port=closed_port(), timeout=2)
    with pytest.raises(ChannelError) as caught:
        channel.send(Alert((NORMAL,)))
    assert caught.value.transient and "could not be reached" in str(caught.value)
    assert f"127.0.0.1:{channel.port}" in str(caught.value)

    with pytest.raises(DeliveryError) as delivery:
        service(channel, clock).notify([NORMAL])
    assert "1 of 1 findings reached no channel" in str(delivery.value)
    assert len(clock.slept) == TINY_RETRY.attempts - 1


def test_a_server_that_never_answers_times_out_as_transient(aws: Aws) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections queue up; nobody ever says 220
        channel = smtp_channel(aws.context, host="127.0.0.1", port=silent.getsockname()[1], timeout=0.2)
        with pytest.raises(ChannelError) as caught:
            channel.send(Alert((NORMAL,)))
    assert caught.value.transient and "timed out after 0.2 s" in str(caught.value)


# -- rejections ------------------------------------------------------------------------------------
def test_one_rejected_recipient_does_not_stop_the_others(
    aws: Aws, smtp_server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server_factory(Script(rejected_recipients=frozenset({"oncall@example.org"})), **CREDENTIALS._asdict())
    receipt = smtp_channel(aws.context, server).send(Alert((NORMAL,)))
    [received] = server.messages
    assert received.rcpt_tos == ["secops@example.com"] and received.parsed()["Message-ID"] == receipt
    assert "oncall@example.org (550)" in caplog.text


def test_all_recipients_rejected_is_permanent(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    script = Script(rejected_recipients=frozenset(addr_spec(r) for r in RECIPIENTS))
    server = smtp_server_factory(script, **CREDENTIALS._asdict())
    with pytest.raises(ChannelError) as caught:
        smtp_channel(aws.context, server).send(Alert((NORMAL,)))
    assert not caught.value.transient and "refused every recipient (SMTP 550)" in str(caught.value)


def test_a_rejected_message_is_permanent_and_says_why(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    reply = "554 Message rejected: Email address is not verified."
    server = smtp_server_factory(Script(message_reply=reply), **CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    report = service(channel).notify([NORMAL], raise_on_undelivered=False)
    outcome = report.channel("email")
    assert outcome.attempts == 1 and outcome.failed and not outcome.delivered
    assert outcome.errors[0].endswith("answered 554 to DATA: Message rejected: Email address is not verified.")


# -- credentials: rotation and refresh -------------------------------------------------------------
def test_a_rotated_secret_is_read_again_after_535_and_the_send_succeeds(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    channel.send(Alert((NORMAL,)))  # the old credentials are now cached
    assert aws.secrets.fetches == 1

    server.rotate(*ROTATED)  # the key was rotated: the server knows only the new one...
    aws.put(ROTATED)  # ...and the secret holds it, but the cache does not yet
    channel.send(Alert((LOW,)))  # the session logged in before the rotation goes on, as SES's do
    assert aws.secrets.fetches == 1 and len(server.sessions) == 1
    channel.close()  # a new session (a new container, or the server hung up) must log in again
    receipt = channel.send(Alert((LOW,)))

    assert aws.secrets.fetches == 2, "read again exactly once"
    assert [(a.login, a.success) for a in server.auth_attempts] == [
        (CREDENTIALS.username, True),
        (CREDENTIALS.username, False),
        (ROTATED.username, True),
    ]
    _first, _second, third = server.messages
    assert third.login == ROTATED.username and third.parsed()["Message-ID"] == receipt
    channel.send(Alert((LOW,)))
    assert aws.secrets.fetches == 2, "the fresh credentials are cached"


def test_535_with_an_unchanged_secret_fails_permanently_after_one_refresh(
    aws: Aws, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**WRONG._asdict())  # the secret holds CREDENTIALS: never accepted
    channel = smtp_channel(aws.context, server)
    report = service(channel).notify([NORMAL], raise_on_undelivered=False)
    outcome = report.channel("email")
    assert outcome.attempts == 1, "authentication failures are not retried"
    assert aws.secrets.fetches == 2, "one refresh"
    assert len(server.auth_attempts) == 1, "the same credentials are not tried twice"
    assert "SMTP 535" in outcome.errors[0] and SECRET_ID in outcome.errors[0]
    assert "same credentials" in outcome.errors[0]


def test_535_again_with_the_refreshed_secret_fails_permanently(aws: Aws, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**ROTATED._asdict())
    channel = smtp_channel(aws.context, server)
    aws.secrets.get_json(SECRET_ID)  # cached: CREDENTIALS
    aws.put(WRONG)  # the secret changes, to something the server does not accept either
    with pytest.raises(ChannelError) as caught:
        channel.send(Alert((NORMAL,)))
    assert not caught.value.transient and "also with the credentials read again" in str(caught.value)
    assert aws.secrets.fetches == 2
    assert [(a.login, a.success) for a in server.auth_attempts] == [
        (CREDENTIALS.username, False),
        (WRONG.username, False),
    ]


# -- no secret in any log or error -----------------------------------------------------------------
def test_failing_runs_never_show_the_credentials_in_logs_or_errors(
    aws: Aws, smtp_server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    aws.put(ROTATED)  # before the capture: the test's own request to store the secret is not the channel's
    caplog.set_level(logging.DEBUG)  # every logger, aiosmtpd's and botocore's included
    texts: list[str] = []
    scripts = [
        # The server names the login it refuses and echoes it in other replies: none of it may pass.
        Script(),
        Script(data_failures=99, data_failure_reply=f"451 4.3.0 Busy, {ROTATED.username} try later"),
        Script(message_reply=f"554 5.7.1 {ROTATED.username}/{ROTATED.password} may not send"),
        Script(busy_sessions=99),
    ]
    for index, script in enumerate(scripts):
        credentials = WRONG if index == 0 else ROTATED
        server = smtp_server_factory(script, **credentials._asdict())
        channel = smtp_channel(aws.context, server)
        try:
            channel.send(Alert((HOSTILE,)))
        except ChannelError as exc:
            texts += [str(exc), repr(exc)]
        with pytest.raises(DeliveryError) as caught:
            service(channel).notify([NORMAL, HOSTILE])
        texts += [str(caught.value), repr(caught.value)]
        report = service(channel).notify([NORMAL], raise_on_undelivered=False)
        texts += [error for outcome in report.outcomes for error in outcome.errors]
        assert server.sessions, "the failing runs really talked to the server"
    assert any("answered 554" in text for text in texts) and any("SMTP 535" in text for text in texts)

    # aiosmtpd's own log ("mail.log") is the server's side: it records the replies this test scripted
    # with the login in them. Everything else, botocore's DEBUG lines included, is the client's.
    records = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert any(record.name == "botocore.parsers" for record in records), "botocore's DEBUG log was captured"
    handler = logging.StreamHandler()
    texts += [handler.format(record) for record in records] + [record.getMessage() for record in records]
    texts += [str(record.exc_info[1]) for record in records if record.exc_info]
    everything = "\n".join(texts)
    assert "answered 451 to DATA" in everything and "<redacted>" in everything
    for credentials in (CREDENTIALS, ROTATED):
        plain = f"\0{credentials.username}\0{credentials.password}".encode()
        for secret in (
            credentials.username,
            credentials.password,
            base64.b64encode(credentials.username.encode()).decode(),
            base64.b64encode(credentials.password.encode()).decode(),
            base64.b64encode(plain).decode(),
        ):
            assert secret not in everything


# -- the secret cache ------------------------------------------------------------------------------
def test_the_secret_is_read_once_for_many_sends_and_again_after_the_ttl(
    aws: Aws, clock: Clock, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    channel = smtp_channel(aws.context, server)
    for _ in range(5):
        channel.send(Alert((LOW,)))
    assert aws.secrets.fetches == 1 and len(server.messages) == 5

    clock.advance(TTL - 1)
    channel.send(Alert((LOW,)))
    assert aws.secrets.fetches == 1, "still within the TTL"

    clock.advance(2)
    server.rotate(*ROTATED)
    aws.put(ROTATED)
    channel.send(Alert((LOW,)))
    assert aws.secrets.fetches == 2, "read again once the TTL ran out"
    # One session logged in for the first six; the new secret value logs in on a new one.
    assert [a.success for a in server.auth_attempts] == [True] * 2, "no 535: the TTL alone picked up the rotation"
    assert [len(s.messages) for s in server.sessions] == [6, 1]
    assert server.messages[-1].login == ROTATED.username


@pytest.mark.usefixtures("fake_aws_env")
def test_a_throttled_secrets_manager_is_transient_and_no_connection_is_made(
    clock: Clock, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    throttled = Reply(
        400,
        b'{"__type": "ThrottlingException", "message": "Rate exceeded"}',
        content_type="application/x-amz-json-1.1",
    )
    with RecordingServer([throttled]) as secrets_manager:
        context, _secrets = make_context(clock, endpoint_url=secrets_manager.url)
        with pytest.raises(ChannelError) as caught:
            smtp_channel(context, server).send(Alert((NORMAL,)))
    assert caught.value.transient
    assert "ThrottlingException" in str(caught.value) and SECRET_ID in str(caught.value)
    assert secrets_manager.requests[0].headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert server.sessions == []


@pytest.mark.usefixtures("fake_aws")
def test_a_missing_secret_is_permanent_and_named(clock: Clock, smtp_server_factory: ServerFactory) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    context, _secrets = make_context(clock)
    channel = smtp_channel(context, server, secret_id="trailguard/no-such-secret")
    report = service(channel).notify([NORMAL], raise_on_undelivered=False)
    outcome = report.channel("email")
    assert outcome.attempts == 1
    assert "trailguard/no-such-secret" in outcome.errors[0] and "ResourceNotFoundException" in outcome.errors[0]
    assert server.sessions == []


@pytest.mark.parametrize(
    "value",
    ["not json", '["a list"]', json.dumps({"username": DATA["credentials"]["username"]}), '{"username": 1}'],
    ids=["not-json", "a-list", "no-password", "not-strings"],
)
def test_a_malformed_secret_is_permanent_and_does_not_show_its_value(
    aws: Aws, smtp_server_factory: ServerFactory, value: str
) -> None:
    server = smtp_server_factory(**CREDENTIALS._asdict())
    aws.client.put_secret_value(SecretId=SECRET_ID, SecretString=value)
    with pytest.raises(ChannelError) as caught:
        smtp_channel(aws.context, server).send(Alert((NORMAL,)))
    assert not caught.value.transient and SECRET_ID in str(caught.value)
    assert CREDENTIALS.username not in str(caught.value) and value not in str(caught.value)
    assert server.sessions == []


# -- settings --------------------------------------------------------------------------------------
def test_defaults_point_at_the_ses_smtp_endpoint_of_the_region() -> None:
    context = ChannelContext(AwsClients(region="ap-southeast-2"))
    channel = smtp_channel(context)
    assert (channel.host, channel.port, channel.timeout, channel.starttls) == (
        "email-smtp.ap-southeast-2.amazonaws.com",
        587,
        10.0,
        True,
    )
    assert smtp_channel(context, region="eu-central-1").host == "email-smtp.eu-central-1.amazonaws.com"
    assert channel.describe() == "smtp channel 'email' (email-smtp.ap-southeast-2.amazonaws.com:587)"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"sender": None}, "sender: is required"),
        ({"secret_id": None}, "secret_id: is required"),
        ({"recipients": []}, "recipients: must not be empty"),
        ({"sender": "alerts@example.com\r\nBcc: victim@example.com"}, "sender: must not contain control characters"),
        ({"recipients": ["ok@example.com", "not an address"]}, "recipients: must be one email address"),
        ({"recipients": ["a@example.com, b@example.com"]}, "recipients: must be one email address"),
        ({"region": "Europe"}, "region: must be an AWS region"),
        ({"host": "smtp.example.com:587"}, "host: must be a host name"),
        ({"port": 0}, "port: must be between 1 and 65535"),
        ({"timeout": 0}, "timeout: must be more than 0 seconds"),
        ({"starttls": "yes"}, "starttls: must be true or false"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file: no such file"),
        ({"password": "x"}, "password: unknown option"),
    ],
)
def test_bad_settings_name_the_key(options: dict[str, Any], expected: str) -> None:
    settings: dict[str, Any] = {"type": "smtp", "sender": SENDER, "recipients": RECIPIENTS, "secret_id": SECRET_ID}
    settings.update(options)
    settings = {key: value for key, value in settings.items() if value is not None}
    with pytest.raises(ConfigError) as caught:
        build_channel(settings, "channels entry 1", ChannelContext(AwsClients(region=REGION)))
    assert f"channels entry 1: {expected}" in str(caught.value)


def test_the_email_modules_load_only_when_an_email_channel_is_configured() -> None:
    script = (
        "import sys, trailguard.main, trailguard.services.channels\n"
        "print(sorted(m for m in ('smtplib', 'trailguard.services.email_message',"
        " 'trailguard.services.channels.smtp_email') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
