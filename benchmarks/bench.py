"""`make bench`: scan throughput against decoding floors, --jobs scaling, cold start and memory.

Steps, in one run (see benchmarks/README.md for how to read the table):
1. generate (or reuse) a seeded CloudTrail archive under .bench/ (generate_corpus.py);
2. floors on the same files, each run a fresh process (floor.py) timed like the scan, start-up and
   imports included: read + gunzip (gzip module, isal.igzip), and read + igzip + orjson.loads;
3. the real command ``trailguard scan DIR --format jsonl --quiet --no-progress`` as a subprocess,
   one process and ``--jobs 2``, on 10% and 100% of the archive, with the child's peak RSS;
   steps 2 and 3 alternate: each round runs every floor and every scan once (in a rotated order), so
   the machine's drift and the other processes' load fall on all of them alike; best of the rounds,
   with the spread;
4. cold start: ``python -c`` importing trailguard.main and sending one EventBridge event through
   lambda_handler, against ``python -c pass``.
Prints one table and writes the same figures to .bench/results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from isal import igzip

from generate_corpus import DEFAULT_EVENTS, DEFAULT_ROOT, DEFAULT_SEED, RECORDS_PER_FILE, CorpusParams, ensure_corpus

_igunzip: Callable[[bytes], bytes] = igzip.decompress  # isal ships no type hints
QUICK_EVENTS = 100_000
MB = 1_000_000
# Targets (the brief of the benchmark): see README.md.
TARGET_SCAN_VS_ORJSON = 2.0  # scan throughput / (gunzip + orjson.loads) throughput
TARGET_JOBS_SPEEDUP = 1.85
TARGET_COLD_START_MS = 50.0  # above a bare interpreter
TARGET_RSS_MB = 100.0
RSS_FLAT_FACTOR = 1.2  # peak RSS at 100% may be at most this times the 10% figure

LAMBDA_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
    "detail-type": "AWS API Call via CloudTrail",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2024-05-14T10:00:00Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEROLEID:alice",
            "arn": "arn:aws:sts::111122223333:assumed-role/AdminRole/alice",
            "accountId": "111122223333",
            "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
        },
        "eventTime": "2024-05-14T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {
            "groupId": "sg-0123456789abcdef0",
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    }
                ]
            },
        },
        "responseElements": {"_return": True},
        "eventID": "0b5e3a6e-3c1f-4c52-9d7e-1a2b3c4d5e6f",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    },
}


def log(message: str) -> None:
    print(message, flush=True)


PYCACHE: Path | None = None  # set by main(): where children keep their bytecode caches


def clean_env(bytecode_cache: bool = True) -> dict[str, str]:
    """The environment for children: ours without TRAILGUARD_* (default settings are measured).

    With ``bytecode_cache``, children compile each module once and reuse the .pyc afterwards, in
    .bench/pycache (PYTHONPYCACHEPREFIX), as an installed package or a layer with .pyc files
    does; PYTHONDONTWRITEBYTECODE, if set here, would otherwise make every start compile all of
    trailguard from source. Without, the environment is inherited as it is.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILGUARD_")}
    if bytecode_cache and PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Several runs of one thing over the same input; ``best`` is the figure reported."""

    name: str
    seconds: list[float]
    events: int
    bytes_gz: int
    bytes_json: int
    rss_mb: list[float] = dataclasses.field(default_factory=list)
    exit_codes: list[int] = dataclasses.field(default_factory=list)
    # Share of the machine's CPU time used by other processes during each run (noise).
    others: list[float | None] = dataclasses.field(default_factory=list)
    # CPU seconds (user + system, its workers included) of each run: what the work itself cost,
    # much less moved by other processes than the wall clock.
    cpu: list[float] = dataclasses.field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def events_per_s(self) -> float:
        return self.events / self.best

    @property
    def mb_gz_per_s(self) -> float:
        return self.bytes_gz / MB / self.best

    @property
    def mb_json_per_s(self) -> float:
        return self.bytes_json / MB / self.best

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds_runs": [round(s, 4) for s in self.seconds],
            "seconds_best": round(self.best, 4),
            "seconds_median": round(self.median, 4),
            "events_per_s": round(self.events_per_s),
            "mb_gz_per_s": round(self.mb_gz_per_s, 1),
            "mb_json_per_s": round(self.mb_json_per_s, 1),
            **({"peak_rss_mb_runs": [round(r, 1) for r in self.rss_mb]} if self.rss_mb else {}),
            **({"exit_codes": self.exit_codes} if self.exit_codes else {}),
            "others_cpu_share_runs": [None if o is None else round(o, 3) for o in self.others],
            **(
                {"cpu_seconds_runs": [round(c, 4) for c in self.cpu], "cpu_seconds_best": round(min(self.cpu), 4)}
                if self.cpu
                else {}
            ),
        }


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, from /proc/stat; 0 if unknown)."""
    try:
        with Path("/proc/stat").open() as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_share(busy_before: float, own_cpu: float, wall: float) -> float | None:
    """The share of all CPUs that processes other than the measured one used during ``wall``
    (None when unknown, or when ``wall`` is too short for /proc/stat's 10 ms ticks)."""
    if not busy_before or wall < 0.5:
        return None
    other = machine_busy() - busy_before - own_cpu
    return max(0.0, other / (wall * (os.cpu_count() or 1)))


