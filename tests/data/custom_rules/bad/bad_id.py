from trailguard.rules import Hit, Severity, rule


@rule(id="Custom_Rule", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},
      title="Bad id", description="An id that is not service.what-it-detects.", remediation="Rename it.")
def bad(event, ctx):
    yield Hit(summary="bad")
