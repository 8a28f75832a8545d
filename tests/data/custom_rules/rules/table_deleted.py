"""A rule on a service that no built-in rule watches: the Lambda must still route its events here."""

from trailguard.rules import CloudTrailEvent, Hit, Resource, RuleContext, Severity, rule


@rule(
    id="custom.dynamodb-table-deleted",
    severity=Severity.MEDIUM,
    on={"dynamodb.amazonaws.com": ["DeleteTable"]},
    title="DynamoDB table deleted",
    description="A DynamoDB table and every item in it were deleted.",
    remediation="Restore the table from a backup or a point-in-time recovery snapshot if it was not meant to go.",
)
def table_deleted(event: CloudTrailEvent, ctx: RuleContext):
    name = event.get_str("requestParameters", "tableName")
    arn = event.get_str("responseElements", "tableDescription", "tableArn")
    yield Hit(summary=f"table {name} deleted", resource=Resource(type="AWS::DynamoDB::Table", id=name, arn=arn))
