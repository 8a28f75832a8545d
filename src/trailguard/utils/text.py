"""Small text helpers shared by the log lines and the state store (stdlib only: on the Lambda path)."""

from __future__ import annotations


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were: event text can be
    megabytes, and logs and DynamoDB items have limits."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def listing(values: list[str], limit: int) -> str:
    """The first ``limit`` values, comma-separated, then "and N more": alert text stays short when a
    call names hundreds of alarms or targets."""
    shown = ", ".join(values[:limit])
    extra = len(values) - limit
    return f"{shown} and {extra} more" if extra > 0 else shown
