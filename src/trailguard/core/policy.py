"""Does this resource or trust policy let anyone in? One answer for every service's resource
policies (S3, KMS, IAM trust, SQS, SNS, Secrets Manager, ECR, Glacier, OpenSearch, EFS, Backup).

Pure functions over an IAM policy document given as JSON text (IAM logs some of them URL-encoded)
or an already-decoded object. A statement exposes the resource when it Allows a principal of
``"*"`` (or ``{"AWS": "*"}``, or uses ``NotPrincipal``) and no *narrowing condition* limits who can
use it; it shares the resource externally when it names an account outside the trusted set, or
when its only limit is a condition naming such an account (``"*"`` with ``aws:SourceAccount``).

A narrowing condition is a positive match on the caller's organisation, account, ARN, source
ARN/account, source VPC or VPC endpoint, or a source IP range that is not the whole internet.
Services add keys of their own: an account key (``kms:CallerAccount``) narrows like
``aws:PrincipalAccount``, and a flag (EFS's ``elasticfilesystem:AccessedViaMountTarget``) narrows
when a ``Bool`` condition requires it true. A ``Principal`` of ``{"Service": ...}`` is an AWS
service, not the public: only the ``AWS`` kind (and ``"*"``) count unless a caller says otherwise.
``sts:ExternalId`` does not narrow: it is a shared string, not an identity. ``...IfExists``
operators, ``ForAllValues:`` (true when the key is absent), negated operators and values that a
stranger can match (wildcards in an account id, organisation id, VPC id or ARN account) do not
narrow either, because they let a caller through who is not who the condition seems to name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.aws_ids import ACCOUNT_ID, PRINCIPAL_ARN_ACCOUNT
from trailguard.core.enums import Severity
from trailguard.core.event_types import Hit, Resource, member

if TYPE_CHECKING:
    import ipaddress

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
_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner"})
_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
_ID_KEYS = frozenset({"aws:principalorgid", "aws:sourcevpc", "aws:sourcevpce"})
_ORG_PATHS_KEY = "aws:principalorgpaths"

# Operators that let a request through only when the key is present and matches. "ForAnyValue:"
# is false for an absent key; "ForAllValues:" is true for one, so it never narrows.
_STRING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})
_IP_OPERATORS = frozenset({"ipaddress"})
_BOOL_OPERATORS = frozenset({"bool"})
_TRUE = "true"
_FOR_ANY_VALUE = "foranyvalue:"

_WILDCARDS = frozenset("*?")


class PolicyExposure(NamedTuple):
    """What a policy opens up: to the world, and to which accounts outside the trusted set."""

    world_statements: tuple[str, ...] = ()
    external_accounts: tuple[str, ...] = ()
    world_actions: tuple[str, ...] = ()
    external_actions: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return bool(self.world_statements)

    @property
    def external(self) -> bool:
        return bool(self.external_accounts)


def load_policy(document: Any) -> dict[str, Any] | None:
    """A policy object from JSON text (possibly URL-encoded by IAM) or a decoded dict; else None."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str) or not document.strip():
        return None
    text = document.strip()
    for candidate in _decodings(text):
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: a document nested thousands deep
            continue
        if isinstance(value, str):
            # A document serialised twice (a JSON string holding JSON): unwrap once.
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                continue
        if isinstance(value, dict):
            return value
    return None


def _decodings(text: str) -> list[str]:
    """The text as given, then URL-decoded (IAM returns documents RFC 3986-encoded)."""
    candidates = [text]
    if "%" in text:
        from urllib.parse import unquote

        decoded = unquote(text)
        candidates.append(decoded)
        if "+" in decoded:
            candidates.append(decoded.replace("+", " "))
    return candidates


def _has_field(mapping: dict[str, Any], name: str) -> bool:
    lowered = name.lower()
    return any(isinstance(key, str) and key.lower() == lowered for key in mapping)


def statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The policy's statements: a single object or a list, non-objects dropped."""
    if not isinstance(policy, dict):
        return []
    raw = member(policy, "Statement")
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


def _texts(value: Any) -> list[str]:
    """Strings (and numbers, which some writers use for account ids) of a scalar or list, stripped."""
    return [
        str(item).strip()
        for item in _as_list(value)
        if isinstance(item, str | int | float) and not isinstance(item, bool)
    ]


def principal_values(principal: Any, kinds: Iterable[str] = ("AWS",)) -> list[str]:
    """Principal strings of the given kinds; ``"*"`` as the whole principal is returned as ``"*"``."""
    if isinstance(principal, str):
        return [principal.strip()]
    if not isinstance(principal, dict):
        return []
    wanted = {kind.lower() for kind in kinds}
    values: list[str] = []
    for kind, value in principal.items():
        if isinstance(kind, str) and kind.lower() in wanted:
            values.extend(_texts(value))
    return values


