"""Regenerate src/trailguard/data/examples.jsonl: one real-shaped record per rule, for
`trailguard render` and `trailguard send-test` (a test checks the file is up to date).

Each line is {"rule_id": ..., "test_event": <path under tests/events>, "record": {...}}, taken from
the rule's first positive test event at its default severity, without settings overrides.

Usage: python scripts/update_examples.py [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from trailguard.core.base_handler import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
TARGET = ROOT / "src" / "trailguard" / "data" / "examples.jsonl"
# The test events carry made-up access key ids in AWS's real format; in a file shipped with the
# package they would look like leaked keys to secret scanners, so they are shortened.
_ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


def examples() -> str:
    cases = []
    for path in sorted(EVENTS.rglob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        if not case.get("settings"):
            cases.append((path, case))
    lines = []
    for rule in REGISTRY.all():
        chosen = next(
            (
                (path, case)
                for path, case in cases
                if case["expect"].get(rule.id) == rule.severity.name and len(case["expect"]) == 1
            ),
            None,
        ) or next(((path, case) for path, case in cases if rule.id in case["expect"]), None)
        if chosen is None:
            raise SystemExit(f"no positive test event without settings for {rule.id}")
        path, case = chosen
        entry = {"rule_id": rule.id, "test_event": str(path.relative_to(EVENTS)), "record": case["record"]}
        lines.append(_ACCESS_KEY_ID.sub(r"\1EXAMPLEKEYID", json.dumps(entry, sort_keys=True, ensure_ascii=False)))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = examples()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("src/trailguard/data/examples.jsonl is out of date: run `python scripts/update_examples.py`")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
