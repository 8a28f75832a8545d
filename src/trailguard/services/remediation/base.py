"""What a remediation action is: a plan of exact API calls, built from the finding, its event and the
resource as it is now, and the IAM permissions it declares (Cloud Custodian style).

An action is a function ``plan(target) -> Plan``. It may *read* (``target.read``: the resource's
current state and its tags), never write: the writes are the plan's ``calls``, which the runner
prints (dry-run) or makes (apply). Reading first is what makes every action idempotent: a resource
already put right plans no call, so a second run is a no-op. Every value an action sends comes from
the event (attacker-controlled), but only as an API parameter, never as text that is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from trailguard.core.event_types import Finding
    from trailguard.utils.aws_helpers import AwsClients

# The tag that keeps trailguard's hands off a resource, whatever the configuration says.
EXEMPT_TAG = "trailguard:remediate"
EXEMPT_VALUE = "false"

# IAM action names that differ from "<service>:<Operation>" (service as boto3 names its client).
_IAM_NAMES = {
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3control", "PutPublicAccessBlock"): "s3:PutAccountPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
_IAM_PREFIX = {"s3control": "s3"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action that allows ``operation`` on boto3's ``service`` client."""
    return _IAM_NAMES.get((service, operation)) or f"{_IAM_PREFIX.get(service, service)}:{operation}"


class Call(NamedTuple):
    """One write the plan makes: a boto3 client operation with its parameters, and what it does."""

    service: str  # boto3's client name: "ec2", "s3control"
    operation: str  # the API's name: "RevokeSecurityGroupIngress"
    params: Mapping[str, Any]
    does: str  # past tense, for the alert: "revoked sgr-0123 of sg-0abc"

    def text(self) -> str:
        """The exact call, as the plan prints it: ``ec2 RevokeSecurityGroupIngress GroupId=sg-1 ...``."""
        import json

        args = " ".join(f"{name}={json.dumps(value, separators=(',', ':'))}" for name, value in self.params.items())
        return f"{self.service} {self.operation} {args}".rstrip()

    @property
    def permission(self) -> str:
        return iam_action(self.service, self.operation)


class Plan(NamedTuple):
    """What an action would do to one resource."""

    resource: str  # what it acts on, as the alert names it
    calls: tuple[Call, ...] = ()  # empty: nothing to do (already right, or nothing the event did)
    # The resource's tags, read before acting; None: the resource has none (an account setting).
    tags: Mapping[str, str] | None = None
    # Kept in the finding's history: the exact text an action removes (policy statements, grants).
    removed: str = ""
    # Why no call is planned, when it is not simply "already right".
    reason: str = ""

    @property
    def exempt(self) -> bool:
        return any(
            key.strip().lower() == EXEMPT_TAG and value.strip().lower() == EXEMPT_VALUE
            for key, value in (self.tags or {}).items()
        )


class Target:
    """What an action works from: the finding, its CloudTrail record, and AWS in the finding's region."""

    def __init__(
        self, finding: Finding, record: Mapping[str, Any], aws: AwsClients, trusted: Sequence[str] = ()
    ) -> None:
        self.finding = finding
        self.record = record
        self.aws = aws
        self.region = finding.region or aws.region
        # trusted_accounts: sharing with them is no finding, so an action never takes it back.
        self.trusted = frozenset(trusted)

    @property
    def request(self) -> Mapping[str, Any]:
        value = self.record.get("requestParameters")
        return value if isinstance(value, Mapping) else {}

    @property
    def response(self) -> Mapping[str, Any]:
        value = self.record.get("responseElements")
        return value if isinstance(value, Mapping) else {}

    def client(self, service: str) -> Any:
        return self.aws.client(service, self.region)

    def read(self, service: str, operation: str, **params: Any) -> Any:
        """A read-only call (the plan's look at the resource): made in dry-run too."""
        from botocore import xform_name

        return getattr(self.client(service), xform_name(operation))(**params)


class NotRemediable(Exception):
    """The event is not one this action undoes (the finding's rule fired for a case it leaves alone)."""


class Action(NamedTuple):
    """One remediable rule: its action function, its stack family, and every IAM action it may use."""

    rule_id: str
    family: str  # the stack parameter that grants it: ec2, s3, cloudtrail, rds, lambda, iam, policies
    permissions: tuple[str, ...]
    plan: Callable[[Target], Plan]
    summary: str  # what it does, for docs and `trailguard remediate`'s plan


ACTIONS: dict[str, Action] = {}


def action(
    rule_id: str, family: str, permissions: Sequence[str], summary: str
) -> Callable[[Callable[[Target], Plan]], Callable[[Target], Plan]]:
    """Register ``plan`` as the remediation of ``rule_id``."""

    def register(plan: Callable[[Target], Plan]) -> Callable[[Target], Plan]:
        if rule_id in ACTIONS:
            raise ValueError(f"two remediation actions for {rule_id}")
        ACTIONS[rule_id] = Action(rule_id, family, tuple(permissions), plan, summary)
        return plan

    return register


def tag_map(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` (any service's spelling of the keys) as a dict."""
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    tags: dict[str, str] = {}
    for item in items or ():
        if isinstance(item, Mapping) and key in item:
            tags[str(item[key])] = str(item.get(value, ""))
    return tags


def error_code(exc: BaseException) -> str:
    """A botocore ClientError's code (``AccessDenied``), or the exception's type name."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping) and error.get("Code"):
            return str(error["Code"])
    return type(exc).__name__
