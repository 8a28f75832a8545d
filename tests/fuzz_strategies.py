"""Hypothesis strategies for bad input (issue 5, point 1), shared by the fuzz tests and scripts/fuzz.py.

Records: CloudTrail-shaped records routed to real rules (every ``(eventSource, eventName)`` a rule
subscribes to), whose fields are drawn from the field names the rules read (the string literals of
the handler modules and every key of the real records) and set to missing, null, the wrong type,
nested wrongly, empty, odd unicode, values seen in real records, or prebuilt 10,000-level nests;
mutations of the real records (tests/events and tests/data/corpus); EventBridge envelopes around
either. Bytes: random bytes, JSON documents of the above (truncated, bit-flipped, gzipped, gzipped
then damaged), JSON Lines with bad lines.

``TRAILGUARD_FUZZ_SCALE`` (default 1) multiplies every property's ``max_examples``: ``make fuzz``
sets it to 100.
"""

from __future__ import annotations

import ast
import copy
import gzip
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

import trailguard.handlers
from trailguard.core.base_handler import REGISTRY
from trailguard.core.engine import Engine
from trailguard.core.enums import Severity
from trailguard.core.settings import Settings, Suppression

TESTS_DIR: Final = Path(__file__).parent
EVENTS_DIR: Final = TESTS_DIR / "events"
CORPUS_DIR: Final = TESTS_DIR / "data" / "corpus"
HANDLERS_DIR: Final = Path(trailguard.handlers.__file__).parent

SCALE: Final = max(1, int(os.environ.get("TRAILGUARD_FUZZ_SCALE", "1")))


def examples(count: int) -> int:
    """``count`` examples in ``make test``, ``count * TRAILGUARD_FUZZ_SCALE`` in ``make fuzz``."""
    return count * SCALE


def fuzzing(count: int) -> settings:
    """The settings of a property that tries ``examples(count)`` inputs, without a deadline."""
    return settings(
        max_examples=examples(count),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


API_CALL: Final = "AWS API Call via CloudTrail"
SIGN_IN: Final = "AWS Console Sign In via CloudTrail"
MIB: Final = 1 << 20
DEPTH: Final = 10_000


def fuzz_settings() -> Settings:
    """Every option the rules and suppressions consult, so that their code paths run too."""
    return Settings(
        allowed_cidrs=("16.0.0.0/4", "10.0.0.0/8", "2001:db8::/32"),
        trusted_accounts=("444455556666",),
        suppressions=(
            Suppression(principal="arn:aws:iam::*:role/terraform-*"),
            Suppression(user_agent="*terraform*", max_severity=Severity.LOW),
            Suppression(rules=("ec2.*",), resource="*-test-*", region="eu-*", account="1111*"),
        ),
    )


# --------------------------------------------------------------------------------------------
# What the rules read: real records, the routes, the field names.
# --------------------------------------------------------------------------------------------


def _event_records() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8"))["record"] for path in sorted(EVENTS_DIR.rglob("*.json"))]


def _corpus_records() -> list[dict[str, Any]]:
    records = [json.loads(line)["record"] for line in (CORPUS_DIR / "stratus-red-team.jsonl").read_text().splitlines()]
    trail = json.loads(gzip.decompress((CORPUS_DIR / "invictus-ir-aws-dataset_CloudTrail.json.gz").read_bytes()))
    records.extend(trail["Records"])
    return records


def _routed(engine: Engine, record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity")
    identity_type = identity.get("type") if isinstance(identity, dict) else None
    return engine.wants(record.get("eventSource"), record.get("eventName"), identity_type, False)


_ROUTING_ENGINE = Engine(Settings())
EVENT_RECORDS: Final = _event_records()
# Real records a rule looks at (the others only exercise routing): the seeds of the mutations.
SEED_RECORDS: Final = EVENT_RECORDS + [r for r in _corpus_records() if _routed(_ROUTING_ENGINE, r)]

# Every (eventSource, eventName) some rule subscribes to; versioned names get an API suffix.
ROUTES: Final = sorted(
    {
        (key.source, key.name + ("20150331v2" if key.versioned else ""))
        for active in REGISTRY.all()
        for key in REGISTRY.subscriptions(active)
    }
)
IDENTITY_TYPES: Final = sorted(
    {t for active in REGISTRY.all() for t in active.identity_types}
    | {"IAMUser", "AssumedRole", "Root", "AWSService", "FederatedUser", "AWSAccount", "SAMLUser", "WebIdentityUser"}
    | {"IdentityCenterUser", "Unknown"}
)
ERROR_CODES: Final = ("AccessDenied", "Client.UnauthorizedOperation", "UnauthorizedOperation", "ThrottlingException")


def _walk_keys_and_values(value: Any, into: dict[str, list[Any]]) -> None:
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, child in current.items():
                seen = into.setdefault(key, [])
                if len(seen) < 12 and child not in seen:
                    seen.append(child)
                stack.append(child)
        elif isinstance(current, list):
            stack.extend(current)


_FIELD_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_:.-]{0,63}")


def _handler_literals() -> set[str]:
    """String constants of the handler modules that could be field names (``fromPort``, ``items``)."""
    names: set[str] = set()
    for path in HANDLERS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FIELD_NAME.fullmatch(node.value):
                names.add(node.value)
    return names


OBSERVED: Final[dict[str, list[Any]]] = {}
for _record in SEED_RECORDS:
    _walk_keys_and_values(_record, OBSERVED)
FIELD_NAMES: Final = sorted(_handler_literals() | set(OBSERVED))
TOP_LEVEL_FIELDS: Final = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "serviceEventDetails",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
    "vpcEndpointId",
)

