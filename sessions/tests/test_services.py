from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from sessions import services
from sessions.models import ClosedFrom, Decision, Session, SessionChange
from sessions.tests.factories import SessionFactory, build_version, outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def started(alice, version, clock):
    return services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-1")


def audit_of(session: Session) -> list[tuple[str, str, str]]:
    return list(session.changes.values_list("field", "old_value", "new_value"))


def open_step(session: Session) -> Decision:
    return session.decisions.get(exited_at__isnull=True)


def choice(decision: Decision, label: str) -> int:
    return decision.node.choices.get(label=label).pk


def test_it_starts_the_clock_and_opens_the_start_node(alice, version, clock):
    session = services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-1")

    assert session.started_at == clock.now()
    step = open_step(session)
    assert (step.seq, step.node_key, step.node_kind) == (1, "client-installed", "question")
    assert step.node_title == "Is the VPN client installed?"
    assert step.entered_at == session.started_at
    assert session.version == version
    assert session.status == Session.Status.ACTIVE
    assert session.step_count == 1


def test_it_prepares_without_starting_the_clock(alice, charlie, version, clock):
    session = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)

    assert session.status == Session.Status.PREPARED
    assert session.created_by == charlie
    assert not session.decisions.exists()

    clock.advance(3600)
    session = services.session_start(session=session)
    assert session.started_at == clock.now()
    assert open_step(session).entered_at == clock.now()


def test_it_starts_only_once_on_a_double_click(alice, version, clock):
    session = services.session_prepare(tree=version.tree, engineer=alice, by=alice)
    first = services.session_start(session=session)
    clock.advance(5)
    again = services.session_start(session=session)

    assert again.started_at == first.started_at
    assert session.decisions.count() == 1


def test_it_does_not_duplicate_a_double_submitted_start_form(alice, version, clock):
    form_id = uuid.uuid4()
    first = services.session_create(tree=version.tree, engineer=alice, session_id=form_id)
    second = services.session_create(tree=version.tree, engineer=alice, session_id=form_id)

    assert first.pk == second.pk == form_id
    assert Session.objects.count() == 1
    assert Decision.objects.count() == 1


def test_it_refuses_a_tree_without_a_published_version(alice, clock):
    draft = build_version(status="draft")
    with pytest.raises(services.InvalidInput):
        services.session_create(tree=draft.tree, engineer=alice)
    assert not Session.objects.exists()


def test_it_answers_with_contiguous_steps(started, clock):
    step = open_step(started)
    clock.advance(150.4)
    opened = services.decision_answer(
        session=started, decision_id=step.pk, choice_id=choice(step, "Yes"), notes="Installed."
    )

    step.refresh_from_db()
    assert step.exited_at == clock.now()
    assert step.duration_seconds == 150
    assert step.exit == Decision.Exit.ANSWERED
    assert step.answer_label == "Yes"
    assert step.notes == "Installed."
    assert opened.entered_at == step.exited_at
    assert (opened.seq, opened.node_key, opened.node_kind) == (2, "reset-creds", "action")
    started.refresh_from_db()
    assert started.step_count == 2


def test_it_rounds_durations_to_the_nearest_second(started, clock):
    step = open_step(started)
    clock.advance(2.5)
    services.decision_answer(session=started, decision_id=step.pk, choice_id=choice(step, "Yes"))
    step.refresh_from_db()
    assert step.duration_seconds == 3


def test_it_marks_an_action_done(started, clock):
    step = open_step(started)
    services.decision_answer(session=started, decision_id=step.pk, choice_id=choice(step, "Yes"))
    action = open_step(started)
    clock.advance(60)
    opened = services.decision_done(session=started, decision_id=action.pk)

    action.refresh_from_db()
    assert action.answer_label == "Done"
    assert action.choice is None
    assert action.duration_seconds == 60
    assert opened.node_key == "works-now"


