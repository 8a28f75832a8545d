"""Routine by memory: a principal's first change of a kind to a resource is news, its repeats are not.

The deploy role that updates the same function every day, the pipeline that rewrites the same
managed policy on every release: the event alone cannot tell them from an intruder's first change,
but their history can. With a detection state (the Lambda's table, ``scan --state``), a rule asks
``remembered_change`` what the principal did to the resource before:

- ``None``: no verdict. No state, no event time, no principal or resource, or a principal whose
  baseline is younger than ``learning_days`` (its very first change included): the event alone
  decides, as without memory.
- ``first_change``: the principal never made this kind of change to this resource within
  ``ROUTINE_MEMORY_SECONDS``: report it (``first_on_resource``: nor any change to it: the rules
  raise those).
- otherwise a repeat: the rule yields its hit with ``routine=True``, which goes to the findings
  history and to nobody's inbox.

``@rule(..., routine=True)`` does this for every hit of a rule (``unless_routine``: the change is
the event's name, the resource the hit's); a rule that wants more (``lambda.function-changed``
raises a principal's first change to a function) asks ``remembered_change`` itself.

A change not repeated for ``ROUTINE_MEMORY_SECONDS`` (120 days) is news again. docs/rules.md says
which rules are routine by memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from trailguard.core.enums import Severity
from trailguard.core.event_types import Hit

if TYPE_CHECKING:
    from trailguard.core.base_handler import RuleContext, RuleFunction
    from trailguard.core.event_types import CloudTrailEvent

ROUTINE_MEMORY_SECONDS = 120 * 86_400


class ChangeMemory(NamedTuple):
    first_change: bool  # this principal never made this kind of change to this resource
    first_on_resource: bool  # nor any change to it

    @property
    def routine(self) -> bool:
        return not self.first_change


def remembered_change(
    event: CloudTrailEvent, ctx: RuleContext, namespace: str, target: str, kind: str
) -> ChangeMemory | None:
    """What this event's principal did to ``target`` before (``kind``: the kind of change, such as
    the base event name); None while there is no verdict (see the module's docstring)."""
    if ctx.state is None or not target:
        return None
    from trailguard.core.state import DAY, event_epoch

    at = event_epoch(event.event_time)
    principal = event.actor.principal_arn
    if at is None or not principal:
        return None
    touched = ctx.state.first_seen(namespace, principal, target, at, ROUTINE_MEMORY_SECONDS)
    change = ctx.state.first_seen(namespace, principal, f"{kind} {target}", at, ROUTINE_MEMORY_SECONDS)
    if change.entity_since >= at or change.learning(at, ctx.learning_days * DAY):
        return None
    return ChangeMemory(change.new, touched.new)


def unless_routine(hit: Hit, event: CloudTrailEvent, ctx: RuleContext, namespace: str) -> Hit:
    """``hit``, marked routine when memory knows its change (this event's name, to the hit's
    resource) as the principal's routine; a CRITICAL hit is always news. Rules that use it are
    ``stateful`` and say "routine by memory" in their quiet cases."""
    if hit.severity is Severity.CRITICAL:
        return hit
    from trailguard.core.base_handler import base_event_name

    target = hit.resource.arn or hit.resource.id
    memory = remembered_change(event, ctx, namespace, target, base_event_name(event.event_name))
    return hit._replace(routine=True) if memory is not None and memory.routine else hit


def remembering(func: RuleFunction, rule_id: str) -> RuleFunction:
    """``func`` with each of its hits passed through ``unless_routine``: what ``@rule(routine=True)``
    registers."""

    def rule_function(event: CloudTrailEvent, ctx: RuleContext) -> Iterator[Hit]:
        for hit in func(event, ctx):
            yield unless_routine(hit, event, ctx, rule_id) if isinstance(hit, Hit) else hit

    rule_function.__module__ = func.__module__
    rule_function.__name__ = rule_function.__qualname__ = getattr(func, "__name__", "rule")
    rule_function.__doc__ = func.__doc__
    return rule_function