# --------------------------------------------------------------------------------------------
# Bad values.
# --------------------------------------------------------------------------------------------

ODD_STRINGS: Final = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\ud83dy",
    "\u202eevil\u202c",
    "\u200f\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "e\u0301\u0301\u0301",
    "\U0001f600",
    "\n\r\t\x0b\x0c\x1b[31m",
    "\u2028\u2029",
    "\uff10\uff11",  # fullwidth digits: str.isdigit() is True, int() accepts them
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "null",
    "true",
    "FALSE",
    "-1",
    "0",
    "65536",
    "99999999999999999999999",
    "1e999",
    "NaN",
    "[]",
    "{}",
    "*",
    "?",
    "%",
    "%zz",
    "%7B%22Statement%22",
    "+",
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/-1",
    "/0",
    "0.0.0.0/000000000000000000000000000000000000",
    "999.1.1.1/0",
    "1.2.3.4/33",
    "arn:aws:iam::*:root",
    "arn:",
    "arn:aws:sts::111122223333:assumed-role/a/b/c/d",
    "arn:aws:lambda:eu-west-1:111122223333:function:f:$LATEST",
    "111122223333",
    "11112222333\u0664",
    "o-*",
    "ELBSecurityPolicy-2016-08",
    "ELBSecurityPolicy-TLS-1-0-2015-04",
    "AddPermission20150331v2",
    '{"Statement":',
    '"{\\"Statement\\": []}"',
    "<script>alert(1)</script>",
    "a" * 300,
)


class DeepList(list[Any]):
    """The outermost list of a prebuilt nest: a short repr, as Hypothesis' own printer would
    otherwise recurse 10,000 levels while reporting a failure (and raise RecursionError)."""

    def __repr__(self) -> str:
        return f"<list nested {DEPTH} deep>"


class DeepDict(dict[str, Any]):
    """The outermost object of a prebuilt nest (see DeepList)."""

    def __repr__(self) -> str:
        return f"<{{{next(iter(self), '')!r}: ...}} nested {DEPTH} deep>"


def _nested_list(depth: int) -> list[Any]:
    root: list[Any] = DeepList()
    current = root
    for _ in range(depth):
        child: list[Any] = []
        current.append(child)
        current = child
    return root


def _nested_dict(depth: int, key: str, leaf: Any = "*") -> dict[str, Any]:
    root: dict[str, Any] = DeepDict()
    current = root
    for _ in range(depth - 1):
        child: dict[str, Any] = {}
        current[key] = child
        current = child
    current[key] = leaf
    return root


