"""One channel down while the others work: the finding is retried for that channel only.

A finding that reached Slack but not email is not "delivered": the email recipients were not told.
It is stored as failed (with what each channel did), its SQS record is reported failed, and the
retry sends it through email alone, so Slack's people do not get it twice (with the table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from trailguard import main
from trailguard.core.enums import Outcome
from trailguard.core.exceptions import DeliveryError
from trailguard.services.stores.dynamodb import DynamoDBStore

from .http_server import RecordingServer, Reply
from .lambda_world import RULE, SETUP, LambdaContext, World, body_text, sg_event
from .smtp_server import SmtpServer

EVENTS = 5


@pytest.fixture
def chat() -> Iterator[RecordingServer]:
    with RecordingServer([Reply(500, b"internal error")]) as server:
        yield server


def with_slack(world: World, server: RecordingServer) -> None:
    """The email channel of ``world.start_smtp`` plus a Slack channel posting to ``server``."""
    channels = json.loads(os.environ["TRAILGUARD_CHANNELS"])
    channels.append({"type": "slack", "name": "slack", "webhook_url": server.url + "/services/T0/B0/x"})
    world.monkeypatch.setenv("TRAILGUARD_CHANNELS", json.dumps(channels))


def event_ids_in(server: RecordingServer, since: int = 0) -> list[str]:
    """The event id each Slack request from the ``since``-th on is about."""
    found: list[str] = []
    for request in server.requests[since:]:
        text = request.body.decode()
        found.extend(
            sg_event(n)["detail"]["eventID"] for n in range(EVENTS) if sg_event(n)["detail"]["eventID"] in text
        )
    return found


def emailed_event_ids(server: SmtpServer) -> list[str]:
    return [
        sg_event(n)["detail"]["eventID"]
        for message in server.messages
        for n in range(EVENTS)
        if sg_event(n)["detail"]["eventID"] in body_text(message)
    ]


def test_a_channel_down_gets_the_alert_later_and_the_working_one_gets_it_once(
    world: World, chat: RecordingServer
) -> None:
    email = world.start_smtp("smtp")
    with_slack(world, chat)
    world.new_container()
    ids = world.poller.send(*(json.dumps(sg_event(n)) for n in range(EVENTS)))
    expected = sorted(sg_event(n)["detail"]["eventID"] for n in range(EVENTS))

    # Slack answers 500: email delivers, yet every message is reported failed, so SQS keeps it.
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted(ids) and sorted(failed) == sorted(ids)
    assert sorted(emailed_event_ids(email)) == expected
    assert len(chat.requests) == 2 * EVENTS, "two attempts each, both answered 500"
    records = world.records()
    assert {r.outcome for r in records} == {"failed"} and len(records) == EVENTS
    for record in records:
        assert record.channels["email"] == "delivered"
        assert record.channels["slack"].startswith("failed: ") and "500" in record.channels["slack"]
        assert record.failures and "slack:" in record.failures[0]
    logged = [line for line in world.events() if line["outcome"] == "failed"]
    assert len(logged) == EVENTS and all(line["level"] == "ERROR" for line in logged)

    # Slack is back: the retry goes to Slack only; email does not send any of them again.
    chat.script = [Reply(200, b"ok")]
    requests_before = len(chat.requests)
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted(ids) and failed == []
    assert sorted(event_ids_in(chat, since=requests_before)) == expected
    assert sorted(emailed_event_ids(email)) == expected, "no second email"
    records = world.records()
    assert {r.outcome for r in records} == {"delivered"}
    assert all(r.channels == {"email": "delivered", "slack": "delivered"} and r.attempts == 2 for r in records)
    assert world.poller.waiting() == 0

    # And a late redelivery of the same events sends nothing anywhere.
    world.poller.send(*(json.dumps(sg_event(n)) for n in range(EVENTS)))
    assert world.poller.poll()[1] == []
    assert len(email.messages) == EVENTS and len(event_ids_in(chat, since=requests_before)) == EVENTS


def test_a_channel_that_stays_down_sends_the_event_to_the_dead_letter_queue_not_into_silence(
    world: World, chat: RecordingServer
) -> None:
    email = world.start_smtp("smtp")
    with_slack(world, chat)
    world.new_container()
    [message_id] = world.poller.send(json.dumps(sg_event(1)))
    receives = 0
    while True:
        handed, failed = world.poller.poll()
        if not handed:
            break  # SQS moved it to the dead-letter queue instead of handing it over again
        assert failed == [message_id]
        receives += 1
    assert receives == SETUP["max_receive_count"]
    assert world.poller.waiting(world.dead_letter_url) == 1, "kept where someone looks (the DLQ alarm)"
    assert len(email.messages) == 1, "email delivered it once, and was skipped on every retry"
    [record] = world.records()
    assert record.outcome == "failed" and record.attempts == receives
    assert record.channels["email"] == "delivered" and record.channels["slack"].startswith("failed")


def test_without_a_table_a_partial_failure_is_retried_everywhere(world: World, chat: RecordingServer) -> None:
    """No table, no memory of which channel delivered: the retry sends again through every channel
    (the documented price of running without one: duplicates, never silence)."""
    world.monkeypatch.delenv("TRAILGUARD_TABLE_NAME")
    email = world.start_smtp("smtp")
    with_slack(world, chat)
    world.new_container()
    with pytest.raises(DeliveryError, match="not delivered"):
        main.lambda_handler(sg_event(2), LambdaContext())
    chat.script = [Reply(200, b"ok")]
    requests_before = len(chat.requests)
    assert main.lambda_handler(sg_event(2), LambdaContext())["outcome"] == "delivered"
    assert len(email.messages) == 2, "the working channel got it twice"
    assert len(event_ids_in(chat, since=requests_before)) == 1


def test_the_store_remembers_the_channels_that_delivered_until_the_claim_is_finished(world: World) -> None:
    store: DynamoDBStore = world.history
    finding = main.get_engine().evaluate(sg_event(3)["detail"])[0]
    assert finding.rule_id == RULE
    first = store.claim(finding, 60)
    assert first.status == "claimed" and first.sent == frozenset()
    store.release(finding, first, sent=["email"])
    second = store.claim(finding, 60)
    assert second.sent == {"email"}
    store.release(finding, second, sent=["slack", "email"])
    third = store.claim(finding, 60)
    assert third.sent == {"email", "slack"}
    store.finish(finding, third, Outcome.DELIVERED)
    assert store.claim(finding, 60).status == "deduplicated"
