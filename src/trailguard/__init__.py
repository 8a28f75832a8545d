"""trailguard: real-time detection of security-sensitive AWS API calls from CloudTrail."""

__version__ = "0.1.0"

# Installs the built-in rules' catalogue into the registry, which core cannot import itself (data
# flows from the entry points down to core), and the loader of users' rule modules (rule_modules)
# into core's settings, which must not run a user's file itself. It costs the generated manifest.
from trailguard import custom_rules as _custom_rules  # noqa: F401
from trailguard import handlers as _handlers  # noqa: F401
