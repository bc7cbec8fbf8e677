from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow import clock as clock_module
from resolutionflow.tests.factories import UserFactory
from sessions.demo import ACTIVE_SESSIONS, PREPARED_SESSIONS, seed_history
from sessions.models import Decision, Handoff, Pause, Session, SessionChange
from sessions.tests.factories import build_version

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)

# A second tree with an escalation branch and a loop back to the start.
PRINTER_TREE = {
    "slug": "printer",
    "name": "Printer offline",
    "start": "powered",
    "nodes": [
        {
            "key": "powered",
            "kind": "question",
            "title": "Is the printer on?",
            "choices": [
                {"label": "Yes", "next": "restart-spooler"},
                {"label": "No", "next": "power-on"},
                {"label": "It shows an error", "next": "escalate-vendor"},
            ],
        },
        {"key": "power-on", "kind": "solution", "title": "Turn it on"},
        {
            "key": "restart-spooler",
            "kind": "action",
            "title": "Restart the spooler",
            "next": "prints-now",
        },
        {
            "key": "prints-now",
            "kind": "question",
            "title": "Does it print now?",
            "choices": [
                {"label": "Yes", "next": "printer-resolved"},
                {"label": "No, start again", "next": "powered"},
            ],
        },
        {"key": "printer-resolved", "kind": "solution", "title": "Printing again"},
        {"key": "escalate-vendor", "kind": "solution", "title": "Escalate to the vendor"},
    ],
}


@pytest.fixture
def demo_world(db):
    for name, group in [("engineer", "Engineers"), ("engineer2", "Engineers")]:
        UserFactory(username=name, groups=[group])
    UserFactory(username="manager", groups=["Managers"])
    build_version()
    build_version(PRINTER_TREE)


def signature() -> list[tuple]:
    """Everything that makes the history what it is, free of database ids."""
    return [
        (
            s.engineer.username,
            s.tree.slug,
            s.ticket_ref,
            s.client,
            s.summary,
            s.scratchpad,
            s.outcome.code if s.outcome else None,
            s.outcome_notes,
            s.created_at,
            s.started_at,
            s.completed_at,
            tuple(
                (d.seq, d.node_key, d.answer_label, d.notes, d.duration_seconds, d.exit, d.undone)
                for d in s.decisions.order_by("seq")
            ),
        )
        for s in Session.objects.select_related("engineer", "tree", "outcome").order_by(
            "created_at", "ticket_ref"
        )
    ]


def test_it_seeds_a_realistic_history_through_the_services(demo_world):
    original_source = clock_module._source

    count = seed_history(sessions=80, now=NOW)

    assert count == 80 + ACTIVE_SESSIONS + PREPARED_SESSIONS == Session.objects.count()
    assert clock_module._source is original_source
    statuses = Counter(s.status for s in Session.objects.all())
    assert statuses == {"completed": 80, "active": ACTIVE_SESSIONS, "prepared": PREPARED_SESSIONS}
    completed = Session.objects.completed()
    outcomes = Counter(completed.values_list("outcome__code", flat=True))
    assert outcomes.most_common(1)[0][0] == "resolved"
    assert len(outcomes) >= 5
    assert {s.engineer.username for s in completed.select_related("engineer")} == {
        "engineer",
        "engineer2",
        "manager",
    }
    assert Decision.objects.filter(undone=True).exists()  # a few backtracks
    assert (
        Decision.objects.filter(exit="backtracked").count()
        == Decision.objects.filter(undone=True).count()
    )
    # Completed sessions lie in the 60 days before today; active ones started today.
    for session in completed:
        assert NOW - timedelta(days=61) < session.started_at < session.completed_at < NOW
    for session in Session.objects.active():
        assert NOW - timedelta(hours=2) < session.started_at < NOW
    durations = sorted(completed.values_list("duration_seconds", flat=True))
    median = durations[len(durations) // 2]
    assert durations[0] < 2 * 60 and 3 * 60 < median < 45 * 60 and durations[-1] > 30 * 60
    # Every outcome is audited exactly once, as the services do it.
    assert SessionChange.objects.filter(field="outcome").count() == 80


def test_it_keeps_the_timing_invariants(demo_world):
    seed_history(sessions=60, now=NOW)

    for session in Session.objects.exclude(started_at=None):
        steps = list(session.decisions.order_by("seq"))
        assert [d.seq for d in steps] == list(range(1, len(steps) + 1))
        assert steps[0].entered_at == session.started_at
        for before, after in zip(steps, steps[1:], strict=False):
            assert before.exited_at == after.entered_at  # contiguous: no gaps
        open_steps = [d for d in steps if d.exited_at is None]
        on_path = [d for d in steps if not d.undone and d.exit not in ("backtracked", "handed_off")]
        assert session.step_count == len(on_path)
        if session.is_completed:
            assert open_steps == []
            assert steps[-1].exit == "session_closed"
            assert steps[-1].exited_at == session.completed_at
            total = sum(d.duration_seconds for d in steps)
            assert abs(total - session.duration_seconds) <= len(steps)
            # SPEC §9: the step active times add up to the session's.
            active = sum(d.active_seconds for d in steps)
            assert abs(active - session.active_seconds) <= len(steps)
            assert session.active_seconds <= session.duration_seconds
        else:
            assert open_steps == [steps[-1]]
    # Pauses, idle gaps and hand-offs in realistic proportions (SPEC §9).
    assert Pause.objects.filter(kind="manual").exists()
    assert Handoff.objects.filter(to_engineer__username="engineer", session__completed_at=None)
    assert Handoff.objects.count() < Session.objects.count() / 5
    for session in Session.objects.prepared():
        assert not session.decisions.exists()
        assert session.created_by.username == "manager"


def test_it_is_idempotent(demo_world):
    first = seed_history(sessions=30, now=NOW)

    again = seed_history(sessions=30, now=NOW + timedelta(days=1))

    assert again == first == Session.objects.count()


def test_it_is_deterministic(demo_world):
    seed_history(sessions=30, now=NOW)
    before = signature()
    Pause.objects.all().delete()
    Handoff.objects.all().delete()
    Decision.objects.all().delete()
    SessionChange.objects.all().delete()
    Session.objects.all().delete()

    seed_history(sessions=30, now=NOW)

    assert signature() == before


def test_it_does_nothing_without_published_trees(db):
    UserFactory(username="engineer", groups=["Engineers"])

    assert seed_history(sessions=10, now=NOW) == 0
    assert not Session.objects.exists()
