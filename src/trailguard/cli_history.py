"""`trailguard history` and `trailguard dashboard`: the findings history of a state file or the table.

Kept apart from cli.py (which registers the two commands in a few lines): a scan imports none of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from typing import IO, Any

from trailguard.core.enums import Severity
from trailguard.core.settings import rule_glob_problem

# A spreadsheet runs a cell that starts with one of these as a formula: event text must not.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _severity_arg(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when_arg(value: str) -> str:
    from trailguard.services.history import HistoryError, parse_when

    try:
        return parse_when(value)
    except HistoryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when_text_arg(value: str) -> str:
    """A time or a duration, checked but kept as given: the dashboard reads a duration anew each time."""
    _when_arg(value)
    return value


def _refresh_arg(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3600:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds between 1 and 3600")
    return int(value)


def _rule_arg(value: str) -> str:
    problem = rule_glob_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _port_arg(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0-65535; 0: any free port)")
    return int(value)


def _source_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--state", metavar="FILE", help="the state file of `trailguard scan --state FILE`")
    where.add_argument("--table", metavar="NAME", help="the stack's DynamoDB table (needs the aws extra)")
    parser.add_argument("--region", metavar="REGION", help="the table's region (default: AWS_REGION)")


def add_parsers(commands: Any) -> None:
    """Register `history` and `dashboard` on the command line's sub-commands."""
    history = commands.add_parser(
        "history",
        help="list the stored findings (of a state file or the stack's table)",
        description="The findings history: every finding a scan with --state or the Lambda stored, with "
        "what became of it (reported, routine, delivered, failed, quiet...).",
        epilog="Times: ISO UTC (2026-11-03, 2026-11-03T09:12:44Z) or durations before now (7d, 12h, 30m, 2w). "
        "Exit codes: 0 listed (maybe none), 2 bad usage or a store that cannot be read.",
    )
    _source_args(history)
    history.add_argument(
        "--since", type=_when_arg, metavar="WHEN", help="from this event time (default: all; 30d for a table)"
    )
    history.add_argument("--until", type=_when_arg, metavar="WHEN", help="up to this event time (default: now)")
    history.add_argument("--rule", action="append", type=_rule_arg, metavar="ID", help="rule id or glob (repeatable)")
    history.add_argument("--min-severity", type=_severity_arg, metavar="LEVEL", help="INFO|LOW|MEDIUM|HIGH|CRITICAL")
    history.add_argument("--actor", action="append", metavar="GLOB", help="actor name or ARN, glob (repeatable)")
    history.add_argument("--account", action="append", metavar="ID", help="AWS account id (repeatable)")
    history.add_argument("--format", choices=("table", "json", "jsonl", "csv"), default="table")
    history.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    dashboard = commands.add_parser(
        "dashboard",
        help="serve a local web page over the findings history",
        description="A local web page over the findings history: findings over time, top rules, actors, "
        "accounts and source addresses, a filterable list and each finding's detail; it refreshes itself.",
    )
    _source_args(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    dashboard.add_argument("--port", type=_port_arg, default=8000, help="port (default 8000; 0: any free port)")
    dashboard.add_argument(
        "--since",
        type=_when_text_arg,
        metavar="WHEN",
        help="show findings from this event time, or this long before each refresh (7d; default: all; 30d for a table)",
    )
    dashboard.add_argument(
        "--refresh",
        type=_refresh_arg,
        default=5,
        metavar="SECONDS",
        help="how often the page asks for new findings (default 5)",
    )


def query_of(args: argparse.Namespace) -> Any:
    from trailguard.services.history import HistoryQuery

    return HistoryQuery(
        since=args.since or "",
        until=getattr(args, "until", None) or "",
        rules=tuple(getattr(args, "rule", None) or ()),
        min_severity=getattr(args, "min_severity", None),
        actors=tuple(getattr(args, "actor", None) or ()),
        accounts=tuple(getattr(args, "account", None) or ()),
    )


def run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from trailguard.services.history import open_source

    source = open_source(args.state, args.table, args.region)
    if args.command == "dashboard":
        from trailguard.dashboard.server import serve

        return serve(source, args.since or "", args.host, args.port, refresh=args.refresh, stderr=stderr)
    return run_history(source, args, stdout, stderr)


def run_history(source: Any, args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from trailguard.cli import _use_colour, format_table, table_order
    from trailguard.services.history import csv_rows, record_dict, record_finding

    records = source.read(query_of(args))
    if args.format == "json":
        json.dump([record_dict(r) for r in records], stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    elif args.format == "jsonl":
        for record in records:
            stdout.write(json.dumps(record_dict(record), ensure_ascii=False) + "\n")
    elif args.format == "csv":
        writer = csv.writer(stdout, lineterminator="\n")
        for row in csv_rows(records):
            writer.writerow(["'" + cell if cell.startswith(_FORMULA_START) else cell for cell in row])
    else:
        width = shutil.get_terminal_size((160, 24)).columns if stdout.isatty() else 200
        findings = table_order(record_finding(r) for r in records)
        table = format_table(findings, _use_colour(args.color, stdout), width)
        if table:
            stdout.write(table + "\n")
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    detail = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    stderr.write(f"{len(records)} stored findings in {source.label}" + (f" ({detail})" if detail else "") + "\n")
    return 0
