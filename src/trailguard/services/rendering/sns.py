"""SNS: an ASCII subject under 100 characters and the plain-text email body, for any subscriber."""

from __future__ import annotations

from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import render_text
from trailguard.services.rendering.view import subject_line
from trailguard.utils.text import clip, clip_bytes

SNS_SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
SNS_MESSAGE_BYTES = 250 * 1024  # SNS allows 256 KiB with the attributes


def printable_ascii(text: str) -> str:
    """``?`` for every character that is not printable ASCII, as SNS wants subjects."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def _ascii_subject(text: str) -> str:
    """trailguard's own marks (``·`` ``…`` ``⟨U+202E⟩``) as ASCII look-alikes, then printable ASCII."""
    for fancy, plain in (("·", "-"), ("…", "..."), ("\u2014", "-"), ("\u2013", "-"), ("⟨", "<"), ("⟩", ">")):
        text = text.replace(fancy, plain)
    return printable_ascii(text)


def render_sns(alert: Alert) -> tuple[str, str]:
    """(subject, message): the subject ASCII, one line, under 100 characters; the message the
    plain-text email body, under SNS's 256 KiB."""
    # Room for look-alikes longer than what they replace ("…" is three dots).
    subject = clip(_ascii_subject(subject_line(alert, SNS_SUBJECT_LIMIT - 4)), SNS_SUBJECT_LIMIT, "...")
    return subject, clip_bytes(render_text(alert), SNS_MESSAGE_BYTES, "\n\n[... truncated ...]")
