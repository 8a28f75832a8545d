"""Bad input, property-based (issue 5, point 1): the Reader never raises, on any byte string.

Every problem it reports names where it was (the location given, or the file, plus the line,
record or item), with a reason. Nothing it should pass on is lost: every record the engine would
alert on comes out of the reader, whatever the format. ``make fuzz`` runs the same properties with
100x the examples; the 100 MB line and the gzip bomb are built once, here.

Tests named ``test_bug_*`` are regression tests of bugs these properties found (fixed in 9b1db31); each
docstring says what the bug was.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trailguard.core.engine import Engine
from trailguard.core.envelope import unwrap
from trailguard.sources import InputProblem, Reader

from .fuzz_strategies import (
    API_CALL,
    byte_inputs,
    deep_json_texts,
    eventbridge_envelopes,
    fuzz_settings,
    fuzzing,
    gzipped,
    mutated_records,
    records,
)

LOCATION = "s3://trail/AWSLogs/111122223333/CloudTrail/eu-west-1/file.json.gz"
ENGINE = Engine(fuzz_settings())
# A line, a document (of several on one line or in one stream), or both, then a record or item.
_WHERE = re.compile(r"(?:: line \d+)?(?:: document \d+)?(?:: (?:record|item) \d+)?")
# The streamed reader (for content above ``whole_limit``), run on small inputs by tiny limits.
STREAMED = {"whole_limit": 7, "chunk_size": 5}


def read_all(
    data: bytes, *, json_lines: bool = False, stream: bool = False, wants: Any = None, streamed: bool = False
) -> tuple[list[dict[str, Any]], list[InputProblem]]:
    """Read ``data`` as a file's content (or a stream), in one piece or ``streamed`` in chunks of a
    few bytes; check what every problem says."""
    problems: list[InputProblem] = []
    reader = Reader(wants=wants, on_problem=problems.append, **(STREAMED if streamed else {}))
    if stream:
        out = list(reader.read_stream(io.BytesIO(data), LOCATION))
    else:
        out = list(reader.read_bytes(data, LOCATION, json_lines=json_lines))
    check_problems(problems, [LOCATION])
    assert all(isinstance(record, dict) for record in out)
    assert reader.stats.problems == len(problems)
    return out, problems


def check_problems(problems: list[InputProblem], locations: list[str]) -> None:
    """Each problem names one of ``locations`` (with a line, record or item number) and a reason."""
    for problem in problems:
        assert any(
            problem.location.startswith(where) and _WHERE.fullmatch(problem.location[len(where) :])
            for where in locations
        ), problem
        assert isinstance(problem.reason, str) and problem.reason.strip(), problem
        assert str(problem).startswith(problem.location)


@fuzzing(200)
@given(byte_inputs(), st.booleans(), st.booleans())
def test_reader_never_raises_on_any_bytes(data: bytes, json_lines: bool, streamed: bool) -> None:
    read_all(data, json_lines=json_lines, streamed=streamed)


@fuzzing(100)
@given(byte_inputs(), st.booleans())
@example(b'{"Records":[]}\x00', False)  # found by a run: "line 1: document 2" names the NUL
def test_read_stream_never_raises_on_any_bytes(data: bytes, streamed: bool) -> None:
    read_all(data, stream=True, streamed=streamed)


_NAMES = st.sampled_from(["a.json", "b.json.gz", "c.jsonl", "d.ndjson.gz", "e.gz", "f\u202egpj.json", "g h.jsonl"])


@fuzzing(40)
@given(st.dictionaries(_NAMES, byte_inputs(), max_size=4))
def test_read_paths_never_raises_and_names_the_file(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "sub").mkdir()
        for name, data in files.items():
            (root / "sub" / name).write_bytes(data)
        missing = str(root / "missing.json")
        problems: list[InputProblem] = []
        reader = Reader(on_problem=problems.append)
        out = list(reader.read_paths([root, missing]))
        assert all(isinstance(record, dict) for record in out)
        check_problems(problems, [str(root / "sub" / name) for name in files] + [missing, str(root)])
        assert any(p.location == missing for p in problems)


def _formats(items: list[dict[str, Any]]) -> Iterator[tuple[str, bytes, bool]]:
    """The same records as every format the reader accepts: (name, content, json_lines)."""
    envelopes = [{"detail-type": API_CALL, "source": "aws.x", "detail": r} for r in items]
    log_file = json.dumps({"Records": items}).encode()
    yield "log file", log_file, False
    yield "log file, gzipped", gzipped(log_file), False
    yield "pretty log file", json.dumps({"Records": items}, indent=2).encode(), False
    yield "JSON Lines", b"\n".join(json.dumps(r).encode() for r in items), True
    yield "JSON Lines of envelopes, undeclared", b"\r\n".join(json.dumps(e).encode() for e in envelopes), False
    yield "array of envelopes", json.dumps(envelopes).encode(), False


# Valid JSON that msgspec refuses: see test_bug_valid_json_msgspec_refuses_drops_the_whole_file.
_REFUSED = st.sampled_from(["\ud800", "x\udfffy", "\udc00\ud800"])


@fuzzing(60)
@given(
    st.lists(
        st.one_of(
            records(json_safe=True, deep=False),
            mutated_records(values=_REFUSED),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_reader_loses_no_record_the_engine_alerts_on(items: list[dict[str, Any]]) -> None:
    """Never lose an alert: with the engine's pre-filter, every record the engine has findings for
    is passed on, in every format, and the good records of a file survive its bad ones."""
    decoded = [json.loads(json.dumps(r)) for r in items]
    # A record in core/envelope's sense (the engine itself would evaluate an object without an
    # eventSource, which no reader and no Lambda passes on).
    alerting = [r for r in decoded if unwrap(r, allow_envelope=False).record is not None and ENGINE.evaluate(r)]
    for name, data, json_lines in _formats(items):
        for streamed in (False, True):
            out, problems = read_all(data, json_lines=json_lines, wants=ENGINE.wants, streamed=streamed)
            for record in alerting:
                assert out.count(record) >= alerting.count(record), (name, streamed, problems, record)


@fuzzing(40)
@given(st.lists(eventbridge_envelopes(records(json_safe=True, deep=False), st.none()), min_size=1, max_size=4))
def test_each_envelope_gives_a_record_or_a_problem_naming_it(envelopes: list[dict[str, Any]]) -> None:
    array = json.dumps(envelopes).encode()
    lines = b"\n".join(_dumps(e) for e in envelopes)
    for data, json_lines, where in ((array, False, "item"), (lines, True, "line")):
        out, problems = read_all(data, json_lines=json_lines)
        assert len(out) + len(problems) == len(envelopes)
        assert all(re.fullmatch(rf".*: {where} \d+", p.location) for p in problems)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# --------------------------------------------------------------------------------------------
# Built inputs: the nesting bomb, a 100 MB line, a gzip bomb.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["file", "stream"])
@pytest.mark.parametrize(("name", "data"), list(deep_json_texts()), ids=[name for name, _ in deep_json_texts()])
def test_bug_json_nesting_bomb_raises_recursion_error(name: str, data: bytes, stream: bool) -> None:
    """Was a bug: sources.py decodes with msgspec, which raises RecursionError (not DecodeError) past the
    interpreter's recursion limit; no decode site catches it, so 100,000 '[' crash every entry point."""
    out, problems = read_all(data, stream=stream)
    assert problems, name
    if name == "a JSON line among good ones":
        assert [r["eventSource"] for r in out] == ["s3.amazonaws.com"]
        assert problems[0].location == f"{LOCATION}: line 2"


@pytest.fixture(scope="module")
def hundred_megabyte_lines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One 100 MB line, built once: a record with a 100 MB user agent, and the same cut short."""
    directory = tmp_path_factory.mktemp("big")
    head = b'{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "userAgent": "'
    good, cut = directory / "good.jsonl", directory / "cut.json"
    with good.open("wb") as out:
        out.write(head)
        chunk = b"A" * (1 << 20)
        for _ in range(100):
            out.write(chunk)
        out.write(b'"}\n')
    cut.write_bytes(good.read_bytes()[:-3])
    return good, cut


def test_a_100_megabyte_line(hundred_megabyte_lines: tuple[Path, Path]) -> None:
    good, cut = hundred_megabyte_lines
    problems: list[InputProblem] = []
    out = list(Reader(on_problem=problems.append).read_paths([good, cut]))
    assert [len(r["userAgent"]) for r in out] == [100 << 20]
    assert [p.location for p in problems] == [str(cut)]
    assert "truncated" in problems[0].reason
    with good.open("rb") as stream:
        assert len(list(Reader().read_stream(stream, "<stdin>"))) == 1


def gzip_bomb(mebibytes: int) -> bytes:
    """A valid gzip file of about 1 KB per MiB it expands to (zeros), CRC and size right."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, repeatable
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(chunk, crc)
    size = (mebibytes << 20) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * mebibytes + compressor.flush() + crc.to_bytes(4, "little") + size.to_bytes(4, "little")


_BOMB_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: the bomb expands to 1 GiB
    from trailguard.sources import Reader
    problems = []
    try:
        records = list(Reader(on_problem=problems.append).read_paths([sys.argv[1]]))
        outcome = {"records": len(records), "problems": [[p.location, p.reason] for p in problems]}
    except BaseException as exc:
        outcome = {"raised": f"{type(exc).__name__}: {exc}"}
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would count the forked pytest process.
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    outcome["peak_mib"] = int(peak.split()[1]) >> 10
    print(json.dumps(outcome))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status: Linux")
def test_bug_gzip_bomb_is_decompressed_whole(tmp_path: Path) -> None:
    """Was a bug: sources.py gunzip decompresses without a limit (igzip.decompress when the trailer says
    more than 256 MiB): 1 MB expanding to 1 GiB takes 2 GiB of memory, and under a 1 GiB address
    space limit the reader raises MemoryError. It should stop at a limit and report the file."""
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip_bomb(1024))
    assert path.stat().st_size < 1_200_000
    child = subprocess.run(
        [sys.executable, "-c", _BOMB_CHILD, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert "raised" not in outcome, outcome
    assert outcome["records"] == 0
    assert [location for location, _ in outcome["problems"]] == [str(path)]
    assert outcome["peak_mib"] < 512, outcome


# --------------------------------------------------------------------------------------------
# Regression tests of the other bugs found (fixed in 9b1db31): each docstring says what the bug was.
# --------------------------------------------------------------------------------------------

_STOP = {"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "eventID": "stop"}


@pytest.mark.parametrize(
    ("data", "json_lines"),
    [
        (b'{"eventSource": "s3.amazonaws.com", "eventName": "\xff"}', False),
        (b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "\xff"}]}', False),
        (b'{"Records": [{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "x": "\xff"}]}', False),
        (json.dumps(_STOP).encode() + b'\n{"eventName": "\xed\xa0\x80"}\n', True),
    ],
    ids=["record", "log file head", "log file field", "json line"],
)
def test_bug_invalid_utf8_in_a_string_raises_unicode_decode_error(data: bytes, json_lines: bool) -> None:
    """Was a bug: msgspec raises UnicodeDecodeError (a ValueError, not a DecodeError) for invalid UTF-8
    inside a JSON string; sources.py lets it out of every entry point (file, lines, stream)."""
    for stream in (False, True):
        _, problems = read_all(data, json_lines=json_lines, stream=stream)
        assert problems


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x55]) + data[position + 1 :]