@dataclasses.dataclass
class ChildRun:
    seconds: float
    rss_mb: float
    code: int
    stderr: str
    others: float | None
    cpu: float = 0.0  # user + system seconds of the command and the children it waited for


# Runs the command, times it and reports its rusage: the benchmark's own process cannot. Linux keeps a
# process's peak RSS across exec, and a child that subprocess starts (vfork) begins with the peak of
# the benchmark's process (tens of MB), which then floors every figure. Forked from this small
# interpreter (python -I -S), the command starts from a few MB.
_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
print(elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, flush=True)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(argv: Sequence[str], bytecode_cache: bool = True) -> ChildRun:
    """One run of a command: wall time, peak RSS (ru_maxrss of the command and the children it
    waited for), exit code, stderr, and how busy the rest of the machine was meanwhile."""
    with tempfile.TemporaryFile() as err:
        busy = machine_busy()
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, *argv],
            stdout=subprocess.PIPE,
            stderr=err,
            env=clean_env(bytecode_cache),
            check=False,
        )
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    try:
        elapsed_text, maxrss_kb, cpu_text = proc.stdout.split()
        elapsed, rss_mb, cpu = float(elapsed_text), int(maxrss_kb) / 1024, float(cpu_text)
    except ValueError:
        raise SystemExit(f"`{' '.join(argv)}` could not be run ({proc.returncode}): {stderr.strip()[-1000:]}") from None
    return ChildRun(elapsed, rss_mb, proc.returncode, stderr, others_share(busy, cpu, elapsed), cpu)


def trailguard_command() -> list[str]:
    script = Path(sys.executable).parent / "trailguard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "trailguard.cli"]


def scan_argv(target: Path, jobs: int) -> list[str]:
    argv = [*trailguard_command(), "scan", str(target), "--format", "jsonl", "--quiet", "--no-progress"]
    return [*argv, "--jobs", str(jobs)] if jobs > 1 else argv


def floor_argv(kind: str, target: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).with_name("floor.py")), kind, str(target)]


@dataclasses.dataclass
class Planned:
    """One figure to measure: a command and what its input holds."""

    key: str
    name: str
    argv: list[str]
    sizes: tuple[int, int, int]


def alternated(plan: Sequence[Planned], runs: int) -> dict[str, Timing]:
    """Every command of ``plan`` once per round, ``runs`` rounds, each round's order rotated by one:
    slow spells of a shared machine are spread over every figure instead of falling on one."""
    timings = {item.key: Timing(item.name, [], *item.sizes) for item in plan}
    for round_number in range(runs):
        shift = round_number % len(plan)
        for item in [*plan[shift:], *plan[:shift]]:
            run = run_child(item.argv)
            if run.code not in (0, 1):
                log(f"warning: `{' '.join(item.argv)}` exited {run.code}: {run.stderr.strip()[-500:]}")
            timing = timings[item.key]
            timing.seconds.append(run.seconds)
            timing.rss_mb.append(run.rss_mb)
            timing.exit_codes.append(run.code)
            timing.others.append(run.others)
            timing.cpu.append(run.cpu)
    return timings


