"""Incidents: findings of one actor across several ATT&CK tactics, told as one story.

The rule works on findings, not events: it subscribes to no event of its own, and the engine hands
it every finding of the other rules (``core/correlation.py``, with the technique-to-tactic table).
Each rule's events, severities and remediation: docs/rules.md (`make generated` writes it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from trailguard.core.base_handler import Rule, RuleContext, rule
from trailguard.core.correlation import CHAIN_RULE_ID
from trailguard.core.enums import Severity
from trailguard.core.event_types import CloudTrailEvent, Hit


def no_events(rules: Sequence[Rule]) -> Mapping[str, tuple[str, ...]]:
    """A rule on findings subscribes to no event (a factory: the registry wants a subscription)."""
    return {}


@rule(
    id=CHAIN_RULE_ID,
    severity=Severity.CRITICAL,
    on=no_events,
    stateful=True,
    title="Attack chain: one actor across several ATT&CK tactics",
    description=(
        "Findings of 3 or more MITRE ATT&CK tactics (persistence, privilege escalation, defense "
        "evasion, exfiltration...) by the same principal, access key or source address within 60 "
        "minutes: the steps of one intrusion rather than unrelated changes. The incident lists them "
        "in time order; INFO findings are listed but do not count. Later findings of the chain "
        "alert on their own and fold into it: one incident per principal, key or address and hour."
    ),
    remediation=(
        "Treat it as a live intrusion: disable the access key or session named under Linked by "
        "(revoke the role's sessions), then undo each listed step, newest first, and look for what "
        "the actor created that the steps do not show (keys, users, roles, instances)."
    ),
    quiet=(
        "Findings of fewer than 3 tactics by one principal, key or address within 60 "
        "minutes, and INFO findings (listed, not counted); later findings fold into the open "
        "incident instead of opening another. Cannot tell: an administrator's busy hour (a role, a "
        "policy and a trail change together) from an intrusion."
    ),
)
def attack_chain(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
    """Never given an event (it subscribes to none): the engine's correlator makes its incidents."""
    return iter(())
