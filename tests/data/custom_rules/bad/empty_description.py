from trailguard.rules import Hit, Severity, rule


@rule(id="custom.no-description", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},
      title="No description", description="  ", remediation="Write one.")
def undescribed(event, ctx):
    yield Hit(summary="undescribed")
