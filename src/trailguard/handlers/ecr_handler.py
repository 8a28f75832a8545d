"""ECR rules: container repositories opened to everyone or to accounts outside the trusted set.
Private ECR (``ecr.amazonaws.com``) logs SetRepositoryPolicy with the policy as the ``policyText``
JSON string. ECR Public (``ecr-public.amazonaws.com``, us-east-1 only) repositories are readable by
anyone on the internet from the moment they exist, so creating one is the exposure.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource
from trailguard.core.policy import analyze_policy, exposure_hit

SOURCE = "ecr.amazonaws.com"
PUBLIC_SOURCE = "ecr-public.amazonaws.com"


def _repository(event: CloudTrailEvent) -> Resource:
    name = event.get_str("requestParameters", "repositoryName") or event.get_str("responseElements", "repositoryName")
    arn = event.get_str("responseElements", "repository", "repositoryArn")
    if event.event_source == PUBLIC_SOURCE:
        return Resource(type="AWS::ECR::PublicRepository", id=name, arn=arn)
    registry = event.get_str("requestParameters", "registryId") or event.get_str("responseElements", "registryId")
    if not arn and name:
        arn = event.arn("ecr", f"repository/{name}", account=registry or None)
    return Resource(type="AWS::ECR::Repository", id=name, arn=arn)


@rule(
    id="ecr.repository-public",
    resource_placeholder="<repo>",
    severity=Severity.HIGH,
    on={SOURCE: ["SetRepositoryPolicy"], PUBLIC_SOURCE: ["CreateRepository"]},
    title="Container repository made public or shared",
    description=(
        'A private ECR repository\'s policy now lets anyone ("*" without an organization, account '
        "or network condition) or an account outside the trusted accounts pull or push images, or "
        "a public ECR repository was created. Images carry code, configuration and often embedded "
        "secrets; push access lets an outsider replace what your services run."
    ),
    remediation=(
        "Remove or narrow the policy (`aws ecr delete-repository-policy --repository-name <repo>` or "
        "`aws ecr set-repository-policy --repository-name <repo> --policy-text file://policy.json`); "
        "for an unintended public repository, `aws ecr-public delete-repository --repository-name "
        "<repo> --region us-east-1`. Check the images for secrets and the pull history."
    ),
    mitre="T1537",
    quiet=(
        "Quiet on Lambda's service principal (container-image functions, even narrowed to other "
        'accounts\' functions by aws:SourceArn), on pulls granted to the organization ("*" with '
        "aws:PrincipalOrgID) and on trusted accounts. Cannot tell: an open-source image repository "
        "made public on purpose, in ECR Public or by policy (use `suppressions` for the repository)."
    ),
)
def repository_public(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Quiet on Lambda's service principal (container-image functions), on pulls granted to the
    organization ("*" with aws:PrincipalOrgID) and on trusted accounts. A public repository cannot
    be told apart from an intended open-source one: every creation is reported."""
    repository = _repository(event)
    label = repository.label or "(unnamed)"
    if event.event_source == PUBLIC_SOURCE:
        yield Hit(
            summary=f"Public ECR repository {label} created: anyone can pull its images",
            resource=repository,
            details={"Registry": "ECR Public"},
        )
        return
    exposure = analyze_policy(
        event.get("requestParameters", "policyText"), lambda account: ctx.is_trusted_account(account, event)
    )
    hit = exposure_hit(f"Repository {label}", repository, exposure)
    if hit:
        yield hit
