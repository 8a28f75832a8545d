"""The Lambda loads rule modules per event source: the table behind it must match the rules, and a
lazy engine must find exactly what an eager one finds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from trailguard import handlers
from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

from .conftest import EVENTS_DIR, load_rule_test_events


def test_handler_table_matches_the_rules() -> None:
    package = Path(handlers.__file__).parent
    on_disk = {p.stem for p in package.glob("*_handler.py")}
    assert set(handlers.HANDLER_MODULES) == on_disk
    for rule in REGISTRY.all():
        module = rule.module.rsplit(".", 1)[-1]
        if callable(rule.on):
            assert module in handlers.WATCHER_MODULES, rule.id
            continue
        sources = {key.source for key in REGISTRY.subscriptions(rule)}
        assert sources <= set(handlers.HANDLER_SOURCES.get(module, ())), (
            f"{rule.id}: add its sources to HANDLER_SOURCES"
        )
        for identity_type in rule.identity_types:
            assert module in handlers.IDENTITY_HANDLERS.get(identity_type, ()), rule.id


def test_lazy_engine_in_a_fresh_interpreter_finds_what_the_eager_one_finds() -> None:
    cases = load_rule_test_events()
    eager: list[list[str]] = []
    for case in cases:
        findings = Engine(Settings.load(env={}, **case.settings)).evaluate(case.record)
        eager.append(sorted(f"{f.rule_id}:{f.severity.name}" for f in findings))
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from trailguard.core.engine import Engine
        from trailguard.core.settings import Settings
        results = []
        engines = {}
        for path in sys.argv[1:]:
            case = json.loads(Path(path).read_text())
            key = json.dumps(case.get("settings", {}), sort_keys=True)
            if key not in engines:
                engines[key] = Engine(Settings.load(env={}, **case.get("settings", {})), lazy=True)
            findings = engines[key].evaluate(case["record"])
            results.append(sorted(f"{f.rule_id}:{f.severity.name}" for f in findings))
        print(json.dumps(results))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *(str(case.path) for case in cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == eager


def test_one_event_loads_only_its_modules() -> None:
    event = next(EVENTS_DIR.glob("security_group/*.json"))
    script = textwrap.dedent(
        f"""
        import json, sys
        from trailguard.main import lambda_handler
        record = json.loads(open({str(event)!r}).read())["record"]
        lambda_handler({{"detail-type": "AWS API Call via CloudTrail", "detail": record}}, None)
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("trailguard.handlers."))))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert loaded == [
        "trailguard.handlers.ec2_handler",
        "trailguard.handlers.security_group_handler",
        "trailguard.handlers.tamper_handler",
        "trailguard.handlers.vpc_handler",
    ]
