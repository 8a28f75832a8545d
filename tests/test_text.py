"""utils/text.py: text on one line, clipped to a width, bounded with a note, cut to UTF-8 bytes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trailguard.utils.text import bounded, clip, clip_bytes, one_line

SRC = Path(__file__).resolve().parent.parent / "src" / "trailguard"


def test_one_line_folds_white_space_and_optionally_everything_unprintable() -> None:
    assert one_line("  a\r\n\tb  c ") == "a b c"
    assert one_line("a\x00b\x1b[31mc") == "a\x00b\x1b[31mc", "only white space, unless printable=True"
    assert one_line("a\x00b\u2028c\u202ed\ud800e", printable=True) == "a b c d e"
    assert one_line("") == one_line(" \n ", printable=True) == ""


def test_clip_keeps_within_the_limit_with_a_mark() -> None:
    assert clip("short", 10) == "short"
    assert clip("exactly10!", 10) == "exactly10!"
    assert clip("a" * 20, 10) == "a" * 9 + "…"
    assert clip("a" * 20, 10, "...") == "a" * 7 + "..."
    assert clip("a b c d e f", 6) == "a b c…", "a cut leaves the text as it was up to the mark"
    assert clip("abc", 0) == "…", "no room: the mark alone says something was there"


def test_clip_to_whole_words_for_subject_lines() -> None:
    text = "Security group opened to the internet on many ports at once"
    assert clip(text, 30, "...", whole_words=True) == "Security group opened to..."
    assert clip("a " + "x" * 60, 30, "...", whole_words=True) == "a " + "x" * 25 + "...", "no word ends nearby"
    assert clip("word " * 10, 20, "...", whole_words=True) == "word word word..."


def test_bounded_keeps_the_first_characters_and_counts_the_rest() -> None:
    assert bounded("abc", 3) == "abc"
    assert bounded("abcdef", 3) == "abc...[3 more characters]"
    note = "… [truncated: {:,} more characters]"
    assert bounded("x" * 5000, 10, note) == "x" * 10 + "… [truncated: 4,990 more characters]"


def test_clip_bytes_never_cuts_inside_a_character_and_replaces_lone_surrogates() -> None:
    assert clip_bytes("short", 100, "[cut]") == "short"
    assert clip_bytes("x\ud800y", 100, "[cut]") == "x?y"
    cut = clip_bytes("é" * 100, 51, "[cut]")  # 2 bytes each: 46 bytes of room is 23 of them
    assert cut == "é" * 23 + "[cut]" and len(cut.encode()) <= 51
    snowmen = clip_bytes("\N{SNOWMAN}" * 100, 20, "..")  # 3 bytes each: 18 bytes of room
    assert snowmen == "\N{SNOWMAN}" * 6 + ".."


# Text cut by hand: an ellipsis (or a note that starts with one) added to what was kept.
_HAND_CUT = re.compile(r"""\+=?\s*f?["'](…|\.\.\.)""")
# Slack's clip knows its markup (entities, code spans): not a copy of utils.text.clip.
_ALLOWED = {"services/rendering/slack.py"}


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda path: str(path.relative_to(SRC)))
def test_text_is_cut_by_utils_text_only(path: Path) -> None:
    relative = str(path.relative_to(SRC))
    if relative == "utils/text.py" or relative in _ALLOWED:
        return
    match = _HAND_CUT.search(path.read_text(encoding="utf-8"))
    assert not match, f"{relative}: {match[0] if match else ''!r}: use trailguard.utils.text"
