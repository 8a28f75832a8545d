"""Rule modules, one per AWS service domain. Importing a module registers its rules."""

from __future__ import annotations

import importlib

# The event sources each module's rules subscribe to. The Lambda imports only the modules an event
# can concern (importing all of them is a noticeable part of a cold start); tests keep this table
# in step with the rules.
HANDLER_SOURCES: dict[str, tuple[str, ...]] = {
    "alb_handler": ("elasticloadbalancing.amazonaws.com", "wafv2.amazonaws.com", "waf-regional.amazonaws.com"),
    "backup_handler": ("backup.amazonaws.com",),
    "cloudtrail_handler": ("cloudtrail.amazonaws.com",),
    "config_handler": ("config.amazonaws.com",),
    "ec2_handler": ("ec2.amazonaws.com",),
    "ecr_handler": ("ecr.amazonaws.com", "ecr-public.amazonaws.com"),
    "efs_handler": ("elasticfilesystem.amazonaws.com",),
    "glacier_handler": ("glacier.amazonaws.com",),
    "guardduty_handler": ("guardduty.amazonaws.com",),
    "iam_handler": ("iam.amazonaws.com",),
    "kms_handler": ("kms.amazonaws.com",),
    "lambda_handler": ("lambda.amazonaws.com",),
    "opensearch_handler": ("es.amazonaws.com",),
    "organizations_handler": ("organizations.amazonaws.com",),
    "rds_handler": ("rds.amazonaws.com",),
    "s3_handler": ("s3.amazonaws.com",),
    "secretsmanager_handler": ("secretsmanager.amazonaws.com",),
    "security_group_handler": ("ec2.amazonaws.com",),
    "securityhub_handler": ("securityhub.amazonaws.com",),
    "signin_handler": ("signin.amazonaws.com",),
    "sns_handler": ("sns.amazonaws.com",),
    "sqs_handler": ("sqs.amazonaws.com",),
    "vpc_handler": ("ec2.amazonaws.com",),
}
# Modules with rules routed by userIdentity.type rather than by event name.
IDENTITY_HANDLERS: dict[str, tuple[str, ...]] = {"Root": ("iam_handler",)}
# Rules that watch the events of other rules (tamper.denied-attempt): loaded after the modules
# they watch, whenever any module is.
WATCHER_MODULES: tuple[str, ...] = ("tamper_handler",)
HANDLER_MODULES: tuple[str, ...] = (*sorted(HANDLER_SOURCES), *WATCHER_MODULES)

_BY_SOURCE: dict[str, tuple[str, ...]] = {}
for _module, _sources in HANDLER_SOURCES.items():
    for _source in _sources:
        _BY_SOURCE[_source] = (*_BY_SOURCE.get(_source, ()), _module)


def load_all() -> None:
    """Import every handler module so that its rules are registered."""
    for name in HANDLER_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def modules_for(event_source: str, identity_type: str = "") -> tuple[str, ...]:
    """The handler modules whose rules an event of this source and caller type may fire."""
    wanted = _BY_SOURCE.get(event_source, ()) + IDENTITY_HANDLERS.get(identity_type, ())
    return (*dict.fromkeys(wanted), *WATCHER_MODULES) if wanted else ()


def load_for(event_source: str, identity_type: str = "") -> None:
    """Import only the modules an event of this source and caller type concerns."""
    for name in modules_for(event_source, identity_type):
        importlib.import_module(f"{__name__}.{name}")
