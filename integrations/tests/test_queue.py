"""Queueing in the change's own transaction, the events, the signatures, Post to ticket."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from integrations import services
from integrations.models import Delivery, Event, Kind
from integrations.tests.conftest import connection_for
from integrations.tests.factories import ConnectionFactory
from sessions import services as session_services
from sessions.models import Outcome
from trees.services import tree_publish, version_create_draft

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_a_rolled_back_completion_queues_nothing_and_a_committed_one_always_does(
    alice, cw, version, clock
):
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="1042")
    resolved = Outcome.objects.get(code="resolved")

    with pytest.raises(Boom), transaction.atomic():
        session_services.session_complete(session=session, outcome=resolved, by=alice)
        assert Delivery.objects.count() == 1  # queued inside the transaction…
        raise Boom  # …which then rolls back

    assert not Delivery.objects.exists()
    assert not DBTaskResult.objects.exists()
    session.refresh_from_db()
    assert session.completed_at is None

    session_services.session_complete(session=session, outcome=resolved, by=alice)
    (delivery,) = Delivery.objects.all()
    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "integrations.tasks.deliver"
    assert task.args_kwargs == {"args": [delivery.pk], "kwargs": {}}
    assert delivery.status == Delivery.Status.PENDING and delivery.session == session


def test_every_completion_path_queues_the_note(alice, charlie, cw, complete, version):
    complete(alice)  # navigation
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="1042")
    session_services.session_complete(
        session=session, outcome=Outcome.objects.get(code="cancelled"), by=charlie, source="history"
    )
    assert Delivery.objects.filter(event=Event.SESSION_COMPLETED).count() == 2


def test_inactive_connections_and_unsubscribed_webhooks_get_nothing(alice, cw, receiver, complete):
    cw.is_active = False
    cw.save()
    connection_for(receiver, Kind.WEBHOOK, events=[Event.TREE_PUBLISHED])
    complete(alice)
    assert not Delivery.objects.exists()


def test_the_webhook_is_signed_so_a_receiver_can_verify_it(alice, receiver, complete, clock):
    hook = connection_for(receiver, Kind.WEBHOOK, events=[Event.SESSION_COMPLETED])
    session = complete(alice, ticket_ref="")  # webhooks need no ticket
    (delivery,) = Delivery.objects.filter(connection=hook)
    services.delivery_attempt(delivery_id=delivery.pk)

    (request,) = receiver.requests
    header = request.headers["x-resolutionflow-signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    # An independent computation, as a receiver would do it.
    expected = hmac.new(
        b"whsec-test-0f9e8d", parts["t"].encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - datetime.now(UTC).timestamp()) < 60
    event = json.loads(request.body)
    assert event["format"] == "resolutionflow/event@1"
    assert event["type"] == "session.completed" == request.headers["x-resolutionflow-event"]
    assert event["id"] == str(delivery.idempotency_key) == request.headers["idempotency-key"]
    assert event["occurred_at"] == "2026-02-10T09:27:00.123456Z"
    assert event["data"]["format"] == "resolutionflow/session@1"
    assert event["data"]["id"] == str(session.pk)
    assert event["data"]["outcome"]["code"] == "resolved"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    # A tampered body no longer matches.
    forged = hmac.new(b"whsec-test-0f9e8d", parts["t"].encode() + b".{}", hashlib.sha256)
    assert forged.hexdigest() != parts["v1"]


def test_a_hand_off_and_a_publish_reach_the_subscribed_webhooks(
    alice, bob, receiver, version, clock
):
    hook = connection_for(
        receiver, Kind.WEBHOOK, events=[Event.SESSION_HANDED_OFF, Event.TREE_PUBLISHED]
    )
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="1")
    session_services.session_hand_off(session=session, to=bob, by=alice, note="Over to you")
    (delivery,) = Delivery.objects.filter(event=Event.SESSION_HANDED_OFF)
    assert delivery.payload["data"]["handoff"] == {
        "from": "alice",
        "to": "bob",
        "at": "2026-02-10T09:15:00.123456Z",
        "note": "Over to you",
    }
    assert delivery.payload["data"]["session"]["id"] == str(session.pk)

    draft = version_create_draft(tree=version.tree)
    tree_publish(version=draft)
    (published,) = Delivery.objects.filter(event=Event.TREE_PUBLISHED, connection=hook)
    assert published.payload["data"] == {"slug": "vpn", "name": "VPN won't connect", "version": 2}
    assert published.session is None


def test_post_to_ticket_queues_once_and_retries_a_failed_one(alice, cw, cw_server, complete):
    ConnectionFactory(name="Off", is_active=False)
    session = complete(alice)
    assert services.session_post_to_ticket(session=session, by=alice) == []  # already queued
    (delivery,) = session.deliveries.all()

    cw_server.fail(422)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED

    assert services.session_post_to_ticket(session=session, by=alice) == [delivery]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == ("pending", 0, "")
    assert session.deliveries.count() == 1
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED


def test_post_to_ticket_refuses_what_it_cannot_post(alice, version, cw):
    session = session_services.session_create(tree=version.tree, engineer=alice, ticket_ref="1")
    with pytest.raises(services.CannotPost, match="Only a completed session"):
        services.session_post_to_ticket(session=session, by=alice)
    assert not Delivery.objects.exists()


def test_a_lapsed_lease_goes_back_to_the_queue(alice, cw, complete, clock, settings):
    session = complete(alice)
    (delivery,) = session.deliveries.all()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING, lease_until=clock.now() + timedelta(seconds=1), attempts=1
    )
    assert services.delivery_attempt(delivery_id=delivery.pk) == "held by another worker"
    assert services.deliveries_recover() == 0
    clock.advance(seconds=2)
    assert services.deliveries_recover() == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert DBTaskResult.objects.count() == 2  # the first task and the recovery's


def test_a_failure_to_queue_never_blocks_the_completion(alice, cw, complete, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("cannot build the note")

    monkeypatch.setattr("integrations.payloads.ticket_note", broken)
    session = complete(alice)
    session.refresh_from_db()
    assert session.completed_at is not None and session.outcome.code == "resolved"
    assert not Delivery.objects.exists()
    assert "could not queue the deliveries for session" in caplog.text
