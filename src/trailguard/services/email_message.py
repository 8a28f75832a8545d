"""The MIME message both email channels send: text and HTML alternatives of ``render_email``.

Headers carry text that came from events (the subject, rule ids): every header value is cut to one
printable line here, whatever the renderer did, so no CR/LF can smuggle in a ``Bcc:`` or end the
headers early. Addresses come from settings and are checked once, when the channel is built.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, getaddresses

from trailguard.core.exceptions import ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import EmailContent, render_email
from trailguard.utils.text import clip, one_line

# The legacy (compat32) API: its Header class folds encoded words correctly; see _encoded().
_WIRE = policy.compat32.clone(linesep="\r\n")
_UTF8 = "utf-8"
_QP_UTF8 = Charset(_UTF8)
_QP_UTF8.body_encoding = QP
HEADER_LIMIT = 250  # characters; long values are folded by the email package, this just bounds them
# A pragmatic address check: one local part, one dotted domain, no spaces or control characters.
# SES needs ASCII addresses (IDN domains in punycode), so that is all this accepts.
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)


def header_text(value: str, limit: int = HEADER_LIMIT) -> str:
    """One printable line: CR, LF, NUL, U+2028, lone surrogates (which would make the message
    unencodable) and every other control or separator become spaces."""
    return clip(one_line(value, printable=True), limit)


def _body_text(value: str) -> str:
    return value.encode("utf-8", "replace").decode("utf-8")


def check_address(value: str, where: str) -> str:
    """A sender or recipient from settings, as ``name@example.com`` or ``Name <name@example.com>``.

    Returns the address unchanged; raises ``ConfigError`` naming ``where`` (channel and key).
    """
    if any(not ch.isprintable() for ch in value):
        raise ConfigError(f"{where}: must not contain control characters or line breaks, got {value!r}")
    parsed = getaddresses([value])
    if len(parsed) != 1 or not _ADDR_SPEC.fullmatch(parsed[0][1]):
        raise ConfigError(f"{where}: must be one email address such as alerts@example.com, got {value!r}")
    return value


def addr_spec(address: str) -> str:
    """The bare ``name@example.com`` of a checked address: what the SMTP envelope uses."""
    return getaddresses([address])[0][1]


def _display(address: str) -> str:
    display, spec = getaddresses([address])[0]
    # formataddr quotes specials and RFC 2047-encodes a non-ASCII display name.
    return formataddr((header_text(display), spec), charset="utf-8")


def _encoded(value: str, name: str) -> Header:
    """A header value as RFC 2047 encoded words, always.

    Always encoding keeps the text exact: the email package's folding of mixed plain and encoded
    words adds spaces (CPython's refolding), and event text that merely looks like an encoded word
    (``=?utf-8?q?...?=``) would otherwise be decoded by mail clients into something else.
    """
    return Header(value, _UTF8, header_name=name)


def rule_ids(alert: Alert) -> str:
    """The distinct rule ids of an alert, in order, for a header filters can match on."""
    return ", ".join(dict.fromkeys(header_text(f.rule_id, 100) for f in alert.findings))


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset=_UTF8)
    part.set_payload(_body_text(text), _QP_UTF8)
    del part["MIME-Version"]  # added to every part; it belongs on the top level only
    return part


def build_message(
    alert: Alert,
    sender: str,
    recipients: Sequence[str],
    content: EmailContent | None = None,
    now: datetime | None = None,
) -> Message:
    """One ``multipart/alternative`` message (plain text first, HTML preferred) to all recipients."""
    content = content or render_email(alert)
    message = MIMEMultipart("alternative")
    sender_domain = addr_spec(sender).rpartition("@")[2]
    message["From"] = _display(sender)
    message["To"] = ", ".join(_display(recipient) for recipient in recipients)
    # compat32 messages take Header objects as values (typeshed knows only str).
    message["Subject"] = _encoded(header_text(content.subject) or "trailguard alert", "Subject")  # type: ignore[assignment]
    message["Date"] = format_datetime(now or datetime.now(UTC))
    # Not email.utils.make_msgid: it asks the resolver for this host's FQDN, slow in a Lambda.
    # SES replaces the Message-ID with its own; X-Trailguard-Alert-ID survives it, for mail rules.
    identity = alert_id(alert)
    message["Message-ID"] = f"<trailguard.{identity}@{sender_domain}>"
    message["X-Trailguard-Alert-ID"] = identity
    message["X-Trailguard-Severity"] = alert.severity.name
    rules = header_text(rule_ids(alert))
    message["X-Trailguard-Rule"] = rules if _plain(rules) else _encoded(rules, "X-Trailguard-Rule")  # type: ignore[assignment]
    if alert.digest:
        message["X-Trailguard-Digest"] = str(len(alert.findings))
    if alert.test:
        message["X-Trailguard-Test"] = "yes"
    # Alerts are machine mail: no vacation replies back to the sender (RFC 3834, and Outlook's own header).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    # Quoted-printable keeps every line under SMTP's 998-octet limit and the body 7-bit clean.
    message.attach(_text_part(content.text, "plain"))
    message.attach(_text_part(content.html, "html"))
    return message


def alert_id(alert: Alert) -> str:
    """The same for every send of the same alert (a test alert is always new): a copy sent again (a
    connection lost after the server accepted the message, a retry after the Lambda died) can be
    recognised by it."""
    if alert.test:
        return uuid.uuid4().hex

    keys = "\n".join(sorted(finding.key for finding in alert.findings))
    kind = "digest" if alert.digest else "alert"
    return hashlib.sha256(f"{kind}\n{keys}".encode("utf-8", "replace")).hexdigest()[:32]


def _plain(value: str) -> bool:
    """Short printable ASCII that no mail client would decode: safe to send as it is."""
    return value.isascii() and "=?" not in value and len(value) <= 900


def message_bytes(message: Message) -> bytes:
    """The message as sent: CRLF line ends, 7-bit clean."""
    return message.as_bytes(policy=_WIRE)


def message_id(message: Message) -> str:
    return str(message["Message-ID"])
