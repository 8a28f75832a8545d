"""Attack chains: findings of several ATT&CK tactics by one caller become one incident.

``incident.attack-chain`` works on findings, not events: the engine hands it every finding it
admitted (after suppressions and ``min_severity``), in event order, and it remembers each one,
through the detection state, under the keys that tie findings to one actor: the caller's ARN
(the session's, for an assumed role: two people in one SSO role are two people), its access key
id and its source address (an IP address; a service name such as ``cloudformation.amazonaws.com``
ties nothing). When the findings under one key within ``window_seconds`` (3,600) span ``distinct``
(3) or more tactics, one CRITICAL incident lists them in time order. Once per key and window:
later findings of the same chain fold in quietly (they still alert on their own, and the next
incident, after the window, lists the chain as it then stands).

A rule's repeats under one key within a sixth of the window (ten minutes) are one step, the
first: what a noisy principal costs stays bounded, and an incident lists what happened, not
every copy of it.

Routine findings (a principal's routine, known by memory) are no step at all. INFO findings, and
the LOW ones of record-keeping rules (kind INFO), are listed in an incident but never count
towards its tactics (``counts_towards_tactics``): an attacker's Lambda change is a real step worth
seeing in the story, while automation and people make such findings of several tactics every day
(instances launched, functions deployed) and must not build chains on their own.

Order: each finding is judged with the remembered findings of the hour before its own event
time. A scan hands over one file's findings at a time, sorted by time, and reads files in the time
order of their names; a finding that comes late (a ``us-east-1`` file delivered after an
``eu-west-1`` one, a Lambda event retried) counts only the steps before it, and the steps after it
count it when they arrive. A retried event makes the same incident again, which delivery's claim
sends once.

Each rule's MITRE technique maps to one tactic (``TECHNIQUE_TACTICS``, the enterprise matrix).
A technique ATT&CK files under several tactics gets the one it serves first in a cloud account,
noted next to it; a sub-technique takes its parent's unless it is listed itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from trailguard.core.base_handler import Rule, RuleContext
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import Finding, Resource
from trailguard.core.state import event_epoch

CHAIN_RULE_ID = "incident.attack-chain"
DEFAULT_DISTINCT_TACTICS = 3
DEFAULT_WINDOW_SECONDS = 3600
# Steps an incident lists (the newest ones); alerts show 25 details in all.
MAX_LISTED_STEPS = 20
_SUMMARY_LIMIT = 160
_ADDRESS_CHARACTERS = frozenset("0123456789abcdefABCDEF.:")

# ATT&CK enterprise tactics, in the matrix's order.
TACTICS: dict[str, str] = {
    "TA0043": "Reconnaissance",
    "TA0042": "Resource Development",
    "TA0001": "Initial Access",
    "TA0002": "Execution",
    "TA0003": "Persistence",
    "TA0004": "Privilege Escalation",
    "TA0005": "Defense Evasion",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0009": "Collection",
    "TA0011": "Command and Control",
    "TA0010": "Exfiltration",
    "TA0040": "Impact",
}

# Technique -> its tactic. Every rule's technique must be here (tests/test_correlation.py checks).
TECHNIQUE_TACTICS: dict[str, str] = {
    "T1021": "TA0008",  # Remote Services
    "T1037": "TA0003",  # Boot or Logon Initialization Scripts (also Privilege Escalation): user data
    "T1040": "TA0006",  # Network Sniffing (also Discovery): what a plain-HTTP listener gives away
    "T1059": "TA0002",  # Command and Scripting Interpreter (.009 Cloud API)
    "T1069": "TA0007",  # Permission Groups Discovery
    "T1070": "TA0005",  # Indicator Removal
    # Valid Accounts (also Persistence, Privilege Escalation, Defense Evasion): the way in
    "T1078": "TA0001",
    "T1087": "TA0007",  # Account Discovery
    "T1098": "TA0003",  # Account Manipulation (also Privilege Escalation): keys, passwords, policies
    "T1098.003": "TA0004",  # Additional Cloud Roles: in a cloud account, above all more power
    "T1110": "TA0006",  # Brute Force
    # External Remote Services (also Initial Access): an attacker inside opens a way back
    "T1133": "TA0003",
    "T1136": "TA0003",  # Create Account
    "T1190": "TA0001",  # Exploit Public-Facing Application
    "T1199": "TA0001",  # Trusted Relationship
    # Domain or Tenant Policy Modification (also Defense Evasion): guardrails lifted, trusts added
    "T1484": "TA0004",
    "T1485": "TA0040",  # Data Destruction
    "T1486": "TA0040",  # Data Encrypted for Impact
    "T1489": "TA0040",  # Service Stop
    "T1490": "TA0040",  # Inhibit System Recovery
    "T1496": "TA0040",  # Resource Hijacking
    "T1526": "TA0007",  # Cloud Service Discovery
    "T1528": "TA0006",  # Steal Application Access Token
    "T1530": "TA0009",  # Data from Cloud Storage
    "T1531": "TA0040",  # Account Access Removal
    "T1535": "TA0005",  # Unused/Unsupported Cloud Regions
    "T1537": "TA0010",  # Transfer Data to Cloud Account
    "T1538": "TA0007",  # Cloud Service Dashboard
    # Use Alternate Authentication Material (also Lateral Movement): federation tokens outlive a key
    "T1550": "TA0005",
    "T1552": "TA0006",  # Unsecured Credentials
    "T1555": "TA0006",  # Credentials from Password Stores (.006 Cloud Secrets Management Stores)
    # Modify Authentication Process (also Credential Access, Persistence): MFA and password rules weakened
    "T1556": "TA0005",
    "T1557": "TA0006",  # Adversary-in-the-Middle (also Collection): weak TLS
    "T1562": "TA0005",  # Impair Defenses
    "T1578": "TA0005",  # Modify Cloud Compute Infrastructure
    "T1580": "TA0007",  # Cloud Infrastructure Discovery
    "T1584": "TA0042",  # Compromise Infrastructure
    "T1585": "TA0042",  # Establish Accounts
    "T1599": "TA0005",  # Network Boundary Bridging
    "T1619": "TA0007",  # Cloud Storage Object Discovery
    "T1648": "TA0002",  # Serverless Execution
    "T1651": "TA0002",  # Cloud Administration Command
    "T1666": "TA0005",  # Modify Cloud Resource Hierarchy
}


def tactic_of(technique: str) -> str:
    """The tactic id of a technique (``T1098.001`` -> ``TA0003``); empty when it has none here."""
    technique = technique.strip()
    return TECHNIQUE_TACTICS.get(technique) or TECHNIQUE_TACTICS.get(technique.partition(".")[0], "")


def chain_keys(finding: Finding) -> list[str]:
    """What ties this finding to others of the same actor, as an incident names it."""
    keys = []
    if finding.actor.arn:
        keys.append(f"principal {finding.actor.arn}")
    if finding.actor.access_key_id:
        keys.append(f"access key {finding.actor.access_key_id}")
    address = finding.source_ip
    if address and len(address) <= 45 and set(address) <= _ADDRESS_CHARACTERS and ("." in address or ":" in address):
        keys.append(f"source address {address}")
    return keys


class Step(NamedTuple):
    """One finding of a chain, as remembered."""

    at: float
    tactic: str
    rule_id: str
    severity: str
    key: str  # Finding.key: the same finding remembered under several keys is one step
    event_time: str
    summary: str
    links: tuple[str, ...]  # the finding's chain keys: an incident quiets all of them
    counts: bool = True  # towards the chain's tactics (see counts_towards_tactics)

    def encode(self) -> str:
        import json  # main.py has imported it already; offline, a chain is rare

        return json.dumps(list(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str) -> Step | None:
        import json

        try:
            fields: Any = json.loads(text)
            if len(fields) != len(cls._fields) or not isinstance(fields[-2], list) or not isinstance(fields[-1], bool):
                return None
            at, tactic, rule_id, severity, key, event_time, summary = (float(fields[0]), *map(str, fields[1:-2]))
            links = tuple(map(str, fields[-2]))
            return cls(at, tactic, rule_id, severity, key, event_time, summary, links, fields[-1])
        except (ValueError, TypeError):
            return None  # a foreign or older item: not a step


def counts_towards_tactics(finding: Finding) -> bool:
    """INFO findings never count, nor do those of rules that keep notable changes for the record
    (kind INFO: a function deployed, an instance launched) below MEDIUM: a person's hand-made
    change is LOW there, and people make them every day. Memory raises a first change to MEDIUM."""
    if finding.severity is Severity.INFO:
        return False
    return finding.kind is not FindingKind.INFO or finding.severity >= Severity.MEDIUM


def _in_time_order(findings: Iterable[Finding]) -> list[tuple[float, Finding]]:
    timed = [(event_epoch(finding.event_time), finding) for finding in findings]
    return sorted(((at, finding) for at, finding in timed if at is not None), key=lambda pair: pair[0])


class Correlator:
    """``incident.attack-chain`` (``rule``) over the detection state of ``context``."""

    def __init__(self, rule: Rule, context: RuleContext) -> None:
        self.rule = rule
        self.state = context.state
        self.distinct = context.threshold(rule.id, "distinct", DEFAULT_DISTINCT_TACTICS)
        self.window = float(context.threshold(rule.id, "window_seconds", DEFAULT_WINDOW_SECONDS))

    def observe(self, findings: Sequence[Finding]) -> list[Finding]:
        """Remember these findings (of any rules, one event's or one file's); the incidents they complete."""
        incidents = []
        for at, finding in _in_time_order(findings):
            tactic = tactic_of(finding.mitre)
            keys = chain_keys(finding)
            if not tactic or not keys or finding.rule_id == self.rule.id or finding.routine:
                continue
            summary = finding.summary[:_SUMMARY_LIMIT]
            item = Step(
                at,
                tactic,
                finding.rule_id,
                finding.severity.name,
                finding.key,
                finding.event_time,
                summary,
                tuple(keys),
                counts_towards_tactics(finding),
            ).encode()
            # A rule's repeats by one key within a sixth of the window are one step: a principal
            # that fires a rule thousands of times an hour costs one remembered item per key
            # every ten minutes, and a repeat, which changes no chain, no look-up at all. The
            # windows of this process only (``first_in_window_here``: in DynamoDB no write of its
            # own, where it was a write per step and key): two Lambda containers may each remember
            # a step, which counts no tactic twice and lists no finding twice (steps are unique by
            # finding key).
            fresh = [
                key
                for key in keys
                if self.state.first_in_window_here(self.rule.id, f"step {finding.rule_id} {key}", at, self.window / 6)
            ]
            for key in fresh:
                self.state.remember(self.rule.id, key, item, at, self.window)
            if not counts_towards_tactics(finding):
                continue  # listed in a chain, never what completes one
            told = f"incident {keys[0]}"
            if not fresh:
                again = self._chains(keys, at) if self._told(told, finding, at) else {}
                if again:
                    incidents.append(self._incident(finding, again))
                continue
            chained = self._chains(fresh, at)
            if not chained:
                continue
            # The windows of every key the chain's steps carry open now, and a chain any of whose
            # keys had one open already is told: seen through its address first and through the
            # new user's key later, one intrusion is one incident.
            # The windows are taken in one order, and a caller stops at the first it loses: of two
            # invocations completing one chain at once, one takes them all and tells it (locks taken
            # in a global order), where each taking some, in any order, could leave it untold.
            links = sorted({link for steps in chained.values() for step in steps for link in step.links})
            if all(self.state.first_in_window(self.rule.id, link, at, self.window) for link in links):
                self.state.remember(self.rule.id, told, finding.key, at, self.window)
                incidents.append(self._incident(finding, chained))
            elif self._told(told, finding, at):
                incidents.append(self._incident(finding, chained))
        return incidents

    def _told(self, told: str, finding: Finding, at: float) -> bool:
        """Did this very finding raise an incident before? The same event again (the Lambda retries
        what it could not deliver) makes the same incident again, which delivery's claim sends once."""
        return any(item == finding.key for _, item in self.state.recall(self.rule.id, told, at, at))

    def _chains(self, keys: Sequence[str], at: float) -> dict[str, list[Step]]:
        """The keys whose steps within the window span enough tactics, with those steps."""
        chained: dict[str, list[Step]] = {}
        for key in keys:
            steps = self._steps(key, at)
            if len({step.tactic for step in steps if step.counts}) >= self.distinct:
                chained[key] = steps
        return chained

    def _steps(self, key: str, at: float) -> list[Step]:
        steps = (Step.decode(item) for _, item in self.state.recall(self.rule.id, key, at - self.window, at))
        return [step for step in steps if step is not None]

    def _incident(self, trigger: Finding, chained: dict[str, list[Step]]) -> Finding:
        unique = {step.key: step for steps in chained.values() for step in steps}
        steps = sorted(unique.values(), key=lambda step: (step.at, step.key))
        counted = {step.tactic for step in steps if step.counts}
        tactics = [tactic for tactic in TACTICS if tactic in counted] + sorted(counted - TACTICS.keys())
        names = ", ".join(TACTICS.get(tactic, tactic) for tactic in tactics)
        minutes = max(1, round((steps[-1].at - steps[0].at) / 60))
        details = {"Linked by": "; ".join(chained), "Tactics": names}
        listed = steps[-MAX_LISTED_STEPS:]
        if len(steps) > len(listed):
            details["Earlier steps"] = f"{len(steps) - len(listed)} more, from {steps[0].event_time}"
        for number, step in enumerate(listed, start=len(steps) - len(listed) + 1):
            tactic = TACTICS.get(step.tactic, step.tactic)
            details[f"Step {number}"] = f"{step.event_time} {tactic}: {step.rule_id} ({step.severity}) {step.summary}"
        actor = trigger.actor
        # Whom the chain is about: the caller when its own steps make it, else what ties them (an
        # address several users acted from).
        who = actor.label if f"principal {actor.arn}" in chained else next(iter(chained))
        return trigger._replace(
            rule_id=self.rule.id,
            severity=Severity(self.rule.severity),
            kind=self.rule.kind,
            title=self.rule.title,
            summary=f"{who}: {len(tactics)} ATT&CK tactics in {minutes} min ({names}), {len(steps)} findings",
            description=self.rule.description,
            remediation=self.rule.remediation,
            mitre=self.rule.mitre,
            resource=Resource(type="principal", id=actor.label, arn=actor.arn),
            details=details,
        )
