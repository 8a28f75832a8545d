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

# Write calls that baseline.new-sensitive-call watches besides the events of other rules: calls that
# Stratus Red Team, Sigma and Elastic's AWS rules show attackers favour, routine in some accounts
# and alarming in others, so only a principal's first one (after its learning period) is reported.
# "eventSource:eventName" as CloudTrail logs them (Lambda's versioned names by their base name).
DEFAULT_BASELINE_WATCH: tuple[str, ...] = (
    # Images, snapshots, volumes and launch templates: copying data out, planting a backdoored image.
    "ec2.amazonaws.com:CreateImage",
    "ec2.amazonaws.com:CopyImage",
    "ec2.amazonaws.com:CreateSnapshot",
    "ec2.amazonaws.com:CopySnapshot",
    "ec2.amazonaws.com:CreateVolume",
    "ec2.amazonaws.com:AttachVolume",
    "ec2.amazonaws.com:CreateLaunchTemplate",
    "ec2.amazonaws.com:CreateLaunchTemplateVersion",
    "ec2.amazonaws.com:ModifyLaunchTemplate",
    "ec2.amazonaws.com:CreateVpcPeeringConnection",
    "ec2.amazonaws.com:CreateTrafficMirrorSession",
    "ec2.amazonaws.com:CreateInternetGateway",
    # Containers and functions: running code with a role's permissions.
    "ecs.amazonaws.com:RegisterTaskDefinition",
    "ecs.amazonaws.com:CreateService",
    "ecs.amazonaws.com:UpdateService",
    "ecs.amazonaws.com:RunTask",
    "ecs.amazonaws.com:ExecuteCommand",
    "eks.amazonaws.com:CreateAccessEntry",
    "eks.amazonaws.com:AssociateAccessPolicy",
    "lambda.amazonaws.com:UpdateFunctionCode",
    "lambda.amazonaws.com:CreateEventSourceMapping",
    "lambda.amazonaws.com:PublishLayerVersion",
    "codebuild.amazonaws.com:CreateProject",
    "codebuild.amazonaws.com:StartBuild",
    "glue.amazonaws.com:CreateDevEndpoint",
    "glue.amazonaws.com:UpdateDevEndpoint",
    "sagemaker.amazonaws.com:CreateNotebookInstance",
    "sagemaker.amazonaws.com:CreatePresignedNotebookInstanceUrl",
    # API Gateway: a public front door to internal functions.
    "apigateway.amazonaws.com:CreateRestApi",
    "apigateway.amazonaws.com:CreateDeployment",
    "apigateway.amazonaws.com:CreateApiKey",
    # CloudShell: a shell inside the account with the caller's credentials.
    "cloudshell.amazonaws.com:CreateEnvironment",
    "cloudshell.amazonaws.com:CreateSession",
    "cloudshell.amazonaws.com:PutCredentials",
    # CloudFormation: whole stacks of resources, in every account of an organization.
    "cloudformation.amazonaws.com:CreateStack",
    "cloudformation.amazonaws.com:UpdateStack",
    "cloudformation.amazonaws.com:DeleteStack",
    "cloudformation.amazonaws.com:CreateStackSet",
    "cloudformation.amazonaws.com:CreateStackInstances",
    "cloudformation.amazonaws.com:ExecuteChangeSet",
    # Lightsail and Transfer Family: compute and file servers outside the usual controls.
    "lightsail.amazonaws.com:CreateInstances",
    "lightsail.amazonaws.com:CreateKeyPair",
    "lightsail.amazonaws.com:DownloadDefaultKeyPair",
    "lightsail.amazonaws.com:OpenInstancePublicPorts",
    "transfer.amazonaws.com:CreateServer",
    "transfer.amazonaws.com:CreateUser",
    "transfer.amazonaws.com:ImportSshPublicKey",
    # Route 53: redirecting a domain's traffic.
    "route53.amazonaws.com:ChangeResourceRecordSets",
    "route53.amazonaws.com:CreateHostedZone",
    "route53.amazonaws.com:AssociateVPCWithHostedZone",
    # SES: sending mail as the company (phishing, spam).
    "ses.amazonaws.com:VerifyEmailIdentity",
    "ses.amazonaws.com:VerifyDomainIdentity",
    "ses.amazonaws.com:CreateEmailIdentity",
    "ses.amazonaws.com:PutAccountDetails",
    # Support cases: raising quotas and unlocking services for abuse.
    "support.amazonaws.com:CreateCase",
    "support.amazonaws.com:AddCommunicationToCase",
    # IAM deletions and federation: covering tracks, locking owners out, new ways in.
    "iam.amazonaws.com:DeletePolicy",
    "iam.amazonaws.com:DeletePolicyVersion",
    "iam.amazonaws.com:DeleteUser",
    "iam.amazonaws.com:DeleteRole",
    "iam.amazonaws.com:DeleteUserPolicy",
    "iam.amazonaws.com:DeleteRolePolicy",
    "iam.amazonaws.com:DetachUserPolicy",
    "iam.amazonaws.com:DetachRolePolicy",
    "iam.amazonaws.com:DeleteAccessKey",
    "iam.amazonaws.com:UploadSSHPublicKey",
    "iam.amazonaws.com:CreateSAMLProvider",
    "iam.amazonaws.com:CreateOpenIDConnectProvider",
    "iam.amazonaws.com:DeactivateMFADevice",
    # Data copied out of databases.
    "rds.amazonaws.com:CreateDBSnapshot",
    "rds.amazonaws.com:RestoreDBInstanceFromDBSnapshot",
    "dynamodb.amazonaws.com:ExportTableToPointInTime",
    "kms.amazonaws.com:CreateGrant",
)