def account_of_principal(principal: str) -> str:
    """The account id in ``123456789012`` or ``arn:aws:iam::123456789012:...``; else empty."""
    principal = principal.strip()
    if ACCOUNT_ID.fullmatch(principal):
        return principal
    match = PRINCIPAL_ARN_ACCOUNT.match(principal)
    return match.group(1) if match else ""


def _has_wildcard(value: str) -> bool:
    return any(char in _WILDCARDS for char in value)


def _arn_narrows(value: str) -> bool:
    """An ARN pattern names someone specific: a fixed account, or (account-less ARNs such as S3
    buckets) a resource name that does not start with a wildcard."""
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return not _has_wildcard(value)
    account, resource = parts[4], parts[5]
    if account:
        return bool(ACCOUNT_ID.fullmatch(account))
    return bool(resource) and resource[0] not in _WILDCARDS


def _value_narrows(key: str, value: str, account_keys: frozenset[str] = _ACCOUNT_KEYS) -> bool:
    """Whether one condition value limits the key to something a stranger cannot match."""
    if not value or not value.strip("*?"):
        return False
    if key in account_keys:
        return bool(ACCOUNT_ID.fullmatch(value))
    if key in _ID_KEYS:
        return not _has_wildcard(value)
    if key == _ORG_PATHS_KEY:
        org = value.split("/", 1)[0]
        return bool(org) and not _has_wildcard(org)
    if key in _ARN_KEYS:
        return _arn_narrows(value)
    return True


def _ips_narrow(values: list[str]) -> bool:
    """Every value parses as a network, and together they do not cover all of IPv4 or IPv6."""
    import ipaddress  # off the cold-start path: few policies have IP conditions

    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False  # IAM rejects these; never let an odd value count as a limit
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    # 0.0.0.0/1 plus 128.0.0.0/1 is the world too: collapse before comparing.
    world_v4, world_v6 = ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")
    if world_v4 in ipaddress.collapse_addresses(v4) or world_v6 in ipaddress.collapse_addresses(v6):
        return False
    return bool(v4 or v6)


def _operator_base(operator: str) -> str | None:
    """The plain operator of a positive, presence-requiring operator; None for anything else."""
    lowered = operator.strip().lower()
    if lowered.startswith(_FOR_ANY_VALUE):
        lowered = lowered[len(_FOR_ANY_VALUE) :]
    elif ":" in lowered:
        return None  # ForAllValues: and anything unknown
    if lowered in _STRING_OPERATORS or lowered in _IP_OPERATORS or lowered in _BOOL_OPERATORS:
        return lowered
    return None


class _Narrowing(NamedTuple):
    """The condition keys that narrow for one service: the shared ones plus the service's own."""

    keys: frozenset[str]
    account_keys: frozenset[str]
    flags: frozenset[str]

    @classmethod
    def of(
        cls, extra_keys: Iterable[str] = (), account_keys: Iterable[str] = (), flags: Iterable[str] = ()
    ) -> _Narrowing:
        accounts = frozenset(key.lower() for key in account_keys)
        return cls(
            keys=NARROWING_KEYS | {key.lower() for key in extra_keys} | accounts,
            account_keys=_ACCOUNT_KEYS | accounts,
            flags=frozenset(key.lower() for key in flags),
        )


def _narrowing_clauses(condition: Any, narrowing: _Narrowing) -> list[tuple[str, list[str]]]:
    """The (key, values) clauses of a Condition block that each narrow the statement on their own."""
    if not isinstance(condition, dict):
        return []
    keys = narrowing.keys
    found: list[tuple[str, list[str]]] = []
    for operator, clauses in condition.items():
        if not isinstance(operator, str) or not isinstance(clauses, dict):
            continue
        base = _operator_base(operator)
        if base is None:
            continue
        for raw_key, raw_values in clauses.items():
            if not isinstance(raw_key, str):
                continue
            key = raw_key.strip().lower()
            values = _texts(raw_values)
            if not values:
                continue
            if key == SOURCE_IP_KEY:
                if base in _IP_OPERATORS and _ips_narrow(values):
                    found.append((key, values))
            elif key in narrowing.flags:
                if base in _BOOL_OPERATORS and all(value.lower() == _TRUE for value in values):
                    found.append((key, values))
            elif (
                key in keys
                and base in _STRING_OPERATORS
                and all(_value_narrows(key, value, narrowing.account_keys) for value in values)
            ):
                found.append((key, values))
    return found


def is_narrowed(
    condition: Any,
    extra_keys: Iterable[str] = (),
    account_keys: Iterable[str] = (),
    flags: Iterable[str] = (),
) -> bool:
    """True when a statement's Condition limits callers to a known organisation/account/network.

    Condition operators and keys are ANDed, so one narrowing clause is enough; within a clause
    the values are ORed, so every value must narrow.
    """
    return bool(_narrowing_clauses(condition, _Narrowing.of(extra_keys, account_keys, flags)))


