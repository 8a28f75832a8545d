from trailguard.rules import Hit, Severity, rule


@rule(id="custom.deaf", severity=Severity.LOW, on={},
      title="Deaf", description="Subscribes to nothing.", remediation="Say which events it watches.")
def deaf(event, ctx):
    yield Hit(summary="deaf")
