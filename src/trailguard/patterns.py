"""EventBridge event patterns generated from the rule registry.

Only the event sources and names that some rule subscribes to are matched, so the Lambda is not
invoked for anything it would ignore. A pattern may be at most 2,048 characters by default, so
subscriptions are packed greedily into as few patterns as fit, each one an EventBridge rule.
Root activity is matched by ``userIdentity.type`` on any event; its rule must be created with the
state ``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`` to see read-only calls, so it is a
pattern of its own. So are the read-only calls of rules that say ``reads=True`` (GetSecretValue,
GetPasswordData...): the ``read-only-calls`` patterns, apart from the write calls so that the stack
can leave them out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from trailguard.core.base_handler import REGISTRY, EventKey, Rule

API_CALL_DETAIL_TYPE = "AWS API Call via CloudTrail"
# AWS's documentation spells it both ways; match both.
SIGN_IN_DETAIL_TYPES = ("AWS Console Sign In via CloudTrail", "AWS Console Signin via CloudTrail")
SIGN_IN_SOURCE = "signin.amazonaws.com"
DEFAULT_MAX_PATTERN_SIZE = 2048
STATE_ENABLED = "ENABLED"
STATE_ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
# The patterns of read-only calls (read-only-calls, read-only-calls-2...): the stacks' WatchReadOnlyCalls.
READ_ONLY_PATTERN = "read-only-calls"


@dataclasses.dataclass(frozen=True)
class GeneratedPattern:
    """One EventBridge rule's worth: a name suffix, its state and its pattern."""

    name: str
    state: str
    pattern: dict[str, Any]

    @property
    def text(self) -> str:
        return compact_json(self.pattern)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "pattern": self.pattern}


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def eventbridge_source(event_source: str) -> str:
    """``ec2.amazonaws.com`` -> ``aws.ec2``: how EventBridge names the service of a CloudTrail event."""
    return "aws." + event_source.split(".", 1)[0]


def _name_matchers(keys: Iterable[EventKey]) -> list[Any]:
    """Exact names, and prefix matchers for names that carry API-version suffixes."""
    exact = sorted({k.name for k in keys if not k.versioned})
    prefixed = sorted({k.name for k in keys if k.versioned})
    return [*exact, *({"prefix": name} for name in prefixed)]


def _pattern(detail_types: Sequence[str], by_source: dict[str, list[EventKey]]) -> dict[str, Any]:
    sources = sorted(by_source)
    keys = [key for source in sources for key in by_source[source]]
    return {
        "source": sorted({eventbridge_source(s) for s in sources}),
        "detail-type": list(detail_types),
        "detail": {"eventSource": sources, "eventName": _name_matchers(keys)},
    }


def _pack(
    name: str, detail_types: Sequence[str], keys: Sequence[EventKey], max_size: int, state: str = STATE_ENABLED
) -> list[GeneratedPattern]:
    """Greedily add sources (splitting a source's names if need be) while the pattern fits.

    A pattern matches every source it lists with every name it lists, so a chunk must not pair a
    source with a name that this source subscribes to in another chunk (iam with identitystore's
    CreateUser, when iam's CreateUser sits in the chunk before): that event would match twice and
    invoke the function twice. Such a key starts a new chunk."""
    every_pair = {(key.source, key.name) for key in keys}
    chunks: list[dict[str, list[EventKey]]] = []
    current: dict[str, list[EventKey]] = {}

    def crosses(chunk: dict[str, list[EventKey]], key: EventKey) -> bool:
        names = {k.name for values in chunk.values() for k in values} | {key.name}
        sources = set(chunk) | {key.source}
        inside = {(k.source, k.name) for values in chunk.values() for k in values} | {(key.source, key.name)}
        return any((s, n) in every_pair and (s, n) not in inside for s in sources for n in names)

    for key in sorted(keys, key=lambda k: (k.source, k.name)):
        trial = {source: list(values) for source, values in current.items()}
        trial.setdefault(key.source, []).append(key)
        if current and (len(compact_json(_pattern(detail_types, trial))) > max_size or crosses(current, key)):
            chunks.append(current)
            current = {key.source: [key]}
        else:
            current = trial
        if len(compact_json(_pattern(detail_types, current))) > max_size:
            raise ValueError(f"event {key.source}:{key.name} alone does not fit a {max_size}-character pattern")
    if current:
        chunks.append(current)
    suffix = len(chunks) > 1
    return [
        GeneratedPattern(f"{name}-{index}" if suffix else name, state, _pattern(detail_types, chunk))
        for index, chunk in enumerate(chunks, start=1)
    ]


def event_patterns(
    rules: Sequence[Rule] | None = None, max_size: int = DEFAULT_MAX_PATTERN_SIZE
) -> list[GeneratedPattern]:
    """The patterns that together match every event some rule subscribes to, and nothing else."""
    every_rule = REGISTRY.all()
    active = every_rule if rules is None else list(rules)
    api_keys: set[EventKey] = set()
    sign_in_keys: set[EventKey] = set()
    identity_types: set[str] = set()
    # A call is read-only when the rules that name it say so, and no other rule names it.
    read_keys: set[EventKey] = set()
    written_keys: set[EventKey] = set()
    for each in active:
        for key in REGISTRY.subscriptions(each, among=every_rule):
            (sign_in_keys if key.source == SIGN_IN_SOURCE else api_keys).add(key)
            # A factory's events are the other rules' (which classify them), plus its own: those of a
            # reads=True factory that no other rule names are read-only (GetCallerIdentity).
            if not callable(each.on) or each.reads:
                (read_keys if each.reads else written_keys).add(key)
        identity_types.update(each.identity_types)
    read_only = read_keys - written_keys - sign_in_keys
    patterns = _pack("api-calls", (API_CALL_DETAIL_TYPE,), sorted(api_keys - read_only, key=_key_order), max_size)
    if read_only:
        patterns += _pack(
            READ_ONLY_PATTERN,
            (API_CALL_DETAIL_TYPE,),
            sorted(read_only, key=_key_order),
            max_size,
            STATE_ALL_MANAGEMENT_EVENTS,
        )
    if sign_in_keys:
        patterns += _pack("console-sign-in", SIGN_IN_DETAIL_TYPES, sorted(sign_in_keys, key=_key_order), max_size)
    if identity_types:
        root = {
            "detail-type": [API_CALL_DETAIL_TYPE],
            "detail": {"userIdentity": {"type": sorted(identity_types)}},
        }
        patterns.append(GeneratedPattern("root-activity", STATE_ALL_MANAGEMENT_EVENTS, root))
    return patterns


def _key_order(key: EventKey) -> tuple[str, str, bool]:
    return (key.source, key.name, key.versioned)
