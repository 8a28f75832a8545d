"""The ``trailguard`` command.

Exit codes (documented in the README):
  0  the scan found nothing
  1  the scan produced findings
  2  bad usage, bad configuration, or some input could not be read (the rest was still scanned)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, NoReturn

from trailguard import __version__
from trailguard.core.base_handler import REGISTRY, Rule
from trailguard.core.engine import Engine, EngineStats
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Finding
from trailguard.core.exceptions import ChannelError, ConfigError, InputError
from trailguard.core.settings import CONFIG_ENV, Settings, alerting_warnings, rule_glob_problem
from trailguard.core.state import DetectionState
from trailguard.sources import (
    MAX_DECOMPRESSED_BYTES,
    STDIN,
    EventKey,
    InputProblem,
    Reader,
    ReadStats,
    SeenEvents,
    Wants,
    decode_json,
    event_key,
    expand_paths,
    in_time_order,
)
from trailguard.sources_s3 import Fetched, TimeWindow, is_s3_url, parse_time
from trailguard.utils.text import clip, one_line

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2

SEVERITY_COLOURS = {
    Severity.CRITICAL: "\033[1;97;41m",
    Severity.HIGH: "\033[1;31m",
    Severity.MEDIUM: "\033[33m",
    Severity.LOW: "\033[36m",
    Severity.INFO: "\033[2m",
}
RESET = "\033[0m"
PROGRESS_MIN_FILES = 20
# After the id of a rule from the configuration's rule_modules, in `trailguard rules`.
CUSTOM_MARK = "(custom)"

logger = logging.getLogger("trailguard")


class UsageError(Exception):
    """Bad arguments: printed with the usage line, exit 2."""


# ----------------------------------------------------------------------------------------------
# scan
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ScanResult:
    findings: list[Finding] = dataclasses.field(default_factory=list)
    # A principal's routine changes, known by the detection state: counted, not reported.
    routine: list[Finding] = dataclasses.field(default_factory=list)
    problems: list[InputProblem] = dataclasses.field(default_factory=list)
    read: ReadStats = dataclasses.field(default_factory=ReadStats)
    # Files not read because they are not CloudTrail (AWS Config, ELB logs...), by kind.
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    # Events met again (the same eventID, account and region), evaluated once.
    duplicates: int = 0
    engine: EngineStats = dataclasses.field(default_factory=EngineStats)
    seconds: float = 0.0


# One record a rule wants, evaluated by the stateless rules: its key (event_key) and eventTime, its
# findings, the engine's counts before and after it, and the record itself when a stateful rule wants
# it too (the main process, which alone holds the detection state, evaluates those).
Counts = tuple[int, int, int, int, int]
# The record is sent from a worker as its JSON text when the reader has it (``Reader.last_raw``).
Kept = Mapping[str, Any] | CloudTrailEvent | bytes
Evaluated = tuple[EventKey | None, Any, list[Finding], Counts, Counts, Kept | None]


@dataclasses.dataclass
class FileScan:
    """One file's records as ``scan_file`` evaluates them; the other fields are complete once
    ``evaluated`` is consumed (a generator in the main process: each record is let go of as soon as
    it is evaluated; a list from a worker)."""

    evaluated: Iterable[Evaluated]
    problems: list[InputProblem] = dataclasses.field(default_factory=list)
    read: ReadStats = dataclasses.field(default_factory=ReadStats)
    counts: EngineStats = dataclasses.field(default_factory=EngineStats)


def _heads(record: dict[str, Any]) -> tuple[Any, Any, Any, bool]:
    identity = record.get("userIdentity")
    identity_type = identity.get("type") if isinstance(identity, dict) else None
    return record.get("eventSource"), record.get("eventName"), identity_type, record.get("errorCode") not in (None, "")


def scan_file(
    path: str | Fetched,
    engine: Engine,
    keep_for: Engine | None = None,
    every_rule: Engine | None = None,
    max_decompressed: int = MAX_DECOMPRESSED_BYTES,
    *,
    keep_all: bool = False,
) -> FileScan:
    """Read one file (or stdin) and evaluate the stateless rules: the unit of work of a scan, the
    same in a worker process and in the main one.

    ``engine`` evaluates the stateless rules; the records ``keep_for`` (the stateful rules) wants are
    passed on for the main process (``keep_all``: every record, for the main process itself, whose
    stateful engine tells them apart as fast). Duplicates are left to the main process too, which sees every
    file in order: a worker cannot know what another one read. ``every_rule`` routes every rule: the
    reader asks it alone whether a record is wanted (one look-up per record on the hot path)."""
    scan = FileScan(())
    keep = None if keep_all or keep_for is None else keep_for.wants
    scan.evaluated = _evaluate_file(scan, path, engine, keep_for, every_rule, max_decompressed, keep, keep_all)
    return scan


def _evaluate_file(  # noqa: PLR0917 - the private half of scan_file
    scan: FileScan,
    path: str | Fetched,
    engine: Engine,
    keep_for: Engine | None,
    every_rule: Engine | None,
    max_decompressed: int,
    keep: Wants | None,
    keep_all: bool,
) -> Iterator[Evaluated]:
    wants = (every_rule or engine).wants if keep_for is not None and keep_for.rules else engine.wants
    reader = Reader(wants=wants, on_problem=scan.problems.append, max_decompressed=max_decompressed)
    scan.read = reader.stats
    before = engine.stats.as_dict()
    stats = engine.stats
    records = reader.read_paths([path]) if isinstance(path, str) else path.read(reader)
    for record in records:
        # Plain tuples, not EngineStats: this runs for every record a rule wants.
        counts = (stats.records, stats.evaluated, stats.findings, stats.suppressed, stats.rule_errors)
        # One view for both engines in this process: what the rules work out of it (the actor) once.
        event = CloudTrailEvent(record)
        findings = engine.evaluate(event)
        after = (stats.records, stats.evaluated, stats.findings, stats.suppressed, stats.rule_errors)
        kept: Kept | None = None
        if keep_all:
            kept = event
        elif keep is not None and keep(*_heads(record)):
            # Sent to the main process: the record's own JSON text when the reader has it (cheaper
            # to send and to decode there than a pickled dict), else the record.
            raw = reader.last_raw
            kept = record if raw is None else bytes(raw)
        yield event_key(record), record.get("eventTime"), findings, counts, after, kept
    scan.counts = engine.stats.since(before)


_worker_state: tuple[Engine, Engine, Engine, int] | None = None


def _init_worker(settings: Settings, rule_ids: Sequence[str], max_decompressed: int) -> None:
    global _worker_state
    from trailguard import custom_rules

    # A forked worker has them already; a spawned one (no fork on this system) imports them again.
    custom_rules.load_rule_modules(settings.rule_modules)
    _worker_state = (
        Engine(settings, rule_ids, stateful=False),
        Engine(settings, rule_ids, stateful=True),
        Engine(settings, rule_ids),
        max_decompressed,
    )


def _scan_in_worker(path: str) -> FileScan:
    assert _worker_state is not None
    stateless, stateful_filter, every_rule, max_decompressed = _worker_state
    scan = scan_file(path, stateless, stateful_filter, every_rule, max_decompressed)
    scan.evaluated = list(scan.evaluated)  # sent to the main process whole
    return scan


def scan(
    paths: Sequence[str],
    settings: Settings,
    rule_ids: Sequence[str] = (),
    *,
    jobs: int = 1,
    max_decompressed: int = MAX_DECOMPRESSED_BYTES,
    state: DetectionState | None = None,
    window: TimeWindow | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    on_problem: Callable[[InputProblem], None] | None = None,
    on_progress: Callable[[int, int, ScanResult], None] | None = None,
) -> ScanResult:
    """Scan files, directories or stdin; findings and problems are reported as they are found.

    Files are read in the time order their CloudTrail names carry; the stateful rules run in this
    process on one ``state`` (in memory for this scan when None), and duplicates are told here, file
    after file in that order, so ``jobs`` changes nothing found. Each event (eventID, account, region)
    is evaluated once, and no finding is reported twice."""
    started = time.perf_counter()
    result = ScanResult()

    def problem(item: InputProblem) -> None:
        result.problems.append(item)
        if on_problem:
            on_problem(item)

    def skipped(kind: str) -> None:
        result.skipped[kind] = result.skipped.get(kind, 0) + 1

    window = window or TimeWindow()
    files: list[str] | Iterable[Fetched]
    if any(is_s3_url(path) for path in paths):
        from trailguard.sources_s3 import S3Input

        if not all(is_s3_url(path) for path in paths):
            raise UsageError("s3:// inputs and local paths cannot be scanned together")
        # Downloaded by threads in this process: --jobs does not apply.
        files = s3_input = S3Input(paths, window, problem, skipped, max_bytes=max_decompressed)
    else:
        files = in_time_order(expand_paths(paths, lambda where, why: problem(InputProblem(where, why)), skipped))
        files = [path for path in files if window.keeps(path)]
    stateful = Engine(settings, rule_ids, state=state, stateful=True)
    seen = SeenEvents()
    # Beyond the window of SeenEvents (the same file given twice, a day apart in the order): no finding
    # goes out twice. As large as the findings themselves, which the result holds anyway.
    reported: set[tuple[str, str, str]] = set()
    outcomes: Iterable[FileScan]
    pool = None
    if isinstance(files, list) and jobs > 1 and len(files) > 1 and STDIN not in files:
        import multiprocessing

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(
            jobs, _init_worker, (settings, tuple(rule_ids), max_decompressed)
        )
        outcomes = pool.imap(_scan_in_worker, files, chunksize=max(1, min(16, len(files) // (jobs * 8))))
    else:
        engine, every_rule = Engine(settings, rule_ids, stateful=False), Engine(settings, rule_ids)
        outcomes = (scan_file(path, engine, stateful, every_rule, max_decompressed, keep_all=True) for path in files)
    try:
        for done, file_scan in enumerate(outcomes, start=1):
            before = stateful.stats.as_dict()
            findings: list[Finding] = []
            later: list[Finding] = []  # the stateful rules' findings follow the file's others
            repeated = [0] * len(EngineStats.FIELDS)
            for key, event_time, found, counts, after, record in file_scan.evaluated:
                if key is not None and seen.seen(hash(key), event_time):
                    result.duplicates += 1  # neither its findings nor its counts are the scan's
                    repeated = [total + a - b for total, a, b in zip(repeated, after, counts, strict=True)]
                    continue
                findings += found
                if record is not None:
                    # The text decodes as it did in the worker (the same bytes, the same decoder).
                    later += stateful.evaluate(decode_json(record) if isinstance(record, bytes) else record)
            for item in file_scan.problems:
                problem(item)
            findings += later
            findings += stateful.correlate(findings)  # attack chains: over every rule's findings, in event order
            result.read.merge(file_scan.read)
            result.engine.merge(file_scan.counts.since(dict(zip(EngineStats.FIELDS, repeated, strict=True))))
            result.engine.merge(stateful.stats.since(before))
            for finding in findings:
                identity = (finding.account_id, finding.region, finding.key)
                if identity in reported:
                    continue
                reported.add(identity)
                if finding.routine:
                    result.routine.append(finding)
                    continue
                result.findings.append(finding)
                if on_finding:
                    on_finding(finding)
            if on_progress:
                on_progress(done, len(files) if isinstance(files, list) else max(done, s3_input.listed), result)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    result.seconds = time.perf_counter() - started
    return result


class Progress:
    """A one-line progress bar on stderr, only for a terminal and inputs of many files."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, result: ScanResult) -> None:
        if not self.enabled or total < PROGRESS_MIN_FILES:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"\r[{bar}] {done}/{total} files  {result.read.records:,} events  {len(result.findings)} findings"
        )
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * (shutil.get_terminal_size().columns - 1) + "\r")
            self.stream.flush()


