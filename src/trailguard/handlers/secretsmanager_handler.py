"""Secrets Manager rules: secret resource policies opened to everyone or to accounts outside the
trusted set. PutResourcePolicy logs ``secretId`` (a name or an ARN), the policy as the
``resourcePolicy`` JSON string and ``blockPublicPolicy``; the response carries the secret's ARN
(spelled ``aRN`` in records before February 2024) and name.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, exposure_hit

SOURCE = "secretsmanager.amazonaws.com"


def _secret(event: CloudTrailEvent) -> Resource:
    given = event.get_str("requestParameters", "secretId")
    arn = event.get_str("responseElements", "arn") or event.get_str("responseElements", "aRN")
    if not arn and given.startswith("arn:"):
        arn = given
    name = event.get_str("responseElements", "name")
    if not name:
        # arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>
        name = given.split(":secret:", 1)[-1] if given.startswith("arn:") else given
    return Resource(type="AWS::SecretsManager::Secret", id=name, arn=arn)


@rule(
    id="secretsmanager.policy-public",
    resource_placeholder="<secret>",
    severity=Severity.CRITICAL,
    escalates_to=(Severity.HIGH,),
    on={SOURCE: ["PutResourcePolicy"]},
    title="Secret resource policy open to everyone or outsiders",
    description=(
        'A secret\'s resource policy now Allows Principal "*" without a condition limiting callers '
        "to an organization, account or network, or grants an account outside the trusted accounts: "
        "whoever it lets in can read the credential (GetSecretValue) without any access to this "
        "account, and using a stolen secret leaves no trace here."
    ),
    remediation=(
        "Remove the policy (`aws secretsmanager delete-resource-policy --secret-id <secret>`) or put "
        "back a narrow one with `--block-public-policy`, then rotate the secret "
        "(`aws secretsmanager rotate-secret --secret-id <secret>`): assume it was read."
    ),
    mitre="T1537",
    quiet=(
        'Quiet on trusted accounts (a central deployment account, say), on the organization ("*" with '
        "aws:PrincipalOrgID) and on service principals. Rotation never sets a resource policy, so it "
        "does not fire the rule. Cannot tell: a workload account reading the secret that is not in "
        "`trusted_accounts` (add it there)."
    ),
)
def policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on trusted accounts (a central deployment account, say), on the organization ("*"
    with aws:PrincipalOrgID) and on service principals. A policy that blockPublicPolicy refuses
    never reaches the log as a success, so a successful public one was let through on purpose."""
    exposure = analyze_policy(
        event.get("requestParameters", "resourcePolicy"),
        lambda account: ctx.is_trusted_account(account, event),
    )
    secret = _secret(event)
    hit = exposure_hit(f"Secret {secret.label or '(unnamed)'}", secret, exposure, Severity.HIGH)
    if hit:
        yield hit
