"""Readers: every accepted format, and every kind of bad input reported with its location."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from trailguard.sources import (
    CHUNK_SIZE,
    WHOLE_LIMIT,
    InputProblem,
    Reader,
    SeenEvents,
    event_key,
    in_time_order,
    skipped_kind,
)

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


# --------------------------------------------------------------------------------------------
# Input a user really has (issue 12): every shape a log file takes on its way to a user.
# --------------------------------------------------------------------------------------------

LOG_FILE = json.dumps({"Records": RECORDS}, separators=(",", ":")).encode()  # as CloudTrail writes it
PRETTY = json.dumps({"Records": RECORDS}, indent=2).encode()


def _shapes() -> list[tuple[str, bytes, int]]:
    """(name, content, how many times the records come out)."""
    return [
        ("one line, as `aws s3 cp ... - | gunzip` gives", LOG_FILE, 1),
        ("one line with a newline", LOG_FILE + b"\n", 1),
        ("gzipped", gzip.compress(LOG_FILE), 1),
        ("pretty-printed", PRETTY, 1),
        ("BOM, CRLF and trailing whitespace", b"\xef\xbb\xbf" + PRETTY.replace(b"\n", b"\r\n") + b"\r\n  \t\r\n", 1),
        ("UTF-16 with its BOM (PowerShell >)", PRETTY.decode().encode("utf-16"), 1),
        ("concatenated documents", LOG_FILE + LOG_FILE, 2),
        ("concatenated pretty documents", PRETTY + b"\n" + PRETTY, 2),
        ("one document per line", LOG_FILE + b"\n" + LOG_FILE + b"\n", 2),
        ("gzip members of one document each (cat a.gz b.gz)", gzip.compress(LOG_FILE) + gzip.compress(PRETTY), 2),
    ]


@pytest.mark.parametrize(("name", "data", "times"), _shapes(), ids=[shape[0] for shape in _shapes()])
@pytest.mark.parametrize("how", ["file", "stdin", "file, streamed", "stdin, streamed"])
def test_every_shape_of_a_log_file(tmp_path: Path, name: str, data: bytes, times: int, how: str) -> None:
    problems: list[InputProblem] = []
    # Streamed: as a file above whole_limit is read (small limits, so that the records span chunks).
    streamed = "streamed" in how
    reader = Reader(
        on_problem=problems.append,
        whole_limit=100 if streamed else WHOLE_LIMIT,
        chunk_size=37 if streamed else CHUNK_SIZE,
    )
    if how.startswith("stdin"):
        records = list(reader.read_stream(io.BytesIO(data), "<stdin>"))
    else:
        path = tmp_path / "111122223333_CloudTrail_eu-west-1_20261102T1405Z_AbCdEfGh12345678.json"
        path.write_bytes(data)
        records = list(reader.read_paths([path]))
    assert problems == []
    assert event_ids(records) == event_ids(RECORDS) * times
    assert reader.stats.records == len(RECORDS) * times


def test_a_streamed_document_broken_in_the_middle_keeps_what_came_before(tmp_path: Path) -> None:
    items = ",\n".join(json.dumps(record, indent=2) for record in RECORDS[:3])
    broken = '{"Records": [\n' + items + ',\n{"eventName": oops}\n]}\n'
    problems: list[InputProblem] = []
    reader = Reader(on_problem=problems.append, whole_limit=64, chunk_size=50)
    records = list(reader.read_bytes(broken.encode(), "big.json"))
    assert event_ids(records) == event_ids(RECORDS[:3])
    [problem] = problems
    assert problem.location == "big.json: record 3"
    line = broken.count("\n", 0, broken.index("oops")) + 1
    assert problem.reason.startswith("invalid JSON") and f"(line {line}, column" in problem.reason


def test_gzip_bound_is_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": RECORDS * 200}).encode()))  # about 1.5 MB
    problems: list[InputProblem] = []
    assert list(Reader(on_problem=problems.append, max_decompressed=1 << 20).read_paths([path]))[:0] == []
    assert [p.location for p in problems] == [str(path)]
    assert "decompresses to more than 1 MB" in problems[0].reason and "--max-decompressed" in problems[0].reason
    records, problems, _ = read(path)
    assert problems == [] and len(records) == len(RECORDS) * 200


# --------------------------------------------------------------------------------------------
# A synced bucket holds more than CloudTrail: samples of each of AWS's layouts, written here in
# the formats AWS documents (key layouts from the CloudTrail, Config, ELB, VPC and S3 guides).
# --------------------------------------------------------------------------------------------

ACCOUNT = "111122223333"
DAY = "2026/11/02"


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def build_bucket(root: Path) -> dict[str, int]:
    """A bucket synced with `aws s3 sync`: CloudTrail (an account trail and an organization trail)
    beside what else AWS delivers there. Returns the kinds expected to be skipped, with counts."""
    logs = root / "AWSLogs"
    files: dict[str, bytes] = {
        # CloudTrail: AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.json.gz
        (
            f"{ACCOUNT}/CloudTrail/eu-west-1/{DAY}/"
            f"{ACCOUNT}_CloudTrail_eu-west-1_20261102T1405Z_Q2xvdWRUcmFpbDAx.json.gz"
        ): (gzip.compress(json.dumps({"Records": RECORDS[:6]}).encode())),
        (
            f"o-a1b2c3d4e5/{ACCOUNT}/CloudTrail/eu-west-1/{DAY}/"
            f"{ACCOUNT}_CloudTrail_eu-west-1_20261102T1410Z_T3JnVHJhaWwwMDAx.json.gz"
        ): (gzip.compress(json.dumps({"Records": RECORDS[6:]}).encode())),
        # Digest files: ..._CloudTrail-Digest_region_trail-name_region_YYYYMMDDTHHmmssZ.json.gz
        (
            f"{ACCOUNT}/CloudTrail-Digest/eu-west-1/{DAY}/"
            f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_main_eu-west-1_20261102T150512Z.json.gz"
        ): _gz(
            json.dumps(
                {
                    "awsAccountId": ACCOUNT,
                    "digestStartTime": "2026-11-02T14:05:12Z",
                    "digestEndTime": "2026-11-02T15:05:12Z",
                    "digestS3Bucket": "trail-bucket",
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "logFiles": [],
                }
            )
        ),
        # Insights events: records of eventType AwsCloudTrailInsight under CloudTrail-Insight/.
        (
            f"{ACCOUNT}/CloudTrail-Insight/eu-west-1/{DAY}/"
            f"{ACCOUNT}_CloudTrail-Insight_eu-west-1_20261102T1405Z_SW5zaWdodDAwMDAx.json.gz"
        ): _gz(
            json.dumps(
                {
                    "Records": [
                        {
                            "eventVersion": "1.07",
                            "eventTime": "2026-11-02T14:00:00Z",
                            "awsRegion": "eu-west-1",
                            "eventID": "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
                            "eventType": "AwsCloudTrailInsight",
                            "recipientAccountId": ACCOUNT,
                            "sharedEventID": "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5",
                            "insightDetails": {
                                "state": "Start",
                                "eventSource": "iam.amazonaws.com",
                                "eventName": "DeleteUser",
                                "insightType": "ApiCallRateInsight",
                            },
                            "eventCategory": "Insight",
                        }
                    ]
                }
            )
        ),
        # AWS Config: ConfigHistory and ConfigSnapshot files, and the writability check.
        (
            f"{ACCOUNT}/Config/eu-west-1/2026/11/2/ConfigHistory/"
            f"{ACCOUNT}_Config_eu-west-1_ConfigHistory_AWS::EC2::SecurityGroup_20261102T140512Z_20261102T200512Z_1.json.gz"
        ): _gz(
            json.dumps(
                {
                    "fileVersion": "1.0",
                    "configurationItems": [
                        {
                            "configurationItemVersion": "1.3",
                            "configurationItemCaptureTime": "2026-11-02T14:05:12.100Z",
                            "configurationItemStatus": "OK",
                            "resourceType": "AWS::EC2::SecurityGroup",
                            "resourceId": "sg-0a1b2c3d4e5f60718",
                            "awsAccountId": ACCOUNT,
                            "awsRegion": "eu-west-1",
                            "configuration": {"groupId": "sg-0a1b2c3d4e5f60718"},
                        }
                    ],
                }
            )
        ),
        (
            f"{ACCOUNT}/Config/eu-west-1/2026/11/2/ConfigSnapshot/"
            f"{ACCOUNT}_Config_eu-west-1_ConfigSnapshot_20261102T140512Z_5f0e1d2c-3b4a-4968-8776-655443322110.json.gz"
        ): _gz(json.dumps({"fileVersion": "1.0", "configSnapshotId": "5f0e1d2c", "configurationItems": []})),
        f"{ACCOUNT}/Config/ConfigWritabilityCheckFile": b"",
        # ALB: ..._elasticloadbalancing_region_app.name.id_end-time_ip_random.log.gz, one request a line.
        (
            f"{ACCOUNT}/elasticloadbalancing/eu-west-1/{DAY}/"
            f"{ACCOUNT}_elasticloadbalancing_eu-west-1_app.web.50dc6c495c0c9188_20261102T1405Z_198.51.100.7_2mbcr1ft.log.gz"
        ): _gz(
            "https 2026-11-02T14:04:59.123456Z app/web/50dc6c495c0c9188 203.0.113.9:51234 10.0.1.20:8080 "
            '0.001 0.020 0.000 200 200 120 512 "GET https://example.com:443/ HTTP/1.1" "curl/8.5.0" - -\n'
        ),
        # Classic Load Balancer: plain text, .log.
        (
            f"{ACCOUNT}/elasticloadbalancing/eu-west-1/{DAY}/"
            f"{ACCOUNT}_elasticloadbalancing_eu-west-1_legacy_20261102T1405Z_198.51.100.8_5ab8c9d0.log"
        ): (
            b"2026-11-02T14:04:58.654321Z legacy 203.0.113.10:40111 10.0.1.21:80 0.00004 0.001 0.00002 200 200 0 57 "
            b'"GET http://example.com:80/ HTTP/1.1" "curl/8.5.0" - -\n'
        ),
        # VPC flow logs: ..._vpcflowlogs_region_flow-log-id_YYYYMMDDTHHmmZ_hash.log.gz, a header line first.
        (
            f"{ACCOUNT}/vpcflowlogs/eu-west-1/{DAY}/"
            f"{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0a1b2c3d4e5f60718_20261102T1405Z_9f8e7d6c.log.gz"
        ): _gz(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
            "start end action log-status\n"
            f"2 {ACCOUNT} eni-0a1b2c3d4e5f60718 203.0.113.12 10.0.1.22 443 49152 6 10 840 "
            "1793541900 1793541960 ACCEPT OK\n"
        ),
    }
    for key, content in files.items():
        path = logs / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    # Hive-compatible flow log prefixes: the folder names the service.
    hive = logs / f"aws-account-id={ACCOUNT}" / "aws-service=vpcflowlogs" / "aws-region=eu-west-1" / "year=2026"
    hive.mkdir(parents=True)
    (hive / "flows.log.gz").write_bytes(_gz("version account-id\n"))
    # S3 server access logs: TargetPrefix + YYYY-mm-DD-HH-MM-SS-UniqueString, no extension.
    access = root / "s3-access-logs"
    access.mkdir()
    (access / "2026-11-02-14-05-12-4B1D2C3E4F5A6B7C").write_text(
        "79a5 trail-bucket [02/Nov/2026:14:05:12 +0000] 203.0.113.14 - 3E57427F3EXAMPLE REST.GET.OBJECT x.json "
        '"GET /x.json HTTP/1.1" 200 - 512 512 10 9 "-" "curl/8.5.0" -\n'
    )
    return {
        "CloudTrail digest": 1,
        "CloudTrail Insights": 1,
        "AWS Config": 3,
        "ELB access log": 2,
        "VPC flow log": 2,
        "S3 server access log": 1,
    }


def test_a_bucket_holds_more_than_cloudtrail(tmp_path: Path) -> None:
    expected = build_bucket(tmp_path)
    skipped: dict[str, int] = {}
    problems: list[InputProblem] = []
    reader = Reader(on_problem=problems.append)
    records = list(reader.read_paths([tmp_path], lambda kind: skipped.update({kind: skipped.get(kind, 0) + 1})))
    assert problems == [], "what AWS writes beside CloudTrail is no input problem"
    assert skipped == expected
    assert event_ids(records) == event_ids(RECORDS)
    assert reader.stats.files == 2


def test_a_broken_file_inside_cloudtrail_is_still_an_error(tmp_path: Path) -> None:
    build_bucket(tmp_path)
    day = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / "eu-west-1" / DAY
    broken = day / f"{ACCOUNT}_CloudTrail_eu-west-1_20261102T1415Z_QnJva2VuMDAwMDAx.json.gz"
    broken.write_bytes(gzip.compress(b'{"Records": [{"eventName": ')[:-6])
    records, problems, _ = read(tmp_path)
    assert event_ids(records) == event_ids(RECORDS)
    assert [(p.location, p.reason.split(":")[0]) for p in problems] == [(str(broken), "not a readable gzip file")]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (f"b/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{DAY}/{ACCOUNT}_CloudTrail_us-east-1_20261102T1405Z_x.gz", None),
        (f"b/AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail/us-east-1/{DAY}/x.json.gz", None),
        (f"logs/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20261102T150512Z.json.gz", "CloudTrail digest"),
        (f"b/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/{DAY}/renamed.json.gz", "CloudTrail digest"),
        (f"b/AWSLogs/{ACCOUNT}/GuardDuty/us-east-1/{DAY}/findings.jsonl.gz", "AWS GuardDuty"),
        (f"{ACCOUNT}_network-firewall_alert_us-east-1_fw_20261102T1405Z_1a2b.log.gz", "AWS network-firewall"),
        ("exports/events.json.gz", None),
        ("exports/2026-11-02-14-05-12-4B1D2C3E4F5A6B7C.json", None),  # a data file, whatever its name
    ],
)
def test_skipped_kind_by_aws_layout(path: str, kind: str | None) -> None:
    assert skipped_kind(path) == kind


# --------------------------------------------------------------------------------------------
# Parts of a tree that cannot be read are errors.
# --------------------------------------------------------------------------------------------


def test_unreadable_parts_of_a_tree_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"Records": RECORDS[:2]}))
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.json").write_text(json.dumps({"Records": RECORDS[2:4]}))
    (tmp_path / "dangling.json.gz").symlink_to(tmp_path / "gone.json.gz")
    (tmp_path / "loop").symlink_to(tmp_path)  # walked once, not forever
    linked = tmp_path / "linked"
    linked.symlink_to(locked, target_is_directory=True)
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        # Tests run as root here, whom chmod does not stop: the folder refuses as it would a user.
        if Path(path).resolve().name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    records, problems, _ = read(tmp_path)
    assert event_ids(records) == event_ids(RECORDS[:2])
    assert {(Path(p.location).name, p.reason) for p in problems} == {
        ("dangling.json.gz", "broken symbolic link"),
        ("linked", "cannot read directory: Permission denied"),
        ("locked", "cannot read directory: Permission denied"),
    }


def test_a_file_that_vanishes_is_reported(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"Records": RECORDS[:1]}))
    second.write_text(json.dumps({"Records": RECORDS[1:2]}))
    problems: list[InputProblem] = []
    reader = Reader(on_problem=problems.append)
    out = []
    for record in reader.read_paths([tmp_path]):
        out.append(record)
        second.unlink()  # after the walk listed it, before it is read
    assert event_ids(out) == event_ids(RECORDS[:1])
    assert [(p.location, p.reason) for p in problems] == [(str(second), "cannot read file: No such file or directory")]
    dangling = tmp_path / "named.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    assert [p.reason for p in read(dangling)[1]] == ["broken symbolic link"]


# --------------------------------------------------------------------------------------------
# The same event twice: bounded memory.
# --------------------------------------------------------------------------------------------


def test_seen_events_tells_duplicates_in_bounded_memory() -> None:
    seen = SeenEvents(window_hours=2, limit=50_000)
    largest = 0
    for index in range(300_000):  # 300,000 events over 30 hours, each met twice, close in time
        when = f"2026-11-{2 + index // 240_000:02d}T{(index // 10_000) % 24:02d}:00:00Z"
        key = hash((ACCOUNT, "eu-west-1", f"event-{index}"))
        assert seen.seen(key, when) is False
        assert seen.seen(key, when) is True
        largest = max(largest, len(seen))
    assert largest <= 20_000 + 10_000, "about two hours of keys"
    assert seen.seen(hash((ACCOUNT, "eu-west-1", "event-299999")), "2026-11-03T05:00:00Z") is True
    assert seen.seen(hash((ACCOUNT, "eu-west-1", "event-0")), "2026-11-02T00:00:00Z") is False, "long gone"
    capped = SeenEvents(window_hours=2, limit=1_000)
    for index in range(10_000):  # a busy hour: the limit holds
        capped.seen(index, "2026-11-02T14:00:00Z" if index < 5_000 else "2026-11-02T15:00:00Z")
    assert len(capped) <= 5_000


def test_event_key_is_account_region_and_event_id() -> None:
    record = dict(RECORDS[0])
    assert event_key(record) == (record["recipientAccountId"], record["awsRegion"], record["eventID"])
    assert event_key({k: v for k, v in record.items() if k != "eventID"}) is None
    other_account = dict(record, recipientAccountId="444455556666")
    assert event_key(other_account) != event_key(record)
