"""AWS Account Management: opt-in regions enabled. The Account Management API logs in us-east-1.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "account.amazonaws.com"


@rule(
    id="account.region-enabled",
    severity=Severity.MEDIUM,
    on={SOURCE: ["EnableRegion"]},
    title="Opt-in region enabled",
    description=(
        "An opt-in region (one AWS leaves off by default, such as af-south-1 or me-central-1) was "
        "enabled. Attackers turn on regions nobody watches to run instances or keep resources out "
        "of sight: trails, GuardDuty and Config set up before may not cover a region enabled later. "
        "Every enabling is reported; DisableRegion is not."
    ),
    remediation=(
        "Confirm the region is wanted. If not, disable it (`aws account disable-region --region-name "
        "<region>`); if it is, extend CloudTrail, GuardDuty, Config and the SCP region limits to it."
    ),
    mitre="T1535",
    quiet=(
        "Not reported: DisableRegion and failed calls. Cannot tell: the business opening a region "
        "from an attacker hiding in one (MEDIUM)."
    ),
)
def region_enabled(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    # The API's JSON body names it RegionName; CloudTrail logs Account Management requests in camelCase.
    region = event.get_str("requestParameters", "regionName") or event.get_str("requestParameters", "RegionName")
    account = event.get_str("requestParameters", "accountId") or event.account_id
    label = region or "(unknown region)"
    details = {"Region": label, "Account": account or "(unknown)"}
    if account and account != event.account_id:
        details["Enabled from"] = event.account_id or "(unknown)"
    yield Hit(
        summary=f"Region {label} enabled for account {account or '(unknown)'}",
        resource=Resource(type="AWS::Account::Region", id=f"{account}/{region}" if account else region),
        details=details,
        remedy={"<region>": region},
    )
