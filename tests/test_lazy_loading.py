"""The Lambda loads rule modules per event source, from the generated manifest: it must route every
rule's events to the rule's module, a lazy engine must find exactly what an eager one finds, and no
setting may make one event import the rules of other services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard import handlers
from trailguard.core.base_handler import REGISTRY, RuleContext, RuleRegistry
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit
from trailguard.core.settings import Settings
from trailguard.handlers import CATALOGUE, _manifest

from .conftest import EVENTS_DIR, load_rule_test_events


def test_the_catalogue_loads_each_rule_for_every_event_it_watches() -> None:
    package = Path(handlers.__file__).parent
    assert set(CATALOGUE.modules()) == {p.stem for p in package.glob("*_handler.py")}
    every_rule = REGISTRY.all()
    for rule in every_rule:
        module = rule.module.rsplit(".", 1)[-1]
        for key in REGISTRY.subscriptions(rule, among=every_rule):
            assert module in CATALOGUE.modules_for(key.source), f"{rule.id}: run `make generated`"
        for identity_type in rule.identity_types:
            assert module in CATALOGUE.modules_for("any.amazonaws.com", identity_type), rule.id
    assert CATALOGUE.modules_for("unwatched.amazonaws.com", "AssumedRole") == ()


def test_lazy_engine_in_a_fresh_interpreter_finds_what_the_eager_one_finds() -> None:
    cases = load_rule_test_events()
    eager: list[list[str]] = []
    # One engine per case, as in the script: stateful rules judge each case after its own history.
    for case in cases:
        engine = Engine(Settings.load(env={}, **case.settings))
        engine.evaluate_all(case.history)
        findings = engine.evaluate(case.record)
        eager.append(sorted(f"{f.rule_id}:{f.severity.name}" for f in findings))
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from trailguard.core.engine import Engine
        from trailguard.core.settings import Settings
        results = []
        for path in sys.argv[1:]:
            case = json.loads(Path(path).read_text())
            # One engine per case: stateful rules must not remember the other cases.
            engine = Engine(Settings.load(env={}, **case.get("settings", {})), lazy=True)
            engine.evaluate_all(case.get("history", []))
            findings = engine.evaluate(case["record"])
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


# Every key that takes rule-id globs, set in the README's spirit: each glob matches rules of modules
# that a security-group event must not import.
GLOB_SETTINGS_TOML = """
disabled_rules = ["lambda.function-changed", "iam.*"]

[quiet_periods]
"s3.*" = 600
"ec2.instance-launched" = 3600

[[suppressions]]
principal = "arn:aws:iam::111122223333:role/terraform-deploy"
rules = ["elb.*", "vpc.internet-gateway-attached", "iam.user-created"]
"""
GLOB_SETTINGS_ENV = {
    "TRAILGUARD_DISABLED_RULES": "lambda.function-changed, iam.*",
    "TRAILGUARD_QUIET_PERIODS": json.dumps({"s3.*": 600, "ec2.instance-launched": 3600}),
    "TRAILGUARD_SUPPRESSIONS": json.dumps(
        [
            {
                "principal": "arn:aws:iam::111122223333:role/terraform-deploy",
                "rules": ["elb.*", "vpc.internet-gateway-attached", "iam.user-created"],
            }
        ]
    ),
}


@pytest.mark.parametrize("configured", ["nothing", "toml", "environment"])
def test_one_event_loads_only_its_modules(configured: str, tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    if configured == "toml":
        config = tmp_path / "trailguard.toml"
        config.write_text(GLOB_SETTINGS_TOML, encoding="utf-8")
        env["TRAILGUARD_CONFIG"] = str(config)
    elif configured == "environment":
        env.update(GLOB_SETTINGS_ENV)
    event = next(EVENTS_DIR.glob("security_group/*.json"))
    script = textwrap.dedent(
        f"""
        import json, sys
        from trailguard import main
        record = json.loads(open({str(event)!r}).read())["record"]
        main.lambda_handler({{"detail-type": "AWS API Call via CloudTrail", "detail": record}}, None)
        settings = main.container().settings
        print(json.dumps({{
            "loaded": sorted(m for m in sys.modules if m.startswith("trailguard.handlers.")),
            "globs": [list(settings.disabled_rules), [g for g, _ in settings.quiet_periods],
                      [list(s.rules) for s in settings.suppressions]],
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    result = json.loads(done.stdout.splitlines()[-1])
    if configured == "nothing":
        assert result["globs"] == [[], [], []]
    else:
        assert result["globs"] == [
            ["lambda.function-changed", "iam.*"],
            ["s3.*", "ec2.instance-launched"],
            [["elb.*", "vpc.internet-gateway-attached", "iam.user-created"]],
        ]
    modules = (*_manifest.BY_SOURCE["ec2.amazonaws.com"], *_manifest.WATCHERS)
    assert result["loaded"] == sorted({"trailguard.handlers._manifest", *(f"trailguard.handlers.{m}" for m in modules)})
    assert {"ec2_handler", "security_group_handler", "vpc_handler", "tamper_handler"} <= set(modules)


def test_the_registry_knows_the_catalogued_and_the_registered_ids_before_loading_anything() -> None:
    registry = RuleRegistry()
    metadata: dict[str, Any] = {"title": "t", "description": "d.", "remediation": "r"}

    class OneModule:
        """A catalogue of one rule, registered when its "module" loads."""

        def rule_ids(self) -> tuple[str, ...]:
            return ("test.catalogued",)

        def top_severities(self) -> dict[str, Severity]:
            return {"test.catalogued": Severity.LOW}

        def load_all(self) -> None:
            @registry.rule(
                id="test.catalogued", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketAcl"]}, **metadata
            )
            def catalogued(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
                yield from ()

        def load_for(self, event_source: str, identity_type: str) -> None:
            if event_source == "s3.amazonaws.com":
                self.load_all()

    registry.install(OneModule())

    @registry.rule(id="custom.extra", severity=Severity.LOW, on={"ec2.amazonaws.com": ["RunInstances"]}, **metadata)
    def extra(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        yield from ()

    assert registry.known_ids() == {"test.catalogued", "custom.extra"}
    assert [rule.id for rule in registry.loaded()] == ["custom.extra"]
    registry.load_for("ec2.amazonaws.com", "IAMUser")
    assert len(registry) == 1
    assert [rule.id for rule in registry.all()] == ["custom.extra", "test.catalogued"]