def startup_probe(root: Path) -> Path:
    """A folder with one file of one record: scanning it measures the command's fixed cost."""
    folder = root / "startup-probe"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.json").write_text(json.dumps({"Records": [LAMBDA_EVENT["detail"]]}) + "\n")
    return folder


def cold_start(runs: int) -> dict[str, Any]:
    """Median wall time of a fresh interpreter: bare, and importing trailguard.main + one event."""
    bare = [sys.executable, "-c", "pass"]
    handler = [
        sys.executable,
        "-c",
        f"import trailguard.main as m; m.lambda_handler({LAMBDA_EVENT!r}, None)",
    ]
    times: dict[str, list[float]] = {"bare": [], "handler": [], "handler_no_pyc": []}
    plan = [("bare", bare, True), ("handler", handler, True)]
    inherited_no_pyc = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    if inherited_no_pyc:
        plan.append(("handler_no_pyc", handler, False))
    for index in range(runs + 2):  # two warm-up rounds, interleaved to cancel drift
        for key, argv, cache in plan:
            run = run_child(argv, cache)
            if run.code != 0:
                raise SystemExit(f"cold-start command failed ({run.code}): {run.stderr.strip()[-1000:]}")
            if index >= 2:
                times[key].append(run.seconds * 1000)
    bare_ms = statistics.median(times["bare"])
    handler_ms = statistics.median(times["handler"])
    return {
        "runs": runs,
        "bare_ms_median": round(bare_ms, 1),
        "handler_ms_median": round(handler_ms, 1),
        "above_bare_ms": round(handler_ms - bare_ms, 1),
        "bare_ms_runs": [round(t, 1) for t in times["bare"]],
        "handler_ms_runs": [round(t, 1) for t in times["handler"]],
        "heaviest_imports": heaviest_imports(handler),
        **(
            {"handler_no_pyc_ms_median": round(statistics.median(times["handler_no_pyc"]), 1)}
            if inherited_no_pyc
            else {}
        ),
    }


