"""One small HTTP POST for the chat and webhook channels, over urllib.request (no extra dependency).

Webhook URLs are secrets: whoever has a Slack or Teams webhook URL can post to the channel, and a
Teams Workflows URL carries its signature in the query string. So errors and logs name the host
(and port) and the HTTP status, never the path or query, and a response body quoted in an error
has the URL's path, query and long path segments cut out in case the server echoes them.

Error mapping (``ChannelError.transient``):

- connection refused or reset, timeouts, DNS failures, HTTP 408, 425, 429 and 5xx: transient,
  retried by the notification service (``HttpError.retry_after`` holds a ``Retry-After`` in seconds);
- other HTTP 4xx, redirects (never followed: a POST must not silently become a GET elsewhere) and
  TLS certificate failures: permanent.

Plain ``http://`` is accepted only for loopback hosts (tests, a local relay); anything that goes
over a network must be ``https://``.

Only the HTTP channels import this module, so a plain scan never loads urllib or http.client.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from trailguard import __version__
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.utils.text import clip, one_line

if TYPE_CHECKING:
    from trailguard.services.channels.base import Options
    from trailguard.services.secrets import SecretCache

DEFAULT_TIMEOUT = 10.0
USER_AGENT = f"trailguard/{__version__}"
_MAX_RESPONSE_BYTES = 64 * 1024
_QUOTED_BODY_CHARS = 200
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_LOCAL_HOSTS = frozenset({"localhost"})


class HttpResponse(NamedTuple):
    status: int
    body: str  # the first 64 KiB, decoded leniently


class HttpError(ChannelError):
    """A failed POST; ``status`` is None when no HTTP answer came back."""

    def __init__(
        self, message: str, *, transient: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, transient=transient)
        self.status = status
        self.retry_after = retry_after


def host_label(url: str) -> str:
    """``host`` or ``host:port``: what errors and logs may say about a secret URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used, without quoting it; None when it is fine."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password (use a secret for the whole URL)"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must be https:// (plain http:// is accepted only for localhost)"
    return None


class UrlSource:
    """A webhook URL given in the settings, or read from Secrets Manager when it is needed.

    A secret holds the URL as plain text or as JSON ``{"url": "..."}``. After a rejection that
    may mean the URL was revoked, ``refresh`` re-reads the secret so a rotated URL is picked up.
    """

    def __init__(self, url: str | None, secret_id: str | None, secrets: SecretCache) -> None:
        self._url = url
        self.secret_id = secret_id
        self._secrets = secrets

    @classmethod
    def from_options(cls, options: Options, url_key: str, secret_key: str, secrets: SecretCache) -> UrlSource:
        """Exactly one of ``url_key`` (checked now) and ``secret_key`` (read at send time)."""
        url = options.text(url_key, default="") or None
        secret_id = options.text(secret_key, default="") or None
        if (url is None) == (secret_id is None):
            raise ConfigError(f"{options.where}: {url_key}: give either {url_key} or {secret_key}, not both or neither")
        if url is not None:
            problem = url_problem(url)
            if problem:
                raise ConfigError(f"{options.where}: {url_key}: {problem}")
        return cls(url, secret_id, secrets)

    @property
    def from_secret(self) -> bool:
        return self.secret_id is not None

    def describe(self) -> str:
        if self._url is not None:
            return host_label(self._url)
        return f"URL from secret {self.secret_id}"

    def get(self) -> str:
        if self._url is not None:
            return self._url
        assert self.secret_id is not None
        return url_from_secret(self._secrets.get_text(self.secret_id), self.secret_id)

    def refresh(self) -> str | None:
        """The secret's current URL if it differs from the cached one; None otherwise."""
        if self.secret_id is None:
            return None
        before = self.get()
        self._secrets.invalidate(self.secret_id)
        after = self.get()
        return after if after != before else None


def url_from_secret(value: str, secret_id: str) -> str:
    """The URL in a secret's value (plain text, or JSON with "url"); errors never quote the value."""
    text = value.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ChannelError(f"secret {secret_id} is neither a URL nor valid JSON", transient=False) from None
        url = document.get("url") if isinstance(document, dict) else None
        if not isinstance(url, str):
            raise ChannelError(f'secret {secret_id}: JSON without a "url" string', transient=False)
        text = url.strip()
    problem = url_problem(text)
    if problem:
        raise ChannelError(f"secret {secret_id}: the URL {problem}", transient=False)
    return text


