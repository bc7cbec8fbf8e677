"""Each PSA client against its local fake: the documented calls, then every way a PSA fails."""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta

import pytest

from integrations import services
from integrations.models import Delivery, Kind
from integrations.tests.conftest import connection_for
from integrations.tests.fakes import CW_TIME

pytestmark = pytest.mark.django_db


def attempt(delivery: Delivery) -> Delivery:
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def only_delivery(session) -> Delivery:
    (delivery,) = session.deliveries.all()
    return delivery


# --- the documented calls, vendor by vendor ------------------------------------------


def test_it_posts_the_note_and_the_time_to_connectwise(alice, cw, cw_server, complete):
    session = complete(alice, member="asmith", minutes=12)
    delivery = attempt(only_delivery(session))

    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.status_code == 201
    (note,) = cw_server.notes
    assert note["ticketId"] == 1042
    assert note["resolutionFlag"] is True and note["internalAnalysisFlag"] is False
    assert "Tree: VPN won't connect (v1) | Ticket: 1042 | Client: Acme" in note["text"]
    assert note["text"].endswith(f"ResolutionFlow ref {delivery.idempotency_key}")
    (entry,) = cw_server.time_entries
    assert entry["chargeToId"] == 1042 and entry["member"] == {"identifier": "asmith"}
    start = datetime.strptime(entry["timeStart"], "%Y-%m-%dT%H:%M:%SZ")
    end = datetime.strptime(entry["timeEnd"], "%Y-%m-%dT%H:%M:%SZ")
    assert end - start == timedelta(minutes=12)
    # Basic auth of company+public:private and the clientId header on every call.
    post = cw_server.seen("POST", "/notes")[0]
    pair = base64.b64decode(post.headers["authorization"].removeprefix("Basic ")).decode()
    assert pair == "acme+pub-key:priv-key-9876"
    assert post.headers["clientid"] == "client-123"
    assert delivery.progress == {"note_id": note["id"], "time_entry_id": entry["id"]}


def test_it_marks_an_unresolved_note_internal_and_skips_time_without_a_member_id(
    alice, cw, cw_server, complete
):
    session = complete(alice, outcome="escalated")
    delivery = attempt(only_delivery(session))

    assert delivery.status == Delivery.Status.DELIVERED
    (note,) = cw_server.notes
    assert note["internalAnalysisFlag"] is True and note["resolutionFlag"] is False
    assert cw_server.time_entries == []


def test_it_posts_to_autotask_after_the_zone_lookup(alice, at_server, complete):
    connection_for(at_server, Kind.AUTOTASK)
    session = complete(
        alice, ticket_ref="T20260210.0042", member="29682885", kind=Kind.AUTOTASK, minutes=30
    )
    delivery = attempt(only_delivery(session))

    assert delivery.status == Delivery.Status.DELIVERED, delivery.error
    assert at_server.seen("GET", "/zoneInformation")[0].query == {"user": "api@acme.example"}
    (note,) = at_server.notes
    assert note["ticketID"] == 7001 and note["noteType"] == 1 and note["publish"] == 1
    assert note["title"] == "ResolutionFlow: VPN won't connect — Resolved"
    (entry,) = at_server.time_entries
    assert entry["resourceID"] == 29682885 and entry["hoursWorked"] == 0.5
    assert CW_TIME.match(entry["startDateTime"]) and entry["ticketID"] == 7001
    post = at_server.seen("POST", "/Notes")[0]
    assert post.headers["apiintegrationcode"] == "TRACKINGCODE27CHARACTERSXXX"
    assert post.headers["username"] == "api@acme.example"
    assert post.headers["secret"] == "at-secret-5555"


def test_it_posts_a_halopsa_action_with_the_time_taken(alice, halo_server, complete):
    connection_for(halo_server, Kind.HALOPSA)
    session = complete(alice, ticket_ref="555", member="12", kind=Kind.HALOPSA, minutes=15)
    delivery = attempt(only_delivery(session))

    assert delivery.status == Delivery.Status.DELIVERED, delivery.error
    token = halo_server.seen("POST", "/auth/token")[0]
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    (action,) = halo_server.actions
    assert action["ticket_id"] == 555 and action["timetaken"] == 0.25
    assert action["outcome"] == "Resolved" and action["who_agentid"] == 12
    assert action["hiddenfromuser"] is False
    assert halo_server.seen("POST", "/api/Actions")[0].headers["authorization"] == "Bearer tok-abc"


