"""S3 Glacier rules: vault access policies opened to everyone or to accounts outside the trusted set.
SetVaultAccessPolicy logs ``accountId`` (``-`` for the caller's own), ``vaultName`` and the request
body under ``policy``: an object whose one member holds the policy as a JSON string. Detection rule
fixtures show that member as ``policy``; the API names it ``Policy``: both are read.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, exposure_hit

SOURCE = "glacier.amazonaws.com"


def _vault(event: CloudTrailEvent) -> Resource:
    name = event.get_str("requestParameters", "vaultName")
    account = event.get_str("requestParameters", "accountId")
    account = account if account.isascii() and account.isdigit() else ""
    arn = event.arn("glacier", f"vaults/{name}", account=account or None) if name else ""
    return Resource(type="AWS::Glacier::Vault", id=name, arn=arn)


def _policy(event: CloudTrailEvent) -> object:
    body = event.get_dict("requestParameters", "policy")
    return body.get("policy", body.get("Policy"))


@rule(
    id="glacier.vault-policy-public",
    resource_placeholder="<vault>",
    severity=Severity.HIGH,
    on={SOURCE: ["SetVaultAccessPolicy"]},
    title="Glacier vault policy open to everyone or outsiders",
    description=(
        'A Glacier vault\'s access policy now lets anyone ("*" without an organization, account or '
        "network condition) or an account outside the trusted accounts act on the vault: retrieve "
        "its archives (often the backups of last resort) or delete them, as the allowed actions go."
    ),
    remediation=(
        "Remove or narrow the policy (`aws glacier delete-vault-access-policy --account-id - "
        "--vault-name <vault>`, or set-vault-access-policy with the intended principals) and review "
        "the vault's jobs (`aws glacier list-jobs --account-id - --vault-name <vault>`)."
    ),
    mitre="T1537",
    quiet=(
        'Quiet on Deny-only policies (the usual "no archive deletion before N days" guard) and on '
        "trusted accounts. Cannot tell: a partner's account left out of `trusted_accounts` (add it "
        "there)."
    ),
)
def vault_policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on Deny-only policies (the usual "no archive deletion" guard) and on trusted accounts."""
    exposure = analyze_policy(_policy(event), lambda account: ctx.is_trusted_account(account, event))
    vault = _vault(event)
    hit = exposure_hit(f"Vault {vault.label or '(unnamed)'}", vault, exposure)
    if hit:
        yield hit
