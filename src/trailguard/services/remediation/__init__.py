"""Auto-remediation: undo, opt-in and rule by rule, the change a finding reports (docs/remediation.md).

One module per action family; importing this package registers every action in ``ACTIONS``.
Nothing here is imported unless ``[remediation]`` turns some rule on (the Lambda's cold start).
"""

from trailguard.services.remediation import awslambda, cloudtrail, ec2, iam, policies, rds, s3
from trailguard.services.remediation.base import ACTIONS, Action, Call, Plan, Target

__all__ = [
    "ACTIONS",
    "Action",
    "Call",
    "Plan",
    "Target",
    "awslambda",
    "cloudtrail",
    "ec2",
    "iam",
    "policies",
    "rds",
    "s3",
]
