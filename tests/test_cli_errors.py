"""The CLI never shows a traceback: every command with every wrong argument ends in one line, exit 2.

Arguments name things in a scratch folder: ``{file}`` (a file), ``{dir}`` (a folder), ``{ro}`` (a
folder where nothing can be created even by root: /sys refuses mkdir), ``{toml}`` (a good
configuration with one folder channel), and so on.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trailguard.cli import EXIT_BAD_INPUT, main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
READ_ONLY = "/sys/trailguard-cannot-write-here"

# (argv, a piece of the one error line); ids say what is wrong.
BAD_ARGUMENTS = {
    "no-such-command": (["frobnicate"], "invalid choice"),
    "unknown-option": (["--bogus"], "unrecognized arguments"),
    # scan
    "scan-no-path": (["scan"], "required: PATH"),
    "scan-jobs-zero": (["scan", "{samples}", "--jobs", "0"], "--jobs must be between 1 and 256"),
    "scan-jobs-huge": (["scan", "{samples}", "--jobs", "100000"], "--jobs must be between 1 and 256"),
    "scan-jobs-word": (["scan", "{samples}", "--jobs", "many"], "not a whole number"),
    "scan-format": (["scan", "{samples}", "--format", "xml"], "invalid choice"),
    "scan-severity": (["scan", "{samples}", "--min-severity", "URGENT"], "unknown severity"),
    "scan-colour": (["scan", "{samples}", "--color", "purple"], "invalid choice"),
    "scan-rule-typo": (
        ["scan", "{samples}", "--rule", "iam.acess-key-created"],
        "did you mean 'iam.access-key-created'",
    ),
    "scan-rule-unknown": (["scan", "{samples}", "--rule", "nothing.like-this"], "matches no rule id"),
    "scan-config-missing": (["scan", "{samples}", "--config", "{dir}/missing.toml"], "does not exist"),
    "scan-config-is-a-folder": (["scan", "{samples}", "--config", "{dir}"], "cannot be read"),
    "scan-config-unknown-key": (["scan", "{samples}", "--config", "{typo_toml}"], "unknown key 'allowed_port'"),
    "scan-state-is-a-folder": (["scan", "{samples}", "--state", "{dir}"], "state file"),
    "scan-state-under-a-file": (["scan", "{samples}", "--state", "{file}/state.db"], "state file"),
    "scan-state-read-only": (["scan", "{samples}", "--state", READ_ONLY + "/state.db"], "state file"),
    "scan-outbox-is-a-file": (["scan", "{samples}", "--outbox", "{file}"], "is a file, not a folder"),
    "scan-outbox-under-a-file": (["scan", "{samples}", "--outbox", "{file}/alerts"], "cannot write to folder"),
    "scan-outbox-read-only": (["scan", "{samples}", "--outbox", READ_ONLY], "cannot write to folder"),
    "scan-notify-no-channel": (["scan", "{samples}", "--notify", "--config", "{empty_toml}"], "no channel"),
    "scan-notify-read-only-folder": (["scan", "{samples}", "--notify", "--config", "{ro_toml}"], "cannot write"),
    # render
    "render-out-is-a-file": (["render", "--out", "{file}"], "is a file, not a folder"),
    "render-out-read-only": (["render", "--out", READ_ONLY], "cannot write to folder"),
    "render-rule-typo": (["render", "--rule", "s3.bucket-publc"], "did you mean 's3.bucket-acl-public'"),
    # send-test
    "send-test-no-channel-option": (["send-test"], "required: --channel"),
    "send-test-unknown-channel": (["send-test", "--channel", "pager", "--config", "{toml}"], "no channel named"),
    "send-test-rule-typo": (
        ["send-test", "--channel", "files", "--rule", "sg.ingres-open-to-world", "--config", "{toml}"],
        "did you mean 'sg.ingress-open-to-world'",
    ),
    "send-test-read-only-folder": (["send-test", "--channel", "files", "--config", "{ro_toml}"], "cannot write"),
    "send-test-config-missing": (["send-test", "--channel", "x", "--config", "{dir}/missing.toml"], "does not exist"),
    # rules
    "rules-format": (["rules", "--format", "xml"], "invalid choice"),
    "rules-config-is-a-folder": (["rules", "--config", "{dir}"], "cannot be read"),
    # pattern
    "pattern-size-zero": (["pattern", "--max-size", "0"], "positive number"),
    "pattern-size-negative": (["pattern", "--max-size", "-5"], "positive number"),
    "pattern-size-too-small": (["pattern", "--max-size", "10"], "does not fit a 10-character pattern"),
    "pattern-size-word": (["pattern", "--max-size", "big"], "not a whole number"),
    "pattern-config-missing": (["pattern", "--config", "{dir}/missing.toml"], "does not exist"),
    # test
    "test-no-path": (["test"], "required: PATH"),
    "test-missing-path": (["test", "{dir}/missing.json"], "no such file or directory"),
    "test-folder-without-events": (["test", "{dir}"], "a directory without test events"),
    "test-not-json": (["test", "{file}"], "not valid JSON"),
    "test-rules-missing": (["test", "{dir}", "--rules", "{dir}/missing.py"], "--rules"),
    "test-rules-not-python": (["test", "{dir}", "--rules", "{file}"], "not a Python file"),
    "test-config-missing": (["test", "{dir}", "--config", "{dir}/missing.toml"], "does not exist"),
    # config
    "config-no-action": (["config"], "required: ACTION"),
    "config-check-no-file": (["config", "check"], "required: FILE"),
    "config-check-missing": (["config", "check", "{dir}/missing.toml"], "does not exist"),
    "config-check-is-a-folder": (["config", "check", "{dir}"], "cannot be read"),
    "config-check-unknown-key": (["config", "check", "{typo_toml}"], "unknown key 'allowed_port'"),
    "config-check-not-toml": (["config", "check", "{file}"], "not valid TOML"),
}


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./trailguard.toml here: every test names its configuration
    folder = tmp_path / "folder"
    folder.mkdir()
    file = tmp_path / "file.txt"
    file.write_text("not a folder\n", encoding="utf-8")
    configs = {
        "toml": f'[[channels]]\ntype = "folder"\nname = "files"\npath = "{tmp_path / "alerts"}"\n',
        "ro_toml": f'[[channels]]\ntype = "folder"\nname = "files"\npath = "{READ_ONLY}"\n',
        "empty_toml": "min_severity = 'LOW'\n",
        "typo_toml": "allowed_port = [22]\n",
    }
    places = {"samples": str(SAMPLES), "dir": str(folder), "file": str(file)}
    for name, text in configs.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        places[name] = str(path)
    return places


def test_the_read_only_place_is_read_only_even_for_root() -> None:
    with pytest.raises(OSError):  # EPERM or EACCES, whichever the kernel says
        Path(READ_ONLY).mkdir()


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_each_bad_argument_is_one_line_and_exit_2(case: str, places: dict[str, str]) -> None:
    argv, expected = BAD_ARGUMENTS[case]
    out, err = io.StringIO(), io.StringIO()
    code = main([arg.format(**places) for arg in argv], stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    assert code == EXIT_BAD_INPUT, err.getvalue()
    assert len(lines) == 1, err.getvalue()
    assert lines[0].startswith("trailguard"), lines[0]
    assert "error" in lines[0]
    assert "internal error" not in lines[0]  # the catch-all for bugs: a wrong argument is not one
    assert expected in lines[0]
    if argv[0] != "test":  # whose summary counts an unreadable test file (stdout, by design)
        assert out.getvalue() == ""  # nothing was done


def test_a_bug_is_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from trailguard import cli

    def broken(*_args: object) -> int:
        raise KeyError("something trailguard did not expect")

    monkeypatch.setattr(cli, "run_rules", broken)
    err = io.StringIO()
    assert main(["rules"], stdout=io.StringIO(), stderr=err) == EXIT_BAD_INPUT
    (line,) = err.getvalue().splitlines()
    assert line.startswith("trailguard: internal error: KeyError:")
    assert "please report it" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", str(SAMPLES), "--outbox", READ_ONLY],
        ["render", "--out", READ_ONLY],
        ["pattern", "--max-size", "10"],
        ["scan", str(SAMPLES), "--rule", "iam.acess-key-created"],
    ],
    ids=["scan", "render", "pattern", "rule"],
)
def test_no_traceback_from_the_installed_command(argv: list[str], tmp_path: Path) -> None:
    # The real process: what a user's terminal shows, interpreter and all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILGUARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "trailguard", *argv],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
