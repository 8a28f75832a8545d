"""Slack, Teams and generic webhooks against a real HTTP server on 127.0.0.1, secrets through moto.

The recording server (tests/http_server.py) answers from a script: 200, 429 then 200, 500 forever,
400, a redirect, or too slowly. The notification service runs with a tiny retry policy and an
injected sleep, so retry tests take milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import Actor, Finding, Resource
from trailguard.core.exceptions import ChannelError, ConfigError, DeliveryError
from trailguard.services.alerts import Alert
from trailguard.services.channels import Channel, ChannelContext, build_channel
from trailguard.services.http_post import HttpError, json_body, post, redact
from trailguard.services.notification_service import NotificationService
from trailguard.services.rendering.slack import render_slack
from trailguard.services.rendering.teams import render_teams
from trailguard.services.rendering.webhook import render_webhook
from trailguard.services.retry import RetryPolicy
from trailguard.utils.aws_helpers import AwsClients

from .clock import Clock
from .conftest import DATA_DIR
from .http_server import RecordingServer, Reply, closed_port_url

DATA = json.loads((DATA_DIR / "channel_findings.json").read_text(encoding="utf-8"))
SECRET_PATHS: dict[str, str] = DATA["secret_paths"]
SECRET_MARKERS: list[str] = DATA["secret_markers"]
TINY_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001)


def finding_from_json(document: Mapping[str, Any]) -> Finding:
    fields = dict(document)
    fields["severity"] = Severity[fields["severity"]]
    fields["kind"] = FindingKind(fields["kind"])
    fields["resource"] = Resource(**fields["resource"])
    fields["actor"] = Actor(**fields["actor"])
    return Finding(**fields)


def load_finding(name: str) -> Finding:
    return finding_from_json(DATA["findings"][name])


NORMAL = load_finding("normal")
HOSTILE = load_finding("hostile")
LOW = load_finding("low")


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere in a decoded JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def channel(config: dict[str, Any], context: ChannelContext | None = None) -> Channel:
    return build_channel(config, "test channel", context or ChannelContext(AwsClients(region="us-east-1")))


def service(*channels: Channel, clock: Clock | None = None) -> NotificationService:
    """Retries sleep on ``clock``: the test's, when it reads the waits."""
    return NotificationService(channels, retry=TINY_RETRY, sleep=(clock or Clock()).sleep)


pytestmark = pytest.mark.usefixtures("no_proxy")  # every test posts to a server on 127.0.0.1


@pytest.fixture
def aws(fake_aws: AwsClients) -> ChannelContext:
    return ChannelContext(fake_aws)


def put_secret(context: ChannelContext, name: str, value: str) -> None:
    context.aws.client("secretsmanager").create_secret(Name=name, SecretString=value)


# Payloads ----------------------------------------------------------------------------------------


def test_slack_posts_the_block_kit_message_as_json() -> None:
    with RecordingServer.ok() as server:
        slack = channel({"type": "slack", "webhook_url": server.url + SECRET_PATHS["slack"]})
        assert slack.send(Alert((NORMAL,))) == "HTTP 200 ok"
        slack.send(Alert((HOSTILE,)))
    normal, hostile = server.requests
    assert normal.method == "POST"
    assert normal.path == SECRET_PATHS["slack"]
    assert normal.headers["content-type"].startswith("application/json")
    assert normal.headers["user-agent"].startswith("trailguard/")
    assert normal.json() == render_slack(Alert((NORMAL,)))
    assert any(NORMAL.summary in text for text in strings_in(normal.json()))
    # Slack's control sequences from the event arrive as text, not as a mention or a link.
    texts = list(strings_in(hostile.json()))
    leaks = [text[:120] for text in texts if "<!channel>" in text or "<https://evil.example|" in text]
    assert not leaks, f"live Slack mention or link from event text in {leaks}"
    assert any("&lt;!channel&gt;" in text for text in texts)


