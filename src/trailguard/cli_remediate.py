"""``trailguard remediate PATH... [--config FILE] [--apply]``: undo what the events' findings report.

The events are evaluated as ``trailguard scan`` evaluates them; for each finding whose rule is
``dry-run`` or ``apply`` in ``[remediation]`` (and has an action), the plan is printed: the resource
and the exact API call. With ``--apply``, the rules set to ``apply`` (only those) act, with the
caller's AWS credentials (boto3's usual chain; ``AWS_ENDPOINT_URL`` is honoured) in each finding's
region. The safeguards are the Lambda's: allow-lists, exempt principals, the exempt tag, the rate
limit (counted in ``--state FILE`` across runs, else for this run). With ``--state FILE``, each
outcome (planned, done, skipped, failed; not "nothing to do") goes into that file's findings history,
as the Lambda's goes into its table: ``trailguard history --state FILE`` shows it.

Exit codes: 0 everything planned was done, or nothing was needed; 2 an action failed (or bad usage,
configuration, input). A second run is a no-op: every action reads the resource first.
"""

from __future__ import annotations

import argparse
from typing import IO, TYPE_CHECKING

from trailguard.core.engine import Engine
from trailguard.core.settings import Settings
from trailguard.sources import InputProblem, Reader

if TYPE_CHECKING:
    from trailguard.services.stores.sqlite import SqliteState

EXIT_DONE = 0
EXIT_FAILED = 2


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "remediate",
        help="undo the changes the events' findings report (dry-run unless --apply)",
        description="Evaluate CloudTrail events as scan does and, for findings whose rule is dry-run or apply in "
        "[remediation], print the plan (each resource and the exact API call); --apply makes the calls of the "
        "rules set to apply, with your AWS credentials. See docs/remediation.md.",
        epilog="Exit codes: 0 all done or nothing needed, 2 an action failed (or bad usage, configuration, input).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for stdin")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file (its [remediation] table)")
    parser.add_argument("--apply", action="store_true", help="make the calls of the rules set to apply")
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="detection state (SQLite), as scan --state; counts the rate limit and keeps each outcome in its history",
    )


def run_remediate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from trailguard.services.history import REPORTED
    from trailguard.services.remediation.runner import Remediator, Status, annotate, enabled, remediation_warnings

    settings = Settings.load(args.config)
    if not enabled(settings):
        stderr.write("trailguard: [remediation] sets no rule to dry-run or apply: nothing to plan\n")
        return EXIT_DONE
    for warning in remediation_warnings(settings):
        stderr.write(f"trailguard: warning: configuration: {warning}\n")
    from trailguard.utils.aws_helpers import AwsClients, require_boto3

    require_boto3("trailguard remediate")
    state: SqliteState | None = None
    if args.state:
        from trailguard.services.stores.sqlite import SqliteState

        state = SqliteState(args.state)
    problems: list[InputProblem] = []
    try:
        engine = Engine(settings, state=state)
        aws = AwsClients()
        remediator = Remediator(settings, lambda: aws, engine.state, act=args.apply)
        counts = dict.fromkeys(Status, 0)
        seen: set[str] = set()
        reader = Reader(wants=engine.wants, on_problem=problems.append)
        for record in reader.read_paths(args.paths):
            for finding in engine.evaluate(record):
                if finding.routine or finding.key in seen:
                    continue
                seen.add(finding.key)
                result = remediator.remediate(finding, record)
                if result is None:
                    continue
                counts[result.status] += 1
                if state is not None and result.status is not Status.NOTHING:
                    # Into the history as the Lambda's delivery stores it: the finding with its outcome.
                    # Nothing to do is not recorded, so a second run keeps the first run's outcome.
                    state.record(annotate(finding, result), REPORTED)
                where = result.resource or finding.resource.label or "?"
                stdout.write(f"{finding.rule_id}  {where}  [{result.mode}] {result.status}: {result.text}\n")
                if result.status is Status.PLANNED:
                    stdout.writelines(f"    {call.text()}\n" for call in result.calls)
    finally:
        if state is not None:
            state.close()
    for problem in problems:
        stderr.write(f"trailguard: skipped {problem}\n")
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count) or "no finding to remediate"
    stderr.write(f"trailguard: remediation: {summary}{'' if args.apply else ' (without --apply: nothing changed)'}\n")
    return EXIT_FAILED if counts[Status.FAILED] or problems else EXIT_DONE
