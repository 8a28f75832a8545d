from trailguard.rules import Severity, rule
import trailguard_no_such_module