def json_body(payload: Any) -> bytes:
    """Compact JSON; ASCII escapes keep lone surrogates from event text from breaking the encoding."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
    timeout: float = DEFAULT_TIMEOUT,
) -> HttpResponse:
    """POST ``body``; a 2xx answer is returned, anything else raises ``HttpError``."""
    host = host_label(url)
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            text = response.read(_MAX_RESPONSE_BYTES).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            hidden = (headers or {}).values()  # an Authorization token, which a server may echo
            raise _status_error(url, exc.code, exc.reason, exc.headers, _read_quietly(exc), hidden=hidden) from None
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise HttpError(f"POST to {host}: TLS certificate not trusted", transient=False) from None
        raise HttpError(f"POST to {host}: {_network_reason(reason)}", transient=True) from None
    except TimeoutError:
        raise HttpError(f"POST to {host}: timed out after {timeout:g}s", transient=True) from None
    except (OSError, http.client.HTTPException) as exc:
        # Reset connections, a server that hangs up mid-answer, a garbled status line.
        raise HttpError(f"POST to {host}: {_network_reason(exc)}", transient=True) from None
    return HttpResponse(status, text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError, mapped to a permanent failure


def _read_quietly(exc: Any) -> str:
    try:
        data: bytes = exc.read(_MAX_RESPONSE_BYTES)
    except Exception:  # noqa: BLE001 -- the status is what matters; the body is a bonus
        return ""
    return data.decode("utf-8", "replace")


def _network_reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return type(reason).__name__


def _status_error(
    url: str, status: int, reason: object, headers: Any, body: str, *, hidden: Iterable[str] = ()
) -> HttpError:
    host = host_label(url)
    transient = status in _TRANSIENT_STATUSES or status >= 500
    hidden = tuple(hidden)
    # The reason phrase is the server's text too: some put the request line in it.
    phrase = _clean(redact(str(reason or ""), url, hidden), 60)
    message = f"POST to {host}: HTTP {status}" + (f" {phrase}" if phrase else "")
    if 300 <= status < 400:
        message += " (redirects are not followed)"
    quoted = _clean(redact(body, url, hidden), _QUOTED_BODY_CHARS)
    if quoted and quoted.lower() != phrase.lower():
        message += f": {quoted}"
    retry_after = _retry_after(headers.get("Retry-After") if headers is not None else None)
    return HttpError(message, transient=transient, status=status, retry_after=retry_after)


def redact(text: str, url: str, hidden: Iterable[str] = ()) -> str:
    """``text`` with the URL's path, query and long path segments (tokens) replaced, and the ``hidden``
    values (the request's headers) with their long words (the token of ``Bearer <token>``)."""
    parts = urlsplit(url)
    secrets = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query]
    secrets += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    secrets += [value for _, _, value in (p.partition("=") for p in parts.query.split("&")) if len(value) >= 8]
    for value in hidden:
        secrets += [value, *(word for word in value.split() if len(word) >= 8)]
    for secret in sorted({s for s in secrets if len(s) > 1}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _clean(text: str, limit: int) -> str:
    return clip(one_line(text, printable=True), limit)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# Slack answers 403/404/410 for a revoked or deleted webhook; Workflows 401/403/404 for a bad signature.
_REVOKED_STATUSES = frozenset({401, 403, 404, 410})


def post_to(
    source: UrlSource,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> HttpResponse:
    """POST to the source's URL; when a secret URL looks revoked, re-read the secret and try once more.

    That is how a rotated webhook URL is picked up before the secret cache's TTL runs out.
    """
    try:
        return post(source.get(), body, headers=headers, timeout=timeout)
    except HttpError as exc:
        if exc.status not in _REVOKED_STATUSES or not source.from_secret:
            raise
        try:
            fresh = source.refresh()
        except ChannelError:
            raise exc from None
        if fresh is None:
            raise
        return post(fresh, body, headers=headers, timeout=timeout)
