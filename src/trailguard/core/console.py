"""AWS console URLs, built only from validated parts: the one place a console link gets its host.

Region, partition and event id come from the event, so they are attacker-controlled: an event whose
``awsRegion`` reads ``evil.example/`` must not turn a link into one to someone else's site. The
scheme and host are always ours, the region must look like AWS's, and a URL that would need an
invalid part is empty instead. The finding's JSON (``Finding.cloudtrail_url``) and every alert link
are built here, so they agree.
"""

from __future__ import annotations

from trailguard.core.aws_ids import EVENT_ID, REGION, arn_partition

_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


class Console:
    """The console of one partition, in one region (empty when the region is not a valid one)."""

    __slots__ = ("host", "partition", "region")

    def __init__(self, region: str, *arns: str) -> None:
        """``arns``: the partition is that of the first ARN whose partition has a console (else ``aws``)."""
        self.partition = next((p for p in map(arn_partition, arns) if p in _HOSTS), "aws")
        self.host = _HOSTS[self.partition]
        self.region = region if REGION.fullmatch(region) else ""

    def regional(self, path: str, fragment: str = "") -> str:
        """A page of a regional service; empty without a valid region."""
        if not self.region:
            return ""
        host = f"{self.region}.{self.host}" if self.partition == "aws" else self.host
        url = f"https://{host}/{path}?region={self.region}"
        return f"{url}#{fragment}" if fragment else url

    def global_(self, path: str, fragment: str = "") -> str:
        """A page of a global service (IAM, Organizations)."""
        url = f"https://{self.host}/{path}"
        return f"{url}#{fragment}" if fragment else url

    def s3(self, path: str, query: str = "") -> str:
        """A page of the S3 console, which has a host of its own in the aws partition."""
        host = "s3.console.aws.amazon.com" if self.partition == "aws" else self.host
        parts = [f"region={self.region}"] if self.region else []
        if query:
            parts.append(query)
        return f"https://{host}/s3/{path}" + ("?" + "&".join(parts) if parts else "")

    def cloudtrail_event(self, event_id: str) -> str:
        """The event in CloudTrail's event history; empty unless the region and event id are valid."""
        if not EVENT_ID.fullmatch(event_id):
            return ""
        return self.regional("cloudtrailv2/home", f"/events/{event_id}")
