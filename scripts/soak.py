"""The load test behind ``make soak``: 100,000 EventBridge events through ``lambda_handler``.

The events (about 1% with findings) go through the handler in SQS batches of ten, against
DynamoDB and Secrets Manager in moto and a local SMTP server that records every message (the
harness and what it checks: tests/soak.py). Prints events/s, time per batch (p50, p99), peak
memory and the counts; exit status 1 if the delivered alerts or the history are not exactly the
expected ones (the differences are listed). tests/test_soak.py runs the same on 2,000 events.

Also printed: DynamoDB requests per 1,000 events (delivery and detection state, reads and writes),
the capacity units they cost (from the item sizes moto holds) and, at AWS's list prices, the
DynamoDB cost per million events next to the Lambda's (one invocation per batch, the handler time
measured here, 128 MB arm64). One change to moto makes the timings fair: its Query reads only the
queried partition, as DynamoDB's does (moto sorts the whole table on every Query, and the table
only grows: the run was quadratic); the answers are moto's own (tests/soak.py, partition_queries).

    python scripts/soak.py                  # 100,000 events
    python scripts/soak.py --events 20000 --seed 7
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOWN_PROBLEMS = 30


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.soak import DEFAULT_EVENTS, DEFAULT_SEED, run_soak

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help=f"default {DEFAULT_EVENTS:,}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    # aiosmtpd warns on every AUTH that it set a deprecated attribute itself: noise here.
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    print(f"soak: {args.events:,} events through lambda_handler (seed {args.seed})", flush=True)
    report = run_soak(args.events, args.seed, progress=lambda line: print(f"  ... {line}", flush=True))
    print(report.table())
    print(
        "  (moto's Query reads the queried partition only, as DynamoDB's does, not the whole table: "
        "tests/soak.py partition_queries)"
    )
    if report.left_out:
        print(f"tests/events records left out (their findings depend on their date): {', '.join(report.left_out)}")
    if report.problems:
        print(f"FAILED: {len(report.problems):,} problems", file=sys.stderr)
        for problem in report.problems[:SHOWN_PROBLEMS]:
            print(f"  {problem}", file=sys.stderr)
        if len(report.problems) > SHOWN_PROBLEMS:
            print(f"  ... and {len(report.problems) - SHOWN_PROBLEMS:,} more", file=sys.stderr)
        return 1
    print(
        "held: no batch item failures; the emails received are exactly the expected alerts; "
        "every finding is stored once, as delivered"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