def _condition_accounts(clauses: list[tuple[str, list[str]]], account_keys: frozenset[str]) -> list[str]:
    """Accounts named by account or ARN clauses: who ``"*"`` really is once narrowed by them."""
    accounts: list[str] = []
    for key, values in clauses:
        if key in account_keys:
            accounts.extend(values)
        elif key in _ARN_KEYS:
            for value in values:
                parts = value.split(":", 5)
                if len(parts) == 6 and ACCOUNT_ID.fullmatch(parts[4]):
                    accounts.append(parts[4])
    return accounts


def analyze_policy(
    document: Any,
    is_trusted_account: Callable[[str], bool],
    principal_kinds: Iterable[str] = ("AWS",),
    extra_narrowing_keys: Iterable[str] = (),
    *,
    account_keys: Iterable[str] = (),
    narrowing_flags: Iterable[str] = (),
) -> PolicyExposure:
    """Which Allow statements open the resource to the world, and to which untrusted accounts.

    ``document``: JSON text (plain or URL-encoded) or a decoded dict; anything unreadable is
    treated as exposing nothing. ``is_trusted_account``: the caller's notion of "ours" (usually
    ``lambda a: ctx.is_trusted_account(a, event)``). ``principal_kinds``: which Principal map keys
    name accounts (``AWS``; add ``CanonicalUser`` or others where they apply). A service's own
    condition keys: ``extra_narrowing_keys`` narrow with any specific value, ``account_keys`` hold
    an account id (and name it, as ``aws:SourceAccount`` does), ``narrowing_flags`` narrow when a
    ``Bool`` condition requires them true.
    """
    kinds = tuple(principal_kinds)
    narrowing = _Narrowing.of(extra_narrowing_keys, account_keys, narrowing_flags)
    world: list[str] = []
    actions: list[str] = []
    external: list[str] = []
    external_actions: list[str] = []

    def grant_external(statement: dict[str, Any], accounts: Iterable[str]) -> None:
        """Record the untrusted ones among ``accounts``, and what the statement lets them do."""
        untrusted = [account for account in accounts if account and not is_trusted_account(account)]
        if not untrusted:
            return
        external.extend(account for account in dict.fromkeys(untrusted) if account not in external)
        external_actions.extend(_statement_actions(statement))

    for index, statement in enumerate(statements(load_policy(document))):
        effect = member(statement, "Effect")
        if not isinstance(effect, str) or effect.strip().lower() != "allow":
            continue
        # Allow with NotPrincipal grants everyone except the listed principals: treated as "*".
        if not _has_field(statement, "NotPrincipal"):
            principals = principal_values(member(statement, "Principal"), kinds)
            if "*" not in principals:
                grant_external(statement, (account_of_principal(principal) for principal in principals))
                continue
        clauses = _narrowing_clauses(member(statement, "Condition"), narrowing)
        if clauses:
            grant_external(statement, _condition_accounts(clauses, narrowing.account_keys))
            continue
        world.append(_label(statement, index))
        actions.extend(_statement_actions(statement))
    return PolicyExposure(
        tuple(world), tuple(external), tuple(dict.fromkeys(actions)), tuple(dict.fromkeys(external_actions))
    )


def action_matches(pattern: str, action: str) -> bool:
    """Whether an IAM action pattern (``s3:Put*``, ``*``) covers ``action``: case-insensitive,
    ``*`` for any run of characters, ``?`` for one.

    The classic two-pointer wildcard match, not a regular expression: patterns come from the event,
    and ``*a*a*a...`` must not cost exponential backtracking.
    """
    pattern, action = pattern.lower(), action.lower()
    p = a = 0
    star, resume = -1, 0
    while a < len(action):
        if p < len(pattern) and pattern[p] in ("?", action[a]):
            p += 1
            a += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, a
            p += 1
        elif star >= 0:
            p = star + 1
            resume += 1
            a = resume
        else:
            return False
    return all(char == "*" for char in pattern[p:])


def denies(document: Any, action: str) -> bool:
    """Whether some Deny statement of the policy covers ``action``, whoever it is aimed at (a
    ``NotAction`` Deny covers everything it does not list)."""
    for statement in statements(load_policy(document)):
        effect = member(statement, "Effect")
        if not isinstance(effect, str) or effect.strip().lower() != "deny":
            continue
        excluded = _texts(member(statement, "NotAction"))
        if excluded:
            if not any(action_matches(pattern, action) for pattern in excluded):
                return True
        elif any(action_matches(pattern, action) for pattern in _texts(member(statement, "Action"))):
            return True
    return False


