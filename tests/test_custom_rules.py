"""Users' own rules (``rule_modules``, ``trailguard.rules``): loading, validation and errors.

The rule files are under tests/data/custom_rules/: ``rules/bucket_tagged.py`` is the README's
example verbatim, ``bad/`` holds one broken file per way a rule file can be wrong.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import trailguard.rules
from trailguard import custom_rules
from trailguard.cli import EXIT_BAD_INPUT, EXIT_CLEAN, EXIT_FINDINGS, main
from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.exceptions import ConfigError
from trailguard.core.settings import Settings
from trailguard.rule_tests import EXIT_FAILED, EXIT_PASSED, EXIT_UNUSABLE

from .conftest import DATA_DIR, TESTS_DIR

CUSTOM = DATA_DIR / "custom_rules"
RULES_DIR = CUSTOM / "rules"
EXAMPLE = RULES_DIR / "bucket_tagged.py"
BAD = CUSTOM / "bad"
CUSTOM_IDS = {"custom.bucket-tagged", "custom.dynamodb-table-deleted"}

pytestmark = pytest.mark.usefixtures("no_custom_rules")


def record(name: str) -> dict[str, object]:
    document: dict[str, object] = json.loads((CUSTOM / "events" / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(document["record"], dict)
    return document["record"]


def fired(settings: Settings, name: str) -> dict[str, str]:
    return {f.rule_id: f.severity.name for f in Engine(settings).evaluate(record(name))}


def custom_ids() -> set[str]:
    return {rule.id for rule in REGISTRY.all() if custom_rules.origin(rule.id)}


# -- the public API -------------------------------------------------------------------------------


def test_the_public_module_exports_what_a_rule_needs_and_only_that() -> None:
    assert sorted(trailguard.rules.__all__) == sorted(
        ["rule", "Hit", "Resource", "Severity", "FindingKind", "CloudTrailEvent", "RuleContext", "made_by_person"]
    )
    assert trailguard.rules.rule == REGISTRY.rule
    module_text = Path(trailguard.rules.__file__).read_text(encoding="utf-8")
    assert "def " not in module_text and "class " not in module_text  # re-exports, no logic


def test_the_readme_shows_the_tested_rule_file_and_its_event_verbatim() -> None:
    readme = (TESTS_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{EXAMPLE.read_text(encoding='utf-8')}```" in readme
    event = (CUSTOM / "events" / "bucket_tagged.json").read_text(encoding="utf-8")
    assert f"```json\n{event}```" in readme


# -- the ways to name rule modules ----------------------------------------------------------------


def test_a_toml_file_names_a_directory_relative_to_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTS_DIR.parent.parent)  # anywhere but the config file's directory
    settings = Settings.load(CUSTOM / "trailguard.toml", env={})
    assert settings.rule_modules == (str(RULES_DIR),)
    assert custom_ids() == CUSTOM_IDS
    assert custom_rules.origin("custom.bucket-tagged") == str(EXAMPLE)
    assert custom_rules.origin("s3.bucket-policy-public") is None
    assert fired(settings, "bucket_tagged") == {"custom.bucket-tagged": "LOW"}
    assert fired(settings, "bucket_tagging_denied") == {}
    assert fired(settings, "table_deleted") == {"custom.dynamodb-table-deleted": "MEDIUM"}
    assert fired(settings, "table_delete_not_found") == {}


def test_the_environment_names_files_comma_separated_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(CUSTOM)
    settings = Settings.load(env={"TRAILGUARD_RULE_MODULES": "rules/bucket_tagged.py, rules/table_deleted.py"})
    assert settings.rule_modules == ("rules/bucket_tagged.py", "rules/table_deleted.py")
    assert custom_ids() == CUSTOM_IDS
    assert fired(settings, "table_deleted") == {"custom.dynamodb-table-deleted": "MEDIUM"}


def test_the_environment_overrides_the_file_and_then_starts_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(RULES_DIR)
    settings = Settings.load(CUSTOM / "trailguard.toml", env={"TRAILGUARD_RULE_MODULES": "bucket_tagged.py"})
    assert settings.rule_modules == ("bucket_tagged.py",)
    assert custom_ids() == {"custom.bucket-tagged"}


def test_a_dotted_module_path_on_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(CUSTOM / "package"))
    settings = Settings.load(env={}, rule_modules=["acme_rules.secrets"])
    assert settings.rule_modules == ("acme_rules.secrets",)
    assert custom_ids() == {"acme.secret-deleted"}
    assert custom_rules.origin("acme.secret-deleted") == str(CUSTOM / "package" / "acme_rules" / "secrets.py")


def test_a_directory_loads_its_py_files_but_not_the_underscored_ones() -> None:
    # rules/_shared.py raises when imported: being skipped is what lets this load at all.
    Settings.load(env={}, rule_modules=[str(RULES_DIR)])
    assert custom_ids() == CUSTOM_IDS
    loaded = [name for name in sys.modules if name.startswith(custom_rules.FILE_MODULE_PREFIX)]
    assert sorted(name.split("_", 4)[-1] for name in loaded) == ["bucket_tagged", "table_deleted"]


def test_loading_the_same_files_twice_registers_them_once() -> None:
    first = Settings.load(CUSTOM / "trailguard.toml", env={})
    second = Settings.load(env={}, rule_modules=[str(EXAMPLE), str(RULES_DIR)])
    assert first.rule_modules != second.rule_modules
    assert custom_ids() == CUSTOM_IDS
    assert len([r for r in REGISTRY.all() if r.id == "custom.bucket-tagged"]) == 1


def test_rule_id_globs_of_the_same_settings_may_name_custom_rules() -> None:
    settings = Settings.load(
        env={
            "TRAILGUARD_RULE_MODULES": str(RULES_DIR),
            "TRAILGUARD_DISABLED_RULES": "custom.bucket-*",
            "TRAILGUARD_SUPPRESSIONS": json.dumps([{"rules": ["custom.dynamodb-*"], "principal": "*:role/Deployer"}]),
            "TRAILGUARD_QUIET_PERIODS": json.dumps({"custom.dynamodb-table-deleted": 60}),
        }
    )
    assert fired(settings, "bucket_tagged") == {}
    engine = Engine(settings)
    assert engine.evaluate(record("table_deleted")) == []
    assert engine.stats.suppressed == 1


def test_unloading_forgets_the_rules_and_their_modules() -> None:
    Settings.load(env={}, rule_modules=[str(RULES_DIR)])
    assert custom_ids() == CUSTOM_IDS
    custom_rules.unload()
    assert not CUSTOM_IDS & {rule.id for rule in REGISTRY.all()}
    assert not [name for name in sys.modules if name.startswith(custom_rules.FILE_MODULE_PREFIX)]
    Settings.load(env={}, rule_modules=[str(EXAMPLE)])
    assert custom_ids() == {"custom.bucket-tagged"}


# -- what is refused, and how it is said ------------------------------------------------------------

BAD_FILES = {
    "syntax_error.py": "SyntaxError: expected ':' (line 3)",
    "import_error.py": "ModuleNotFoundError: No module named 'trailguard_no_such_module' (line 2)",
    "duplicate_id.py": "RuleDefinitionError: rule id 'custom.twice' is registered twice (line 11)",
    "builtin_clash.py": "RuleDefinitionError: rule id 's3.bucket-policy-public' is registered twice (line 4)",
    "empty_description.py": "RuleDefinitionError: rule 'custom.no-description' has an empty description (line 4)",
    "no_subscription.py": "RuleDefinitionError: rule 'custom.deaf' subscribes to no event (line 4)",
    "bad_id.py": "RuleDefinitionError: rule id 'Custom_Rule' must look like 'service.what-it-detects' (line 4)",
    "half_registered.py": "ValueError: the file fails after its first rule (line 10)",
    "no_rule.py": "defines no rule",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_rule_file_is_a_configuration_error_naming_the_file_and_the_reason(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CUSTOM)
    before = {rule.id for rule in REGISTRY.all()}
    for _attempt in range(2):  # the same reason again: nothing of the failed file was kept
        with pytest.raises(ConfigError) as caught:
            Settings.load(env={"TRAILGUARD_RULE_MODULES": f"bad/{name}"})
        assert str(caught.value) == f"environment TRAILGUARD_RULE_MODULES: bad/{name}: {BAD_FILES[name]}"
        assert {rule.id for rule in REGISTRY.all()} == before
        assert not [m for m in sys.modules if m.startswith(custom_rules.FILE_MODULE_PREFIX)]


def test_in_a_toml_file_the_error_names_the_file_the_key_and_the_rule_file(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text(f'rule_modules = ["{RULES_DIR}", "{BAD / "syntax_error.py"}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Settings.load(config, env={})
    assert str(caught.value) == f"{config}: rule_modules: {BAD / 'syntax_error.py'}: SyntaxError: expected ':' (line 3)"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("missing.py", "missing.py: no such file or directory"),
        ("missing/", "missing: no such file or directory"),
        ("no_such_package.rules", "no_such_package.rules: ModuleNotFoundError: No module named 'no_such_package'"),
        ("not a module!", "not a module!: no such file or directory, and not a dotted module path"),
        ("events", "events: a directory without rule files (*.py not starting with _)"),
        ("trailguard.toml", "trailguard.toml: not a Python file (.py)"),
    ],
)
def test_entries_that_name_nothing_loadable(entry: str, reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CUSTOM)
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={}, rule_modules=[entry])
    assert str(caught.value) == f"argument: {reason}"


@pytest.mark.parametrize("value", [[1], [""], "   ,"])
def test_rule_modules_must_be_strings(value: object, tmp_path: Path) -> None:
    if isinstance(value, str):
        assert Settings.load(env={"TRAILGUARD_RULE_MODULES": value}).rule_modules == ()
        return
    config = tmp_path / "x.toml"
    config.write_text(f"rule_modules = {json.dumps(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x.toml: rule_modules: expected a module path, a .py file or a directory"):
        Settings.load(config, env={})


# -- the command line -------------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_rules_marks_the_custom_ones() -> None:
    code, out, _ = run("rules", "--config", str(CUSTOM / "trailguard.toml"))
    assert code == EXIT_CLEAN
    lines = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert lines["custom.bucket-tagged"].split()[1:4] == ["(custom)", "LOW", "PutBucketTagging"]
    assert lines["custom.dynamodb-table-deleted"].split()[1] == "(custom)"
    assert "(custom)" not in lines["s3.bucket-policy-public"]
    assert out.splitlines()[-1] == f"{len(REGISTRY.all())} rules (2 custom)"
    code, out, _ = run("rules", "--config", str(CUSTOM / "trailguard.toml"), "--format", "json")
    by_id = {entry["id"]: entry for entry in json.loads(out)}
    assert by_id["custom.bucket-tagged"]["custom"] is True
    assert by_id["custom.bucket-tagged"]["origin"] == str(EXAMPLE)
    assert by_id["custom.bucket-tagged"]["events"] == "PutBucketTagging"
    assert by_id["s3.bucket-policy-public"]["custom"] is False
    assert "origin" not in by_id["s3.bucket-policy-public"]


def test_rules_without_a_configuration_lists_no_custom_rule() -> None:
    code, out, _ = run("rules")
    assert code == EXIT_CLEAN
    assert "(custom)" not in out
    assert out.splitlines()[-1] == f"{len(REGISTRY.all())} rules"


def test_pattern_with_the_configuration_includes_the_custom_events() -> None:
    _, plain, _ = run("pattern")
    code, out, _ = run("pattern", "--config", str(CUSTOM / "trailguard.toml"))
    assert code == EXIT_CLEAN
    patterns = [entry["pattern"] for entry in json.loads(out)]
    for service, name in (("s3", "PutBucketTagging"), ("dynamodb", "DeleteTable")):
        assert any(
            f"aws.{service}" in pattern.get("source", [])
            and f"{service}.amazonaws.com" in pattern["detail"].get("eventSource", [])
            and name in pattern["detail"].get("eventName", [])
            for pattern in patterns
        ), name
    # DeleteTable is a built-in subscription too now (trailguard.pipeline-tampered watches its table).
    assert "PutBucketTagging" not in plain


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_scan_runs_the_custom_rules(tmp_path: Path, jobs: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("bucket_tagged", "bucket_tagging_denied", "table_deleted", "table_delete_not_found"):
        (logs / f"{name}.json").write_text(json.dumps({"Records": [record(name)]}), encoding="utf-8")
    config = ["--config", str(CUSTOM / "trailguard.toml")]
    code, out, err = run("scan", str(logs), *config, "--format", "jsonl", "--jobs", jobs, "--quiet")
    assert code == EXIT_FINDINGS, err
    findings = sorted((f["rule_id"], f["severity"], f["summary"]) for f in map(json.loads, out.splitlines()))
    assert findings == [
        ("custom.bucket-tagged", "LOW", "tags of acme-reports changed"),
        ("custom.dynamodb-table-deleted", "MEDIUM", "table orders deleted"),
    ]
    code, out, _ = run("scan", str(logs), *config, "--rule", "custom.dynamodb-*", "--format", "jsonl")
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == ["custom.dynamodb-table-deleted"]


def test_a_bad_rule_file_stops_every_command_with_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "trailguard.toml"
    config.write_text(f'rule_modules = ["{BAD / "import_error.py"}"]\n', encoding="utf-8")
    expected = (
        f"trailguard: error: {config}: rule_modules: {BAD / 'import_error.py'}: "
        "ModuleNotFoundError: No module named 'trailguard_no_such_module' (line 2)\n"
    )
    for command in (["rules"], ["pattern"], ["scan", str(tmp_path)]):
        code, out, err = run(*command, "--config", str(config))
        assert (code, out, err) == (EXIT_BAD_INPUT, "", expected), command


# -- trailguard test --------------------------------------------------------------------------------


def test_the_rule_authors_events_pass_with_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CUSTOM)
    code, out, err = run("test", "events", "--rules", "rules")
    assert (code, err) == (EXIT_PASSED, "")
    assert out.splitlines() == [
        "PASS  events/bucket_tagged.json: expected custom.bucket-tagged LOW; fired custom.bucket-tagged LOW",
        "PASS  events/bucket_tagging_denied.json: expected nothing; fired nothing",
        "PASS  events/table_delete_not_found.json: expected nothing; fired nothing",
        "PASS  events/table_deleted.json: expected custom.dynamodb-table-deleted MEDIUM; "
        "fired custom.dynamodb-table-deleted MEDIUM",
        "4 passed, 0 failed",
    ]


def test_the_rules_may_come_from_the_configuration_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CUSTOM / "events")
    code, out, err = run("test", ".", "--config", "../trailguard.toml")
    assert (code, err, out.splitlines()[-1]) == (EXIT_PASSED, "", "4 passed, 0 failed")


def test_the_projects_own_events_pass_in_a_real_process() -> None:
    events = TESTS_DIR / "events"
    done = subprocess.run(
        [sys.executable, "-m", "trailguard.cli", "test", str(events)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRAILGUARD_")},
    )
    count = len(list(events.rglob("*.json")))
    assert (done.returncode, done.stderr) == (EXIT_PASSED, "")
    assert done.stdout.splitlines()[-1] == f"{count} passed, 0 failed"
    assert sum(line.startswith("PASS  ") for line in done.stdout.splitlines()) == count


def copy_event(folder: Path, name: str, **changes: object) -> Path:
    document = json.loads((CUSTOM / "events" / f"{name}.json").read_text(encoding="utf-8"))
    document.update(changes)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_an_event_that_fires_other_rules_than_it_expects_fails_with_exit_1(tmp_path: Path) -> None:
    copy_event(tmp_path, "bucket_tagged", expect={"custom.bucket-tagged": "HIGH"})
    copy_event(tmp_path, "bucket_tagging_denied", expect={"custom.bucket-tagged": "LOW"})
    copy_event(tmp_path, "table_deleted", expect={})
    copy_event(tmp_path, "table_delete_not_found")
    code, out, err = run("test", str(tmp_path), "--rules", str(RULES_DIR))
    assert code == EXIT_FAILED
    assert err == "trailguard: warning: custom.dynamodb-table-deleted: no test event expects it to fire\n"
    assert out.splitlines() == [
        f"FAIL  {tmp_path}/bucket_tagged.json: expected custom.bucket-tagged HIGH; fired custom.bucket-tagged LOW",
        "      PutBucketTagging on acme-reports: the README's example rule fires",
        f"FAIL  {tmp_path}/bucket_tagging_denied.json: expected custom.bucket-tagged LOW; fired nothing",
        "      PutBucketTagging that S3 refused (AccessDenied): failed calls fire nothing",
        f"PASS  {tmp_path}/table_delete_not_found.json: expected nothing; fired nothing",
        f"FAIL  {tmp_path}/table_deleted.json: expected nothing; fired custom.dynamodb-table-deleted MEDIUM",
        "      DeleteTable of the orders table: a service no built-in rule watches",
        "1 passed, 3 failed",
    ]


def test_without_its_rules_an_event_says_the_rule_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not from CUSTOM itself: its trailguard.toml, found in the working directory, loads the rules.
    monkeypatch.chdir(CUSTOM / "events")
    code, out, _ = run("test", "bucket_tagged.json", "bucket_tagging_denied.json")
    assert code == EXIT_FAILED
    assert out.splitlines() == [
        "FAIL  bucket_tagged.json: expected custom.bucket-tagged LOW; fired nothing",
        "      PutBucketTagging on acme-reports: the README's example rule fires",
        "      custom.bucket-tagged: no such rule (is its file in --rules, or in the configuration's rule_modules?)",
        "PASS  bucket_tagging_denied.json: expected nothing; fired nothing",
        "1 passed, 1 failed",
    ]


def test_the_working_directorys_configuration_brings_its_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CUSTOM)
    code, out, _ = run("test", "events/bucket_tagged.json")
    assert code == EXIT_PASSED, out
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_a_rule_that_raises_fails_the_event(tmp_path: Path) -> None:
    rules = tmp_path / "raising.py"
    rules.write_text(
        "from trailguard.rules import Severity, rule\n\n\n"
        '@rule(id="custom.raises", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},\n'
        '      title="Raises", description="Raises on every event.", remediation="Fix the rule.")\n'
        "def raises(event, ctx):\n"
        '    raise KeyError("tagSet")\n',
        encoding="utf-8",
    )
    event = copy_event(tmp_path, "bucket_tagged", expect={})
    code, out, err = run("test", str(event), "--rules", str(rules))
    assert code == EXIT_FAILED
    assert out.splitlines()[2] == "      custom.raises raised KeyError: 'tagSet'"
    assert err == "trailguard: warning: custom.raises: no test event expects it to fire\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{", "not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ("[]", "expected a JSON object with description, expect, settings, record, history"),
        (
            '{"description": "x", "expect": {}}',
            "record: expected a CloudTrail record (an object with eventSource and eventName)",
        ),
        (
            '{"description": "x", "expect": {"a.b": "LOUD"}, "record": {}}',
            "expect: a.b: expected a severity (INFO/LOW/MEDIUM/HIGH/CRITICAL), got 'LOUD'",
        ),
        (
            '{"description": "x", "expect": [], "record": {}}',
            "expect: expected an object of rule id -> severity ({} when nothing fires)",
        ),
        (
            '{"description": "", "expect": {}, "record": {}}',
            "description: expected a sentence saying what the event is",
        ),
        (
            '{"description": "x", "expect": {}, "record": {}, "expected": {}}',
            "unknown field 'expected' (known: description, expect, settings, record, history)",
        ),
        (
            '{"description": "x", "expect": {}, "settings": {"colour": 1}, "record": {}}',
            "settings: 'colour' is not a setting an event can have",
        ),
        (
            '{"description": "x", "expect": {}, "settings": {"rule_modules": ["x.py"]}, "record": {}}',
            "settings: 'rule_modules' is not a setting an event can have",
        ),
    ],
)
def test_an_unusable_test_file_is_named_with_the_reason_and_the_others_still_run(
    tmp_path: Path, content: str, reason: str
) -> None:
    copy_event(tmp_path, "table_delete_not_found")
    (tmp_path / "broken.json").write_text(content, encoding="utf-8")
    code, out, err = run("test", str(tmp_path))
    assert code == EXIT_UNUSABLE
    assert err == f"trailguard: error: {tmp_path / 'broken.json'}: {reason}\n"
    assert out.splitlines() == [
        f"PASS  {tmp_path}/table_delete_not_found.json: expected nothing; fired nothing",
        "1 passed, 0 failed, 1 unreadable (see above)",
    ]


def test_bad_settings_in_a_test_event_name_the_file(tmp_path: Path) -> None:
    event = copy_event(tmp_path, "table_delete_not_found", settings={"trusted_accounts": ["12345"]})
    code, _, err = run("test", str(event))
    assert code == EXIT_UNUSABLE
    assert err == (
        f"trailguard: error: {event}: settings: '12345' is not a 12-digit AWS account id (quote it in TOML)\n"
    )


def test_an_events_settings_apply_to_it_alone(tmp_path: Path) -> None:
    copy_event(tmp_path, "bucket_tagged", settings={"disabled_rules": ["custom.*"]}, expect={})
    (tmp_path / "again.json").write_text((CUSTOM / "events" / "bucket_tagged.json").read_text("utf-8"), "utf-8")
    code, out, _ = run("test", str(tmp_path), "--rules", str(RULES_DIR))
    assert code == EXIT_PASSED, out
    assert out.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["missing"], "missing: no such file or directory"),
        (["bad"], "bad: a directory without test events (*.json)"),
        (["events", "--rules", "bad/no_rule.py"], "--rules: bad/no_rule.py: defines no rule"),
        (["events", "--config", "missing.toml"], "config file missing.toml does not exist"),
    ],
)
def test_bad_paths_rules_or_configuration_exit_2_with_one_line(
    argv: list[str], error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CUSTOM)
    code, out, err = run("test", *argv)
    assert (code, out, err) == (EXIT_UNUSABLE, "", f"trailguard: error: {error}\n")


# -- the Lambda ---------------------------------------------------------------------------------------

LAMBDA_SCRIPT = """
import io, json, sys
from trailguard import main
from trailguard.utils import logger
logger.stream = io.StringIO()
results = []
for path in sys.argv[1:]:
    record = json.loads(open(path).read())["record"]
    event = {"detail-type": "AWS API Call via CloudTrail", "source": "aws." + record["eventSource"].split(".")[0],
             "detail": record}
    results.append(main.lambda_handler(event, None))
