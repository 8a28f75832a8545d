"""The Lambda's TOML from SSM Parameter Store or S3 (``TRAILGUARD_CONFIG=ssm:/...`` or ``s3://...``),
through moto; and AWS failures no retry can fix (no credentials) failing at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import NoCredentialsError

from trailguard import main
from trailguard.core.enums import Severity
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.core.settings import Settings
from trailguard.services.retry import RetryPolicy, call_with_retry
from trailguard.services.secrets import SecretCache
from trailguard.utils.aws_helpers import AwsClients, botocore_error_is_transient, read_remote_text

from .clock import Clock
from .http_server import closed_port_url

PARAMETER = "/trailguard/config"
SSM_SOURCE = f"ssm:{PARAMETER}"
BUCKET = "trailguard-config-111122223333"
KEY = "prod/trailguard.toml"
S3_SOURCE = f"s3://{BUCKET}/{KEY}"
TUNED = 'min_severity = "high"\nallowed_cidrs = ["198.51.100.0/24"]\n'


def big_config() -> str:
    """A tuned file larger than the 4 KB a function's whole environment may hold."""
    suppressions = "".join(
        f'[[suppressions]]\nrules = ["sg.*"]\nprincipal = "arn:aws:iam::111122223333:role/deployer-{n:03d}"\n'
        f'reason = "deploy pipeline {n} opens its own load balancer ports"\n\n'
        for n in range(40)
    )
    return TUNED + "\n" + suppressions


def test_ssm_parameter_is_the_configuration(fake_aws: AwsClients) -> None:
    fake_aws.client("ssm").put_parameter(Name=PARAMETER, Value=TUNED, Type="String")
    settings = Settings.load(env={"TRAILGUARD_CONFIG": SSM_SOURCE})
    assert settings.min_severity is Severity.HIGH
    assert settings.allowed_cidrs == ("198.51.100.0/24",)
    assert settings.origin("min_severity") == f"{SSM_SOURCE}: min_severity"
    assert SSM_SOURCE in settings.source


def test_secure_string_parameter_is_decrypted(fake_aws: AwsClients) -> None:
    fake_aws.client("ssm").put_parameter(Name=PARAMETER, Value=TUNED, Type="SecureString")
    assert Settings.load(env={"TRAILGUARD_CONFIG": SSM_SOURCE}).min_severity is Severity.HIGH


def test_s3_object_beyond_the_environment_limit_is_the_configuration(fake_aws: AwsClients) -> None:
    text = big_config()
    assert len(text.encode()) > 4096
    s3 = fake_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": fake_aws.region})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=text.encode())
    settings = Settings.load(env={"TRAILGUARD_CONFIG": S3_SOURCE})
    assert len(settings.suppressions) == 40
    assert settings.suppressions[39].principal == "arn:aws:iam::111122223333:role/deployer-039"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SSM_SOURCE, rf"^{SSM_SOURCE}: cannot be read: ParameterNotFound"),
        (S3_SOURCE, rf"^{S3_SOURCE}: cannot be read: NoSuchKey"),
        (f"s3://no-such-bucket-{BUCKET}/x.toml", r"^s3://no-such-bucket-[^:]+: cannot be read: NoSuchBucket"),
        ("s3://only-a-bucket", r"^s3://only-a-bucket: expected s3://bucket/key"),
        ("ssm:", r"^ssm:: no parameter name"),
    ],
)
def test_missing_source_is_one_line_naming_it(fake_aws: AwsClients, source: str, expected: str) -> None:
    s3 = fake_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": fake_aws.region})
    with pytest.raises(ConfigError, match=expected) as caught:
        Settings.load(env={"TRAILGUARD_CONFIG": source})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min_severity = \n", rf"^{SSM_SOURCE}: not valid TOML: "),
        ('min_severty = "high"\n', rf"^{SSM_SOURCE}: unknown key 'min_severty'"),
        ('min_severity = "urgent"\n', rf"^{SSM_SOURCE}: min_severity: unknown severity 'urgent'"),
    ],
)
def test_bad_fetched_text_gets_the_errors_of_a_local_file(fake_aws: AwsClients, text: str, expected: str) -> None:
    fake_aws.client("ssm").put_parameter(Name=PARAMETER, Value=text, Type="String")
    with pytest.raises(ConfigError, match=expected) as caught:
        Settings.load(env={"TRAILGUARD_CONFIG": SSM_SOURCE})
    assert "\n" not in str(caught.value)


def test_object_that_is_not_utf8_is_refused(fake_aws: AwsClients) -> None:
    s3 = fake_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": fake_aws.region})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\x1f\x8b\x08\x00gzipped")
    with pytest.raises(ConfigError, match=rf"^{S3_SOURCE}: not UTF-8 text$"):
        read_remote_text(S3_SOURCE, fake_aws)


