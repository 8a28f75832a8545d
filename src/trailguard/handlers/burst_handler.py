"""Bursts: what one call does not say and a hundred do. A leaked key enumerating what it may do,
harvesting secrets, Windows passwords or instance user data, deleting objects by the thousand,
or running up model bills. Each rule counts in ``ctx.state`` over a window of event time (ten
minutes by default, ``thresholds`` setting) and alerts once per window and principal: the
finding says how many, a few of which, the window and the principal.

Most of these calls are read-only (GetSecretValue, GetPasswordData, DescribeInstanceAttribute,
GetParameter, InvokeModel): EventBridge delivers them only to a rule in the state
``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS``, so the rules say ``reads=True`` and their calls
get patterns of their own (patterns.py; the stack's ``WatchReadOnlyCalls`` turns them off).

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from trailguard.core.actors import applied_by_stack
from trailguard.core.base_handler import REGISTRY, Rule, RuleContext, Subscriptions, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_text, items_of
from trailguard.core.state import DAY, event_epoch
from trailguard.handlers.tamper_handler import is_access_denied

WINDOW_SECONDS = 600
# The names a finding lists: the first ones of the window (remembered while the window holds
# fewer events than this, so a steady reader costs no extra state writes) and the last one.
NAMES_SHOWN = 5
# A principal that has not invoked a model for this long is new to Bedrock again.
INVOKERS_TTL = 90 * DAY

SECRETS = "secretsmanager.amazonaws.com"
SSM = "ssm.amazonaws.com"
EC2 = "ec2.amazonaws.com"
S3 = "s3.amazonaws.com"
BEDROCK = "bedrock.amazonaws.com"
MODEL_INVOCATIONS = frozenset({"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"})
# What bedrock.model-access-enabled reports; remembered per account to raise an invocation burst.
MODEL_ACCESS_ENABLED = ("PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement")


def principal_key(event: CloudTrailEvent) -> str:
    """Whom a burst is counted for: the role for assumed-role sessions (sessions of one role are one
    caller), else the ARN, else the access key or principal id; empty when the record names no one."""
    actor = event.actor
    return actor.principal_arn or actor.access_key_id or event.get_str("userIdentity", "principalId")


def subscribed_events(rules: Sequence[Rule]) -> Subscriptions:
    """Every event some rule subscribes to by name (resolved once all are registered). A denial of
    an event nobody subscribes to never reaches the Lambda: no pattern matches it."""
    events: dict[str, set[str]] = {}
    for other in rules:
        if callable(other.on):
            continue
        for key in REGISTRY.subscriptions(other):
            events.setdefault(key.source, set()).add(key.name + ("*" if key.versioned else ""))
    return events


class Burst:
    """One rule's counting: ``members`` of this event, tallied per principal over the window."""

    def __init__(self, rule_id: str, event: CloudTrailEvent, ctx: RuleContext) -> None:
        self.rule_id = rule_id
        self.ctx = ctx
        self.principal = principal_key(event)
        self.at = event_epoch(event.event_time)
        self.window = ctx.threshold(rule_id, "window_seconds", WINDOW_SECONDS)

    @property
    def countable(self) -> bool:
        return bool(self.principal) and self.at is not None and self.ctx.state is not None

    def count(self, members: Sequence[str]) -> tuple[int, int]:
        """Tally each member (one request in DynamoDB); (events, distinct members) within the window, these included."""
        assert self.at is not None
        events, distinct = self.ctx.state.tally_all(self.rule_id, self.principal, members, self.at, self.window)
        before = events - len(members)  # the window's events before this one's members
        for number, member in enumerate(members, start=1):
            if before + number <= NAMES_SHOWN:
                self.ctx.state.remember(self.rule_id, self.principal, member, self.at, self.window)
        return events, distinct

    def first_alert(self) -> bool:
        """Once per window and principal (``first_in_window`` tolerates rough time order, and opens
        the window atomically, for concurrent invocations)."""
        assert self.at is not None
        return bool(self.ctx.state.first_in_window(self.rule_id, "alert:" + self.principal, self.at, self.window))

    def names(self, last: str) -> str:
        """A few of the window's members: the first remembered and ``last``."""
        assert self.at is not None
        recalled = self.ctx.state.recall(self.rule_id, self.principal, self.at - self.window, self.at)
        shown = list(dict.fromkeys([*(item for _, item in recalled), last]))
        if len(shown) <= NAMES_SHOWN:
            return ", ".join(shown)
        return ", ".join(shown[: NAMES_SHOWN - 1]) + ", ..., " + last

    @property
    def minutes(self) -> str:
        return f"{self.window // 60} minutes" if self.window % 60 == 0 else f"{self.window} seconds"