def _severity_label(severity: Severity, colour: bool) -> str:
    label = f"{severity.name:<8}"
    return f"{SEVERITY_COLOURS[severity]}{label}{RESET}" if colour else label


def _clip(text: str, width: int) -> str:
    return clip(one_line(text), width)  # event text may carry newlines and tabs


# The table's columns: header, and the most a column's values may take (0: the summary, which takes
# what the terminal has left); a column is as wide as its widest value up to that.
TABLE_COLUMNS: dict[str, tuple[str, int, Callable[[Finding], str]]] = {
    "severity": ("SEVERITY", 8, lambda f: f.severity.name),
    "time": ("TIME (UTC)", 19, lambda f: f.event_time.replace("T", " ").rstrip("Z")),
    "rule": ("RULE", 60, lambda f: f.rule_id),
    "actor": ("ACTOR", 28, lambda f: f.actor.label),
    "account": ("ACCOUNT", 12, lambda f: f.account_id),
    # A source "IP" can be a service's host name (ec2.amazonaws.com) or an IPv6 address.
    "source-ip": ("SOURCE IP", 39, lambda f: f.source_ip),
    "region": ("REGION", 20, lambda f: f.region),
    "summary": ("SUMMARY", 0, lambda f: f.summary),
}
DEFAULT_COLUMNS = tuple(TABLE_COLUMNS)


