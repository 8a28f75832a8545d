"""What a replay costs: ``lambda_handler`` run on S3 Batch Operations tasks (schema 2.0, replay to the
history), one task per invocation as Batch Operations sends them, over gzipped CloudTrail log files
in S3 (moto, in this process), timed per invocation. docs/replay.md quotes its output.

    .venv/bin/python benchmarks/replay_cost.py [--runs 3] [--events 20000]

Two archives: the bench's (generate_corpus.py: 1,000 records a file, about 1.4 KB a record) and
samples/ (a small company's day: 190 small files). Each run is a fresh container (the rules load on
the first events, as in a new Lambda container); the best run of ``--runs`` is reported, with the
spread. The time moto takes to answer GetObject is measured apart and taken off: S3's own latency
is not measurable here, and is priced from ``--s3-latency-ms`` (an assumption, stated as one).

Local CPU is not Lambda CPU: Lambda gives a function CPU in proportion to its memory, one vCPU at
1,769 MB. For CPU-bound work the GB-seconds are therefore about the same at any size up to that,
``seconds of one vCPU x 1.769 GB``, if a Lambda vCPU is as fast as a core of this machine (it may
not be: measure on Lambda before a large replay). Waiting for S3 is billed at the chosen memory.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_corpus import CorpusParams, ensure_corpus  # noqa: E402

BUCKET = "replay-bench-logs"
# List prices, us-east-1, at the time of writing (check the pricing pages before relying on them).
LAMBDA_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
LAMBDA_REQUEST = 0.20 / 1_000_000
S3_GET = 0.0004 / 1000
BATCH_OPERATIONS_OBJECT = 1.00 / 1_000_000
BATCH_OPERATIONS_JOB = 0.25
VCPU_GB = 1.769
TB = 10**12


def _environment() -> None:
    for name in [name for name in os.environ if name.startswith(("TRAILGUARD_", "AWS_"))]:
        del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TRAILGUARD_REPLAY": "history",
        }
    )


def _task_event(key: str, number: int) -> dict[str, Any]:
    from urllib.parse import quote_plus

    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": f"YmVuY2gtaW52b2NhdGlvbi0{number:06d}",
        "job": {"id": "5e0c7a1b-2d3f-4a5b-8c6d-7e8f9a0b1c2d", "userArguments": {"replay": "history"}},
        "tasks": [{"taskId": f"YmVuY2gtdGFzay0{number:06d}", "s3Bucket": BUCKET, "s3Key": quote_plus(key, safe="/")}],
    }


def _run(keys: Sequence[str]) -> tuple[list[float], int, int]:
    """One fresh container over every key: seconds per invocation, events evaluated, findings."""
    from trailguard import main
    from trailguard.utils import logger

    main.reset()
    logger.stream = io.StringIO()  # the log lines are written, as to CloudWatch, and dropped
    seconds: list[float] = []
    events = findings = 0
    for number, key in enumerate(keys):
        started = time.perf_counter()
        result = main.lambda_handler(_task_event(key, number), None)
        seconds.append(time.perf_counter() - started)
        [task] = result["results"]
        assert task["resultCode"] == "Succeeded", task
        done, _, rest = task["resultString"].partition(" events, ")
        events += int(done)
        findings += int(rest.split(" ", 1)[0])
    return seconds, events, findings


def _get_seconds(client: Any, keys: Sequence[str]) -> float:
    from trailguard.sources_s3 import read_object

    started = time.perf_counter()
    for key in keys:
        read_object(client, BUCKET, key)
    return time.perf_counter() - started


def measure(name: str, files: Sequence[Path], base: Path, client: Any, runs: int) -> dict[str, Any]:
    keys = []
    compressed = records = 0
    for path in files:
        key = f"{name}/{path.relative_to(base).as_posix()}"
        data = path.read_bytes()
        client.put_object(Bucket=BUCKET, Key=key, Body=data)
        keys.append(key)
        compressed += len(data)
        records += len(json.loads(gzip.decompress(data))["Records"])
    totals, gets = [], []
    evaluated = findings = 0
    for _ in range(runs):
        gets.append(_get_seconds(client, keys))
        seconds, evaluated, findings = _run(keys)
        totals.append(sum(seconds))
    best = min(totals)
    get = min(gets)
    work = best - get
    return {
        "archive": name,
        "files": len(keys),
        "records": records,
        "evaluated": evaluated,
        "findings": findings,
        "gzipped_bytes": compressed,
        "runs_seconds": [round(t, 3) for t in totals],
        "spread": round((max(totals) - best) / best, 3) if best else 0.0,
        "moto_get_seconds": round(get, 3),
        "ms_per_file": round(1000 * work / len(keys), 2),
        "ms_per_event": round(1000 * work / records, 4),
        "cpu_seconds_per_tb": round(work * TB / compressed),
    }


def cost_per_tb(figures: dict[str, Any], memory_mb: int, s3_latency_ms: float, architecture: str) -> dict[str, Any]:
    files = TB / (figures["gzipped_bytes"] / figures["files"])
    cpu_gb_seconds = figures["cpu_seconds_per_tb"] * VCPU_GB
    wait_gb_seconds = files * s3_latency_ms / 1000 * memory_mb / 1024
    gb_seconds = cpu_gb_seconds + wait_gb_seconds
    lambda_cost = gb_seconds * LAMBDA_GB_SECOND[architecture] + files * LAMBDA_REQUEST
    other = files * (S3_GET + BATCH_OPERATIONS_OBJECT) + BATCH_OPERATIONS_JOB
    return {
        "archive": figures["archive"],
        "events_per_tb": round(TB / figures["gzipped_bytes"] * figures["records"]),
        "files_per_tb": round(files),
        "gb_seconds_cpu": round(cpu_gb_seconds),
        "gb_seconds_s3_wait": round(wait_gb_seconds),
        "lambda_usd": round(lambda_cost, 2),
        "s3_get_and_batch_operations_usd": round(other, 2),
        "total_usd": round(lambda_cost + other, 2),
        "vcpu_hours": round(figures["cpu_seconds_per_tb"] / 3600, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000, help="size of the bench archive (1,000 a file)")
    parser.add_argument("--memory", type=int, default=256, help="MB, for the time spent waiting for S3")
    parser.add_argument("--s3-latency-ms", type=float, default=30.0, help="assumed GetObject latency on AWS")
    parser.add_argument("--architecture", choices=sorted(LAMBDA_GB_SECOND), default="arm64")
    args = parser.parse_args(argv)
    _environment()
    import boto3
    from moto import mock_aws

    directory, _manifest = ensure_corpus(CorpusParams(events=args.events), log=lambda _line: None)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        archives = [
            ("bench", sorted(directory.rglob("*.json.gz")), directory),
            ("samples", sorted((ROOT / "samples").rglob("*.json.gz")), ROOT / "samples"),
        ]
        figures = [measure(name, files, base, client, args.runs) for name, files, base in archives]
    costs = [cost_per_tb(f, args.memory, args.s3_latency_ms, args.architecture) for f in figures]
    print(json.dumps({"measured": figures, "per_tb": costs, "assumptions": vars(args)}, indent=2))
    print(f"spread of the runs (slowest over best): {statistics.mean(f['spread'] for f in figures):.1%} on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
