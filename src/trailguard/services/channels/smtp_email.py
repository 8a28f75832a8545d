"""Email through an SMTP server: by default the Amazon SES SMTP endpoint of the region (the default channel).

Options: ``sender`` and ``recipients`` (required); ``secret_id`` (required: a Secrets Manager secret
holding ``{"username": ..., "password": ...}``); ``region`` (default: the AWS region of the run);
``host`` (default ``email-smtp.<region>.amazonaws.com``); ``port`` (587); ``timeout`` (seconds, 10);
``starttls`` (true); ``ca_file`` (a PEM bundle to trust instead of the system's, for a private relay).

With ``starttls`` (the default) TLS is required, not hoped for: a server that does not offer
STARTTLS is a permanent failure, and the credentials are never sent in clear. The certificate is
verified against the host name. The credentials are read through the shared secret cache; when
the server answers 535 (bad credentials) they are fetched again once, because the secret may have
been rotated since they were cached, and the send is retried once with the new ones.

One SMTP session serves many alerts: the channel lives as long as the Lambda container (or the
CLI run), so the alerts of a batch and of the invocations after it share one connection, with
STARTTLS and AUTH done once per session. A session idle for more than ``NOOP_AFTER_SECONDS`` is
checked with NOOP before it is used, and one idle for more than ``MAX_IDLE_SECONDS`` (a frozen
container, a server's idle timeout) is closed and a new one opened; a reused session found closed
at MAIL FROM (the server hung up, or answered 421) is replaced once, transparently, since nothing
of the message was sent on it. Any other failure closes the session: the next attempt starts a new
one. A new secret value (rotated) opens a new session with it.

Connection failures, timeouts and 4xx replies are transient; 5xx replies are permanent. Error
messages name the host and the SMTP code, never the credentials.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.email_message import addr_spec, build_message, check_address, message_bytes, message_id
from trailguard.utils.text import one_line

logger = logging.getLogger("trailguard.channels.smtp")

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_AUTH_INVALID = 535
_REPLY_TEXT_LIMIT = 200
# Within a batch, alerts follow each other by milliseconds: the session is used as it is. Idle for
# longer (between invocations), it is checked with NOOP first, which costs one round trip.
NOOP_AFTER_SECONDS = 1.0
# Idle for longer than this, the session is not trusted at all: mail servers drop idle sessions
# after a few minutes, and a connection frozen with its container may be silently dead, which a
# NOOP would only find after the whole timeout.
MAX_IDLE_SECONDS = 60.0
_STALE = 421  # "closing transmission channel": a reused session the server has given up on


class _Credentials(NamedTuple):
    username: str
    password: str

    def __repr__(self) -> str:  # a stray log of this object must not print the password
        return "_Credentials(<redacted>)"


class _Session(NamedTuple):
    """The open SMTP connection; ``credentials``: those it logged in with (None: not yet logged in)."""

    client: smtplib.SMTP
    credentials: _Credentials | None
    used: float  # the channel's clock when it last carried a message


class _AuthRejected(Exception):
    """The server answered 535: the credentials (maybe stale, after a rotation) are not valid."""


class SmtpEmailChannel(Channel):
    kind = "smtp"
    needs_aws = True

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        where = options.where
        self.sender = check_address(options.text("sender"), f"{where}: sender")
        self.recipients = tuple(check_address(value, f"{where}: recipients") for value in options.texts("recipients"))
        self.secret_id = options.text("secret_id")
        self.region = options.region("region", default=context.aws.region)
        self.host = options.text("host", default=f"email-smtp.{self.region}.amazonaws.com")
        if not _HOST.fullmatch(self.host):
            raise ConfigError(f"{where}: host: must be a host name or address, got {self.host!r}")
        self.port = options.integer("port", 587, minimum=1, maximum=65535)
        self.timeout = options.number("timeout", 10.0)
        if self.timeout <= 0:
            raise ConfigError(f"{where}: timeout: must be more than 0 seconds, got {self.timeout}")
        self.starttls = options.boolean("starttls", True)
        ca_file = options.text("ca_file", default="")
        if ca_file and not Path(ca_file).is_file():
            raise ConfigError(f"{where}: ca_file: no such file: {ca_file}")
        self.ca_file = ca_file
        self._tls_context: ssl.SSLContext | None = None
        self.clock: Callable[[], float] = time.monotonic  # for the idle checks; tests inject one
        self._session: _Session | None = None
        if not self.starttls:
            logger.warning("%s: starttls = false: credentials and alerts travel unencrypted", self.describe())

    # -- sending --------------------------------------------------------------------------------
    def send(self, alert: Alert) -> str:
        message = build_message(alert, self.sender, self.recipients)
        data = message_bytes(message)
        credentials = self._credentials()
        try:
            self._deliver(credentials, data)
        except _AuthRejected:
            # Rotation replaces the secret before the old password stops working, but a cached
            # copy may outlive it: read the secret again, once, and fail for good if that fails too.
            logger.warning(
                "%s: %s rejected the SMTP credentials (535); reading secret %s again",
                self.describe(),
                self.host,
                self.secret_id,
            )
            self.context.secrets.invalidate(self.secret_id)
            fresh = self._credentials()
            if fresh == credentials:
                raise self._auth_error("the secret holds the same credentials") from None
            try:
                self._deliver(fresh, data)
            except _AuthRejected:
                raise self._auth_error("also with the credentials read again") from None
        return message_id(message)

    def _auth_error(self, detail: str) -> ChannelError:
        return ChannelError(
            f"SMTP {self.host}:{self.port} rejected the credentials from secret {self.secret_id} "
            f"(SMTP {_AUTH_INVALID}; {detail})",
            transient=False,
        )

    def _credentials(self) -> _Credentials:
        value = self.context.secrets.get_json(self.secret_id)
        username, password = value.get("username"), value.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            raise ChannelError(
                f"secret {self.secret_id} must be a JSON object with non-empty strings "
                '"username" and "password" (the SES SMTP credentials)',
                transient=False,
            )
        return _Credentials(username, password)

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            # create_default_context verifies the chain and the host name; ca_file replaces the system store.
            self._tls_context = ssl.create_default_context(cafile=self.ca_file or None)
        return self._tls_context

    def _deliver(self, credentials: _Credentials, data: bytes) -> None:
        where = f"SMTP {self.host}:{self.port}"
        stage = "the message"
        try:
            client = self._idle_session(credentials)
            if client is not None:
                if self._transmit(client, data, where, reused=True):
                    self._session = _Session(client, credentials, self.clock())
                    return
                self.close()  # closed while idle: nothing of the message went out on it
            stage = "the connection"
            # The host goes to the constructor: STARTTLS checks the certificate against the name kept there.
            # local_hostname: the default asks the resolver for this machine's FQDN, which can stall a Lambda.
            client = smtplib.SMTP(
                self.host,
                self.port,
                timeout=self.timeout,
                local_hostname=addr_spec(self.sender).rpartition("@")[2],
            )
            self._session = _Session(client, None, self.clock())  # not yet usable; closed on failure
            # A message leaves as several TLS records: with Nagle's algorithm the last one waits for
            # the server's delayed ACK of the one before (40 ms a message on a session in steady state).
            if client.sock is not None:
                client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stage = "EHLO"
            _ehlo(client)
            if self.starttls:
                if not client.has_extn("starttls"):
                    raise ChannelError(
                        f"{where} does not offer STARTTLS, which is required: credentials not sent "
                        "(set starttls = false only for a relay on a trusted network)",
                        transient=False,
                    )
                stage = "STARTTLS"
                client.starttls(context=self._tls())
                stage = "EHLO"
                _ehlo(client)
            stage = "AUTH"
            self._login(client, credentials, where)
            stage = "the message"
            self._transmit(client, data, where, reused=False)
            self._session = _Session(client, credentials, self.clock())
        except BaseException as exc:
            # Whatever failed, the session is in an unknown state: the next attempt opens a new one.
            self.close()
            if isinstance(exc, ChannelError | _AuthRejected) or not isinstance(exc, Exception):
                raise
            raise self._failure(exc, stage, where, credentials) from None

    def _idle_session(self, credentials: _Credentials) -> smtplib.SMTP | None:
        """The open session, if it may carry the next message; None: open a new one."""
        session = self._session
        if session is None:
            return None
        idle = self.clock() - session.used
        if session.credentials != credentials or idle > MAX_IDLE_SECONDS:
            self.close()  # a rotated secret logs in anew; a long-idle session is not worth a NOOP
            return None
        if idle > NOOP_AFTER_SECONDS:
            try:
                code, _reply = session.client.noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self.close()
                return None
        return session.client

    def _transmit(self, client: smtplib.SMTP, data: bytes, where: str, *, reused: bool) -> bool:
        """One message on an open, authenticated session (smtplib's ``sendmail`` in steps, so that a
        reused session closed before MAIL FROM is told apart: False, nothing was sent)."""
        sender = addr_spec(self.sender)
        try:
            code, reply = client.mail(sender)
        except smtplib.SMTPServerDisconnected as exc:
            if reused and not isinstance(exc.__context__, TimeoutError):
                return False
            raise
        if code == _STALE and reused:
            return False
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in (addr_spec(r) for r in self.recipients):
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(self.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = client.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        if refused:
            # Some recipients have it: sending again would duplicate it for them, so it counts as sent.
            logger.warning(
                "%s: %s refused %s; the other recipients were sent the message",
                self.describe(),
                where,
                ", ".join(f"{rcpt} ({code})" for rcpt, (code, _reply) in refused.items()),
            )
        return True

    def _failure(self, exc: Exception, stage: str, where: str, credentials: _Credentials) -> Exception:
        """The ChannelError for an exception of smtplib, ssl or the socket (others are returned as they are)."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = sorted({code for code, _reply in exc.recipients.values()})
            transient = any(400 <= code < 500 for code in codes)
            return ChannelError(
                f"{where} refused every recipient (SMTP {', '.join(map(str, codes))})", transient=transient
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            step = _step(exc, stage)
            text = self._reply_text(exc.smtp_error, credentials)
            return ChannelError(
                f"{where} answered {exc.smtp_code} to {step}" + (f": {text}" if text else ""),
                transient=400 <= exc.smtp_code < 500,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            # smtplib reports a read that timed out as a disconnection; say which it was.
            if isinstance(exc.__context__, TimeoutError):
                return ChannelError(f"{where} timed out after {self.timeout:g} s", transient=True)
            return ChannelError(f"{where} closed the connection unexpectedly", transient=True)
        if isinstance(exc, smtplib.SMTPException):
            # The remaining ones are protocol mismatches (no AUTH offered, no usable mechanism).
            return ChannelError(f"{where}: {exc}", transient=False)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ChannelError(
                f"{where}: the server's TLS certificate was not accepted ({exc.verify_message})", transient=False
            )
        if isinstance(exc, ssl.SSLError):
            return ChannelError(f"{where}: TLS failed ({exc.reason or type(exc).__name__})", transient=True)
        if isinstance(exc, TimeoutError):
            return ChannelError(f"{where} timed out after {self.timeout:g} s", transient=True)
        if isinstance(exc, OSError):
            # Refused, reset, unreachable, name resolution: the network may well be back in a moment.
            reason = exc.strerror or type(exc).__name__
            return ChannelError(f"{where} could not be reached: {reason}", transient=True)
        return exc

    def close(self) -> None:
        """End the open session, if any (QUIT when the server is still there); the next send opens one."""
        session, self._session = self._session, None
        if session is not None:
            _close(session.client)

    def _login(self, client: smtplib.SMTP, credentials: _Credentials, where: str) -> None:
        if not client.has_extn("auth"):
            raise ChannelError(f"{where} does not offer SMTP AUTH", transient=False)
        offered = client.esmtp_features["auth"].upper().split()
        # One mechanism only: smtplib.login() would try each one in turn, doubling failed logins.
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise ChannelError(
                f"{where} offers neither AUTH PLAIN nor AUTH LOGIN (offers {' '.join(offered)})", transient=False
            )
        client.user, client.password = credentials.username, credentials.password
        try:
            client.auth(mechanism, client.auth_plain if mechanism == "PLAIN" else client.auth_login)
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code == _AUTH_INVALID:
                raise _AuthRejected from None
            raise
        finally:
            client.user = client.password = ""

    @staticmethod
    def _reply_text(raw: bytes | str, credentials: _Credentials) -> str:
        """The server's words, one line, bounded, without anything of the credentials in them."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for secret in (credentials.username, credentials.password):
            text = text.replace(secret, "<redacted>")
        return one_line(text, printable=True)[:_REPLY_TEXT_LIMIT]

    def preflight(self) -> None:
        from trailguard.utils.aws_helpers import require_boto3

        require_boto3(f"{self.describe()}, whose secret_id is read from Secrets Manager,")

    def describe(self) -> str:
        return f"{super().describe()} ({self.host}:{self.port})"


def _ehlo(client: smtplib.SMTP) -> None:
    # smtplib's ehlo() returns a 4xx/5xx instead of raising; has_extn() would then see no STARTTLS
    # and a busy server would look like one that refuses TLS.
    code, reply = client.ehlo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, reply)


def _step(exc: smtplib.SMTPResponseException, stage: str) -> str:
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "MAIL FROM"
    if isinstance(exc, smtplib.SMTPDataError):
        return "DATA"
    return stage


def _close(client: smtplib.SMTP) -> None:
    try:
        if client.sock is not None:
            client.quit()
    except (smtplib.SMTPException, OSError):
        pass  # the message is sent or the failure already reported; a rude goodbye changes nothing
    finally:
        client.close()
