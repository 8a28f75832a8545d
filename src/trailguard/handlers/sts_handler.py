"""STS: federation tokens, the session that outlives the key that made it.

Only GetFederationToken is subscribed: the other STS calls (AssumeRole above all) are the busiest
events of an account and are left to the stateful rules.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "sts.amazonaws.com"
# GetFederationToken's DurationSeconds when the caller leaves it out (an IAM user; root gets 1h).
DEFAULT_DURATION_SECONDS = 43200


@rule(
    id="sts.federation-token",
    routine=True,
    severity=Severity.MEDIUM,
    on={SOURCE: ["GetFederationToken"]},
    title="Federation token issued to an IAM user",
    description=(
        "An IAM user's access key was exchanged for a federation token: temporary credentials, up "
        "to 36 hours, that keep working after the access key is deactivated or deleted, and that "
        "can sign in to the console through the federation endpoint. Attackers holding a leaked key "
        "use it to keep access once the key is found. Few tools still call it (identity brokers "
        "written before IAM roles); anything else calling it is worth a look."
    ),
    remediation=(
        "If unexpected, revoke the sessions: attach a policy to the IAM user that denies "
        "everything for tokens issued before now (aws:TokenIssueTime condition; the console's "
        "'Revoke active sessions' does it for roles only), then deactivate its keys "
        "(`aws iam update-access-key --user-name <user> --access-key-id <key> --status Inactive`)."
    ),
    mitre="T1550.001",
    quiet=(
        "Cannot tell: an identity broker or a console-login helper issuing tokens for an IAM user "
        "from a leaked key keeping access (MEDIUM; routine by memory for the broker's user, or "
        "`suppressions` by principal)."
    ),
)
def federation_token(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    name = event.get_str("requestParameters", "name")
    federated_arn = event.get_str("responseElements", "federatedUser", "arn")
    duration = event.get_int("requestParameters", "durationSeconds") or DEFAULT_DURATION_SECONDS
    details = {
        "Federated user": name or "unknown",
        "Duration": f"{duration // 3600}h" if duration % 3600 == 0 else f"{duration}s",
        "Session policy": "given" if event.get("requestParameters", "policy") else "none",
    }
    managed = [item.get("arn") for item in event.get_list("requestParameters", "policyArns") if isinstance(item, dict)]
    if managed:
        details["Session policy"] = ", ".join(a for a in managed if isinstance(a, str)) or details["Session policy"]
    expiration = event.get_str("responseElements", "credentials", "expiration")
    if expiration:
        details["Expires"] = expiration
    key = event.get_str("responseElements", "credentials", "accessKeyId")
    if key:
        details["Issued key"] = key
    yield Hit(
        summary=f"Federation token issued for federated user {name or '(unknown)'}, valid {details['Duration']}",
        resource=Resource(type="AWS::STS::FederatedUser", id=name, arn=federated_arn),
        details=details,
        # The IAM user who asked for the token, and the long-term key it asked with.
        remedy={
            "<user>": event.get_str("userIdentity", "userName"),
            "<key>": event.get_str("userIdentity", "accessKeyId"),
        },
    )
