"""Races on PostgreSQL: the session row lock lets exactly one request win."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from sessions import services
from sessions.models import Decision, Handoff, SessionChange
from sessions.tests.factories import build_version, outcome

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL behaviour; SQLite serialises writers anyway")


def race(count: int, work) -> Counter:
    """Run `work(i)` in `count` threads released at the same instant; tally the results."""
    barrier = threading.Barrier(count)
    results: Counter = Counter()
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            result = work(i)
        except services.SessionConflict:
            result = "conflict"
        except Exception as exc:  # anything else is a bug the test must show
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            results[result] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_it_lets_exactly_one_of_ten_answers_through(alice):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice)
    step = session.decisions.get()
    yes = step.node.choices.get(label="Yes").pk

    def answer(i: int) -> str:
        services.decision_answer(session=session, decision_id=step.pk, choice_id=yes)
        return "ok"

    results = race(10, answer)

    assert results == Counter({"ok": 1, "conflict": 9})
    assert Decision.objects.filter(session=session).count() == 2
    assert Decision.objects.filter(session=session, exited_at__isnull=True).count() == 1


def test_it_completes_exactly_once_when_twenty_close_at_once(alice, charlie):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice)
    codes = ["resolved", "cancelled", "escalated", "resolved_externally"]

    def close(i: int) -> str:
        services.session_complete(
            session=session,
            outcome=outcome(codes[i % len(codes)]),
            by=alice if i % 2 else charlie,
            source=["navigation", "history", "admin"][i % 3],
        )
        return "ok"

    results = race(20, close)

    assert results == Counter({"ok": 1, "conflict": 19})
    assert SessionChange.objects.filter(session=session, field="outcome").count() == 1
    assert not Decision.objects.filter(session=session, exited_at__isnull=True).exists()


def test_an_answer_racing_a_close_leaves_a_consistent_session(alice):
    version = build_version()
    for _ in range(5):
        session = services.session_create(tree=version.tree, engineer=alice)
        step = session.decisions.get()
        yes = step.node.choices.get(label="Yes").pk

        def work(i: int, session=session, step=step, yes=yes) -> str:
            if i == 0:
                services.decision_answer(session=session, decision_id=step.pk, choice_id=yes)
                return "answered"
            services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
            return "completed"

        results = race(2, work)

        assert results["completed"] == 1
        session.refresh_from_db()
        assert session.completed_at is not None
        assert not session.decisions.filter(exited_at__isnull=True).exists()
        last = session.decisions.order_by("-seq").first()
        assert last.exit == Decision.Exit.SESSION_CLOSED
        assert last.exited_at == session.completed_at


def test_reference_data_survives_transactional_tests():
    assert outcome("resolved").is_builtin


def test_exactly_one_of_ten_hand_offs_wins(alice, bob, charlie):
    """Ten hand-offs of the same page (to bob or charlie) at once: one moves the session."""
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice)
    step = session.decisions.get()

    def hand_off(i: int) -> str:
        services.session_hand_off(
            session=session,
            to=bob if i % 2 else charlie,
            by=alice,
            note=f"attempt {i}",
            decision_id=step.pk,
        )
        return "ok"

    results = race(10, hand_off)

    assert results == Counter({"ok": 1, "conflict": 9})
    assert Handoff.objects.filter(session=session).count() == 1
    session.refresh_from_db()
    assert session.engineer_id == Handoff.objects.get(session=session).to_engineer_id
    steps = list(session.decisions.order_by("seq"))
    assert [d.exit for d in steps] == [Decision.Exit.HANDED_OFF, ""]
    assert steps[1].engineer_id == session.engineer_id


def test_pause_resume_and_an_answer_racing_keep_the_clock_consistent(alice):
    version = build_version()
    for _ in range(4):
        session = services.session_create(tree=version.tree, engineer=alice)
        step = session.decisions.get()
        yes = step.node.choices.get(label="Yes").pk

        def work(i: int, session=session, step=step, yes=yes) -> str:
            if i == 0:
                services.decision_answer(session=session, decision_id=step.pk, choice_id=yes)
                return "answered"
            if i == 1:
                services.session_pause(session=session, by=alice)
                return "paused"
            services.session_resume(session=session, by=alice)
            return "resumed"

        results = race(3, work)

        assert results == Counter({"answered": 1, "paused": 1, "resumed": 1})
        session.refresh_from_db()
        pauses = list(session.pauses.all())
        assert len(pauses) <= 1
        assert len(session.pauses.filter(ended_at__isnull=True)) == (1 if session.paused_at else 0)
        for pause in pauses:
            # Every pause lies inside the step it was taken on.
            assert pause.decision.entered_at <= pause.started_at
            if pause.decision.exited_at is not None:
                assert pause.ended_at is not None
                assert pause.ended_at <= pause.decision.exited_at
        first = session.decisions.get(seq=1)
        assert first.active_seconds is not None and first.active_seconds <= first.duration_seconds