envelope = {"detail-type": "AWS API Call via CloudTrail", "detail": json.loads(open(sys.argv[1]).read())["record"]}
sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(envelope)}]}
results.append(main.lambda_handler(sqs, None))
print(json.dumps({"results": results, "log": [json.loads(l) for l in logger.stream.getvalue().splitlines()]}))
"""


def lambda_env(tmp_path: Path, rule_modules: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRAILGUARD_")}
    env["TRAILGUARD_RULE_MODULES"] = rule_modules
    env["TRAILGUARD_CHANNELS"] = json.dumps([{"type": "folder", "name": "files", "path": str(tmp_path / "outbox")}])
    return env


def test_the_lambda_loads_the_modules_of_trailguard_rule_modules_and_routes_to_them(tmp_path: Path) -> None:
    """A fresh interpreter, as a cold Lambda container: the lazy engine must still reach a custom
    rule on a service that has no built-in rule module (dynamodb) and one on a service that has (s3)."""
    events = [
        CUSTOM / "events" / f"{name}.json" for name in ("table_deleted", "bucket_tagged", "table_delete_not_found")
    ]
    done = subprocess.run(
        [sys.executable, "-c", LAMBDA_SCRIPT, *map(str, events)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=lambda_env(tmp_path, str(RULES_DIR)),
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout.splitlines()[-1])
    table, bucket, missing, sqs = output["results"]
    assert table["findings"] == [{"rule_id": "custom.dynamodb-table-deleted", "outcome": "delivered"}]
    assert bucket["findings"] == [{"rule_id": "custom.bucket-tagged", "outcome": "delivered"}]
    assert missing["outcome"] == "no_findings"
    assert sqs == {"batchItemFailures": []}  # delivered again: no table, so no deduplication
    alerts = sorted(path.name for path in (tmp_path / "outbox").glob("*.eml"))
    assert len(alerts) == 3
    assert sum("custom.dynamodb-table-deleted" in name for name in alerts) == 2
    summaries = [
        f["resource"] for line in output["log"] if line["message"] == "event" for f in line.get("findings", [])
    ]
    assert summaries == [
        "arn:aws:dynamodb:eu-west-1:111122223333:table/orders",
        "acme-reports",
        "arn:aws:dynamodb:eu-west-1:111122223333:table/orders",
    ]


def test_a_lazy_engine_routes_to_rules_registered_before_it(tmp_path: Path) -> None:
    """Without the loader (which loads every built-in module first): a rule imported by hand, then
    a lazy engine, then a DynamoDB event: the custom rule fires, and only the built-in modules that
    DynamoDB events concern are imported (and the generated manifest, which only lists them)."""
    script = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("mine", {str(RULES_DIR / "table_deleted.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings
record = json.loads(open({str(CUSTOM / "events" / "table_deleted.json")!r}).read())["record"]
findings = Engine(Settings.load(env={{}}), lazy=True).evaluate(record)
handlers = sorted(m for m in sys.modules if m.startswith("trailguard.handlers.") and not m.endswith("._manifest"))
print(json.dumps([[f.rule_id for f in findings], handlers]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    # Only the built-in modules DynamoDB events concern: trailguard's own table is watched by
    # trailguard_handler, which reuses the resource helpers of the eventbridge, lambda and ses modules;
    # and the watchers of every event or finding (baseline, burst, incident, tamper).
    names = ("baseline_handler", "burst_handler", "eventbridge_handler", "incident_handler", "lambda_handler")
    expected = [
        f"trailguard.handlers.{name}" for name in (*names, "ses_handler", "tamper_handler", "trailguard_handler")
    ]
    assert json.loads(done.stdout) == [["custom.dynamodb-table-deleted"], expected]


def test_a_bad_rule_module_fails_the_lambda_with_the_configuration_error(tmp_path: Path) -> None:
    script = LAMBDA_SCRIPT.replace(
        "results.append(main.lambda_handler(event, None))", "main.lambda_handler(event, None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(CUSTOM / "events" / "bucket_tagged.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=lambda_env(tmp_path, str(BAD / "syntax_error.py")),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "trailguard.core.exceptions.ConfigError: environment TRAILGUARD_RULE_MODULES: "
        f"{BAD / 'syntax_error.py'}: SyntaxError: expected ':' (line 3)"
    )
