"""RDS exposure and protection rules: public instances and snapshots, deletion protection and
backups, storage encryption; databases deleted without a snapshot and master passwords reset.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).

RDS logs its Query-API parameters with a lower-cased first letter (``dBInstanceIdentifier``,
``publiclyAccessible``). DocumentDB and Neptune share the ``rds.amazonaws.com`` event source and the
same API, so these rules cover them too.
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_bool, items_of

SOURCE = "rds.amazonaws.com"

INSTANCE_EVENTS = frozenset(
    {"CreateDBInstance", "ModifyDBInstance", "RestoreDBInstanceFromDBSnapshot", "DeleteDBInstance"}
)
# Events where the caller may omit publiclyAccessible and RDS picks a value from the subnets' route
# to an internet gateway: the response then says what was chosen.
DEFAULTING_EVENTS = frozenset(
    {"CreateDBInstance", "CreateDBCluster", "RestoreDBInstanceFromDBSnapshot", "RestoreDBClusterFromSnapshot"}
)
# Engines whose instances only join a cluster: storage, and its encryption, belong to the cluster.
CLUSTER_ENGINES = ("aurora", "docdb", "neptune")
# From this day every new Aurora cluster is encrypted at rest (AWS owned key) unless told otherwise;
# before it, an Aurora cluster created without StorageEncrypted was unencrypted.
AURORA_DEFAULT_ENCRYPTION_SINCE = "2026-02-18"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _database(event: CloudTrailEvent) -> Resource:
    """The instance or cluster a call acts on, with its ARN when the response carries it."""
    if event.event_name in INSTANCE_EVENTS:
        name = event.get_str("requestParameters", "dBInstanceIdentifier")
        arn = event.get_str("responseElements", "dBInstanceArn") or _named_arn(event, "db", name)
        return Resource(type="AWS::RDS::DBInstance", id=name or arn.rsplit(":", 1)[-1], arn=arn)
    name = event.get_str("requestParameters", "dBClusterIdentifier")
    arn = event.get_str("responseElements", "dBClusterArn") or _named_arn(event, "cluster", name)
    return Resource(type="AWS::RDS::DBCluster", id=name or arn.rsplit(":", 1)[-1], arn=arn)


def _kind(resource: Resource) -> str:
    return "DB instance" if resource.type == "AWS::RDS::DBInstance" else "DB cluster"


def _modify(database: Resource) -> str:
    """The command that modifies this instance or cluster, naming it by ``<id>``: the alerts'
    remediation fits the kind of database, where the catalogue's text names both."""
    if database.type == "AWS::RDS::DBInstance":
        return "aws rds modify-db-instance --db-instance-identifier <id>"
    return "aws rds modify-db-cluster --db-cluster-identifier <id>"


def _restore_remediation(database: Resource) -> str:
    if database.type == "AWS::RDS::DBInstance":
        found = (
            "`aws rds describe-db-snapshots --db-instance-identifier <id>` and `aws rds "
            "describe-db-instance-automated-backups --db-instance-identifier <id>`, then "
            "restore-db-instance-from-db-snapshot or restore-db-instance-to-point-in-time"
        )
    else:
        found = (
            "`aws rds describe-db-cluster-snapshots --db-cluster-identifier <id>` and `aws rds "
            "describe-db-cluster-automated-backups --db-cluster-identifier <id>`, then "
            "restore-db-cluster-from-snapshot or restore-db-cluster-to-point-in-time"
        )
    return f"Restore from whatever remains: {found}; require deletion protection on production databases."


def _named_arn(event: CloudTrailEvent, kind: str, identifier: str) -> str:
    """The ARN of an instance, cluster or snapshot given by name or ARN (RDS accepts both)."""
    if identifier.startswith("arn:"):
        return identifier
    return event.arn("rds", f"{kind}:{identifier}") if identifier else ""


