"""Email through the Amazon SES API (sesv2 SendEmail with raw MIME), for those who prefer IAM to SMTP passwords.

Options: ``sender`` and ``recipients`` (required; the sender's address or domain must be a
verified SES identity); ``region`` (default: the AWS region of the run); ``configuration_set``
(optional: an SES configuration set, for event publishing and dedicated IPs).

The message is the same MIME document the SMTP channel sends (``email_message.build_message``).
Throttling and AWS-side failures are transient; a rejected message, an unverified identity,
missing permissions or a paused account are permanent.
"""

from __future__ import annotations

from typing import Any

from trailguard.core.aws_ids import SES_CONFIGURATION_SET
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.email_message import build_message, check_address, message_bytes, message_id
from trailguard.utils.aws_helpers import botocore_error_is_transient, client_error_to_channel_error

_TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServiceError",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


class SesEmailChannel(Channel):
    kind = "ses"
    needs_aws = True

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        where = options.where
        self.sender = check_address(options.text("sender"), f"{where}: sender")
        self.recipients = tuple(check_address(value, f"{where}: recipients") for value in options.texts("recipients"))
        self.region = options.region("region", default=context.aws.region)
        self.configuration_set = options.text("configuration_set", default="")
        if self.configuration_set and not SES_CONFIGURATION_SET.fullmatch(self.configuration_set):
            raise ConfigError(
                f"{where}: configuration_set: must be an SES configuration set name "
                f"(letters, digits, _ and -), got {self.configuration_set!r}"
            )

    def send(self, alert: Alert) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        message = build_message(alert, self.sender, self.recipients)
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": list(self.recipients)},
            "Content": {"Raw": {"Data": message_bytes(message)}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        where = f"SES SendEmail from {self.sender} in {self.region}"
        try:
            response = self.context.aws.client("sesv2", self.region).send_email(**request)
        except ClientError as exc:
            raise client_error_to_channel_error(exc, where, _TRANSIENT_CODES) from None
        except BotoCoreError as exc:
            transient = botocore_error_is_transient(exc)
            raise ChannelError(f"{where} failed: {type(exc).__name__}", transient=transient) from None
        return f"SES message {response.get('MessageId', '?')} {message_id(message)}"

    def describe(self) -> str:
        return f"{super().describe()} (SES API in {self.region})"
