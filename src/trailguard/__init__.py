"""trailguard: real-time detection of security-sensitive AWS API calls from CloudTrail."""

__version__ = "0.1.0"