def test_access_denied_names_the_source(fake_aws: AwsClients) -> None:
    """A role without s3:GetObject: moto enforces IAM after the first two calls (the user's set-up)."""
    from moto.core import set_initial_no_auth_action_count

    s3 = fake_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": fake_aws.region})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=TUNED.encode())

    @set_initial_no_auth_action_count(2)
    def read_without_grants() -> None:
        iam = AwsClients(region=fake_aws.region).client("iam")
        iam.create_user(UserName="no-grants")
        key = iam.create_access_key(UserName="no-grants")["AccessKey"]
        import boto3

        denied = AwsClients(region=fake_aws.region)
        denied._clients[("s3", fake_aws.region)] = boto3.client(
            "s3",
            region_name=fake_aws.region,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with pytest.raises(ConfigError, match=rf"^{S3_SOURCE}: cannot be read: AccessDenied") as caught:
            read_remote_text(S3_SOURCE, denied)
        assert "\n" not in str(caught.value)

    read_without_grants()


def test_lambda_fetches_once_per_container(
    world: object, fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = fake_aws.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Value=TUNED, Type="String")
    monkeypatch.setenv("TRAILGUARD_CONFIG", SSM_SOURCE)
    first = main.container()
    assert first.settings.min_severity is Severity.HIGH
    ssm.put_parameter(Name=PARAMETER, Value='min_severity = "low"\n', Type="String", Overwrite=True)
    assert main.container().settings.min_severity is Severity.HIGH, "the container's copy, not fetched again"
    main.reset()  # a new container reads the parameter again
    assert main.container().settings.min_severity is Severity.LOW


def test_lambda_cold_start_stops_on_a_bad_parameter(
    world: object, fake_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws.client("ssm").put_parameter(Name=PARAMETER, Value='min_severty = "high"\n', Type="String")
    monkeypatch.setenv("TRAILGUARD_CONFIG", SSM_SOURCE)
    main.reset()
    with pytest.raises(ConfigError, match=rf"^{SSM_SOURCE}: unknown key 'min_severty'"):
        main.container()


# -- failures no retry can fix ----------------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsClients:
    """Nothing botocore could find credentials in: no variables, files or instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    # boto3's default session keeps the credentials an earlier test's clients resolved: a new one.
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return AwsClients(region="eu-west-1", endpoint_url=closed_port_url())


def test_no_credentials_is_permanent_for_secrets_manager(no_credentials: AwsClients, clock: Clock) -> None:
    cache = SecretCache(no_credentials)
    calls = 0

    def fetch() -> str:
        nonlocal calls
        calls += 1
        return cache._fetch("trailguard/ses-smtp")

    with pytest.raises(ChannelError, match="NoCredentialsError") as caught:
        call_with_retry(fetch, RetryPolicy(), sleep=clock.sleep)
    assert not caught.value.transient
    assert calls == 1 and clock.slept == [], "not retried"


def test_no_credentials_is_permanent_for_ses_and_sns(no_credentials: AwsClients, clock: Clock) -> None:
    from trailguard.services.channels import ChannelContext, build_channel
    from trailguard.services.notification_service import NotificationService

    from .test_channels_http import NORMAL

    context = ChannelContext(no_credentials)
    channels = [
        build_channel(
            {"type": "ses", "name": "ses", "sender": "alerts@example.com", "recipients": ["secops@example.com"]},
            "t",
            context,
        ),
        build_channel(
            {"type": "sns", "name": "sns", "topic_arn": "arn:aws:sns:eu-west-1:111122223333:alerts"}, "t", context
        ),
    ]
    report = NotificationService(channels, sleep=clock.sleep).notify([NORMAL], raise_on_undelivered=False)
    for name in ("ses", "sns"):
        outcome = report.channel(name)
        assert outcome.attempts == 1 and outcome.failed == (NORMAL.key,)
        assert "NoCredentialsError" in outcome.errors[0]
    assert clock.slept == []


def test_which_botocore_errors_are_transient() -> None:
    from botocore.exceptions import EndpointConnectionError, NoRegionError, PartialCredentialsError

    assert not botocore_error_is_transient(NoCredentialsError())
    assert not botocore_error_is_transient(NoRegionError())
    assert not botocore_error_is_transient(PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"))
    assert botocore_error_is_transient(EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com"))
    assert json.dumps(str(NoCredentialsError()))  # its text is what errors show


def test_a_local_configuration_file_keeps_boto3_out_of_the_cold_start(tmp_path: Path) -> None:
    """Only a remote source imports boto3 to read the settings: a file on disk keeps the cold start light."""
    import os
    import subprocess
    import sys
    import textwrap

    config = tmp_path / "trailguard.toml"
    config.write_text(TUNED, encoding="utf-8")
    script = textwrap.dedent(
        """
        import json, sys
        import trailguard.main as main
        main.container()
        print(json.dumps([name for name in ("boto3", "botocore") if name in sys.modules]))
        """
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    env["TRAILGUARD_CONFIG"] = str(config)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