@pytest.mark.parametrize(
    "data",
    [
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07\x00\x00\x00" + bytes(8),  # reserved block type
        _flip(gzip.compress(b'{"Records": []}' * 50, mtime=0), 12),
    ],
    ids=["invalid block", "bad lookback distance"],
)
def test_bug_damaged_gzip_body_raises_isal_error(data: bytes) -> None:
    """Was a bug: sources.py gunzip's general path (isal igzip.decompress) raises igzip_lib.IsalError for
    a damaged deflate stream; IsalError is not an OSError, and read_bytes catches only
    (OSError, EOFError, ValueError): a corrupt .json.gz crashes the scan."""
    _, problems = read_all(data)
    assert problems and problems[0].reason.startswith("not a readable gzip file")


def test_bug_gzip_members_are_lost_when_first_and_last_match() -> None:
    """Was a bug: sources.py gunzip's pre-sized path decodes only the first gzip member and accepts it
    when its size and CRC equal the trailer, which is the *last* member's: in A+B+A (``cat`` of
    three files) the records of B are silently lost."""
    first = gzipped(json.dumps(_STOP).encode() + b"\n")
    middle = gzipped(json.dumps(dict(_STOP, eventID="lost")).encode() + b"\n")
    out, problems = read_all(first + middle + first, json_lines=True)
    assert problems == []
    assert [r["eventID"] for r in out] == ["stop", "lost", "stop"]


