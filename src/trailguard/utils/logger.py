"""Structured JSON logs for the Lambda: one object per line on stdout, which Lambda sends to CloudWatch Logs.

Deliberately tiny and stdlib-only: the ``logging`` module and AWS Lambda Powertools each cost
milliseconds of every cold start, and the entry point only needs to write a few flat records. Each
line carries ``level``, ``message``, ``timestamp`` (UTC, ms), ``logger`` and the invocation's
``request_id`` (see ``bind``), then the caller's fields. CloudWatch Logs Insights reads them as
fields (``filter outcome = "failed"``).

No secret may be logged: callers pass event ids, names, rule ids and outcomes, never settings or
channel options. As a second line of defence, a field whose name looks like a credential is
replaced by ``"<redacted>"``, at any depth.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from trailguard.utils.text import bounded

LOGGER = "trailguard"
_SECRET_WORDS = ("password", "secret", "token", "authorization", "credential", "api_key", "apikey")
_REDACTED = "<redacted>"
# Event text can be huge (a 1 MB user agent): CloudWatch Logs cuts events at 256 KB, which would
# break the line's JSON, and nobody reads a megabyte in a log. Each string is bounded instead.
MAX_VALUE_CHARS = 4096
MAX_DEPTH = 16
_TOO_DEEP = "<nested too deep>"
_context: dict[str, Any] = {}
# Tests swap this for a buffer; Lambda reads the process's stdout.
stream: TextIO | None = None


def bind(**fields: Any) -> None:
    """Fields added to every following line until the next ``bind`` (the invocation's request id)."""
    _context.clear()
    _context.update({key: value for key, value in fields.items() if value not in (None, "")})


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with every credential-looking key's value hidden (dicts and lists, recursively),
    every string bounded, and nesting cut at ``MAX_DEPTH`` (event values can nest 10,000 deep,
    which would make the line's encoding raise)."""
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return {
            bounded(str(key), MAX_VALUE_CHARS): _REDACTED if _is_secret_name(str(key)) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, str):
        return bounded(value, MAX_VALUE_CHARS)
    return value


def _timestamp(now: float) -> str:
    seconds = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((now - seconds) * 1000):03d}Z"


def log(level: str, message: str, **fields: Any) -> dict[str, Any]:
    """Write one JSON line; returns the record (tests read it back)."""
    record: dict[str, Any] = {
        "level": level,
        "message": bounded(message, MAX_VALUE_CHARS),
        "timestamp": _timestamp(time.time()),
        "logger": LOGGER,
        **_context,
    }
    record.update(redact(fields))
    # default=str: a stray non-JSON value (an exception, a Severity) must not lose the line.
    # ASCII-only: event text may hold U+0085, U+2028 or lone surrogates, which some log pipelines
    # (and str.splitlines) treat as line breaks or cannot encode. One event stays one line.
    line = json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":"))
    out = stream if stream is not None else sys.stdout
    out.write(line + "\n")
    out.flush()
    return record


def info(message: str, **fields: Any) -> dict[str, Any]:
    return log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> dict[str, Any]:
    return log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> dict[str, Any]:
    return log("ERROR", message, **fields)
