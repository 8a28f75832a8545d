"""`trailguard scan s3://...` against moto's server on 127.0.0.1 (real HTTP through AWS_ENDPOINT_URL):
the same findings as the same files on disk, a day's window lists that day, other AWS logs are not
read, errors name the object, and downloads run ahead of the reader in bounded number."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, main, scan
from trailguard.core.settings import Settings
from trailguard.sources import InputProblem
from trailguard.sources_s3 import S3Input, S3Listing, TimeWindow, parse_time

from .http_server import RecordingServer, Reply
from .moto_server import MotoServer
from .servers import Servers

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
BUCKET = "fernhill-trail-logs"
ACCOUNT_DAY = "AWSLogs/111122223333/CloudTrail/{region}/2026/11/02/"


@pytest.fixture
def moto(servers: Servers, fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    server = servers.start(MotoServer())
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    return server


def unexpected(item: object) -> None:
    pytest.fail(f"unexpected: {item}")


def upload_samples(s3: Any, bucket: str = BUCKET, prefix: str = "") -> list[str]:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    keys = []
    for path in sorted((SAMPLES / "AWSLogs").rglob("*.json.gz")):
        key = prefix + path.relative_to(SAMPLES).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def findings_of(paths: list[str], **options: Any) -> tuple[list[dict[str, Any]], Any]:
    problems: list[InputProblem] = []
    result = scan(paths, Settings.load(str(SAMPLES / "trailguard.toml")), on_problem=problems.append, **options)
    return [finding.to_dict() for finding in result.findings], result


def test_the_same_findings_as_the_same_files_on_disk(moto: MotoServer) -> None:
    keys = upload_samples(moto.client("s3"))
    on_disk, local = findings_of([str(SAMPLES / "AWSLogs")])
    from_s3, remote = findings_of([f"s3://{BUCKET}/"])
    assert len(on_disk) > 10, "the sample day has its incidents"
    assert from_s3 == on_disk, "the same findings, in the same order"
    assert remote.read.files == local.read.files == len(keys)
    assert remote.read.records == local.read.records and remote.problems == []
    assert remote.engine == local.engine


def test_a_days_window_over_months_lists_that_day_only(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    upload_samples(s3)
    # Two more months of the same trail, and what AWS writes beside it: none of it may be listed.
    sample = next((SAMPLES / "AWSLogs").rglob("*.json.gz")).read_bytes()
    for month, day in [(9, 14), (10, 1), (10, 20), (11, 1), (11, 3)]:
        for hour in range(3):
            for region in ("eu-west-1", "us-east-1"):
                name = (
                    f"111122223333_CloudTrail_{region}_2026{month:02d}{day:02d}T{hour:02d}05Z_Q3v8LxWm0aBcDeFg.json.gz"
                )
                key = f"AWSLogs/111122223333/CloudTrail/{region}/2026/{month:02d}/{day:02d}/{name}"
                s3.put_object(Bucket=BUCKET, Key=key, Body=sample)
    digest = "111122223333_CloudTrail-Digest_eu-west-1_management-events_eu-west-1_20261102T100455Z.json.gz"
    s3.put_object(
        Bucket=BUCKET, Key=f"AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/02/{digest}", Body=b"{}"
    )
    day_keys = [key for region in ("eu-west-1", "us-east-1") for key in _keys(s3, ACCOUNT_DAY.format(region=region))]
    calls: list[dict[str, Any]] = []
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append(dict(params)))
    window = TimeWindow(parse_time("2026-11-02"), parse_time("2026-11-02", end=True))
    listing = S3Listing(s3, BUCKET, "", window=window, on_problem=unexpected, on_skipped=unexpected)
    objects = list(listing.objects())

    assert sorted(obj.key for obj in objects) == sorted(day_keys)
    assert listing.listed == len(day_keys), "no key of another day (nor the digest) was listed"
    # The root, AWSLogs/, the account's services, its regions (Delimiter='/'), then one day per region.
    assert [(c.get("Prefix", ""), "Delimiter" in c) for c in calls] == [
        ("", True),
        ("AWSLogs/", True),
        ("AWSLogs/111122223333/", True),
        ("AWSLogs/111122223333/CloudTrail/", True),
        (ACCOUNT_DAY.format(region="eu-west-1"), False),
        (ACCOUNT_DAY.format(region="us-east-1"), False),
    ]
    times = [obj.key.rsplit("_", 2)[1] for obj in objects]
    assert times == sorted(times), "in the time the names carry, across the two regions"


def test_without_a_window_every_day_is_read_day_by_day(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sample = next((SAMPLES / "AWSLogs").rglob("*.json.gz")).read_bytes()
    for stamp, region in [
        ("20261003T2355Z", "us-east-1"),
        ("20260930T0010Z", "eu-west-1"),
        ("20261003T0005Z", "eu-west-1"),
    ]:
        day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
        name = f"111122223333_CloudTrail_{region}_{stamp}_Zp4Kq9Tn2RsWx7Yb.json.gz"
        s3.put_object(
            Bucket=BUCKET, Key=f"AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/{region}/{day}/{name}", Body=sample
        )
    listing = S3Listing(s3, BUCKET, "AWSLogs/", window=TimeWindow(), on_problem=unexpected, on_skipped=unexpected)
    stamps = [obj.key.rsplit("_", 2)[1] for obj in listing.objects()]
    assert stamps == ["20260930T0010Z", "20261003T0005Z", "20261003T2355Z"], "organization trail, in time order"
    until = TimeWindow(until=parse_time("2026-10-01"))
    listing = S3Listing(s3, BUCKET, "AWSLogs/", window=until, on_problem=unexpected, on_skipped=unexpected)
    assert [obj.key.rsplit("_", 2)[1] for obj in listing.objects()] == ["20260930T0010Z"]


def _keys(s3: Any, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_the_cli_reads_a_window_and_counts_other_aws_logs(moto: MotoServer, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = moto.client("s3")
    upload_samples(s3)
    config = (
        "111122223333_Config_eu-west-1_ConfigHistory_AWS::EC2::Instance_20261102T061505Z_20261102T121505Z_1.json.gz"
    )
    s3.put_object(Bucket=BUCKET, Key=f"export/{config}", Body=b"{}")
    first = next((SAMPLES / "AWSLogs").rglob("*T14*.json.gz"))
    s3.put_object(Bucket=BUCKET, Key=f"export/{first.name}", Body=first.read_bytes())
    code = main(["scan", f"s3://{BUCKET}/export/", "--format", "jsonl", "--no-progress"])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "1 AWS Config" in err and "1 file" in err
    code = main(
        ["scan", f"s3://{BUCKET}/", "--since", "2026-11-02T14:00Z", "--until", "2026-11-02T14:50", "--format", "jsonl"]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_FINDINGS
    rules = {json.loads(line)["rule_id"] for line in out.splitlines()}
    assert "cloudtrail.logging-stopped" in rules, err
    assert "sg.ingress-open-to-world" in rules


def test_an_unreadable_object_is_named_and_the_rest_is_read(
    moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = moto.client("s3")
    upload_samples(s3)
    key = (
        ACCOUNT_DAY.format(region="eu-west-1")
        + "111122223333_CloudTrail_eu-west-1_20261102T1500Z_BrokenGzip000001.json.gz"
    )
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"Records": [')[:-6])
    code = main(["scan", f"s3://{BUCKET}/AWSLogs/", "--format", "jsonl", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT, "input was not read"
    assert f"trailguard: skipped s3://{BUCKET}/{key}: not a readable gzip file" in err
    assert len(out.splitlines()) > 10, "the other files were read"


def test_a_missing_bucket_is_one_line(moto: MotoServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "s3://no-such-bucket-here/AWSLogs/"])
    _out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert err.splitlines() == [
        "trailguard: error: s3://no-such-bucket-here/AWSLogs/: cannot list: NoSuchBucket "
        "(The specified bucket does not exist)"
    ]


@pytest.mark.usefixtures("fake_aws_env")
def test_access_denied_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    denied = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
        b"<RequestId>8B4QZ1VXKX7T3N2A</RequestId></Error>"
    )
    with RecordingServer([Reply(403, denied, content_type="application/xml")]) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        code = main(["scan", f"s3://{BUCKET}/AWSLogs/"])
    _out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert err.splitlines() == [f"trailguard: error: s3://{BUCKET}/AWSLogs/: cannot list: AccessDenied (Access Denied)"]
    assert server.requests[0].path.startswith(f"/{BUCKET}?list-type=2")


def test_without_boto3_the_existing_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    code = main(["scan", f"s3://{BUCKET}/"])
    _out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert err.splitlines() == [
        "trailguard: error: reading s3:// needs boto3, which is not installed: pip install 'trailguard[aws]'"
    ]


def test_s3_and_local_paths_are_not_mixed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", f"s3://{BUCKET}/", str(SAMPLES)]) == EXIT_BAD_INPUT
    assert "cannot be scanned together" in capsys.readouterr().err


def test_downloads_run_ahead_in_bounded_number(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    upload_samples(s3)
    source = S3Input([f"s3://{BUCKET}/"], TimeWindow(), unexpected, unexpected, client=s3, threads=3, ahead=4)
    started: list[str] = []
    fetch = source._fetch

    def counted(obj: Any) -> Any:
        started.append(obj.key)
        return fetch(obj)

    source._fetch = counted  # type: ignore[method-assign]
    consumed = 0
    iterator: Iterator[Any] = iter(source)
    for fetched in iterator:
        consumed += 1
        assert fetched.data is not None
        assert len(started) - consumed <= 4, "never more than `ahead` objects held"
        if consumed == 10:
            break
    assert consumed == 10 and len(started) <= 14


def test_local_files_follow_the_window_too(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", str(SAMPLES / "AWSLogs"), "--since", "2026-11-02T23:50", "--format", "jsonl", "--no-progress"])
    _out, err = capsys.readouterr()
    assert code in (0, 1)
    whole = main(["scan", str(SAMPLES / "AWSLogs"), "--format", "jsonl", "--no-progress"])
    _out, all_err = capsys.readouterr()
    assert whole == EXIT_FINDINGS
    assert _files(err) < _files(all_err)


def _files(summary: str) -> int:
    import re

    match = re.search(r"([\d,]+) files?", summary)
    assert match, summary
    return int(match.group(1).replace(",", ""))


def test_times_parse_as_utc() -> None:
    assert parse_time("2026-11-02") == dt.datetime(2026, 11, 2)
    assert parse_time("2026-11-02", end=True) == dt.datetime(2026, 11, 2, 23, 59)
    assert parse_time("2026-11-02T10:30:00+02:00") == dt.datetime(2026, 11, 2, 8, 30)
    with pytest.raises(ValueError, match="not a date"):
        parse_time("yesterday")
    window = TimeWindow(parse_time("2026-11-02T10:00"), parse_time("2026-11-02T11:00"))
    assert window.keeps("x/111122223333_CloudTrail_eu-west-1_20261102T1000Z_a.json.gz")
    assert not window.keeps("111122223333_CloudTrail_eu-west-1_20261102T1101Z_a.json.gz")
    assert window.keeps("export.json"), "a file named otherwise is read"