@pytest.mark.parametrize("odd", [b'"\\ud800"', b"1e309"], ids=["lone surrogate", "number beyond float"])
def test_bug_valid_json_msgspec_refuses_drops_the_whole_file(odd: bytes) -> None:
    """Was a bug: msgspec refuses valid JSON that the standard library reads (a lone surrogate escape,
    "\\ud800"; a number beyond a float's range, 1e309): one such value in a log file makes the whole
    file "invalid JSON" (with a misleading "Input data was truncated"), or, in a record the fast
    path decodes, raises out of the reader: one API call with an odd parameter hides the file."""
    odd_record = dict(_STOP, eventID="odd", userAgent="ODD")
    data = json.dumps({"Records": [odd_record, _STOP]}).encode().replace(b'"ODD"', odd)
    out, problems = read_all(data, wants=ENGINE.wants)
    assert [r["eventID"] for r in out] == ["odd", "stop"], problems


def test_bug_empty_error_code_drops_a_record_the_engine_alerts_on() -> None:
    """Was a bug: sources.py passes ``failed=errorCode is not None`` to the pre-filter (fast path and
    _accept) while CloudTrailEvent.failed treats "" as no error: a record with "errorCode": "" is
    dropped by the reader although the engine alerts on it."""
    record = dict(_STOP, errorCode="")
    assert ENGINE.evaluate(record)
    for data, json_lines in ((json.dumps({"Records": [record]}).encode(), False), (_dumps(record), True)):
        out, _ = read_all(data, json_lines=json_lines, wants=ENGINE.wants)
        assert out == [record]


