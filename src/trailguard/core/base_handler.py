"""The rule registry: the ``@rule`` decorator, rule metadata and the context rules receive.

A rule is a pure function ``(CloudTrailEvent, RuleContext) -> Iterable[Hit]`` registered with its
metadata. Handler modules (``trailguard.handlers.*``) hold the rules of one AWS service domain; the
registry indexes them by ``(eventSource, eventName)`` so the engine routes each record in O(1).

Core does not know those modules: the handlers package installs a ``RuleCatalogue`` into
``REGISTRY`` when it is imported (``import trailguard`` imports it), and the registry asks the
catalogue which modules to import, and which rule ids exist before any is imported.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from trailguard.core.constants import DEFAULT_AUDIT_LOG_GROUPS, DEFAULT_BASELINE_WATCH, DEFAULT_SELF_RESOURCES
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.exceptions import RuleDefinitionError

if TYPE_CHECKING:
    import ipaddress

RuleFunction = Callable[[CloudTrailEvent, "RuleContext"], Iterable[Hit]]
Subscriptions = Mapping[str, Iterable[str]]
SubscriptionFactory = Callable[[Sequence["Rule"]], Subscriptions]

RULE_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$")
# Some services (Lambda above all) log API-versioned names: AddPermission20150331v2,
# CreateFunction20150331. Routing uses the name without that suffix.
_VERSION_SUFFIX = re.compile(r"20\d{6}(?:v\d+)?$", re.ASCII)
VERSIONED_MARK = "*"


def base_event_name(event_name: str) -> str:
    """``AddPermission20150331v2`` -> ``AddPermission``; other names are returned unchanged."""
    if event_name and event_name[-1].isdigit():
        return _VERSION_SUFFIX.sub("", event_name)
    return event_name


class Rule:
    """A detection: its metadata and the function that evaluates one event.

    A plain class, compared by identity (no dataclasses on the Lambda's import path).
    """

    __slots__ = (
        "description",
        "escalates_to",
        "func",
        "id",
        "identity_types",
        "include_failed",
        "kind",
        "mitre",
        "on",
        "quiet",
        "reads",
        "remediation",
        "resource_placeholder",
        "routine",
        "severity",
        "stateful",
        "title",
    )

    def __init__(
        self,
        *,
        id: str,
        severity: Severity,
        title: str,
        description: str,
        remediation: str,
        func: RuleFunction,
        mitre: str = "",
        kind: FindingKind = FindingKind.EVENT,
        include_failed: bool = False,
        on: Subscriptions | SubscriptionFactory | None = None,
        identity_types: frozenset[str] = frozenset(),
        escalates_to: tuple[Severity, ...] = (),
        stateful: bool = False,
        reads: bool = False,
        quiet: str = "",
        routine: bool = False,
        resource_placeholder: str = "",
    ) -> None:
        self.id = id
        self.severity = severity
        self.title = title
        self.description = description
        self.remediation = remediation
        self.func = func
        self.mitre = mitre
        self.kind = kind
        self.include_failed = include_failed
        # Literal subscriptions, or a factory resolved once every rule is registered (for rules
        # that watch the events of other rules, such as tamper.denied-attempt).
        self.on: Subscriptions | SubscriptionFactory = on or {}
        # userIdentity.type values this rule watches on every event (iam.root-activity).
        self.identity_types = identity_types
        # Severities the rule can return besides its default, for documentation and tests.
        self.escalates_to = escalates_to
        # Remembers across events through ctx.state: evaluated in event-time order, in one place
        # (a scan's main process, however many --jobs read the files).
        self.stateful = stateful
        # Watches read-only calls (GetSecretValue...), which EventBridge delivers only to a rule in
        # the state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS: patterns.py gives them their own.
        self.reads = reads
        # The routine, legitimate activity the rule stays quiet on (and how it tells), and what it
        # cannot tell apart: the question a user asks of a noisy tool, answered in docs/rules.md.
        self.quiet = quiet
        # Routine by memory (core/routine.py): a principal's repeats of a change to a resource go
        # to the findings history only.
        self.routine = routine
        # The remediation's placeholder that names the hit's resource ("<bucket>"): the engine fills
        # it from each hit (core.remedy quotes it), unless the hit's ``remedy`` gives it.
        self.resource_placeholder = resource_placeholder

    @property
    def reports_aws(self) -> bool:
        """Does this rule report calls AWS makes by itself? The tamper, trailguard-self and CRITICAL
        rules do: whoever stops a trail or opens a bucket to the world, someone must hear of it."""
        return self.severity is Severity.CRITICAL or self.id.partition(".")[0] in ("tamper", "trailguard")

    @property
    def module(self) -> str:
        return getattr(self.func, "__module__", "")

    def __call__(self, event: CloudTrailEvent, ctx: RuleContext) -> Iterable[Hit]:
        return self.func(event, ctx)

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.severity.name})"


class EventKey(NamedTuple):
    """One subscription: an event source and a base event name (``versioned``: has suffixes)."""

    source: str
    name: str
    versioned: bool = False


class RuleCatalogue(Protocol):
    """Where a registry's rules come from: modules that register them when imported."""

    def rule_ids(self) -> Collection[str]:
        """Every rule id the catalogue's modules register, known without importing them."""
        ...

    def top_severities(self) -> Mapping[str, Severity]:
        """Each rule id's highest severity (its own or one it escalates to), without importing."""
        ...

    def load_all(self) -> None:
        """Import every module of the catalogue."""
        ...

    def load_for(self, event_source: str, identity_type: str) -> None:
        """Import the modules whose rules an event of this source and caller type may fire."""
        ...


class RuleRegistry:
    """Rules by id, plus the subscription index the engine routes on."""

    def __init__(self, catalogue: RuleCatalogue | None = None) -> None:
        self._rules: dict[str, Rule] = {}
        self._loaded = False
        self._catalogue = catalogue

    def install(self, catalogue: RuleCatalogue) -> None:
        """Take rules from ``catalogue`` (the handlers package installs its own into ``REGISTRY``)."""
        self._catalogue = catalogue

    def rule(
        self,
        *,
        id: str,
        severity: Severity,
        title: str,
        description: str,
        remediation: str,
        on: Subscriptions | SubscriptionFactory | None = None,
        identity_types: Collection[str] = (),
        mitre: str = "",
        kind: FindingKind = FindingKind.EVENT,
        include_failed: bool = False,
        escalates_to: Collection[Severity] = (),
        stateful: bool = False,
        reads: bool = False,
        quiet: str = "",
        routine: bool = False,
        resource_placeholder: str = "",
    ) -> Callable[[RuleFunction], Rule]:
        """Register the decorated function as a rule. docs/rules.md lists every rule's id and severity."""

        def register(func: RuleFunction) -> Rule:
            if not RULE_ID_PATTERN.match(id):
                raise RuleDefinitionError(f"rule id {id!r} must look like 'service.what-it-detects'")
            if id in self._rules:
                raise RuleDefinitionError(f"rule id {id!r} is registered twice")
            if not on and not identity_types:
                raise RuleDefinitionError(f"rule {id!r} subscribes to no event")
            for field_name, text in (("title", title), ("description", description), ("remediation", remediation)):
                if not text.strip():
                    raise RuleDefinitionError(f"rule {id!r} has an empty {field_name}")
            if resource_placeholder and resource_placeholder not in remediation:
                raise RuleDefinitionError(
                    f"rule {id!r}: resource_placeholder {resource_placeholder} is not in its remediation"
                )
            if routine:
                from trailguard.core.routine import remembering

                func = remembering(func, id)
            new_rule = Rule(
                id=id,
                severity=severity,
                title=title,
                description=description,
                remediation=remediation,
                func=func,
                mitre=mitre,
                kind=kind,
                include_failed=include_failed,
                on=on,
                identity_types=frozenset(identity_types),
                escalates_to=tuple(escalates_to),
                stateful=stateful or routine,  # memory is kept in one place, in event-time order
                reads=reads,
                quiet=quiet.strip(),
                routine=routine,
                resource_placeholder=resource_placeholder,
            )
            self._rules[id] = new_rule
            return new_rule

        return register

    def unregister(self, rule_ids: Iterable[str]) -> None:
        """Forget these rules: those of a user's rule module that failed half-way, or was unloaded."""
        for rule_id in rule_ids:
            self._rules.pop(rule_id, None)

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self._catalogue is not None:
                self._catalogue.load_all()

    def all(self) -> list[Rule]:
        """Every registered rule, sorted by id (importing the catalogue's modules on first use)."""
        self._ensure_loaded()
        return self.loaded()

    def loaded(self) -> list[Rule]:
        """The rules registered so far, sorted by id, without importing anything."""
        return sorted(self._rules.values(), key=lambda r: r.id)

    def known_ids(self) -> frozenset[str]:
        """Every rule id known without importing anything: the catalogue's and those registered so far
        (rules defined outside the catalogue count once their module is imported)."""
        catalogued = self._catalogue.rule_ids() if self._catalogue is not None else ()
        return frozenset((*catalogued, *self._rules))

    def top_severities(self) -> dict[str, Severity]:
        """Each known rule id's highest severity, without importing anything (as ``known_ids``)."""
        top = dict(self._catalogue.top_severities()) if self._catalogue is not None else {}
        top.update((rule.id, max((rule.severity, *rule.escalates_to))) for rule in self._rules.values())
        return top

    def load_for(self, event_source: str, identity_type: str) -> None:
        """Import the modules an event may concern (all are imported once all() ran)."""
        if not self._loaded and self._catalogue is not None:
            self._catalogue.load_for(event_source, identity_type)

    def __len__(self) -> int:
        """How many rules are registered so far."""
        return len(self._rules)

    def get(self, rule_id: str) -> Rule:
        self._ensure_loaded()
        try:
            return self._rules[rule_id]
        except KeyError:
            raise KeyError(f"no rule with id {rule_id!r}") from None

    def __contains__(self, rule_id: object) -> bool:
        self._ensure_loaded()
        return rule_id in self._rules

    def subscriptions(self, rule: Rule, among: Sequence[Rule] | None = None) -> list[EventKey]:
        """The (source, base name) keys ``rule`` is routed on; factories see ``among`` (or all)."""
        on = rule.on
        if callable(on):
            on = on(among if among is not None else self.all())
        keys: list[EventKey] = []
        for source, names in sorted(on.items()):
            for name in sorted(set(names)):
                versioned = name.endswith(VERSIONED_MARK)
                keys.append(EventKey(source, name.rstrip(VERSIONED_MARK), versioned))
        return keys


REGISTRY = RuleRegistry()
rule = REGISTRY.rule


# --------------------------------------------------------------------------------------------
# The context a rule evaluates in.
# --------------------------------------------------------------------------------------------

PortRange = tuple[int, int]
WORLD_LIKE_PREFIX = 8


_ADDRESS_CHARACTERS = frozenset("0123456789abcdefABCDEF.:")


def cidr_prefix_length(cidr: object) -> int | None:
    """The prefix length of CIDR text such as ``0.0.0.0/0`` or ``::/0``; None when it is not one.

    A string check, not ipaddress: the question comes up for every security group and NACL event,
    and ipaddress is a noticeable import for the Lambda's cold start. AWS rejects malformed CIDRs,
    so a successful call's CIDR only needs telling apart from non-CIDR text.
    """
    if not isinstance(cidr, str):
        return None
    address, slash, prefix = cidr.strip().partition("/")
    # At most three digits: int() of thousands of digits raises (and a prefix is 0-128 anyway).
    if not slash or not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 3:
        return None
    if not address or len(address) > 45 or not set(address) <= _ADDRESS_CHARACTERS:
        return None
    length = int(prefix)
    limit = 128 if ":" in address else 32
    return length if length <= limit else None


def parse_network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A network from CIDR text (host bits allowed, as AWS allows them); None if unparseable."""
    if not isinstance(cidr, str) or not cidr.strip():
        return None
    import ipaddress  # only rules about networks need it; keep it off the cold-start path

    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


class RuleContext(NamedTuple):
    """Settings and optional look-ups a rule may consult. Pure data: no I/O happens through it
    unless an enrichment ``lookup`` was given (the Lambda may pass one; offline it is None)."""

    allowed_ports: frozenset[int] = frozenset({80, 443})
    allowed_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trusted_accounts: frozenset[str] = frozenset()
    admin_ports: tuple[PortRange, ...] = ()
    unusual_instance_types: tuple[str, ...] = ()
    lookup: Any = None
    # Lower-cased globs; see Settings.admin_groups.
    admin_groups: tuple[str, ...] = ()
    audit_log_groups: tuple[str, ...] = DEFAULT_AUDIT_LOG_GROUPS
    self_resources: tuple[str, ...] = DEFAULT_SELF_RESOURCES
    self_deployer: tuple[str, ...] = ()
    # The detection state stateful rules remember through (core.state.DetectionState), their
    # learning period, and their thresholds (rule id -> {"count": 20, "window_seconds": 600, ...}).
    state: Any = None
    learning_days: int = 14
    thresholds: Mapping[str, Mapping[str, int]] = MappingProxyType({})
    # "eventSource:eventName" calls baseline.new-sensitive-call watches (setting baseline_watch).
    baseline_watch: frozenset[str] = frozenset(DEFAULT_BASELINE_WATCH)

    def threshold(self, rule_id: str, name: str, default: int) -> int:
        """A stateful rule's threshold (``thresholds`` setting), else the catalogue's default."""
        return self.thresholds.get(rule_id, {}).get(name, default)

    def is_trusted_account(self, account_id: str, event: CloudTrailEvent | None = None) -> bool:
        """Configured trusted accounts, plus the account the event happened in."""
        if not account_id:
            return False
        if event is not None and account_id == event.account_id:
            return True
        return account_id in self.trusted_accounts

    def is_admin_group(self, group_name: str) -> bool:
        """Does an IAM group's name match a configured administrators' group (ignoring case)?"""
        if not group_name or not self.admin_groups:
            return False
        import fnmatch  # only AddUserToGroup events ask

        name = group_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.admin_groups)

    def is_audit_log_group(self, name: str) -> bool:
        """Does this log group hold audit logs (CloudTrail, VPC flow logs)? ``audit_log_groups``
        globs, ignoring case: the same trail's group is spelt CloudTrail/... by one tool and
        aws-cloudtrail-logs-... by another."""
        lowered = name.lower()
        return bool(lowered) and any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in self.audit_log_groups)

    def is_self_resource(self, *identifiers: str) -> bool:
        """Is any of these names or ARNs one of trailguard's own resources (``self_resources`` globs)?"""
        return any(fnmatch.fnmatchcase(given, glob) for given in identifiers if given for glob in self.self_resources)

    def is_self_deployer(self, event: CloudTrailEvent) -> bool:
        """Is the caller the principal that deploys trailguard (``self_deployer`` globs)? For an
        assumed role the role's ARN counts, as in suppressions, and so does the session's."""
        actor = event.actor
        return any(
            fnmatch.fnmatchcase(arn, glob)
            for arn in (actor.principal_arn, actor.arn)
            if arn
            for glob in self.self_deployer
        )

    def tampers_with_trailguard(self, event: CloudTrailEvent, resource: Resource) -> bool:
        """A change to one of trailguard's own resources by anyone but its deployer: what
        trailguard.pipeline-tampered reports, and what the rules it overlaps with leave to it."""
        return self.is_self_resource(resource.id, resource.arn) and not self.is_self_deployer(event)

    def is_allowed_cidr(self, cidr: str) -> bool:
        """True when ``cidr`` lies inside one of the configured allowed CIDRs."""
        network = parse_network(cidr)
        if network is None:
            return False
        return any(
            network.version == allowed.version and network.subnet_of(allowed)  # type: ignore[arg-type]
            for allowed in self.allowed_cidrs
        )

    def is_world_like(self, cidr: str) -> bool:
        """The whole internet (prefix length 0), or a range broader than /8 that is not allowed:
        0.0.0.0/1 + 128.0.0.0/1 is the classic way around a "/0" check."""
        length = cidr_prefix_length(cidr)
        if length is None or length >= WORLD_LIKE_PREFIX:
            return False
        return not (self.allowed_cidrs and self.is_allowed_cidr(cidr))

    def touches_admin_port(self, from_port: int | None, to_port: int | None) -> bool:
        """True when the range includes an admin/database port, or is "all ports"."""
        if is_all_ports(from_port, to_port):
            return True
        low, high = _ordered(from_port, to_port)
        return any(start <= high and low <= end for start, end in self.admin_ports)

    def only_allowed_ports(self, from_port: int | None, to_port: int | None) -> bool:
        """True when every port of the range is an allowed port (so the opening is intended)."""
        if is_all_ports(from_port, to_port):
            return False
        low, high = _ordered(from_port, to_port)
        if high - low > 65535:
            return False
        return all(port in self.allowed_ports for port in range(low, high + 1))


def is_all_ports(from_port: int | None, to_port: int | None) -> bool:
    """AWS says "all ports" with -1, a missing port (protocol -1), or the range 0-65535."""
    if from_port is None or to_port is None:
        return True
    if from_port == -1 or to_port == -1:
        return True
    low, high = _ordered(from_port, to_port)
    return low <= 0 and high >= 65535


def _ordered(from_port: int | None, to_port: int | None) -> PortRange:
    low = from_port if from_port is not None else 0
    high = to_port if to_port is not None else 65535
    return (low, high) if low <= high else (high, low)