# 10,000 levels, built once (Hypothesis' own recursion would never get there). Shared between
# examples: the engine must not mutate records anyway.
DEEP_VALUES: Final[tuple[Any, ...]] = (
    _nested_list(DEPTH),
    _nested_dict(DEPTH, "items"),
    _nested_dict(DEPTH, "Statement"),
    _nested_dict(DEPTH, "AWS"),
    {"items": [_nested_dict(DEPTH, "item")]},
    [{"Effect": "Allow", "Principal": _nested_dict(DEPTH, "AWS"), "Action": "*", "Condition": _nested_list(DEPTH)}],
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Condition": _nested_dict(DEPTH, "StringEquals")}]},
)
_DEEP_IDS: Final = frozenset(id(value) for value in DEEP_VALUES)
# JSON *text* nested 10,000 deep, for the fields rules parse themselves (policy documents).
DEEP_TEXTS: Final[tuple[str, ...]] = (
    "[" * DEPTH + "]" * DEPTH,
    '{"a":' * DEPTH + "1" + "}" * DEPTH,
    '{"Statement": ' + "[" * DEPTH + "]" * DEPTH + "}",
)
HUGE_STRINGS: Final[tuple[str, ...]] = (
    "A" * MIB,
    "\u202e" * (MIB // 2),
    "\x00" * MIB,
    "0.0.0.0/" + "0" * MIB,
    "9" * MIB,
    "arn:aws:iam::" + "1" * MIB,
    "arn:aws:sts::111122223333:assumed-role/" + "a/" * (MIB // 2),
    "%7B" * (MIB // 3),
    "*" * MIB,
    ":" * MIB,
    " " * MIB + "x",
    json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}] * (MIB // 80)}
    ),
)

SAFE_ODD_STRINGS: Final = tuple(s for s in ODD_STRINGS if not any("\ud800" <= c <= "\udfff" for c in s))
# What a JSON document can hold and msgspec decodes: no NaN, integers within 64 bits, no lone surrogates.
JSON_SCALARS: Final = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(SAFE_ODD_STRINGS),
    st.text(max_size=20),
)
ODD_SCALARS: Final = st.one_of(
    JSON_SCALARS,
    st.sampled_from(ODD_STRINGS),
    st.integers(),  # beyond 64 bits
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 10**400]),
)
KEYS: Final = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(ODD_STRINGS), st.text(max_size=8))
SAFE_KEYS: Final = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(SAFE_ODD_STRINGS), st.text(max_size=8))


def _wrap_wrongly(value: Any) -> SearchStrategy[Any]:
    """The value nested the wrong way: in a list, in EC2's {"items": ...}, twice, or unwrapped."""
    return st.sampled_from(
        [[value], {"items": value}, {"items": [value]}, {"items": {"items": value}}, [[value]], {"item": value}]
    )


@cache
def bad_values(*, json_safe: bool = False, deep: bool = True) -> SearchStrategy[Any]:
    """Any value a field could wrongly hold. ``json_safe``: only what survives a JSON round trip
    through msgspec (no NaN, no integers beyond 64 bits, no lone surrogates); ``deep``: may be one
    of the prebuilt 10,000-level nests (not serialisable by ``json.dumps``)."""
    scalars = JSON_SCALARS if json_safe else ODD_SCALARS
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(SAFE_KEYS if json_safe else KEYS, children, max_size=4)
        ),
        max_leaves=10,
    )
    choices = [scalars, values, values.flatmap(_wrap_wrongly), st.sampled_from(list(OBSERVED)).map(_observed_any)]
    if deep:
        choices.append(st.sampled_from(DEEP_VALUES))
    return st.one_of(*choices)


def _observed_any(key: str) -> Any:
    """A value seen under ``key``, to put under another key (a real value in the wrong place)."""
    return copy.deepcopy(OBSERVED[key][0]) if OBSERVED[key] else None


@cache
def field_values(key: str, bad: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """For a field: a value seen under that key in the real records (so the rule gets further), or a bad one."""
    seen = OBSERVED.get(key)
    if seen:
        return st.one_of(st.sampled_from(seen).map(copy.deepcopy), bad)
    return bad


# --------------------------------------------------------------------------------------------
# Records and envelopes.
# --------------------------------------------------------------------------------------------

_MISSING: Final = object()


@cache
def _parameters(bad: SearchStrategy[Any], depth: int = 0) -> SearchStrategy[dict[str, Any]]:
    return _parameters_of(bad, depth)


@st.composite
def _parameters_of(draw: DrawFn, bad: SearchStrategy[Any], depth: int) -> dict[str, Any]:
    """A requestParameters-like object: keys the rules read, values good, bad or nested objects."""
    keys = draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=8, unique=True))
    result: dict[str, Any] = {}
    for key in keys:
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            result[key] = draw(_parameters(bad, depth + 1))
        else:
            result[key] = draw(field_values(key, bad))
    return result


