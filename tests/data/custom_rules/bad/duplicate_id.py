from trailguard.rules import Hit, Severity, rule

META = dict(severity=Severity.LOW, title="Twice", description="Registered twice.", remediation="Rename one of them.")


@rule(id="custom.twice", on={"s3.amazonaws.com": ["PutBucketTagging"]}, **META)
def first(event, ctx):
    yield Hit(summary="first")


@rule(id="custom.twice", on={"s3.amazonaws.com": ["DeleteBucketTagging"]}, **META)
def second(event, ctx):
    yield Hit(summary="second")