def test_it_refuses_done_on_a_question_and_answers_on_an_action(started, clock):
    step = open_step(started)
    with pytest.raises(services.InvalidInput):
        services.decision_done(session=started, decision_id=step.pk)
    services.decision_answer(session=started, decision_id=step.pk, choice_id=choice(step, "Yes"))
    action = open_step(started)
    with pytest.raises(services.InvalidInput):
        services.decision_answer(
            session=started, decision_id=action.pk, choice_id=choice(step, "Yes")
        )
    assert started.decisions.count() == 2


def test_it_refuses_a_choice_of_another_node(started, clock):
    step = open_step(started)
    other = started.version.nodes.get(key="works-now").choices.first()
    with pytest.raises(services.InvalidInput):
        services.decision_answer(session=started, decision_id=step.pk, choice_id=other.pk)
    assert open_step(started).pk == step.pk


def test_it_answers_a_stale_step_with_a_conflict_and_changes_nothing(started, clock):
    step = open_step(started)
    services.decision_answer(session=started, decision_id=step.pk, choice_id=choice(step, "Yes"))
    clock.advance(1)

    with pytest.raises(services.StaleDecision):
        services.decision_answer(session=started, decision_id=step.pk, choice_id=choice(step, "No"))

    assert started.decisions.count() == 2
    assert open_step(started).node_key == "reset-creds"


