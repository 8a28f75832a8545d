"""Security analyzers turned off: IAM Access Analyzer, Macie, Inspector and Detective. Each finds what
an intruder leaves behind: resources shared outside the account, exposed sensitive data, vulnerable
workloads, the graph of what a principal did. Access Analyzer names the analyzer
(``analyzerName``), Detective the graph (``graphArn``), Inspector the accounts and resource types
it stops scanning (``accountIds``, ``resourceTypes``); Macie's DisableMacie takes no parameters.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

ACCESS_ANALYZER = "access-analyzer.amazonaws.com"
MACIE = "macie2.amazonaws.com"
INSPECTOR = "inspector2.amazonaws.com"
DETECTIVE = "detective.amazonaws.com"
# Inspector's core scans: instances and container images. Turning off only its Lambda scans
# (standard or code) is the usual cost cut and leaves the workloads intruders land on scanned.
INSPECTOR_CORE_SCANS = frozenset({"EC2", "ECR"})


def _strings(event: CloudTrailEvent, *path: str) -> list[str]:
    return [value for value in event.get_list(*path) if isinstance(value, str) and value]


@rule(
    id="analyzer.deleted",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM,),
    on={
        ACCESS_ANALYZER: ["DeleteAnalyzer"],
        MACIE: ["DisableMacie"],
        INSPECTOR: ["Disable"],
        DETECTIVE: ["DeleteGraph"],
    },
    title="Security analyzer disabled or deleted",
    description=(
        "A security analyzer was turned off: an IAM Access Analyzer analyzer deleted (no more "
        "findings on resources shared outside the account or unused access), Macie disabled (its "
        "findings and sensitive-data jobs deleted), Inspector scanning disabled for accounts or "
        "resource types, or a Detective behaviour graph deleted. Turning the detectors off is a "
        "step intruders take before acting. MEDIUM when Inspector stops only its Lambda scans "
        "(LAMBDA, LAMBDA_CODE) and keeps scanning instances and images."
    ),
    remediation=(
        "Turn the analyzer back on (`aws accessanalyzer create-analyzer`, `aws macie2 enable-macie`, "
        "`aws inspector2 enable --resource-types ...`, `aws detective create-graph`), find out who "
        "disabled it, and deny these calls outside the security team with an SCP."
    ),
    mitre="T1562.001",
    quiet=(
        "Calls that failed (an analyzer or graph that does not exist). Lower (MEDIUM) "
        "when Inspector stops only its Lambda scans (resourceTypes LAMBDA, LAMBDA_CODE), keeping "
        "EC2 and ECR scanning. Cannot tell: "
        "Macie or Inspector turned off in an unused region to save cost, or an analyzer replaced "
        "by a stack (the new one is created first; routine by memory), from an intruder blinding "
        "them (`suppressions` by account and region)."
    ),
)
def analyzer_deleted(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    source = event.event_source
    if source == ACCESS_ANALYZER:
        name = event.get_str("requestParameters", "analyzerName")
        arn = event.arn("access-analyzer", f"analyzer/{name}") if name else ""
        yield Hit(
            summary=f"IAM Access Analyzer analyzer {name or '(unknown)'} deleted",
            resource=Resource(type="AWS::AccessAnalyzer::Analyzer", id=name, arn=arn),
        )
    elif source == MACIE:
        yield Hit(
            summary=f"Macie disabled in {event.region or 'a region'} (its findings and jobs are deleted)",
            resource=event.account_resource(),
        )
    elif source == INSPECTOR:
        accounts = _strings(event, "requestParameters", "accountIds")
        types = _strings(event, "requestParameters", "resourceTypes")
        details = {
            "Accounts": ", ".join(accounts) or "this account",
            "Resource types": ", ".join(types) or "all",
        }
        partial = bool(types) and not INSPECTOR_CORE_SCANS & set(types)
        yield Hit(
            summary=f"Inspector scanning disabled for {details['Resource types']} in {details['Accounts']}",
            resource=event.account_resource(),
            severity=Severity.MEDIUM if partial else None,
            details=details,
        )
    else:
        graph = event.get_str("requestParameters", "graphArn")
        yield Hit(
            summary=f"Detective behaviour graph {graph.rsplit(':', 1)[-1] if graph else '(unknown)'} deleted",
            resource=Resource(type="AWS::Detective::Graph", id=graph.rsplit(":", 1)[-1], arn=graph),
        )