@st.composite
def cloudtrail_records(draw: DrawFn, *, json_safe: bool = False, deep: bool = True) -> dict[str, Any]:
    """A record routed to real rules, every field missing, real-looking or bad."""
    bad = bad_values(json_safe=json_safe, deep=deep)
    source, name = draw(st.sampled_from(ROUTES))
    record: dict[str, Any] = {
        "eventSource": draw(st.one_of(st.just(source), bad)),
        "eventName": draw(st.one_of(st.just(name), bad)),
    }
    identity_type = draw(st.one_of(st.sampled_from(IDENTITY_TYPES), bad))
    identity = draw(_parameters(bad))
    identity["type"] = identity_type
    if draw(st.booleans()):
        identity["sessionContext"] = {
            "sessionIssuer": draw(_parameters(bad)),
            "attributes": {"mfaAuthenticated": draw(st.one_of(st.sampled_from(["true", "false"]), bad))},
        }
    for field in TOP_LEVEL_FIELDS:
        if field == "userIdentity":
            value: Any = draw(st.one_of(st.just(identity), bad))
        elif field in ("requestParameters", "responseElements", "additionalEventData"):
            value = draw(st.one_of(_parameters(bad), bad, st.just(_MISSING)))
        elif field == "errorCode":
            value = draw(st.one_of(st.just(_MISSING), st.sampled_from(ERROR_CODES), bad))
        else:
            value = draw(st.one_of(st.just(_MISSING), field_values(field, bad)))
        if value is not _MISSING:
            record[field] = value
    for key in draw(st.lists(st.sampled_from(list(record)), max_size=3)):
        record.pop(key, None)  # missing fields, the routing ones included
    return record


def seed_records() -> SearchStrategy[dict[str, Any]]:
    """One of SEED_RECORDS (drawn by index: a sampled_from of 400 records has a huge repr)."""
    return st.integers(0, len(SEED_RECORDS) - 1).map(SEED_RECORDS.__getitem__)


def all_paths(value: Any, max_depth: int = 12) -> list[tuple[str | int, ...]]:
    """Every path into ``value`` (not descending into the prebuilt deep nests), root excluded."""
    paths: list[tuple[str | int, ...]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if len(path) >= max_depth or id(current) in _DEEP_IDS:
            continue
        children: list[tuple[str | int, Any]] = []
        if isinstance(current, dict):
            children = list(current.items())
        elif isinstance(current, list):
            children = list(enumerate(current))
        for key, child in children:
            paths.append((*path, key))
            stack.append(((*path, key), child))
    return paths


def _parent(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path[:-1]:
        value = value[key]
    return value


def set_at(record: Any, path: tuple[str | int, ...], value: Any) -> None:
    """Put ``value`` at ``path`` (one of ``all_paths(record)``)."""
    _parent(record, path)[path[-1]] = value


_MUTATIONS: Final = ("replace", "replace", "replace", "delete", "wrap", "add", "rename")


@st.composite
def mutated_records(
    draw: DrawFn, *, json_safe: bool = False, deep: bool = True, values: SearchStrategy[Any] | None = None
) -> dict[str, Any]:
    """A real record with one to four random paths replaced, deleted, wrapped, renamed or added to."""
    bad = values if values is not None else bad_values(json_safe=json_safe, deep=deep)
    record: dict[str, Any] = copy.deepcopy(draw(seed_records()))
    for _ in range(draw(st.integers(1, 4))):
        paths = all_paths(record)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(record, path)
        key = path[-1]
        operation = draw(st.sampled_from(_MUTATIONS))
        if operation == "replace":
            parent[key] = draw(bad)
        elif operation == "delete":
            del parent[key]
        elif operation == "wrap":
            parent[key] = draw(_wrap_wrongly(parent[key]))
        elif operation == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(FIELD_NAMES))] = draw(bad)
        elif operation == "rename" and isinstance(key, str):
            renamed = st.sampled_from([key.lower(), key.upper(), key + "\x00", " " + key])
            new_key = draw(st.one_of(renamed, SAFE_KEYS if json_safe else KEYS))
            parent[new_key] = parent.pop(key)
    return record


@st.composite
def eventbridge_envelopes(draw: DrawFn, details: SearchStrategy[Any], bad: SearchStrategy[Any]) -> dict[str, Any]:
    """An EventBridge event around ``details``, its own fields sometimes missing or wrong."""
    envelope: dict[str, Any] = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": draw(
            st.one_of(
                st.sampled_from(
                    [API_CALL, SIGN_IN, "AWS Service Event via CloudTrail", "EC2 Instance State-change Notification"]
                ),
                st.sampled_from(
                    ["", "via CloudTrail", "AWS API Call via CloudTrail\x00", "aws api call via cloudtrail"]
                ),
                bad,
            )
        ),
        "source": draw(st.one_of(st.just("aws.iam"), bad)),
        "account": "111122223333",
        "time": "2026-11-04T10:15:00Z",
        "region": draw(st.one_of(st.just("eu-west-1"), bad)),
        "resources": draw(st.one_of(st.just([]), bad)),
        "detail": draw(st.one_of(details, bad)),
    }
    for key in draw(st.lists(st.sampled_from(list(envelope)), max_size=2)):
        envelope.pop(key, None)
    return envelope


