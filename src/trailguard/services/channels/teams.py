"""Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is received").

The payload is a message with one Adaptive Card, built by ``rendering.teams.render_teams``. Options:
``webhook_url``, or ``webhook_secret_id`` naming a Secrets Manager secret that holds the URL (plain
text, or JSON ``{"url": "..."}``); ``timeout`` in seconds (default 10). Workflows answers 202
(or 200). A Workflows URL carries its signature in the query string (``sig=...``): only the host is
ever shown.
"""

from __future__ import annotations

from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.http_post import DEFAULT_TIMEOUT, UrlSource, json_body, post_to
from trailguard.services.rendering.teams import render_teams


class TeamsChannel(Channel):
    kind = "teams"

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        self.url = UrlSource.from_options(options, "webhook_url", "webhook_secret_id", context.secrets)
        self.needs_aws = self.url.from_secret  # secrets are read from Secrets Manager
        self.timeout = options.number("timeout", DEFAULT_TIMEOUT, minimum=0.01)

    def send(self, alert: Alert) -> str:
        response = post_to(self.url, json_body(render_teams(alert)), timeout=self.timeout)
        return f"HTTP {response.status}"

    def describe(self) -> str:
        return f"{super().describe()} ({self.url.describe()})"
