"""Remediation commands filled with an event's own values, quoted for a shell and never run.

A rule's ``remediation`` metadata is a template: the catalogue (docs/rules.md) shows it with
placeholders such as ``<bucket>``; a rule that knows the values from its event returns the filled
text in ``Hit.remediation``. Every value comes from the event, so it is attacker-controlled: each is
quoted with ``shlex.quote`` so that a pasted command runs only the command shown, and a value with
control characters (a newline would start a second command in a terminal), a backtick (it would
end the command's code span in the alert, and the reader would copy half of it) or of absurd
length is not filled at all, leaving its placeholder for the reader. No AWS name or id has any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Longer than any AWS name or ARN a command takes (an ARN is at most 2048 characters).
MAX_VALUE = 2048


def _fillable(value: str) -> bool:
    return bool(value) and len(value) <= MAX_VALUE and value.isprintable() and "`" not in value


def quoted(value: str | Sequence[str]) -> str:
    """One or several shell words, each quoted; empty when any of them cannot be filled safely."""
    import shlex  # only findings with a filled remediation need it

    words = [value] if isinstance(value, str) else list(value)
    if not words or not all(_fillable(word) for word in words):
        return ""
    return " ".join(shlex.quote(word) for word in words)


def fill(template: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """``template`` with each ``<placeholder>`` in ``values`` replaced by its quoted value.

    A placeholder whose value is missing or unsafe stays as it is. Values are substituted in one
    pass, so a value that itself looks like a placeholder is not filled again.
    """
    import re  # only findings with a filled remediation need it

    filled = {name: quoted(value) for name, value in values.items()}

    def replace(match: re.Match[str]) -> str:
        return filled.get(match[0]) or match[0]

    return re.sub(r"<[a-z][a-z0-9-]*>", replace, template)
