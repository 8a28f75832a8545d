"""The SES API email channel: sent through moto's sesv2 and parsed back from the raw message moto stored.

What moto does not model (configuration sets, throttling, AWS-side failures) is checked against
real HTTP answers: the sesv2 client pointed at the recording server, which answers as SES does.
"""

from __future__ import annotations

import base64
import json
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels.ses_email import SesEmailChannel
from trailguard.services.notification_service import NotificationService
from trailguard.services.rendering.email import render_email
from trailguard.services.retry import RetryPolicy
from trailguard.utils.aws_helpers import AwsClients

from .http_server import RecordingServer, Reply, closed_port_url
from .test_channel_smtp import (
    DATA,
    INJECTION,
    RECIPIENTS,
    REGION,
    SENDER,
    SingleTryAws,
    same_text,
    text_of,
)
from .test_channels_http import HOSTILE, LOW, NORMAL


@pytest.fixture
def ses(fake_aws: AwsClients) -> ChannelContext:
    """moto's SES with the sender's address verified (sesv2 CreateEmailIdentity)."""
    context = ChannelContext(AwsClients(region="us-east-1"))  # the channel's region must win over this
    context.aws.client("sesv2", REGION).create_email_identity(EmailIdentity="alerts@example.com")
    return context


def ses_channel(context: ChannelContext, **options: Any) -> SesEmailChannel:
    settings = {"type": "ses", "name": "ses-email", "sender": SENDER, "recipients": RECIPIENTS, "region": REGION}
    channel = build_channel({**settings, **options}, "ses test", context)
    assert isinstance(channel, SesEmailChannel)
    return channel


