"""Defaults for the allow-lists rules consult. Users override them in configuration."""

from __future__ import annotations

DEFAULT_ALLOWED_PORTS: tuple[int, ...] = (80, 443)
DEFAULT_ALLOWED_CIDRS: tuple[str, ...] = ()
DEFAULT_TRUSTED_ACCOUNTS: tuple[str, ...] = ()

# Remote administration and database ports: opening these to the world is CRITICAL.
DEFAULT_ADMIN_PORTS: tuple[tuple[int, int], ...] = (
    (20, 23),  # FTP, SSH, Telnet
    (445, 445),  # SMB
    (1433, 1433),  # SQL Server
    (1521, 1521),  # Oracle
    (3306, 3306),  # MySQL
    (3389, 3389),  # RDP
    (5432, 5432),  # PostgreSQL
    (5985, 5986),  # WinRM
    (6379, 6379),  # Redis
    (9200, 9200),  # Elasticsearch
    (11211, 11211),  # Memcached
    (27017, 27017),  # MongoDB
)

# IAM group names (globs, matched regardless of case, as IAM compares group names) that make a
# group an administrators' group for iam.admin-group-membership.
DEFAULT_ADMIN_GROUPS: tuple[str, ...] = ("*admin*",)

# Substrings of user agents that infrastructure-as-code tools send. Offered as examples for
# suppressions; never applied by default, because a user agent is chosen by the caller.
KNOWN_AUTOMATION_USER_AGENTS: tuple[str, ...] = (
    "APN/1.0 HashiCorp/1.0 Terraform",
    "cloudformation.amazonaws.com",
    "aws-cdk",
    "Pulumi",
)

# The error codes AWS returns when the caller lacks permission.
ACCESS_DENIED_ERROR_CODES: frozenset[str] = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "Client.UnauthorizedOperation",
        "Client.AccessDenied",
        "AuthorizationError",
        "UnauthorizedAccess",
        "NotAuthorized",
        "Forbidden",
    }
)

# Log groups that hold audit trails: deleting one (or its streams or subscriptions) is HIGH rather
# than MEDIUM. Globs, matched ignoring case, for the names the consoles and common set-ups give
# them: the CloudTrail console's aws-cloudtrail-logs-<account>-<id>, CloudTrail/DefaultLogGroup,
# Control Tower's aws-controltower/CloudTrailLogs, and VPC flow-log groups (/aws/vpc/flowlogs,
# vpc-flow-logs, VPCFlowLogs...).
DEFAULT_AUDIT_LOG_GROUPS: tuple[str, ...] = ("*cloudtrail*", "*flow-log*", "*flowlog*", "*flow_log*", "*vpc-flow*")

# trailguard's own resources when the stack does not say (an offline scan, a hand-made set-up): the
# function's default name, and the EventBridge rules of infra/template.yaml and infra/forwarder.yaml,
# whose CloudFormation names are <stack>-<logical id>-<suffix> (scripts/sync_patterns.py names them).
DEFAULT_SELF_RESOURCES: tuple[str, ...] = (
    "arn:*:lambda:*:*:function:AWS-Generic-Security-*",
    "arn:*:events:*:*:rule/*-RuleApiCalls*-*",
    "arn:*:events:*:*:rule/*-RuleConsoleSignIn-*",
    "arn:*:events:*:*:rule/*-RuleRootActivity-*",
    "arn:*:events:*:*:rule/*-RuleReadOnlyCalls*-*",
)