def table_order(findings: Iterable[Finding]) -> list[Finding]:
    """The table's order, which JSON output keeps too: most recent last, the most severe first
    among findings of the same second."""
    return sorted(findings, key=lambda f: (f.event_time, -f.severity))


def format_table(
    findings: Sequence[Finding], colour: bool, width: int, columns: Sequence[str] = DEFAULT_COLUMNS
) -> str:
    """One line per finding, most recent last; columns fit the terminal, the summary takes the rest."""
    if not findings:
        return ""
    ordered = table_order(findings)
    specs = [TABLE_COLUMNS[name] for name in columns]
    rows = [[one_line(value(f)) for _header, _cap, value in specs] for f in ordered]
    widths = [
        min(cap, max(len(header), *(len(row[i]) for row in rows))) if cap else 0
        for i, (header, cap, _value) in enumerate(specs)
    ]
    rest = max(30, width - sum(w + 2 for w in widths if w))
    widths = [w or rest for w in widths]

    def cells(texts: Sequence[str]) -> list[str]:
        return [f"{clip(text, w):<{w}}" for text, w in zip(texts, widths, strict=True)]

    lines = ["  ".join(cells([header for header, _cap, _value in specs])).rstrip()]
    coloured = columns.index("severity") if colour and "severity" in columns else -1
    for finding, row in zip(ordered, rows, strict=True):
        padded = cells(row)
        if coloured >= 0:  # colour codes take no room: coloured after padding
            padded[coloured] = _severity_label(finding.severity, colour)
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _columns_arg(value: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in TABLE_COLUMNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown column {', '.join(unknown) or '(none given)'}: choose from {', '.join(TABLE_COLUMNS)}"
        )
    return names


