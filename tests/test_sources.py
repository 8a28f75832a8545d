"""Readers: every accepted format, and every kind of bad input reported with its location."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

from trailguard.sources import InputProblem, Reader, in_time_order

from .conftest import load_rule_test_events

RECORDS = [e.record for e in load_rule_test_events() if e.path.parent.name == "cloudtrail"]
API_CALL = "AWS API Call via CloudTrail"


def envelope(record: dict[str, Any], detail_type: str = API_CALL) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "aws." + str(record.get("eventSource", "x")).split(".")[0],
        "account": "111122223333",
        "time": record.get("eventTime"),
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def read(*paths: Path | str, wants: Any = None) -> tuple[list[dict[str, Any]], list[InputProblem], Reader]:
    problems: list[InputProblem] = []
    reader = Reader(wants=wants, on_problem=problems.append)
    return list(reader.read_paths(paths)), problems, reader


def event_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["eventID"] for r in records]


def test_cloudtrail_s3_layout_gzipped_and_plain(tmp_path: Path) -> None:
    day = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2026" / "11" / "02"
    day.mkdir(parents=True)
    (day / "111122223333_CloudTrail_eu-west-1_20261102T1405Z_a.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": RECORDS[:6]}).encode())
    )
    (day / "111122223333_CloudTrail_eu-west-1_20261102T1410Z_b.json").write_text(json.dumps({"Records": RECORDS[6:]}))
    digest = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail-Digest" / "eu-west-1"
    digest.mkdir(parents=True)
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"awsAccountId": "111122223333"}'))
    (day / "notes.txt").write_text("not data")
    records, problems, reader = read(tmp_path)
    assert problems == []
    assert event_ids(records) == event_ids(RECORDS)
    assert reader.stats.files == 2 and reader.stats.records == len(RECORDS)


def test_fast_path_decodes_only_wanted_records(tmp_path: Path) -> None:
    path = tmp_path / "trail.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": RECORDS}).encode()))
    asked: list[tuple[Any, ...]] = []

    def wants(source: Any, name: Any, identity_type: Any, failed: bool) -> bool:
        asked.append((source, name, identity_type, failed))
        return name == "StopLogging" and not failed

    records, problems, reader = read(path, wants=wants)
    assert problems == []
    assert [r["eventName"] for r in records] == ["StopLogging"]
    assert reader.stats.records == len(RECORDS) and reader.stats.decoded == 1
    assert ("cloudtrail.amazonaws.com", "StopLogging", "IAMUser", True) in asked


def test_fast_and_general_paths_agree(tmp_path: Path) -> None:
    odd = dict(RECORDS[0], userIdentity="not an object", eventID="odd-typed-identity")
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"Records": [*RECORDS, odd]}))
    records, problems, _ = read(path)
    assert problems == []
    assert event_ids(records) == [*event_ids(RECORDS), "odd-typed-identity"]


def test_eventbridge_events_single_array_and_json_lines(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(envelope(RECORDS[0])))
    (tmp_path / "many.json").write_text(json.dumps([envelope(r) for r in RECORDS[1:4]]))
    signin = dict(RECORDS[4], eventSource="signin.amazonaws.com", eventName="ConsoleLogin")
    lines = [json.dumps(envelope(signin, "AWS Console Sign In via CloudTrail"))]
    lines += [json.dumps(envelope(r, "AWS Console Signin via CloudTrail")) for r in RECORDS[5:6]]
    lines += [json.dumps(r) for r in RECORDS[6:]]
    (tmp_path / "stream.jsonl").write_text("\n".join(lines) + "\n\n")
    records, problems, _ = read(tmp_path / "one.json", tmp_path / "many.json", tmp_path / "stream.jsonl")
    assert problems == []
    assert event_ids(records) == event_ids(RECORDS)


def test_json_lines_detected_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS))
    records, problems, _ = read(path)
    assert problems == [] and event_ids(records) == event_ids(RECORDS)


def test_stdin_streams_json_lines_and_reads_documents() -> None:
    stream = io.BytesIO(("\n".join(json.dumps(envelope(r)) for r in RECORDS) + "\n").encode())
    reader = Reader()
    assert event_ids(list(reader.read_stream(stream, "<stdin>"))) == event_ids(RECORDS)
    pretty = io.BytesIO(json.dumps({"Records": RECORDS}, indent=2).encode())
    assert event_ids(list(Reader().read_stream(pretty, "<stdin>"))) == event_ids(RECORDS)
    zipped = io.BytesIO(gzip.compress(json.dumps({"Records": RECORDS}).encode()))
    assert event_ids(list(Reader().read_stream(zipped, "<stdin>"))) == event_ids(RECORDS)


def test_bad_input_is_reported_with_location_and_the_rest_is_read(tmp_path: Path) -> None:
    good = tmp_path / "a_good.json"
    good.write_text(json.dumps({"Records": RECORDS[:2]}))
    (tmp_path / "b_truncated.json.gz").write_bytes(gzip.compress(json.dumps({"Records": RECORDS}).encode())[:-20])
    (tmp_path / "c_invalid.json").write_text('{"Records": [\n  {"eventName": "StopLogging",\n  oops\n]}')
    (tmp_path / "d_records_not_list.json").write_text('{"Records": {"eventName": "StopLogging"}}')
    (tmp_path / "e_bad_items.json").write_text(json.dumps({"Records": [RECORDS[2], 42, None, RECORDS[3]]}))
    (tmp_path / "f_other_event.json").write_text(
        json.dumps({"detail-type": "EC2 Instance State-change Notification", "detail": {}})
    )
    (tmp_path / "g_no_detail.json").write_text(json.dumps({"detail-type": API_CALL, "detail": "x"}))
    (tmp_path / "h_empty.json").write_text("  \n")
    (tmp_path / "i_lines.jsonl").write_text(
        json.dumps(RECORDS[4]) + "\n{not json\n[1]\n" + json.dumps(RECORDS[5]) + "\n"
    )
    (tmp_path / "j_not_a_record.json").write_text(json.dumps({"hello": "world"}))
    records, problems, reader = read(tmp_path, tmp_path / "missing.json")
    assert event_ids(records) == event_ids(RECORDS[:6])
    reasons = {Path(p.location.split(":")[0]).name + p.location.partition(":")[2]: p.reason for p in problems}
    assert reasons["b_truncated.json.gz"].startswith("not a readable gzip file")
    assert "line 3, column 3" in reasons["c_invalid.json"]
    assert reasons["d_records_not_list.json"] == '"Records" is dict, not a list'
    assert reasons["e_bad_items.json record 1"] == "expected a JSON object, got a number"
    assert reasons["e_bad_items.json record 2"] == "expected a JSON object, got null"
    assert "EC2 Instance State-change Notification" in reasons["f_other_event.json"]
    assert reasons["g_no_detail.json"] == "EventBridge event has no detail object (got a string)"
    assert reasons["h_empty.json"] == "empty file"
    assert reasons["i_lines.jsonl line 2"].startswith("invalid JSON")
    assert reasons["i_lines.jsonl line 3"] == "expected a JSON object, got an array"
    assert "no eventSource or eventName" in reasons["j_not_a_record.json"]
    assert reasons["missing.json"] == "no such file or directory"
    assert reader.stats.problems == len(problems) == 12


def test_directory_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    records, problems, _ = read(tmp_path)
    assert records == [] and "holds no .json" in problems[0].reason


def test_gzip_with_several_members_and_lying_trailers(tmp_path: Path) -> None:
    text = json.dumps({"Records": RECORDS}).encode()
    half = len(text) // 2
    members = tmp_path / "members.json.gz"
    members.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]))
    records, problems, _ = read(members)
    assert problems == [] and event_ids(records) == event_ids(RECORDS)
    lying = bytearray(gzip.compress(text))
    lying[-4:] = (len(text) - 7).to_bytes(4, "little")  # a trailer that lies about the size
    (tmp_path / "lying.json.gz").write_bytes(bytes(lying))
    records, problems, _ = read(tmp_path / "lying.json.gz")
    assert records == [] and problems[0].reason.startswith("not a readable gzip file")


def test_cloudtrail_files_are_read_in_the_time_their_names_carry_across_accounts_and_regions() -> None:
    paths = [
        "logs/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/03/111122223333_CloudTrail_eu-west-1_20261103T0915Z_b.json.gz",
        "logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/111122223333_CloudTrail_us-east-1_20261103T0900Z_a.json.gz",
        "logs/events.jsonl",
        "logs/AWSLogs/444455556666/CloudTrail/eu-west-1/2026/11/02/444455556666_CloudTrail_eu-west-1_20261102T2355Z_c.json.gz",
        "logs/AWSLogs/444455556666/CloudTrail/eu-west-1/2026/11/03/444455556666_CloudTrail_eu-west-1_20261103T0900Z_d.json.gz",
    ]
    ordered = [Path(path).name.split("_")[-1][0] for path in in_time_order(paths)]
    assert ordered == ["c", "a", "d", "b", "e"], "by time; a tie keeps the order given"
    assert in_time_order(paths)[-1] == "logs/events.jsonl", "files named otherwise come after, in their order"
