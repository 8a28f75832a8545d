"""Files in a directory: each alert as ``<stem>.eml`` (open it in a mail client) and ``<stem>.html``.

Option: ``path`` (required; created when missing). ``make demo`` and ``trailguard scan --outbox``
write to ``./outbox/`` this way, and ``trailguard render`` previews templates with it.

File names come from trusted parts only: the event time's digits, the severity, the rule id (reduced
to ``[a-z0-9.-]``) and a short hash of the findings' keys; never from free event text, so nothing
an attacker writes into an event can steer a file outside the directory. Existing files are never
overwritten: a counter is added instead (files are created with O_EXCL, so this holds even when two
processes write to the same folder).
"""

from __future__ import annotations

import errno
import hashlib
import re
from pathlib import Path

from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.rendering.email import EmailContent, render_email

SENDER = "trailguard <trailguard@trailguard.invalid>"
_MAX_COUNTER = 10_000
_UNSAFE = re.compile(r"[^a-z0-9.-]+")
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EBUSY, errno.EINTR})


def file_stem(alert: Alert) -> str:
    """``20261102T140511Z_critical_cloudtrail.logging-stopped_3fa2c1d09b`` (safe on every file system)."""
    first = alert.first
    # [^0-9], not \D: Python's \d also takes Arabic-Indic and fullwidth digits.
    digits = re.sub(r"[^0-9]", "", first.event_time)[:14]
    when = f"{digits[:8]}T{digits[8:]}Z" if len(digits) == 14 else "unknown-time"
    what = f"digest-{len(alert.findings)}" if alert.digest else _UNSAFE.sub("-", first.rule_id.lower()).strip(".-")
    keys = "\n".join(finding.key for finding in alert.findings)
    digest = hashlib.sha256(keys.encode("utf-8", "replace")).hexdigest()[:10]
    stem = f"{when}_{alert.severity.name.lower()}_{what[:60] or 'alert'}_{digest}"
    return f"test_{stem}" if alert.test else stem


def email_bytes(alert: Alert, content: EmailContent) -> bytes:
    """A complete multipart/alternative message (text and HTML), as a mail client opens it."""
    from email.header import Header
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    subject = content.subject  # already one line: render_email strips CR/LF
    if subject.isascii() and "=?" not in subject:
        message["Subject"] = subject  # readable as it is in the file
    else:
        # Encoded as a whole (as email_message does) and stored raw: the EmailMessage API decodes
        # event text that looks like an RFC 2047 encoded word ("=?utf-8?b?DQpCY2M6...?=") when a
        # header is set, and writes what it decodes to (a CR/LF and a Bcc: header, a bidi override).
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())
    message["From"] = SENDER
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="trailguard.invalid")
    message["X-Trailguard-Severity"] = alert.severity.name
    if not alert.digest:
        message["X-Trailguard-Rule"] = alert.first.rule_id
    message.set_content(_encodable(content.text))
    message.add_alternative(_encodable(content.html), subtype="html")
    return message.as_bytes()


def _encodable(text: str) -> str:
    # Event text may hold lone surrogates (valid in JSON, not in UTF-8).
    return text.encode("utf-8", "replace").decode("utf-8")


def _html_bytes(html: str) -> bytes:
    data = _encodable(html).encode("utf-8")
    # A browser opening a local file guesses the encoding unless the page declares it; a BOM settles it.
    return data if "charset" in html[:1024].lower() else b"\xef\xbb\xbf" + data


class FolderChannel(Channel):
    kind = "folder"

    def __init__(self, options: Options, context: ChannelContext) -> None:
        super().__init__(options, context)
        self.path = Path(options.text("path")).expanduser()
        self.where = options.where

    def preflight(self) -> None:
        """The folder exists or can be made, and takes a new file: tried, not judged by its mode
        bits, which root ignores and a read-only file system overrides."""
        import tempfile

        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.where}: {self.path} is a file, not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as exc:
            raise ConfigError(
                f"{self.where}: cannot write to folder {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None

    def send(self, alert: Alert) -> str:
        content = render_email(alert)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            eml_path, html_path = self._claim(file_stem(alert))
        except OSError as exc:
            raise self._error(exc) from None
        try:
            eml_path.write_bytes(email_bytes(alert, content))
            html_path.write_bytes(_html_bytes(content.html))
        except OSError as exc:
            eml_path.unlink(missing_ok=True)  # no half-written pair left behind
            html_path.unlink(missing_ok=True)
            raise self._error(exc) from None
        return str(html_path)

    def _error(self, exc: OSError) -> ChannelError:
        return ChannelError(
            f"cannot write to folder {self.path}: {exc.strerror or type(exc).__name__}",
            transient=exc.errno in _TRANSIENT_ERRNOS,
        )

    def _claim(self, stem: str) -> tuple[Path, Path]:
        """Create both files empty and exclusively, adding ``-2``, ``-3``... until neither exists."""
        folder = self.path.resolve()
        for counter in range(1, _MAX_COUNTER):
            name = stem if counter == 1 else f"{stem}-{counter}"
            eml_path, html_path = folder / f"{name}.eml", folder / f"{name}.html"
            if eml_path.parent != folder:  # cannot happen with file_stem's alphabet; never write outside
                raise ChannelError(f"refusing file name outside folder {self.path}", transient=False)
            try:
                eml_path.open("xb").close()
            except FileExistsError:
                continue
            try:
                html_path.open("xb").close()
            except FileExistsError:
                eml_path.unlink()
                continue
            return eml_path, html_path
        raise ChannelError(f"folder {self.path}: {_MAX_COUNTER} files named {stem} already exist", transient=False)

    def describe(self) -> str:
        return f"{super().describe()} ({self.path})"
