from trailguard.rules import Hit, Severity, rule


@rule(id="custom.half", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},
      title="Half", description="Registered before the file fails.", remediation="Fix the file.")
def half(event, ctx):
    yield Hit(summary="half")


raise ValueError("the file fails after its first rule")
