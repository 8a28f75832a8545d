"""Readers for CloudTrail data: S3 log files, EventBridge events, JSON Lines and stdin.

Accepted input, detected from content rather than file names:
- CloudTrail log files as CloudTrail writes them to S3: ``{"Records": [...]}``, ``.json`` or gzipped.
- EventBridge events (``detail-type`` "AWS API Call via CloudTrail" or "AWS Console Sign In via
  CloudTrail"), one per file or a JSON array of them.
- Bare CloudTrail records, one per file or a JSON array.
- JSON Lines of bare records or EventBridge events (``.jsonl``/``.ndjson``, or any file whose first
  line is a complete JSON value), and stdin (``-``).

Speed: most records in a trail are of no interest to any rule. For log files the reader first
decodes only ``eventSource``, ``eventName``, ``errorCode`` and ``userIdentity.type`` of every record
(msgspec typed decoding skips the rest without building objects), asks the engine whether any rule
wants the record, and fully decodes only those. Memory is bounded by the largest single file.

Robustness: a malformed file, line or record is reported through ``on_problem`` with its location
and skipped; everything else is still read.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import msgspec

from trailguard.core.envelope import NOT_A_RECORD, unwrap

STDIN = "-"
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
DATA_SUFFIXES = (".json", ".json.gz", ".gz", *JSON_LINES_SUFFIXES)
# CloudTrail writes digest files beside the logs; they hold hashes, not events.
SKIPPED_DIRECTORIES = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})
GZIP_MAGIC = b"\x1f\x8b"

Wants = Callable[[Any, Any, Any, bool], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class InputProblem:
    """Something in the input that could not be read: where, and why."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclasses.dataclass
class ReadStats:
    files: int = 0
    bytes_read: int = 0
    bytes_decoded: int = 0
    records: int = 0
    decoded: int = 0
    problems: int = 0

    def merge(self, other: ReadStats) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class _Identity(msgspec.Struct, gc=False):
    type: str | None = None


class _Head(msgspec.Struct, gc=False):
    """The few fields of a record that decide whether any rule wants it."""

    eventSource: str | None = None
    eventName: str | None = None
    errorCode: str | None = None
    userIdentity: _Identity | None = None


class _LogFileHeads(msgspec.Struct, gc=False):
    Records: list[_Head] | None = None


class _LogFileRaw(msgspec.Struct, gc=False):
    Records: list[msgspec.Raw] | None = None


_HEADS_DECODER = msgspec.json.Decoder(_LogFileHeads)
_RAW_DECODER = msgspec.json.Decoder(_LogFileRaw)
_ANY_DECODER = msgspec.json.Decoder()
_BYTE_POSITION = re.compile(r"\(byte (\d+)\)", re.ASCII)


def _want_everything(source: Any, name: Any, identity_type: Any, failed: bool) -> bool:
    return True


