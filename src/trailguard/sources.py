"""Readers for CloudTrail data: S3 log files, EventBridge events, JSON Lines and stdin.

Accepted input, detected from content rather than file names:
- CloudTrail log files as CloudTrail writes them to S3: ``{"Records": [...]}``, ``.json`` or gzipped,
  compact or pretty-printed, and streams of several of them (concatenated, or one per line).
- EventBridge events (``detail-type`` "AWS API Call via CloudTrail" or "AWS Console Sign In via
  CloudTrail"), one per file or a JSON array of them.
- Bare CloudTrail records, one per file or a JSON array.
- JSON Lines of bare records, EventBridge events or log files (``.jsonl``/``.ndjson``, or any file
  whose first line is a complete JSON value), and stdin (``-``), gzipped or not.
What editors and tools add is tolerated: a UTF-8 byte order mark, UTF-16 with its mark (PowerShell's
``>``), CRLF line ends, blank lines and trailing whitespace.

Directories are walked for data files. What AWS writes beside CloudTrail in a log bucket (digest and
Insights files, AWS Config, ELB, VPC flow and S3 server access logs; see ``skipped_kind``) is
recognised by AWS's own key layout and counted, not read.

Speed: most records in a trail are of no interest to any rule. For log files the reader first
decodes only ``eventSource``, ``eventName``, ``errorCode`` and ``userIdentity.type`` of every record
(msgspec typed decoding skips the rest without building objects), asks the engine whether any rule
wants the record, and fully decodes only those.

Memory: an input of up to ``whole_limit`` bytes (decompressed) is decoded in one piece, the fast
path above. A larger one is streamed ``chunk_size`` bytes at a time, record by record, so a scan
needs about the same memory whatever the size of its files (a single record or line is still held
whole). Gzip output is bounded by ``max_decompressed`` (a bomb is an error, not an allocation).

Robustness: a malformed file, line or record is reported through ``on_problem`` with its location
and skipped; everything else is still read. A syntax error inside a streamed document ends that
document (its records before the error are read).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, cast

import msgspec

from trailguard.core.aws_ids import ACCOUNT_PART
from trailguard.core.envelope import NOT_A_RECORD, unwrap

STDIN = "-"
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
DATA_SUFFIXES = (".json", ".json.gz", ".gz", *JSON_LINES_SUFFIXES)
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# A log file that decompresses to more than this is not read (``--max-decompressed``): CloudTrail's
# files are a few MB, and a small gzip "bomb" must not keep a scan busy for long.
MAX_DECOMPRESSED_BYTES = 256 << 20
# Content up to this size is decoded in one piece (the fast path); above, it is streamed.
WHOLE_LIMIT = 16 << 20
CHUNK_SIZE = 4 << 20
# A streamed record or line longer than this is not looked for further (CloudTrail's are < 256 KB).
MAX_VALUE_BYTES = 256 << 20

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
_HEAD_DECODER = msgspec.json.Decoder(_Head)
_VALUE_DECODER = msgspec.json.Decoder(msgspec.Raw)
_ANY_DECODER = msgspec.json.Decoder()
_BYTE_POSITION = re.compile(r"\(byte (\d+)\)", re.ASCII)
# How a CloudTrail log file starts: the only shape that is streamed record by record.
_RECORDS_OPEN = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[', re.ASCII)
_SPACE = re.compile(rb"[ \t\r\n]*", re.ASCII)


def _want_everything(source: Any, name: Any, identity_type: Any, failed: bool) -> bool:
    return True


class _SourceEnded(Exception):
    """The input ended early (a read or gzip error), already reported."""


class _Content:
    """The decoded content of one input, read on demand: gunzipped (bounded), the byte order mark
    dropped, UTF-16 turned into UTF-8. ``data[pos:]`` is what is not parsed yet; ``refill`` appends
    the next chunk. A read or gzip error is reported once, and ends the content (``failed``)."""

    def __init__(self, raw: Iterator[bytes], reader: Reader, location: str) -> None:
        self.reader = reader
        self.location = location
        self.failed = False
        self.eof = False
        self.data = b""
        self.pos = 0
        self._lines = 0  # newlines before data[0], for line numbers in messages
        self._column = 0  # column of data[0]
        self._chunks = self._decoded(raw)

    @classmethod
    def of(cls, data: bytes, reader: Reader, location: str) -> _Content:
        """Content already decoded and in memory."""
        content = cls(iter(()), reader, location)
        content.data = data
        content.eof = True
        return content

    # -- reading ----------------------------------------------------------------------------------
    def _counted(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in raw:
            if chunk:
                self.reader.stats.bytes_read += len(chunk)
                yield chunk

    def _decoded(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        chunks = self._counted(raw)
        first = next(chunks, b"")
        if not first:
            return
        if first[:2] == GZIP_MAGIC:
            chunks = gunzip_chunks(chain([first], chunks), self.reader.max_decompressed, self.reader.chunk_size)
            first = next(chunks, b"")
        if first.startswith(UTF8_BOM):
            first = first[len(UTF8_BOM) :]
        elif first[:2] in UTF16_BOMS:
            chunks = _utf16_to_utf8(chain([first], chunks))
            first = next(chunks, b"")
        for chunk in chain([first], chunks):
            if chunk:
                self.reader.stats.bytes_decoded += len(chunk)
                yield chunk

    def next_chunk(self) -> bytes:
        """The next decoded chunk, b"" at the end (or after an error, reported here)."""
        if self.eof:
            return b""
        try:
            chunk = next(self._chunks, b"")
        except GzipError as exc:
            self._fail(str(exc))
            return b""
        except UnicodeDecodeError as exc:
            self._fail(f"not valid UTF-16: {exc.reason} at byte {exc.start}")
            return b""
        except OSError as exc:
            self._fail(f"cannot read file: {exc.strerror or exc}")
            return b""
        if not chunk:
            self.eof = True
        return chunk

    def _fail(self, reason: str) -> None:
        self.eof = self.failed = True
        self.reader._problem(self.location, reason)

    def refill(self, at_least: int = 1) -> bool:
        """Drop what is parsed, append at least ``at_least`` bytes (fewer at the end); False at the end."""
        if self.eof:
            return False
        parsed = self.pos
        if parsed:
            newline = self.data.rfind(b"\n", 0, parsed)
            self._lines += self.data.count(b"\n", 0, parsed)
            self._column = parsed - newline - 1 if newline >= 0 else self._column + parsed
        parts = [self.data[parsed:]]
        added = 0
        while added < at_least:
            chunk = self.next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            added += len(chunk)
        self.data = b"".join(parts)
        self.pos = 0
        return added > 0

    def skip_space(self) -> bool:
        """Past whitespace; False when nothing but whitespace is left."""
        while True:
            match = _SPACE.match(self.data, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.data):
                return True
            if not self.refill():
                return False

    def ensure(self, size: int) -> None:
        """At least ``size`` unparsed bytes in ``data``, unless the content ends first."""
        while len(self.data) - self.pos < size and self.refill(size):
            pass

    def where(self, position: int) -> str:
        """Line and column of ``data[position]`` in the whole content."""
        line = self._lines + self.data.count(b"\n", 0, position) + 1
        newline = self.data.rfind(b"\n", 0, position)
        column = position - newline if newline >= 0 else self._column + position + 1
        return f"line {line}, column {column}"


class Reader:
    """Turns files and byte strings into CloudTrail records (dicts), reporting what it skips."""

    def __init__(
        self,
        wants: Wants | None = None,
        on_problem: Callable[[InputProblem], None] | None = None,
        *,
        max_decompressed: int = MAX_DECOMPRESSED_BYTES,
        whole_limit: int = WHOLE_LIMIT,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.wants: Wants = wants or _want_everything
        self.on_problem = on_problem or (lambda problem: None)
        self.stats = ReadStats()
        self.max_decompressed = max_decompressed
        self.whole_limit = whole_limit
        self.chunk_size = chunk_size
        # The JSON text of the record last yielded when the reader holds it whole (a log file's
        # records), else None: a scan's worker hands that on to the main process instead of the
        # decoded record, which costs more to pickle and unpickle than to decode again.
        self.last_raw: msgspec.Raw | bytes | None = None

    # -- entry points ---------------------------------------------------------------------------
    def read_paths(
        self, paths: Iterable[str | os.PathLike[str]], on_skipped: Callable[[str], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records from every file under ``paths`` (directories recursively, ``-`` for stdin)."""
        for path in expand_paths(paths, self._problem, on_skipped):
            if path == STDIN:
                yield from self.read_stream(sys.stdin.buffer, "<stdin>")
            else:
                yield from self.read_file(Path(path))

    def read_file(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            stream = path.open("rb")
        except OSError as exc:
            self._problem(str(path), f"cannot read file: {exc.strerror or exc}")
            return
        with stream:
            self.stats.files += 1
            try:
                size = os.fstat(stream.fileno()).st_size
            except OSError:  # pragma: no cover - fstat of an open file
                size = self.whole_limit + 1
            raw: Iterator[bytes]
            if size <= self.whole_limit:
                raw = iter(stream.read, b"")  # one read of the whole file, then b""
            else:
                raw = iter(lambda: stream.read(self.chunk_size), b"")
            json_lines = path.name.endswith(JSON_LINES_SUFFIXES)
            yield from self._read_content(_Content(raw, self, str(path)), str(path), json_lines)

    def read_stream(self, stream: BinaryIO, location: str) -> Iterator[dict[str, Any]]:
        """A stream such as stdin. JSON Lines are read line by line as they arrive; anything else
        (gzip, a pretty-printed document) like a file."""
        self.stats.files += 1
        first = stream.readline(self.whole_limit)
        skipped = 0
        while first and not first.strip():
            self.stats.bytes_read += len(first)
            skipped += 1
            first = stream.readline(self.whole_limit)
        if not first:
            return
        text = first[len(UTF8_BOM) :] if first.startswith(UTF8_BOM) else first
        whole_line = first.endswith(b"\n") or len(first) < self.whole_limit
        if first[:2] != GZIP_MAGIC and first[:2] not in UTF16_BOMS and whole_line and _is_json_line(text):
            self.stats.bytes_read += len(first)
            self.stats.bytes_decoded += len(first)
            line_number = skipped + 1
            line: bytes = text
            while line:
                yield from self._read_line(line, location, line_number)
                line = stream.readline()
                self.stats.bytes_read += len(line)
                self.stats.bytes_decoded += len(line)
                line_number += 1
            return
        read = getattr(stream, "read1", stream.read)
        rest = iter(lambda: read(self.chunk_size), b"")
        yield from self._read_content(_Content(chain([first], rest), self, location), location, False)

    def read_bytes(self, data: bytes, location: str, json_lines: bool = False) -> Iterator[dict[str, Any]]:
        """Records from one file's content (gzipped or not)."""
        yield from self._read_content(_Content(iter([data]), self, location), location, json_lines)

    # -- content --------------------------------------------------------------------------------
    def _read_content(self, content: _Content, location: str, json_lines: bool) -> Iterator[dict[str, Any]]:
        """Small content in one piece (the fast path), large content streamed."""
        parts: list[bytes] = []
        size = 0
        while size <= self.whole_limit:
            chunk = content.next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        else:
            content.data = b"".join(parts)
            yield from self._read_streamed(content, location, json_lines)
            return
        if content.failed:
            return  # reported; a file that cannot be read whole is not read in part
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if not data.strip():
            self._problem(location, "empty file")
            return
        if json_lines:
            yield from self._read_lines(data, location)
            return
        yield from self._read_document(data, location)

    def _read_streamed(self, content: _Content, location: str, json_lines: bool) -> Iterator[dict[str, Any]]:
        if not content.skip_space():
            if not content.failed:
                self._problem(location, "empty file")
            return
        if not json_lines and not _RECORDS_OPEN.match(content.data, content.pos):
            newline = content.data.find(b"\n", content.pos)
            json_lines = newline >= 0 and _is_json_line(content.data[content.pos : newline])
        if json_lines:
            yield from self._stream_lines(content, location)
        else:
            yield from self._stream_values(content, location)

    # -- formats --------------------------------------------------------------------------------
    def _read_document(self, data: bytes, location: str, lines: bool = True) -> Iterator[dict[str, Any]]:
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
            elif exc.trailing:
                # Several documents one after the other (`cat a.json b.json`).
                yield from self._stream_values(_Content.of(data, self, location), location)
            else:
                self._problem(location, f"invalid JSON: {exc.describe(data, lines)}")
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
            self.last_raw = raw[index]
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
        if _RECORDS_OPEN.match(line):
            # A whole log file on one line: what `aws s3 cp s3://.../x.json.gz - | gunzip` gives.
            yield from self._read_document(line, where, lines=False)
            return
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
            self.last_raw = None
            yield cast(dict[str, Any], record)  # JSON objects decode to dicts

    # -- streamed content -----------------------------------------------------------------------
    def _stream_lines(self, content: _Content, location: str) -> Iterator[dict[str, Any]]:
        line_number = 0
        while True:
            newline = content.data.find(b"\n", content.pos)
            if newline < 0:
                unparsed = len(content.data) - content.pos
                if content.refill(max(self.chunk_size, unparsed)):  # a long line: double, not creep
                    continue
                line = content.data[content.pos :]
                content.pos = len(content.data)
                if line.strip() and not content.failed:
                    yield from self._read_line(line, location, line_number + 1)
                return
            line = content.data[content.pos : newline]
            content.pos = newline + 1
            line_number += 1
            yield from self._read_line(line, location, line_number)

    def _stream_values(self, content: _Content, location: str) -> Iterator[dict[str, Any]]:
        """JSON values one after the other, each a log file (streamed record by record), an array
        (item by item) or one event; the second and later are named ``document N``."""
        number = 0
        while content.skip_space():
            number += 1
            where = location if number == 1 else f"{location}: document {number}"
            content.ensure(64)
            opening = _RECORDS_OPEN.match(content.data, content.pos)
            if opening:
                content.pos = opening.end()
                done = yield from self._stream_array(content, where, records=True)
            elif content.data[content.pos : content.pos + 1] == b"[":
                content.pos += 1
                done = yield from self._stream_array(content, where, records=False)
            else:
                value = self._next_value(content, where)
                if value is None:
                    return
                try:
                    document = decode_json(value)
                except JsonError as exc:
                    self._problem(where, f"invalid JSON: {exc.describe(value)}")
                    return
                yield from self._read_value(document, where)
                done = True
            if not done:
                return

    def _stream_array(self, content: _Content, where: str, records: bool) -> Generator[dict[str, Any], None, bool]:
        """The items of an array whose ``[`` is parsed; for a log file's ``Records``, its closing brace
        too. Returns (to ``yield from``) whether the array ended well."""
        index = 0
        if not content.skip_space():
            return self._ended_early(content, where, "the array does not end")
        if content.data[content.pos : content.pos + 1] != b"]":
            while True:
                value = self._next_value(content, f"{where}: {'record' if records else 'item'} {index}")
                if value is None:
                    return False
                if records:
                    yield from self._read_streamed_record(value, f"{where}: record {index}")
                else:
                    try:
                        item = decode_json(value)
                    except JsonError as exc:  # pragma: no cover - _next_value checked the syntax
                        self._problem(f"{where}: item {index}", f"invalid JSON: {exc}")
                    else:
                        yield from self._accept(item, f"{where}: item {index}", allow_envelope=True)
                index += 1
                if not content.skip_space():
                    return self._ended_early(content, where, "the array does not end")
                separator = content.data[content.pos : content.pos + 1]
                if separator == b"]":
                    break
                if separator != b",":
                    self._problem(where, f"invalid JSON: expected ',' or ']' ({content.where(content.pos)})")
                    return False
                content.pos += 1
                if not content.skip_space():
                    return self._ended_early(content, where, "the array does not end")
        content.pos += 1  # the ]
        if records:
            if not content.skip_space():
                return self._ended_early(content, where, "the log file does not end")
            if content.data[content.pos : content.pos + 1] != b"}":
                self._problem(where, f"invalid JSON: expected '}}' after Records ({content.where(content.pos)})")
                return False
            content.pos += 1
        return True

    def _ended_early(self, content: _Content, where: str, what: str) -> bool:
        if not content.failed:
            self._problem(where, f"invalid JSON: input data was truncated ({what})")
        return False

    def _next_value(self, content: _Content, where: str) -> bytes | None:
        """The JSON value at ``content.pos`` (parsed past it), or None when it is broken (reported)."""
        while True:
            view = memoryview(content.data)[content.pos :]
            try:
                _VALUE_DECODER.decode(view)
            except RecursionError:
                self._problem(where, "invalid JSON: nested too deeply")
                return None
            except msgspec.DecodeError as exc:
                message = str(exc)
                match = _BYTE_POSITION.search(message)
                if match and "trailing characters" in message:
                    # msgspec counts the first trailing character: the value ends just before it.
                    stop = content.pos + int(match.group(1)) - 1
                    value = content.data[content.pos : stop]
                    content.pos = stop
                    return value
                if "truncated" in message and len(content.data) - content.pos > _STDLIB_AFTER:
                    # msgspec says "truncated" for some valid JSON it refuses (a lone surrogate
                    # escape); past the size of any CloudTrail record, ask the standard library.
                    end = _stdlib_value_end(content.data, content.pos)
                    if end is not None and end >= 0:
                        value = content.data[content.pos : end]
                        content.pos = end
                        return value
                position = int(match.group(1)) if match else None
                # At the end of the data read so far, an error may be the value going on in the next
                # chunk ("truncated", or an escape cut in two).
                at_end = "truncated" in message or position is None or position >= len(view) - 16
                if at_end and not content.eof:
                    unparsed = len(content.data) - content.pos
                    if unparsed > MAX_VALUE_BYTES:
                        self._problem(where, f"no end found within {MAX_VALUE_BYTES >> 20} MB: not read")
                        return None
                    content.refill(max(self.chunk_size, unparsed))
                    continue
                if content.failed:
                    return None
                # Valid JSON that msgspec refuses (a lone surrogate escape, a number beyond a float)?
                end = _stdlib_value_end(content.data, content.pos)
                if end == -1 and not content.eof:
                    content.refill(max(self.chunk_size, len(content.data) - content.pos))
                    continue
                if end is not None and end >= 0:
                    value = content.data[content.pos : end]
                    content.pos = end
                    return value
                reason = _BYTE_POSITION.sub("", message).strip()
                at = f" ({content.where(content.pos + position)})" if position is not None else ""
                self._problem(where, f"invalid JSON: {reason}{at}")
                return None
            finally:
                view.release()
            if not content.eof and content.refill():
                continue  # a value ending with the data read so far (a number?) may go on
            value = content.data[content.pos :]
            content.pos = len(content.data)
            return value

    def _read_streamed_record(self, value: bytes, where: str) -> Iterator[dict[str, Any]]:
        """One record of a streamed log file: the fast path's decision, for one record."""
        try:
            head = _HEAD_DECODER.decode(value)
        except (msgspec.DecodeError, ValueError, RecursionError):
            try:
                record = decode_json(value)
            except JsonError as exc:
                self._problem(where, f"invalid JSON: {exc}")
                return
            yield from self._accept(record, where, allow_envelope=False)
            return
        if head.eventSource is None or head.eventName is None:
            self._problem(where, NOT_A_RECORD)
            return
        self.stats.records += 1
        identity = head.userIdentity
        if not self.wants(
            head.eventSource,
            head.eventName,
            identity.type if identity is not None else None,
            head.errorCode not in (None, ""),
        ):
            return
        try:
            full = decode_json(value)
        except JsonError as exc:
            self._problem(where, f"invalid JSON: {exc}")
            return
        self.stats.decoded += 1
        self.last_raw = value
        yield full

    def _problem(self, location: str, reason: str) -> None:
        self.stats.problems += 1
        self.on_problem(InputProblem(location, reason))


# A value still "truncated" with this much after its start may be JSON msgspec refuses.
_STDLIB_AFTER = 1 << 20


def _stdlib_value_end(data: bytes, start: int) -> int | None:
    """Where the JSON value at ``data[start]`` ends, by the standard library's parser: None when it
    finds an error, -1 when the data may just end too soon."""
    import json

    text = data[start:].decode("utf-8", "surrogateescape")
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        # An unterminated string is reported where it starts.
        return -1 if exc.pos >= len(text) - 16 or exc.msg.startswith("Unterminated string") else None
    except (ValueError, RecursionError):
        return None
    if any("\udc80" <= c <= "\udcff" for c in text[:end]):
        return None  # invalid UTF-8 (kept as surrogate escapes): not JSON
    return start + len(text[:end].encode("utf-8", "surrogateescape"))


def _is_json_line(line: bytes) -> bool:
    """A complete JSON value on its own (or a whole log file on one line)."""
    if _RECORDS_OPEN.match(line):
        return True
    try:
        decode_json(line)
    except JsonError:
        return False
    return True


def _utf16_to_utf8(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import codecs

    decoder = codecs.getincrementaldecoder("utf-16")()
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8", "surrogatepass")
    yield decoder.decode(b"", final=True).encode("utf-8", "surrogatepass")


# -- what a log bucket holds ----------------------------------------------------------------------

# AWS names the files it delivers to S3 <account>_<service>_...: CloudTrail, CloudTrail-Digest,
# CloudTrail-Insight, Config, elasticloadbalancing, vpcflowlogs, network-firewall...
_AWS_FILE_NAME = re.compile(rf"{ACCOUNT_PART}_(?P<service>[A-Za-z][A-Za-z0-9-]*)_", re.ASCII)
# ... under <prefix>/AWSLogs/[<organization id>/]<account>/<service>/ (Hive style for flow logs:
# AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/).
_ACCOUNT_FOLDER = re.compile(rf"(?:aws-account-id=)?{ACCOUNT_PART}", re.ASCII)
_ORGANIZATION_FOLDER = re.compile(r"o-[a-z0-9]{10,32}", re.ASCII)
# S3 server access logs: [prefix]YYYY-mm-DD-HH-MM-SS-UniqueString, no extension.
_S3_ACCESS_LOG = re.compile(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-Za-z]{8,}", re.ASCII)
_KINDS = {
    "cloudtrail-digest": "CloudTrail digest",
    "cloudtrail-insight": "CloudTrail Insights",
    "config": "AWS Config",
    "elasticloadbalancing": "ELB access log",
    "vpcflowlogs": "VPC flow log",
}
S3_ACCESS_LOG = "S3 server access log"
NOT_DATA = "not .json, .json.gz or .jsonl"


def skipped_kind(path: str) -> str | None:
    """What AWS wrote this file as, when that is not CloudTrail (by AWS's own names and layouts);
    None for CloudTrail log files and for files that follow no AWS layout (read, by content)."""
    name = Path(path).name
    named = _AWS_FILE_NAME.match(name)
    service = named.group("service") if named else _service_folder(path)
    if service is not None:
        if service.lower() == "cloudtrail":
            return None
        return _KINDS.get(service.lower(), f"AWS {service}")
    if _S3_ACCESS_LOG.search(name) and not name.endswith(DATA_SUFFIXES):
        return S3_ACCESS_LOG
    return None


def _service_folder(path: str) -> str | None:
    folders = Path(path).parts[:-1]
    if "AWSLogs" not in folders:
        return None
    rest = folders[len(folders) - folders[::-1].index("AWSLogs") :]
    if rest and _ORGANIZATION_FOLDER.fullmatch(rest[0]):
        rest = rest[1:]
    if len(rest) >= 2 and _ACCOUNT_FOLDER.fullmatch(rest[0]):
        return rest[1].removeprefix("aws-service=")
    return None


def expand_paths(
    paths: Iterable[str | os.PathLike[str]],
    on_problem: Callable[[str, str], None],
    on_skipped: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Files to read, in a stable order: directories are walked recursively for data files.

    What cannot be read (a folder without permission, a broken link) goes to ``on_problem``; files
    that are not CloudTrail data (another AWS log, another extension) to ``on_skipped``, by kind."""
    skipped = on_skipped or (lambda kind: None)
    for entry in paths:
        text = os.fspath(entry)
        if text == STDIN:
            yield STDIN
            continue
        path = Path(text)
        try:
            is_dir = path.is_dir()
            path.stat()
        except OSError as exc:
            if path.is_symlink():
                on_problem(text, "broken symbolic link")
            elif isinstance(exc, FileNotFoundError):
                on_problem(text, "no such file or directory")
            else:
                on_problem(text, f"cannot be read: {exc.strerror or exc}")
            continue
        if not is_dir:
            kind = skipped_kind(text)
            if kind is None:
                yield text
            else:
                skipped(kind)
            continue
        found = recognised = False
        for walked in _walk(text, on_problem, set()):
            kind = skipped_kind(walked)
            if kind is None and walked.endswith(DATA_SUFFIXES):
                found = True
                yield walked
            else:
                recognised = recognised or kind is not None
                skipped(kind or NOT_DATA)
        if not found and not recognised:
            on_problem(text, "directory holds no .json, .json.gz or .jsonl files")


def _walk(directory: str, on_problem: Callable[[str, str], None], visited: set[tuple[int, int]]) -> Iterator[str]:
    """Every file under ``directory``, its own files first, names sorted; symbolic links followed
    (each directory once); hidden entries left out."""
    try:
        stat = Path(directory).stat()
        with os.scandir(directory) as scan:
            entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        on_problem(directory, f"cannot read directory: {exc.strerror or exc}")
        return
    visited.add((stat.st_dev, stat.st_ino))
    folders = []
    for entry in entries:
        try:
            if entry.is_dir():
                folders.append(entry)
            elif entry.is_file():
                yield entry.path
            elif entry.is_symlink():
                on_problem(entry.path, "broken symbolic link")
            else:
                on_problem(entry.path, "not a regular file")
        except OSError as exc:  # pragma: no cover - is_dir/is_file report most errors as False
            on_problem(entry.path, exc.strerror or "cannot be read")
    for folder in folders:
        try:
            stat = folder.stat()
        except OSError as exc:  # pragma: no cover - vanished between the listing and here
            on_problem(folder.path, f"cannot read directory: {exc.strerror or exc}")
            continue
        if (stat.st_dev, stat.st_ino) not in visited:  # a link back up the tree is walked once
            yield from _walk(folder.path, on_problem, visited)


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


def name_time(path: str) -> str | None:
    """The time a CloudTrail file name carries (``YYYYMMDDTHHMM``, UTC), what ``in_time_order`` sorts by."""
    match = _FILE_TIME.search(Path(path).name)
    return match.group(1) if match else None


# -- the same event twice ---------------------------------------------------------------------------


EventKey = tuple[Any, Any, str]


def event_key(record: dict[str, Any]) -> EventKey | None:
    """What makes an event the same event: its account, region and eventID (None without one)."""
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        return None
    account = record.get("recipientAccountId")
    if not account:
        identity = record.get("userIdentity")
        account = identity.get("accountId") if isinstance(identity, dict) else None
    return account, record.get("awsRegion"), event_id


class SeenEvents:
    """The events of a scan so far, to evaluate each once: an organization trail and an account's own
    trail deliver the same event, at about the same time, into files whose names carry that time.
    It keeps ``hash(event_key(...))`` (one process's hashes: the main process tells duplicates), not
    the strings.

    Bounded: keys are remembered while the scan's clock (the latest ``eventTime`` seen, to the hour)
    is within ``window_hours`` of the hour they were seen in, and at most ``limit`` of them."""

    def __init__(self, window_hours: int = 2, limit: int = 200_000) -> None:
        self.window_hours = window_hours
        self.limit = limit
        self._hours: dict[str, set[int]] = {}  # hour seen ("2026-11-02T14") -> keys, oldest first
        self._size = 0
        self._clock = ""

    def __len__(self) -> int:
        return self._size

    def seen(self, key: int, event_time: Any) -> bool:
        """Whether ``key`` was seen already (within the window); remembers it when not."""
        for keys in self._hours.values():
            if key in keys:
                return True
        hour = event_time[:13] if isinstance(event_time, str) and len(event_time) >= 13 else ""
        self._clock = max(self._clock, hour)
        bucket = self._hours.get(self._clock)
        if bucket is None:
            bucket = self._hours[self._clock] = set()
            while len(self._hours) > self.window_hours:
                self._size -= len(self._hours.pop(next(iter(self._hours))))
        bucket.add(key)
        self._size += 1
        while self._size > self.limit and len(self._hours) > 1:
            self._size -= len(self._hours.pop(next(iter(self._hours))))
        return False


# -- gzip -------------------------------------------------------------------------------------------


class GzipError(ValueError):
    """A gzip file that cannot be read whole: corrupt, truncated, or too large once decompressed."""


def _decompressor() -> Any:
    try:
        from isal import igzip_lib
    except ImportError:  # pragma: no cover - isal is a dependency, but the reader works without it
        return _ZlibMember()
    return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)


class _ZlibMember:  # pragma: no cover - only without isal
    """zlib's decompressor with isal's interface (``needs_input``)."""

    def __init__(self) -> None:
        import zlib

        self._inner = zlib.decompressobj(wbits=31)
        self.needs_input = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out: bytes = self._inner.decompress(self._inner.unconsumed_tail + data, max_length)
        self.needs_input = not self._inner.unconsumed_tail and len(out) < max_length
        return out

    @property
    def eof(self) -> bool:
        return bool(self._inner.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._inner.unused_data)


def gunzip_chunks(
    compressed: Iterable[bytes], limit: int = MAX_DECOMPRESSED_BYTES, size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Decompress every member of gzip data, ``size`` bytes at a time at most, with ISA-L when
    installed (about twice zlib's speed). More than ``limit`` bytes in all is an error."""
    source = iter(compressed)
    total = 0
    pending = b""
    while True:
        # Concatenated files are several members; zero padding after the last one is allowed.
        pending = pending.lstrip(b"\0")
        while not pending:
            more = next(source, None)
            if more is None:
                return
            pending = more.lstrip(b"\0")
        member = _decompressor()
        data = pending
        while True:
            try:
                part = member.decompress(data, min(size, limit - total + 1))
            except Exception as exc:  # noqa: BLE001 - zlib.error, igzip_lib.IsalError, EOFError...
                raise GzipError(f"not a readable gzip file: {exc}") from None
            total += len(part)
            if total > limit:
                raise GzipError(
                    f"decompresses to more than {_megabytes(limit)}: not read (a gzip bomb? see --max-decompressed)"
                )
            if part:
                yield part
            if member.eof:
                break
            data = b""
            if member.needs_input:
                more = next(source, None)
                if more is None:
                    raise GzipError("not a readable gzip file: truncated")
                data = more
        pending = member.unused_data


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """All of gzip data decompressed (bounded, like ``gunzip_chunks``)."""
    parts = list(gunzip_chunks([data], limit, max(limit, 1)))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _megabytes(size: int) -> str:
    return f"{size >> 20} MB" if size >= 1 << 20 else f"{size} bytes"


# -- JSON -------------------------------------------------------------------------------------------


class JsonError(ValueError):
    """Text that is not JSON (or that no decoder here can read)."""

    def __init__(self, message: str, position: int | None = None, trailing: bool = False) -> None:
        super().__init__(message)
        self.position = position
        # A complete value followed by more: several documents one after the other.
        self.trailing = trailing

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
    raise JsonError(
        _BYTE_POSITION.sub("", message).strip(),
        int(match.group(1)) if match else None,
        trailing="trailing characters" in message,
    )


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
