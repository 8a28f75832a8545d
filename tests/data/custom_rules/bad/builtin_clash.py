from trailguard.rules import Hit, Severity, rule


@rule(id="s3.bucket-policy-public", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketPolicy"]},
      title="Mine", description="A rule that reuses a built-in id.", remediation="Pick another id.")
def mine(event, ctx):
    yield Hit(summary="mine")
