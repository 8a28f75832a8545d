"""Secrets Manager values, fetched once and cached with a TTL (and refreshed on demand).

Values are never logged and never put in exception messages: errors name the secret id only.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from trailguard.core.exceptions import ChannelError
from trailguard.utils.aws_helpers import AwsClients, botocore_error_is_transient

DEFAULT_TTL_SECONDS = 300.0
_TRANSIENT_AWS_ERRORS = frozenset(
    {"ThrottlingException", "InternalServiceError", "InternalFailure", "ServiceUnavailable", "RequestTimeout"}
)


_SECRET_FIELDS = re.compile(r"SecretString|SecretBinary")
# How a signed request shows the caller's credentials: the session token as a header (in the
# canonical request and in the headers' repr) or a query parameter, the access key id after
# "Credential=" in the Authorization header or a presigned URL.
_CREDENTIALS = re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,&]+|(credential=)[^/'\"\s,&]+")
_SIGNING_LOGGERS = ("botocore.auth", "botocore.endpoint")  # the canonical request; the request sent


def _hide_credentials(match: re.Match[str]) -> str:
    return (match[1] or match[2]) + "<redacted>"


class _SecretResponseFilter(logging.Filter):
    """botocore logs at DEBUG every response body, GetSecretValue answers included: blank those; and
    every request it signs, with the Lambda's access key id and session token: cut those out."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if _SECRET_FIELDS.search(str(record.msg)) or any(_SECRET_FIELDS.search(str(arg)) for arg in args):
            record.msg = "<a Secrets Manager response: not logged>"
            record.args = ()
        elif record.name in _SIGNING_LOGGERS:
            message = record.getMessage()
            cleaned = _CREDENTIALS.sub(_hide_credentials, message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


def hide_secret_responses() -> None:
    """Install the filter once on botocore's loggers that print response bodies or signed requests."""
    for name in ("botocore.parsers", "botocore.hooks", *_SIGNING_LOGGERS):
        target = logging.getLogger(name)
        if not any(isinstance(f, _SecretResponseFilter) for f in target.filters):
            target.addFilter(_SecretResponseFilter())


class SecretCache:
    """``get_text`` / ``get_json`` by secret id or ARN; ``invalidate`` after an auth failure."""

    def __init__(
        self,
        aws: AwsClients,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aws = aws
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._values: dict[str, tuple[float, str]] = {}
        self.fetches = 0  # how many times Secrets Manager was called (for tests and logs)

    def get_text(self, secret_id: str) -> str:
        cached = self._values.get(secret_id)
        now = self.clock()
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        value = self._fetch(secret_id)
        self._values[secret_id] = (now, value)
        return value

    def get_json(self, secret_id: str) -> dict[str, Any]:
        text = self.get_text(secret_id)
        try:
            value = json.loads(text)
        except ValueError:
            raise ChannelError(f"secret {secret_id} is not a JSON object", transient=False) from None
        if not isinstance(value, dict):
            raise ChannelError(f"secret {secret_id} is not a JSON object", transient=False)
        return value

    def invalidate(self, secret_id: str) -> None:
        self._values.pop(secret_id, None)

    def _fetch(self, secret_id: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        hide_secret_responses()
        self.fetches += 1
        try:
            response = self.aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            raise ChannelError(
                f"cannot read secret {secret_id} from Secrets Manager: {code}",
                transient=code in _TRANSIENT_AWS_ERRORS,
            ) from None
        except BotoCoreError as exc:
            # No credentials (a role missing, a local run without a profile): retrying cannot help.
            raise ChannelError(
                f"cannot reach Secrets Manager for secret {secret_id}: {type(exc).__name__}",
                transient=botocore_error_is_transient(exc),
            ) from None
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise ChannelError(f"secret {secret_id} has no string value", transient=False)
        return value