def test_it_goes_back_keeping_the_undone_answer(started, clock):
    first = open_step(started)
    clock.advance(10)
    services.decision_answer(session=started, decision_id=first.pk, choice_id=choice(first, "Yes"))
    second = open_step(started)
    clock.advance(20)
    reopened = services.decision_back(session=started, decision_id=second.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.undone is True
    assert first.exit == Decision.Exit.ANSWERED
    assert second.exit == Decision.Exit.BACKTRACKED
    assert second.duration_seconds == 20
    assert (reopened.seq, reopened.node_key) == (3, "client-installed")
    assert reopened.entered_at == second.exited_at
    assert started.decisions.count() == 3
    started.refresh_from_db()
    assert started.step_count == 1
    assert list(started.decisions.on_path().values_list("seq", flat=True)) == [3]


def test_it_copies_the_sessions_tree_and_start_onto_every_step(alice, charlie, version, clock):
    # Prepared an hour before it starts: the steps carry the start, not the creation.
    session = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    clock.advance(3600)
    session = services.session_start(session=session)
    first = open_step(session)
    clock.advance(10)
    services.decision_answer(session=session, decision_id=first.pk, choice_id=choice(first, "Yes"))
    action = open_step(session)
    clock.advance(10)
    services.decision_back(session=session, decision_id=action.pk)
    again = open_step(session)
    clock.advance(10)
    services.decision_answer(session=session, decision_id=again.pk, choice_id=choice(again, "Yes"))
    action = open_step(session)
    clock.advance(10)
    services.decision_done(session=session, decision_id=action.pk)
    clock.advance(10)
    services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    session.refresh_from_db()
    copies = set(session.decisions.values_list("tree_id", "session_started_at"))
    assert session.decisions.count() == 5
    assert copies == {(version.tree_id, session.started_at)}
    assert session.started_at != session.created_at


def test_it_cannot_go_back_from_the_first_step(started, clock):
    step = open_step(started)
    with pytest.raises(services.InvalidInput):
        services.decision_back(session=started, decision_id=step.pk)
    assert started.decisions.count() == 1


def test_it_saves_step_notes_and_scratchpad(started, clock):
    step = open_step(started)
    services.decision_save_notes(session=started, decision_id=step.pk, notes="Checked Apps.")
    services.session_save_scratchpad(session=started, text="User on hotel Wi-Fi")

    step.refresh_from_db()
    started.refresh_from_db()
    assert step.notes == "Checked Apps."
    assert started.scratchpad == "User on hotel Wi-Fi"


def test_it_completes_closing_the_open_step(started, alice, clock):
    step = open_step(started)
    clock.advance(90)
    session = services.session_complete(
        session=started,
        outcome=outcome("resolved"),
        by=alice,
        source=ClosedFrom.NAVIGATION,
        outcome_notes="Fixed",
        next_steps="Monitor",
    )

    step.refresh_from_db()
    assert session.completed_at == clock.now()
    assert session.duration_seconds == 90
    assert session.status == Session.Status.COMPLETED
    assert session.closed_by == alice
    assert session.closed_from == "navigation"
    assert (session.outcome_notes, session.next_steps) == ("Fixed", "Monitor")
    assert step.exited_at == session.completed_at
    assert step.exit == Decision.Exit.SESSION_CLOSED
    assert not session.decisions.open().exists()
    audit = audit_of(session)
    assert audit == [
        ("outcome", "", "resolved"),
        ("outcome_notes", "", "Fixed"),
        ("next_steps", "", "Monitor"),
    ]
    row = SessionChange.objects.get(session=session, field="outcome")
    assert (row.changed_by, row.source, row.changed_at) == (alice, "navigation", clock.now())


def test_it_refuses_to_complete_twice(started, alice, bob, clock):
    services.session_complete(session=started, outcome=outcome("resolved"), by=alice)
    clock.advance(5)
    with pytest.raises(services.SessionCompleted) as excinfo:
        services.session_complete(session=started, outcome=outcome("cancelled"), by=bob)

    assert "alice" in excinfo.value.message
    started.refresh_from_db()
    assert started.outcome.code == "resolved"
    assert SessionChange.objects.filter(field="outcome").count() == 1


def test_it_refuses_to_complete_a_prepared_session(alice, version, clock):
    session = services.session_prepare(tree=version.tree, engineer=alice, by=alice)
    with pytest.raises(services.SessionNotStarted):
        services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    session.refresh_from_db()
    assert session.completed_at is None


def test_it_refuses_an_inactive_outcome(started, alice, clock):
    cancelled = outcome("cancelled")
    cancelled.is_active = False
    cancelled.save()
    with pytest.raises(services.InvalidInput):
        services.session_complete(session=started, outcome=cancelled, by=alice)
    started.refresh_from_db()
    assert started.completed_at is None


def test_it_refuses_to_step_a_completed_session(started, alice, clock):
    step = open_step(started)
    services.session_complete(session=started, outcome=outcome("resolved"), by=alice)
    with pytest.raises(services.SessionCompleted):
        services.decision_answer(
            session=started, decision_id=step.pk, choice_id=choice(step, "Yes")
        )
    with pytest.raises(services.SessionCompleted):
        services.session_save_scratchpad(session=started, text="late")


def test_it_audits_an_outcome_correction(started, alice, admin_user, clock):
    services.session_complete(session=started, outcome=outcome("resolved"), by=alice)
    clock.advance(3600)
    services.session_change_outcome(
        session=started, outcome=outcome("escalated"), by=admin_user, source=ClosedFrom.ADMIN
    )

    started.refresh_from_db()
    assert started.outcome.code == "escalated"
    change = SessionChange.objects.order_by("-changed_at").first()
    assert (change.field, change.old_value, change.new_value) == (
        "outcome",
        "resolved",
        "escalated",
    )
    assert (change.changed_by, change.source, change.changed_at) == (
        admin_user,
        "admin",
        clock.now(),
    )


def test_it_keeps_the_old_and_new_notes_and_next_steps_of_a_correction(
    started, alice, admin_user, clock
):
    services.session_complete(
        session=started,
        outcome=outcome("escalated"),
        by=alice,
        outcome_notes="To L3",
        next_steps="Wait for L3",
    )
    clock.advance(60)

    services.session_change_outcome(
        session=started,
        outcome=outcome("resolved"),
        by=admin_user,
        outcome_notes="Fixed by L3",
        next_steps="None",
    )

    started.refresh_from_db()
    assert (started.outcome.code, started.outcome_notes, started.next_steps) == (
        "resolved",
        "Fixed by L3",
        "None",
    )
    assert audit_of(started)[-3:] == [
        ("outcome", "escalated", "resolved"),
        ("outcome_notes", "To L3", "Fixed by L3"),
        ("next_steps", "Wait for L3", "None"),
    ]


@pytest.mark.parametrize(
    ("notes", "next_steps", "changed"),
    [
        ("Typo fixed", None, ["outcome_notes"]),
        (None, "Call back Monday", ["next_steps"]),
        ("Typo fixed", "Call back Monday", ["outcome_notes", "next_steps"]),
    ],
    ids=["notes", "next-steps", "both"],
)
def test_it_audits_a_correction_of_the_texts_only(
    started, alice, admin_user, clock, notes, next_steps, changed
):
    services.session_complete(
        session=started, outcome=outcome("resolved"), by=alice, outcome_notes="Typo fxed"
    )
    clock.advance(60)

    services.session_change_outcome(
        session=started,
        outcome=outcome("resolved"),
        by=admin_user,
        outcome_notes=notes,
        next_steps=next_steps,
    )

    # The completion's outcome and notes, then only the texts that changed.
    assert SessionChange.objects.filter(session=started, field="outcome").count() == 1
    later = SessionChange.objects.filter(session=started, changed_at=clock.now())
    assert [c.field for c in later] == changed
    if notes:
        assert later.get(field="outcome_notes").old_value == "Typo fxed"
        assert later.get(field="outcome_notes").new_value == notes
    assert all(c.changed_by == admin_user for c in later)


def test_it_writes_no_audit_row_when_a_correction_changes_nothing(started, alice, admin_user):
    services.session_complete(
        session=started, outcome=outcome("resolved"), by=alice, outcome_notes="Done"
    )

    services.session_change_outcome(
        session=started,
        outcome=outcome("resolved"),
        by=admin_user,
        outcome_notes="Done",
        next_steps="",
    )

    assert SessionChange.objects.filter(session=started, field="outcome").count() == 1


def test_it_adds_step_durations_up_to_the_total(started, alice, clock):
    step = open_step(started)
    for seconds, action in [(12.3, "yes"), (40.6, "done"), (7.2, "back"), (3.3, "done")]:
        clock.advance(seconds)
        if action == "yes":
            services.decision_answer(
                session=started, decision_id=step.pk, choice_id=choice(step, "Yes")
            )
        elif action == "done":
            services.decision_done(session=started, decision_id=step.pk)
        else:
            services.decision_back(session=started, decision_id=step.pk)
        step = open_step(started)
    clock.advance(30)
    session = services.session_complete(session=started, outcome=outcome("resolved"), by=alice)

    durations = list(session.decisions.values_list("duration_seconds", flat=True))
    assert abs(sum(durations) - session.duration_seconds) <= len(durations)
    assert session.completed_at - session.started_at == timedelta(seconds=93.4)


def test_the_database_allows_only_one_open_step(started, clock):
    step = open_step(started)
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            session=started,
            seq=2,
            node=step.node,
            node_key=step.node_key,
            node_kind=step.node_kind,
            node_title=step.node_title,
            entered_at=clock.now(),
            tree_id=started.tree_id,
            session_started_at=started.started_at,
        )


