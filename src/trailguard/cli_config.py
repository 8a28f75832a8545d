"""``trailguard config check FILE``: validate a configuration as the Lambda will, without AWS.

The same loader (every key, the rule modules, the channel tables) and the same start-up warnings as
the Lambda's cold start, so a file tuned on a laptop fails here rather than in the deployed
function. Only the file: the shell's ``TRAILGUARD_*`` variables are not the function's.
"""

from __future__ import annotations

import argparse
import fnmatch
from typing import IO

from trailguard.core.settings import Settings, alerting_warnings


def run_config_check(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """0 when the file is valid (warnings on stderr); a ``ConfigError`` (exit 2) when it is not."""
    from trailguard.core.base_handler import REGISTRY
    from trailguard.services.channels import ChannelContext, build_channels

    settings = Settings.load(args.file, env={})
    # Options only: nothing is sent and no secret is read, so no AWS and no network.
    channels = build_channels(settings.channels, ChannelContext(), settings.origin("channels"))
    from trailguard.services.remediation.runner import remediation_warnings

    for warning in alerting_warnings(settings) + remediation_warnings(settings):
        stderr.write(f"trailguard: warning: configuration: {warning}\n")
    rule_ids = REGISTRY.top_severities()
    enabled = [r for r in rule_ids if not any(fnmatch.fnmatchcase(r, glob) for glob in settings.disabled_rules)]
    names = ", ".join(channel.describe() for channel in channels) or "no channel"
    stdout.write(f"{args.file}: valid ({len(enabled)} of {len(rule_ids)} rules enabled; {names})\n")
    return 0
