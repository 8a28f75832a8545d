"""Baseline rules: what is new for a principal, once its baseline has learned what is usual.

Each rule keeps a first-seen set per principal in the detection state (``ctx.state``, its rule id
as namespace): the regions, networks and calls it used, and for EC2 instance credentials the
addresses each instance's session called from. Nothing is reported while a principal is still
learning (its first event in that rule is less than ``learning_days`` old), and never on a
principal's first event: a scan without ``--state`` starts every baseline cold and so reports
nothing here unless its logs span more than the learning period.

The principal is the actor's principal ARN: the role for assumed-role sessions, so every session
of a role shares the role's baseline (a pipeline's sessions have a new name every run).

"AWS address": without AWS's published ip-ranges.json (trailguard works offline), an address is
AWS's only when CloudTrail names a service instead of an IP (``ec2.amazonaws.com``, ``AWS
Internal``). An instance's own public or NAT address is learned from its first calls instead.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from trailguard.core.base_handler import REGISTRY, Rule, RuleContext, Subscriptions, base_event_name, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.state import DAY, event_epoch

FAMILY = "baseline"
# How long a first-seen value is remembered: a region, network or call unused for this long is new
# again. Longer than any learning period, shorter than a year of DynamoDB items per principal.
REMEMBER_SECONDS = 120 * DAY

# Services whose calls CloudTrail logs in us-east-1 whatever region the caller works in: a call to
# them says nothing about the regions a principal uses.
GLOBAL_SOURCES = frozenset(
    {
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "organizations.amazonaws.com",
        "route53.amazonaws.com",
        "route53domains.amazonaws.com",
        "cloudfront.amazonaws.com",
        "globalaccelerator.amazonaws.com",
        "support.amazonaws.com",
        "health.amazonaws.com",
        "account.amazonaws.com",
        "signin.amazonaws.com",
        "waf.amazonaws.com",
        "shield.amazonaws.com",
        "budgets.amazonaws.com",
        "ce.amazonaws.com",
    }
)

# The calls stolen instance credentials make first (who am I, what is here), kept to the rarer ones
# (DescribeInstances and ListBuckets are every tool's heartbeat). Read-only: delivered to the Lambda only when
# the stack subscribes read-only events; a scan reads them from the logs.
RECONNAISSANCE_CALLS: dict[str, list[str]] = {
    "sts.amazonaws.com": ["GetCallerIdentity"],
    "iam.amazonaws.com": ["GetAccountAuthorizationDetails"],
}

# EC2 names an instance profile's sessions after the instance: i- and 8 or 17 hexadecimal digits.
_HEX = frozenset("0123456789abcdefABCDEF")


# --------------------------------------------------------------------------------------------
# Subscriptions and what other rules watch
# --------------------------------------------------------------------------------------------


def _other_rules(rules: Sequence[Rule]) -> Iterator[Rule]:
    """Rules outside this family with literal subscriptions: a factory-subscribed rule watches the
    events of others already (and asking it back could recurse)."""
    for other in rules:
        if other.id.partition(".")[0] != FAMILY and not callable(other.on):
            yield other


def _add(events: dict[str, set[str]], source: str, names: Sequence[str]) -> None:
    events.setdefault(source, set()).update(names)


def other_rule_events(rules: Sequence[Rule]) -> Subscriptions:
    """Every event some rule outside this family subscribes to (resolved once all are registered)."""
    events: dict[str, set[str]] = {}
    for other in _other_rules(rules):
        for key in REGISTRY.subscriptions(other):
            _add(events, key.source, [key.name + ("*" if key.versioned else "")])
    return events


def _watched_events(rules: Sequence[Rule]) -> Subscriptions:
    """Other rules' events and the default ``baseline_watch`` calls, so that the generated
    EventBridge patterns deliver them (Lambda's calls carry API-version suffixes: ``*``)."""
    from trailguard.core.constants import DEFAULT_BASELINE_WATCH

    events = {source: set(names) for source, names in other_rule_events(rules).items()}
    for call in DEFAULT_BASELINE_WATCH:
        source, _, name = call.partition(":")
        _add(events, source, [name + "*" if source == "lambda.amazonaws.com" else name])
    return events


def _instance_session_events(rules: Sequence[Rule]) -> Subscriptions:
    events = {source: set(names) for source, names in other_rule_events(rules).items()}
    for source, names in RECONNAISSANCE_CALLS.items():
        _add(events, source, names)
    return events


class _Events:
    """A subscription factory, and how the rule tables (`trailguard rules`, docs/rules.md) name its
    events (``events_label``)."""

    def __init__(self, label: str, build: Callable[[Sequence[Rule]], Subscriptions]) -> None:
        self.events_label = label
        self._build = build

    def __call__(self, rules: Sequence[Rule]) -> Subscriptions:
        return self._build(rules)


OTHER_RULES_EVENTS = _Events("the events of every other rule", other_rule_events)
WATCHED_EVENTS = _Events("the events of every other rule and `baseline_watch`'s", _watched_events)
INSTANCE_SESSION_EVENTS = _Events(
    "the events of every other rule, and sts GetCallerIdentity, iam GetAccountAuthorizationDetails",
    _instance_session_events,
)


_watchers: dict[tuple[str, str], tuple[Rule, ...]] = {}
_watchers_counted = -1


def _watchers_of(event: CloudTrailEvent) -> tuple[Rule, ...]:
    """The rules outside this family subscribed to this event (by its source and name).

    Read from the rules registered so far: the engine has imported every module that subscribes to
    the event's source before it evaluates the event (lazily in the Lambda), so they are all there.
    """
    global _watchers_counted
    if _watchers_counted != len(REGISTRY):
        _watchers.clear()
        _watchers_counted = len(REGISTRY)
    key = (event.event_source, base_event_name(event.event_name))
    found = _watchers.get(key)
    if found is None:
        found = tuple(
            other
            for other in _other_rules(REGISTRY.loaded())
            if any((sub.source, sub.name) == key for sub in REGISTRY.subscriptions(other))
        )
        _watchers[key] = found
    return found


def _also_a_finding(event: CloudTrailEvent, ctx: RuleContext) -> bool:
    """Is the event a finding above INFO of another rule? Rules are pure functions of the event and
    the settings, so asking the stateless ones again is safe; it happens only when something is new."""
    for other in _watchers_of(event):
        if other.stateful or (other.severity <= Severity.INFO and not other.escalates_to):
            continue
        try:
            hits = list(other(event, ctx))
        except Exception:  # noqa: BLE001 - the engine reports that rule's errors; here it only counts
            continue
        if any((hit.severity if hit.severity is not None else other.severity) > Severity.INFO for hit in hits):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _is_service_address(source_ip: str) -> bool:
    """CloudTrail's names for AWS calling on a principal's behalf instead of an IP address."""
    text = source_ip.strip()
    return text == "AWS Internal" or text.endswith((".amazonaws.com", ".amazon.com"))


def _is_octet(text: str) -> bool:
    """A decimal IPv4 octet as ipaddress accepts it: 1-3 ASCII digits, no leading zero, <= 255."""
    return (
        0 < len(text) <= 3
        and text.isascii()
        and text.isdigit()
        and (text[0] != "0" or len(text) == 1)
        and int(text) <= 255
    )


# network_of's answers: ipaddress parses slowly and a trail's callers use few addresses. Cleared when full.
_NETWORKS: dict[str, str] = {}
_NETWORKS_LIMIT = 1024


def network_of(source_ip: str) -> str:
    """The IPv4 /16 or IPv6 /32 an address is in (``198.51.0.0/16``); empty for anything else."""
    network = _NETWORKS.get(source_ip)
    if network is None:
        if len(_NETWORKS) >= _NETWORKS_LIMIT:
            _NETWORKS.clear()
        network = _NETWORKS[source_ip] = _network_of(source_ip)
    return network


def _network_of(source_ip: str) -> str:
    text = source_ip.strip()
    if not text or len(text) > 45 or _is_service_address(text):
        return ""
    octets = text.split(".")
    if len(octets) == 4 and all(_is_octet(octet) for octet in octets):
        # What ipaddress answers for a dotted IPv4 address, without its slow parse.
        return f"{octets[0]}.{octets[1]}.0.0/16"
    import ipaddress  # only the baseline rules parse addresses

    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 16 if address.version == 4 else 32
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def instance_id_of(event: CloudTrailEvent) -> str:
    """The instance an assumed-role session belongs to, when the session is named after one."""
    if event.identity_type != "AssumedRole":
        return ""
    session = event.actor.arn.rpartition("/")[2]
    digits = session[2:]
    if session[:2] == "i-" and len(digits) in (8, 17) and set(digits) <= _HEX:
        return session
    return ""


def _first_news(
    ctx: RuleContext, rule_id: str, event: CloudTrailEvent, entity: str, value: str, *, learns: bool = True
) -> tuple[bool, float] | None:
    """Record ``value`` for ``entity``; ``(new, at)`` when the entity has a baseline past its
    learning period (``learns``; else only past its first event), None while it learns (its first
    event included) or without a time."""
    at = event_epoch(event.event_time)
    if at is None or not entity or not value or ctx.state is None:
        return None
    sighting = ctx.state.first_seen(rule_id, entity, value, at, REMEMBER_SECONDS)
    if sighting.entity_since >= at or (learns and sighting.learning(at, ctx.learning_days * DAY)):
        return None
    return sighting.new, at


def _principal(event: CloudTrailEvent) -> str:
    return event.actor.principal_arn


def _principal_resource(event: CloudTrailEvent) -> Resource:
    """The user or role the finding is about (an assumed role's session: its role)."""
    arn = event.actor.principal_arn
    for marker, kind in ((":user/", "AWS::IAM::User"), (":role/", "AWS::IAM::Role")):
        if marker in arn:
            return Resource(type=kind, id=arn.rpartition("/")[2], arn=arn)
    return Resource(type="AWS::IAM::Principal", id=event.actor.label, arn=arn)


def _resource_kind(event: CloudTrailEvent) -> str:
    """The type of the resource a call names in CloudTrail's ``resources`` list, when it does."""
    resources = event.raw.get("resources")
    if isinstance(resources, list):
        for entry in resources:
            if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"]:
                return str(entry["type"])
    return ""


_LEARNING_NOTE = (
    " Nothing is reported while the principal's baseline is younger than `learning_days` (14 by "
    "default), nor on its first event: a scan without `--state` starts cold."
)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="baseline.new-region",
    severity=Severity.MEDIUM,
    on=OTHER_RULES_EVENTS,
    stateful=True,
    title="Principal active in a region it never used",
    description=(
        "A principal (a user, or a role whatever its session) made a call in an AWS region it had "
        "not used during its baseline. Attackers run miners and hide resources in regions nobody "
        "looks at. Calls to global services (IAM, STS, Organizations, Route 53, CloudFront...), "
        "which CloudTrail logs in us-east-1, do not count." + _LEARNING_NOTE
    ),
    remediation=(
        "Ask the principal's owner whether work in that region is expected; if not, list what was "
        "created there (`aws resourcegroupstaggingapi get-resources --region <region>`, the EC2 "
        "console), rotate the credentials and restrict regions with an SCP (`aws:RequestedRegion`)."
    ),
    mitre="T1535",
    quiet=(
        "Calls to global services (logged in us-east-1), principals still learning or on "
        "their first event, and regions the principal used within 120 days. Cannot tell: a team "
        "starting work in a new region from an intruder hiding resources there (`suppressions` by "
        "principal and region)."
    ),
)
def new_region(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    region = event.region
    if event.event_source in GLOBAL_SOURCES or not region:
        return
    news = _first_news(ctx, "baseline.new-region", event, _principal(event), region)
    if news is None or not news[0]:
        return
    yield Hit(
        summary=f"{event.actor.label} acted in region {region} for the first time ({event.event_name})",
        resource=_principal_resource(event),
        details={"Region": region, "Call": f"{event.event_source}:{event.event_name}"},
    )


@rule(
    id="baseline.new-network",
    severity=Severity.LOW,
    escalates_to=(Severity.MEDIUM,),
    on=OTHER_RULES_EVENTS,
    stateful=True,
    title="Principal calling from a network it never used",
    description=(
        "A principal called AWS from an IPv4 /16 or IPv6 /32 network it had not used during its "
        "baseline: a new office, a VPN, or credentials used somewhere else. LOW, MEDIUM when the "
        "call is also a finding above INFO of another rule (the new network comes with a change "
        "worth a look). Calls AWS makes for the principal (`ec2.amazonaws.com`, `AWS Internal`) do not "
        "count." + _LEARNING_NOTE
    ),
    remediation=(
        "Ask the principal's owner whether they work from that network; if not, treat the "
        "credentials as stolen: deactivate the access key or revoke the role's sessions, and review "
        "what the principal did from there."
    ),
    mitre="T1078",
    quiet=(
        "Calls AWS makes for the principal (a service name instead of an address), "
        "networks the principal used within 120 days, and principals still learning; LOW unless "
        "the call is also another rule's finding. Cannot tell: a new office, VPN exit or pool of "
        "CI runners from stolen credentials (`suppressions` by principal for a pipeline whose "
        "runners move)."
    ),
)
def new_network(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    network = network_of(event.source_ip)
    if not network:
        return
    news = _first_news(ctx, "baseline.new-network", event, _principal(event), network)
    if news is None or not news[0]:
        return
    yield Hit(
        summary=f"{event.actor.label} called from network {network} for the first time ({event.event_name})",
        resource=_principal_resource(event),
        severity=Severity.MEDIUM if _also_a_finding(event, ctx) else Severity.LOW,
        details={"Network": network, "Source address": event.source_ip},
    )


@rule(
    id="baseline.new-sensitive-call",
    severity=Severity.LOW,
    escalates_to=(Severity.MEDIUM,),
    on=WATCHED_EVENTS,
    stateful=True,
    title="Principal making a sensitive call for the first time",
    description=(
        "A principal made a call it had never made during its baseline (for calls on resources: on "
        "a kind of resource it never touched that way): one of the events other rules watch "
        "(MEDIUM), or one of `baseline_watch`, write calls that attack reports and detection "
        "catalogues show attackers favour and that are routine in some accounts only: images, "
        "snapshots and volumes, launch templates, ECS tasks and services, API Gateway, CloudShell, "
        "CloudFormation stacks, Lightsail, Transfer, Route 53, SES identities, support cases, IAM "
        "deletions (LOW). Calls another rule remembers by itself (`lambda.function-changed`) are left "
        "to it, so that one change makes one alert." + _LEARNING_NOTE
    ),
    remediation=(
        "Ask the principal's owner whether the call was theirs; a pipeline's new step is expected, "
        "a person's first CloudShell session or snapshot copy may not be. Review what the call "
        "created or changed."
    ),
    mitre="T1078",
    quiet=(
        "Calls (and, on resources, kinds of resource) the principal used within its "
        "baseline, calls another rule remembers by itself (lambda.function-changed), and "
        "principals still learning. Cannot tell: a pipeline's new deployment step from a stolen "
        "role's first snapshot copy (LOW for `baseline_watch` calls; tune `baseline_watch` or "
        "`suppressions`)."
    ),
)
def new_sensitive_call(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    call = f"{event.event_source}:{base_event_name(event.event_name)}"
    watchers = _watchers_of(event)
    if any(other.stateful for other in watchers):
        return  # a rule that remembers this call itself (lambda.function-changed) says when it is new
    watched = bool(watchers)
    if not watched and call not in ctx.baseline_watch:
        return
    kind = _resource_kind(event)
    value = f"{call} {kind}" if kind else call
    news = _first_news(ctx, "baseline.new-sensitive-call", event, _principal(event), value)
    if news is None or not news[0]:
        return
    details = {"Call": call}
    if kind:
        details["Resource type"] = kind
    yield Hit(
        summary=f"{event.actor.label} called {base_event_name(event.event_name)} for the first time",
        resource=_principal_resource(event),
        severity=Severity.MEDIUM if watched else Severity.LOW,
        details=details,
    )


@rule(
    id="baseline.instance-credentials-outside",
    severity=Severity.HIGH,
    on=INSTANCE_SESSION_EVENTS,
    stateful=True,
    # GetCallerIdentity (what a thief runs first) is read-only: EventBridge delivers it only to a
    # rule in the all-management-events state, the read-only-calls pattern.
    reads=True,
    title="EC2 instance credentials used from outside the instance",
    description=(
        "A session of an instance profile (its session name is the instance id) called AWS from an "
        "address that instance's session had not used, without a VPC endpoint, and not AWS calling "
        "for it: the instance's credentials, taken from its metadata service (SSRF, a compromised "
        "process), are used elsewhere. An instance's first calls teach its addresses (its public "
        "or NAT address); its role's baseline must be past `learning_days`. Without AWS's "
        "published IP ranges, an attacker calling from another EC2 instance is caught as well, and "
        "an instance whose address changes (a new Elastic IP, a restart) is reported once."
    ),
    remediation=(
        "Revoke the role's older sessions (IAM console: Roles > <role> > Revoke active sessions), "
        "find how the credentials left the instance (IMDSv1, SSRF, a compromised process), require "
        "IMDSv2 and add the `aws:EC2InstanceSourceVPC` / `aws:ec2InstanceSourcePrivateIPv4` "
        "conditions to the role's policies."
    ),
    mitre="T1552.005",
    quiet=(
        "Calls through a VPC endpoint, calls AWS makes for the instance (a service name "
        "as the address), an instance's own first addresses, and roles still learning. Cannot "
        "tell: an instance whose public or NAT address changes (a new Elastic IP, a restart) from "
        "its credentials used elsewhere; reported once per new address (AWS's published ranges are "
        "not consulted offline)."
    ),
)
def instance_credentials_outside(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    instance = instance_id_of(event)
    address = event.source_ip.strip()
    if not instance or not address or _is_service_address(address) or event.get_str("vpcEndpointId"):
        return
    role = _principal(event)
    # The role's baseline decides whether the rule speaks at all; the instance's own decides what
    # is new (a new instance's first address is its own).
    if _first_news(ctx, "baseline.instance-credentials-outside", event, role, instance) is None:
        return
    news = _first_news(ctx, "baseline.instance-credentials-outside", event, f"{role} {instance}", address, learns=False)
    if news is None or not news[0]:
        return
    yield Hit(
        summary=f"Credentials of instance {instance} used from {address} ({event.event_name})",
        resource=Resource(type="AWS::EC2::Instance", id=instance),
        details={"Role": role, "Source address": address},
        remedy={"<role>": event.get_str("userIdentity", "sessionContext", "sessionIssuer", "userName")},
    )
