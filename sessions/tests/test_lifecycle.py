"""Pause, idle time, hand-off, corrections, home sections and Back's notes (SPEC §9)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse

from sessions import exports, services, signals
from sessions.models import Decision, Handoff, Pause, Session, SessionChange
from sessions.tests.factories import UserFactory, build_version, outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def session(alice, version, clock):
    return services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-9")


def open_step(session: Session) -> Decision:
    return session.decisions.get(exited_at__isnull=True)


def answer(session: Session, label: str) -> Decision:
    step = open_step(session)
    return services.decision_answer(
        session=session, decision_id=step.pk, choice_id=step.node.choices.get(label=label).pk
    )


def url(name: str, session: Session) -> str:
    return reverse(f"sessions:{name}", args=[session.pk])


# --- pause and active time ------------------------------------------------------------


def test_it_leaves_pauses_out_of_active_time(session, alice, clock):
    clock.advance(60)
    services.session_pause(session=session, by=alice)
    clock.advance(600)
    services.session_pause(session=session, by=alice)  # a double click changes nothing
    services.session_resume(session=session, by=alice)
    clock.advance(30)
    answer(session, "Yes")
    clock.advance(45)
    session = services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    first, second = session.decisions.order_by("seq")
    assert (first.duration_seconds, first.active_seconds) == (690, 90)
    assert (second.duration_seconds, second.active_seconds) == (45, 45)
    assert (session.duration_seconds, session.active_seconds) == (735, 135)
    pause = Pause.objects.get()
    assert (pause.kind, pause.by, pause.decision) == ("manual", alice, first)
    assert pause.seconds == 600


def test_an_answer_during_a_pause_ends_it_first(session, alice, clock):
    services.session_pause(session=session, by=alice)
    clock.advance(100)
    answer(session, "Yes")

    session.refresh_from_db()
    assert session.paused_at is None and session.paused_seconds == 100
    assert Pause.objects.get().ended_at == clock.now()
    assert session.decisions.get(seq=1).active_seconds == 0


def test_it_shows_active_time_so_far_and_stops_while_paused(session, alice, clock):
    clock.advance(120)
    services.session_pause(session=session, by=alice)
    clock.advance(900)
    session.refresh_from_db()
    assert session.active_elapsed().total_seconds() == 120


@override_settings(IDLE_AFTER_MINUTES=30)
def test_it_records_the_time_beyond_the_idle_threshold_as_an_idle_pause(session, alice, clock):
    start = clock.now()
    clock.advance(103 * 60)  # an abandoned tab, picked up again 1 h 43 min later
    answer(session, "Yes")

    idle = Pause.objects.get()
    assert idle.kind == Pause.Kind.IDLE and idle.by is None
    assert idle.started_at == start + timedelta(minutes=30)
    assert idle.ended_at == clock.now()
    assert idle.seconds == 73 * 60
    assert session.decisions.get(seq=1).active_seconds == 30 * 60


@override_settings(IDLE_AFTER_MINUTES=30)
def test_it_counts_no_idle_time_for_a_gap_under_the_threshold(session, alice, clock):
    clock.advance(29 * 60)
    services.session_save_scratchpad(session=session, text="still here")
    clock.advance(29 * 60)
    answer(session, "Yes")
    assert not Pause.objects.exists()


# --- hand-off -------------------------------------------------------------------------


def test_it_hands_a_session_to_a_colleague(session, alice, bob, clock):
    received = []

    def receive(**kwargs):
        received.append(kwargs)

    signals.session_handed_off.connect(receive, weak=False)
    try:
        clock.advance(200)
        step = open_step(session)
        handoff = services.session_hand_off(
            session=session, to=bob, by=alice, note="Reset creds, no luck", decision_id=step.pk
        )
    finally:
        # Only this test's receiver: the integrations app listens too.
        signals.session_handed_off.disconnect(receive)

    session.refresh_from_db()
    assert session.engineer == bob and session.handed_off_at == clock.now()
    left, reopened = session.decisions.order_by("seq")
    assert (left.exit, left.engineer, left.duration_seconds) == ("handed_off", alice, 200)
    assert (reopened.node_id, reopened.engineer, reopened.entered_at) == (
        left.node_id,
        bob,
        clock.now(),
    )
    assert (handoff.from_engineer, handoff.to_engineer, handoff.note) == (
        alice,
        bob,
        "Reset creds, no luck",
    )
    assert session.step_count == 1
    assert received[0]["handoff"] == handoff and received[0]["session"].pk == session.pk
    # Alice still reads it; bob now owns it.
    assert Session.objects.visible_to(alice).filter(pk=session.pk).exists()
    assert Session.objects.handed_to(bob).filter(pk=session.pk).exists()
    answer(Session.objects.get(pk=session.pk), "Yes")
    assert not Session.objects.handed_to(bob).exists()


def test_an_engineer_sees_their_own_sessions_and_those_they_handed_on(
    session, alice, bob, version, clock
):
    """The one visibility rule, counted and paged alike on both databases; on
    PostgreSQL the handed-on ids are one array (an index probe each side of the OR)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    handed_on = services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-10")
    services.session_hand_off(
        session=handed_on,
        to=bob,
        by=alice,
        note="Over to you",
        decision_id=open_step(handed_on).pk,
    )
    bobs = services.session_create(tree=version.tree, engineer=bob, ticket_ref="T-11")
    dana = UserFactory(username="dana", groups=["Engineers"])
    services.session_create(tree=version.tree, engineer=dana, ticket_ref="T-12")

    with CaptureQueriesContext(connection) as queries:
        visible = Session.objects.visible_to(alice)
        assert visible.count() == 2
        assert set(visible.values_list("ticket_ref", flat=True)) == {"T-9", "T-10"}
    assert set(Session.objects.visible_to(bob).values_list("pk", flat=True)) == {
        handed_on.pk,
        bobs.pk,
    }
    if connection.vendor == "postgresql":
        reads = [q["sql"] for q in queries if 'FROM "flow_sessions_session"' in q["sql"]]
        assert len(reads) == 2 and all("= ANY(ARRAY(SELECT" in sql for sql in reads)
    # Someone who handed nothing on sees their own sessions only: an empty array.
    assert list(Session.objects.visible_to(dana).values_list("ticket_ref", flat=True)) == ["T-12"]


