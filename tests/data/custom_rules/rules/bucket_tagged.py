from trailguard.rules import Hit, Resource, Severity, rule

@rule(id="custom.bucket-tagged", severity=Severity.LOW, on={"s3.amazonaws.com": ["PutBucketTagging"]},
      title="Bucket tags changed", description="Someone changed a bucket's tags.", remediation="Check the new tags.")
def bucket_tagged(event, ctx):
    name = event.get_str("requestParameters", "bucketName")
    yield Hit(summary=f"tags of {name} changed", resource=Resource(type="AWS::S3::Bucket", id=name))
