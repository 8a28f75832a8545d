"""Service Quotas: increases that only abuse needs fast. A new account's EC2 vCPU and GPU quotas are
small and its SES quotas are the sandbox's: miners and spammers with stolen keys ask for more
first. The request names the quota by code only (``serviceCode``, ``quotaCode``, ``desiredValue``);
the response's ``requestedQuota`` adds its ``quotaName``, which is what tells an instance quota
apart.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource, as_text

SOURCE = "servicequotas.amazonaws.com"
# Words of EC2 quota names that count instances or their capacity: "Running On-Demand G and VT
# instances", "All P Spot Instance Requests", "Running Dedicated p4d Hosts" (vCPUs are the unit of
# the instance quotas). Not Elastic IPs, AMIs, volumes or snapshots.
_EC2_COMPUTE_WORDS = ("instance", "vcpu", "gpu", "dedicated", "hosts")
# The instance quotas by code, for a record without a response: On-Demand Standard, G and VT, P, F,
# Inf, and Standard Spot.
_EC2_COMPUTE_QUOTA_CODES = frozenset(
    {"L-1216C47A", "L-DB2E81BA", "L-417A185B", "L-74FC7D96", "L-1945791B", "L-34B43A08"}
)


def _quota_name(event: CloudTrailEvent) -> str:
    return event.get_str("responseElements", "requestedQuota", "quotaName")


def _watched(service: str, code: str, name: str) -> bool:
    if service == "ses":
        return True
    if service != "ec2":
        return False
    if name:
        lowered = name.lower()
        return any(word in lowered for word in _EC2_COMPUTE_WORDS)
    return code in _EC2_COMPUTE_QUOTA_CODES


@rule(
    id="servicequotas.increase-requested",
    severity=Severity.LOW,
    on={SOURCE: ["RequestServiceQuotaIncrease"]},
    title="EC2 compute or SES quota increase requested",
    description=(
        "A higher quota was requested for EC2 instances (vCPUs of an instance family, GPU and "
        "accelerator instances, Spot requests, dedicated hosts) or for SES sending. Growing teams "
        "do this routinely; with stolen keys it is the step before launching a mining fleet or a "
        "spam run, so it is worth a glance at who asked and for how much. Other services' quotas "
        "are not reported."
    ),
    remediation=(
        "Check that the caller and the amount match planned work. If not, cancel the request in "
        "the Support case it opened (Service Quotas console, Quota request history), disable the "
        "caller's keys, and look for instances or sending that followed."
    ),
    mitre="T1496",
    quiet=(
        "other services' quotas, EC2 quotas that are not compute (Elastic IPs, AMIs, volumes, "
        "snapshots), and requests refused. Cannot tell: a growing team's request from a miner's or "
        "spammer's, hence LOW; the amount asked for is in the details."
    ),
)
def increase_requested(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    service = event.get_str("requestParameters", "serviceCode")
    code = event.get_str("requestParameters", "quotaCode")
    name = _quota_name(event)
    if not _watched(service, code, name):
        return
    value = event.get("requestParameters", "desiredValue")
    # A JSON number, 64.0 or 1000000.0: shown as 64 and 1000000.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    desired = str(value) if isinstance(value, float) else as_text(value)
    label = name or code or "(unknown quota)"
    details = {"Service": service, "Quota code": code}
    if name:
        details["Quota"] = name
    if desired:
        details["Desired value"] = desired
    arn = event.get_str("responseElements", "requestedQuota", "quotaArn")
    if not arn and service and code:
        arn = event.arn("servicequotas", f"{service}/{code}")
    yield Hit(
        summary=f"Quota increase requested: {service} {label}" + (f" to {desired}" if desired else ""),
        resource=Resource(type="AWS::ServiceQuotas::Quota", id=code, arn=arn),
        details=details,
    )
