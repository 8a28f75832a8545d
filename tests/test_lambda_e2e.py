"""End to end, with real parts: SQS, DynamoDB and Secrets Manager in moto, an aiosmtpd server with
STARTTLS and AUTH on 127.0.0.1, and ``lambda_handler`` configured only through the environment
(the world of ``tests/lambda_world.py``).
"""

from __future__ import annotations

import json
import logging

import pytest

from trailguard import main
from trailguard.services.stores import iso

from .clock import Clock
from .lambda_world import PASSWORD, SETUP, SG_EVENT, USERNAME, LambdaContext, World, body_text, sg_event, table_store


def test_an_alert_goes_out_once_survives_an_smtp_outage_and_is_delivered_exactly_once_after(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = world.start_smtp("smtp-1")
    world.new_container()
    event_body = json.dumps(SG_EVENT)

    # 1. EventBridge -> SQS -> Lambda -> SES SMTP: the email arrives, over STARTTLS, after AUTH.
    [first_id] = world.poller.send(event_body)
    assert world.poller.poll() == ([first_id], [])
    [message] = server.messages
    assert message.over_tls and message.login == USERNAME
    assert sorted(message.rcpt_tos) == sorted(SETUP["recipients"])
    parsed = message.parsed()
    assert parsed["Subject"] == (
        "[CRITICAL] Security group sg-0c0ffee0ddba11000 opened to 0.0.0.0/0 on tcp 22 | 111122223333 eu-west-1"
    )
    text = body_text(message)
    for expected in ("mallory", "arn:aws:iam::111122223333:user/mallory", "Ports: tcp 22", "CIDR: 0.0.0.0/0"):
        assert expected in text
    assert SG_EVENT["detail"]["eventID"] in text
    assert world.poller.waiting() == 0

    # 2. The same event again (EventBridge delivers at least once): nothing is sent.
    world.poller.send(event_body)
    assert world.poller.poll()[1] == []
    assert len(server.messages) == 1
    assert world.events()[-1]["outcome"] == "deduplicated"
    [stored] = world.records()
    assert stored.outcome == "delivered" and stored.channels == {"email": "delivered"} and stored.attempts == 1

    # 3. The SMTP server is down: the message is reported failed and stays queued; the history says so.
    server.stop()
    outage_event = sg_event(7)
    [outage_id] = world.poller.send(json.dumps(outage_event))
    assert world.poller.poll() == ([outage_id], [outage_id])
    assert world.events()[-1]["outcome"] == "failed"
    failed = next(r for r in world.records() if r.event_id == outage_event["detail"]["eventID"])
    assert failed.outcome == "failed" and failed.attempts == 1
    assert failed.channels["email"].startswith(f"failed: SMTP {server.host}:{server.port} could not be reached")
    assert len(failed.failures) == 1
    assert world.poller.waiting() == 1

    # 4. The server is back (a retry may run in a new container): delivered exactly once.
    back = world.start_smtp("smtp-2")
    world.new_container()
    assert world.poller.poll() == ([outage_id], [])
    [redelivered] = back.messages
    assert outage_event["detail"]["eventID"] in body_text(redelivered)
    assert world.poller.poll() == ([], []) and world.poller.waiting() == 0
    world.poller.send(json.dumps(outage_event))  # and once more, late: still nothing new
    world.poller.poll()
    assert len(back.messages) == 1
    delivered = next(r for r in world.records() if r.event_id == outage_event["detail"]["eventID"])
    assert delivered.outcome == "delivered" and delivered.attempts == 2
    assert delivered.failures == failed.failures, "the outage stays in the history"

    # Nothing secret was logged, by trailguard or by the libraries under it.
    everything = world.logs.getvalue() + caplog.text
    assert PASSWORD not in everything and USERNAME not in world.logs.getvalue()


def test_a_batch_of_ten_with_one_poison_message(world: World) -> None:
    server = world.start_smtp("smtp")
    world.new_container()
    bodies = [json.dumps(sg_event(number)) for number in range(9)]
    poison = '{"version": "0", "detail-type": "AWS API Call via CloudTrail", "detail": {"eventSou'
    bodies.insert(4, poison)
    ids = world.poller.send(*bodies)
    handed, failed = world.poller.poll()
    assert sorted(handed) == sorted(ids), "one batch of ten"
    assert failed == [ids[4]]
    assert len(server.messages) == 9
    delivered = {r.event_id for r in world.records() if r.outcome == "delivered"}
    assert delivered == {sg_event(number)["detail"]["eventID"] for number in range(9)}
    # The poison message comes back alone, fails again, and then SQS moves it to the dead-letter queue.
    for _ in range(SETUP["max_receive_count"] - 1):
        assert world.poller.poll() == ([ids[4]], [ids[4]])
    assert world.poller.poll() == ([], [])
    assert world.poller.waiting() == 0 and world.poller.waiting(world.dead_letter_url) == 1
    [dead] = world.poller.sqs.receive_message(QueueUrl=world.dead_letter_url)["Messages"]
    assert dead["Body"] == poison
    assert len(server.messages) == 9, "the others were never sent again"


def test_repeats_within_a_quiet_period_are_folded_into_the_next_alert(world: World, clock: Clock) -> None:
    world.monkeypatch.setenv("TRAILGUARD_QUIET_PERIODS", json.dumps({"sg.*": 3600}))
    server = world.start_smtp("smtp")
    state = world.new_container()
    store = table_store(state)
    store.table.clock = clock
    opened = iso(clock())

    # Direct EventBridge invocations this time: three in the window, one email.
    for number in (1, 2, 3):
        result = main.lambda_handler(sg_event(number), LambdaContext())
        assert result["outcome"] == ("delivered" if number == 1 else "quiet")
        clock.advance(60)
    assert len(server.messages) == 1
    quiet = [r for r in world.records() if r.outcome == "quiet"]
    assert sorted(r.folded for r in quiet) == [1, 2], "counted as they came"

    # A redelivery of a folded event is a duplicate, not one more repeat.
    assert main.lambda_handler(sg_event(3), LambdaContext())["outcome"] == "deduplicated"

    clock.advance(3600)
    assert main.lambda_handler(sg_event(4), LambdaContext())["outcome"] == "delivered"
    assert len(server.messages) == 2
    text = body_text(server.messages[1])
    assert f"Folded repeats: 2 since {opened}" in text
    assert world.events()[-1]["findings"][0]["folded"] == f"2 since {opened}"
    [fourth] = [r for r in world.records() if r.event_id == sg_event(4)["detail"]["eventID"]]
    assert fourth.folded == 2 and fourth.outcome == "delivered"

    # The window restarted with that alert: the count starts again from nothing.
    clock.advance(60)
    assert main.lambda_handler(sg_event(5), LambdaContext())["outcome"] == "quiet"
    assert next(r for r in world.records() if r.event_id == sg_event(5)["detail"]["eventID"]).folded == 1
