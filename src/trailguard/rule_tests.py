"""Test events for rules, and ``trailguard test``: the file format of the project's tests/events/.

One JSON file per event::

    {
      "description": "what happened, and why the rules fire (or must not)",
      "expect": {"custom.bucket-tagged": "LOW"},
      "settings": {"trusted_accounts": ["444455556666"]},
      "record": {"eventSource": "s3.amazonaws.com", "eventName": "PutBucketTagging", ...}
    }

``expect`` maps every rule that must fire to its severity (``{}``: nothing may fire; a routine
change, known by memory, goes to the history only and does not count as firing); ``settings``
(optional) are settings for this event only, over the configuration's; ``record`` is one
CloudTrail record as it appears in a log file. ``history`` (optional) is a list of earlier records
that the stateful rules (``baseline.*``) see first, with a fresh detection state, so that the case
can show what ``record`` means after them; only ``record``'s findings count. An event passes when
exactly the expected rules fire, each at its severity, and no rule raises.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeGuard

from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.exceptions import ConfigError, InputError
from trailguard.core.settings import Settings

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2
FIELDS = ("description", "expect", "settings", "record", "history")
# Settings an event may not set: they are the configuration's (or, for rule_modules, --rules').
NOT_PER_EVENT = frozenset({"rule_modules", "source"})


class EventCase(NamedTuple):
    """One test-event file, read and checked."""

    path: Path
    description: str
    expect: dict[str, Severity]
    settings: dict[str, Any]
    record: dict[str, Any]
    history: tuple[dict[str, Any], ...] = ()


class CaseResult(NamedTuple):
    case: EventCase
    fired: dict[str, tuple[Severity, ...]]
    notes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.notes and self.fired == {rule_id: (sev,) for rule_id, sev in self.case.expect.items()}


def read_event_case(path: Path) -> EventCase:
    """Read one test-event file; ``InputError`` naming the file and what is wrong with it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object with {', '.join(FIELDS)}")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise InputError(f"{path}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    description, expect, settings, record, history = (document.get(name) for name in FIELDS)
    if not isinstance(description, str) or not description.strip():
        raise InputError(f"{path}: description: expected a sentence saying what the event is")
    if not isinstance(expect, dict):
        raise InputError(f"{path}: expect: expected an object of rule id -> severity ({{}} when nothing fires)")
    expected: dict[str, Severity] = {}
    for rule_id, severity in expect.items():
        if not isinstance(severity, str) or severity not in Severity.__members__:
            names = "/".join(Severity.__members__)
            raise InputError(f"{path}: expect: {rule_id}: expected a severity ({names}), got {severity!r}")
        expected[rule_id] = Severity[severity]
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise InputError(f"{path}: settings: expected an object of configuration keys")
    for key in settings:
        if key not in Settings._fields or key in NOT_PER_EVENT:
            raise InputError(f"{path}: settings: {key!r} is not a setting an event can have")
    if not _is_record(record):
        raise InputError(f"{path}: record: expected a CloudTrail record (an object with eventSource and eventName)")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise InputError(f"{path}: history: expected a list of earlier CloudTrail records")
    for index, earlier in enumerate(history):
        if not _is_record(earlier):
            raise InputError(f"{path}: history: entry {index}: expected a CloudTrail record (eventSource, eventName)")
    return EventCase(path, description, expected, settings, record, tuple(history))


def _is_record(value: Any) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(value, dict)
        and isinstance(value.get("eventSource"), str)
        and isinstance(value.get("eventName"), str)
    )


def event_case_files(paths: Iterable[str]) -> list[Path]:
    """The files named, and the ``*.json`` files under the directories named, in a stable order."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise InputError(f"{path}: a directory without test events (*.json)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return files


class CaseRunner:
    """Evaluates cases, each with an engine of its own: the stateful rules remember nothing of the
    other cases (an engine is built in about 2 ms)."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self.base = Settings.load(config)  # a bad configuration stops the run here, before any event
        self._settings: dict[str, Settings] = {}

    def engine(self, case: EventCase) -> Engine:
        key = json.dumps(case.settings, sort_keys=True)
        if key not in self._settings:
            settings = self.base
            if case.settings:
                try:
                    settings = Settings.load(self.config, **case.settings)
                except ConfigError as exc:
                    raise InputError(f"{case.path}: settings: {str(exc).removeprefix('argument: ')}") from None
            self._settings[key] = settings
        return Engine(self._settings[key])

    def run(self, case: EventCase) -> CaseResult:
        engine = self.engine(case)
        engine.forget()  # one event at a time: nothing remembered from the events before
        engine.evaluate_all(case.history)
        failures_before = len(engine.failures)
        findings = engine.evaluate(case.record)
        fired: dict[str, tuple[Severity, ...]] = {}
        for finding in findings:
            if not finding.routine:
                fired[finding.rule_id] = tuple(sorted({*fired.get(finding.rule_id, ()), finding.severity}))
        notes = [f"{f.rule_id} raised {f.error}" for f in engine.failures[failures_before:]]
        notes += [
            f"{rule_id}: no such rule (is its file in --rules, or in the configuration's rule_modules?)"
            for rule_id in case.expect
            if rule_id not in REGISTRY
        ]
        return CaseResult(case, fired, tuple(notes))


def describe(rules: Mapping[str, Severity | Sequence[Severity]]) -> str:
    """``custom.bucket-tagged LOW, s3.bucket-acl-public HIGH``; ``nothing`` when empty."""
    parts = []
    for rule_id in sorted(rules):
        severities = rules[rule_id]
        names = [severities.name] if isinstance(severities, Severity) else [s.name for s in severities]
        parts.append(f"{rule_id} {'/'.join(names)}")
    return ", ".join(parts) or "nothing"


def run_test(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """``trailguard test PATH... [--rules PATH]... [--config FILE]``."""
    from trailguard import custom_rules

    if args.rules:
        try:
            custom_rules.load_rule_modules(args.rules)
        except ConfigError as exc:
            raise ConfigError(f"--rules: {exc}") from None
    runner = CaseRunner(args.config)
    try:
        files = event_case_files(args.paths)
    except InputError as exc:
        stderr.write(f"trailguard: error: {exc}\n")
        return EXIT_UNUSABLE
    passed = failed = unusable = 0
    expected_somewhere: set[str] = set()
    for path in files:
        try:
            case = read_event_case(path)
            result = runner.run(case)
        except InputError as exc:
            stderr.write(f"trailguard: error: {exc}\n")
            unusable += 1
            continue
        expected_somewhere.update(case.expect)
        verdict = "PASS" if result.passed else "FAIL"
        stdout.write(f"{verdict}  {path}: expected {describe(case.expect)}; fired {describe(result.fired)}\n")
        if result.passed:
            passed += 1
            continue
        failed += 1
        for line in (case.description, *result.notes):
            stdout.write(f"      {line}\n")
    summary = f"{passed} passed, {failed} failed"
    stdout.write(summary + (f", {unusable} unreadable (see above)" if unusable else "") + "\n")
    untested = sorted(r.id for r in REGISTRY.all() if custom_rules.origin(r.id) and r.id not in expected_somewhere)
    for rule_id in untested:
        stderr.write(f"trailguard: warning: {rule_id}: no test event expects it to fire\n")
    if unusable:
        return EXIT_UNUSABLE
    return EXIT_FAILED if failed else EXIT_PASSED
