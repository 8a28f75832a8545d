"""Rule modules, one per AWS service domain. Importing a module registers its rules."""

from __future__ import annotations

import importlib

HANDLER_MODULES: tuple[str, ...] = (
    "alb_handler",
    "cloudtrail_handler",
    "config_handler",
    "ec2_handler",
    "guardduty_handler",
    "iam_handler",
    "kms_handler",
    "lambda_handler",
    "organizations_handler",
    "rds_handler",
    "s3_handler",
    "security_group_handler",
    "securityhub_handler",
    "signin_handler",
    "vpc_handler",
    # Last: it watches the events of the CRITICAL rules registered above.
    "tamper_handler",
)


def load_all() -> None:
    """Import every handler module so that its rules are registered."""
    for name in HANDLER_MODULES:
        importlib.import_module(f"{__name__}.{name}")