def _engine(event: CloudTrailEvent) -> str:
    return (event.get_str("requestParameters", "engine") or event.get_str("responseElements", "engine")).lower()


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@rule(
    id="rds.instance-public",
    severity=Severity.CRITICAL,
    on={
        SOURCE: [
            "CreateDBInstance",
            "ModifyDBInstance",
            "CreateDBCluster",
            "ModifyDBCluster",
            "RestoreDBInstanceFromDBSnapshot",
            "RestoreDBClusterFromSnapshot",
        ]
    },
    title="RDS database made publicly accessible",
    description=(
        "A database was created, restored or modified with public accessibility on: its endpoint "
        "resolves to a public IP address, so its security groups are all that stand between the "
        "internet and the database login."
    ),
    remediation=(
        "Turn public access off (`aws rds modify-db-instance --db-instance-identifier <id> "
        "--no-publicly-accessible --apply-immediately`, or modify-db-cluster for Multi-AZ clusters) "
        "and check the security groups and the database's login history."
    ),
    mitre="T1190",
    quiet=(
        "Quiet on databases created or restored without the flag into private subnets (the "
        "response says RDS chose private) and on modifications that leave public access alone. "
        "Cannot tell: a development database opened on purpose behind a tight security group (use "
        "`suppressions` for it)."
    ),
)
def instance_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    public = event.get_bool("requestParameters", "publiclyAccessible")
    source = "request"
    if public is None and event.event_name in DEFAULTING_EVENTS:
        # Omitted: RDS made it public if the subnets route to an internet gateway.
        public = event.get_bool("responseElements", "publiclyAccessible")
        source = "default for the subnets"
    if public is not True:
        return
    database = _database(event)
    details = {"Publicly accessible": "true" if source == "request" else f"true ({source})"}
    engine = _engine(event)
    if engine:
        details["Engine"] = engine
    yield Hit(
        summary=f"{_kind(database)} {database.label or '(unnamed)'} made publicly accessible ({event.event_name})",
        resource=database,
        details=details,
        remediation=(
            f"Turn public access off (`{_modify(database)} --no-publicly-accessible --apply-immediately`) "
            "and check the security groups and the database's login history."
        ),
        remedy={"<id>": database.id},
    )


@rule(
    id="rds.snapshot-public",
    severity=Severity.CRITICAL,
    on={SOURCE: ["ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"]},
    title="RDS snapshot made public or shared externally",
    description=(
        "A database snapshot's restore permission was granted to everyone or to an account outside "
        "the trusted accounts. Whoever holds it can restore the whole database in their own account: "
        "a one-call exfiltration."
    ),
    remediation=(
        "Remove the permission (`aws rds modify-db-snapshot-attribute --db-snapshot-identifier <id> "
        "--attribute-name restore --values-to-remove all` or the account id; "
        "modify-db-cluster-snapshot-attribute for cluster snapshots) and find out whether it was "
        "already copied or restored."
    ),
    mitre="T1537",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Quiet on sharing with the account itself or with trusted accounts (the organization's "
        "backup, DR or analytics accounts), on removing permissions, and on attributes other than "
        "restore. Cannot tell: a partner's account left out of `trusted_accounts` (add it there)."
    ),
)
def snapshot_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.get_str("requestParameters", "attributeName").lower() != "restore":
        return
    public = False
    external: list[str] = []
    for value in items_of(event.get("requestParameters", "valuesToAdd")):
        if not isinstance(value, str) or not value.strip():
            continue
        account = value.strip()
        if account.lower() == "all":
            public = True
        elif not ctx.is_trusted_account(account, event) and account not in external:
            external.append(account)
    if not public and not external:
        return
    if event.event_name == "ModifyDBClusterSnapshotAttribute":
        name = event.get_str("requestParameters", "dBClusterSnapshotIdentifier")
        snapshot = Resource(
            type="AWS::RDS::DBClusterSnapshot",
            id=name.rsplit(":", 1)[-1],
            arn=_named_arn(event, "cluster-snapshot", name),
        )
        kind = "DB cluster snapshot"
        command = "aws rds modify-db-cluster-snapshot-attribute --db-cluster-snapshot-identifier <id>"
    else:
        name = event.get_str("requestParameters", "dBSnapshotIdentifier")
        snapshot = Resource(
            type="AWS::RDS::DBSnapshot", id=name.rsplit(":", 1)[-1], arn=_named_arn(event, "snapshot", name)
        )
        kind = "DB snapshot"
        command = "aws rds modify-db-snapshot-attribute --db-snapshot-identifier <id>"
    label = snapshot.label or "(unnamed)"
    remediation = (
        f"Remove the permission (`{command} --attribute-name restore --values-to-remove <values>`) and "
        "find out whether it was already copied or restored."
    )
    remedy: dict[str, str | tuple[str, ...]] = {
        "<id>": snapshot.id,
        "<values>": (*(["all"] if public else []), *external),
    }
    details: dict[str, str] = {}
    if public:
        details["Restorable by"] = "everyone (all)"
    if external:
        details["External accounts"] = ", ".join(external)
    if public:
        yield Hit(
            summary=f"{kind} {label} made public: any AWS account can restore it",
            resource=snapshot,
            details=details,
            remediation=remediation,
            remedy=remedy,
        )
    else:
        yield Hit(
            summary=f"{kind} {label} shared with external account(s) {', '.join(external)}",
            resource=snapshot,
            severity=Severity.MEDIUM,
            details=details,
            remediation=remediation,
            remedy=remedy,
        )


