"""AWS Backup rules: recovery points, vaults and their protections destroyed. AWS Backup logs
``backupVaultName`` and, for recovery points, ``recoveryPointArn`` (an EBS snapshot's or an AWS
Backup ARN). PutBackupVaultAccessPolicy logs the vault policy as the ``policy`` JSON string.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, denies

SOURCE = "backup.amazonaws.com"
# AWS Backup applies a plan's lifecycle with the IAM role the plan's resources were assigned with
# (AWSBackupDefaultServiceRole or the team's own), not only its service-linked role: the record
# names that role, invoked by the service. Nobody calls DeleteRecoveryPoint that way by hand.
BACKUP_SERVICE = SOURCE
# The call a vault policy's Deny exists to stop: ransomware deletes the backups first.
PROTECTED_ACTION = "backup:DeleteRecoveryPoint"
_DESTROYED = {
    "DeleteBackupVault": "backup vault deleted",
    "DeleteRecoveryPoint": "recovery point deleted",
    "DeleteBackupVaultLockConfiguration": "vault lock removed: recovery points can be deleted early",
    "DeleteBackupVaultAccessPolicy": "vault access policy deleted: any Deny protecting recovery points is gone",
}


def _vault(event: CloudTrailEvent) -> Resource:
    name = event.get_str("requestParameters", "backupVaultName")
    arn = event.arn("backup", f"backup-vault:{name}") if name else ""
    return Resource(type="AWS::Backup::BackupVault", id=name, arn=arn)


def _policy_problems(event: CloudTrailEvent, ctx: RuleContext) -> tuple[list[str], dict[str, str]]:
    """What a new vault policy gives away: phrases for the summary and labelled facts (none: [])."""
    document = event.get("requestParameters", "policy")
    exposure = analyze_policy(document, lambda account: ctx.is_trusted_account(account, event))
    phrases: list[str] = []
    details: dict[str, str] = {}
    if exposure.public:
        phrases.append("open to everyone")
        details["Public statements"] = ", ".join(exposure.world_statements)
    if exposure.external:
        phrases.append(f"shared with {', '.join(exposure.external_accounts)}")
        details["External accounts"] = ", ".join(exposure.external_accounts)
    if not denies(document, PROTECTED_ACTION):
        phrases.append("recovery points no longer protected from deletion")
        details["Deletion protection"] = f"none (no Deny of {PROTECTED_ACTION})"
    return phrases, details


@rule(
    id="backup.recovery-destroyed",
    severity=Severity.HIGH,
    on={
        SOURCE: [
            "DeleteBackupVault",
            "DeleteRecoveryPoint",
            "DeleteBackupVaultLockConfiguration",
            "PutBackupVaultAccessPolicy",
            "DeleteBackupVaultAccessPolicy",
        ]
    },
    title="AWS Backup recovery destroyed or unprotected",
    description=(
        "Backups were deleted, a vault lock was removed, or a vault's access policy now lets "
        "outsiders in or no longer denies deleting recovery points. Ransomware crews destroy the "
        "backups before encrypting or deleting the data, so that there is nothing to restore from."
    ),
    remediation=(
        "Find out who made the call and whether it was planned. Put back the vault policy's Deny of "
        "backup:DeleteRecoveryPoint (`aws backup put-backup-vault-access-policy --backup-vault-name "
        "<vault> --policy file://policy.json`), re-apply the vault lock (`aws backup "
        "put-backup-vault-lock-configuration ...`), and start fresh backups of what lost its "
        "recovery points."
    ),
    mitre="T1490",
    escalates_to=(Severity.MEDIUM, Severity.LOW),
    quiet=(
        "Quiet on AWS Backup expiring recovery points at the end of their lifecycle, whether under "
        "its service-linked role (left out by the engine) or under the plan's assigned role "
        "(`AWSBackupDefaultServiceRole`, `invokedBy` backup.amazonaws.com), and on vault policies "
        "that keep a Deny of deletion without opening the vault. Deleting a vault is LOW: AWS "
        "deletes only empty vaults, and every recovery point deleted by hand before was reported. "
        "A vault policy that opens nothing but holds no Deny of deletion is MEDIUM: the record "
        "cannot tell whether the previous one had a Deny. Cannot tell: a person deleting old "
        "recovery points to save cost (routine by memory)."
    ),
)
def recovery_destroyed(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """A vault policy without any Deny of recovery point deletion is still reported: nothing but
    IAM then stands between a stolen key and the backups."""
    vault = _vault(event)
    label = vault.label or "(unnamed)"
    if event.event_name == "PutBackupVaultAccessPolicy":
        phrases, details = _policy_problems(event, ctx)
        if phrases:
            opened = "Public statements" in details or "External accounts" in details
            yield Hit(
                summary=f"Backup vault {label} policy: {'; '.join(phrases)}",
                resource=vault,
                severity=None if opened else Severity.MEDIUM,
                details=details,
                remedy={"<vault>": vault.id},
            )
        return
    if event.get_str("userIdentity", "invokedBy") == BACKUP_SERVICE:
        return  # the plan's lifecycle, applied by AWS Backup with the role it was given
    what = _DESTROYED.get(event.event_name, event.event_name)
    details = {"Change": what}
    resource = vault
    point = event.get_str("requestParameters", "recoveryPointArn")
    if point:
        details["Backup vault"] = label
        resource = Resource(type="AWS::Backup::RecoveryPoint", id=point.rsplit(":", 1)[-1], arn=point)
    yield Hit(
        summary=f"Backup vault {label}: {what}",
        resource=resource,
        severity=Severity.LOW if event.event_name == "DeleteBackupVault" else None,
        details=details,
        remedy={"<vault>": vault.id},
    )
