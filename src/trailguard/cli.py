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
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, NoReturn

from trailguard import __version__
from trailguard.core.base_handler import REGISTRY, Rule
from trailguard.core.engine import Engine, EngineStats
from trailguard.core.enums import Severity
from trailguard.core.event_types import Finding
from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.core.settings import CONFIG_ENV, Settings, alerting_warnings, rule_glob_problem
from trailguard.core.state import DetectionState
from trailguard.sources import STDIN, InputProblem, Reader, ReadStats, expand_paths, in_time_order
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
    engine: EngineStats = dataclasses.field(default_factory=EngineStats)
    seconds: float = 0.0


# Findings, input problems, read and engine counts, and the records stateful rules want (kept by a
# worker for the main process, which alone holds the detection state).
FileOutcome = tuple[list[Finding], list[InputProblem], ReadStats, EngineStats, list[dict[str, Any]]]


def _heads(record: dict[str, Any]) -> tuple[Any, Any, Any, bool]:
    identity = record.get("userIdentity")
    identity_type = identity.get("type") if isinstance(identity, dict) else None
    return record.get("eventSource"), record.get("eventName"), identity_type, record.get("errorCode") not in (None, "")


def scan_file(
    path: str,
    engine: Engine,
    stateful: Engine | None = None,
    keep_for: Engine | None = None,
    every_rule: Engine | None = None,
) -> FileOutcome:
    """Read and evaluate one file (or stdin): the unit of work of a scan, in or out of process.

    ``engine`` evaluates the stateless rules; ``stateful`` (in the main process) the stateful ones,
    whose findings follow the file's others; a worker passes ``keep_for`` instead, to keep the records
    the stateful rules want for the main process. Either way, one order of findings. ``every_rule``
    routes every rule: the reader asks it alone whether a record is wanted (one look-up per record
    on the hot path)."""
    problems: list[InputProblem] = []
    side = stateful or keep_for
    wants = (every_rule or engine).wants if side is not None and side.rules else engine.wants
    reader = Reader(wants=wants, on_problem=problems.append)
    before = engine.stats.as_dict()
    stateful_before = stateful.stats.as_dict() if stateful is not None else None
    findings: list[Finding] = []
    later: list[Finding] = []
    kept: list[dict[str, Any]] = []
    for record in reader.read_paths([path]):
        findings.extend(engine.evaluate(record))
        if stateful is not None:
            later.extend(stateful.evaluate(record))
        elif keep_for is not None and keep_for.wants(*_heads(record)):
            kept.append(record)
    engine_delta = engine.stats.since(before)
    if stateful is not None and stateful_before is not None:
        # Counted here: the caller's snapshot of the stateful engine is taken after this returns.
        engine_delta.merge(stateful.stats.since(stateful_before))
    return findings + later, problems, reader.stats, engine_delta, kept


_worker_engines: tuple[Engine, Engine, Engine] | None = None


def _init_worker(settings: Settings, rule_ids: Sequence[str]) -> None:
    global _worker_engines
    from trailguard import custom_rules

    # A forked worker has them already; a spawned one (no fork on this system) imports them again.
    custom_rules.load_rule_modules(settings.rule_modules)
    _worker_engines = (
        Engine(settings, rule_ids, stateful=False),
        Engine(settings, rule_ids, stateful=True),
        Engine(settings, rule_ids),
    )


def _scan_in_worker(path: str) -> FileOutcome:
    assert _worker_engines is not None
    stateless, stateful_filter, every_rule = _worker_engines
    return scan_file(path, stateless, keep_for=stateful_filter, every_rule=every_rule)


