"""The SNS channel: published in moto to a topic with an SQS subscriber, and read back from the queue.

Error mapping is checked against real HTTP answers: the SNS client pointed at the recording server,
which answers as SNS does when it throttles, fails, or refuses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from trailguard.core.exceptions import ChannelError, ConfigError, DeliveryError
from trailguard.services.alerts import Alert
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels import sns as sns_module
from trailguard.services.channels.sns import SnsChannel
from trailguard.services.notification_service import NotificationService
from trailguard.services.rendering.sns import render_sns
from trailguard.services.retry import RetryPolicy
from trailguard.utils.aws_helpers import AwsClients

from .http_server import RecordingServer, Reply
from .test_channels_http import HOSTILE, LOW, NORMAL

TOPIC_REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def fake_aws_region() -> str:
    return "us-east-1"  # the channel's default region differs from the topic's: it must come from the ARN


@pytest.fixture
def aws(fake_aws: AwsClients) -> ChannelContext:
    return ChannelContext(fake_aws)


def subscribed_queue(context: ChannelContext, topic_name: str, fifo: bool = False) -> tuple[str, str]:
    """A topic with an SQS queue subscribed to it: (topic ARN, queue URL)."""
    sns = context.aws.client("sns", TOPIC_REGION)
    sqs = context.aws.client("sqs", TOPIC_REGION)
    topic_attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    topic_arn = sns.create_topic(Name=topic_name, Attributes=topic_attributes)["TopicArn"]
    queue_name = topic_name.removesuffix(".fifo") + ("-queue.fifo" if fifo else "-queue")
    queue_url = sqs.create_queue(QueueName=queue_name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def delivered(context: ChannelContext, queue_url: str) -> list[dict[str, Any]]:
    """The SNS notifications (JSON envelopes) waiting in the queue."""
    sqs = context.aws.client("sqs", TOPIC_REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def sns_channel(context: ChannelContext, topic_arn: str, **options: Any) -> SnsChannel:
    channel = build_channel({"type": "sns", "name": "topic", "topic_arn": topic_arn, **options}, "sns test", context)
    assert isinstance(channel, SnsChannel)
    return channel


def test_the_alert_reaches_a_subscriber_with_subject_message_and_attributes(aws: ChannelContext) -> None:
    topic_arn, queue_url = subscribed_queue(aws, "trailguard-alerts")
    channel = sns_channel(aws, topic_arn)
    assert channel.region == TOPIC_REGION
    receipt = channel.send(Alert((NORMAL,)))
    assert receipt.startswith("SNS message ")
    [notification] = delivered(aws, queue_url)
    subject, message = render_sns(Alert((NORMAL,)))
    assert notification["TopicArn"] == topic_arn
    assert notification["Subject"] == subject and subject.startswith("[CRITICAL]")
    assert notification["Message"] == message and NORMAL.summary in message
    assert notification["MessageId"] == receipt.removeprefix("SNS message ")
    attributes = notification["MessageAttributes"]
    assert attributes["severity"] == {"Type": "String", "Value": "CRITICAL"}
    assert attributes["rule_id"] == {"Type": "String", "Value": NORMAL.rule_id}


def test_a_digest_carries_every_rule_id_and_the_highest_severity(aws: ChannelContext) -> None:
    topic_arn, queue_url = subscribed_queue(aws, "digests")
    sns_channel(aws, topic_arn).send(Alert((LOW, NORMAL, LOW), digest=True))
    [notification] = delivered(aws, queue_url)
    assert notification["MessageAttributes"]["severity"]["Value"] == "CRITICAL"
    assert notification["MessageAttributes"]["rule_id"]["Value"] == f"{LOW.rule_id},{NORMAL.rule_id}"


def test_hostile_text_arrives_as_a_safe_subject_and_an_encodable_message(aws: ChannelContext) -> None:
    topic_arn, queue_url = subscribed_queue(aws, "hostile")
    sns_channel(aws, topic_arn).send(Alert((HOSTILE,)))
    [notification] = delivered(aws, queue_url)
    subject = notification["Subject"]
    assert 0 < len(subject) <= 100 and all(" " <= ch <= "~" for ch in subject)
    assert "\ud800" not in notification["Message"], "the lone surrogate was replaced, not sent"
    assert "eve" in notification["Message"]


def test_an_oversized_message_is_cut_visibly_below_the_sns_limit(aws: ChannelContext) -> None:
    huge = NORMAL._replace(summary="x" * 300_000)
    topic_arn, queue_url = subscribed_queue(aws, "big")
    sns_channel(aws, topic_arn).send(Alert((huge,)))
    [notification] = delivered(aws, queue_url)
    assert len(notification["Message"].encode()) <= 256 * 1024, "rendering bounds what it produces"
    # The channel's own guard, for text that arrives over the limit whatever rendering does.
    cut = sns_module._message("y" * 300_000 + "\N{SNOWMAN}" * 10)
    assert len(cut.encode()) <= 256 * 1024
    assert cut.endswith("[... message truncated: too long for SNS ...]")


def test_fifo_topics_get_a_group_and_a_deduplication_id(aws: ChannelContext) -> None:
    topic_arn, queue_url = subscribed_queue(aws, "alerts.fifo", fifo=True)
    channel = sns_channel(aws, topic_arn)
    assert channel.fifo
    channel.send(Alert((NORMAL,)))
    [notification] = delivered(aws, queue_url)
    assert notification["Message"] == render_sns(Alert((NORMAL,)))[1]


def test_a_missing_topic_is_permanent_and_tried_once(aws: ChannelContext) -> None:
    channel = sns_channel(aws, f"arn:aws:sns:{TOPIC_REGION}:{ACCOUNT}:no-such-topic")
    service = NotificationService([channel], retry=RetryPolicy(attempts=3), sleep=lambda _s: None)
    with pytest.raises(DeliveryError) as caught:
        service.notify([NORMAL])
    assert "NotFound" in str(caught.value)
    report = service.notify([NORMAL], raise_on_undelivered=False)
    assert report.channel("topic").attempts == 1


def sns_error(status: int, code: str, sender: bool = True) -> Reply:
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        f"<Type>{'Sender' if sender else 'Receiver'}</Type><Code>{code}</Code><Message>{code} here</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return Reply(status, body.encode(), content_type="text/xml")


@pytest.mark.parametrize(
    ("reply", "transient", "code"),
    [
        (sns_error(400, "Throttling"), True, "Throttling"),
        (sns_error(500, "InternalError", sender=False), True, "InternalError"),
        (sns_error(403, "AuthorizationError"), False, "AuthorizationError"),
        (sns_error(400, "InvalidParameter"), False, "InvalidParameter"),
        (sns_error(404, "NotFound"), False, "NotFound"),
    ],
)
@pytest.mark.usefixtures("fake_aws_env")
def test_aws_errors_map_to_transient_or_permanent(reply: Reply, transient: bool, code: str) -> None:
    with RecordingServer([reply]) as server:
        context = ChannelContext(AwsClients(region="us-east-1", endpoint_url=server.url))
        channel = sns_channel(context, f"arn:aws:sns:{TOPIC_REGION}:{ACCOUNT}:alerts")
        with pytest.raises(ChannelError) as caught:
            channel.send(Alert((NORMAL,)))
    assert caught.value.transient is transient
    assert code in str(caught.value) and channel.topic_arn in str(caught.value)
    assert b"Action=Publish" in server.requests[0].body, "the request really reached the server"


@pytest.mark.usefixtures("fake_aws_env")
def test_an_unreachable_endpoint_is_transient() -> None:
    from .http_server import closed_port_url

    context = ChannelContext(AwsClients(region="us-east-1", endpoint_url=closed_port_url()))
    channel = sns_channel(context, f"arn:aws:sns:{TOPIC_REGION}:{ACCOUNT}:alerts")
    with pytest.raises(ChannelError) as caught:
        channel.send(Alert((NORMAL,)))
    assert caught.value.transient and "EndpointConnectionError" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "topic_arn: is required"),
        ({"topic_arn": "arn:aws:sqs:eu-west-1:123456789012:queue"}, "topic_arn: must be an SNS topic ARN"),
        ({"topic_arn": "alerts"}, "topic_arn: must be an SNS topic ARN"),
        ({"topic_arn": "arn:aws:sns:eu-west-1:123456789012:a", "region": "Europe"}, "region: must be an AWS region"),
    ],
)
def test_bad_settings_name_the_key(options: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_channel({"type": "sns", **options}, "sns test", ChannelContext())
    assert expected in str(caught.value)


def test_region_can_be_overridden() -> None:
    channel = sns_channel(ChannelContext(), "arn:aws-cn:sns:cn-north-1:123456789012:a", region="cn-northwest-1")
    assert channel.region == "cn-northwest-1"
    assert channel.describe() == "sns channel 'topic' (arn:aws-cn:sns:cn-north-1:123456789012:a)"