def heaviest_imports(argv: Sequence[str], top: int = 6) -> list[tuple[str, float]]:
    """Where the import time goes (``-X importtime``, cumulative ms): top-level imports and their
    direct children, with every trailguard.handlers.* module summed into one entry."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, env=clean_env(), check=False
    )
    totals: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw_name = line[len("import time:") :].split("|")
        depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
        name = raw_name.strip()
        if name.startswith("trailguard.handlers."):
            name = "trailguard.handlers.* (sum)"
        elif depth > 1:
            continue
        totals[name] = totals.get(name, 0.0) + int(cumulative) / 1000
    rows = sorted(totals.items(), key=lambda row: -row[1])
    return [(name, round(ms, 1)) for name, ms in rows[:top]]


def wanted_share(files: Sequence[Path]) -> dict[str, Any]:
    """What the registered rules want of these files: records fully decoded, files with any, findings."""
    from trailguard.core.engine import Engine
    from trailguard.core.settings import Settings
    from trailguard.sources import Reader

    engine = Engine(Settings())
    records = decoded = files_with_wanted = findings = 0
    for path in files:
        reader = Reader(wants=engine.wants)
        for record in reader.read_file(path):
            findings += len(engine.evaluate(record))
        records += reader.stats.records
        decoded += reader.stats.decoded
        files_with_wanted += reader.stats.decoded > 0
    return {
        "rules": len(engine.rules),
        "records": records,
        "wanted": decoded,
        "wanted_pct": round(100 * decoded / max(1, records), 2),
        "files_with_wanted_pct": round(100 * files_with_wanted / max(1, len(files)), 1),
        "findings": findings,
    }


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def subset_dir(files: Sequence[Path], corpus: Path, share: float) -> tuple[Path, list[Path]]:
    """A folder of symlinks to the first ``share`` of the files (the CLI takes a folder)."""
    count = max(1, round(len(files) * share))
    chosen = list(files[:count])
    folder = corpus.parent / f"{corpus.name}-subset-{count}"
    if not folder.exists() or sum(1 for _ in folder.iterdir()) != count:
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for index, path in enumerate(chosen):
            (folder / f"{index:06d}_{path.name}").symlink_to(path)
    return folder, chosen


class _Records(msgspec.Struct):
    Records: list[msgspec.Raw]


def sizes_of(files: Sequence[Path]) -> tuple[int, int, int]:
    """Events, gzipped bytes and JSON bytes of these files."""
    decoder = msgspec.json.Decoder(_Records)
    bytes_gz = bytes_json = events = 0
    for path in files:
        data = path.read_bytes()
        text = _igunzip(data)
        bytes_gz += len(data)
        bytes_json += len(text)
        events += len(decoder.decode(text).Records)
    return events, bytes_gz, bytes_json


def render(results: dict[str, Any]) -> str:
    c = results["corpus"]
    w = results["wanted"]
    t = results["throughput"]
    lines = [
        f"trailguard benchmark: {c['events']:,} events in {c['files']:,} files, {c['bytes_gz'] / MB:,.1f} MB gzipped, "
        f"{c['bytes_json'] / MB:,.1f} MB JSON ({c['bytes_json'] / max(1, c['events']):,.0f} B/event, "
        f"{c['bytes_json'] / max(1, c['bytes_gz']):.1f}x compression)",
        f"  {w['rules']} rules registered want {w['wanted_pct']}% of events; {w['files_with_wanted_pct']}% of files "
        f"hold at least one; {w['findings']:,} findings (measured on the 10% subset)",
        f"  python {results['python']}, {results['cpus']} CPUs; every row is a fresh process timed whole (start-up "
        f"included), {results['runs']} alternated rounds; seconds and rates = the best round, median and spread "
        "(slowest / best - 1) of all rounds; files in page cache; others = CPU share used by other processes "
        "during the best run; CPU s = the least user + system time of a round (workers included)",
        "",
        f"  {'throughput':<40} {'seconds':>8} {'median':>7} {'spread':>7} {'events/s':>11} {'MB/s gz':>8} "
        f"{'MB/s json':>10} {'others':>7} {'CPU s':>6}",
    ]
    for key, label in (
        ("gunzip_gzip", "floor: read + gunzip (gzip module)"),
        ("gunzip_isal", "floor: read + gunzip (isal.igzip)"),
        ("gunzip_orjson", "floor: read + igzip + orjson.loads"),
        ("scan_jobs1", "trailguard scan (1 process)"),
        ("scan_jobs2", f"trailguard scan --jobs {results['jobs']}"),
        ("orjson_small", "floor: igzip + orjson.loads, 10% subset"),
        ("scan_small", "trailguard scan, 10% subset (1 process)"),
    ):
        row = t[key]
        others = row["others_cpu_share_runs"][row["seconds_runs"].index(row["seconds_best"])]
        spread = max(row["seconds_runs"]) / row["seconds_best"] - 1
        lines.append(
            f"  {label:<40} {row['seconds_best']:>8.2f} {row['seconds_median']:>7.2f} {spread:>7.0%} "
            f"{row['events_per_s']:>11,} {row['mb_gz_per_s']:>8.1f} "
            f"{row['mb_json_per_s']:>10.1f} {'-' if others is None else format(others, '.0%'):>7} "
            f"{row['cpu_seconds_best']:>6.2f}"
        )
    for key, label in (("floor_startup", "floor process that reads no file"),
                       ("scan_startup", "trailguard scan of a 1-record file")):  # fmt: skip
        row = t[key]
        lines.append(
            f"  {label:<40} {row['seconds_best']:>8.3f} {row['seconds_median']:>7.3f}"
            "   (fixed cost: start-up, imports (and rule loading); included above)"
        )
    lines += ["", f"  {'check':<40} {'measured':>14}   {'target':<24} mark"]
    for check in results["checks"]:
        target = check["target"] or "(for reference)"
        flag = mark(check["ok"]) if check["ok"] is not None else ""
        lines.append(f"  {check['name']:<40} {check['measured']:>14}   {target:<24} {flag}")
    cold = results["cold_start"]
    imports = ", ".join(f"{name} {ms:.0f}" for name, ms in cold["heaviest_imports"])
    lines += [
        "",
        f"  cold start (median of {cold['runs']}, .pyc cached): python -c pass {cold['bare_ms_median']:.1f} ms, "
        f"import trailguard.main + 1 event {cold['handler_ms_median']:.1f} ms",
        f"  import time (ms, cumulative, -X importtime): {imports}",
    ]
    if "handler_no_pyc_ms_median" in cold:
        lines.append(
            f"  without .pyc (PYTHONDONTWRITEBYTECODE=1 as inherited, trailguard compiled at every start): "
            f"{cold['handler_no_pyc_ms_median']:.1f} ms"
        )
    return "\n".join(lines)


def checks(t: dict[str, Timing], cold: dict[str, Any]) -> list[dict[str, Any]]:
    scan1, scan2, small = t["scan_jobs1"], t["scan_jobs2"], t["scan_small"]

    def ratio(floor_key: str) -> float:
        return scan1.events_per_s / t[floor_key].events_per_s

    def net(key: str, fixed: str) -> float:
        return max(1e-9, t[key].best - t[fixed].best)

    net_ratio = net("gunzip_orjson", "floor_startup") / net("scan_jobs1", "scan_startup")
    # Each round's scan against the same round's floor: how much the ratio itself moves.
    per_round = [f / s for f, s in zip(t["gunzip_orjson"].seconds, scan1.seconds, strict=True)]
    small_ratio = t["orjson_small"].best / small.best
    # The same ratio by CPU time (best of each; a --jobs run counts its workers' too).
    cpu_ratio = min(t["gunzip_orjson"].cpu) / max(1e-9, min(scan1.cpu))
    rss_small = max(small.rss_mb)
    rss_full = max(scan1.rss_mb)
    speedup = scan1.best / scan2.best
    rows: list[tuple[str, str, str, bool | None, float]] = [
        ("scan / (igzip + orjson) floor", f"{ratio('gunzip_orjson'):.2f}x", f">= {TARGET_SCAN_VS_ORJSON:.1f}x",
         ratio("gunzip_orjson") >= TARGET_SCAN_VS_ORJSON, ratio("gunzip_orjson")),
        ("  each round's pair, lowest to highest", f"{min(per_round):.2f}-{max(per_round):.2f}x", "", None,
         min(per_round)),
        ("  same, net of both start-ups", f"{net_ratio:.2f}x", "", None, net_ratio),
        ("  same, 10% subset", f"{small_ratio:.2f}x", "", None, small_ratio),
        ("  same, by CPU time", f"{cpu_ratio:.2f}x", "", None, cpu_ratio),
        ("scan / igzip floor", f"{ratio('gunzip_isal'):.2f}x", "", None, ratio("gunzip_isal")),
        ("scan / gzip-module floor", f"{ratio('gunzip_gzip'):.2f}x", "", None, ratio("gunzip_gzip")),
        ("--jobs 2 speed-up over 1 process", f"{speedup:.2f}x", f">= {TARGET_JOBS_SPEEDUP}x",
         speedup >= TARGET_JOBS_SPEEDUP, speedup),
        ("cold start above bare python", f"{cold['above_bare_ms']:.1f} ms", f"< {TARGET_COLD_START_MS:.0f} ms",
         cold["above_bare_ms"] < TARGET_COLD_START_MS, cold["above_bare_ms"]),
        ("peak RSS, 10% of archive", f"{rss_small:.1f} MB", f"< {TARGET_RSS_MB:.0f} MB", rss_small < TARGET_RSS_MB,
         rss_small),
        ("peak RSS, 100% of archive", f"{rss_full:.1f} MB",
         f"< {TARGET_RSS_MB:.0f} MB, <= {RSS_FLAT_FACTOR}x 10%",
         rss_full < TARGET_RSS_MB and rss_full <= RSS_FLAT_FACTOR * rss_small, rss_full),
    ]  # fmt: skip
    return [
        {"name": name, "measured": shown, "target": target, "ok": ok, "value": round(value, 3)}
        for name, shown, target, ok, value in rows
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="trailguard benchmarks (see benchmarks/README.md)")
    parser.add_argument("--events", type=int, default=None, help=f"archive size (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_EVENTS:,}-event run, for development")
    parser.add_argument("--skip-generate", action="store_true", help="fail instead of generating the archive")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=3, help="runs per throughput figure (best is reported)")
    parser.add_argument("--cold-runs", type=int, default=15, help="runs per cold-start figure (median)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the parallel scan")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="cache and results folder (.bench/)")
    args = parser.parse_args(argv)
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)

    global PYCACHE
    PYCACHE = args.root / "pycache"
    params = CorpusParams(events, args.seed, RECORDS_PER_FILE)
    corpus, manifest = ensure_corpus(params, args.root, workers=2, reuse_only=args.skip_generate, log=log)
    data_dir = corpus / "AWSLogs"
    files = sorted(data_dir.rglob("*.json.gz"))
    small_dir, small_files = subset_dir(files, corpus, 0.10)
    full_sizes = (manifest["events"], manifest["bytes_gz"], manifest["bytes_json"])
    small_sizes = sizes_of(small_files)  # also brings the files into the page cache

    runs = args.runs
    probe = startup_probe(args.root)
    run_child([*trailguard_command(), "scan", str(probe), "--quiet"])  # writes the .pyc files
    run_child(floor_argv("orjson", probe))
    plan = [
        Planned("gunzip_gzip", "gunzip (gzip)", floor_argv("gzip", data_dir), full_sizes),
        Planned("gunzip_isal", "gunzip (isal)", floor_argv("isal", data_dir), full_sizes),
        Planned("gunzip_orjson", "gunzip + orjson", floor_argv("orjson", data_dir), full_sizes),
        Planned("scan_jobs1", "scan", scan_argv(data_dir, 1), full_sizes),
        Planned("scan_jobs2", f"scan --jobs {args.jobs}", scan_argv(data_dir, args.jobs), full_sizes),
        Planned("orjson_small", "gunzip + orjson 10%", floor_argv("orjson", small_dir), small_sizes),
        Planned("scan_small", "scan 10%", scan_argv(small_dir, 1), small_sizes),
        # The fixed costs: a floor process that finds no .json.gz file, a scan of one record.
        Planned("floor_startup", "floor of no file", floor_argv("orjson", probe), (1, 1, 1)),
        Planned("scan_startup", "scan of 1 record", scan_argv(probe, 1), (1, 1, 1)),
    ]
    log(f"measuring floors and scans, each run a fresh process, {runs} alternated rounds ...")
    timings = alternated(plan, runs)
    log(f"measuring cold start ({args.cold_runs} runs each) ...")
    cold = cold_start(args.cold_runs)
    log("measuring what the rules want (in process, 10% subset) ...")
    wanted = wanted_share(small_files)

    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "figure": "best of runs (wall clock)",
        "jobs": args.jobs,
        "corpus": {
            "directory": str(corpus),
            **params.to_dict(),
            "files": manifest["files"],
            "events": manifest["events"],
            "bytes_gz": manifest["bytes_gz"],
            "bytes_json": manifest["bytes_json"],
            "interesting_events": manifest["interesting_events"],
            "subset_files": len(small_files),
            "subset_events": small_sizes[0],
        },
        "wanted": wanted,
        "throughput": {key: timing.to_dict() for key, timing in timings.items()},
        "cold_start": cold,
    }
    results["checks"] = checks(timings, cold)
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"\n  figures also in {args.root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