def summary_line(result: ScanResult) -> str:
    counts = dict.fromkeys(Severity, 0)
    for finding in result.findings:
        counts[finding.severity] += 1
    by_severity = ", ".join(f"{counts[s]} {s.name}" for s in sorted(Severity, reverse=True) if counts[s])
    rate = result.read.records / result.seconds if result.seconds > 0 else 0.0
    files = f"{result.read.files:,} file{'' if result.read.files == 1 else 's'}"
    text = (
        f"{len(result.findings)} findings ({by_severity or 'none'}) in {result.read.records:,} events "
        f"from {files} in {result.seconds:.2f}s ({rate:,.0f} events/s)"
    )
    if result.engine.suppressed:
        text += f"; {result.engine.suppressed} suppressed"
    if result.routine:
        text += f"; {len(result.routine)} routine changes not reported (known by --state)"
    if result.duplicates:
        text += f"; {result.duplicates:,} duplicate events evaluated once"
    if result.problems:
        text += f"; {len(result.problems)} input problems (see above)"
    if result.engine.rule_errors:
        text += f"; {result.engine.rule_errors} rule errors (see above)"
    return text


def skipped_line(result: ScanResult) -> str:
    """One line for the files not read because they are not CloudTrail; empty when there are none."""
    if not result.skipped:
        return ""
    total = sum(result.skipped.values())
    kinds = ", ".join(f"{count:,} {kind}" for kind, count in sorted(result.skipped.items(), key=lambda kv: -kv[1]))
    return f"not CloudTrail, not read: {total:,} file{'' if total == 1 else 's'} ({kinds})"


