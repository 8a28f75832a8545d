"""Typed views over one CloudTrail record, and the findings rules produce.

Everything in a record is attacker-influenced and loosely typed (CloudTrail itself writes numbers as
strings in some APIs and omits fields freely), so every accessor here returns a safe default rather
than raising on a missing key or an unexpected type.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.core.aws_ids import arn_partition
from trailguard.core.enums import FindingKind, Severity

if TYPE_CHECKING:
    from trailguard.core.console import Console

PathKey = str | int

_EMPTY: Mapping[str, Any] = {}


def dig(value: Any, *path: PathKey) -> Any:
    """Follow ``path`` through nested dicts and lists; None as soon as a step does not exist."""
    for key in path:
        if isinstance(key, str):
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        else:
            if not isinstance(value, list) or not -len(value) <= key < len(value):
                return None
            value = value[key]
    return value


def as_bool(value: Any) -> bool | None:
    """CloudTrail writes booleans as JSON booleans or as the strings "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def as_int(value: Any) -> int | None:
    """An integer from an int or a numeric string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def as_text(value: Any) -> str:
    """A string field, stripped; integers (ports, protocol numbers, account ids) as their digits."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


# What CloudTrail writes instead of a value it will not log (secrets, personal data, some names).
HIDDEN_VALUE = "HIDDEN_DUE_TO_SECURITY_REASONS"


def shown(text: str) -> str:
    """``text``, or empty when CloudTrail hid the value: a hidden name names nothing."""
    return "" if text == HIDDEN_VALUE else text


def member(mapping: Any, name: str) -> Any:
    """``mapping[name]``, else the member whose name differs only in case; None when there is none.

    CloudTrail camel-cases acronyms unpredictably (``aWSAccountId``, ``vPCOptions``, ``aRN``), and
    some writers lower-case policy fields (``statement``, ``effect``).
    """
    if not isinstance(mapping, dict):
        return None
    if name in mapping:
        return mapping[name]
    lowered = name.lower()
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def items_of(value: Any) -> list[Any]:
    """The elements of a CloudTrail list, which EC2 wraps as ``{"items": [...]}`` and others do not.

    A single object where a list was expected is treated as a list of one.
    """
    if isinstance(value, dict) and "items" in value:
        value = value.get("items")
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


