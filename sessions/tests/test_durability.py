"""A failure in the middle of a session write leaves the database exactly as before."""

from __future__ import annotations

import pytest
from django.core import serializers

from sessions import services
from sessions.models import Decision, Session, SessionChange
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db


class Injected(Exception):
    pass


def snapshot() -> str:
    """Every session, step and audit row, serialised: equal snapshots mean nothing changed."""
    rows = [*Session.objects.order_by("pk"), *Decision.objects.order_by("pk")]
    rows += list(SessionChange.objects.order_by("pk"))
    return serializers.serialize("json", rows)


@pytest.fixture
def session(alice, clock):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice)
    clock.advance(30)
    return session


def fail_opening_the_next_step(monkeypatch) -> None:
    """Make `_enter` raise: the open step has already been closed by then."""

    def explode(*args, **kwargs):
        raise Injected("enter")

    monkeypatch.setattr(services, "_enter", explode)


def test_a_failure_while_answering_changes_nothing(session, monkeypatch):
    step = session.decisions.get()
    before = snapshot()
    fail_opening_the_next_step(monkeypatch)

    with pytest.raises(Injected):
        services.decision_answer(
            session=session,
            decision_id=step.pk,
            choice_id=step.node.choices.get(label="Yes").pk,
        )

    assert snapshot() == before


def test_a_failure_while_going_back_changes_nothing(session, monkeypatch):
    step = session.decisions.get()
    services.decision_answer(
        session=session, decision_id=step.pk, choice_id=step.node.choices.get(label="Yes").pk
    )
    step = session.decisions.get(exited_at__isnull=True)
    before = snapshot()
    fail_opening_the_next_step(monkeypatch)

    with pytest.raises(Injected):
        services.decision_back(session=session, decision_id=step.pk)

    assert snapshot() == before


def test_a_failure_while_completing_changes_nothing(session, alice, monkeypatch):
    before = snapshot()

    def explode(*args, **kwargs):
        raise Injected("audit")

    # The session row and its last step are written when the audit row fails.
    monkeypatch.setattr(SessionChange.objects, "bulk_create", explode)

    with pytest.raises(Injected):
        services.session_complete(session=session, outcome=outcome("resolved"), by=alice)

    assert snapshot() == before
    session.refresh_from_db()
    assert session.completed_at is None
    assert session.decisions.filter(exited_at__isnull=True).count() == 1