@pytest.mark.parametrize("case", ["self", "inactive", "completed", "no-note"])
def test_it_refuses_a_hand_off_it_cannot_make(session, alice, bob, case):
    to = bob
    if case == "self":
        to = alice
    elif case == "inactive":
        to = UserFactory(is_active=False)
    elif case == "completed":
        services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    error = services.SessionCompleted if case == "completed" else services.InvalidInput
    with pytest.raises(error) as excinfo:
        services.session_hand_off(
            session=session, to=to, by=alice, note="" if case == "no-note" else "over"
        )
    assert excinfo.value.message
    assert not Handoff.objects.exists()
    assert Session.objects.get(pk=session.pk).engineer == alice


def test_back_fills_in_the_undone_steps_notes(session, alice, clock):
    step = open_step(session)
    services.decision_answer(
        session=session,
        decision_id=step.pk,
        choice_id=step.node.choices.get(label="Yes").pk,
        notes="Client 5.2 installed",
    )
    opened = services.decision_back(session=session, decision_id=open_step(session).pk)
    assert opened.notes == "Client 5.2 installed"
    assert Decision.objects.get(pk=step.pk).notes == "Client 5.2 installed"


# --- corrections ----------------------------------------------------------------------


def test_it_audits_every_edited_detail_with_old_and_new(session, alice, clock):
    changes = services.session_edit_details(
        session=session, by=alice, ticket_ref="T-10", client="Acme", summary=None
    )
    assert [(c.field, c.old_value, c.new_value, c.source) for c in changes] == [
        ("ticket_ref", "T-9", "T-10", "detail"),
        ("client", "Acme Ltd", "Acme", "detail"),
    ] or [(c.field, c.old_value, c.new_value) for c in changes][0] == ("ticket_ref", "T-9", "T-10")
    assert services.session_edit_details(session=session, by=alice, ticket_ref="T-10") == []


def test_a_prepared_sessions_details_change_without_audit(alice, charlie, version):
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    services.session_edit_details(session=prepared, by=charlie, ticket_ref="T-1")
    assert Session.objects.get(pk=prepared.pk).ticket_ref == "T-1"
    assert not SessionChange.objects.exists()


# --- views ----------------------------------------------------------------------------


def test_pause_and_resume_views(alice_client, session):
    response = alice_client.post(url("pause", session))
    assert response.status_code == 303
    page = alice_client.get(url("run", session)).content.decode()
    assert "badge-paused" in page and "data-elapsed-since" not in page.split("run-facts")[1][:600]
    assert f'action="/sessions/{session.pk}/resume"' in page
    assert alice_client.post(url("resume", session)).status_code == 303
    session.refresh_from_db()
    assert session.paused_at is None and session.pauses.get().ended_at is not None
    assert alice_client.get(url("pause", session)).status_code == 405