class CloudTrailEvent:
    """Safe, read-only accessors over one CloudTrail record (a decoded JSON object).

    The record is not changed after the view is made (rules are pure), so what several rules ask
    of the same event (``actor``) is worked out once per event, not once per rule.
    """

    __slots__ = ("_actor", "aws_itself", "raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else _EMPTY
        self._actor: Actor | None = None
        # The engine's answer of core.actors.is_aws_acting_for_itself, kept for its other engines.
        self.aws_itself: bool | None = None

    def _top_str(self, key: str) -> str:
        """``get_str(key)`` for a top-level key, without the general path walk: the engine and the
        rules read these fields of every event they see."""
        raw = self.raw
        value = raw.get(key) if isinstance(raw, dict) else None  # as dig() does
        return value if isinstance(value, str) else ""

    # Generic typed look-ups -------------------------------------------------------------------
    def get(self, *path: PathKey) -> Any:
        """The value at ``path``, or None."""
        return dig(self.raw, *path)

    def get_str(self, *path: PathKey, default: str = "") -> str:
        """The string at ``path``; ``default`` when missing or not a string."""
        value = dig(self.raw, *path)
        return value if isinstance(value, str) else default

    def get_dict(self, *path: PathKey) -> dict[str, Any]:
        """The object at ``path``; an empty dict when missing or not an object."""
        value = dig(self.raw, *path)
        return value if isinstance(value, dict) else {}

    def get_list(self, *path: PathKey) -> list[Any]:
        """The list at ``path``, unwrapping EC2's ``{"items": [...]}``; empty when missing."""
        return items_of(dig(self.raw, *path))

    def get_bool(self, *path: PathKey) -> bool | None:
        """True/False from a JSON boolean or a "true"/"false" string; None otherwise."""
        return as_bool(dig(self.raw, *path))

    def get_int(self, *path: PathKey) -> int | None:
        """An integer from a number or numeric string; None otherwise."""
        return as_int(dig(self.raw, *path))

    # Well-known fields -----------------------------------------------------------------------
    @property
    def event_id(self) -> str:
        return self._top_str("eventID")

    @property
    def event_name(self) -> str:
        return self._top_str("eventName")

    @property
    def event_source(self) -> str:
        return self._top_str("eventSource")

    @property
    def event_time(self) -> str:
        return self._top_str("eventTime")

    @property
    def region(self) -> str:
        return self._top_str("awsRegion")

    @property
    def account_id(self) -> str:
        """The account the call was made in (recipient), falling back to the caller's account."""
        return self._top_str("recipientAccountId") or self.get_str("userIdentity", "accountId")

    @property
    def source_ip(self) -> str:
        return self._top_str("sourceIPAddress")

    @property
    def user_agent(self) -> str:
        return self._top_str("userAgent")

    @property
    def error_code(self) -> str:
        return self._top_str("errorCode")

    @property
    def error_message(self) -> str:
        return self.get_str("errorMessage")

    @property
    def failed(self) -> bool:
        """A call with an error code changed nothing (ConsoleLogin reports failure differently)."""
        if "errorCode" in self.raw and self.raw.get("errorCode") not in (None, ""):
            return True
        return self.get_str("responseElements", "ConsoleLogin") == "Failure"

    @property
    def request(self) -> dict[str, Any]:
        return self.get_dict("requestParameters")

    @property
    def response(self) -> dict[str, Any]:
        return self.get_dict("responseElements")

    @property
    def additional_data(self) -> dict[str, Any]:
        return self.get_dict("additionalEventData")

    @property
    def identity(self) -> dict[str, Any]:
        return self.get_dict("userIdentity")

    @property
    def identity_type(self) -> str:
        raw = self.raw
        identity = raw.get("userIdentity") if isinstance(raw, dict) else None
        value = identity.get("type") if isinstance(identity, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def actor(self) -> Actor:
        actor = self._actor
        if actor is None:
            actor = self._actor = Actor.from_identity(self.identity)
        return actor

    @property
    def partition(self) -> str:
        """``aws``, ``aws-cn``, ``aws-us-gov``..., read from the caller's ARN."""
        return arn_partition(self.get_str("userIdentity", "arn")) or "aws"

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """An ARN in this event's partition, region and account; pass ``""`` for ARNs without one.

        Empty when the resource, or the event's account that the ARN needs, is unknown.
        """
        if account is None:
            account = self.account_id
            if not account:
                return ""
        if not resource:
            return ""
        return f"arn:{self.partition}:{service}:{self.region if region is None else region}:{account}:{resource}"

    def account_resource(self) -> Resource:
        """The account itself, for account-wide settings and the root user."""
        account = self.account_id
        return Resource(
            type="AWS::::Account",
            id=account,
            arn=f"arn:{self.partition}:iam::{account}:root" if account else "",
        )

    def __repr__(self) -> str:
        return f"CloudTrailEvent({self.event_source}:{self.event_name} id={self.event_id!r})"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# Value types are NamedTuples rather than dataclasses: importing dataclasses (and inspect with it)
# costs about 20 ms of the Lambda's cold start.


class Actor(NamedTuple):
    """Who made the call, as far as CloudTrail says."""

    arn: str = ""
    type: str = ""
    name: str = ""
    account_id: str = ""
    access_key_id: str = ""
    mfa: bool | None = None
    session_issuer_arn: str = ""
    invoked_by: str = ""

    @classmethod
    def from_identity(cls, identity: Mapping[str, Any]) -> Actor:
        # dig()'s rules (a step that is not a dict is missing), spelled out: this runs for every
        # event a rule looks at the caller of.
        if not isinstance(identity, dict):
            identity = _EMPTY
        context = identity.get("sessionContext")
        if not isinstance(context, dict):
            context = _EMPTY
        issuer = context.get("sessionIssuer")
        if not isinstance(issuer, dict):
            issuer = _EMPTY
        attributes = context.get("attributes")
        if not isinstance(attributes, dict):
            attributes = _EMPTY

        identity_type = _text(identity.get("type"))
        issuer_name = _text(issuer.get("userName"))
        arn = _text(identity.get("arn"))
        invoked_by = _text(identity.get("invokedBy"))
        name = _text(identity.get("userName")) or issuer_name
        if identity_type == "Root" and not name:
            name = "root"
        if identity_type == "AssumedRole":
            # The role session name is the last part of the assumed-role ARN: it is the human's
            # name for SSO sessions, and what people recognise.
            session = arn.rsplit("/", 1)[-1] if arn.count("/") >= 2 else ""
            if issuer_name and session:
                name = f"{issuer_name}/{session}"
        if not name and identity_type == "AWSService":
            name = invoked_by
        return cls(
            arn=arn,
            type=identity_type,
            name=name,
            account_id=_text(identity.get("accountId")),
            access_key_id=_text(identity.get("accessKeyId")),
            mfa=as_bool(attributes.get("mfaAuthenticated")),
            session_issuer_arn=_text(issuer.get("arn")),
            invoked_by=invoked_by,
        )

    @property
    def label(self) -> str:
        """A short human label: the name, else the ARN, else the type."""
        return self.name or self.arn or self.type or "unknown"

    @property
    def principal_arn(self) -> str:
        """The ARN to match suppressions against: the role for assumed-role sessions."""
        return self.session_issuer_arn or self.arn


class Resource(NamedTuple):
    """The thing a finding is about."""

    type: str = ""
    id: str = ""
    arn: str = ""

    @property
    def label(self) -> str:
        return self.id or self.arn


NO_DETAILS: Mapping[str, str] = MappingProxyType({})


class Hit(NamedTuple):
    """What a rule returns: what happened to which resource. The engine adds the rest.

    ``severity`` overrides the rule's default where the rule escalates (the "A->B" severities of
    docs/rules.md). ``details`` are short labelled facts for the alert
    (``{"Port": "22", "CIDR": "0.0.0.0/0"}``). ``routine``: the detection state knows this change
    as the principal's routine (``core.routine``): it goes to the findings history, not to people.
    ``remedy`` fills the placeholders of the rule's remediation (``{"<bucket>": name}``) with this
    event's values, quoted for a shell (``core.remedy``); ``remediation`` replaces the rule's text
    where the event calls for another command (a user's policy is detached with
    ``detach-user-policy``), and is filled the same way.
    """

    summary: str
    resource: Resource = Resource()
    severity: Severity | None = None
    details: Mapping[str, str] = NO_DETAILS
    routine: bool = False
    remedy: Mapping[str, str | tuple[str, ...]] = NO_DETAILS
    remediation: str = ""


class Finding(NamedTuple):
    """One rule firing on one event, with everything an alert or a report needs."""

    rule_id: str
    severity: Severity
    kind: FindingKind
    title: str
    summary: str
    description: str
    remediation: str
    mitre: str
    resource: Resource
    details: Mapping[str, str]
    event_id: str
    event_name: str
    event_source: str
    event_time: str
    account_id: str
    region: str
    actor: Actor
    source_ip: str
    user_agent: str
    error_code: str = ""
    # Routine by memory: recorded in the findings history, never alerted (nor counted in chains).
    routine: bool = False
    # The hit's remediation values (``{"<sg>": ..., "<sgr>": (...)}``), unquoted: what
    # services/remediation acts on, so that it undoes exactly what the rule named.
    remedy: Mapping[str, str | tuple[str, ...]] = NO_DETAILS

    @property
    def key(self) -> str:
        """Event + rule + resource: one finding within a batch (one event can fire several rules,
        and a rule several resources). Delivery, channels and the state store all track it by this."""
        return f"{self.event_id}|{self.rule_id}|{self.resource.arn or self.resource.id}"

    @property
    def dedupe_key(self) -> str:
        """Rule + resource + actor: the same thing done to the same resource by the same caller."""
        return "|".join((self.rule_id, self.resource.arn or self.resource.id, self.actor.arn))

    @property
    def console(self) -> Console:
        """The AWS console of the finding's partition (from its resource's or caller's ARN) and region."""
        from trailguard.core.console import Console  # only findings that are shown need it

        return Console(self.region, self.resource.arn, self.actor.arn)

    @property
    def cloudtrail_url(self) -> str:
        """The event in CloudTrail's console event history; empty when the record's region or event
        id is missing or malformed (they come from the event: a link must not lead to another host)."""
        return self.console.cloudtrail_event(self.event_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready flat view; the keys are a stable output format (see README)."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.name,
            "kind": self.kind.value,
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "remediation": self.remediation,
            "mitre": self.mitre,
            "resource": self.resource.label,
            "resource_type": self.resource.type,
            "resource_arn": self.resource.arn,
            "details": dict(self.details),
            "event_id": self.event_id,
            "event_name": self.event_name,
            "event_source": self.event_source,
            "event_time": self.event_time,
            "account_id": self.account_id,
            "region": self.region,
            "actor": self.actor.label,
            "actor_arn": self.actor.arn,
            "actor_type": self.actor.type,
            "mfa": self.actor.mfa,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "error_code": self.error_code,
            "routine": self.routine,
            "dedupe_key": self.dedupe_key,
            "cloudtrail_url": self.cloudtrail_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """The finding ``to_dict`` made (as the findings history stores it): ``to_dict`` of the
        result gives the same keys and values back. Missing or mistyped values become defaults."""

        def text(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        try:
            severity = Severity.parse(text("severity"))
        except ValueError:
            severity = Severity.INFO
        details = data.get("details")
        mfa = data.get("mfa")
        return cls(
            rule_id=text("rule_id"),
            severity=severity,
            kind=FindingKind.INFO if text("kind") == FindingKind.INFO.value else FindingKind.EVENT,
            title=text("title"),
            summary=text("summary"),
            description=text("description"),
            remediation=text("remediation"),
            mitre=text("mitre"),
            resource=Resource(text("resource_type"), text("resource"), text("resource_arn")),
            details={str(k): str(v) for k, v in details.items()} if isinstance(details, Mapping) else {},
            event_id=text("event_id"),
            event_name=text("event_name"),
            event_source=text("event_source"),
            event_time=text("event_time"),
            account_id=text("account_id"),
            region=text("region"),
            actor=Actor(
                arn=text("actor_arn"),
                type=text("actor_type"),
                name=text("actor"),
                mfa=mfa if isinstance(mfa, bool) else None,
            ),
            source_ip=text("source_ip"),
            user_agent=text("user_agent"),
            error_code=text("error_code"),
            routine=data.get("routine") is True,
        )
