"""Does this resource or trust policy let anyone in? One answer for S3, KMS, IAM and Lambda.

Pure functions over an IAM policy document given as JSON text or an already-decoded object.
A statement exposes the resource when it Allows a principal of ``"*"`` (or ``{"AWS": "*"}``, or
uses ``NotPrincipal``) and no *narrowing condition* limits who can use it; it shares the resource
externally when it names an account outside the trusted set.

A narrowing condition is a positive match on the caller's organisation, account, ARN, source
ARN/account, source VPC or VPC endpoint, or a source IP range that is not the whole internet.
``sts:ExternalId`` does not narrow: it is a shared string, not an identity. ``...IfExists``
operators, negated operators and wildcard-only values do not narrow either, because they let a
caller through when the key is absent or matches anything.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from trailguard.core.base_handler import is_world_cidr

NARROWING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:SourceVpc",
        "aws:SourceVpce",
    )
)
SOURCE_IP_KEY = "aws:sourceip"
_POSITIVE_OPERATORS = re.compile(
    r"^(?:for(?:any|all)value:)?(?:stringequals|stringequalsignorecase|stringlike|arnequals|arnlike|ipaddress)$"
)
_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyExposure:
    """What a policy opens up: to the world, and to which accounts outside the trusted set."""

    world_statements: tuple[str, ...] = ()
    external_accounts: tuple[str, ...] = ()
    world_actions: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return bool(self.world_statements)

    @property
    def external(self) -> bool:
        return bool(self.external_accounts)


def load_policy(document: Any) -> dict[str, Any] | None:
    """A policy object from JSON text (possibly URL-encoded by IAM) or a decoded dict."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str) or not document.strip():
        return None
    text = document.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        from urllib.parse import unquote

        text = unquote(text)
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The policy's statements: a single object or a list, non-objects dropped."""
    if not policy:
        return []
    raw = policy.get("Statement")
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, dict)]
    return []


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def principal_values(principal: Any, kinds: Iterable[str] = ("AWS",)) -> list[str]:
    """Principal strings of the given kinds; ``"*"`` as the whole principal is returned as ``"*"``."""
    if isinstance(principal, str):
        return [principal]
    if not isinstance(principal, dict):
        return []
    wanted = {kind.lower() for kind in kinds}
    values: list[str] = []
    for kind, value in principal.items():
        if isinstance(kind, str) and kind.lower() in wanted:
            values.extend(str(item) for item in _as_list(value) if isinstance(item, str | int))
    return values


def account_of_principal(principal: str) -> str:
    """The account id in ``123456789012`` or ``arn:aws:iam::123456789012:...``; else empty."""
    principal = principal.strip()
    if _ACCOUNT_ID.match(principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else ""


def is_narrowed(condition: Any, extra_keys: Iterable[str] = ()) -> bool:
    """True when a statement's Condition limits callers to a known organisation/account/network."""
    if not isinstance(condition, dict):
        return False
    keys = NARROWING_KEYS | {key.lower() for key in extra_keys}
    for operator, clauses in condition.items():
        if not isinstance(operator, str) or not isinstance(clauses, dict):
            continue
        if not _POSITIVE_OPERATORS.match(operator.lower()):
            continue
        for key, raw_values in clauses.items():
            if not isinstance(key, str):
                continue
            values = [str(v) for v in _as_list(raw_values) if isinstance(v, str | int)]
            if not values:
                continue
            lowered = key.lower()
            if lowered == SOURCE_IP_KEY:
                if all(not is_world_cidr(value) for value in values):
                    return True
            elif lowered in keys and all(value.strip("*?") for value in values):
                return True
    return False


def analyze_policy(
    document: Any,
    is_trusted_account: Callable[[str], bool],
    principal_kinds: Iterable[str] = ("AWS",),
    extra_narrowing_keys: Iterable[str] = (),
) -> PolicyExposure:
    """Which Allow statements open the resource to the world, and to which untrusted accounts."""
    kinds = tuple(principal_kinds)
    world: list[str] = []
    actions: list[str] = []
    external: list[str] = []
    for index, statement in enumerate(statements(load_policy(document))):
        effect = statement.get("Effect")
        if not isinstance(effect, str) or effect.lower() != "allow":
            continue
        label = str(statement.get("Sid") or f"statement {index + 1}")
        narrowed = is_narrowed(statement.get("Condition"), extra_narrowing_keys)
        if "NotPrincipal" in statement:
            # Allow with NotPrincipal grants everyone except the listed principals.
            if not narrowed:
                world.append(label)
                actions.extend(str(a) for a in _as_list(statement.get("Action")))
            continue
        principals = principal_values(statement.get("Principal"), kinds)
        if "*" in principals:
            if not narrowed:
                world.append(label)
                actions.extend(str(a) for a in _as_list(statement.get("Action")))
            continue
        for principal in principals:
            account = account_of_principal(principal)
            if account and not is_trusted_account(account) and account not in external:
                external.append(account)
    return PolicyExposure(tuple(world), tuple(external), tuple(dict.fromkeys(actions)))