def test_hand_off_view_moves_the_session_and_the_colleague_sees_it(
    alice_client, bob_client, alice, bob, session
):
    page = alice_client.get(url("run", session)).content.decode()
    assert "Hand-off note" in page and "Hand off session" in page
    step = open_step(session)
    refused = alice_client.post(url("hand-off", session), {"colleague": bob.pk, "note": ""})
    assert refused.status_code == 422
    assert not Handoff.objects.exists()

    response = alice_client.post(
        url("hand-off", session),
        {"colleague": bob.pk, "note": "Tried a reset", "decision": step.pk},
    )
    assert response.status_code == 303
    again = alice_client.post(
        url("hand-off", session), {"colleague": bob.pk, "note": "again", "decision": step.pk}
    )
    assert again.status_code == 404  # no longer hers to hand off
    home = bob_client.get(reverse("home")).content.decode()
    assert "Handed to you" in home and "Tried a reset" in home
    # Alice reads it, but cannot step it any more.
    assert alice_client.get(url("detail", session)).status_code == 200
    assert alice_client.get(url("run", session)).status_code == 302
    assert alice_client.post(url("notes", session), {"decision": 1, "notes": "x"}).status_code == (
        404
    )


def test_a_stranger_gets_404_for_the_new_views(bob_client, session):
    for name in ("pause", "resume", "hand-off", "edit"):
        assert bob_client.post(url(name, session)).status_code == 404


def test_edit_details_view_audits_and_shows_the_change(alice_client, session):
    assert alice_client.get(url("edit", session)).status_code == 200
    response = alice_client.post(
        url("edit", session), {"ticket_ref": "T-77", "client": "", "summary": ""}
    )
    assert response.status_code == 303
    change = SessionChange.objects.get()
    assert (change.field, change.old_value, change.new_value) == ("ticket_ref", "T-9", "T-77")
    detail = alice_client.get(url("detail", session)).content.decode()
    assert "<dt>Ticket before</dt><dd>T-9</dd>" in detail
    long = alice_client.post(url("edit", session), {"ticket_ref": "x" * 65})
    assert long.status_code == 422
    assert Session.objects.get(pk=session.pk).ticket_ref == "T-77"


def test_home_lists_sessions_waiting_for_me(alice_client, alice, charlie, version):
    services.session_prepare(tree=version.tree, engineer=alice, by=charlie, ticket_ref="T-555")
    home = alice_client.get(reverse("home")).content.decode()
    assert "Waiting for you" in home and "T-555" in home


# --- exports --------------------------------------------------------------------------


def test_the_json_export_carries_active_time_pauses_handoffs_and_changes(
    session, alice, bob, clock
):
    clock.advance(10)
    services.session_pause(session=session, by=alice)
    clock.advance(50)
    services.session_resume(session=session, by=alice)
    clock.advance(20)
    services.session_hand_off(session=session, to=bob, by=alice, note="Over to you")
    clock.advance(15)
    services.session_edit_details(session=session, by=bob, client="Globex")
    session = services.session_complete(session=session, outcome=outcome("resolved"), by=bob)
    session = Session.objects.select_related("tree", "version", "engineer", "outcome").get(
        pk=session.pk
    )

    doc = json.loads(exports.render(exports.export_data(session, detail="full"), "json"))

    assert (doc["duration_seconds"], doc["active_seconds"]) == (95, 45)
    assert doc["pauses"] == [
        {
            "started_at": exports.iso_utc(session.started_at + timedelta(seconds=10)),
            "ended_at": exports.iso_utc(session.started_at + timedelta(seconds=60)),
            "kind": "manual",
            "by": "alice",
        }
    ]
    assert doc["handoffs"] == [
        {
            "from": "alice",
            "to": "bob",
            "at": exports.iso_utc(session.started_at + timedelta(seconds=80)),
            "note": "Over to you",
        }
    ]
    assert [(c["field"], c["old"], c["new"], c["by"]) for c in doc["changes"]] == [
        ("client", "", "Globex", "bob"),
        ("outcome", "", "resolved", "bob"),
    ]
    assert [(s["exit"], s["engineer"], s["active_seconds"]) for s in doc["steps"]] == [
        ("handed_off", "alice", 30),
        ("session_closed", "bob", 15),
    ]
    text = exports.render(exports.export_data(session), "text")
    assert "Active time" in text and "Paused:" in text and "Handed off" in text
