"""Races on PostgreSQL: the session row lock lets exactly one request win."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from sessions import services
from sessions.models import Decision, SessionChange
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
