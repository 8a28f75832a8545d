"""Files in a directory: each alert as ``<stem>.eml`` (open it in a mail client) and ``<stem>.html``.

Options: ``path`` (required; created when missing); ``sender`` and ``recipients`` (optional: the
From and To of the ``.eml``, placeholders at ``.invalid`` by default). The ``.eml`` is the message
the email channels send (``email_message.build_message``), with the same headers (To, Message-ID,
X-Trailguard-Alert-ID...): a mail rule or a script tried on the outbox works on the real mail.
``make demo`` and ``trailguard scan --outbox`` write to ``./outbox/`` this way, and
``trailguard render`` previews templates with it.

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
from collections.abc import Sequence
from pathlib import Path

from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels.base import Channel, ChannelContext, Options
from trailguard.services.rendering.email import EmailContent, render_email

SENDER = "trailguard <trailguard@trailguard.invalid>"
RECIPIENTS = ("alerts@trailguard.invalid",)
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


def email_bytes(
    alert: Alert, content: EmailContent, sender: str = SENDER, recipients: Sequence[str] = RECIPIENTS
) -> bytes:
    """The message an email channel would send for ``alert`` (text and HTML), as a mail client opens it."""
    from trailguard.services.email_message import build_message

    # The file's own line ends (LF), which every mail client opens; SMTP's CRLF is the wire's.
    return build_message(alert, sender, recipients, content).as_bytes()


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
        from trailguard.services.email_message import check_address

        self.path = Path(options.text("path")).expanduser()
        self.where = options.where
        self.sender = check_address(options.text("sender", SENDER), f"{self.where}: sender")
        self.recipients = tuple(
            check_address(value, f"{self.where}: recipients") for value in options.texts("recipients", RECIPIENTS)
        )

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
            eml_path.write_bytes(email_bytes(alert, content, self.sender, self.recipients))
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
