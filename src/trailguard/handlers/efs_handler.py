"""EFS rules: file system policies that let anyone in. PutFileSystemPolicy
(``elasticfilesystem.amazonaws.com``) logs ``fileSystemId`` and the policy as the ``policy`` JSON
string.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, public_policy_hit

SOURCE = "elasticfilesystem.amazonaws.com"
# "Only through a mount target": the client must reach the file system over the VPC's network,
# which is all the access an EFS file system without a policy gives anyway. The console's
# preconfigured policies ("Prevent anonymous access" and the like) Allow {"AWS": "*"} on this
# condition.
EFS_NARROWING_FLAGS = ("elasticfilesystem:AccessedViaMountTarget",)


@rule(
    id="efs.policy-public",
    resource_placeholder="<fs>",
    severity=Severity.HIGH,
    on={SOURCE: ["PutFileSystemPolicy"]},
    title="EFS file system policy open to everyone",
    description=(
        'A file system policy now Allows Principal "*" without a condition limiting callers to an '
        "organization, account, network or mount target: any principal of any AWS account that can "
        "reach the file system (peered networks, shared VPCs, other accounts' mount targets) may "
        "mount, write or take root access, as the allowed actions go."
    ),
    remediation=(
        "Put back a policy naming the intended principals, or requiring access through a mount "
        "target (`aws efs put-file-system-policy --file-system-id <fs> --policy file://policy.json`), "
        "or remove it (`aws efs delete-file-system-policy --file-system-id <fs>`)."
    ),
    mitre="T1530",
    quiet=(
        'Quiet on the console\'s preconfigured policies ("*" only through a mount target, '
        '`elasticfilesystem:AccessedViaMountTarget`), on Deny-only policies such as "enforce '
        'in-transit encryption", and on named principals. Cannot tell: nothing routine opens a file '
        "system to every account."
    ),
)
def policy_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on the console's preconfigured policies ("*" only through a mount target), on
    Deny-only policies such as "enforce in-transit encryption", and on named principals."""
    exposure = analyze_policy(
        event.get("requestParameters", "policy"),
        lambda account: ctx.is_trusted_account(account, event),
        narrowing_flags=EFS_NARROWING_FLAGS,
    )
    if not exposure.public:
        return
    file_system = event.get_str("requestParameters", "fileSystemId")
    arn = event.arn("elasticfilesystem", f"file-system/{file_system}") if file_system else ""
    resource = Resource(type="AWS::EFS::FileSystem", id=file_system, arn=arn)
    yield public_policy_hit(f"File system {file_system or '(unknown)'}", resource, exposure)