class Reader:
    """Turns files and byte strings into CloudTrail records (dicts), reporting what it skips."""

    def __init__(
        self,
        wants: Wants | None = None,
        on_problem: Callable[[InputProblem], None] | None = None,
    ) -> None:
        self.wants: Wants = wants or _want_everything
        self.on_problem = on_problem or (lambda problem: None)
        self.stats = ReadStats()

    # -- entry points ---------------------------------------------------------------------------
    def read_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
        """Records from every file under ``paths`` (directories recursively, ``-`` for stdin)."""
        for path in expand_paths(paths, self._problem):
            if path == STDIN:
                yield from self.read_stream(sys.stdin.buffer, "<stdin>")
            else:
                yield from self.read_file(Path(path))

    def read_file(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._problem(str(path), f"cannot read file: {exc.strerror or exc}")
            return
        self.stats.files += 1
        yield from self.read_bytes(data, str(path), json_lines=path.name.endswith(JSON_LINES_SUFFIXES))

    def read_stream(self, stream: BinaryIO, location: str) -> Iterator[dict[str, Any]]:
        """JSON Lines are streamed line by line; anything else is read whole and parsed."""
        self.stats.files += 1
        first = stream.readline()
        while first and not first.strip():
            first = stream.readline()
        if not first:
            return
        if first[:2] == GZIP_MAGIC:
            yield from self.read_bytes(first + stream.read(), location)
            return
        try:
            decode_json(first)
        except JsonError:
            # Not one JSON value per line: a pretty-printed document. Read it all.
            yield from self.read_bytes(first + stream.read(), location)
            return
        line_number = 1
        line: bytes = first
        while line:
            self.stats.bytes_read += len(line)
            yield from self._read_line(line, location, line_number)
            line = stream.readline()
            line_number += 1

    def read_bytes(self, data: bytes, location: str, json_lines: bool = False) -> Iterator[dict[str, Any]]:
        """Records from one file's content (gzipped or not)."""
        self.stats.bytes_read += len(data)
        if data[:2] == GZIP_MAGIC:
            try:
                data = gunzip(data)
            except GzipError as exc:
                self._problem(location, str(exc))
                return
        self.stats.bytes_decoded += len(data)
        if not data.strip():
            self._problem(location, "empty file")
            return
        if json_lines:
            yield from self._read_lines(data, location)
            return
        yield from self._read_document(data, location)

    # -- formats --------------------------------------------------------------------------------
    def _read_document(self, data: bytes, location: str) -> Iterator[dict[str, Any]]:
        try:
            heads = _HEADS_DECODER.decode(data)
        except (msgspec.DecodeError, ValueError, RecursionError):
            # Another shape, odd types, or JSON msgspec refuses (invalid UTF-8, nesting bombs,
            # lone surrogate escapes): the general path decides and reports.
            heads = None
        if heads is not None and heads.Records is not None:
            yield from self._read_log_file(data, heads.Records, location)
            return
        try:
            document = decode_json(data)
        except JsonError as exc:
            if _looks_like_json_lines(data):
                yield from self._read_lines(data, location)
            else:
                self._problem(location, f"invalid JSON: {exc.describe(data)}")
            return
        yield from self._read_value(document, location)

    def _read_log_file(self, data: bytes, heads: list[_Head], location: str) -> Iterator[dict[str, Any]]:
        """The fast path: decide from the heads, then decode only the wanted records in full."""
        wants = self.wants
        wanted: list[int] = []
        records = len(heads)
        for index, head in enumerate(heads):
            if head.eventSource is None or head.eventName is None:
                # The same verdict as core/envelope gives a record read on the slow path.
                self._problem(f"{location}: record {index}", NOT_A_RECORD)
                records -= 1
                continue
            identity = head.userIdentity
            if wants(
                head.eventSource,
                head.eventName,
                identity.type if identity is not None else None,
                head.errorCode not in (None, ""),
            ):
                wanted.append(index)
        self.stats.records += records
        if not wanted:
            return
        raw = _RAW_DECODER.decode(data).Records or []
        for index in wanted:
            try:
                record = decode_json(raw[index])
            except JsonError as exc:
                self._problem(f"{location}: record {index}", f"invalid JSON: {exc}")
                continue
            self.stats.decoded += 1
            yield record

    def _read_value(self, document: Any, location: str) -> Iterator[dict[str, Any]]:
        """Any decoded JSON value: a log file object, an EventBridge event, a record or a list."""
        if isinstance(document, dict) and "Records" in document:
            records = document["Records"]
            if not isinstance(records, list):
                self._problem(location, f'"Records" is {type(records).__name__}, not a list')
                return
            for index, record in enumerate(records):
                yield from self._accept(record, f"{location}: record {index}", allow_envelope=False)
        elif isinstance(document, list):
            for index, item in enumerate(document):
                yield from self._accept(item, f"{location}: item {index}", allow_envelope=True)
        else:
            yield from self._accept(document, location, allow_envelope=True)

    def _read_lines(self, data: bytes, location: str) -> Iterator[dict[str, Any]]:
        for line_number, line in enumerate(data.splitlines(), start=1):
            yield from self._read_line(line, location, line_number)

    def _read_line(self, line: bytes, location: str, line_number: int) -> Iterator[dict[str, Any]]:
        if not line.strip():
            return
        where = f"{location}: line {line_number}"
        try:
            value = decode_json(line)
        except JsonError as exc:
            self._problem(where, f"invalid JSON: {exc.describe(line, lines=False)}")
            return
        yield from self._accept(value, where, allow_envelope=True)

    def _accept(self, value: Any, where: str, allow_envelope: bool) -> Iterator[dict[str, Any]]:
        """One record (or EventBridge event carrying one), checked and filtered."""
        record, problem = unwrap(value, allow_envelope)
        if record is None:
            self._problem(where, problem)
            return
        self.stats.records += 1
        identity = record.get("userIdentity")
        identity_type = identity.get("type") if isinstance(identity, dict) else None
        error_code = record.get("errorCode")
        if self.wants(record["eventSource"], record["eventName"], identity_type, error_code not in (None, "")):
            self.stats.decoded += 1
            yield cast(dict[str, Any], record)  # JSON objects decode to dicts

    def _problem(self, location: str, reason: str) -> None:
        self.stats.problems += 1
        self.on_problem(InputProblem(location, reason))


def expand_paths(paths: Iterable[str | os.PathLike[str]], on_problem: Callable[[str, str], None]) -> Iterator[str]:
    """Files to read, in a stable order: directories are walked recursively for data files."""
    for entry in paths:
        text = os.fspath(entry)
        if text == STDIN:
            yield STDIN
            continue
        path = Path(text)
        if path.is_dir():
            found = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRECTORIES and not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(DATA_SUFFIXES) and not name.startswith("."):
                        found = True
                        yield str(Path(root) / name)
            if not found:
                on_problem(text, "directory holds no .json, .json.gz or .jsonl files")
        elif path.exists():
            yield text
        else:
            on_problem(text, "no such file or directory")


# CloudTrail names each log file after the time it covers, e.g.
# 111122223333_CloudTrail_eu-west-1_20261103T0905Z_Ab12Cd34Ef56Gh78.json.gz
_FILE_TIME = re.compile(r"_(\d{8}T\d{4})Z_", re.ASCII)


def in_time_order(paths: Iterable[str]) -> list[str]:
    """Files in the order of the time their CloudTrail names carry, across regions and accounts
    (not by path, which groups them by account and region); files named otherwise keep their
    order, after those. Stateful rules see events roughly in event time this way."""
    timed: list[tuple[str, int, str]] = []
    others: list[str] = []
    for index, path in enumerate(paths):
        match = _FILE_TIME.search(Path(path).name)
        if match:
            timed.append((match.group(1), index, path))
        else:
            others.append(path)
    return [path for _time, _index, path in sorted(timed)] + others


# A log file that decompresses to more than this is not read: CloudTrail's files are a few MB, and
# a small gzip "bomb" must not take the machine's memory.
MAX_DECOMPRESSED_BYTES = 256 << 20


class GzipError(ValueError):
    """A gzip file that cannot be read whole: corrupt, truncated, or too large once decompressed."""


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress every member of gzip data, with ISA-L when installed (about twice zlib's speed).

    Bounded: more than ``limit`` bytes of output is an error, not an allocation.
    """
    try:
        from isal import igzip_lib
    except ImportError:  # pragma: no cover - isal is a dependency, but the reader works without it
        import zlib

        def decompressor() -> Any:
            return zlib.decompressobj(wbits=31)
    else:

        def decompressor() -> Any:
            return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)

    parts: list[bytes] = []
    size = 0
    remaining = data
    while remaining:
        member = decompressor()
        try:
            part = member.decompress(remaining, limit - size + 1)
        except Exception as exc:  # noqa: BLE001 - zlib.error, igzip_lib.IsalError, EOFError...
            raise GzipError(f"not a readable gzip file: {exc}") from None
        size += len(part)
        if size > limit:
            raise GzipError(f"decompresses to more than {limit >> 20} MB: not read (a gzip bomb?)")
        if not member.eof:
            raise GzipError("not a readable gzip file: truncated")
        parts.append(part)
        # Concatenated files are several members; zero padding after the last one is allowed.
        remaining = member.unused_data.lstrip(b"\0")
    return parts[0] if len(parts) == 1 else b"".join(parts)


class JsonError(ValueError):
    """Text that is not JSON (or that no decoder here can read)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position

    def describe(self, data: bytes, lines: bool = True) -> str:
        """The message with a line and column (or a column, for one line) where one is known."""
        if self.position is None:
            return str(self)
        position = min(self.position, len(data))
        if not lines:
            return f"{self} (column {position + 1})"
        line = data.count(b"\n", 0, position) + 1
        column = position - (data.rfind(b"\n", 0, position) + 1) + 1
        return f"{self} (line {line}, column {column})"


def decode_json(data: bytes | msgspec.Raw) -> Any:
    """msgspec first (fast); then the standard library for the JSON msgspec refuses but JSON allows
    (lone surrogate escapes, numbers beyond a float). Raises ``JsonError`` only."""
    try:
        return _ANY_DECODER.decode(data)
    except RecursionError:
        raise JsonError("nested too deeply") from None
    except (msgspec.DecodeError, ValueError) as exc:
        first = exc
    import json

    try:
        # Strict UTF-8 first: json.loads(bytes) would let encoded surrogates through.
        return json.loads(bytes(data).decode("utf-8"))
    except RecursionError:
        raise JsonError("nested too deeply") from None
    except ValueError:
        pass
    message = str(first)
    match = _BYTE_POSITION.search(message)
    raise JsonError(_BYTE_POSITION.sub("", message).strip(), int(match.group(1)) if match else None)


def _looks_like_json_lines(data: bytes) -> bool:
    """Several lines, the first of which is a complete JSON value on its own."""
    stripped = data.strip()
    if b"\n" not in stripped:
        return False
    try:
        decode_json(stripped.split(b"\n", 1)[0])
    except JsonError:
        return False
    return True
