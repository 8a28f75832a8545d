"""Users' own rule modules (the ``rule_modules`` setting): found, imported, checked and remembered.

An entry is a ``.py`` file, a directory (its ``*.py`` files, sorted, not recursive, without the
``_``-prefixed ones) or a dotted module path. A file is imported on its own, under a module name of
its own: its directory needs no ``__init__.py`` and is not put on ``sys.path``. Custom rules load
after the built-in ones, so a custom rule that reuses a built-in id is "registered twice", and the
registry holds them to the checks every rule passes (id pattern, unique id, metadata, subscriptions).
Whatever goes wrong while a file imports (a syntax error, a failed import, a bad rule definition,
anything it raises) becomes a ``ConfigError`` naming the file and the reason, and the rules it had
registered until then are forgotten. A file or module is loaded once per process, however many
times settings are loaded.

On the Lambda's cold path when rule_modules is set: os.path rather than pathlib (a few ms to import).
Settings reach this module through ``core.settings.rule_module_loader``, which importing the
package installs: core itself never runs a user's file.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import NamedTuple

from trailguard.core import settings as _settings
from trailguard.core.base_handler import REGISTRY
from trailguard.core.exceptions import ConfigError

# A file's module name: this prefix, a number and its stem, so that two files of the same name in
# different directories never share a module.
FILE_MODULE_PREFIX = "trailguard_custom_rules_"
_file_numbers = itertools.count(1)


class _Loaded(NamedTuple):
    """What importing one file or module added: its rules and its entries in ``sys.modules``."""

    rule_ids: tuple[str, ...]
    modules: tuple[str, ...]


# By a file's real path, or a dotted module's name.
_loaded: dict[str, _Loaded] = {}
# Rule id -> the file that defined it.
_origins: dict[str, str] = {}


def rule_files(directory: str) -> list[str]:
    """A directory's rule files in load order: ``*.py``, sorted, not recursive, no ``_*.py``."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot be read ({exc.strerror or exc})") from None
    paths = (os.path.join(directory, name) for name in names if name.endswith(".py") and not name.startswith("_"))
    return [path for path in paths if os.path.isfile(path)]


class Entry(NamedTuple):
    """One ``rule_modules`` entry, resolved: a path from the working directory, or a module name."""

    target: str
    is_path: bool


def resolve(entry: str, base: str = "") -> Entry:
    """A path (a relative one starts from ``base``), or a dotted module name when the entry names
    no file or directory and reads like one."""
    path = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
    looks_like_path = entry.endswith(".py") or "/" in entry or os.sep in entry or entry.startswith((".", "~"))
    if looks_like_path or os.path.exists(path):
        return Entry(path, is_path=True)
    if all(part.isidentifier() for part in entry.split(".")):
        return Entry(entry, is_path=False)
    raise ConfigError(f"{entry}: no such file or directory, and not a dotted module path")


def load_rule_modules(entries: Iterable[str], base: str = "") -> tuple[str, ...]:
    """Import the rules of each entry (see the module's docstring); returns the entries resolved."""
    REGISTRY.all()  # the built-in rules first: a custom rule reusing one of their ids is then refused
    resolved = []
    for entry in entries:
        target, is_path = resolve(entry, base)
        if is_path:
            for path in _files_of(target):
                _load_file(path)
        else:
            _load_module(target)
        resolved.append(target)
    return tuple(resolved)


def origin(rule_id: str) -> str | None:
    """The file a custom rule came from; None for a built-in rule (or no rule at all)."""
    return _origins.get(rule_id)


def unload() -> None:
    """Forget every custom rule and the modules they came from (tests load several sets in turn)."""
    for loaded in _loaded.values():
        REGISTRY.unregister(loaded.rule_ids)
        for name in loaded.modules:
            sys.modules.pop(name, None)
    _loaded.clear()
    _origins.clear()


def _files_of(path: str) -> list[str]:
    if os.path.isdir(path):
        files = rule_files(path)
        if not files:
            raise ConfigError(f"{path}: a directory without rule files (*.py not starting with _)")
        return files
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file or directory")
    if not path.endswith(".py"):
        raise ConfigError(f"{path}: not a Python file (.py)")
    return [path]


def _load_file(path: str) -> None:
    real = os.path.realpath(path)
    if real in _loaded:
        return
    stem = re.sub(r"\W", "_", os.path.basename(path)[: -len(".py")])
    name = f"{FILE_MODULE_PREFIX}{next(_file_numbers)}_{stem}"

    def run() -> None:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py path always gets a loader
            raise ImportError("Python cannot import this file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # as an import would: dataclasses, pickle and typing look it up
        spec.loader.exec_module(module)

    _import(real, path, run, lambda module: module == name)


def _load_module(name: str) -> None:
    if name in _loaded:
        return
    imported_before = name in sys.modules

    def run() -> None:
        import importlib

        importlib.import_module(name)

    def owned(module: str) -> bool:
        return module == name or module.startswith(name + ".")

    _import(name, name, run, owned, imported_before)


def _import(
    key: str, label: str, run: Callable[[], None], owned: Callable[[str], bool], imported_before: bool = False
) -> None:
    """Run one import; remember what it registered, or undo it and say what went wrong."""
    rules_before = {rule.id for rule in REGISTRY.loaded()}
    modules_before = set(sys.modules)
    error: str | None = None
    try:
        run()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - anything a user's file raises is a configuration error
        error = _reason(exc, label)
    rule_ids = tuple(sorted({rule.id for rule in REGISTRY.loaded()} - rules_before))
    modules = tuple(sorted(name for name in set(sys.modules) - modules_before if owned(name)))
    if error is None and not rule_ids:
        error = "registers no new rule (it was imported before)" if imported_before else "defines no rule"
    if error is not None:
        REGISTRY.unregister(rule_ids)
        for name in modules:
            sys.modules.pop(name, None)
        raise ConfigError(f"{label}: {error}")
    for rule_id in rule_ids:
        module = sys.modules.get(REGISTRY.get(rule_id).module)
        _origins[rule_id] = getattr(module, "__file__", None) or label
    _loaded[key] = _Loaded(rule_ids, modules)


def _reason(exc: BaseException, label: str) -> str:
    """``SyntaxError: invalid syntax (line 3)``: the error, and where in the user's code it arose."""
    if isinstance(exc, SyntaxError):
        text = f"{type(exc).__name__}: {exc.msg}"
        filename, line = exc.filename, exc.lineno
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        filename, line = _last_user_frame(exc)
    if line is None:
        return text
    if filename and os.path.realpath(filename) != os.path.realpath(label):
        return f"{text} ({filename}, line {line})"
    return f"{text} (line {line})"


def _last_user_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost frame outside trailguard and the import machinery: the user's line."""
    import importlib
    import traceback

    not_users = tuple(os.path.dirname(os.path.realpath(m)) + os.sep for m in (__file__, str(importlib.__file__)))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        filename = frame.filename
        if filename.startswith("<") or os.path.realpath(filename).startswith(not_users):
            continue
        return filename, frame.lineno
    return None, None


_settings.rule_module_loader = load_rule_modules