@rule(
    id="rds.protection-reduced",
    routine=True,
    severity=Severity.MEDIUM,
    on={SOURCE: ["ModifyDBInstance", "ModifyDBCluster"]},
    title="RDS deletion protection or backups turned off",
    description=(
        "Deletion protection was turned off or automated backups were disabled (retention 0) on a "
        "database: one more call can now destroy it with no way back, which is how ransom and "
        "sabotage attacks on databases start."
    ),
    remediation=(
        "Turn protection back on (`aws rds modify-db-instance --db-instance-identifier <id> "
        "--deletion-protection --backup-retention-period 7 --apply-immediately`, or modify-db-cluster) "
        "and confirm recent snapshots exist."
    ),
    mitre="T1490",
    quiet=(
        "Quiet on read replicas (the response names the replica's source, which keeps the data "
        "and its backups) and on changes that keep protection and backups. Cannot tell: IaC "
        "turning deletion protection off before tearing down a short-lived environment (routine "
        "by memory for the deploy role)."
    ),
)
def protection_reduced(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "ModifyDBInstance" and _is_read_replica(event):
        return
    changes: dict[str, str] = {}
    if event.get_bool("requestParameters", "deletionProtection") is False:
        changes["Deletion protection"] = "turned off"
    if event.get_int("requestParameters", "backupRetentionPeriod") == 0:
        changes["Automated backups"] = "disabled (retention 0 days)"
    if not changes:
        return
    database = _database(event)
    yield Hit(
        summary=f"{_kind(database)} {database.label or '(unnamed)'}: "
        + ", ".join(f"{what} {how}" for what, how in changes.items()),
        resource=database,
        details=changes,
        remediation=(
            f"Turn protection back on (`{_modify(database)} --deletion-protection --backup-retention-period 7 "
            "--apply-immediately`) and confirm recent snapshots exist."
        ),
        remedy={"<id>": database.id},
    )


def _is_read_replica(event: CloudTrailEvent) -> bool:
    """The instance the response describes replicates another instance or cluster."""
    return any(
        event.get_str("responseElements", field)
        for field in ("readReplicaSourceDBInstanceIdentifier", "readReplicaSourceDBClusterIdentifier")
    )


def _unencrypted_reason(event: CloudTrailEvent) -> str:
    """Why the new storage is unencrypted ('' when it is encrypted or the record cannot tell)."""
    response = event.response
    encryption_type = response.get("storageEncryptionType")
    if isinstance(encryption_type, str) and encryption_type:
        # Newer responses say which encryption was applied: none, sse-rds (AWS owned key), sse-kms.
        return "storage encryption type none" if encryption_type.lower() == "none" else ""
    encrypted = as_bool(response.get("storageEncrypted"))
    if encrypted is not None:
        return "" if encrypted else "storage created unencrypted"
    requested = event.get_bool("requestParameters", "storageEncrypted")
    if requested is True or event.get_str("requestParameters", "kmsKeyId"):
        return ""
    if requested is False:
        return "storage encryption explicitly disabled"
    if event.get_str("requestParameters", "replicationSourceIdentifier") or event.get_str(
        "requestParameters", "globalClusterIdentifier"
    ):
        return ""  # a replica or global-database member inherits its source's encryption
    if (
        event.event_name == "CreateDBCluster"
        and _engine(event).startswith("aurora")
        and event.event_time[:10] >= AURORA_DEFAULT_ENCRYPTION_SINCE
    ):
        return ""
    return "storage encryption not requested"


@rule(
    id="rds.storage-unencrypted",
    severity=Severity.LOW,
    on={SOURCE: ["CreateDBInstance", "CreateDBCluster"]},
    title="RDS database created without storage encryption",
    description=(
        "A database was created with unencrypted storage. Encryption cannot be turned on later in "
        "place: the data, its backups and its snapshots stay readable to anyone who gets the "
        "underlying storage or a shared snapshot."
    ),
    remediation=(
        "Snapshot the database, copy the snapshot with `aws rds copy-db-snapshot --kms-key-id <key>` "
        "(copy-db-cluster-snapshot for clusters), restore from the encrypted copy and switch over; "
        "create new databases with --storage-encrypted."
    ),
    mitre="T1530",
    quiet=(
        "Quiet on Aurora, DocumentDB and Neptune instances (their cluster holds the storage and "
        "is judged), on replicas and global-database members (they inherit the source's "
        "encryption), and on Aurora clusters created since AWS encrypts them by default. Cannot "
        "tell: a throw-away test database left unencrypted on purpose (use `suppressions`)."
    ),
)
def storage_unencrypted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    if event.event_name == "CreateDBInstance" and (
        event.get_str("requestParameters", "dBClusterIdentifier") or _engine(event).startswith(CLUSTER_ENGINES)
    ):
        return  # an Aurora/DocumentDB/Neptune instance stores nothing itself: its cluster was judged
    reason = _unencrypted_reason(event)
    if not reason:
        return
    database = _database(event)
    details = {"Encryption": reason}
    engine = _engine(event)
    if engine:
        details["Engine"] = engine
    yield Hit(
        summary=f"{_kind(database)} {database.label or '(unnamed)'} created with unencrypted storage",
        resource=database,
        details=details,
    )


def _holds_no_data_of_its_own(event: CloudTrailEvent) -> bool:
    """A deleted instance that is a cluster member or a read replica: the data lives on elsewhere."""
    return bool(event.get_str("responseElements", "dBClusterIdentifier")) or _is_read_replica(event)


@rule(
    id="rds.deleted-without-snapshot",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM, Severity.LOW),
    on={SOURCE: ["DeleteDBInstance", "DeleteDBCluster"]},
    title="RDS database deleted without a final snapshot",
    description=(
        "A database was deleted with no final snapshot, or with its automated backups deleted "
        "along with it. Without the final snapshot nothing but retained automated backups (if "
        "any) can bring it back: the last step of database sabotage and ransom attacks."
    ),
    remediation=(
        "Restore from whatever remains: `aws rds describe-db-snapshots --db-instance-identifier <id>` "
        "and `aws rds describe-db-instance-automated-backups --db-instance-identifier <id>` "
        "(clusters: describe-db-cluster-snapshots, describe-db-cluster-automated-backups), then "
        "restore-db-instance-from-db-snapshot or restore-db-instance-to-point-in-time; require "
        "deletion protection on production databases."
    ),
    mitre="T1485",
    quiet=(
        "Quiet when the final snapshot is taken and the automated backups are kept, and on "
        "deleting a cluster member or a read replica. One step lower when automation deletes it "
        "(IaC tearing down a short-lived environment with SkipFinalSnapshot: `invokedBy` "
        "CloudFormation or a pipeline's role): MEDIUM without a snapshot, LOW with one. Without a "
        "final snapshot but with the automated backups kept (`deleteAutomatedBackups` false), "
        "point-in-time restore still works: MEDIUM. Cannot tell: which environment is throw-away "
        "(routine by memory for the deploy role)."
    ),
)
def deleted_without_snapshot(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """MEDIUM when a final snapshot was taken but the automated backups go (RDS deletes them with the
    database unless told otherwise): the snapshot still restores it. Quiet when both are kept, and
    on deleting an Aurora/DocumentDB/Neptune cluster member or a read replica: the cluster or the
    source holds the data. A deletion that neither skips nor names a final snapshot succeeds only
    for such a member or replica, so it is quiet even when the response is missing."""
    if event.event_name == "DeleteDBInstance" and _holds_no_data_of_its_own(event):
        return
    skipped = event.get_bool("requestParameters", "skipFinalSnapshot") is True
    final_snapshot = event.get_str("requestParameters", "finalDBSnapshotIdentifier")
    backups_deleted = event.get_bool("requestParameters", "deleteAutomatedBackups") is not False
    if not skipped and (not final_snapshot or not backups_deleted):
        return
    database = _database(event)
    label = database.label or "(unnamed)"
    remediation = _restore_remediation(database)
    details = {"Automated backups": "deleted" if backups_deleted else "retained"}
    by_hand = made_by_person(event)
    if not by_hand:
        details["Deleted by"] = "automation"
    if skipped:
        details["Final snapshot"] = "skipped"
        yield Hit(
            summary=f"{_kind(database)} {label} deleted without a final snapshot"
            + ("" if backups_deleted else " (automated backups retained)"),
            resource=database,
            # Retained automated backups still restore it; so do most IaC teardowns' targets.
            severity=None if by_hand and backups_deleted else Severity.MEDIUM,
            details=details,
            remediation=remediation,
            remedy={"<id>": database.id},
        )
        return
    details["Final snapshot"] = final_snapshot
    yield Hit(
        summary=f"{_kind(database)} {label} deleted with its automated backups (final snapshot {final_snapshot})",
        resource=database,
        severity=Severity.MEDIUM if by_hand else Severity.LOW,
        details=details,
        remediation=remediation,
        remedy={"<id>": database.id},
    )


@rule(
    id="rds.master-password-reset",
    routine=True,
    severity=Severity.HIGH,
    on={SOURCE: ["ModifyDBInstance", "ModifyDBCluster"]},
    title="RDS master password reset",
    description=(
        "The master user password of a database was set to a new value chosen by the caller. "
        "Whoever did it can now log in to the database as its administrator, read or destroy "
        "everything in it, without any further AWS permission: a known way from stolen AWS keys to "
        "the data itself."
    ),
    remediation=(
        "Confirm the reset with the database owners. If it was not theirs, set a new password or "
        "hand it to Secrets Manager (`aws rds modify-db-instance --db-instance-identifier <id> "
        "--manage-master-user-password --apply-immediately`, or modify-db-cluster), and review the "
        "database's logins since the reset."
    ),
    mitre="T1098",
    escalates_to=(Severity.MEDIUM,),
    quiet=(
        "Quiet on passwords that Secrets Manager manages (turning that on, `rotateMasterUserPassword`, "
        "and its scheduled rotation carry no password in the request). MEDIUM when automation sets "
        "it (a CloudFormation stack update resolving a changed secret, `invokedBy` CloudFormation, "
        "or a pipeline's role applying Terraform); HIGH when a person does it by hand. Cannot tell: "
        "a DBA recovering a lost password (routine by memory)."
    ),
)
def master_password_reset(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """The password itself is logged as HIDDEN_DUE_TO_SECURITY_REASONS; its presence is the signal.
    Quiet on passwords RDS manages in Secrets Manager: turning that on (manageMasterUserPassword)
    and rotating (rotateMasterUserPassword, or the scheduled rotation RDS runs itself) set a
    password nobody chose and carry none in the request."""
    requested = event.request.get("masterUserPassword")
    pending = event.get("responseElements", "pendingModifiedValues", "masterUserPassword")
    if not requested and not pending:
        return
    database = _database(event)
    by_hand = made_by_person(event)
    details = {"Master password": "set by the caller" if by_hand else "set by automation"}
    if event.get_bool("requestParameters", "manageMasterUserPassword") is False:
        details["Secrets Manager"] = "management turned off"
    yield Hit(
        summary=f"Master password reset on {_kind(database)} {database.label or '(unnamed)'}",
        resource=database,
        severity=None if by_hand else Severity.MEDIUM,
        details=details,
        remediation=(
            "Confirm the reset with the database owners. If it was not theirs, set a new password or hand it "
            f"to Secrets Manager (`{_modify(database)} --manage-master-user-password --apply-immediately`), "
            "and review the database's logins since the reset."
        ),
        remedy={"<id>": database.id},
    )