def run_scan(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # The state file stays open until the findings are delivered: its history records their outcomes.
    with contextlib.ExitStack() as closing:
        return _run_scan(args, stdout, stderr, closing)


def _run_scan(args: argparse.Namespace, stdout: IO[str], stderr: IO[str], closing: contextlib.ExitStack) -> int:
    settings = Settings.load(args.config, min_severity=args.min_severity)
    for warning in alerting_warnings(settings):
        stderr.write(f"trailguard: warning: {warning}\n")
    rule_ids = list(args.rule or [])
    for pattern in rule_ids:
        problem = rule_glob_problem(pattern)
        if problem:
            raise UsageError(f"--rule {problem}")
    channels = None
    if args.notify or args.outbox or settings.channels:
        from trailguard import cli_alerts

        # Built before scanning, so that a bad channel setting stops the run before any event.
        channels = cli_alerts.channels_for_scan(settings, args.notify, args.outbox)
    colour = _use_colour(args.color, stdout)
    progress = Progress(stderr) if not args.no_progress else None

    def report_problem(problem: InputProblem) -> None:
        if progress:
            progress.clear()
        stderr.write(f"trailguard: skipped {problem}\n")

    def stream_finding(finding: Finding) -> None:
        stdout.write(json.dumps(finding.to_dict(), ensure_ascii=False) + "\n")

    state = None
    if args.state:
        from trailguard.services.stores.sqlite import SqliteState

        state = SqliteState(args.state)  # StateFileError (a ConfigError): busy, corrupt or foreign
        closing.callback(state.close)
    result = scan(
        args.paths,
        settings,
        rule_ids,
        jobs=args.jobs,
        max_decompressed=args.max_decompressed,
        state=state,
        window=TimeWindow(args.since, args.until),
        on_finding=stream_finding if args.format == "jsonl" else None,
        on_problem=report_problem,
        on_progress=progress,
    )
    if state is not None and not channels:  # printed, not sent: history before output (`| head`)
        from trailguard.services.history import record_reported

        record_reported(state, result.findings, result.routine)
    if progress:
        progress.clear()
    if args.format == "json":
        json.dump([f.to_dict() for f in table_order(result.findings)], stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "ocsf":
        from trailguard.services.rendering.ocsf import render_ocsf

        json.dump(render_ocsf(table_order(result.findings)), stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "table":
        width = shutil.get_terminal_size((160, 24)).columns if stdout.isatty() else 200
        table = format_table(result.findings, colour, width, args.columns)
        if table:
            stdout.write(table + "\n")
    if not args.quiet:
        skipped = skipped_line(result)
        if skipped:
            stderr.write(f"trailguard: {skipped}\n")
        found = getattr(args, "config_found", False)  # set by main(): run_scan is called directly in tests
        note = f"; settings from ./{LOCAL_CONFIG} (found in the working directory)" if found else ""
        stderr.write(summary_line(result) + note + "\n")
    delivered = True
    if channels:
        from trailguard import cli_alerts

        # Routine changes go along for the findings history only (delivery sends none of them).
        delivered = cli_alerts.deliver(
            result.findings + result.routine, channels, settings, stderr, notify=args.notify, history=state
        )
        if args.outbox and result.findings:
            stderr.write(f"trailguard: open the alerts in {args.outbox}/ (.html in a browser, .eml in a mail client)\n")
    if result.problems or not delivered:
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


def _use_colour(choice: str, stream: IO[str]) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


# ----------------------------------------------------------------------------------------------
# rules, pattern
# ----------------------------------------------------------------------------------------------


def rule_events(rule: Rule) -> str:
    if rule.identity_types:
        return "any event by " + "/".join(sorted(rule.identity_types))
    if callable(rule.on):
        label = getattr(rule.on, "events_label", "")
        if label:
            return str(label)
        return "events of every CRITICAL rule" if REGISTRY.subscriptions(rule) else "findings of every other rule"
    names = sorted({k.name + ("*" if k.versioned else "") for k in REGISTRY.subscriptions(rule)})
    return ", ".join(names)


def severity_text(rule: Rule) -> str:
    return "->".join(s.name for s in (rule.severity, *rule.escalates_to))


def run_rules(args: argparse.Namespace, stdout: IO[str]) -> int:
    from trailguard.custom_rules import origin

    Settings.load(args.config)  # loads the configuration's own rules (rule_modules)
    rules = REGISTRY.all()
    if args.format == "json":
        document = [
            {
                "id": r.id,
                "severity": r.severity.name,
                "escalates_to": [s.name for s in r.escalates_to],
                "title": r.title,
                "events": rule_events(r),
                "description": r.description,
                "remediation": r.remediation,
                "mitre": r.mitre,
                "custom": origin(r.id) is not None,
                **({"origin": origin(r.id)} if origin(r.id) else {}),
            }
            for r in rules
        ]
        json.dump(document, stdout, indent=2)
        stdout.write("\n")
        return EXIT_CLEAN
    labels = {r.id: f"{r.id} {CUSTOM_MARK}" if origin(r.id) else r.id for r in rules}
    custom = sum(1 for r in rules if origin(r.id))
    id_width = max(len(label) for label in labels.values())
    sev_width = max(len(severity_text(r)) for r in rules)
    event_width = 60
    stdout.write(f"{'ID':<{id_width}}  {'SEVERITY':<{sev_width}}  {'EVENTS':<{event_width}}  TITLE\n")
    for r in rules:
        stdout.write(
            f"{labels[r.id]:<{id_width}}  {severity_text(r):<{sev_width}}  "
            f"{_clip(rule_events(r), event_width):<{event_width}}  {r.title}\n"
        )
    stdout.write(f"{len(rules)} rules" + (f" ({custom} custom)" if custom else "") + "\n")
    return EXIT_CLEAN


def run_pattern(args: argparse.Namespace, stdout: IO[str]) -> int:
    from trailguard.patterns import event_patterns

    Settings.load(args.config)  # the configuration's own rules (rule_modules) need their events too
    try:
        patterns = event_patterns(max_size=args.max_size)
    except ValueError as exc:  # one event's pattern alone is larger than --max-size
        raise UsageError(f"--max-size {args.max_size}: {exc}") from None
    json.dump([p.to_dict() for p in patterns], stdout, indent=2)
    stdout.write("\n")
    return EXIT_CLEAN


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse's, with a usage error in one line (the usage itself is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trailguard",
        description="Find security-sensitive AWS API calls in CloudTrail logs.",
        epilog="Exit codes: 0 no findings, 1 findings, 2 bad usage, configuration or input.",
    )
    parser.add_argument("--version", action="version", version=f"trailguard {__version__}")
    # Not required: `trailguard` alone prints this help (main).
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan_parser = commands.add_parser(
        "scan",
        help="scan CloudTrail log files, EventBridge events or JSON Lines",
        description="Scan CloudTrail log files (.json/.json.gz, directories walked recursively), EventBridge "
        "events, or JSON Lines; '-' reads stdin.",
        epilog="Exit codes: 0 no findings, 1 findings, 2 bad usage, configuration or input "
        "(unreadable input is reported on stderr and skipped; the rest is still scanned).",
    )
    scan_parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="file, directory, - for stdin, or s3://bucket/prefix"
    )
    scan_parser.add_argument(
        "--since",
        type=_time_arg,
        metavar="TIME",
        help="only log files named from this UTC time on (2026-11-03, 2026-11-03T09:30Z); s3:// lists only these days",
    )
    scan_parser.add_argument(
        "--until",
        type=lambda value: _time_arg(value, end=True),
        metavar="TIME",
        help="... up to this UTC time (included)",
    )
    scan_parser.add_argument(
        "--format",
        choices=("table", "json", "jsonl", "ocsf"),
        default="table",
        help="ocsf: a JSON array of OCSF Detection Finding events (class_uid 2004)",
    )
    scan_parser.add_argument(
        "--columns",
        type=_columns_arg,
        default=DEFAULT_COLUMNS,
        metavar="LIST",
        help=f"table columns, comma-separated (default {','.join(DEFAULT_COLUMNS)})",
    )
    scan_parser.add_argument(
        "--min-severity",
        type=_severity_arg,
        default=None,
        metavar="LEVEL",
        help="hide findings below INFO|LOW|MEDIUM|HIGH|CRITICAL",
    )
    scan_parser.add_argument("--rule", action="append", metavar="ID", help="only this rule (glob; repeatable)")
    scan_parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    scan_parser.add_argument("--jobs", type=_jobs_arg, default=1, metavar="N", help="worker processes (default 1)")
    scan_parser.add_argument(
        "--max-decompressed",
        type=_size_arg,
        default=MAX_DECOMPRESSED_BYTES,
        metavar="SIZE",
        help="largest a gzipped file may decompress to, e.g. 512M or 2G (default 256M); larger is an error",
    )
    scan_parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the stateful rules' baselines and counters in this SQLite file across runs (default: this run "
        "only), and the findings history (`trailguard history --state FILE`)",
    )
    scan_parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    scan_parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scan_parser.add_argument("--quiet", action="store_true", help="no summary line on stderr")
    scan_parser.add_argument("--outbox", metavar="DIR", help="also write the alerts as .eml and .html files into DIR")
    scan_parser.add_argument(
        "--notify", action="store_true", help="send the findings through the configured channels as one batch"
    )

    render_parser = commands.add_parser("render", help="render example alerts for rules to files, for previewing")
    render_parser.add_argument(
        "--rule", action="append", metavar="ID", help="rule id or glob (repeatable; default all)"
    )
    render_parser.add_argument("--out", default="outbox/preview", metavar="DIR", help="folder (default outbox/preview)")
    render_parser.add_argument("--digest", action="store_true", help="also render one digest of all of them")

    test_parser = commands.add_parser("send-test", help="send a clearly marked test alert through one channel")
    test_parser.add_argument("--channel", required=True, metavar="NAME", help="the channel's name in the settings")
    test_parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    test_parser.add_argument(
        "--rule", default="sg.ingress-open-to-world", metavar="ID", help="the rule whose example to send"
    )

    rules_parser = commands.add_parser("rules", help="list the detection rules")
    rules_parser.add_argument("--format", choices=("table", "json"), default="table")
    rules_parser.add_argument("--config", metavar="FILE", help="TOML configuration file (its rule_modules are listed)")

    events_parser = commands.add_parser(
        "test",
        help="run rules' test events: does each fire exactly the rules it expects?",
        description="Run test events (JSON files in the format of the project's tests/events/, or directories "
        "of them): each passes when exactly the rules it expects fire, at the severities it expects.",
        epilog="Exit codes: 0 every event passed, 1 some event failed, 2 bad usage, configuration or test file.",
    )
    events_parser.add_argument("paths", nargs="+", metavar="PATH", help="test-event file or directory of them")
    events_parser.add_argument(
        "--rules", action="append", metavar="PATH", help="your rule module, .py file or directory (repeatable)"
    )
    events_parser.add_argument("--config", metavar="FILE", help="TOML configuration file (its rule_modules too)")

    pattern_parser = commands.add_parser("pattern", help="print the EventBridge event patterns for the rules")
    pattern_parser.add_argument(
        "--max-size",
        type=_max_size_arg,
        default=2048,
        metavar="CHARS",
        help="largest pattern EventBridge accepts (2048 by default, 4096 after a quota raise)",
    )
    pattern_parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration file (the events of its rule_modules are included)"
    )
    config_parser = commands.add_parser("config", help="work with a configuration file")
    config_commands = config_parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check_parser = config_commands.add_parser(
        "check",
        help="validate a configuration as the Lambda will, offline",
        epilog="Exit codes: 0 valid (warnings on stderr), 2 invalid.",
    )
    check_parser.add_argument("file", metavar="FILE", help="TOML configuration file")
    from trailguard import cli_history

    cli_history.add_parsers(commands)
    schema_parser = commands.add_parser(
        "schema", help="print the JSON Schema of trailguard's finding (scan --format json) or webhook payload"
    )
    schema_parser.add_argument("name", nargs="?", choices=("finding", "webhook"), default="finding")
    from trailguard.cli_remediate import add_parser as add_remediate_parser

    add_remediate_parser(commands)
    return parser