def test_the_database_refuses_a_completed_session_without_an_outcome(alice, version, clock):
    with pytest.raises(IntegrityError), transaction.atomic():
        SessionFactory(engineer=alice, version=version, completed_at=clock.now())


def test_status_filters_agree_with_the_status_of_each_session(alice, bob, version, clock):
    now = clock.now()
    resolved = outcome("resolved")
    sessions = {
        "prepared": SessionFactory(engineer=alice, version=version),
        "active": SessionFactory(engineer=alice, version=version, started_at=now),
        "completed": SessionFactory(
            engineer=alice, version=version, started_at=now, completed_at=now, outcome=resolved
        ),
    }

    for status, session in sessions.items():
        assert session.status == status
        assert Session.status_of(session.started_at, session.completed_at) == status
        assert list(Session.objects.with_status(status)) == [session]


def test_active_for_is_a_users_own_sessions_in_progress(alice, bob, version, clock):
    now = clock.now()
    mine = SessionFactory(engineer=alice, version=version, started_at=now)
    SessionFactory(engineer=bob, version=version, started_at=now)
    SessionFactory(engineer=alice, version=version)
    SessionFactory(
        engineer=alice,
        version=version,
        started_at=now,
        completed_at=now,
        outcome=outcome("resolved"),
    )

    assert list(Session.objects.active_for(alice)) == [mine]
