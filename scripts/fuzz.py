"""The long fuzz run behind ``make fuzz``: the bad-input properties of the test suite, 100x the examples.

Runs every Hypothesis property of tests/test_fuzz_engine.py and tests/test_fuzz_reader.py with
``TRAILGUARD_FUZZ_SCALE`` times the examples ``make test`` tries, and prints, per property, how many
inputs were tried (every call of the property, shrinking included), how long it took and whether
it held. Exit status 1 if any property failed (Hypothesis prints the smallest failing input).

    python scripts/fuzz.py                 # scale 100
    python scripts/fuzz.py --scale 10 -k reader
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("tests.test_fuzz_engine", "tests.test_fuzz_reader")


def properties(selector: str) -> list[tuple[str, Any]]:
    """The Hypothesis tests of MODULES whose name contains ``selector``."""
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, test in vars(module).items():
            if name.startswith("test_") and hasattr(test, "hypothesis") and selector in f"{module_name}.{name}":
                found.append((f"{module_name.rsplit('.', 1)[-1]}::{name}", test))
    return found


def run(test: Any) -> tuple[int, BaseException | None]:
    """Call one property, counting the inputs its body is called with."""
    tried = 0
    inner: Callable[..., Any] = test.hypothesis.inner_test

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal tried
        tried += 1
        return inner(*args, **kwargs)

    test.hypothesis.inner_test = counting
    try:
        test()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return tried, exc
    finally:
        test.hypothesis.inner_test = inner
    return tried, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="examples = scale x those of `make test` (100)")
    parser.add_argument("-k", dest="selector", default="", help="only properties whose name contains this")
    args = parser.parse_args(argv)
    os.environ["TRAILGUARD_FUZZ_SCALE"] = str(args.scale)  # read when the strategies are imported
    sys.path.insert(0, str(ROOT))
    import logging

    logging.disable(logging.CRITICAL)  # a rule error fails its property; its log line is noise here
    warnings.filterwarnings("ignore", message="Generating overly large repr")  # of 1 MB and 10,000-level inputs

    selected = properties(args.selector)
    print(f"fuzzing {len(selected)} properties at {args.scale}x the examples of `make test`", flush=True)
    failed: list[str] = []
    total_tried = 0
    started = time.perf_counter()
    for name, test in selected:
        began = time.perf_counter()
        tried, error = run(test)
        total_tried += tried
        status = "held" if error is None else f"FAILED: {type(error).__name__}"
        print(f"{name:<75} {tried:>8,} inputs {time.perf_counter() - began:7.1f} s  {status}", flush=True)
        if error is not None:
            failed.append(name)
            traceback.print_exception(error, limit=-3, file=sys.stdout)
    elapsed = time.perf_counter() - started
    print(f"{'total':<75} {total_tried:>8,} inputs {elapsed:7.1f} s  ", end="")
    print(f"{len(selected) - len(failed)} held, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
