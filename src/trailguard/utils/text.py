"""Text made to fit: on one line, in so many characters or so many UTF-8 bytes.

Event text can be megabytes long and hold line breaks, and logs, DynamoDB items, headers, terminal
columns and message services all have limits. Two ways to cut, on purpose: ``clip`` keeps the
result within the limit (a column, a header), ``bounded`` keeps the first ``limit`` characters
whole and says how many more there were (a log line, a stored item, a field for a machine).
Stdlib only: the Lambda's log lines use this module.
"""

from __future__ import annotations

from collections.abc import Iterable

MORE_CHARACTERS = "...[{} more characters]"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``candidates`` to a misspelled ``word``, or ''."""
    import difflib  # only on an error's path

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_line(text: str, *, printable: bool = False) -> str:
    """Runs of white space (line breaks, tabs) folded into one space, and stripped.

    ``printable``: every other character that is not printable (control and format characters, line
    separators, lone surrogates) becomes a space first, for text that goes in a header or a message.
    """
    if printable:
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def clip(text: str, limit: int, mark: str = "…", *, whole_words: bool = False) -> str:
    """``text`` in at most ``limit`` characters; when it had to be cut, it ends with ``mark``.

    ``whole_words`` (subject lines): end on a whole word when one ends in the last 20 characters,
    with no space before the mark.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(mark))]
    if whole_words:
        space = cut.rfind(" ")
        if space > len(cut) - 20:
            cut = cut[:space]
        cut = cut.rstrip()
    return cut + mark


def bounded(text: str, limit: int, note: str = MORE_CHARACTERS) -> str:
    """The first ``limit`` characters of ``text`` and, when there were more, ``note`` formatted with
    how many (``"...[{} more characters]"``; the note is not counted in the limit)."""
    if len(text) <= limit:
        return text
    return text[:limit] + note.format(len(text) - limit)


def clip_bytes(text: str, limit: int, note: str) -> str:
    """``text`` in at most ``limit`` bytes of UTF-8, ending with ``note`` when it had to be cut (never
    inside a character). Lone surrogates, valid in JSON but not in UTF-8, become ``?``."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return data.decode("utf-8")
    return data[: limit - len(note.encode("utf-8"))].decode("utf-8", "ignore") + note


def listing(values: list[str], limit: int) -> str:
    """The first ``limit`` values, comma-separated, then "and N more": alert text stays short when a
    call names hundreds of alarms or targets."""
    shown = ", ".join(values[:limit])
    extra = len(values) - limit
    return f"{shown} and {extra} more" if extra > 0 else shown
