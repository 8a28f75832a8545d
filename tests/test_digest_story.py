"""A digest tells its findings as the story they are: grouped by actor, each actor's in time order."""

from __future__ import annotations

from trailguard.core.enums import Severity
from trailguard.core.event_types import Actor, Finding
from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import render_email
from trailguard.services.rendering.view import story_order
from trailguard.services.rendering.webhook import render_webhook

from .test_rendering import BASE

INTRUDER = Actor(arn="arn:aws:iam::111122223333:user/support-sync", type="IAMUser", name="support-sync")
ROLE_A = Actor(
    arn="arn:aws:sts::111122223333:assumed-role/deploy/session-a",
    type="AssumedRole",
    name="deploy/session-a",
    session_issuer_arn="arn:aws:iam::111122223333:role/deploy",
)
ROLE_B = ROLE_A._replace(arn="arn:aws:sts::111122223333:assumed-role/deploy/session-b", name="deploy/session-b")


def finding(n: int, actor: Actor, minute: int, severity: Severity) -> Finding:
    return BASE._replace(
        event_id=f"00000000-0000-0000-0000-0000000000{n:02}",
        event_time=f"2026-11-02T14:{minute:02}:00Z",
        actor=actor,
        severity=severity,
        summary=f"step {n}",
    )


# Interleaved in time, severities mixed: the intruder starts first, the deploy role's two sessions
# are one actor (the role).
CHAIN = (
    finding(4, ROLE_A, 20, Severity.LOW),
    finding(2, INTRUDER, 15, Severity.CRITICAL),
    finding(1, INTRUDER, 10, Severity.LOW),
    finding(5, ROLE_B, 25, Severity.HIGH),
    finding(3, INTRUDER, 30, Severity.MEDIUM),
)


def test_story_order_groups_by_actor_in_order_of_first_appearance_then_time() -> None:
    assert [f.summary for f in story_order(CHAIN)] == ["step 1", "step 2", "step 3", "step 4", "step 5"]


def test_the_digest_email_and_webhook_read_in_story_order_with_actor_headings() -> None:
    alert = Alert(CHAIN, digest=True)
    text = render_email(alert).text
    positions = [text.index(f"step {n}") for n in (1, 2, 3, 4, 5)]
    assert positions == sorted(positions)
    assert text.index("== support-sync") < positions[0] < text.index("== deploy/session-a") < positions[3]
    assert "== deploy/session-b" not in text  # the role's second session is the same actor
    html = render_email(alert).html
    html_positions = [html.index(f"step {n}") for n in (1, 2, 3, 4, 5)]
    assert html_positions == sorted(html_positions)
    assert [entry["summary"] for entry in render_webhook(alert)["findings"]] == [f"step {n}" for n in range(1, 6)]


def test_a_digest_too_long_to_list_keeps_the_most_severe_rows() -> None:
    from trailguard.services.rendering.view import digest_view

    view = digest_view(Alert(CHAIN, digest=True), rows=2)
    assert [v.summary for v in view.findings] == ["step 2", "step 5"] and view.omitted == 3