# Read when no --config (nor TRAILGUARD_CONFIG) names a file, as other tools of its kind do.
LOCAL_CONFIG = "trailguard.toml"


def find_config(given: str | None) -> tuple[str | None, bool]:
    """The configuration file to load, and whether it is ./trailguard.toml found by looking."""
    if given or os.environ.get(CONFIG_ENV) or not os.path.isfile(LOCAL_CONFIG):  # noqa: PTH113
        return given, False
    return LOCAL_CONFIG, True


def _severity_arg(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _max_size_arg(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of characters") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of characters, got {size}")
    return size


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size_arg(value: str) -> int:
    """A size in bytes, with an optional K, M or G (binary multiples; a trailing B or iB is allowed)."""
    import re

    match = re.fullmatch(r"\s*(\d{1,12}(?:\.\d{1,6})?)\s*([KMG]?)(?:i?B)?\s*", value, re.IGNORECASE | re.ASCII)
    if not match:
        raise argparse.ArgumentTypeError(f"{value!r} is not a size (examples: 512M, 2G, 1048576)")
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
    if size < 1 << 20:
        raise argparse.ArgumentTypeError(f"{value!r} is below 1M: CloudTrail's own files are larger")
    return size


def _time_arg(value: str, end: bool = False) -> Any:
    try:
        return parse_time(value, end)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs_arg(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= jobs <= 256:
        raise argparse.ArgumentTypeError("--jobs must be between 1 and 256")
    return jobs


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    logging.basicConfig(stream=err, level=logging.WARNING, format="trailguard: %(levelname)s %(message)s")
    parser = build_parser()
    try:
        # argparse writes to sys.stdout/stderr itself: its usage errors, --help, --version go where ours do.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_BAD_INPUT
    if args.command is None:
        parser.print_help(out)
        return EXIT_CLEAN
    try:
        if hasattr(args, "config"):
            args.config, args.config_found = find_config(args.config)
        if args.command == "scan":
            return run_scan(args, out, err)
        if args.command == "rules":
            return run_rules(args, out)
        if args.command == "pattern":
            return run_pattern(args, out)
        if args.command == "test":
            from trailguard.rule_tests import run_test

            return run_test(args, out, err)
        if args.command == "config":
            from trailguard.cli_config import run_config_check

            return run_config_check(args, out, err)
        if args.command in ("history", "dashboard"):
            from trailguard import cli_history

            return cli_history.run(args, out, err)
        if args.command == "schema":
            from trailguard import schemas

            json.dump(schemas.bundled(args.name), out, indent=2)
            out.write("\n")
            return EXIT_CLEAN
        if args.command == "remediate":
            from trailguard.cli_remediate import run_remediate

            return run_remediate(args, out, err)
        if args.command in ("render", "send-test"):
            from trailguard import cli_alerts

            runner = cli_alerts.run_render if args.command == "render" else cli_alerts.run_send_test
            return runner(args, out, err)
    except (ConfigError, UsageError, ChannelError, InputError) as exc:
        err.write(f"trailguard: error: {one_line(str(exc))}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `trailguard scan ... | head` is normal use
        return EXIT_CLEAN
    except KeyboardInterrupt:
        err.write("trailguard: interrupted\n")
        return 130
    except OSError as exc:  # a file or folder an argument names: its name and the reason, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err.write(f"trailguard: error: {where}{exc.strerror or one_line(str(exc))}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - a bug: one line a user can report, never a traceback
        err.write(
            f"trailguard: internal error: {type(exc).__name__}: {clip(one_line(str(exc)), 300)} "
            "(a bug in trailguard: please report it with the command line)\n"
        )
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