def scan(
    paths: Sequence[str],
    settings: Settings,
    rule_ids: Sequence[str] = (),
    *,
    jobs: int = 1,
    state: DetectionState | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    on_problem: Callable[[InputProblem], None] | None = None,
    on_progress: Callable[[int, int, ScanResult], None] | None = None,
) -> ScanResult:
    """Scan files, directories or stdin; findings and problems are reported as they are found.

    Files are read in the time order their CloudTrail names carry; the stateful rules run in this
    process on one ``state`` (in memory for this scan when None), so ``jobs`` changes nothing found."""
    started = time.perf_counter()
    result = ScanResult()

    def problem(item: InputProblem) -> None:
        result.problems.append(item)
        if on_problem:
            on_problem(item)

    files = in_time_order(expand_paths(paths, lambda where, why: problem(InputProblem(where, why))))
    stateful = Engine(settings, rule_ids, state=state, stateful=True)
    outcomes: Iterable[FileOutcome]
    pool = None
    if jobs > 1 and len(files) > 1 and STDIN not in files:
        import multiprocessing

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(jobs, _init_worker, (settings, tuple(rule_ids)))
        outcomes = pool.imap(_scan_in_worker, files, chunksize=max(1, min(16, len(files) // (jobs * 8))))
    else:
        engine, every_rule = Engine(settings, rule_ids, stateful=False), Engine(settings, rule_ids)
        outcomes = (scan_file(path, engine, stateful=stateful, every_rule=every_rule) for path in files)
    try:
        for done, (found, problems, stats, engine_stats, kept) in enumerate(outcomes, start=1):
            for item in problems:
                problem(item)
            before = stateful.stats.as_dict()
            findings = found + [finding for record in kept for finding in stateful.evaluate(record)]
            findings += stateful.correlate(findings)  # attack chains: over every rule's findings, in event order
            result.read.merge(stats)
            result.engine.merge(engine_stats)
            result.engine.merge(stateful.stats.since(before))
            for finding in findings:
                if finding.routine:
                    result.routine.append(finding)
                    continue
                result.findings.append(finding)
                if on_finding:
                    on_finding(finding)
            if on_progress:
                on_progress(done, len(files), result)
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


def format_table(findings: Sequence[Finding], colour: bool, width: int) -> str:
    """One line per finding, most recent last; columns fit the terminal."""
    if not findings:
        return ""
    rows = []
    for finding in sorted(findings, key=lambda f: (f.event_time, -f.severity)):
        when = finding.event_time.replace("T", " ").rstrip("Z")
        rows.append((finding.severity, when, finding.rule_id, finding.actor.label, finding.region, finding.summary))
    rule_width = max(len(r[2]) for r in rows)
    actor_width = min(28, max(len(r[3]) for r in rows))
    region_width = max(len(r[4]) for r in rows)
    header = f"{'SEVERITY':<8}  {'TIME (UTC)':<19}  {'RULE':<{rule_width}}  {'ACTOR':<{actor_width}}  "
    header += f"{'REGION':<{region_width}}  SUMMARY"
    lines = [header]
    fixed = 8 + 2 + 19 + 2 + rule_width + 2 + actor_width + 2 + region_width + 2
    summary_width = max(30, width - fixed)
    for severity, when, rule_id, actor, region, summary in rows:
        lines.append(
            f"{_severity_label(severity, colour)}  {when:<19}  {rule_id:<{rule_width}}  "
            f"{_clip(actor, actor_width):<{actor_width}}  {region:<{region_width}}  {_clip(summary, summary_width)}"
        )
    return "\n".join(lines)


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
    if result.problems:
        text += f"; {len(result.problems)} input problems (see above)"
    if result.engine.rule_errors:
        text += f"; {result.engine.rule_errors} rule errors (see above)"
    return text


def run_scan(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
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
    try:
        result = scan(
            args.paths,
            settings,
            rule_ids,
            jobs=args.jobs,
            state=state,
            on_finding=stream_finding if args.format == "jsonl" else None,
            on_problem=report_problem,
            on_progress=progress,
        )
    finally:
        if state is not None:
            state.close()
    if progress:
        progress.clear()
    if args.format == "json":
        json.dump([f.to_dict() for f in result.findings], stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "table":
        width = shutil.get_terminal_size((160, 24)).columns if stdout.isatty() else 200
        table = format_table(result.findings, colour, width)
        if table:
            stdout.write(table + "\n")
    if not args.quiet:
        found = getattr(args, "config_found", False)  # set by main(): run_scan is called directly in tests
        note = f"; settings from ./{LOCAL_CONFIG} (found in the working directory)" if found else ""
        stderr.write(summary_line(result) + note + "\n")
    delivered = True
    if channels:
        from trailguard import cli_alerts

        # Routine changes go along for the findings history only (delivery sends none of them).
        delivered = cli_alerts.deliver(result.findings + result.routine, channels, settings, stderr, notify=args.notify)
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
    scan_parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for stdin")
    scan_parser.add_argument("--format", choices=("table", "json", "jsonl"), default="table")
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
        "--state",
        metavar="FILE",
        help="keep the stateful rules' baselines and counters in this SQLite file across runs (default: this run only)",
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
        if args.command in ("render", "send-test"):
            from trailguard import cli_alerts

            runner = cli_alerts.run_render if args.command == "render" else cli_alerts.run_send_test
            return runner(args, out, err)
    except (ConfigError, UsageError, ChannelError) as exc:
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