def _distinct_burst(
    rule_id: str, event: CloudTrailEvent, ctx: RuleContext, members: list[str], *, default: int, noun: str, verb: str
) -> Iterator[Hit]:
    """Alert once per window when the principal's distinct members reach the threshold."""
    members = [member for member in members if member]
    burst = Burst(rule_id, event, ctx)
    if not members or not burst.countable:
        return
    _, distinct = burst.count(members)
    if distinct < ctx.threshold(rule_id, "distinct", default) or not burst.first_alert():
        return
    names = burst.names(members[-1])
    yield Hit(
        summary=f"{event.actor.label} {verb} {distinct} distinct {noun} within {burst.minutes}",
        resource=Resource(type=event.event_source, id=members[-1]),
        details={
            "Principal": burst.principal,
            "Count": str(distinct),
            "Window": burst.minutes,
            noun.capitalize(): names,
        },
    )


@rule(
    id="burst.access-denied",
    severity=Severity.MEDIUM,
    on=subscribed_events,
    include_failed=True,
    stateful=True,
    title="Burst of denied calls",
    description=(
        "One principal was refused many calls of several kinds within minutes (AccessDenied, "
        "UnauthorizedOperation and their variants): someone is enumerating what a key may do, the "
        "first thing done with stolen credentials. Counted over the calls other rules subscribe to "
        "(a denial of any other call never reaches trailguard in AWS); default 20 denials of 5 or more "
        "distinct calls within 10 minutes. Calls CloudFormation makes applying a stack do not count."
    ),
    remediation=(
        "Find out whose key it is and whether the caller is a misconfigured tool. If not, disable the "
        "key (`aws iam update-access-key --status Inactive`) or revoke the role's sessions, and review "
        "the calls that succeeded in the same minutes."
    ),
    mitre="T1580",
    quiet=(
        "A tool retrying one denied call (fewer than 5 distinct calls), and calls "
        "CloudFormation makes applying a stack (a stack's role lacking permissions is denied once "
        "per resource as it rolls back; invokedBy cloudformation.amazonaws.com). Cannot tell: a "
        "misconfigured pipeline denied across many services from a key being enumerated "
        "(`thresholds`, or `suppressions` by principal for a known tool)."
    ),
)
def access_denied_burst(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    rule_id = "burst.access-denied"
    if not is_access_denied(event.error_code) or applied_by_stack(event):
        # A stack whose role lacks a permission is denied once per resource as it rolls back:
        # CloudFormation's calls, not someone finding out what a key may do.
        return
    burst = Burst(rule_id, event, ctx)
    if not burst.countable:
        return
    call = f"{event.event_source.split('.', 1)[0]}:{event.event_name}"
    events, distinct = burst.count([call])
    if events < ctx.threshold(rule_id, "count", 20) or distinct < ctx.threshold(rule_id, "distinct", 5):
        return
    if not burst.first_alert():
        return
    yield Hit(
        summary=f"{event.actor.label} was denied {events} calls ({distinct} distinct) within {burst.minutes}",
        resource=Resource(type=event.event_source, id=event.event_name),
        details={
            "Principal": burst.principal,
            "Count": str(events),
            "Window": burst.minutes,
            "Calls": burst.names(call),
            "Error": event.error_code,
        },
    )


def _secret_ids(event: CloudTrailEvent) -> list[str]:
    name = event.event_name
    if event.event_source == SSM:
        if event.get_bool("requestParameters", "withDecryption") is not True:
            return []
        if name == "GetParameter":
            return [event.get_str("requestParameters", "name")]
        if name == "GetParametersByPath":
            # The parameters returned are not logged: the path stands for them.
            return [event.get_str("requestParameters", "path") + "/*"]
        return [as_text(each) for each in items_of(event.get("requestParameters", "names"))]
    if name == "GetSecretValue":
        return [event.get_str("requestParameters", "secretId")]
    listed = [as_text(each) for each in items_of(event.get("requestParameters", "secretIdList"))]
    if listed:
        return listed
    # A batch by filters reads every matching secret, none of which the record names: each page
    # (its own request) counts as one.
    return [f"filtered batch {event.get_str('requestID') or event.event_id}"]


@rule(
    id="burst.secrets-read",
    severity=Severity.HIGH,
    on={
        SECRETS: ["GetSecretValue", "BatchGetSecretValue"],
        SSM: ["GetParameter", "GetParameters", "GetParametersByPath"],
    },
    reads=True,
    stateful=True,
    title="Burst of secrets read",
    description=(
        "One principal read many distinct secrets (Secrets Manager GetSecretValue, each secret of a "
        "BatchGetSecretValue) or decrypted SSM parameters (GetParameter, GetParameters, "
        "GetParametersByPath with decryption) within minutes: an application reads its few secrets, "
        "a harvest reads them all. Default 10 distinct within 10 minutes. A batch by filters names no "
        "secret, so each of its pages counts as one; a parameter path counts as one."
    ),
    remediation=(
        "Confirm whether the caller is a deployment or backup job. If not, disable its key or revoke "
        "its sessions, then rotate every secret and parameter it read (the finding lists a few; "
        "CloudTrail has them all)."
    ),
    mitre="T1555.006",
    quiet=(
        "An application reading its few secrets however often (distinct secrets count, "
        "not reads), and SSM parameters read without decryption. Cannot tell: a deployment, backup "
        "or rotation job reading many secrets by design from a harvest (routine by memory; "
        "`thresholds` or `suppressions` by principal). CloudFormation resolving a stack's dynamic "
        "references (invokedBy) still counts: a stack can carry secrets out as well."
    ),
)
def secrets_read_burst(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    yield from _distinct_burst(
        "burst.secrets-read", event, ctx, _secret_ids(event), default=10, noun="secrets", verb="read"
    )


@rule(
    id="burst.password-data",
    severity=Severity.MEDIUM,
    on={EC2: ["GetPasswordData"]},
    reads=True,
    include_failed=True,
    stateful=True,
    title="Burst of Windows password retrievals",
    description=(
        "One principal asked for the encrypted Windows administrator password (GetPasswordData) of "
        "many instances within minutes, whether or not it was allowed: a sweep for credentials. "
        "Default 5 distinct instances within 10 minutes."
    ),
    remediation=(
        "Find out who the caller is. If unexpected, disable its key or revoke its sessions, and "
        "change the administrator passwords of the instances it retrieved."
    ),
    mitre="T1552",
    quiet=(
        "A person fetching the passwords of a few instances (fewer than 5 distinct). "
        "Cannot tell: a fleet-management tool fetching many from a sweep (`suppressions` by "
        "principal for the tool's role)."
    ),
)
def password_data_burst(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    instance = event.get_str("requestParameters", "instanceId")
    yield from _distinct_burst(
        "burst.password-data", event, ctx, [instance], default=5, noun="instances", verb="asked for the password of"
    )


@rule(
    id="burst.user-data-read",
    severity=Severity.MEDIUM,
    on={EC2: ["DescribeInstanceAttribute"]},
    reads=True,
    include_failed=True,
    stateful=True,
    title="Burst of instance user data read",
    description=(
        "One principal read the user data (DescribeInstanceAttribute, attribute userData) of many "
        "instances within minutes, whether or not it was allowed: user data often holds bootstrap "
        "secrets. Default 5 distinct instances within 10 minutes."
    ),
    remediation=(
        "Find out who the caller is. If unexpected, disable its key or revoke its sessions, and rotate "
        "any secret the instances' user data carries (move them to Secrets Manager)."
    ),
    mitre="T1552.005",
    quiet=(
        "Reads of other attributes (instanceType, disableApiTermination...), and reads "
        "of a few instances' user data. Cannot tell: an inventory or configuration tool that reads "
        "every instance's user data from a sweep (`suppressions` by principal for the tool's "
        "role)."
    ),
)
def user_data_burst(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.get_str("requestParameters", "attribute") != "userData":
        return
    instance = event.get_str("requestParameters", "instanceId")
    yield from _distinct_burst(
        "burst.user-data-read", event, ctx, [instance], default=5, noun="instances", verb="read the user data of"
    )


@rule(
    id="burst.s3-deletion",
    severity=Severity.HIGH,
    on={S3: ["DeleteObject", "DeleteObjects"]},
    stateful=True,
    title="Burst of S3 object deletions",
    description=(
        "One principal deleted objects in bulk within minutes: 100 or more deletion calls, or "
        "deletions in 3 or more buckets, within 10 minutes by default (ransomware and evidence "
        "destruction). DeleteObject names its key; DeleteObjects (up to 1,000 keys) does not log "
        "them, so each such call counts once. These are S3 data events: trailguard sees them only "
        "when the trail logs data events for the buckets (event selectors), and EventBridge "
        "delivers them only then."
    ),
    remediation=(
        "Stop the caller (disable its key, revoke its sessions), then restore: previous versions if "
        "versioning is on, else backups. Turn on versioning and MFA delete or Object Lock for the "
        "buckets that matter."
    ),
    mitre="T1485",
    quiet=(
        "Objects expired by lifecycle rules (S3 removes them itself, with no "
        "DeleteObject call), and deletions under the thresholds. Cannot tell: a clean-up job, `aws "
        "s3 sync --delete` or a teardown emptying its buckets from ransomware (routine by memory; "
        "`thresholds` or `suppressions` by principal)."
    ),
)
def s3_deletion_burst(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    rule_id = "burst.s3-deletion"
    bucket = event.get_str("requestParameters", "bucketName")
    burst = Burst(rule_id, event, ctx)
    if not bucket or not burst.countable:
        return
    deletions, buckets = burst.count([bucket])
    if deletions < ctx.threshold(rule_id, "count", 100) and buckets < ctx.threshold(rule_id, "distinct", 3):
        return
    if not burst.first_alert():
        return
    yield Hit(
        summary=f"{event.actor.label} made {deletions} deletion calls in {buckets} bucket{'s' if buckets > 1 else ''} "
        f"within {burst.minutes}",
        resource=Resource(type="AWS::S3::Bucket", id=bucket, arn=f"arn:{event.partition}:s3:::{bucket}"),
        details={
            "Principal": burst.principal,
            "Count": str(deletions),
            "Window": burst.minutes,
            "Buckets": burst.names(bucket),
        },
    )


@rule(
    id="burst.bedrock-invocations",
    severity=Severity.MEDIUM,
    on={BEDROCK: [*sorted(MODEL_INVOCATIONS), *MODEL_ACCESS_ENABLED]},
    reads=True,
    stateful=True,
    escalates_to=(Severity.HIGH,),
    title="Bedrock models invoked by a new caller or in bulk",
    description=(
        "A principal that had never invoked a Bedrock model in the account does so (once the "
        "account's invokers have been learnt for `learning_days`), or one principal makes 100 or "
        "more invocations (InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream) "
        "within 10 minutes by default. HIGH when model access was enabled in the account within the "
        "day before: stolen keys resold for LLM access (LLMjacking) enable the models, then invoke them."
    ),
    remediation=(
        "Confirm that the caller is expected to use Bedrock. If not, disable its key or revoke its "
        "sessions, check the Bedrock bill and model access page, and deny bedrock:Invoke* outside "
        "approved roles with an SCP."
    ),
    mitre="T1496",
    quiet=(
        "The account's usual invokers (learnt for `learning_days`, remembered for 90 "
        "days) under 100 invocations in 10 minutes. Cannot tell: a new application's role making "
        "its first calls, or a batch job's legitimate volume, from LLMjacking (`thresholds`, "
        "`suppressions` by principal); HIGH only when model access was enabled the day before."
    ),
)
def bedrock_invocations(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    rule_id = "burst.bedrock-invocations"
    burst = Burst(rule_id, event, ctx)
    if not burst.countable or burst.at is None:
        return
    account = event.account_id
    if event.event_name in MODEL_ACCESS_ENABLED:
        ctx.state.remember(rule_id, "access-enabled:" + account, event.event_name, burst.at, DAY)
        return
    model = event.get_str("requestParameters", "modelId") or "(unknown model)"
    invocations, _ = burst.count([model])
    sighting = ctx.state.first_seen(rule_id, "invokers:" + account, burst.principal, burst.at, INVOKERS_TTL)
    if sighting.new and not sighting.learning(burst.at, ctx.learning_days * DAY):
        summary = f"{event.actor.label} invoked a Bedrock model for the first time ({model})"
        details = {"Principal": burst.principal, "Model": model}
    elif invocations >= ctx.threshold(rule_id, "count", 100) and burst.first_alert():
        summary = f"{event.actor.label} invoked Bedrock models {invocations} times within {burst.minutes}"
        details = {"Principal": burst.principal, "Count": str(invocations), "Window": burst.minutes}
        details["Model"] = burst.names(model)
    else:
        return
    # Asked only when reporting: one state read less for every other invocation.
    enabled = ctx.state.recall(rule_id, "access-enabled:" + account, burst.at - DAY, burst.at)
    if enabled:
        details["Model access enabled"] = ", ".join(dict.fromkeys(name for _, name in enabled))
    yield Hit(
        summary=summary,
        resource=Resource(type="AWS::Bedrock::FoundationModel", id=model),
        severity=Severity.HIGH if enabled else None,
        details=details,
    )
