"""trailguard: real-time detection of security-sensitive AWS API calls from CloudTrail."""

__version__ = "0.1.0"

# Installs the built-in rules' catalogue into the registry, which core cannot import itself (data
# flows from the entry points down to core). It costs the generated manifest, not the rules.
from trailguard import handlers as _handlers  # noqa: F401
