"""Build the Lambda Layer: ``python/trailguard/...`` plus its runtime dependencies, as a zip.

    python scripts/build_layer.py [--python 3.14] [--arch arm64|x86_64] [--out dist/layer.zip] [--rules DIR]

The dependencies are installed by pip for the *target* (CPython of ``--python`` on Linux, the
manylinux tags the Lambda runtime's glibc accepts), never for the interpreter running this script:
the layer builds the same on any machine with Python 3.11+. boto3 and botocore come with the Lambda
runtime and are never bundled: a second copy would cost size and shadow the runtime's, and so are
the packages only they need.

No ``.pyc`` is shipped unless ``--compile-with`` names an interpreter of the target version: a
``.pyc`` written by another version is dead weight that the runtime ignores. The zip is
deterministic (sorted entries, fixed timestamps and permissions), so an unchanged tree rebuilds to
the same bytes.

``--rules DIR`` (``make layer RULES=DIR``) bundles your own rule files, the ``*.py`` files of DIR
that trailguard would load from it, as ``python/trailguard_rules/``: the function then finds them with
``TRAILGUARD_RULE_MODULES=/opt/python/trailguard_rules`` (the stack's ``RuleModules`` parameter).
They are loaded here first, so that a broken rule file stops the build rather than the function.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "trailguard"

# Lambda's architecture names -> the machine in wheel tags and ELF headers.
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
# The runtime's C library bounds the manylinux tags that load there: python3.12 and later run on
# Amazon Linux 2023 (glibc 2.34), python3.11 and older on Amazon Linux 2 (glibc 2.26).
GLIBC_AL2023 = (2, 34)
GLIBC_AL2 = (2, 26)
# The oldest tag pip has to be offered: manylinux2014 is glibc 2.17 (pip adds 2010 and 1 itself).
GLIBC_OLDEST_MINOR = 17
# Provided by every Python Lambda runtime. Their own dependencies are dropped as well unless
# something else in the layer needs them (see ``required_distributions``).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})
# Lambda's limit on a function with all its layers, unzipped (250 MB).
LAMBDA_UNZIPPED_LIMIT = 262_144_000
# Zip's epoch, unless SOURCE_DATE_EPOCH asks for another fixed time (reproducible-builds.org).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Installer leftovers: REQUESTED says nothing, direct_url.json records this machine's paths.
DIST_INFO_JUNK = frozenset({"REQUESTED", "direct_url.json"})
# Not used at run time: caches, type stubs, and the test suites some wheels carry.
JUNK_SUFFIXES = frozenset({".pyc", ".pyo", ".pyi"})
TEST_DIRS = frozenset({"tests", "test"})
# Where --rules puts your rule files, in the layer and as the function sees it (layers unzip in /opt).
RULES_PACKAGE = "trailguard_rules"
FUNCTION_RULES_PATH = f"/opt/python/{RULES_PACKAGE}"


class BuildError(Exception):
    """The layer cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class Distribution:
    """One installed ``*.dist-info`` in the layer's site directory."""

    name: str  # canonical (PEP 503)
    display_name: str
    version: str
    requires: tuple[str, ...]
    dist_info: Path
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    summary: str
    requires_python: str
    license: str
    dependencies: tuple[str, ...]
    package_data: tuple[str, ...]


def read_project(pyproject: Path) -> Project:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    package_data = data.get("tool", {}).get("setuptools", {}).get("package-data", {}).get(PACKAGE, [])
    return Project(
        name=project["name"],
        version=project["version"],
        summary=project.get("description", ""),
        requires_python=project.get("requires-python", ""),
        license=project.get("license", ""),
        dependencies=tuple(project.get("dependencies", [])),
        package_data=tuple(package_data),
    )


def marker_environment(python: str, machine: str) -> dict[str, str]:
    """PEP 508 marker values of the target runtime, not of this machine."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
        "extra": "",
    }


def applies(marker: Marker | None, environment: dict[str, str], extras: frozenset[str] = frozenset()) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**environment, "extra": extra}) for extra in ("", *sorted(extras)))


def runtime_requirements(project: Project, environment: dict[str, str], extra: Sequence[str] = ()) -> list[Requirement]:
    """The project's dependencies (and ``extra``) that the target needs and the runtime does not provide."""
    requirements = []
    for line in (*project.dependencies, *extra):
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) in RUNTIME_PROVIDED:
            continue
        if applies(requirement.marker, environment):
            requirements.append(requirement)
    return requirements


