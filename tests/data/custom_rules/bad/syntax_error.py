from trailguard.rules import Hit, Severity, rule

def broken(event, ctx)
    yield Hit(summary="never")
