"""The remediation paths test_remediation_actions.py does not take: a cluster snapshot, a policy whose
every statement is public (deleted, emptied, or left for a person when the resource cannot be without
one), a secret that keeps its other statements, and an ECR Public repository (public by design).

Each against moto in-process and its server, as there: the resource in the state the event describes, the action's cycle
(dry-run, the CLI's plan, apply, the second run a no-op), the resource read back.
"""

from __future__ import annotations

import json
from typing import Any

from trailguard.services.remediation.runner import Status

from .remediation_scenarios import Scenario, assert_cycle, declared
from .remediation_world import ACCOUNT, Record, Remediation, event_record, fake_aws, finding_of, remediation

__all__ = ["fake_aws", "remediation"]  # the fixtures, used by name (moto in-process and its server)


def test_rds_cluster_snapshot_loses_all_and_the_untrusted_account(remediation: Remediation) -> None:
    rds = remediation.aws.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="ledger-aurora",
        Engine="aurora-postgresql",
        MasterUsername="dbadmin",
        MasterUserPassword="not-a-real-password-1",
    )
    name = "ledger-aurora-final"
    rds.create_db_cluster_snapshot(DBClusterIdentifier="ledger-aurora", DBClusterSnapshotIdentifier=name)
    # Shared with a partner before the event: not the event's doing, so kept.
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=["444455556666"]
    )
    record = event_record("rds/modify_db_cluster_snapshot_attribute_public_and_external.json")
    assert record["requestParameters"]["valuesToAdd"] == ["999988887777", "all"]
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=["999988887777", "all"]
    )

    def values() -> list[str]:
        result = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=name)
        (attribute,) = result["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
        return sorted(attribute["AttributeValues"])

    def fixed() -> None:
        assert values() == ["444455556666"]

    def broken() -> None:
        assert values() == ["444455556666", "999988887777", "all"]

    assert_cycle(remediation, Scenario("rds.snapshot-public", record, fixed, broken))
    # The cluster's operations, not the instance snapshot's.
    assert "rds:ModifyDBClusterSnapshotAttribute" in remediation.recorder.calls
    assert "rds:ModifyDBSnapshotAttribute" not in remediation.recorder.calls


def _secret_with(remediation: Remediation, record: Record, extra: list[dict[str, Any]]) -> Any:
    secrets = remediation.aws.client("secretsmanager")
    secrets.create_secret(Name="prod/db/admin", SecretString="not-a-real-secret")
    policy = json.loads(record["requestParameters"]["resourcePolicy"])
    policy["Statement"] = [*extra, *policy["Statement"]]
    secrets.put_resource_policy(SecretId="prod/db/admin", ResourcePolicy=json.dumps(policy))
    return secrets


def test_secret_keeps_its_other_statements(remediation: Remediation) -> None:
    record = event_record("secretsmanager/put_resource_policy_public.json")
    kept = {
        "Sid": "AppReads",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/orders-app"},
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
    }
    secrets = _secret_with(remediation, record, [kept])

    def statements() -> list[dict[str, Any]]:
        text = secrets.get_resource_policy(SecretId="prod/db/admin").get("ResourcePolicy") or "{}"
        return list(json.loads(text).get("Statement", []))

    def fixed() -> None:
        assert statements() == [kept]

    def broken() -> None:
        assert len(statements()) == 2

    assert_cycle(remediation, Scenario("secretsmanager.policy-public", record, fixed, broken))
    # The other statement stays, so the policy is put back narrowed, not deleted.
    assert "secretsmanager:PutResourcePolicy" in remediation.recorder.writes()
    assert "secretsmanager:DeleteResourcePolicy" not in remediation.recorder.calls


def test_ecr_policy_all_public_is_deleted(remediation: Remediation) -> None:
    record = event_record("ecr/set_repository_policy_public.json")
    ecr = remediation.aws.client("ecr")
    ecr.create_repository(repositoryName="payments-api")
    ecr.set_repository_policy(repositoryName="payments-api", policyText=record["requestParameters"]["policyText"])

    def has_policy() -> bool:
        try:
            ecr.get_repository_policy(repositoryName="payments-api")
        except ecr.exceptions.RepositoryPolicyNotFoundException:
            return False
        return True

    def fixed() -> None:
        assert not has_policy()

    def broken() -> None:
        assert has_policy()

    assert_cycle(remediation, Scenario("ecr.repository-public", record, fixed, broken))
    assert remediation.recorder.writes() == ["ecr:DeleteRepositoryPolicy"]
    assert declared("ecr.repository-public") >= set(remediation.recorder.calls)


def test_sqs_policy_all_public_is_emptied(remediation: Remediation) -> None:
    record = event_record("sqs/set_queue_attributes_public.json")
    sqs = remediation.aws.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    record["requestParameters"]["queueUrl"] = url
    sqs.set_queue_attributes(QueueUrl=url, Attributes=record["requestParameters"]["attributes"])

    def policy() -> str:
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy", "")
        )

    def fixed() -> None:
        assert policy() == ""

    def broken() -> None:
        assert '"Principal"' in policy()

    assert_cycle(remediation, Scenario("sqs.queue-policy-public", record, fixed, broken))


def test_sns_policy_all_public_is_left_for_a_person(remediation: Remediation) -> None:
    """A topic always has a policy: with every statement public there is nothing to keep, so the
    action changes nothing and says why (the alert still goes out)."""
    record = event_record("sns/set_topic_attributes_public.json")
    sns = remediation.aws.client("sns")
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=record["requestParameters"]["attributeValue"]
    )
    before = sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"]
    finding = finding_of(record, "sns.topic-policy-public")
    result = remediation.run(finding, record)
    assert result.status is Status.NOTHING
    assert "every statement of the topic policy is public and a topic needs one: narrow it by hand" in result.text
    assert remediation.recorder.writes() == []
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"] == before


def test_ecr_public_repository_is_not_touched(remediation: Remediation) -> None:
    record = event_record("ecr/ecr_public_create_repository.json")
    finding = finding_of(record, "ecr.repository-public")
    result = remediation.run(finding, record)
    assert result.status is Status.NOTHING
    assert "an ECR Public repository is public by design" in result.text
    assert remediation.recorder.calls == []  # not even a look-up
