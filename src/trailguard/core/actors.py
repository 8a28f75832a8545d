"""Who is acting: AWS on its own behalf is not an attacker.

One predicate, applied by the engine to every rule (docs/rules.md): a call that AWS makes by itself
is not reported. That is a caller of ``userIdentity.type`` AWSService, an event of
``eventType`` AwsServiceEvent, or a session of a service-linked role (an assumed-role session of
a role named ``AWSServiceRole...`` or whose path is ``/aws-service-role/``): only the service can
assume such a role, and people cannot change its permissions. A service acting *for a person*
(``invokedBy`` cloudformation.amazonaws.com applying someone's stack, a console session) is that
person's change: the caller is the person's own principal, so it is still reported.

A second question some rules ask: did a *person* make this call, by hand, or a pipeline? A person
changing a function's code at the console is more notable than the deploy role doing it every day.
``made_by_person`` answers it from the event alone. Two more that several rules ask: did
CloudFormation make the call while applying a stack (``applied_by_stack``), and is Control Tower
maintaining its own baseline (``control_tower_baseline``)?
"""

from __future__ import annotations

from trailguard.core.event_types import CloudTrailEvent

SERVICE_LINKED_ROLE_PREFIX = "AWSServiceRole"
SERVICE_LINKED_ROLE_PATH = "/aws-service-role/"
# The roles Identity Center creates for its permission sets: every session of one is a person
# signed in through the access portal.
IDENTITY_CENTER_ROLE_PREFIX = "AWSReservedSSO_"
_PERSON_IDENTITY_TYPES = frozenset({"IAMUser", "Root", "FederatedUser", "IdentityCenterUser"})


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


def made_by_person(event: CloudTrailEvent) -> bool:
    """True when a person made the call by hand (console, CLI), False for automation.

    A person: an IAM user, the root user, a federated user (GetFederationToken) or an Identity
    Center user; or an assumed-role session of an Identity Center permission set
    (``AWSReservedSSO_...``), of the console (``sessionCredentialFromConsole``), or named after an
    email address (SAML identity providers name sessions after the user's email). Any other
    assumed role is automation: a deploy pipeline, an instance, a function. A call a service makes
    *for* a principal (``invokedBy``: CloudFormation applying a stack) is not by hand either.
    An IAM user's access key used by a pipeline counts as a person: the event cannot tell, and a
    long-lived key in a pipeline deserves the closer look anyway.
    """
    if event.get_str("userIdentity", "invokedBy"):
        return False
    identity_type = event.identity_type
    if identity_type in _PERSON_IDENTITY_TYPES:
        return True
    if identity_type != "AssumedRole":
        return False
    if from_console(event):
        return True
    issuer = event.get_str("userIdentity", "sessionContext", "sessionIssuer", "userName")
    if issuer.startswith(IDENTITY_CENTER_ROLE_PREFIX):
        return True
    session = event.get_str("userIdentity", "arn").rpartition("/")[2]
    return "@" in session


def from_console(event: CloudTrailEvent) -> bool:
    """True when the call came from an AWS Management Console session (CloudTrail logs
    ``sessionCredentialFromConsole: "true"`` then, and leaves the field out otherwise)."""
    console = event.get("sessionCredentialFromConsole")
    return console is True or console == "true"


# CloudFormation applying a stack (a deploy, an update that replaces a resource, a teardown) makes
# the stack's calls with invokedBy naming it, with the caller's own session or the stack's service
# role (CDK's cdk-*-cfn-exec-role-*). AWS sets invokedBy; a caller cannot.
CLOUDFORMATION = "cloudformation.amazonaws.com"
# The role through which Control Tower (its StackSets) builds and removes an enrolled account's
# baseline: its trail, Config recorder and delivery channel, all named aws-controltower-...
CONTROL_TOWER_EXECUTION_ROLE = "AWSControlTowerExecution"
CONTROL_TOWER_PREFIX = "aws-controltower-"


def applied_by_stack(event: CloudTrailEvent) -> bool:
    """Did CloudFormation make this call while applying a stack?"""
    return event.get_str("userIdentity", "invokedBy") == CLOUDFORMATION


def control_tower_baseline(event: CloudTrailEvent, resource_name: str) -> bool:
    """Control Tower changing its own baseline resource: a session of AWSControlTowerExecution (the
    role's ARN, which AWS logs, at the root path where Control Tower creates it) acting on a
    resource named aws-controltower-... (landing zone updates, account un-enrolment)."""
    issuer = event.get_str("userIdentity", "sessionContext", "sessionIssuer", "arn")
    return (
        event.identity_type == "AssumedRole"
        and issuer.endswith(":role/" + CONTROL_TOWER_EXECUTION_ROLE)
        and resource_name.startswith(CONTROL_TOWER_PREFIX)
    )
