"""AWS Config tampering: recording stopped or its recorder or delivery channel deleted.

Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.core.actors import CONTROL_TOWER_EXECUTION_ROLE, control_tower_baseline
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

SOURCE = "config.amazonaws.com"

_WHAT = {
    "StopConfigurationRecorder": ("configurationRecorderName", "AWS::Config::ConfigurationRecorder", "stopped"),
    "DeleteConfigurationRecorder": ("configurationRecorderName", "AWS::Config::ConfigurationRecorder", "deleted"),
    "DeleteDeliveryChannel": ("deliveryChannelName", "AWS::Config::DeliveryChannel", "deleted"),
}


DELIVERY_CHANNEL_REMEDIATION = (
    "Recreate the delivery channel (`aws configservice put-delivery-channel --delivery-channel "
    "file://channel.json`, its bucket and topic are not in the record), check that the recorder still "
    "records (`aws configservice describe-configuration-recorder-status`), and deny these calls with an "
    "SCP outside the security account."
)


@rule(
    id="config.recorder-stopped",
    severity=Severity.HIGH,
    escalates_to=(Severity.MEDIUM,),
    on={SOURCE: list(_WHAT)},
    title="AWS Config recording stopped",
    description=(
        "AWS Config's configuration recorder was stopped or deleted, or its delivery channel removed: "
        "resource changes stop being recorded and Config rules stop evaluating them, hiding what "
        "happens next. MEDIUM when Control Tower does it to its own baseline recorder or channel "
        "(aws-controltower-..., through its AWSControlTowerExecution role): a landing zone update "
        "or an account leaving Control Tower."
    ),
    remediation=(
        "Restart recording (`aws configservice start-configuration-recorder "
        "--configuration-recorder-name <name>`), recreating the recorder or delivery channel if "
        "deleted, and deny these calls with an SCP outside the security account."
    ),
    mitre="T1562.001",
    quiet=(
        "Calls that failed (a recorder that does not exist). Lower (MEDIUM) when Control "
        "Tower's AWSControlTowerExecution role stops or deletes its own aws-controltower-... "
        "recorder or delivery channel (landing zone updates, un-enrolment). Cannot tell: a team "
        "stopping recording in a sandbox account to save cost (`suppressions` by account), or "
        "Terraform replacing a recorder (delete then put; routine by memory)."
    ),
)
def recorder_stopped(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    key, resource_type, verb = _WHAT.get(event.event_name, _WHAT["StopConfigurationRecorder"])
    name = event.get_str("requestParameters", key)
    noun = "delivery channel" if resource_type.endswith("DeliveryChannel") else "configuration recorder"
    landing_zone = control_tower_baseline(event, name)
    yield Hit(
        summary=f"AWS Config {noun} {name or '(unnamed)'} {verb}",
        resource=Resource(type=resource_type, id=name),
        severity=Severity.MEDIUM if landing_zone else None,
        details={"Through": f"Control Tower ({CONTROL_TOWER_EXECUTION_ROLE})"} if landing_zone else {},
        remediation=DELIVERY_CHANNEL_REMEDIATION if noun == "delivery channel" else "",
        remedy={} if noun == "delivery channel" else {"<name>": name},
    )
