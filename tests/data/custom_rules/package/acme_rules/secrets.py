"""A rule module on sys.path, named by its dotted path (rule_modules = ["acme_rules.secrets"])."""

from trailguard.rules import Hit, Resource, Severity, rule


@rule(
    id="acme.secret-deleted",
    severity=Severity.MEDIUM,
    on={"secretsmanager.amazonaws.com": ["DeleteSecret"]},
    title="Secret scheduled for deletion",
    description="A Secrets Manager secret was scheduled for deletion.",
    remediation="Cancel the deletion (aws secretsmanager restore-secret) if nobody meant it.",
)
def secret_deleted(event, ctx):
    secret = event.get_str("requestParameters", "secretId")
    yield Hit(summary=f"secret {secret} scheduled for deletion", resource=Resource(type="AWS::SecretsManager::Secret", id=secret))