def platform_tags(python: str, machine: str) -> list[str]:
    major, minor = (int(part) for part in python.split("."))
    glibc = GLIBC_AL2023 if (major, minor) >= (3, 12) else GLIBC_AL2
    # pip does not expand a manylinux_2_X tag to older glibc versions: every one is listed.
    tags = [f"manylinux_2_{m}_{machine}" for m in range(glibc[1], GLIBC_OLDEST_MINOR - 1, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def install_dependencies(
    requirements: list[Requirement], site: Path, python: str, machine: str, *, cache_dir: Path | None, verbose: bool
) -> None:
    if not requirements:
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        # Compiling would write .pyc files for *this* interpreter, which the target ignores.
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--target",
        str(site),
    ]
    for tag in platform_tags(python, machine):
        command += ["--platform", tag]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    if not verbose:
        command.append("--quiet")
    command += [str(requirement) for requirement in requirements]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise BuildError(f"pip could not install the dependencies for CPython {python} on {machine}")


def installed_distributions(site: Path) -> dict[str, Distribution]:
    found: dict[str, Distribution] = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        metadata = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        wheel = dist_info / "WHEEL"
        tags: tuple[str, ...] = ()
        if wheel.is_file():
            tags = tuple(HeaderParser().parsestr(wheel.read_text(encoding="utf-8")).get_all("Tag") or ())
        name = str(metadata["Name"])
        found[canonicalize_name(name)] = Distribution(
            name=canonicalize_name(name),
            display_name=name,
            version=str(metadata["Version"]),
            requires=tuple(str(line) for line in metadata.get_all("Requires-Dist") or ()),
            dist_info=dist_info,
            tags=tags,
        )
    return found


def required_distributions(
    roots: list[Requirement], installed: dict[str, Distribution], environment: dict[str, str]
) -> set[str]:
    """Everything the roots need on the target, walking Requires-Dist, never into the runtime's own."""
    needed: set[str] = set()
    pending = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen or name in RUNTIME_PROVIDED:
            continue
        seen.add((name, extras))
        distribution = installed.get(name)
        if distribution is None:
            raise BuildError(f"{name} is needed on the target but pip did not install it")
        needed.add(name)
        for line in distribution.requires:
            requirement = Requirement(line)
            if applies(requirement.marker, environment, extras):
                pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return needed


def remove_distribution(site: Path, distribution: Distribution) -> None:
    """Delete what the distribution's RECORD lists (inside ``site`` only), then its dist-info."""
    record = distribution.dist_info / "RECORD"
    if record.is_file():
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
            if not row:
                continue
            path = (site / row[0]).resolve()
            if path.is_relative_to(site.resolve()) and path.is_file():
                path.unlink()
    shutil.rmtree(distribution.dist_info)
    remove_empty_directories(site)


def remove_empty_directories(root: Path) -> None:
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def is_junk(path: Path, site: Path) -> bool:
    in_dist_info = any(part.endswith(".dist-info") for part in path.relative_to(site).parts)
    if path.is_dir():
        return path.name == "__pycache__" or (path.name in TEST_DIRS and not in_dist_info)
    return path.suffix in JUNK_SUFFIXES or (in_dist_info and path.name in DIST_INFO_JUNK)


def strip_junk(site: Path) -> list[str]:
    """Remove what never runs on Lambda; returns what went, relative to ``site``."""
    removed: list[str] = []
    # Console scripts: /opt/python/bin is on no PATH, and they name this machine's interpreter.
    candidates = [site / "bin"] if (site / "bin").is_dir() else []
    candidates += [path for path in sorted(site.rglob("*")) if is_junk(path, site)]
    for path in candidates:
        if not path.exists():  # inside a directory removed just before
            continue
        removed.append(path.relative_to(site).as_posix())
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def rewrite_records(site: Path) -> None:
    """Keep each RECORD true to what is left, so tools reading it (pip, scanners) are not misled."""
    for record in site.glob("*.dist-info/RECORD"):
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        kept = [row for row in rows if row and (site / row[0]).resolve().is_file()]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        record.write_text(out.getvalue(), encoding="utf-8")


def package_files(source: Path, project: Project) -> list[Path]:
    """The files a wheel of the package holds: its modules and its declared package data."""
    files = {p for p in source.rglob("*.py") if "__pycache__" not in p.parts}
    for pattern in project.package_data:
        files.update(p for p in source.glob(pattern) if p.is_file() and "__pycache__" not in p.parts)
    return sorted(files)


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def copy_package(site: Path, project: Project) -> None:
    """``src/trailguard`` as a wheel would install it, with a dist-info so metadata look-ups work."""
    source = ROOT / "src" / PACKAGE
    written: list[Path] = []
    for path in package_files(source, project):
        target = site / PACKAGE / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    dist_info = site / f"{PACKAGE}-{project.version}.dist-info"
    (dist_info / "licenses").mkdir(parents=True)
    metadata = [
        "Metadata-Version: 2.4",
        f"Name: {project.name}",
        f"Version: {project.version}",
        f"Summary: {project.summary}",
        f"License-Expression: {project.license}",
        "License-File: LICENSE",
        f"Requires-Python: {project.requires_python}",
        *(f"Requires-Dist: {line}" for line in project.dependencies),
    ]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    (dist_info / "top_level.txt").write_text(f"{PACKAGE}\n", encoding="utf-8")
    shutil.copyfile(ROOT / "LICENSE", dist_info / "licenses" / "LICENSE")
    written += [dist_info / "METADATA", dist_info / "top_level.txt", dist_info / "licenses" / "LICENSE"]
    rows = [[p.relative_to(site).as_posix(), record_hash(p.read_bytes()), str(p.stat().st_size)] for p in written]
    rows.append([f"{dist_info.name}/RECORD", "", ""])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(sorted(rows))
    (dist_info / "RECORD").write_text(out.getvalue(), encoding="utf-8")


def rule_files(rules: Path) -> list[Path]:
    """The rule files of ``rules``, loaded (and so checked) as the function will load them."""
    from trailguard import custom_rules
    from trailguard.core.exceptions import ConfigError

    if not rules.is_dir():
        raise BuildError(f"--rules {rules}: not a directory")
    try:
        custom_rules.load_rule_modules([str(rules)])
    except ConfigError as error:
        raise BuildError(f"--rules {rules}: {error}") from None
    return [Path(path) for path in custom_rules.rule_files(str(rules))]


def copy_rules(site: Path, files: Sequence[Path]) -> None:
    target = site / RULES_PACKAGE
    target.mkdir()
    for path in files:
        shutil.copyfile(path, target / path.name)


def check_interpreter(interpreter: str, python: str) -> None:
    """``--compile-with`` must be the target's version: a .pyc of another one is never loaded."""
    probe = subprocess.run(
        [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    version = probe.stdout.strip()
    if probe.returncode != 0 or version != python:
        raise BuildError(f"--compile-with {interpreter} is Python {version or '?'}, not the target {python}")


def compile_for_target(site: Path, interpreter: str) -> None:
    """``.pyc`` from the target's own CPython: a faster cold start, valid only for that version."""
    # unchecked-hash: the runtime then never compares the .pyc with its source's (fixed) mtime.
    done = subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(site)],
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"compiling with {interpreter} failed (exit {done.returncode})")


def zip_timestamp() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return ZIP_EPOCH
    moment = time.gmtime(max(int(epoch), 315_532_800))  # zip cannot store times before 1980
    return (moment.tm_year, moment.tm_mon, moment.tm_mday, moment.tm_hour, moment.tm_min, moment.tm_sec // 2 * 2)


def write_zip(staging: Path, out: Path) -> int:
    """Zip ``staging``'s tree deterministically to ``out``; returns the unzipped size."""
    stamp = zip_timestamp()
    files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.relative_to(staging).as_posix())
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    unzipped = 0
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=stamp)
            info.create_system = 3  # Unix, so the permission bits below are honoured
            info.external_attr = 0o100644 << 16  # read is all Lambda needs, shared objects included
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    partial.replace(out)
    return unzipped


