"""Slack incoming webhooks: a Block Kit message built by ``rendering.slack.render_slack``.

Options: ``webhook_url``, or ``webhook_secret_id`` naming a Secrets Manager secret that holds the
URL (plain text, or JSON ``{"url": "..."}``); ``timeout`` in seconds (default 10). Slack answers
``200 ok``; its errors come as 4xx with a short code in the body (``invalid_payload``,
``channel_not_found``, ``no_service``...), quoted in the error. The URL is a secret: only its host
is ever shown.
"""

from __future__ import annotations

from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.http_post import DEFAULT_TIMEOUT, UrlSource, json_body, post_to
from trailguard.services.rendering.slack import render_slack


class SlackChannel(Channel):
    kind = "slack"

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        self.url = UrlSource.from_options(options, "webhook_url", "webhook_secret_id", context.secrets)
        self.needs_aws = self.url.from_secret  # secrets are read from Secrets Manager
        self.timeout = options.number("timeout", DEFAULT_TIMEOUT, minimum=0.01)

    def send(self, alert: Alert) -> str:
        response = post_to(self.url, json_body(render_slack(alert)), timeout=self.timeout)
        return f"HTTP {response.status}" + (" ok" if response.body.strip() == "ok" else "")

    def describe(self) -> str:
        return f"{super().describe()} ({self.url.describe()})"