def records(*, json_safe: bool = False, deep: bool = True) -> SearchStrategy[dict[str, Any]]:
    """Generated or mutated real records."""
    return st.one_of(
        cloudtrail_records(json_safe=json_safe, deep=deep), mutated_records(json_safe=json_safe, deep=deep)
    )


@st.composite
def with_value_at_random_path(draw: DrawFn, values: SearchStrategy[Any]) -> dict[str, Any]:
    """A real record with one value (at any depth) replaced by one of ``values``."""
    record: dict[str, Any] = copy.deepcopy(draw(seed_records()))
    path = draw(st.sampled_from(all_paths(record)))
    set_at(record, path, draw(values))
    return record


# --------------------------------------------------------------------------------------------
# Bytes.
# --------------------------------------------------------------------------------------------


@st.composite
def json_texts(draw: DrawFn, value: Any) -> bytes:
    """``value`` as JSON the way various writers would put it (pretty, ASCII-escaped or not)."""
    indent = draw(st.sampled_from([None, 2]))
    ensure_ascii = draw(st.booleans())
    text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


@st.composite
def documents(draw: DrawFn, *, json_safe: bool = False) -> Any:
    """What a file may hold: a log file, an envelope, a record, a list of them, or anything."""
    bad = bad_values(json_safe=json_safe, deep=False)
    record = records(json_safe=json_safe, deep=False)
    item = st.one_of(record, eventbridge_envelopes(record, bad), bad)
    return draw(
        st.one_of(
            st.builds(lambda items: {"Records": items}, st.lists(item, max_size=5)),
            st.builds(lambda value: {"Records": value}, bad),
            item,
            st.lists(item, max_size=5),
        )
    )


@st.composite
def damaged(draw: DrawFn, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, inserted or deleted."""
    if not data:
        return data
    operation = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "keep"]))
    position = draw(st.integers(0, len(data) - 1))
    if operation == "truncate":
        return data[:position]
    if operation == "flip":
        return data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + data[position + 1 :]
    if operation == "insert":
        return data[:position] + draw(st.binary(min_size=1, max_size=8)) + data[position:]
    if operation == "delete":
        return data[:position] + data[position + draw(st.integers(1, 8)) :]
    return data


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


@st.composite
def json_lines(draw: DrawFn) -> bytes:
    """JSON Lines of records and envelopes with bad lines among them, \\n or \\r\\n."""
    lines = draw(st.lists(documents().flatmap(json_texts).map(lambda b: b.replace(b"\n", b" ")), max_size=5))
    lines += draw(st.lists(st.binary(max_size=20), max_size=2))
    lines = draw(st.permutations(lines))
    return draw(st.sampled_from([b"\n", b"\r\n"])).join(lines)


def byte_inputs() -> SearchStrategy[bytes]:
    """Any byte string a file or a stream may hold, from plausible to garbage."""
    text = documents().flatmap(json_texts)
    return st.one_of(
        st.binary(max_size=200),
        text,
        text.flatmap(damaged),
        json_lines(),
        json_lines().flatmap(damaged),
        text.map(gzipped),
        text.map(gzipped).flatmap(damaged),
        json_lines().map(gzipped),
        st.binary(max_size=200).map(lambda b: b"\x1f\x8b" + b),
        st.binary(max_size=200).map(gzipped),
    )


def deep_json_texts() -> Iterator[tuple[str, bytes]]:
    """The JSON nesting bombs: 100,000 levels, alone and where a record or a field would be."""
    bomb = b"[" * 100_000
    closed = bomb + b"]" * 100_000
    objects = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    yield "100k unclosed [", bomb
    yield "100k closed []", closed
    yield "100k nested objects", objects
    yield "as a record", b'{"Records": [' + closed + b"]}"
    yield (
        "in a field of a wanted record",
        (
            b'{"Records": [{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "x": '
            + closed
            + b"}]}"
        ),
    )
    yield "as an EventBridge detail", b'{"detail-type": "' + API_CALL.encode() + b'", "detail": ' + objects + b"}"
    yield "a JSON line among good ones", b'{"eventSource": "s3.amazonaws.com", "eventName": "x"}\n' + closed + b"\n"