def _statement_actions(statement: dict[str, Any]) -> list[str]:
    """The actions a statement grants, for display; ``NotAction`` reads as "all except ..."."""
    granted = _texts(member(statement, "Action"))
    if granted:
        return granted
    excluded = _texts(member(statement, "NotAction"))
    return ["* except " + ", ".join(excluded)] if excluded else []


def _label(statement: dict[str, Any], index: int) -> str:
    sid = member(statement, "Sid")
    return sid.strip() if isinstance(sid, str) and sid.strip() else f"statement {index + 1}"


def public_policy_hit(subject: str, resource: Resource, exposure: PolicyExposure) -> Hit:
    """The finding for a resource policy open to the world: which statements, which actions."""
    details = {"Public statements": ", ".join(exposure.world_statements)}
    actions = ", ".join(exposure.world_actions)
    if actions:
        details["Actions"] = actions
    summary = f"{subject} policy allows public access" + (f" ({actions})" if actions else "")
    return Hit(summary=summary, resource=resource, details=details)


def external_policy_hit(
    subject: str, resource: Resource, exposure: PolicyExposure, severity: Severity | None = None
) -> Hit:
    """The finding for a resource policy that lets accounts outside the trusted set in."""
    accounts = ", ".join(exposure.external_accounts)
    details = {"External accounts": accounts}
    actions = ", ".join(exposure.external_actions)
    if actions:
        details["Actions"] = actions
    summary = f"{subject} policy grants access to external account(s) {accounts}" + (f" ({actions})" if actions else "")
    return Hit(summary=summary, resource=resource, severity=severity, details=details)


def exposure_hit(
    subject: str, resource: Resource, exposure: PolicyExposure, external_severity: Severity | None = None
) -> Hit | None:
    """The one finding for a "public or external" rule: public first (the worse), else external
    at ``external_severity`` (the rule's own severity when None), else nothing."""
    if exposure.public:
        return public_policy_hit(subject, resource, exposure)
    if exposure.external:
        return external_policy_hit(subject, resource, exposure, external_severity)
    return None


# --------------------------------------------------------------------------------------------
# Administrator grants: identity policies (of IAM users, groups and roles, IAM policy versions,
# Identity Center permission sets) that make whoever holds them an administrator.
# --------------------------------------------------------------------------------------------

# AWS managed policies whose attachment makes the principal an administrator (IAMFullAccess
# lets it grant itself anything). Matched by name so that partitions and look-alike customer
# policies of the same name are caught too.
ADMIN_POLICY_NAMES = frozenset({"AdministratorAccess", "IAMFullAccess"})
GRANTS_EVERYTHING = "all actions on all resources"
GRANTS_ALL_IAM = "all IAM actions on all resources"
GRANTS_ANY_ROLE = "sts:AssumeRole on all resources"
_EVERY_ACTION = frozenset({"*", "*:*"})
_EVERY_IAM_ACTION = frozenset({"iam:*"})
_EVERY_RESOURCE = frozenset({"*", "arn:*"})
_ASSUME_ROLE = "sts:assumerole"


def admin_policy_name(policy_arn: str) -> str:
    """The name of an administrator managed policy, from its ARN; empty for any other policy."""
    if not isinstance(policy_arn, str) or ":policy/" not in policy_arn:
        return ""
    name = policy_arn.rsplit("/", 1)[-1]
    return name if name in ADMIN_POLICY_NAMES else ""


def admin_grant(document: Any, *, assume_any_role: bool = False) -> str:
    """The broadest administrator grant among a policy's Allow statements on every resource.

    ``GRANTS_EVERYTHING`` ("*" on "*"), ``GRANTS_ALL_IAM`` (iam:* on "*": the holder can grant
    itself the rest) or, with ``assume_any_role``, ``GRANTS_ANY_ROLE`` (sts:AssumeRole, or a
    wildcard covering it, on "*": every role that trusts the account is the holder's); empty
    when the document grants none of these or cannot be read (``HIDDEN_DUE_TO_SECURITY_REASONS``).
    """
    grant = ""
    for statement in statements(load_policy(document)):
        effect = member(statement, "Effect")
        if not isinstance(effect, str) or effect.strip().lower() != "allow":
            continue
        if not {value.lower() for value in _texts(member(statement, "Resource"))} & _EVERY_RESOURCE:
            continue
        actions = {value.lower() for value in _texts(member(statement, "Action"))}
        if actions & _EVERY_ACTION:
            return GRANTS_EVERYTHING
        if actions & _EVERY_IAM_ACTION:
            grant = GRANTS_ALL_IAM
        elif assume_any_role and not grant and any(action_matches(action, _ASSUME_ROLE) for action in actions):
            grant = GRANTS_ANY_ROLE
    return grant
