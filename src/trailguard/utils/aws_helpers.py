"""boto3 clients, created lazily and shared: nothing AWS happens at import time.

Rules never see these; channels and the Lambda entry point get an ``AwsClients`` passed in, so
tests can point them at moto (in-process ``mock_aws`` or a ThreadedMotoServer ``endpoint_url``).
"""

from __future__ import annotations

import os
from typing import Any

from trailguard.utils.text import one_line

# What a user runs to get boto3: `pip install trailguard` alone scans; only AWS features need it.
AWS_EXTRA = "pip install 'trailguard[aws]'"


def missing_boto3(what: str) -> Exception:
    """The one-line error for an AWS feature without boto3 (a ``MissingExtraError``, exit 2)."""
    from trailguard.core.exceptions import MissingExtraError

    return MissingExtraError(f"{what} needs boto3, which is not installed: {AWS_EXTRA}")


def require_boto3(what: str) -> None:
    """Fail before any work when ``what`` (an AWS channel, the DynamoDB table) cannot run.

    Imports boto3 rather than looking it up, so that a broken or shadowed install fails here too;
    only called where AWS is about to be used, so the import is not wasted."""
    try:
        import boto3  # noqa: F401
        import botocore.exceptions  # noqa: F401
    except ImportError:
        raise missing_boto3(what) from None


class AwsClients:
    """One boto3 client per (service, region), made on first use."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None) -> None:
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            try:
                import boto3  # heavy: only when a channel or look-up actually needs AWS
                from botocore.config import Config
            except ImportError:
                raise missing_boto3(f"AWS ({service})") from None

            self._clients[key] = boto3.client(
                service,
                region_name=key[1],
                endpoint_url=self.endpoint_url,
                # Our own retry loop decides what to retry; keep the SDK's short and bounded.
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10),
            )
        return self._clients[key]


def client_error_to_channel_error(exc: Any, where: str, transient_codes: frozenset[str]) -> Any:
    """A botocore ClientError as a secret-free ``ChannelError``: throttling and 5xx are transient."""
    from trailguard.core.exceptions import ChannelError

    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    transient = code in transient_codes or status >= 500 or status == 429
    detail = one_line(str(error.get("Message", "")))[:200]
    return ChannelError(f"{where} failed: {code}" + (f" ({detail})" if detail else ""), transient=transient)


# BotoCoreErrors that no retry can fix: no credentials or region in the environment, a bad profile.
_PERMANENT_BOTOCORE = ("NoCredentials", "PartialCredentials", "NoRegion", "ProfileNotFound", "InvalidConfig")


def botocore_error_is_transient(exc: BaseException) -> bool:
    """A network failure may pass; missing credentials or region will not (so: no retries)."""
    return not type(exc).__name__.startswith(_PERMANENT_BOTOCORE)


# Larger than any TOML a user writes; a bound so a wrong object (a log archive) is not read whole.
MAX_REMOTE_CONFIG_BYTES = 1 << 20


def read_remote_text(source: str, aws: AwsClients | None = None) -> str:
    """The text of ``ssm:/name`` (a String or SecureString parameter) or ``s3://bucket/key``.

    Every failure is a one-line ``ConfigError`` that starts with ``source``: a missing parameter or
    object, access denied, no credentials, not UTF-8."""
    from trailguard.core.exceptions import ConfigError

    require_boto3(source)
    from botocore.exceptions import BotoCoreError, ClientError

    aws = aws or AwsClients()
    try:
        if source.startswith("ssm:"):
            name = source.removeprefix("ssm:")
            if not name:
                raise ConfigError(f"{source}: no parameter name (expected ssm:/path/name)")
            response = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
            return str(response["Parameter"]["Value"])
        bucket, _, key = source.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise ConfigError(f"{source}: expected s3://bucket/key")
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(MAX_REMOTE_CONFIG_BYTES + 1)
        if len(data) > MAX_REMOTE_CONFIG_BYTES:
            raise ConfigError(f"{source}: larger than {MAX_REMOTE_CONFIG_BYTES} bytes, not a configuration")
        return bytes(data).decode("utf-8")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        detail = one_line(str(error.get("Message", "")))[:200]
        raise ConfigError(f"{source}: cannot be read: {code}" + (f" ({detail})" if detail else "")) from None
    except BotoCoreError as exc:
        raise ConfigError(f"{source}: cannot be read: {type(exc).__name__}: {one_line(str(exc))[:200]}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