def test_it_never_posts_for_a_session_without_a_ticket(alice, cw, cw_server, complete):
    session = complete(alice, ticket_ref="")
    assert not session.deliveries.exists()


# --- faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "retryable", "status_code"),
    [
        (401, False, 401),
        (403, False, 403),
        (404, False, 404),
        (422, False, 422),
        (429, True, 429),
        (500, True, 500),
        (503, True, 503),
        ("slow", True, None),
        ("garbage", True, 200),
    ],
    ids=str,
)
def test_it_records_each_failure_and_retries_only_where_it_can_help(
    alice, cw, cw_server, complete, clock, mode, retryable, status_code
):
    session = complete(alice)
    cw_server.fail(mode, method="POST", path="/notes")
    delivery = attempt(only_delivery(session))

    assert delivery.attempts == 1
    assert delivery.status_code == status_code
    assert delivery.error
    assert delivery.request_summary == "POST /v4_6_release/apis/3.0/service/tickets/1042/notes"
    assert "priv-key" not in delivery.error + delivery.response_excerpt + delivery.request_summary
    if retryable:
        assert delivery.status == Delivery.Status.PENDING
        delay = (delivery.next_attempt_at - clock.now()).total_seconds()
        if mode == 429:
            assert delay == 7  # the Retry-After header
        else:
            assert 27 <= delay <= 33  # the first backoff, 30 s ± 10 %
        # The retry is queued as a deferred task for the worker.
        from django_tasks_db.models import DBTaskResult

        assert DBTaskResult.objects.filter(run_after=delivery.next_attempt_at).count() == 1
    else:
        assert delivery.status == Delivery.Status.FAILED
    if mode == "garbage":
        # The PSA stored the note but answered nonsense: the retry finds it.
        clock.advance(seconds=60)
        assert attempt(delivery).status == Delivery.Status.DELIVERED
        assert len(cw_server.notes) == 1


def test_it_retries_a_psa_that_is_down_and_gives_up_after_the_last_attempt(
    alice, cw, cw_server, complete, clock, settings
):
    settings.INTEGRATIONS_MAX_ATTEMPTS = 3
    session = complete(alice)
    cw_server.stop()  # connection refused from now on
    delivery = only_delivery(session)
    delays = []
    for _ in range(3):
        delivery = attempt(delivery)
        delays.append((delivery.next_attempt_at - clock.now()).total_seconds())
        clock.set(delivery.next_attempt_at)

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.error.startswith("Could not reach ConnectWise")
    assert 27 <= delays[0] <= 33 and 54 <= delays[1] <= 66  # exponential backoff


def test_a_retry_after_the_note_posted_sends_only_the_time_entry(
    alice, cw, cw_server, complete, clock
):
    session = complete(alice, member="7")
    cw_server.fail(500, method="POST", path="/time/entries")
    delivery = attempt(only_delivery(session))
    assert delivery.status == Delivery.Status.PENDING
    assert "note_id" in delivery.progress

    clock.advance(seconds=60)
    delivery = attempt(delivery)

    assert delivery.status == Delivery.Status.DELIVERED
    assert len(cw_server.notes) == 1 and len(cw_server.time_entries) == 1
    assert cw_server.time_entries[0]["member"] == {"id": 7}


def test_it_records_a_ticket_that_does_not_exist_as_a_404(alice, cw, cw_server, complete):
    session = complete(alice, ticket_ref="999")
    delivery = attempt(only_delivery(session))
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.status_code == 404
    assert "Ticket not found" in delivery.response_excerpt


def test_a_delivery_already_done_or_held_is_left_alone(alice, cw, cw_server, complete):
    session = complete(alice)
    delivery = attempt(only_delivery(session))
    assert services.delivery_attempt(delivery_id=delivery.pk) == "already delivered"
    assert len(cw_server.notes) == 1


# --- lookups and connection tests ----------------------------------------------------------


def test_the_lookup_finds_the_ticket_or_says_why_not(cw, cw_server):
    found = services.ticket_lookup(ticket_ref="1042")
    assert (found.ticket.summary, found.ticket.company) == ("VPN drops", "Acme")
    assert (
        services.ticket_lookup(ticket_ref="77").message == "There is no ticket 77 in ConnectWise."
    )
    assert "are numbers" in services.ticket_lookup(ticket_ref="T-1").message
    cw_server.fail("slow")
    assert "did not answer" in services.ticket_lookup(ticket_ref="1042").message