def test_bug_problem_reason_embeds_an_unbounded_input_value() -> None:
    """Was a bug (minor): sources.py _accept puts ``detail_type!r`` whole into the problem's reason:
    a 1 MB detail-type makes a 1 MB log line."""
    _, problems = read_all(json.dumps({"detail-type": "x" * (1 << 20), "detail": {}}).encode())
    assert len(problems) == 1 and len(problems[0].reason) < 300


_SCAN_CHILD = textwrap.dedent(
    """
    import io, json, sys
    from trailguard.cli import main
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", sys.argv[1], "--format", "jsonl", "--no-progress"], stdout=out, stderr=err)
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"code": code, "findings": len(out.getvalue().splitlines()), "err": err.getvalue(),
                      "peak_mib": int(peak.split()[1]) >> 10}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status: Linux")
def test_a_300_megabyte_log_file_is_streamed(tmp_path: Path) -> None:
    """Was a bug (issue 12): a plain file was read whole; 300 MB took 412 MB of memory. Now the scan
    stays under 100 MB whatever the file (one pretty-printed log file, the records one per line)."""
    from .conftest import load_rule_test_events

    stop = next(e.record for e in load_rule_test_events() if e.record.get("eventName") == "StopLogging")
    filler = dict(stop, eventSource="s3.amazonaws.com", eventName="GetObject", readOnly=True)
    item = json.dumps(filler, indent=2).encode()
    path = tmp_path / "111122223333_CloudTrail_eu-west-1_20261102T1405Z_QmlnRmlsZTAwMDAx.json"
    count = 0
    with path.open("wb") as out:
        out.write(b'{\n  "Records": [\n' + json.dumps(stop).encode())
        while out.tell() < 300 << 20:
            out.write(b",\n" + item)
            count += 1
        out.write(b",\n" + json.dumps(dict(stop, eventID="the-last-one")).encode() + b"\n  ]\n}\n")
    child = subprocess.run(
        [sys.executable, "-c", _SCAN_CHILD, str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 1 and outcome["findings"] == 2, outcome
    assert f"in {count + 2:,} events from 1 file" in outcome["err"]
    assert outcome["peak_mib"] < 100, outcome
