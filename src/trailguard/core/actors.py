"""Who is acting: AWS on its own behalf is not an attacker.

One predicate, applied by the engine to every rule (docs/rules.md): a call that AWS makes by itself
is not reported. That is a caller of ``userIdentity.type`` AWSService, an event of
``eventType`` AwsServiceEvent, or a session of a service-linked role (an assumed-role session of
a role named ``AWSServiceRole...`` or whose path is ``/aws-service-role/``): only the service can
assume such a role, and people cannot change its permissions. A service acting *for a person*
(``invokedBy`` cloudformation.amazonaws.com applying someone's stack, a console session) is that
person's change: the caller is the person's own principal, so it is still reported.
"""

from __future__ import annotations

from trailguard.core.event_types import CloudTrailEvent

SERVICE_LINKED_ROLE_PREFIX = "AWSServiceRole"
SERVICE_LINKED_ROLE_PATH = "/aws-service-role/"


def is_aws_acting_for_itself(event: CloudTrailEvent) -> bool:
    """True when AWS made the call by itself, not for a person or a pipeline."""
    if event.identity_type == "AWSService" or event.get_str("eventType") == "AwsServiceEvent":
        return True
    if event.identity_type != "AssumedRole":
        return False
    issuer = event.get_str("userIdentity", "sessionContext", "sessionIssuer", "arn")
    if SERVICE_LINKED_ROLE_PATH in issuer:
        return True
    # arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling
    session = event.get_str("userIdentity", "arn").partition(":assumed-role/")[2]
    return session.startswith(SERVICE_LINKED_ROLE_PREFIX)
