"""The Lambda Layer (``scripts/build_layer.py``, ``make layer``): built for python3.14 on arm64 and
x86_64 from this machine's Python with pip's cross-platform options, then opened and checked as the
Lambda runtime will see it. pip downloads from PyPI into its cache (~/.cache/pip): a build takes a
few seconds once the wheels are cached.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

import pytest

from trailguard.core.base_handler import REGISTRY

from .conftest import DATA_DIR, EVENTS_DIR, TESTS_DIR

ROOT = TESTS_DIR.parent
SCRIPT = ROOT / "scripts" / "build_layer.py"
SOURCE = ROOT / "src" / "trailguard"
TARGET_PYTHON = "3.14"
# Lambda's architecture -> (machine in wheel tags and .so names, ELF e_machine).
ARCHES = {"arm64": ("aarch64", 0xB7), "x86_64": ("x86_64", 0x3E)}
BINARY_DISTRIBUTIONS = {"isal", "markupsafe", "msgspec"}
PURE_DISTRIBUTIONS = {"jinja2", "trailguard"}
# python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34); python3.11 on Amazon Linux 2 (2.26).
GLIBC = {"3.14": (2, 34), "3.11": (2, 26)}
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MB: the function and all its layers, unzipped
WORLD_OPEN_SSH = EVENTS_DIR / "security_group" / "ingress_ssh_world_simplified.json"

ACCESS_KEY = re.compile(rb"(?:AKIA|ASIA)[0-9A-Z]{16}")
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
SECRET_ASSIGNMENT = re.compile(rb"(?i)aws_secret_access_key\s*[=:]\s*\S")
SECRET_NAMES = {".env", "credentials", ".netrc", ".pypirc", "id_rsa", "id_ecdsa", "id_ed25519"}
SECRET_SUFFIXES = {".pem", ".key", ".p12", ".pfx", ".jks"}


@dataclass(frozen=True)
class BuiltLayer:
    arch: str
    path: Path
    output: str
    seconds: float


def run_build(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltLayer]:
    built = {}
    for arch in ARCHES:
        out = tmp_path_factory.mktemp(f"layer-{arch}") / "layer.zip"
        started = time.monotonic()
        done = run_build(out, "--python", TARGET_PYTHON, "--arch", arch)
        assert done.returncode == 0, done.stdout + done.stderr
        built[arch] = BuiltLayer(arch, out, done.stdout, time.monotonic() - started)
        print(f"built the {arch} layer in {built[arch].seconds:.1f} s:\n{done.stdout}")
    return built


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def dist_infos(files: dict[str, bytes]) -> dict[str, tuple[str, str, list[str]]]:
    """canonical name -> (name, version, wheel tags) for each ``python/*.dist-info`` in the zip."""
    found = {}
    for name, data in files.items():
        parts = PurePosixPath(name).parts
        if len(parts) == 3 and parts[1].endswith(".dist-info") and parts[2] == "METADATA":
            metadata = HeaderParser().parsestr(data.decode("utf-8"))
            wheel = files.get(f"python/{parts[1]}/WHEEL")
            tags = []
            if wheel is not None:  # every wheel has one; trailguard's copy from src/ does not
                tags = HeaderParser().parsestr(wheel.decode("utf-8")).get_all("Tag") or []
            canonical = re.sub(r"[-_.]+", "-", str(metadata["Name"])).lower()
            found[canonical] = (str(metadata["Name"]), str(metadata["Version"]), [str(t) for t in tags])
    return found


def glibc_of(platform: str) -> tuple[int, int] | None:
    legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
    for prefix, version in legacy.items():
        if platform.startswith(prefix + "_"):
            return version
    match = re.match(r"manylinux_(\d+)_(\d+)_", platform)
    return (int(match[1]), int(match[2])) if match else None


def loads_on(tag: str, python: str, machine: str) -> bool:
    """Would a wheel with this tag be installed on CPython ``python`` on Linux ``machine``?"""
    interpreter, abi, platform = tag.split("-")
    version = python.replace(".", "")
    cp_ok = (interpreter, abi) == (f"cp{version}", f"cp{version}") or (
        abi == "abi3" and interpreter.startswith("cp3") and int(interpreter[3:]) <= int(version[1:])
    )
    glibc = glibc_of(platform)
    return cp_ok and platform.endswith("_" + machine) and glibc is not None and glibc <= GLIBC[python]


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 2, "not a 64-bit ELF file"  # EI_CLASS: Lambda runs 64-bit only
    # e_machine, in the byte order EI_DATA names (1: little-endian).
    return int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")


def expected_package_files() -> set[str]:
    """What a wheel of the package holds: modules plus the package data pyproject.toml declares."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["trailguard"]
    files = {p for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts}
    for pattern in patterns:
        files.update(p for p in SOURCE.glob(pattern) if p.is_file())
    return {p.relative_to(SOURCE).as_posix() for p in files}


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_layout_holds_the_package_and_its_data(layers: dict[str, BuiltLayer], arch: str) -> None:
    files = read_zip(layers[arch].path)
    assert all(name.startswith("python/") for name in files)  # Lambda puts /opt/python on sys.path
    for needed in (
        "trailguard/__init__.py",
        "trailguard/main.py",
        "trailguard/data/examples.jsonl",
        "trailguard/services/templates/finding.html",
        "trailguard/services/templates/finding.txt",
        "trailguard/services/templates/digest.html",
        "trailguard/handlers/security_group_handler.py",
    ):
        assert f"python/{needed}" in files, needed
    shipped = {name.removeprefix("python/trailguard/") for name in files if name.startswith("python/trailguard/")}
    assert shipped == expected_package_files()
    for relative in shipped:  # the very bytes of src/, not a stale or rewritten copy
        assert files[f"python/trailguard/{relative}"] == (SOURCE / relative).read_bytes(), relative
    top_level = {PurePosixPath(name).parts[1] for name in files}
    packages = {entry for entry in top_level if not entry.endswith(".dist-info")}
    assert packages == {"trailguard", "isal", "jinja2", "markupsafe", "msgspec"}
    assert set(dist_infos(files)) == BINARY_DISTRIBUTIONS | PURE_DISTRIBUTIONS
    # Licences travel with the code they cover.
    for distribution in BINARY_DISTRIBUTIONS | PURE_DISTRIBUTIONS:
        assert any("/licenses/" in n and n.split("/")[1].lower().startswith(distribution) for n in files), distribution


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_binary_wheels_are_for_the_target_runtime(layers: dict[str, BuiltLayer], arch: str) -> None:
    machine, e_machine = ARCHES[arch]
    files = read_zip(layers[arch].path)
    distributions = dist_infos(files)
    for canonical, (name, _, tags) in distributions.items():
        if canonical == "trailguard":
            continue  # copied from src/, not a wheel
        if canonical in BINARY_DISTRIBUTIONS:
            assert any(loads_on(tag, TARGET_PYTHON, machine) for tag in tags), (name, tags)
            assert not any(tag.endswith("-any") for tag in tags), (name, tags)
        else:
            assert tags == ["py3-none-any"], (name, tags)
    shared_objects = {name: data for name, data in files.items() if name.endswith(".so")}
    owners = {PurePosixPath(name).parts[1] for name in shared_objects}
    assert owners == BINARY_DISTRIBUTIONS
    for name, data in shared_objects.items():
        assert name.endswith(f".cpython-{TARGET_PYTHON.replace('.', '')}-{machine}-linux-gnu.so"), name
        assert elf_machine(data) == e_machine, name


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_nothing_that_does_not_belong(layers: dict[str, BuiltLayer], arch: str) -> None:
    files = read_zip(layers[arch].path)
    for name, data in files.items():
        path = PurePosixPath(name)
        top = path.parts[1].split("-")[0].lower()
        assert top not in {d.replace("-", "_") for d in RUNTIME_DISTRIBUTIONS}, name
        assert not {"tests", "test", "__pycache__", "bin"} & set(path.parts[:-1]), name
        assert not re.fullmatch(r"test_.*\.py|.*_test\.py|conftest\.py", path.name), name
        assert path.suffix not in {".pyc", ".pyo"}, name
        assert path.name not in {"direct_url.json", "REQUESTED"}, name
        assert path.name.lower() not in SECRET_NAMES and not path.name.startswith(".env"), name
        assert path.suffix.lower() not in SECRET_SUFFIXES, name
        # Documentation keys (AKIAIOSFODNN7EXAMPLE) and the examples' made-up ones say so.
        for key in ACCESS_KEY.findall(data):
            assert b"XAMPL" in key, (name, key)
        assert not PRIVATE_KEY.search(data), name
        assert not SECRET_ASSIGNMENT.search(data), name
        # Nothing of the build machine: its checkout or the build's temporary folder.
        assert str(ROOT).encode() not in data, name
        assert b"trailguard-layer-" not in data, name


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_sizes_are_printed_and_under_lambdas_limit(layers: dict[str, BuiltLayer], arch: str) -> None:
    layer = layers[arch]
    with zipfile.ZipFile(layer.path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    zipped = layer.path.stat().st_size
    print(f"{arch}: {zipped:,} bytes zipped, {unzipped:,} unzipped, built in {layer.seconds:.1f} s")
    assert re.search(rf"zipped\s+{zipped:,} bytes", layer.output)
    assert re.search(rf"unzipped\s+{unzipped:,} bytes", layer.output)
    assert unzipped < LAMBDA_UNZIPPED_LIMIT
    # The code and three small wheels: a jump means something unwanted got in.
    assert unzipped < 20_000_000


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_printed_distributions_are_what_the_zip_holds(layers: dict[str, BuiltLayer], arch: str) -> None:
    output = layers[arch].output
    printed = set(re.findall(r"^ {4}(\S+) (\S+)  \[", output, flags=re.MULTILINE))
    in_zip = {(name, version) for name, version, _ in dist_infos(read_zip(layers[arch].path)).values()}
    assert printed == in_zip
    assert "not bundled: boto3, botocore" in output


def test_the_zip_is_deterministic(layers: dict[str, BuiltLayer], tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    done = run_build(again, "--python", TARGET_PYTHON, "--arch", "arm64")
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == layers["arm64"].path.read_bytes()
    with zipfile.ZipFile(again) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def write_wheel(folder: Path, name: str, requires: list[str]) -> Path:
    """A tiny pure wheel whose dependencies pull in the runtime's own packages."""
    module = name.replace("-", "_")
    entries = {
        f"{module}/__init__.py": b"import boto3\n",
        f"{module}-1.0.dist-info/METADATA": "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires), ""]
        ).encode(),
        f"{module}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in entries.items()
    )
    wheel = folder / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
        archive.writestr(f"{module}-1.0.dist-info/RECORD", record + f"{module}-1.0.dist-info/RECORD,,\n")
    return wheel


def test_runtime_packages_pulled_in_by_a_dependency_are_left_out(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "needs-boto", ["boto3>=1.34", "markupsafe>=2"])
    out = tmp_path / "layer.zip"
    done = run_build(out, "--arch", "x86_64", "--with", f"needs-boto @ {wheel.as_uri()}")
    assert done.returncode == 0, done.stderr
    distributions = set(dist_infos(read_zip(out)))
    assert distributions == BINARY_DISTRIBUTIONS | PURE_DISTRIBUTIONS | {"needs-boto"}
    # pip did install them (boto3 needs them): the build dropped them, and says so.
    for dropped in ("boto3", "botocore", "s3transfer", "jmespath", "urllib3"):
        assert re.search(rf"^not bundled: {dropped} ", done.stdout, flags=re.MULTILINE), dropped


def test_compiling_with_another_python_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "layer.zip"
    done = run_build(out, "--python", TARGET_PYTHON, "--compile-with", sys.executable)
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert done.returncode == 1
    assert f"is Python {this}, not the target {TARGET_PYTHON}" in done.stderr
    assert not out.exists()


def test_compiling_with_the_target_python_ships_its_pyc(tmp_path: Path) -> None:
    """This machine's Python stands in for the target: the layer is then built for it, .pyc included."""
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    if this not in GLIBC:
        pytest.skip(f"no runtime glibc known here for python{this}")
    out = tmp_path / "layer.zip"
    done = run_build(out, "--python", this, "--arch", "x86_64", "--compile-with", sys.executable)
    assert done.returncode == 0, done.stderr
    files = read_zip(out)
    sources = [name for name in files if name.endswith(".py")]
    assert sources
    tag = sys.implementation.cache_tag
    for source in sources:
        path = PurePosixPath(source)
        pyc = files.get(str(path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc"))
        assert pyc is not None, source
        assert pyc[:4] == importlib.util.MAGIC_NUMBER, source
        # Flags 0b01: hash-based and unchecked, so the fixed zip timestamps never invalidate it.
        assert int.from_bytes(pyc[4:8], "little") == 0b01, source
    for _, _, tags in dist_infos(files).values():
        if tags != ["py3-none-any"] and tags:
            assert any(loads_on(t, this, "x86_64") for t in tags), tags


def test_packaged_source_runs_from_the_layer(layers: dict[str, BuiltLayer], tmp_path: Path) -> None:
    """The cp314 binaries cannot load on this Python, so they come from the project's venv; the
    layer's own copy of trailguard comes first on sys.path: a module or data file missing from the
    zip fails here even though src/ has it."""
    with zipfile.ZipFile(layers["x86_64"].path) as archive:
        archive.extractall(tmp_path / "layer")
    layer_site = tmp_path / "layer" / "python"
    only_trailguard = tmp_path / "trailguard-only"
    only_trailguard.mkdir()
    for entry in [layer_site / "trailguard", *layer_site.glob("trailguard-*.dist-info")]:
        entry.rename(only_trailguard / entry.name)
    case = json.loads(WORLD_OPEN_SSH.read_text(encoding="utf-8"))
    event = {
        "version": "0",
        "id": "0f7c5a3e-5b0e-4c43-9d5e-2a1b3c4d5e6f",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": case["record"]["recipientAccountId"],
        "time": case["record"]["eventTime"],
        "region": case["record"]["awsRegion"],
        "resources": [],
        "detail": case["record"],
    }
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    script = textwrap.dedent(
        """
        import json, sys
        from importlib import metadata
        from pathlib import Path

        import msgspec
        import trailguard
        import trailguard.main
        from trailguard.core.base_handler import REGISTRY
        from trailguard.core.engine import Engine
        from trailguard.core.settings import Settings
        from trailguard.examples import example_records
        from trailguard.services.alerts import Alert
        from trailguard.services.rendering.email import render_email

        event = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
        findings = Engine(Settings.load(env={}), lazy=True).evaluate(event["detail"])
        email = render_email(Alert(tuple(findings[:1])))
        rules = sorted(rule.id for rule in REGISTRY.all())  # imports every handler module
        modules = sorted(
            module.__file__ for name, module in list(sys.modules.items())
            if name.split(".")[0] == "trailguard" and getattr(module, "__file__", None)
        )
        print(json.dumps({
            "handler": callable(getattr(trailguard.main, "lambda_handler", None)),
            "modules": modules,
            "msgspec": msgspec.__file__,
            "version": metadata.version("trailguard"),
            "findings": {f.rule_id: f.severity.name for f in findings},
            "subject": email.subject,
            "html": email.html,
            "examples": len(example_records()),
            "rules": rules,
        }))
        """
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TRAILGUARD_")}
    environment["PYTHONPATH"] = str(only_trailguard)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script, str(event_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    layer_root = str(only_trailguard.resolve())
    assert result["handler"] is True
    assert len(result["modules"]) > 20
    for module in result["modules"]:
        assert str(Path(module).resolve()).startswith(layer_root), module
    assert not result["msgspec"].startswith(str(tmp_path))  # the binaries are this venv's
    assert (
        result["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    )
    assert result["findings"] == case["expect"]
    group = case["record"]["requestParameters"]["groupId"]
    assert group in result["subject"] and group in result["html"]
    examples = (SOURCE / "data" / "examples.jsonl").read_text(encoding="utf-8")
    assert result["examples"] == sum(1 for line in examples.splitlines() if line.strip())
    assert result["rules"] == sorted(rule.id for rule in REGISTRY.all())


CUSTOM_RULES = DATA_DIR / "custom_rules"


def test_rules_are_bundled_and_found_by_the_function_from_the_layer(tmp_path: Path) -> None:
    """`make layer RULES=<dir>`: the directory's rule files (not its _-prefixed ones) become
    python/trailguard_rules/, and the layer's trailguard loads them from where the layer puts them."""
    out = tmp_path / "layer.zip"
    done = run_build(out, "--arch", "x86_64", "--rules", str(CUSTOM_RULES / "rules"))
    assert done.returncode == 0, done.stderr
    files = read_zip(out)
    bundled = {name for name in files if name.startswith("python/trailguard_rules/")}
    assert bundled == {"python/trailguard_rules/bucket_tagged.py", "python/trailguard_rules/table_deleted.py"}
    for name in bundled:
        assert files[name] == (CUSTOM_RULES / "rules" / PurePosixPath(name).name).read_bytes()
    assert "your rules, in python/trailguard_rules/: bucket_tagged.py, table_deleted.py" in done.stdout
    assert "TRAILGUARD_RULE_MODULES=/opt/python/trailguard_rules" in done.stdout

    # As in test_packaged_source_runs_from_the_layer: the layer's pure Python, this venv's binaries.
    with zipfile.ZipFile(out) as archive:
        archive.extractall(tmp_path / "layer")
    opt_python = tmp_path / "opt-python"
    opt_python.mkdir()
    for entry in ("trailguard", "trailguard_rules"):
        (tmp_path / "layer" / "python" / entry).rename(opt_python / entry)
    record = json.loads((CUSTOM_RULES / "events" / "table_deleted.json").read_text(encoding="utf-8"))["record"]
    script = textwrap.dedent(
        f"""
        import io, json, sys
        import trailguard.main as main
        from trailguard.utils import logger
        logger.stream = io.StringIO()
        result = main.lambda_handler({{"detail-type": "AWS API Call via CloudTrail", "detail": {record!r}}}, None)
        print(json.dumps([result["findings"], main.__file__]))
        """
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TRAILGUARD_")}
    environment.update(
        PYTHONPATH=str(opt_python),
        PYTHONDONTWRITEBYTECODE="1",
        TRAILGUARD_RULE_MODULES=str(opt_python / "trailguard_rules"),
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, env=environment
    )
    assert ran.returncode == 0, ran.stderr
    findings, main_file = json.loads(ran.stdout.splitlines()[-1])
    assert findings == [{"rule_id": "custom.dynamodb-table-deleted", "outcome": "unrouted"}]
    assert Path(main_file).is_relative_to(opt_python)


def test_a_broken_rule_file_stops_the_build_before_anything_is_built(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ok.py").write_bytes((CUSTOM_RULES / "rules" / "bucket_tagged.py").read_bytes())
    (rules / "typo.py").write_bytes((CUSTOM_RULES / "bad" / "syntax_error.py").read_bytes())
    out = tmp_path / "layer.zip"
    done = run_build(out, "--rules", str(rules))
    assert done.returncode == 1
    assert done.stderr == f"build_layer: --rules {rules}: {rules / 'typo.py'}: SyntaxError: expected ':' (line 3)\n"
    assert done.stdout == ""
    assert not out.exists()
