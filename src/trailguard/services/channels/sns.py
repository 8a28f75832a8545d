"""An SNS topic: the plain-text alert (``rendering.sns.render_sns``), for email, SMS, SQS or Lambda subscribers.

Options: ``topic_arn`` (required); ``region`` (default: the ARN's). Every message carries the
attributes ``severity`` (``HIGH``...) and ``rule_id`` (for a digest, the distinct rule ids joined
by commas), so subscription filter policies can route by them. FIFO topics (``.fifo``) get a
message group and a deduplication id derived from the findings, so a redelivered batch is not
published twice.

Throttling and AWS-side failures are transient; a missing topic, missing permissions or a rejected
parameter are permanent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from trailguard.core.aws_ids import SNS_TOPIC_ARN
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.rendering.sns import printable_ascii, render_sns
from trailguard.utils.aws_helpers import botocore_error_is_transient, client_error_to_channel_error
from trailguard.utils.text import clip_bytes, one_line

# SNS limits: the whole message 256 KiB (attributes included), the subject 100 ASCII characters.
_MAX_MESSAGE_BYTES = 250 * 1024
_MAX_SUBJECT = 100
_TRUNCATED = "\n\n[... message truncated: too long for SNS ...]"
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "KMSThrottling",
    }
)


def _subject(text: str) -> str:
    """SNS rejects non-ASCII, control characters and empty subjects: keep printable ASCII only."""
    return one_line(printable_ascii(text))[:_MAX_SUBJECT] or "trailguard alert"


def _message(text: str) -> str:
    # Event text may hold lone surrogates (valid in JSON, not in UTF-8): the request could not be encoded.
    return clip_bytes(text, _MAX_MESSAGE_BYTES, _TRUNCATED)


class SnsChannel(Channel):
    kind = "sns"
    needs_aws = True

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        self.topic_arn = options.text("topic_arn")
        match = SNS_TOPIC_ARN.fullmatch(self.topic_arn)
        if not match:
            raise ConfigError(
                f"{options.where}: topic_arn: must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), "
                f"got {self.topic_arn!r}"
            )
        self.region = options.region("region", default=match["region"])
        self.fifo = self.topic_arn.endswith(".fifo")

    def send(self, alert: Alert) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        subject, message = render_sns(alert)
        rule_ids = ",".join(dict.fromkeys(f.rule_id for f in alert.findings))
        request: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": _subject(subject),
            "Message": _message(message),
            "MessageAttributes": {
                "severity": {"DataType": "String", "StringValue": alert.severity.name},
                "rule_id": {"DataType": "String", "StringValue": rule_ids},
            },
        }
        if self.fifo:
            keys = "\n".join(f.key for f in alert.findings)
            request["MessageGroupId"] = "trailguard"
            request["MessageDeduplicationId"] = hashlib.sha256(keys.encode("utf-8", "replace")).hexdigest()
        try:
            response = self.context.aws.client("sns", self.region).publish(**request)
        except ClientError as exc:
            raise client_error_to_channel_error(exc, f"SNS publish to {self.topic_arn}", _TRANSIENT_CODES) from None
        except BotoCoreError as exc:
            transient = botocore_error_is_transient(exc)
            raise ChannelError(
                f"SNS publish to {self.topic_arn} failed: {type(exc).__name__}", transient=transient
            ) from None
        return f"SNS message {response.get('MessageId', '?')}"

    def describe(self) -> str:
        return f"{super().describe()} ({self.topic_arn})"
