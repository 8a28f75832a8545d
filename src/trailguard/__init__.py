"""trailguard: real-time detection of security-sensitive AWS API calls from CloudTrail."""

__version__ = "0.1.0"

# Installs the loader of users' rule modules (the rule_modules setting) into core's settings, which
# must not import it: loading settings from any entry point, or from a library user, then loads them.
from trailguard import custom_rules as _custom_rules  # noqa: F401