def test_the_lookup_reads_autotask_and_halopsa(at_server, halo_server):
    connection_for(at_server, Kind.AUTOTASK, is_default=True)
    found = services.ticket_lookup(ticket_ref="T20260210.0042")
    assert (found.ticket.summary, found.ticket.company) == ("Printer offline", "Globex")
    assert "no ticket T1" in services.ticket_lookup(ticket_ref="T1").message


def test_it_tests_each_kind_of_connection(cw, at_server, halo_server, cw_server, receiver):
    assert services.connection_test(connection=cw) == (
        True,
        "Connected to ConnectWise PSA (v2025.1.12345).",
    )
    worked, message = services.connection_test(connection=connection_for(at_server, Kind.AUTOTASK))
    assert worked and message.startswith("Connected to Autotask")
    worked, message = services.connection_test(connection=connection_for(halo_server, Kind.HALOPSA))
    assert (worked, message) == (True, "Connected to HaloPSA as ResolutionFlow API.")
    hook = connection_for(receiver, Kind.WEBHOOK)
    assert services.connection_test(connection=hook)[0]
    cw.set_credentials({**cw.credentials, "private_key": "wrong-secret"})
    worked, message = services.connection_test(connection=cw)
    assert (worked, message) == (False, "ConnectWise refused the credentials (401).")


def test_no_credential_reaches_the_logs_or_the_delivery(
    alice, cw, cw_server, halo_server, complete, caplog
):
    connection_for(halo_server, Kind.HALOPSA)
    cw_server.fail(401)
    halo_server.fail(500, path="/api/Actions")
    session = complete(alice, ticket_ref="555")
    # Everything our code, the worker library and httpx log from here on, at DEBUG.
    for name in (None, "httpx", "httpcore", "integrations", "django_tasks"):
        caplog.set_level(logging.DEBUG, logger=name)
    for delivery in session.deliveries.all():
        attempt(delivery)
    recorded = " ".join(
        " ".join([d.error, d.request_summary, d.response_excerpt, str(d.payload)])
        for d in session.deliveries.all()
    )
    basic = base64.b64encode(b"acme+pub-key:priv-key-9876").decode()
    for secret in ("priv-key-9876", basic, "halo-secret-4321", "tok-abc"):
        assert secret not in caplog.text
        assert secret not in recorded


@pytest.mark.parametrize(
    ("kind", "mode", "expected"),
    [
        (Kind.AUTOTASK, 401, "failed"),
        (Kind.AUTOTASK, 404, "failed"),
        (Kind.AUTOTASK, 429, "pending"),
        (Kind.AUTOTASK, 500, "pending"),
        (Kind.AUTOTASK, "garbage", "pending"),
        (Kind.HALOPSA, 401, "failed"),
        (Kind.HALOPSA, 422, "failed"),
        (Kind.HALOPSA, 429, "pending"),
        (Kind.HALOPSA, 503, "pending"),
        (Kind.HALOPSA, "slow", "pending"),
    ],
    ids=str,
)
def test_autotask_and_halopsa_fail_the_same_way(
    alice, at_server, halo_server, complete, settings, kind, mode, expected
):
    settings.INTEGRATIONS_TIMEOUT_SECONDS = 0.3
    server, ticket = (
        (at_server, "T20260210.0042") if kind == Kind.AUTOTASK else (halo_server, "555")
    )
    connection_for(server, kind)
    server.fail(mode)  # the first call: the zone lookup, or the token
    delivery = attempt(only_delivery(complete(alice, ticket_ref=ticket)))
    assert delivery.status == expected
    assert delivery.attempts == 1 and delivery.error
    assert server.seen("POST", "/Notes") == server.seen("POST", "/api/Actions") == []


def test_a_webhook_that_fails_is_retried_or_given_up_on(alice, receiver, complete):
    connection_for(receiver, Kind.WEBHOOK)
    receiver.fail(500)
    delivery = attempt(only_delivery(complete(alice)))
    assert (delivery.status, delivery.status_code) == ("pending", 500)
    receiver.fail(410)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    delivery = attempt(delivery)
    assert (delivery.status, delivery.status_code) == ("failed", 410)
    assert delivery.error == "The webhook answered 410."


def test_completing_never_waits_for_a_psa(alice, cw, cw_server, complete):
    """The completion only writes rows: a slow or dead PSA cannot hold the engineer up."""
    cw_server.fail("slow", times=100)
    session = complete(alice)
    assert cw_server.requests == []  # not one call: the worker makes them
    assert session.deliveries.get().status == Delivery.Status.PENDING
