"""Installing as a user does: `pip install trailguard` alone scans; every AWS path without boto3 (the
`aws` extra) says in one line what to install, exit 2; `--version`; the wheel and sdist build,
pass `twine check` and carry complete metadata."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from trailguard import __version__
from trailguard.core.exceptions import MissingExtraError
from trailguard.utils.aws_helpers import AWS_EXTRA, AwsClients

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
# What the user is told to run: the whole line, so that a reworded message is a decision.
HINT = f"needs boto3, which is not installed: {AWS_EXTRA}"


@pytest.fixture(scope="module")
def without_boto3(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which boto3 and botocore cannot be imported, as after `pip install trailguard`:
    packages of those names first on the path, whose import fails as a missing module's does."""
    shadow = tmp_path_factory.mktemp("no-boto3")
    for name in ("boto3", "botocore"):
        (shadow / name).mkdir()
        (shadow / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n', encoding="utf-8"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAILGUARD_", "AWS_"))}
    env["PYTHONPATH"] = str(shadow)
    return env


def cli(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trailguard", *argv],
        env=env,
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shadow_really_hides_boto3(without_boto3: dict[str, str], tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import boto3"],
        env=without_boto3,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 1
    assert "ModuleNotFoundError" in probe.stderr


def test_a_scan_needs_no_boto3(without_boto3: dict[str, str], tmp_path: Path) -> None:
    result = cli(without_boto3, tmp_path, "scan", str(SAMPLES), "--no-progress", "--outbox", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr  # findings
    assert "CRITICAL" in result.stdout
    assert list((tmp_path / "out").glob("*.eml"))
    assert "Traceback" not in result.stderr


SES = '[[channels]]\ntype = "ses"\nname = "mail"\nsender = "alerts@example.com"\nrecipients = ["sec@example.com"]\n'
SNS = '[[channels]]\ntype = "sns"\nname = "topic"\ntopic_arn = "arn:aws:sns:eu-west-1:111122223333:alerts"\n'
SMTP = (
    '[[channels]]\ntype = "smtp"\nname = "mail"\nsender = "alerts@example.com"\nrecipients = ["sec@example.com"]\n'
    'secret_id = "trailguard/smtp"\n'
)
SLACK_SECRET = '[[channels]]\ntype = "slack"\nname = "chat"\nwebhook_secret_id = "trailguard/slack"\n'
WEBHOOK_HMAC = (
    '[[channels]]\ntype = "webhook"\nname = "hook"\nurl = "https://hooks.example.com/x"\n'
    'hmac_secret_id = "trailguard/hmac"\n'
)
FOLDER = '[[channels]]\ntype = "folder"\nname = "files"\npath = "alerts"\n'
TABLE = 'table_name = "trailguard-state"\n'

AWS_PATHS = [
    pytest.param(SES, ["scan", "--notify"], "ses channel 'mail'", id="scan-notify-ses"),
    pytest.param(SNS, ["scan", "--notify"], "sns channel 'topic'", id="scan-notify-sns"),
    pytest.param(SMTP, ["scan", "--notify"], "secret_id is read from Secrets Manager", id="scan-notify-smtp-secret"),
    pytest.param(SLACK_SECRET, ["scan", "--notify"], "slack channel 'chat'", id="scan-notify-slack-secret"),
    pytest.param(WEBHOOK_HMAC, ["scan", "--notify"], "webhook channel 'hook'", id="scan-notify-webhook-hmac"),
    pytest.param(TABLE + FOLDER, ["scan", "--notify"], "the state in DynamoDB", id="scan-notify-dynamodb"),
    pytest.param(SES, ["send-test", "--channel", "mail"], "ses channel 'mail'", id="send-test-ses"),
    pytest.param(SNS, ["send-test", "--channel", "topic"], "sns channel 'topic'", id="send-test-sns"),
    pytest.param(SMTP, ["send-test", "--channel", "mail"], "Secrets Manager", id="send-test-smtp"),
]


@pytest.mark.parametrize(("config", "command", "what"), AWS_PATHS)
def test_every_aws_path_without_boto3_says_what_to_install(
    without_boto3: dict[str, str], tmp_path: Path, config: str, command: list[str], what: str
) -> None:
    (tmp_path / "trailguard.toml").write_text(config, encoding="utf-8")
    paths = [str(SAMPLES)] if command[0] == "scan" else []
    result = cli(without_boto3, tmp_path, command[0], *paths, *command[1:], "--config", "trailguard.toml")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # stopped before any event was read
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trailguard: error: ")
    assert what in lines[0]
    assert lines[0].endswith(HINT)


def test_the_same_configuration_scans_without_notify(without_boto3: dict[str, str], tmp_path: Path) -> None:
    # A Lambda's configuration used offline: its AWS channels are checked, not used, so no boto3 needed.
    (tmp_path / "trailguard.toml").write_text(TABLE + SES, encoding="utf-8")
    result = cli(without_boto3, tmp_path, "scan", str(SAMPLES), "--no-progress", "--config", "trailguard.toml")
    assert result.returncode == 1, result.stderr


def test_an_aws_client_without_boto3_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever path reaches AWS without a check first (the Lambda's table): the same error, not a traceback.
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` now raises ImportError
    with pytest.raises(MissingExtraError, match=r"AWS \(dynamodb\) needs boto3.*trailguard\[aws\]"):
        AwsClients(region="eu-west-1").client("dynamodb")


def test_version_and_help(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILGUARD_")}
    version = cli(env, tmp_path, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"trailguard {__version__}")
    bare = cli(env, tmp_path)
    assert bare.returncode == 0
    assert bare.stdout.startswith("usage: trailguard")
    for command in ("scan", "rules", "pattern", "render", "send-test", "test"):
        assert command in bare.stdout


def test_the_version_is_the_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == __version__


# --------------------------------------------------------------------------------------------
# The distributions
# --------------------------------------------------------------------------------------------


# What a clone has that is not the project's: left out of the copy the distributions are built from.
NOT_SOURCE = (".git", ".venv*", "*cache*", ".hypothesis", "build", "dist", "*.egg-info", "outbox", ".bench")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and wheel `python -m build` makes (without isolation: the dev extra has setuptools, so
    nothing is downloaded), built from a copy so that the worktree gets no build/ or egg-info."""
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "trailguard"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert time.monotonic() - started < 120
    (sdist,) = out.glob("trailguard-*.tar.gz")
    (wheel,) = out.glob("trailguard-*.whl")
    return sdist, wheel


def test_twine_check_passes(dist: tuple[Path, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))


def test_the_wheel_metadata_is_complete(dist: tuple[Path, Path]) -> None:
    metadata = wheel_metadata(dist[1])
    assert metadata["Name"] == "trailguard"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    assert "cloudtrail" in metadata["Keywords"].split(",")
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL", []))
    assert {"Homepage", "Repository", "Issues", "Changelog", "Documentation"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = metadata.get_all("Classifier", [])
    assert "Topic :: Security" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert str(metadata.get_payload()).startswith("# trailguard")
    # boto3 is the aws extra's, never an unconditional dependency: `pip install trailguard` scans without it.
    requires = metadata.get_all("Requires-Dist", [])
    boto = [r for r in requires if r.startswith("boto3")]
    assert boto and all('extra == "aws"' in r for r in boto), requires
    assert "aws" in metadata.get_all("Provides-Extra", [])


def test_the_wheel_carries_the_data_and_the_command(dist: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(dist[1]) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "trailguard = trailguard.cli:main" in archive.read(entry_points).decode()
    for wanted in (
        "trailguard/py.typed",
        "trailguard/data/examples.jsonl",
        "trailguard/handlers/_manifest.py",
        "trailguard/schemas/finding.schema.json",  # `trailguard schema`
        "trailguard/schemas/webhook.schema.json",
    ):
        assert wanted in names
    assert any(n.startswith("trailguard/services/templates/") for n in names)
    # `trailguard dashboard` serves its page from the package: the wheel must carry it.
    for asset in ("index.html", "app.js", "app.css", "favicon.svg"):
        assert f"trailguard/dashboard/assets/{asset}" in names, asset
    assert not any(n.startswith(("tests/", "samples/")) for n in names)


def test_the_sdist_builds_the_same_package(dist: tuple[Path, Path]) -> None:
    with tarfile.open(dist[0]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in ("pyproject.toml", "README.md", "LICENSE", "src/trailguard/cli.py", "src/trailguard/py.typed"):
        assert wanted in names
