"""SNS: an ASCII subject under 100 characters and the plain-text email body, for any subscriber."""

from __future__ import annotations

from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import render_text
from trailguard.services.rendering.view import subject_line

SNS_SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
SNS_MESSAGE_BYTES = 250 * 1024  # SNS allows 256 KiB with the attributes


def _ascii(text: str) -> str:
    for fancy, plain in (("·", "-"), ("…", "..."), ("\u2014", "-"), ("\u2013", "-"), ("⟨", "<"), ("⟩", ">")):
        text = text.replace(fancy, plain)
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    note = "\n\n[... truncated ...]"
    return data[: limit - len(note.encode())].decode("utf-8", "ignore") + note


def render_sns(alert: Alert) -> tuple[str, str]:
    """(subject, message): the subject ASCII, one line, under 100 characters; the message the
    plain-text email body, under SNS's 256 KiB."""
    subject = _ascii(subject_line(alert, SNS_SUBJECT_LIMIT - 4))
    if len(subject) > SNS_SUBJECT_LIMIT:
        subject = subject[: SNS_SUBJECT_LIMIT - 3].rstrip() + "..."
    return subject, _cut_bytes(render_text(alert), SNS_MESSAGE_BYTES)