def sent_raw() -> list[Any]:
    """The raw messages moto's SES backend accepted (sesv2 stores them in the SES v1 backend)."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def parse(raw: str) -> EmailMessage:
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_alert_is_sent_as_raw_mime_and_parses_back(ses: ChannelContext) -> None:
    receipt = ses_channel(ses).send(Alert((NORMAL,)))
    [stored] = sent_raw()
    assert receipt.startswith(f"SES message {stored.id} <trailguard.")
    assert stored.source == SENDER
    assert {"secops@example.com", "On-call Team <oncall@example.org>"} <= set(stored.destinations)

    message = parse(stored.raw_data)
    rendered = render_email(Alert((NORMAL,)))
    assert message["From"] == "Trailguard Alerts <alerts@example.com>"
    assert message["To"] == "secops@example.com, On-call Team <oncall@example.org>"
    assert message["Subject"] == rendered.subject
    assert message["Message-ID"] == receipt.rsplit(" ", 1)[1]
    assert message["Date"] and message["X-Trailguard-Severity"] == "CRITICAL"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert same_text(text_of(message, "plain"), rendered.text)
    assert same_text(text_of(message, "html"), rendered.html)


def test_hostile_values_arrive_escaped_and_add_no_recipient(ses: ChannelContext) -> None:
    channel = ses_channel(ses)
    channel.send(Alert((HOSTILE,)))
    channel.send(Alert((INJECTION,)))
    hostile, injected = sent_raw()
    html = text_of(parse(hostile.raw_data), "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    # moto adds the addresses of To/Cc/Bcc headers to the destinations, as SES does: an injected
    # Bcc would show up here.
    assert not any(DATA["victim"] in destination for destination in injected.destinations)
    message = parse(injected.raw_data)
    assert "bcc" not in {name.lower() for name in message}
    assert message["X-Trailguard-Rule"] == "iam.user-created Bcc: victim@example.com"


def test_an_unverified_sender_is_rejected_permanently(ses: ChannelContext) -> None:
    channel = ses_channel(ses, sender=DATA["not_verified_sender"])
    service = NotificationService([channel], retry=RetryPolicy(attempts=3), sleep=lambda _s: None)
    report = service.notify([LOW], raise_on_undelivered=False)
    outcome = report.channel("ses-email")
    assert outcome.attempts == 1 and outcome.failed
    assert "MessageRejected" in outcome.errors[0] and DATA["not_verified_sender"] in outcome.errors[0]
    assert sent_raw() == []


@pytest.mark.usefixtures("fake_aws_env")
def test_the_request_carries_the_configuration_set_and_the_raw_bytes() -> None:
    with RecordingServer([Reply(200, b'{"MessageId": "0100-abc"}', content_type="application/json")]) as server:
        context = ChannelContext(AwsClients(region=REGION, endpoint_url=server.url))
        receipt = ses_channel(context, configuration_set="alerts-tracking").send(Alert((LOW,)))
    [request] = server.requests
    assert request.method == "POST" and request.path == "/v2/email/outbound-emails"
    assert "/eu-west-1/ses/" in request.headers["authorization"], "signed for the channel's region"
    body = request.json()
    assert body["ConfigurationSetName"] == "alerts-tracking"
    assert body["FromEmailAddress"] == SENDER
    assert body["Destination"] == {"ToAddresses": RECIPIENTS}
    message = parse(base64.b64decode(body["Content"]["Raw"]["Data"]).decode("ascii"))
    assert message["X-Trailguard-Rule"] == LOW.rule_id
    assert receipt == f"SES message 0100-abc {message['Message-ID']}"


def ses_error(status: int, code: str, text: str) -> Reply:
    return Reply(
        status,
        json.dumps({"message": text}).encode(),
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
        content_type="application/json",
    )


@pytest.mark.parametrize(
    ("reply", "transient", "code"),
    [
        (
            ses_error(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
            True,
            "TooManyRequestsException",
        ),
        (ses_error(500, "InternalFailure", "internal error"), True, "InternalFailure"),
        (ses_error(503, "ServiceUnavailable", "unavailable"), True, "ServiceUnavailable"),
        (ses_error(400, "MessageRejected", "Email address is not verified."), False, "MessageRejected"),
        (ses_error(400, "MailFromDomainNotVerifiedException", "not verified"), False, "MailFromDomainNotVerified"),
        (ses_error(403, "AccessDeniedException", "not authorized"), False, "AccessDeniedException"),
        (ses_error(400, "SendingPausedException", "sending paused"), False, "SendingPausedException"),
        (ses_error(404, "NotFoundException", "no such configuration set"), False, "NotFoundException"),
    ],
)
@pytest.mark.usefixtures("fake_aws_env")
def test_ses_errors_map_to_transient_or_permanent(reply: Reply, transient: bool, code: str) -> None:
    with RecordingServer([reply]) as server:
        context = ChannelContext(SingleTryAws(region=REGION, endpoint_url=server.url))
        with pytest.raises(ChannelError) as caught:
            ses_channel(context).send(Alert((NORMAL,)))
    assert caught.value.transient is transient
    assert code in str(caught.value) and REGION in str(caught.value)
    assert len(server.requests) == 1 and server.requests[0].path == "/v2/email/outbound-emails"


@pytest.mark.usefixtures("fake_aws_env")
def test_an_unreachable_endpoint_is_transient() -> None:
    context = ChannelContext(SingleTryAws(region=REGION, endpoint_url=closed_port_url()))
    with pytest.raises(ChannelError) as caught:
        ses_channel(context).send(Alert((NORMAL,)))
    assert caught.value.transient and "EndpointConnectionError" in str(caught.value)


def test_defaults_and_description() -> None:
    channel = build_channel(
        {"type": "ses", "sender": SENDER, "recipients": ["a@example.com"]},
        "ses test",
        ChannelContext(AwsClients(region="ca-central-1")),
    )
    assert isinstance(channel, SesEmailChannel)
    assert (channel.name, channel.region, channel.configuration_set) == ("ses", "ca-central-1", "")
    assert channel.describe() == "ses channel 'ses' (SES API in ca-central-1)"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"sender": None}, "sender: is required"),
        ({"recipients": None}, "recipients: is required"),
        ({"recipients": ["ops@example.com\nBcc: victim@example.com"]}, "recipients: must not contain control"),
        ({"region": "eu_west_1"}, "region: must be an AWS region"),
        ({"configuration_set": "has spaces"}, "configuration_set: must be an SES configuration set name"),
        ({"secret_id": "x"}, "secret_id: unknown option"),
    ],
)
def test_bad_settings_name_the_key(options: dict[str, Any], expected: str) -> None:
    settings: dict[str, Any] = {"type": "ses", "sender": SENDER, "recipients": RECIPIENTS, **options}
    settings = {key: value for key, value in settings.items() if value is not None}
    with pytest.raises(ConfigError) as caught:
        build_channel(settings, "channels entry 2", ChannelContext(AwsClients(region=REGION)))
    assert f"channels entry 2: {expected}" in str(caught.value)
