"""Generic webhook: the alert as JSON (``rendering.webhook.render_webhook``), POSTed to any https URL.

Options:

- ``url``, or ``url_secret_id`` naming a Secrets Manager secret that holds the URL (plain text, or
  JSON ``{"url": "..."}``);
- ``hmac_secret_id``: a secret whose string value is the signing key (used exactly as stored);
- ``headers``: a table of extra headers (``Authorization = "Bearer ..."``); names must be HTTP
  tokens, values must not contain CR, LF or other control characters, and the headers trailguard
  sets itself cannot be overridden;
- ``timeout`` in seconds (default 10);
- ``format``: ``trailguard`` (default: ``rendering.webhook``, described by ``trailguard schema
  webhook``) or ``ocsf``, a JSON array of OCSF Detection Finding events (``rendering.ocsf``), one
  per finding of the alert, for a SIEM or data lake that reads OCSF as it is.

Signature scheme (when ``hmac_secret_id`` is set), so that a receiver can check that a request
comes from trailguard and is fresh:

- ``X-Trailguard-Timestamp``: the Unix time in whole seconds when the request was signed;
- ``X-Trailguard-Signature``: ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed with the
  secret's UTF-8 bytes, of the timestamp's ASCII digits, one ``.`` and the exact body bytes.

A receiver recomputes it over the raw body (before any JSON parsing), compares in constant time,
and rejects timestamps more than a few minutes old, which stops replays::

    import hashlib, hmac, time

    def verify(secret: bytes, body: bytes, timestamp: str, signature: str, tolerance: int = 300) -> bool:
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
            return False
        mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest("sha256=" + mac, signature)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from trailguard.core.exceptions import ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.http_post import DEFAULT_TIMEOUT, HttpError, HttpResponse, UrlSource, json_body, post_to
from trailguard.services.rendering.webhook import render_webhook

SIGNATURE_HEADER = "X-Trailguard-Signature"
TIMESTAMP_HEADER = "X-Trailguard-Timestamp"
WEBHOOK_FORMATS = ("trailguard", "ocsf")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Set by trailguard or by urllib; letting settings override them would break framing or signing.
_RESERVED = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "user-agent",
        SIGNATURE_HEADER.lower(),
        TIMESTAMP_HEADER.lower(),
    }
)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Trailguard-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def parse_headers(raw: Any, where: str) -> dict[str, str]:
    """Extra headers from settings; errors name the header, never its value (it may be a token)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: headers: must be a table of header name -> value")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ConfigError(f"{where}: headers: {name!r} is not a valid header name")
        if name.lower() in _RESERVED:
            raise ConfigError(f"{where}: headers.{name}: is set by trailguard and cannot be overridden")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: headers.{name}: must be a string")
        if any(ch in "\r\n\0" or (not ch.isprintable() and ch != "\t") for ch in value):
            raise ConfigError(f"{where}: headers.{name}: must not contain CR, LF or control characters")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ConfigError(f"{where}: headers.{name}: must be Latin-1 text (HTTP headers are)") from None
        headers[name] = value
    return headers


class WebhookChannel(Channel):
    kind = "webhook"

    def __init__(self, options: Options, context: ChannelContext, clock: Callable[[], float] = time.time) -> None:
        super().__init__(options, context)
        self.url = UrlSource.from_options(options, "url", "url_secret_id", context.secrets)
        self.hmac_secret_id = options.text("hmac_secret_id", default="") or None
        # Its URL or signing key read from Secrets Manager.
        self.needs_aws = self.url.from_secret or self.hmac_secret_id is not None
        options.used.add("headers")
        self.headers = parse_headers(options.raw.get("headers"), options.where)
        self.timeout = options.number("timeout", DEFAULT_TIMEOUT, minimum=0.01)
        self.format = options.text("format", default="trailguard")
        if self.format not in WEBHOOK_FORMATS:
            raise ConfigError(
                f"{options.where}: format: must be one of {', '.join(WEBHOOK_FORMATS)}, got {self.format!r}"
            )
        self.clock = clock

    def send(self, alert: Alert) -> str:
        if self.format == "ocsf":
            from trailguard.services.rendering.ocsf import ocsf_bodies

            # A large digest goes in several POSTs of at most 256 KiB: a retry may re-send the first
            # ones, which their events' finding_info.uid lets a receiver recognise.
            return ", ".join(self._send_body(body) for body in ocsf_bodies(alert.findings))
        return self._send_body(json_body(render_webhook(alert)))

    def _send_body(self, body: bytes) -> str:
        try:
            response = self._post(body)
        except HttpError as exc:
            # A receiver that rejects the signature may have a rotated key: re-read it once.
            if exc.status not in (401, 403) or not self._hmac_key_changed():
                raise
            response = self._post(body)
        return f"HTTP {response.status}"

    def _post(self, body: bytes) -> HttpResponse:
        headers = dict(self.headers)
        if self.hmac_secret_id is not None:
            timestamp = str(int(self.clock()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self.context.secrets.get_text(self.hmac_secret_id), timestamp, body)
        return post_to(self.url, body, headers=headers, timeout=self.timeout)

    def _hmac_key_changed(self) -> bool:
        if self.hmac_secret_id is None:
            return False
        before = self.context.secrets.get_text(self.hmac_secret_id)
        self.context.secrets.invalidate(self.hmac_secret_id)
        return self.context.secrets.get_text(self.hmac_secret_id) != before

    def describe(self) -> str:
        signed = ", signed" if self.hmac_secret_id else ""
        return f"{super().describe()} ({self.url.describe()}{signed})"