def build(
    python: str,
    arch: str,
    out: Path,
    *,
    extra: Sequence[str] = (),
    cache_dir: Path | None = None,
    compile_with: str | None = None,
    verbose: bool = False,
    rules: Path | None = None,
) -> None:
    if not re.fullmatch(r"3\.\d+", python):
        raise BuildError(f"--python wants a version like 3.14, not {python!r}")
    machine = MACHINES[arch]
    project = read_project(ROOT / "pyproject.toml")
    if project.requires_python and not SpecifierSet(project.requires_python).contains(f"{python}.0"):
        raise BuildError(f"{project.name} requires Python {project.requires_python}, not {python}")
    if compile_with:
        check_interpreter(compile_with, python)
    own_rules = rule_files(rules) if rules is not None else []
    environment = marker_environment(python, machine)
    requirements = runtime_requirements(project, environment, extra)
    with tempfile.TemporaryDirectory(prefix="trailguard-layer-") as temporary:
        staging = Path(temporary)
        site = staging / "python"
        site.mkdir()
        install_dependencies(requirements, site, python, machine, cache_dir=cache_dir, verbose=verbose)
        installed = installed_distributions(site)
        needed = required_distributions(requirements, installed, environment)
        for name, distribution in sorted(installed.items()):
            if name not in needed:
                why = "the Lambda runtime has it" if name in RUNTIME_PROVIDED else "needed only by what the runtime has"
                print(f"not bundled: {distribution.display_name} {distribution.version} ({why})")
                remove_distribution(site, distribution)
        removed = strip_junk(site)
        if verbose and removed:
            print("stripped: " + ", ".join(removed))
        rewrite_records(site)
        copy_package(site, project)
        if own_rules:
            copy_rules(site, own_rules)
        if compile_with:
            compile_for_target(site, compile_with)
        bundled = installed_distributions(site)
        leaked = RUNTIME_PROVIDED & set(bundled)
        if leaked:  # guards the pruning above: a second boto3 would shadow the runtime's
            raise BuildError(f"runtime packages in the layer: {sorted(leaked)}")
        unzipped = write_zip(staging, out)
    print(f"{out}: layer for python{python} on {arch}")
    print(f"  zipped   {out.stat().st_size:>12,} bytes")
    print(f"  unzipped {unzipped:>12,} bytes (Lambda's limit, function and layers: {LAMBDA_UNZIPPED_LIMIT:,})")
    print("  bundled distributions:")
    for distribution in sorted(bundled.values(), key=lambda d: d.name):
        tags = ", ".join(distribution.tags) if distribution.tags else "from src/"
        print(f"    {distribution.display_name} {distribution.version}  [{tags}]")
    print("  from the Lambda runtime, not bundled: " + ", ".join(sorted(RUNTIME_PROVIDED)))
    if own_rules:
        print(f"  your rules, in python/{RULES_PACKAGE}/: " + ", ".join(path.name for path in own_rules))
        print(f"    the function needs TRAILGUARD_RULE_MODULES={FUNCTION_RULES_PATH} (the stack's RuleModules)")
    if unzipped >= LAMBDA_UNZIPPED_LIMIT:
        raise BuildError(f"the layer unzips to {unzipped:,} bytes, over Lambda's {LAMBDA_UNZIPPED_LIMIT:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--python", default="3.14", help="the Lambda runtime's Python version (default 3.14)")
    parser.add_argument("--arch", choices=sorted(MACHINES), default="arm64", help="the function's architecture")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "layer.zip", help="the zip to write")
    parser.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="another distribution to bundle (repeatable), e.g. aws-lambda-powertools",
    )
    parser.add_argument("--cache-dir", type=Path, help="pip's download cache (default: pip's own, ~/.cache/pip)")
    parser.add_argument(
        "--compile-with", metavar="PYTHON", help="an interpreter of the target version to ship .pyc files from"
    )
    parser.add_argument("--verbose", action="store_true", help="show pip's output and what was stripped")
    parser.add_argument(
        "--rules", type=Path, metavar="DIR", help=f"your own rule files to bundle (as python/{RULES_PACKAGE}/)"
    )
    args = parser.parse_args(argv)
    try:
        build(
            args.python,
            args.arch,
            args.out,
            extra=args.extra,
            cache_dir=args.cache_dir,
            compile_with=args.compile_with,
            verbose=args.verbose,
            rules=args.rules,
        )
    except BuildError as error:
        print(f"build_layer: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