def test_teams_posts_an_adaptive_card_and_accepts_202() -> None:
    with RecordingServer.ok(202, b"") as server:
        teams = channel({"type": "teams", "webhook_url": server.url + SECRET_PATHS["teams"]})
        assert teams.send(Alert((NORMAL,))) == "HTTP 202"
        teams.send(Alert((HOSTILE,)))
    normal, hostile = server.requests
    assert normal.path == SECRET_PATHS["teams"], "the query string (the Workflows signature) is sent as given"
    assert normal.headers["content-type"].startswith("application/json")
    payload = normal.json()
    assert payload == render_teams(Alert((NORMAL,)))
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert any(NORMAL.summary in text for text in strings_in(attachment["content"]))
    # The card's markdown must not turn event text into a live link.
    assert hostile.json() == render_teams(Alert((HOSTILE,)))
    leaks = [text[:120] for text in strings_in(hostile.json()) if "[link](https://evil.example)" in text]
    assert not leaks, f"live markdown link from event text in {leaks}"


def test_lone_surrogates_from_event_text_do_not_break_the_json_body() -> None:
    body = json_body(render_webhook(Alert((HOSTILE,))))
    assert json.loads(body)["findings"][0]["description"] == HOSTILE.description


def receiver_accepts(secret: bytes, body: bytes, timestamp: str, signature: str) -> bool:
    """What a receiver does, written from the scheme in webhook.py's docstring (not from its code)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_webhook_is_signed_and_its_url_and_key_come_from_secrets_manager(aws: ChannelContext) -> None:
    with RecordingServer.ok(204, b"") as server:
        put_secret(aws, "trailguard/webhook-url", json.dumps({"url": server.url + SECRET_PATHS["webhook"]}))
        put_secret(aws, "trailguard/webhook-hmac", "hmac key with spaces and ünïcode")
        webhook = channel(
            {
                "type": "webhook",
                "url_secret_id": "trailguard/webhook-url",
                "hmac_secret_id": "trailguard/webhook-hmac",
                "headers": {"X-Environment": "prod", "Authorization": "Bearer not-a-real-token"},
            },
            aws,
        )
        assert webhook.send(Alert((HOSTILE,))) == "HTTP 204"
        webhook.send(Alert((NORMAL, LOW), digest=True))
    first, digest = server.requests
    assert first.path == SECRET_PATHS["webhook"]
    assert first.headers["x-environment"] == "prod"
    assert first.headers["authorization"] == "Bearer not-a-real-token"
    assert json.loads(first.body) == json.loads(json.dumps(render_webhook(Alert((HOSTILE,)))))
    assert digest.json()["digest"] is True and len(digest.json()["findings"]) == 2
    key = "hmac key with spaces and ünïcode".encode()
    for request in (first, digest):
        timestamp = request.headers["x-trailguard-timestamp"]
        signature = request.headers["x-trailguard-signature"]
        assert abs(int(timestamp) - time.time()) < 60
        assert receiver_accepts(key, request.body, timestamp, signature)
        assert not receiver_accepts(key, request.body + b" ", timestamp, signature), "a changed body fails"
        assert not receiver_accepts(key, request.body, str(int(timestamp) + 1), signature), "so does the time"
    assert aws.secrets.fetches == 2, "both secrets fetched once and cached"


def test_chat_webhook_urls_from_plain_and_json_secrets(aws: ChannelContext) -> None:
    with RecordingServer.ok() as slack_server, RecordingServer.ok(202, b"") as teams_server:
        put_secret(aws, "slack-url", slack_server.url + SECRET_PATHS["slack"] + "\n")
        put_secret(aws, "teams-url", json.dumps({"url": teams_server.url + SECRET_PATHS["teams"]}))
        slack = channel({"type": "slack", "webhook_secret_id": "slack-url"}, aws)
        teams = channel({"type": "teams", "webhook_secret_id": "teams-url"}, aws)
        for _ in range(2):
            slack.send(Alert((NORMAL,)))
            teams.send(Alert((NORMAL,)))
    assert [r.path for r in slack_server.requests] == [SECRET_PATHS["slack"]] * 2
    assert [r.path for r in teams_server.requests] == [SECRET_PATHS["teams"]] * 2
    assert aws.secrets.fetches == 2
    assert "slack-url" in slack.describe() and "127.0.0.1" not in slack.describe()


def test_a_rotated_webhook_url_is_picked_up_after_the_old_one_is_rejected(aws: ChannelContext) -> None:
    revoked = Reply(404, b"no_service")
    with RecordingServer([revoked]) as old, RecordingServer.ok() as new:
        put_secret(aws, "slack-url", old.url + SECRET_PATHS["slack"])
        slack = channel({"type": "slack", "webhook_secret_id": "slack-url"}, aws)
        with pytest.raises(ChannelError) as caught:
            slack.send(Alert((NORMAL,)))
        assert not caught.value.transient and "HTTP 404" in str(caught.value) and "no_service" in str(caught.value)
        assert len(old.requests) == 1, "the secret was re-read, but it had not changed: no second POST"
        aws.aws.client("secretsmanager").put_secret_value(SecretId="slack-url", SecretString=new.url + "/rotated")
        assert slack.send(Alert((NORMAL,))) == "HTTP 200 ok"
    assert len(old.requests) == 2 and [r.path for r in new.requests] == ["/rotated"]


def test_bad_secret_values_are_permanent_errors_that_do_not_quote_the_value(aws: ChannelContext) -> None:
    put_secret(aws, "no-url", json.dumps({"hook": "https://hooks.example/XoxSecretWebhookToken42"}))
    put_secret(aws, "plain-http", "http://hooks.example/XoxSecretWebhookToken42")
    for secret_id in ("no-url", "plain-http", "missing"):
        slack = channel({"type": "slack", "webhook_secret_id": secret_id}, aws)
        with pytest.raises(ChannelError) as caught:
            slack.send(Alert((NORMAL,)))
        assert not caught.value.transient
        assert secret_id in str(caught.value) and "XoxSecretWebhookToken42" not in str(caught.value)


# Failures and retries ----------------------------------------------------------------------------


def test_429_then_200_is_delivered_after_a_retry(clock: Clock) -> None:
    with RecordingServer.throttled_then_ok(times=2) as server:
        slack = channel({"type": "slack", "name": "slack", "webhook_url": server.url + SECRET_PATHS["slack"]})
        report = service(slack, clock=clock).notify([NORMAL])
    outcome = report.channel("slack")
    assert outcome.delivered == (NORMAL.key,) and outcome.failed == ()
    assert outcome.attempts == 3 and outcome.messages == 1
    assert len(server.requests) == 3 and len(clock.slept) == 2
    assert server.requests[0].body == server.requests[2].body, "the retry sends the same message"


def test_retry_after_is_exposed_on_the_error() -> None:
    with RecordingServer.throttled_then_ok(retry_after="7") as server:
        with pytest.raises(HttpError) as caught:
            post(server.url + "/x", b"{}")
        assert post(server.url + "/x", b"{}").status == 200
    assert caught.value.transient and caught.value.status == 429 and caught.value.retry_after == 7.0


def test_retry_after_from_429_and_503_is_waited_for(clock: Clock) -> None:
    # The backoff alone would wait about a millisecond: the waits are the server's.
    script = [
        Reply(429, b"rate_limited", {"Retry-After": "5"}),
        Reply(503, b"busy", {"Retry-After": "12"}),
        Reply(200, b"ok"),
    ]
    with RecordingServer(script) as server:
        slack = channel({"type": "slack", "name": "slack", "webhook_url": server.url + SECRET_PATHS["slack"]})
        report = service(slack, clock=clock).notify([NORMAL])
    assert report.channel("slack").delivered == (NORMAL.key,)
    assert len(server.requests) == 3
    assert clock.slept == [5.0, 12.0]


def test_retry_after_longer_than_the_policy_allows_is_left_to_aws(clock: Clock) -> None:
    with RecordingServer([Reply(503, b"maintenance", {"Retry-After": "3600"})]) as server:
        slack = channel({"type": "slack", "name": "slack", "webhook_url": server.url + SECRET_PATHS["slack"]})
        report = service(slack, clock=clock).notify([NORMAL], raise_on_undelivered=False)
    outcome = report.channel("slack")
    assert outcome.failed == (NORMAL.key,) and outcome.attempts == 1
    assert len(server.requests) == 1 and clock.slept == [], "not an hour in the function"
    assert report.undelivered == (NORMAL,), "reported undelivered: AWS delivers the event again"


def test_500_forever_fails_transiently_and_the_other_channels_still_deliver(tmp_path: Path) -> None:
    with RecordingServer.failing() as server:
        teams = channel({"type": "teams", "name": "teams", "webhook_url": server.url + SECRET_PATHS["teams"]})
        folder = channel({"type": "folder", "name": "outbox", "path": str(tmp_path / "outbox")})
        report = service(teams, folder).notify([NORMAL, LOW])
    assert len(server.requests) == 2 * TINY_RETRY.attempts, "each alert tried three times"
    failed = report.channel("teams")
    assert failed.delivered == () and set(failed.failed) == {NORMAL.key, LOW.key}
    assert failed.attempts == 6 and failed.messages == 0
    assert all(f"127.0.0.1:{server.port}" in error and "HTTP 500" in error for error in failed.errors)
    assert set(report.channel("outbox").delivered) == {NORMAL.key, LOW.key}
    assert report.undelivered == ()
    assert len(list((tmp_path / "outbox").glob("*.html"))) == 2


def test_400_is_permanent_and_tried_exactly_once() -> None:
    with RecordingServer.rejecting(400, b"invalid_blocks") as server:
        webhook = channel({"type": "webhook", "name": "hook", "url": server.url + SECRET_PATHS["webhook"]})
        with pytest.raises(DeliveryError) as caught:
            service(webhook).notify([NORMAL])
        report = service(webhook).notify([NORMAL], raise_on_undelivered=False)
    assert "HTTP 400" in str(caught.value) and "invalid_blocks" in str(caught.value)
    assert len(server.requests) == 2, "one attempt per notify call"
    assert report.channel("hook").attempts == 1 and report.undelivered == (NORMAL,)


def test_redirects_are_not_followed() -> None:
    with RecordingServer([Reply(302, b"", {"Location": "/elsewhere"})]) as server, pytest.raises(HttpError) as caught:
        post(server.url + "/hook", b"{}")
    assert not caught.value.transient and "HTTP 302" in str(caught.value)
    assert [r.path for r in server.requests] == ["/hook"]


def test_connection_refused_is_transient_and_retried() -> None:
    url = closed_port_url() + SECRET_PATHS["slack"]
    slack = channel({"type": "slack", "name": "slack", "webhook_url": url})
    with pytest.raises(ChannelError) as caught:
        slack.send(Alert((NORMAL,)))
    assert caught.value.transient and "connection refused" in str(caught.value)
    report = service(slack).notify([NORMAL], raise_on_undelivered=False)
    assert report.channel("slack").attempts == TINY_RETRY.attempts


def test_a_slow_server_times_out_transiently() -> None:
    with RecordingServer.slow(delay=10) as server:
        webhook = channel({"type": "webhook", "url": server.url + "/slow", "timeout": 0.3})
        started = time.monotonic()
        with pytest.raises(ChannelError) as caught:
            webhook.send(Alert((NORMAL,)))
        elapsed = time.monotonic() - started
    assert caught.value.transient and "timed out" in str(caught.value)
    assert elapsed < 3, f"the client gave up after {elapsed:.1f}s"
    assert len(server.requests) == 1


def test_secret_url_parts_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    # Servers that echo the request path in their error pages, as many frameworks' 404 pages do.
    echo_slack = Reply(404, f"Cannot POST {SECRET_PATHS['slack']}".encode())
    echo_teams = Reply(500, f"error at {SECRET_PATHS['teams']} sig missing".encode())
    caplog.set_level(logging.DEBUG)
    with RecordingServer([echo_slack]) as slack_server, RecordingServer([echo_teams]) as teams_server:
        channels = [
            channel({"type": "slack", "name": "slack", "webhook_url": slack_server.url + SECRET_PATHS["slack"]}),
            channel({"type": "teams", "name": "teams", "webhook_url": teams_server.url + SECRET_PATHS["teams"]}),
            channel({"type": "webhook", "name": "hook", "url": closed_port_url() + SECRET_PATHS["webhook"]}),
        ]
        with pytest.raises(DeliveryError) as caught:
            service(*channels).notify([NORMAL, HOSTILE])
        report = service(*channels).notify([NORMAL], raise_on_undelivered=False)
    texts = [record.getMessage() for record in caplog.records]
    texts += [record.exc_text or "" for record in caplog.records]
    texts += [str(caught.value), *(error for outcome in report.outcomes for error in outcome.errors)]
    texts += [c.describe() for c in channels]
    assert len(caplog.records) >= 6, "failures were logged"
    for text in texts:
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{marker!r} leaked into {text!r}"
    assert any(f"127.0.0.1:{slack_server.port}" in text and "[redacted]" in text for text in texts)


def test_redact_removes_path_query_and_token_segments() -> None:
    url = "https://hooks.example.com" + SECRET_PATHS["teams"]
    text = f"bad request to {SECRET_PATHS['teams']} (sig=SuperSecretSignature0123456789; 0123456789abcdef)"
    cleaned = redact(text, url)
    assert not any(marker in cleaned for marker in SECRET_MARKERS)
    assert cleaned.startswith("bad request to [redacted]")


# Routing and DeliveryError -----------------------------------------------------------------------


def test_one_failing_channel_never_stops_the_others(tmp_path: Path) -> None:
    with RecordingServer.failing(503) as down, RecordingServer.ok() as up:
        channels = [
            channel({"type": "webhook", "name": "down", "url": down.url + "/hook"}),
            channel({"type": "slack", "name": "up", "webhook_url": up.url + "/hook"}),
            channel({"type": "folder", "name": "files", "path": str(tmp_path)}),
        ]
        report = service(*channels).notify([NORMAL, LOW])
    both = {NORMAL.key, LOW.key}
    assert set(report.channel("down").failed) == both
    assert set(report.channel("up").delivered) == both and len(up.requests) == 2
    assert set(report.channel("files").delivered) == both
    assert report.undelivered == ()


def test_delivery_error_only_when_a_routed_finding_reached_no_channel() -> None:
    with RecordingServer.failing() as down, RecordingServer.ok() as up:
        high_only = channel({"type": "slack", "name": "high", "webhook_url": up.url + "/h", "min_severity": "HIGH"})
        everything = channel({"type": "webhook", "name": "all", "url": down.url + "/a"})
        # LOW goes only to the failing channel: it reached nothing.
        with pytest.raises(DeliveryError) as caught:
            service(high_only, everything).notify([NORMAL, LOW])
        assert "1 of 2 findings" in str(caught.value)
        report = service(high_only, everything).notify([NORMAL, LOW], raise_on_undelivered=False)
        assert report.undelivered == (LOW,) and NORMAL.key in report.delivered_keys()
        # A finding no channel wants is not an error: it is reported as unrouted.
        report = service(high_only).notify([NORMAL, LOW])
        assert report.undelivered == () and report.unrouted == (LOW,)


# Settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "slack"}, "webhook_url: give either webhook_url or webhook_secret_id"),
        ({"type": "slack", "webhook_url": "https://h.example/a", "webhook_secret_id": "s"}, "not both"),
        ({"type": "teams", "webhook_url": "http://hooks.example/XoxSecretWebhookToken42"}, "must be https://"),
        ({"type": "webhook", "url": "ftp://hooks.example/XoxSecretWebhookToken42"}, "must be an https:// URL"),
        ({"type": "webhook", "url": "https://u:XoxSecretWebhookToken42@h.example/"}, "user name or password"),
        ({"type": "webhook", "url": "https://h.example/\nXoxSecretWebhookToken42"}, "control characters"),
        ({"type": "slack", "webhook_url": "https://h.example/a", "timout": 5}, "timout: unknown option"),
        ({"type": "webhook", "url": "https://h.example/a", "headers": {"X-A": "1\r\nX-B: 2"}}, "headers.X-A"),
        ({"type": "webhook", "url": "https://h.example/a", "headers": {"Bad Name": "1"}}, "not a valid header"),
        ({"type": "webhook", "url": "https://h.example/a", "headers": {"content-type": "x"}}, "cannot be overridden"),
        ({"type": "webhook", "url": "https://h.example/a", "headers": ["X-A: 1"]}, "headers: must be a table"),
        ({"type": "webhook", "url": "https://h.example/a", "timeout": 0}, "timeout: must be at least"),
    ],
)
def test_bad_settings_name_the_key_and_never_quote_the_url(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        channel(config)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("test channel: ")
    assert "XoxSecretWebhookToken42" not in str(caught.value) and "\r\n" not in str(caught.value)


def test_describe_names_the_host_only() -> None:
    slack = channel({"type": "slack", "webhook_url": "https://hooks.slack.com" + SECRET_PATHS["slack"]})
    assert slack.describe() == "slack channel 'slack' (hooks.slack.com)"
    hook = channel({"type": "webhook", "url": "https://hooks.example:8443" + SECRET_PATHS["webhook"]})
    assert hook.describe() == "webhook channel 'webhook' (hooks.example:8443)"
